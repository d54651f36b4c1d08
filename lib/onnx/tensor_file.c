/* Single tensors in ONNX's TensorProto files (nncl_onnx_tensor_read /
 * _write): the layout of ONNX's backend test data (input_0.pb, ...), which
 * nncl-run reads and writes. Written float32 as raw little-endian bytes. */
#include "../io/atomic.h"
#include "onnx_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nncl_status nncl_onnx_tensor_read(const char *path, nncl_shape *shape, float **values) {
    if (!path || !shape || !values)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_onnx_tensor_read: NULL argument");
    *values = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return nncl_fail(NNCL_ERROR_IO, "%s: cannot open", path);
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    rewind(f);
    uint8_t *bytes = size >= 0 && size < (1L << 31) ? malloc((size_t)size + 1) : NULL;
    bool ok = bytes && fread(bytes, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
        free(bytes);
        return nncl_fail(NNCL_ERROR_IO, "%s: cannot read it (or larger than 2 GiB)", path);
    }
    NnclOnnx__TensorProto *t = nncl_onnx__tensor_proto__unpack(NULL, (size_t)size, bytes);
    free(bytes);
    if (!t)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "%s: not an ONNX TensorProto (truncated, or not protobuf)", path);
    nncl_status st = nncl_onnx_check_tensor(path, "the file's", t);
    if (st == NNCL_OK && t->n_dims > NNCL_MAX_RANK)
        st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: the tensor has %zu dims; at most %d", path,
                       t->n_dims, NNCL_MAX_RANK);
    int64_t count = 0;
    if (st == NNCL_OK) st = nncl_onnx_tensor_floats(t, values, &count);
    if (st == NNCL_OK) { /* a scalar is [1] */
        *shape = (nncl_shape){.rank = t->n_dims ? (int32_t)t->n_dims : 1, .dims = {1}};
        for (size_t d = 0; d < t->n_dims; d++)
            shape->dims[d] = t->dims[d];
    }
    nncl_onnx__tensor_proto__free_unpacked(t, NULL);
    return st;
}

nncl_status nncl_onnx_tensor_write(const char *path, const char *name, nncl_shape shape,
                                   const float *values) {
    if (!path || !values || shape.rank < 1 || shape.rank > NNCL_MAX_RANK)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_onnx_tensor_write: NULL argument or a rank outside 1-%d",
                         NNCL_MAX_RANK);
    int64_t count = nncl_shape_numel(shape);
    if (count < 0 || (uint64_t)count > SIZE_MAX / 4)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_onnx_tensor_write: bad shape");
    uint8_t *raw = malloc((size_t)count * 4 + 1);
    if (!raw) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s", path);
    for (int64_t i = 0; i < count; i++) { /* little-endian whatever the host */
        uint32_t u;
        memcpy(&u, &values[i], 4);
        for (int b = 0; b < 4; b++)
            raw[4 * i + b] = (uint8_t)(u >> (8 * b));
    }
    NnclOnnx__TensorProto t = NNCL_ONNX__TENSOR_PROTO__INIT;
    int64_t dims[NNCL_MAX_RANK];
    memcpy(dims, shape.dims, (size_t)shape.rank * sizeof dims[0]);
    t.n_dims = (size_t)shape.rank;
    t.dims = dims;
    t.has_data_type = true;
    t.data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t.name = (char *)(name ? name : "");
    t.has_raw_data = true;
    t.raw_data.len = (size_t)count * 4;
    t.raw_data.data = raw;
    size_t size = nncl_onnx__tensor_proto__get_packed_size(&t);
    uint8_t *bytes = malloc(size + 1);
    nncl_status st;
    if (!bytes) {
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s", path);
    } else {
        nncl_onnx__tensor_proto__pack(&t, bytes);
        st = nncl_write_atomic(path, &(nncl_chunk){bytes, size}, 1);
    }
    free(bytes);
    free(raw);
    return st;
}
