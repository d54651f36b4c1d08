/* The ops layer: every op's builder and table entry (one file per family,
 * listed in ops.def), and what several ops share: the spatial window of
 * convolution and pooling, and the bias-plus-activation epilogue that
 * fused layers end with. Above the graph and GEMM layers. */
#ifndef NNCL_OPS_H
#define NNCL_OPS_H

#include "../gemm/gemm.h"
#include "../graph/graph.h"
#include "../graph/onnx_writer.h"

/* The op kinds, in ops.def's order. Kernels see the same numbers as
 * -DNNCL_OP_<KIND>=<n> (nncl_ops_kernel_defines), so an op's kind is what
 * a shared kernel switches on. */
enum {
#define NNCL_OP(kind, name, impl) NNCL_OP_##kind,
#include "ops.def"
#undef NNCL_OP
    NNCL_OP_COUNT
};

#define NNCL_OP(kind, name, impl) extern const nncl_op_vtable nncl_op_##impl;
#include "ops.def"
#undef NNCL_OP

/* Appends " -DNNCL_OP_<KIND>=<n>" for every op to buf (registry.c); false
 * when buf is too small. */
bool nncl_ops_kernel_defines(char *buf, size_t size);

/* Geometry of a spatial op, always as 3 dims (D, H, W): a 2D op has D = 1,
 * kernel 1, stride 1, no padding in dim 0; a 1D op also in dim 1. */
typedef struct nncl_window {
    int32_t spatial; /* 1, 2 or 3 */
    int64_t in[3], out[3], kernel[3], stride[3], pad_begin[3], pad_end[3], dilation[3];
} nncl_window;

/* What a builder asks of a window (window.c). */
typedef struct nncl_window_request {
    const int64_t *kernel, *stride, *padding, *pad_begin, *pad_end, *dilation;
    bool padding_same, ceil_mode, default_stride_is_kernel;
} nncl_window_request;
/* Fills win from x's shape and the request; on a bad request records the
 * graph error and returns false. */
bool nncl_window_plan(nncl_graph *g, const char *op, const char *name, nncl_shape x,
                      const nncl_window_request *req, nncl_window *win);
int64_t nncl_window_volume(const int64_t v[3]);
/* The window's dims as kernel arguments (d, h, w, 0). */
cl_int4 nncl_int4(const int64_t v[3]);
/* A spatial tensor's [N, C, ...] spatial dims as (d, h, w, 0), unused
 * leading dims 1. */
cl_int4 nncl_spatial_dims(nncl_shape s);
/* ONNX's kernel_shape, strides, pads (begin..., end...) and, with
 * dilations, dilations attributes of node (the writer's index) from win. */
void nncl_window_to_onnx(nncl_onnx_writer *w, int node, const nncl_window *win, bool dilations);
/* op_type(node's input 0) -> node: the one-input form; its index. */
int nncl_ox_unary(nncl_onnx_writer *w, const char *op_type, const nncl_node *node);
/* Row-major strides of s, in elements. */
void nncl_row_strides(nncl_shape s, int64_t *strides);

/* Producer epilogue (activation.c): y += bias per channel over
 * [rows = N*C, inner], and the fused activation if any, written to that
 * activation's output. */
nncl_status nncl_bias_epilogue(nncl_graph *g, nncl_node *producer, cl_mem bias, size_t channels,
                               size_t inner, size_t rows);
/* An absorbs entry for producers that end with nncl_bias_epilogue: any
 * activation, when the layer has a bias. */
nncl_fusion nncl_bias_absorbs(bool has_bias);

/* y (+)= x gathered at offset + sum of coordinate * strides[k] over y's
 * dims (permute.c; at most 8 dims). */
nncl_status nncl_strided_gather(nncl_graph *g, cl_mem x, size_t offset, cl_mem y, nncl_shape dims,
                                const int64_t *strides, bool accumulate);

/* A graph input's device arrays (graph_input.c): A_hat and its transpose
 * as CSR (row pointers, then columns from col_offset, in one int buffer;
 * values beside), each graph's member nodes then where each starts (from
 * starts_offset), and each node's graph (-1 for padding). */
typedef struct nncl_adjacency {
    cl_mem csr, val, csr_t, val_t, groups, node_graph;
    cl_int col_offset, starts_offset, max_nodes, graphs;
} nncl_adjacency;
nncl_adjacency nncl_adjacency_of(const nncl_node *adjacency);
/* Node features h must be [max_nodes, features] of the graph input
 * adjacency (graph_conv.c); false after recording the graph error. */
bool nncl_graph_features_check(nncl_graph *g, const char *op, const char *name, const nncl_node *h,
                               const nncl_node *adjacency);

/* a op b with broadcasting, op 0 add, 1 sub, 2 mul, 3 div (binary.c). */
nncl_node *nncl_binary(nncl_graph *g, int32_t op, nncl_node *a, nncl_node *b, const char *name);

/* Class losses (class_loss.c): labels must be x [N, C, d...] without its
 * class dim, [N, d...]; false after recording the graph error. */
bool nncl_class_labels_shape(nncl_graph *g, const char *op, const char *name, const nncl_node *x,
                             const nncl_node *labels, nncl_shape *want);
/* Every label of loss's input 1 in [0, C) or the ignore index. */
nncl_status nncl_class_labels_valid(const nncl_node *loss, int32_t ignore, const int32_t *labels,
                                    int64_t count);

#endif
