/* Datasets to and from NumPy .npy files (np.save's format, versions 1 to
 * 3): the header's Python dict literal is parsed by hand (three keys,
 * nothing to evaluate), the data checked against the file's real size
 * before any allocation, and every error names the file and the byte
 * offset. Files are written as np.save writes them, byte for byte. */
#include "../io/atomic.h"
#include "../runtime/checked.h"
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NPY_MAX_RANK = 5, NPY_MAX_HEADER = 1 << 20 };

typedef enum npy_kind { NPY_FLOAT, NPY_INT, NPY_UINT } npy_kind;

typedef struct npy_array {
    npy_kind kind;
    size_t elem; /* bytes per element: 1, 2, 4 or 8 */
    int32_t rank;
    int64_t dims[NPY_MAX_RANK];
    int64_t count; /* elements */
    uint8_t *data; /* little-endian elements */
} npy_array;

/* The header's dict, from its text: {'descr': '<f4', 'fortran_order':
 * False, 'shape': (2, 3), } in any key order, with optional spaces. */
typedef struct header_parser {
    const char *path, *s;
    size_t pos, len, base; /* base: the header's offset in the file */
} header_parser;

static void skip_spaces(header_parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\n'))
        p->pos++;
}

static nncl_status expected(header_parser *p, const char *what) {
    return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: .npy header: expected %s at byte %zu",
                     p->path, what, p->base + p->pos);
}

static bool accept(header_parser *p, char c) {
    skip_spaces(p);
    if (p->pos < p->len && p->s[p->pos] == c) return p->pos++, true;
    return false;
}

/* A quoted string into buf (truncated strings cannot match a key anyway). */
static nncl_status quoted(header_parser *p, char *buf, size_t size) {
    skip_spaces(p);
    if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '"'))
        return expected(p, "a quoted string");
    char quote = p->s[p->pos++];
    size_t n = 0;
    while (p->pos < p->len && p->s[p->pos] != quote) {
        if (n + 1 < size) buf[n++] = p->s[p->pos];
        p->pos++;
    }
    buf[n] = 0;
    if (p->pos >= p->len) return expected(p, "a closing quote");
    p->pos++;
    return NNCL_OK;
}

static bool host_is_little(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static nncl_status parse_descr(header_parser *p, npy_array *a) {
    char d[16];
    skip_spaces(p);
    size_t at = p->base + p->pos;
    nncl_status st = quoted(p, d, sizeof d);
    if (st != NNCL_OK) return st;
    char order = d[0], type = d[1];
    char *end = NULL;
    long size = strlen(d) >= 3 ? strtol(d + 2, &end, 10) : 0;
    bool little = order == '<' || order == '|' || (order == '=' && host_is_little());
    bool ok = end && !*end && little && (size == 1 || size == 2 || size == 4 || size == 8) &&
              ((type == 'f' && size >= 4) || type == 'i' || type == 'u');
    if (!ok)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: .npy dtype '%s' (byte %zu) is not supported: little-endian float32, "
                         "float64 or integers only",
                         p->path, d, at);
    a->kind = type == 'f' ? NPY_FLOAT : type == 'i' ? NPY_INT : NPY_UINT;
    a->elem = (size_t)size;
    return NNCL_OK;
}

static nncl_status parse_shape(header_parser *p, npy_array *a) {
    if (!accept(p, '(')) return expected(p, "'(' opening the shape");
    a->rank = 0;
    a->count = 1;
    while (!accept(p, ')')) {
        skip_spaces(p);
        size_t at = p->base + p->pos;
        int64_t v = 0;
        bool digits = false;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            if (!nncl_mul_i64(v, 10, &v) || !nncl_add_i64(v, p->s[p->pos] - '0', &v))
                return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                 "%s: .npy shape: the dim at byte %zu overflows", p->path, at);
            p->pos++, digits = true;
        }
        if (!digits) return expected(p, "a dim in the shape");
        if (a->rank == NPY_MAX_RANK)
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "%s: .npy shape has more than %d dims (byte %zu)", p->path,
                             NPY_MAX_RANK, at);
        if (v == 0 || !nncl_mul_i64(a->count, v, &a->count))
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "%s: .npy shape: dim %d (byte %zu) is %lld: dims must be > 0 and "
                             "their product at most 2^63-1",
                             p->path, (int)a->rank, at, (long long)v);
        a->dims[a->rank++] = v;
        if (!accept(p, ',') && !(skip_spaces(p), p->pos < p->len && p->s[p->pos] == ')'))
            return expected(p, "',' or ')' in the shape");
    }
    if (a->rank == 0)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: .npy holds a scalar, not an array",
                         p->path);
    return NNCL_OK;
}

