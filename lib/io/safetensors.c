/* Reading and writing safetensors files (see safetensors.h). The JSON
 * header is built and parsed with cJSON; every offset and size in a file is
 * checked before use, and errors name the file, the tensor and the offset. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* fsync of the directory holding path, so the rename itself is durable. */
static void sync_dir(const char *path) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
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
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(json);
        return nncl_fail(NNCL_ERROR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    }
    bool ok = fwrite(size_le, 1, 8, f) == 8 && fwrite(json, 1, len, f) == len;
    for (size_t i = len; ok && i < padded; i++)
        ok = fputc(' ', f) != EOF;
    for (size_t i = 0; ok && i < n; i++)
        ok = fwrite(t[i].data, 1, t[i].bytes, f) == t[i].bytes;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    ok = fclose(f) == 0 && ok;
    free(json);
    if (!ok || rename(tmp, path) != 0) {
        if (ok) saved = errno;
        remove(tmp);
        return nncl_fail(NNCL_ERROR_IO, "%s: writing failed: %s", path, strerror(saved));
    }
    sync_dir(path);
    return NNCL_OK;
}

static nncl_status parse_tensor(const char *path, const cJSON *e, size_t data_size,
                                nncl_st_tensor *out) {
    const char *name = e->string;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(range) ||
        cJSON_GetArraySize(range) != 2 || cJSON_GetArraySize(shape) > NNCL_MAX_RANK)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: tensor '%s' needs dtype, shape (rank <= %d) and two data_offsets",
                         path, name, NNCL_MAX_RANK);
    if (strcmp(dtype->valuestring, "F32") && strcmp(dtype->valuestring, "I64"))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: tensor '%s' has dtype %s; nncl reads F32 (and I64 counters)", path,
                         name, dtype->valuestring);
    out->dtype = strcmp(dtype->valuestring, "F32") ? NNCL_ST_I64 : NNCL_ST_F32;
    out->shape.rank = cJSON_GetArraySize(shape);
    double numel = 1;
    for (int32_t d = 0; d < out->shape.rank; d++) {
        const cJSON *v = cJSON_GetArrayItem(shape, d);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0)
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: tensor '%s' has a bad shape", path,
                             name);
        out->shape.dims[d] = (int64_t)v->valuedouble;
        numel *= v->valuedouble;
    }
    double begin = cJSON_GetArrayItem(range, 0)->valuedouble;
    double end = cJSON_GetArrayItem(range, 1)->valuedouble;
    if (begin < 0 || end < begin || end > (double)data_size ||
        end - begin != numel * (double)dtype_size(out->dtype))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: tensor '%s' claims bytes %.0f to %.0f of a %zu-byte data section "
                         "(its shape needs %.0f)",
                         path, name, begin, end, data_size, numel * (double)dtype_size(out->dtype));
    out->bytes = (size_t)(end - begin);
    out->data = (const void *)(uintptr_t)begin; /* made absolute by nncl_st_read */
    return NNCL_OK;
}

nncl_status nncl_st_read(const char *path, nncl_st_file *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return nncl_fail(NNCL_ERROR_IO, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = size > 0 ? malloc((size_t)size) : NULL;
    bool ok = bytes && fread(bytes, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
        free(bytes);
        return nncl_fail(NNCL_ERROR_IO, "%s: cannot read (%ld bytes)", path, size);
    }
    uint64_t header = 0;
    for (int i = 0; size >= 8 && i < 8; i++)
        header |= (uint64_t)bytes[i] << (8 * i);
    if (size < 8 || header > (uint64_t)size - 8) {
        free(bytes);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: not a safetensors file (header length %llu at offset 0, file of %ld "
                         "bytes)",
                         path, (unsigned long long)header, size);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)bytes + 8, (size_t)header, &end, false);
    if (!cJSON_IsObject(root)) {
        long at = end ? (long)(end - (const char *)bytes) : 8;
        cJSON_Delete(root);
        free(bytes);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: the JSON header is invalid near byte %ld", path, at);
    }
    size_t data_at = 8 + (size_t)header, data_size = (size_t)size - data_at;
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) n += strcmp(e->string, "__metadata__") != 0;
    nncl_st_tensor *tensors = calloc(n ? n : 1, sizeof *tensors);
    nncl_status st = tensors ? NNCL_OK : nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s", path);
    size_t k = 0;
    cJSON_ArrayForEach(e, root) {
        if (st != NNCL_OK || !strcmp(e->string, "__metadata__")) continue;
        st = parse_tensor(path, e, data_size, &tensors[k]);
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
