/* The safetensors container (Hugging Face's format, which PyTorch users
 * share weights in): an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the raw data. */
#ifndef NNCL_SAFETENSORS_H
#define NNCL_SAFETENSORS_H

#include "../runtime/runtime.h"

typedef enum nncl_st_dtype { NNCL_ST_F32, NNCL_ST_I64 } nncl_st_dtype;

typedef struct nncl_st_tensor {
    char *name;
    nncl_st_dtype dtype;
    nncl_shape shape; /* rank 0 for a scalar */
    const void *data;
    size_t bytes;
} nncl_st_tensor;

typedef struct nncl_st_meta {
    const char *key, *value;
} nncl_st_meta;

/* Writes path atomically: a temporary file beside it, fsync, rename, and
 * fsync of the directory, so a crash leaves the old file or the new one. */
nncl_status nncl_st_write(const char *path, const nncl_st_tensor *tensors, size_t n,
                          const nncl_st_meta *meta, size_t n_meta);

/* A file read whole and checked: every tensor's dtype, shape and range. */
typedef struct nncl_st_file {
    unsigned char *bytes;
    nncl_st_tensor *tensors;
    size_t n;
    void *header; /* the parsed JSON, for metadata lookups */
} nncl_st_file;

nncl_status nncl_st_read(const char *path, nncl_st_file *out);
const nncl_st_tensor *nncl_st_find(const nncl_st_file *f, const char *name);
/* A metadata value, or NULL. */
const char *nncl_st_meta_get(const nncl_st_file *f, const char *key);
void nncl_st_close(nncl_st_file *f);

#endif
