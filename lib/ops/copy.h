/* A block copy between tensors that overwrites or adds: the whole of
 * reshape, add's backward and concat (lib/ops/copy.c). */
#ifndef NNCL_OPS_COPY_H
#define NNCL_OPS_COPY_H
#include "ops.h"

/* dst[dst_off + r * dst_stride + j] (+)= src[src_off + r * src_stride + j],
 * r < rows, j < cols. */
nncl_status nncl_copy_rows(nncl_graph *g, cl_mem src, size_t src_off, size_t src_stride, cl_mem dst,
                           size_t dst_off, size_t dst_stride, size_t rows, size_t cols,
                           bool accumulate);
#endif
