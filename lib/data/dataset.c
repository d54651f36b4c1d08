/* Datasets: the IDX reader (MNIST's format, plain or gzip through zlib,
 * which reads both) and datasets built from memory. Every failure names
 * the file and, for short files, the offset where the data ran out. */
#include "../runtime/checked.h"
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct idx_file {
    int32_t rank;
    int64_t dims[4];
    uint8_t *data;
    int64_t size;
} idx_file;

static nncl_status read_exact(gzFile f, const char *path, void *dst, size_t n, size_t offset) {
    int got = gzread(f, dst, (unsigned)n);
    if (got == (int)n) return NNCL_OK;
    int err;
    const char *msg = gzerror(f, &err);
    return nncl_fail(NNCL_ERROR_IO, "%s: truncated at byte %zu (needed %zu more bytes)%s%s", path,
                     offset + (got > 0 ? (size_t)got : 0), n - (got > 0 ? (size_t)got : 0),
                     err && err != Z_BUF_ERROR ? ": " : "", err && err != Z_BUF_ERROR ? msg : "");
}

/* IDX: two zero bytes, a type byte (0x08: unsigned byte), the rank, then
 * rank big-endian uint32 sizes and the data. */
static nncl_status idx_read(const char *path, idx_file *out) {
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(path, "rb");
    if (!f) return nncl_fail(NNCL_ERROR_IO, "%s: cannot open", path);
    unsigned char magic[4];
    nncl_status st = read_exact(f, path, magic, 4, 0);
    if (st == NNCL_OK && (magic[0] || magic[1] || magic[3] < 1 || magic[3] > 4))
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                       "%s: not an IDX file (magic %02x %02x %02x %02x; expected 00 00 08 and a "
                       "rank of 1 to 4)",
                       path, magic[0], magic[1], magic[2], magic[3]);
    if (st == NNCL_OK && magic[2] != 0x08)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                       "%s: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)",
                       path, magic[2]);
    int64_t size = 1;
    for (int i = 0; st == NNCL_OK && i < magic[3]; i++) {
        unsigned char d[4];
        st = read_exact(f, path, d, 4, 4 + 4 * (size_t)i);
        out->dims[i] = (int64_t)d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3];
        if (st == NNCL_OK && (out->dims[i] == 0 || !nncl_mul_i64(size, out->dims[i], &size)))
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "%s: IDX dim %d (byte %d) is %lld: dims must be > 0 and their product "
                           "at most 2^63-1",
                           path, i, 4 + 4 * i, (long long)out->dims[i]);
    }
    if (st == NNCL_OK && (uint64_t)size > SIZE_MAX)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: IDX sizes give %lld bytes", path,
                       (long long)size);
    /* The header's claim is only believed as far as data arrives: the buffer
     * grows with what is read, so a short file cannot make us allocate its
     * claimed size. gzread takes an unsigned count: read in chunks. */
    size_t header = 4 + 4 * (size_t)magic[3], cap = 0;
    for (int64_t done = 0; st == NNCL_OK && done < size;) {
        size_t chunk = (size_t)(size - done) < (1u << 24) ? (size_t)(size - done) : (1u << 24);
        if ((size_t)done + chunk > cap) {
            size_t grown = cap ? cap * 2 : chunk;
            if (grown > (size_t)size) grown = (size_t)size;
            if (grown < (size_t)done + chunk) grown = (size_t)done + chunk;
            uint8_t *p = realloc(out->data, grown);
            if (!p) {
                st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: %zu bytes", path, grown);
                break;
            }
            out->data = p;
            cap = grown;
        }
        st = read_exact(f, path, out->data + done, chunk, header + (size_t)done);
        done += (int64_t)chunk;
    }
    gzclose(f);
    if (st != NNCL_OK) {
        free(out->data);
        out->data = NULL;
        return st;
    }
    out->rank = magic[3];
    out->size = size;
    return NNCL_OK;
}

nncl_status nncl_dataset_load_idx(const char *images_path, const char *labels_path,
                                  nncl_dataset **out) {
    if (!images_path || !labels_path || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dataset_load_idx: NULL argument");
    *out = NULL;
    idx_file img, lab;
    nncl_status st = idx_read(images_path, &img);
    if (st != NNCL_OK) return st;
    if ((st = idx_read(labels_path, &lab)) != NNCL_OK) {
        free(img.data);
        return st;
    }
    if (img.rank < 3)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                       "%s: images need 3 or 4 dims ([count, H, W] or [count, C, H, W]), not %d",
                       images_path, (int)img.rank);
    else if (lab.rank != 1)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: labels need 1 dim, not %d", labels_path,
                       (int)lab.rank);
    else if (img.dims[0] != lab.dims[0])
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s holds %lld images but %s holds %lld labels",
                       images_path, (long long)img.dims[0], labels_path, (long long)lab.dims[0]);
    if (st == NNCL_OK) {
        int64_t c = img.rank == 4 ? img.dims[1] : 1;
        int32_t *labels = malloc((size_t)lab.size * sizeof *labels);
        if (!labels) {
            st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dataset_load_idx: out of memory");
        } else {
            for (int64_t i = 0; i < lab.size; i++)
                labels[i] = lab.data[i];
            int64_t dims[3] = {1, img.dims[img.rank - 2], img.dims[img.rank - 1]};
            st = nncl_dataset_wrap(img.dims[0], c, 2, dims, img.data, NULL, labels, out);
            free(lab.data);
            return st; /* the buffers are the dataset's, or freed, now */
        }
    }
    free(img.data);
    free(lab.data);
    return st;
}

