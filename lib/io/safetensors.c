/* Reading and writing safetensors files (see safetensors.h). The JSON
 * header is built and parsed with cJSON; every offset and size in a file is
 * checked before use, and errors name the file, the tensor and the offset. */
#include "safetensors.h"
#include "../runtime/checked.h"
#include "atomic.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dtype_name(nncl_st_dtype d) {
    return d == NNCL_ST_F32 ? "F32" : "I64";
}
static size_t dtype_size(nncl_st_dtype d) {
    return d == NNCL_ST_F32 ? 4 : 8;
}

static cJSON *header_json(const nncl_st_tensor *t, size_t n, const nncl_st_meta *meta,
                          size_t n_meta) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (size_t i = 0; m && i < n_meta; i++)
            if (!cJSON_AddStringToObject(m, meta[i].key, meta[i].value)) m = NULL;
        if (!m) goto fail;
    }
    size_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *range = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        if (!shape || !range || !cJSON_AddStringToObject(e, "dtype", dtype_name(t[i].dtype)))
            goto fail;
        for (int32_t d = 0; d < t[i].shape.rank; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape.dims[d]));
        cJSON_AddItemToArray(range, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(range, cJSON_CreateNumber((double)(offset + t[i].bytes)));
        offset += t[i].bytes;
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

nncl_status nncl_st_write(const char *path, const nncl_st_tensor *t, size_t n,
                          const nncl_st_meta *meta, size_t n_meta) {
    cJSON *root = header_json(t, n, meta, n_meta);
    char *json = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: building the header", path);
    /* Pad the header with spaces so the data starts 8-byte aligned. */
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    unsigned char size_le[8];
    for (int i = 0; i < 8; i++)
        size_le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    char *header = malloc(padded);
    if (!header) {
        free(json);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: building the header", path);
    }
    memcpy(header, json, len);
    memset(header + len, ' ', padded - len);
    free(json);
    size_t n_chunks = 2 + n;
    nncl_chunk *chunks = malloc(n_chunks * sizeof *chunks);
    nncl_status st;
    if (!chunks) {
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: out of memory", path);
    } else {
        chunks[0] = (nncl_chunk){size_le, 8};
        chunks[1] = (nncl_chunk){header, padded};
        for (size_t i = 0; i < n; i++)
            chunks[2 + i] = (nncl_chunk){t[i].data, t[i].bytes};
        st = nncl_write_atomic(path, chunks, n_chunks);
    }
    free(chunks);
    free(header);
    return st;
}

/* A JSON number that is a whole number in [0, 2^53] (doubles hold every
 * such integer exactly), as int64; false for fractions, negatives, NaN. */
static bool whole_number(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(int64_t)d) return false;
    *out = (int64_t)d;
    return true;
}

/* The JSON header's offset of tensor `name`, for messages: its key's
 * position in the header text, which starts at file offset 8. */
static long header_offset(const char *header, size_t length, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i + n + 2 <= length; i++)
        if (header[i] == '"' && !memcmp(header + i + 1, name, n) && header[i + n + 1] == '"')
            return 8 + (long)i;
    return 8;
}

static nncl_status parse_tensor(const char *path, const cJSON *e, size_t data_size, long at,
                                nncl_st_tensor *out) {
    const char *name = e->string;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(range) ||
        cJSON_GetArraySize(range) != 2 || cJSON_GetArraySize(shape) > NNCL_MAX_RANK)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: tensor '%s' (header byte %ld) needs dtype, shape (rank <= %d) and "
                         "two data_offsets",
                         path, name, at, NNCL_MAX_RANK);
    if (strcmp(dtype->valuestring, "F32") && strcmp(dtype->valuestring, "I64"))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: tensor '%s' (header byte %ld) has dtype %s; nncl reads F32 (and I64 "
                         "counters)",
                         path, name, at, dtype->valuestring);
    out->dtype = strcmp(dtype->valuestring, "F32") ? NNCL_ST_I64 : NNCL_ST_F32;
    out->shape.rank = cJSON_GetArraySize(shape);
    int64_t numel = 1;
    for (int32_t d = 0; d < out->shape.rank; d++) {
        if (!whole_number(cJSON_GetArrayItem(shape, d), &out->shape.dims[d]) ||
            !nncl_mul_i64(numel, out->shape.dims[d], &numel))
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "%s: tensor '%s' (header byte %ld): dim %d is not a whole number "
                             "from 0 to 2^53, or the dims' product overflows",
                             path, name, at, (int)d);
    }
    int64_t begin, end;
    size_t need;
    if (!whole_number(cJSON_GetArrayItem(range, 0), &begin) ||
        !whole_number(cJSON_GetArrayItem(range, 1), &end) ||
        !nncl_bytes_of(numel, dtype_size(out->dtype), &need))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: tensor '%s' (header byte %ld): data_offsets must be whole numbers "
                         "and its size must fit in memory",
                         path, name, at);
    if (end < begin || (uint64_t)end > data_size || (uint64_t)(end - begin) != need)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: tensor '%s' (header byte %ld) claims bytes %lld to %lld of a "
                         "%zu-byte data section (its shape needs %zu)",
                         path, name, at, (long long)begin, (long long)end, data_size, need);
    out->bytes = need;
    out->data = (const void *)(uintptr_t)begin; /* made absolute by nncl_st_read */
    return NNCL_OK;
}