static nncl_status parse_header(header_parser *p, npy_array *a) {
    bool have_descr = false, have_order = false, have_shape = false;
    nncl_status st = NNCL_OK;
    if (!accept(p, '{')) return expected(p, "'{'");
    while (st == NNCL_OK && !accept(p, '}')) {
        char key[32];
        size_t at = p->base + p->pos;
        if ((st = quoted(p, key, sizeof key)) != NNCL_OK) break;
        if (!accept(p, ':')) return expected(p, "':'");
        if (!strcmp(key, "descr") && !have_descr) {
            st = parse_descr(p, a), have_descr = true;
        } else if (!strcmp(key, "fortran_order") && !have_order) {
            skip_spaces(p);
            if (p->len - p->pos >= 5 && !memcmp(p->s + p->pos, "False", 5)) {
                p->pos += 5, have_order = true;
            } else {
                return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                 "%s: .npy fortran_order (byte %zu) must be False: save a C-order "
                                 "array (np.ascontiguousarray)",
                                 p->path, p->base + p->pos);
            }
        } else if (!strcmp(key, "shape") && !have_shape) {
            st = parse_shape(p, a), have_shape = true;
        } else {
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "%s: .npy header key '%s' at byte %zu is unknown or repeated", p->path,
                             key, at);
        }
        if (st == NNCL_OK && !accept(p, ',') &&
            !(skip_spaces(p), p->pos < p->len && p->s[p->pos] == '}'))
            return expected(p, "',' or '}'");
    }
    if (st == NNCL_OK && !(have_descr && have_order && have_shape))
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: .npy header lacks %s", p->path,
                       !have_descr   ? "'descr'"
                       : !have_order ? "'fortran_order'"
                                     : "'shape'");
    return st;
}

/* Reads a whole .npy file into a. */
static nncl_status npy_read(const char *path, npy_array *a) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) return nncl_fail(NNCL_ERROR_IO, "%s: cannot open", path);
    nncl_status st = NNCL_OK;
    long file_size = -1;
    if (fseek(f, 0, SEEK_END) == 0) file_size = ftell(f);
    rewind(f);
    unsigned char pre[12] = {0};
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) || pre[6] < 1 || pre[6] > 3)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                       "%s: not a .npy file of version 1 to 3 (the first 8 bytes must be "
                       "\\x93NUMPY and a version)",
                       path);
    size_t header_len = 0, start = pre[6] == 1 ? 10 : 12;
    if (st == NNCL_OK && pre[6] > 1 && fread(pre + 10, 1, 2, f) != 2)
        st =
            nncl_fail(NNCL_ERROR_IO, "%s: truncated at byte %zu (in the header length)", path, got);
    if (st == NNCL_OK) {
        header_len = pre[8] | (size_t)pre[9] << 8;
        if (pre[6] > 1) header_len |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        if (header_len > NPY_MAX_HEADER)
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "%s: .npy header of %zu bytes (byte 8) is longer than %d", path,
                           header_len, NPY_MAX_HEADER);
    }
    char *text = st == NNCL_OK ? malloc(header_len + 1) : NULL;
    if (st == NNCL_OK && !text) st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: header", path);
    if (st == NNCL_OK && fread(text, 1, header_len, f) != header_len)
        st =
            nncl_fail(NNCL_ERROR_IO, "%s: truncated in the %zu-byte header that starts at byte %zu",
                      path, header_len, start);
    if (st == NNCL_OK) {
        header_parser p = {.path = path, .s = text, .len = header_len, .base = start};
        st = parse_header(&p, a);
    }
    free(text);
    size_t offset = start + header_len, bytes = 0;
    if (st == NNCL_OK && !nncl_bytes_of(a->count, a->elem, &bytes))
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: .npy shape gives too many bytes", path);
    /* The shape is believed only as far as the file reaches: a short file
     * fails here, before its claimed size is allocated. */
    if (st == NNCL_OK &&
        (file_size < 0 || (size_t)file_size < offset || (size_t)file_size - offset < bytes))
        st = nncl_fail(NNCL_ERROR_IO,
                       "%s: truncated: the data from byte %zu needs %zu bytes, the "
                       "file has %ld",
                       path, offset, bytes, file_size < 0 ? 0L : file_size - (long)offset);
    if (st == NNCL_OK && !(a->data = malloc(bytes ? bytes : 1)))
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: %zu bytes", path, bytes);
    if (st == NNCL_OK && fread(a->data, 1, bytes, f) != bytes)
        st = nncl_fail(NNCL_ERROR_IO, "%s: read error in the data at byte %zu", path, offset);
    fclose(f);
    if (st != NNCL_OK) {
        free(a->data);
        a->data = NULL;
    }
    return st;
}