/* dir/name, or dir/name.gz when only that exists. */
static void pick(const char *dir, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", dir, name);
    FILE *f = fopen(buf, "rb");
    if (f) {
        fclose(f);
        return;
    }
    snprintf(buf, size, "%s/%s.gz", dir, name);
    if ((f = fopen(buf, "rb")))
        fclose(f);
    else
        snprintf(buf, size, "%s/%s", dir, name); /* report the plain name */
}

nncl_status nncl_dataset_load_mnist(const char *dir, bool train, nncl_dataset **out) {
    if (!dir) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dataset_load_mnist: dir is NULL");
    char images[1100], labels[1100];
    pick(dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte", images, sizeof images);
    pick(dir, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte", labels, sizeof labels);
    return nncl_dataset_load_idx(images, labels, out);
}

nncl_status nncl_dataset_wrap(int64_t count, int64_t channels, int32_t spatial,
                              const int64_t dims[3], uint8_t *images, float *samples,
                              int32_t *labels, nncl_dataset **out) {
    nncl_dataset *ds = calloc(1, sizeof *ds);
    int64_t all[4] = {channels, dims[0], dims[1], dims[2]};
    if (!ds) {
        free(images);
        free(samples);
        free(labels);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "dataset: out of memory");
    }
    *ds = (nncl_dataset){.count = count,
                         .channels = channels,
                         .spatial = spatial,
                         .dims = {dims[0], dims[1], dims[2]},
                         .images = images,
                         .samples = samples,
                         .labels = labels};
    nncl_product_i64(all, 4, &ds->sample_size);
    *out = ds;
    return NNCL_OK;
}

/* Checks a sample shape [C, spatial...] and the dataset's size, for
 * elements of `elem` bytes; fills the spatial dims (D, H, W). */
static nncl_status sample_layout(const char *call, int64_t count, nncl_shape shape, size_t elem,
                                 int32_t *spatial, int64_t dims[3], size_t *bytes) {
    char s[128];
    int64_t numel = nncl_shape_numel(shape), total;
    if (count <= 0 || shape.rank < 2 || shape.rank > 4 || numel <= 0 ||
        !nncl_mul_i64(count, numel, &total) || !nncl_bytes_of(total, elem, bytes))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: %lld samples of %s: need a count > 0 and a sample shape [C, L], "
                         "[C, H, W] or [C, D, H, W] whose total size does not overflow",
                         call, (long long)count, nncl_shape_str(shape, s, sizeof s));
    *spatial = shape.rank - 1;
    for (int i = 0; i < 3; i++)
        dims[i] = i < 3 - *spatial ? 1 : shape.dims[1 + i - (3 - *spatial)];
    return NNCL_OK;
}

/* Copies of the caller's samples and labels, or an error. */
static nncl_status copy_in(const char *call, const void *data, size_t bytes, const int32_t *labels,
                           int64_t count, void **data_copy, int32_t **labels_copy) {
    *data_copy = malloc(bytes);
    *labels_copy = malloc((size_t)count * sizeof **labels_copy);
    if (!*data_copy || !*labels_copy) {
        free(*data_copy);
        free(*labels_copy);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: out of memory", call);
    }
    memcpy(*data_copy, data, bytes);
    memcpy(*labels_copy, labels, (size_t)count * sizeof **labels_copy);
    return NNCL_OK;
}