/* The whole of a regular file, or an error naming why not. */
static nncl_status read_file(const char *path, unsigned char **bytes, size_t *size) {
    *bytes = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return nncl_fail(NNCL_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return nncl_fail(NNCL_ERROR_IO, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return nncl_fail(NNCL_ERROR_IO, "%s: %s", path,
                         S_ISDIR(sb.st_mode) ? "is a directory, not a safetensors file"
                                             : "not a regular file");
    }
    if (sb.st_size < 8 || (uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: not a safetensors file (%lld bytes; the header length alone takes 8)",
                         path, (long long)sb.st_size);
    }
    *size = (size_t)sb.st_size;
    *bytes = malloc(*size);
    if (!*bytes) {
        close(fd);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: %zu bytes", path, *size);
    }
    size_t done = 0;
    while (done < *size) {
        ssize_t got = read(fd, *bytes + done, *size - done);
        if (got <= 0) {
            int err = got < 0 ? errno : 0;
            close(fd);
            free(*bytes);
            *bytes = NULL;
            return nncl_fail(NNCL_ERROR_IO, "%s: read failed at byte %zu: %s", path, done,
                             err ? strerror(err) : "the file shrank");
        }
        done += (size_t)got;
    }
    close(fd);
    return NNCL_OK;
}

nncl_status nncl_st_read(const char *path, nncl_st_file *out) {
    memset(out, 0, sizeof *out);
    unsigned char *bytes = NULL;
    size_t size = 0;
    nncl_status st = read_file(path, &bytes, &size);
    if (st != NNCL_OK) return st;
    uint64_t header = 0;
    for (int i = 0; i < 8; i++)
        header |= (uint64_t)bytes[i] << (8 * i);
    if (header > (uint64_t)size - 8) {
        free(bytes);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: not a safetensors file (header length %llu at offset 0, file of %zu "
                         "bytes)",
                         path, (unsigned long long)header, size);
    }
    const char *end = NULL;
    const char *text = (const char *)bytes + 8;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)header, &end, false);
    if (!cJSON_IsObject(root)) {
        long at = end ? (long)(end - (const char *)bytes) : 8;
        cJSON_Delete(root);
        free(bytes);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: the JSON header is invalid near byte %ld", path, at);
    }
    size_t data_at = 8 + (size_t)header, data_size = size - data_at;
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) n += strcmp(e->string, "__metadata__") != 0;
    nncl_st_tensor *tensors = calloc(n ? n : 1, sizeof *tensors);
    st = tensors ? NNCL_OK : nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s", path);
    size_t k = 0;
    cJSON_ArrayForEach(e, root) {
        if (st != NNCL_OK || !strcmp(e->string, "__metadata__")) continue;
        if (!cJSON_IsObject(e)) {
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "%s: entry '%s' (header byte %ld) is not a tensor description", path,
                           e->string, header_offset(text, (size_t)header, e->string));
            continue;
        }
        st = parse_tensor(path, e, data_size, header_offset(text, (size_t)header, e->string),
                          &tensors[k]);
        tensors[k].name = e->string;
        tensors[k].data = bytes + data_at + (uintptr_t)tensors[k].data;
        k++;
    }
    if (st != NNCL_OK) {
        free(tensors);
        cJSON_Delete(root);
        free(bytes);
        return st;
    }
    *out = (nncl_st_file){bytes, tensors, n, root};
    return NNCL_OK;
}

const nncl_st_tensor *nncl_st_find(const nncl_st_file *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *nncl_st_meta_get(const nncl_st_file *f, const char *key) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->header, "__metadata__");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void nncl_st_close(nncl_st_file *f) {
    free(f->tensors);
    cJSON_Delete(f->header);
    free(f->bytes);
    memset(f, 0, sizeof *f);
}