/* Element i as a double (integers of up to 64 bits; doubles are exact for
 * the labels and 8-bit values that matter, and checked where they are not). */
static double element(const npy_array *a, int64_t i) {
    const uint8_t *p = a->data + (size_t)i * a->elem;
    uint64_t bits = 0;
    for (size_t b = 0; b < a->elem; b++)
        bits |= (uint64_t)p[b] << (8 * b);
    if (a->kind == NPY_FLOAT) {
        if (a->elem == 4) {
            float f;
            uint32_t u = (uint32_t)bits;
            memcpy(&f, &u, 4);
            return f;
        }
        double d;
        memcpy(&d, &bits, 8);
        return d;
    }
    if (a->kind == NPY_UINT) return (double)bits;
    int shift = 64 - 8 * (int)a->elem; /* sign-extend */
    return (double)((int64_t)(bits << shift) >> shift);
}

/* The labels as int32: whole values in int32's range. */
static nncl_status to_labels(const char *path, const npy_array *a, int32_t **out) {
    int32_t *labels = malloc((size_t)a->count * sizeof *labels);
    if (!labels) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: labels", path);
    for (int64_t i = 0; i < a->count; i++) {
        double v = element(a, i);
        if (!(v == floor(v) && v >= INT32_MIN && v <= INT32_MAX)) {
            free(labels);
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "%s: label %lld is %g: labels must be whole numbers in int32's range",
                             path, (long long)i, v);
        }
        labels[i] = (int32_t)v;
    }
    *out = labels;
    return NNCL_OK;
}

/* 8-bit unsigned samples stay bytes (scaled by 1/255 when prepared, as IDX
 * and PNG images); anything else becomes finite float32. */
static nncl_status to_samples(const char *path, npy_array *a, uint8_t **bytes, float **floats) {
    if (a->kind == NPY_UINT && a->elem == 1) {
        *bytes = a->data, a->data = NULL;
        return NNCL_OK;
    }
    float *f = malloc((size_t)a->count * sizeof *f);
    if (!f) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: samples", path);
    for (int64_t i = 0; i < a->count; i++) {
        double v = element(a, i);
        if (!isfinite(v) || fabs(v) > 3.4e38) {
            free(f);
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "%s: value %lld is %g: samples must be finite float32 values", path,
                             (long long)i, v);
        }
        f[i] = (float)v;
    }
    *floats = f;
    return NNCL_OK;
}