nncl_status nncl_dataset_create(const uint8_t *images, const int32_t *labels, int64_t count,
                                int64_t channels, int64_t height, int64_t width,
                                nncl_dataset **out) {
    if (!images || !labels || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_dataset_create: needs data, labels and sizes > 0");
    *out = NULL;
    int32_t spatial = 0;
    int64_t dims[3] = {1, 1, 1};
    size_t bytes = 0;
    nncl_status st = sample_layout("nncl_dataset_create", count,
                                   NNCL_SHAPE(channels, height, width), 1, &spatial, dims, &bytes);
    void *img = NULL;
    int32_t *lab = NULL;
    if (st == NNCL_OK)
        st = copy_in("nncl_dataset_create", images, bytes, labels, count, &img, &lab);
    return st != NNCL_OK ? st
                         : nncl_dataset_wrap(count, channels, spatial, dims, img, NULL, lab, out);
}

nncl_status nncl_dataset_create_f32(const float *samples, const int32_t *labels, int64_t count,
                                    nncl_shape sample_shape, nncl_dataset **out) {
    if (!samples || !labels || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dataset_create_f32: NULL argument");
    *out = NULL;
    int32_t spatial = 0;
    int64_t dims[3] = {1, 1, 1};
    size_t bytes = 0;
    nncl_status st = sample_layout("nncl_dataset_create_f32", count, sample_shape, sizeof(float),
                                   &spatial, dims, &bytes);
    for (size_t i = 0; st == NNCL_OK && i < bytes / sizeof(float); i++)
        if (!isfinite(samples[i]))
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "nncl_dataset_create_f32: value %zu (sample %lld) is %g; samples must "
                           "be finite",
                           i, (long long)(i / (size_t)nncl_shape_numel(sample_shape)),
                           (double)samples[i]);
    void *data = NULL;
    int32_t *lab = NULL;
    if (st == NNCL_OK)
        st = copy_in("nncl_dataset_create_f32", samples, bytes, labels, count, &data, &lab);
    return st != NNCL_OK ? st
                         : nncl_dataset_wrap(count, sample_shape.dims[0], spatial, dims, NULL, data,
                                             lab, out);
}

void nncl_dataset_destroy(nncl_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->samples);
    free(ds->labels);
    for (int64_t i = 0; ds->class_names && i < ds->n_classes; i++)
        free(ds->class_names[i]);
    free(ds->class_names);
    free(ds);
}

int64_t nncl_dataset_count(const nncl_dataset *ds) {
    return ds ? ds->count : 0;
}

nncl_shape nncl_dataset_image_shape(const nncl_dataset *ds) {
    if (!ds) return (nncl_shape){0};
    nncl_shape s = {.rank = 1 + ds->spatial, .dims = {ds->channels}};
    for (int32_t i = 0; i < ds->spatial; i++)
        s.dims[1 + i] = ds->dims[3 - ds->spatial + i];
    return s;
}

const uint8_t *nncl_dataset_image(const nncl_dataset *ds, int64_t i) {
    if (!ds || !ds->images || i < 0 || i >= ds->count) return NULL;
    return ds->images + i * ds->sample_size;
}

int32_t nncl_dataset_label(const nncl_dataset *ds, int64_t i) {
    return ds && !ds->label_maps && i >= 0 && i < ds->count ? ds->labels[i] : -1;
}

const float *nncl_dataset_sample(const nncl_dataset *ds, int64_t i) {
    if (!ds || !ds->samples || i < 0 || i >= ds->count) return NULL;
    return ds->samples + i * ds->sample_size;
}

const int32_t *nncl_dataset_label_map(const nncl_dataset *ds, int64_t i) {
    if (!ds || !ds->label_maps || i < 0 || i >= ds->count) return NULL;
    return ds->labels + i * (ds->sample_size / ds->channels);
}

const char *nncl_dataset_class_name(const nncl_dataset *ds, int32_t label) {
    if (!ds || !ds->class_names || label < 0 || label >= ds->n_classes) return NULL;
    return ds->class_names[label];
}

nncl_status nncl_dataset_set_label_maps(nncl_dataset *ds, const int32_t *maps, nncl_shape shape) {
    if (!ds || !maps)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dataset_set_label_maps: NULL argument");
    nncl_shape sample = nncl_dataset_image_shape(ds), want = {.rank = sample.rank - 1};
    for (int32_t i = 1; i < sample.rank; i++)
        want.dims[i - 1] = sample.dims[i];
    if (!nncl_shape_equal(shape, want)) {
        char a[128], b[128], c[128];
        return nncl_fail(NNCL_ERROR_SHAPE,
                         "nncl_dataset_set_label_maps: maps of %s for samples of %s: a map covers "
                         "the spatial dims, %s",
                         nncl_shape_str(shape, a, sizeof a), nncl_shape_str(sample, b, sizeof b),
                         nncl_shape_str(want, c, sizeof c));
    }
    size_t bytes;
    int64_t total;
    if (!nncl_mul_i64(ds->count, nncl_shape_numel(want), &total) ||
        !nncl_bytes_of(total, sizeof(int32_t), &bytes))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dataset_set_label_maps: too large");
    int32_t *copy = malloc(bytes);
    if (!copy)
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_dataset_set_label_maps: out of memory");
    memcpy(copy, maps, bytes);
    free(ds->labels);
    ds->labels = copy;
    ds->label_maps = true;
    return NNCL_OK;
}
