/* Image-folder datasets (torchvision's ImageFolder layout): dir/<class>/
 * <image>.png, classes and images in name order. PNGs are decoded with
 * libpng's simplified API into gray or RGB bytes. Every failure names the
 * file. */
#include "../runtime/checked.h"
#include "data.h"

#include <dirent.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static void names_free(names *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (names){0};
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir that are directories (want_dirs) or .png files, in
 * name order; hidden ones skipped. */
static nncl_status list(const char *dir, bool want_dirs, names *out) {
    *out = (names){0};
    DIR *d = opendir(dir);
    if (!d) return nncl_fail(NNCL_ERROR_IO, "%s: cannot open the folder", dir);
    nncl_status st = NNCL_OK;
    for (struct dirent *e; st == NNCL_OK && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        int used = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (used < 0 || (size_t)used >= sizeof path || stat(path, &sb) != 0) continue;
        size_t len = strlen(e->d_name);
        bool png = len > 4 && !strcasecmp(e->d_name + len - 4, ".png") && S_ISREG(sb.st_mode);
        if (want_dirs ? !S_ISDIR(sb.st_mode) : !png) continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 16;
            char **grown = realloc(out->v, cap * sizeof *grown);
            if (!grown) {
                st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: out of memory", dir);
                break;
            }
            out->v = grown;
            out->cap = cap;
        }
        if (!(out->v[out->n] = malloc(len + 1))) {
            st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: out of memory", dir);
            break;
        }
        memcpy(out->v[out->n++], e->d_name, len + 1);
    }
    closedir(d);
    if (st != NNCL_OK)
        names_free(out);
    else if (out->n)
        qsort(out->v, out->n, sizeof *out->v, by_name);
    return st;
}

/* The folder's images so far: one size and channel count, growing bytes. */
typedef struct images {
    int64_t channels, height, width, count;
    uint8_t *bytes;
    size_t cap;
    int32_t *labels;
} images;

/* Decodes path into the next sample, the first image fixing the size. */
static nncl_status add_image(images *im, const char *path, int32_t label) {
    png_image png = {.version = PNG_IMAGE_VERSION};
    if (!png_image_begin_read_from_file(&png, path))
        return nncl_fail(NNCL_ERROR_IO, "%s: not a readable PNG: %s", path, png.message);
    int64_t channels = png.format & PNG_FORMAT_FLAG_COLOR ? 3 : 1;
    if (!im->count) {
        im->channels = channels;
        im->height = png.height;
        im->width = png.width;
    }
    if (png.height != im->height || png.width != im->width) {
        png_image_free(&png);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s is %ux%u; the folder's first image is %lldx%lld: all must have one "
                         "size",
                         path, png.width, png.height, (long long)im->width, (long long)im->height);
    }
    int64_t dims[3] = {im->channels, im->height, im->width}, sample, end;
    size_t need;
    if (!nncl_product_i64(dims, 3, &sample) || !nncl_mul_i64(im->count + 1, sample, &end) ||
        !nncl_bytes_of(end, 1, &need)) {
        png_image_free(&png);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: the images do not fit in memory", path);
    }
    /* Deflate expands at most about 1032 to 1: a header claiming more pixels
     * than the file's bytes can hold is refused before anything is allocated. */
    struct stat sb;
    if (stat(path, &sb) != 0 || sample / 1100 > (int64_t)sb.st_size) {
        png_image_free(&png);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s claims %ux%u pixels, more than its %lld bytes can hold", path,
                         png.width, png.height, (long long)sb.st_size);
    }
    if (need > im->cap) {
        size_t cap = im->cap ? 2 * im->cap : need;
        if (cap < need) cap = need;
        uint8_t *grown = realloc(im->bytes, cap);
        int32_t *labels =
            realloc(im->labels, (size_t)(cap / (size_t)sample + 1) * sizeof *im->labels);
        if (grown) im->bytes = grown;
        if (labels) im->labels = labels;
        if (!grown || !labels) {
            png_image_free(&png);
            return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: out of memory", path);
        }
        im->cap = cap;
    }
    /* Decoded interleaved (RGBRGB...), then moved into planes (RR..GG..BB..). */
    png.format = im->channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    uint8_t *pixels = malloc((size_t)sample);
    if (!pixels) {
        png_image_free(&png);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&png, &black, pixels, 0, NULL)) {
        free(pixels);
        return nncl_fail(NNCL_ERROR_IO, "%s: corrupt PNG: %s", path, png.message);
    }
    uint8_t *dst = im->bytes + (size_t)(im->count * sample);
    int64_t plane = im->height * im->width;
    for (int64_t p = 0; p < plane; p++)
        for (int64_t c = 0; c < im->channels; c++)
            dst[c * plane + p] = pixels[p * im->channels + c];
    free(pixels);
    im->labels[im->count++] = label;
    return NNCL_OK;
}

nncl_status nncl_dataset_load_image_folder(const char *dir, nncl_dataset **out) {
    if (!dir || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_dataset_load_image_folder: NULL argument");
    *out = NULL;
    names classes;
    nncl_status st = list(dir, true, &classes);
    if (st != NNCL_OK) return st;
    if (!classes.n) {
        names_free(&classes);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: no class folders (the layout is %s/<class>/<image>.png)", dir, dir);
    }
    images im = {0};
    for (size_t c = 0; c < classes.n && st == NNCL_OK; c++) {
        char folder[4096];
        int used = snprintf(folder, sizeof folder, "%s/%s", dir, classes.v[c]);
        if (used < 0 || (size_t)used >= sizeof folder) {
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s/%s: the path is too long", dir,
                           classes.v[c]);
            break;
        }
        names files;
        st = list(folder, false, &files);
        for (size_t f = 0; f < files.n && st == NNCL_OK; f++) {
            char path[8192];
            used = snprintf(path, sizeof path, "%s/%s", folder, files.v[f]);
            st = used < 0 || (size_t)used >= sizeof path
                     ? nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s/%s: the path is too long", folder,
                                 files.v[f])
                     : add_image(&im, path, (int32_t)c);
        }
        names_free(&files);
    }
    if (st == NNCL_OK && !im.count)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: the class folders hold no .png images",
                       dir);
    if (st == NNCL_OK) {
        int64_t dims[3] = {1, im.height, im.width};
        st = nncl_dataset_wrap(im.count, im.channels, 2, dims, im.bytes, NULL, im.labels, out);
        im.bytes = NULL;
        im.labels = NULL;
    }
    if (st == NNCL_OK) {
        (*out)->class_names = classes.v; /* the dataset keeps the names */
        (*out)->n_classes = (int64_t)classes.n;
        return NNCL_OK;
    }
    free(im.bytes);
    free(im.labels);
    names_free(&classes);
    return st;
}