nncl_status nncl_dataset_load_npy(const char *samples_path, const char *labels_path,
                                  nncl_dataset **out) {
    if (!samples_path || !labels_path || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dataset_load_npy: NULL argument");
    *out = NULL;
    npy_array x, y;
    nncl_status st = npy_read(samples_path, &x);
    if (st != NNCL_OK) return st;
    if ((st = npy_read(labels_path, &y)) != NNCL_OK) {
        free(x.data);
        return st;
    }
    bool maps = y.rank > 1;
    if (x.rank < 3)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                       "%s: samples need 3 to 5 dims ([count, C, L], [count, C, H, W] or "
                       "[count, C, D, H, W]; grey images as [count, 1, H, W]), not %d",
                       samples_path, (int)x.rank);
    else if (y.kind == NPY_FLOAT)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: labels must be integers, not floats",
                       labels_path);
    else if (y.dims[0] != x.dims[0])
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s holds %lld samples but %s %lld labels",
                       samples_path, (long long)x.dims[0], labels_path, (long long)y.dims[0]);
    else if (maps && (y.rank != x.rank - 1 ||
                      memcmp(y.dims + 1, x.dims + 2, (size_t)(y.rank - 1) * sizeof(int64_t))))
        st = nncl_fail(NNCL_ERROR_SHAPE,
                       "%s: label maps must be [count, spatial dims of the samples] (%d dims "
                       "matching %s's last %d), not %d dims",
                       labels_path, (int)x.rank - 1, samples_path, (int)x.rank - 2, (int)y.rank);
    uint8_t *bytes = NULL;
    float *floats = NULL;
    int32_t *labels = NULL;
    if (st == NNCL_OK) st = to_labels(labels_path, &y, &labels);
    if (st == NNCL_OK) st = to_samples(samples_path, &x, &bytes, &floats);
    free(x.data);
    free(y.data);
    if (st != NNCL_OK) {
        free(labels);
        return st;
    }
    int32_t spatial = x.rank - 2;
    int64_t dims[3] = {1, 1, 1};
    for (int32_t i = 0; i < spatial; i++)
        dims[3 - spatial + i] = x.dims[2 + i];
    st = nncl_dataset_wrap(x.dims[0], x.dims[1], spatial, dims, bytes, floats, labels, out);
    if (st == NNCL_OK) (*out)->label_maps = maps;
    return st;
}

/* An array as np.save writes it in format 1.0 (these headers are far below
 * its 64 KiB limit): the dict, padded with spaces and a newline so that
 * the data starts at a multiple of 64 bytes. */
static nncl_status npy_write(const char *path, const char *descr, const int64_t *dims, int rank,
                             const void *data, size_t bytes) {
    char header[256];
    int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       descr);
    for (int i = 0; i < rank; i++)
        len += snprintf(header + len, sizeof header - (size_t)len, "%s%lld", i ? ", " : "",
                        (long long)dims[i]);
    len += snprintf(header + len, sizeof header - (size_t)len, "%s), }", rank == 1 ? "," : "");
    size_t header_len = (10 + (size_t)len + 1 + 63) / 64 * 64 - 10;
    unsigned char start[10] = {0x93,
                               'N',
                               'U',
                               'M',
                               'P',
                               'Y',
                               1,
                               0,
                               (unsigned char)header_len,
                               (unsigned char)(header_len >> 8)};
    memset(header + len, ' ', header_len - (size_t)len - 1);
    header[header_len - 1] = '\n';
    nncl_chunk chunks[3] = {{start, 10}, {header, header_len}, {data, bytes}};
    return nncl_write_atomic(path, chunks, 3);
}

nncl_status nncl_dataset_save_npy(const nncl_dataset *ds, const char *samples_path,
                                  const char *labels_path) {
    if (!ds || !samples_path || !labels_path)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_dataset_save_npy: NULL argument");
    int64_t dims[5] = {ds->count, ds->channels};
    for (int32_t i = 0; i < ds->spatial; i++)
        dims[2 + i] = ds->dims[3 - ds->spatial + i];
    int rank = 2 + ds->spatial;
    size_t count = (size_t)(ds->count * ds->sample_size);
    nncl_status st =
        ds->images ? npy_write(samples_path, "|u1", dims, rank, ds->images, count)
                   : npy_write(samples_path, "<f4", dims, rank, ds->samples, count * sizeof(float));
    if (st != NNCL_OK) return st;
    /* Labels: one per sample, or the maps [count, spatial...]. */
    int64_t label_dims[4] = {ds->count};
    int label_rank = 1;
    for (int32_t i = 0; ds->label_maps && i < ds->spatial; i++)
        label_dims[label_rank++] = dims[2 + i];
    size_t labels =
        (size_t)ds->count * (ds->label_maps ? (size_t)(ds->sample_size / ds->channels) : 1);
    return npy_write(labels_path, "<i4", label_dims, label_rank, ds->labels,
                     labels * sizeof(int32_t));
}
