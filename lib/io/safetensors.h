/* The safetensors container (Hugging Face's format, which PyTorch users
 * share weights in): an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw data. */
#ifndef NNCL_SAFETENSORS_H
#define NNCL_SAFETENSORS_H

#include "../nncl_internal.h"

typedef enum st_dtype { ST_F32, ST_I64 } st_dtype;

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    nncl_shape shape; /* rank 0 for a scalar */
    const void *data;
    size_t bytes;
} st_tensor;

typedef struct st_meta {
    const char *key, *value;
} st_meta;

/* Writes path atomically: a temporary file beside it, fsync, rename, and
 * fsync of the directory, so a crash leaves the old file or the new one. */
nncl_status st_write(const char *path, const st_tensor *tensors, size_t n, const st_meta *meta,
                     size_t n_meta);

/* A file read whole and checked: every tensor's dtype, shape and range. */
typedef struct st_file {
    unsigned char *bytes;
    st_tensor *tensors;
    size_t n;
    void *header; /* the parsed JSON, for metadata lookups */
} st_file;

nncl_status st_read(const char *path, st_file *out);
const st_tensor *st_find(const st_file *f, const char *name);
/* A metadata value, or NULL. */
const char *st_meta_get(const st_file *f, const char *key);
void st_close(st_file *f);

#endif
