/* Convolution's algorithms behind one interface, so the op can pick one per
 * layer and direction: im2col + GEMM (any layer), 1x1 as a direct GEMM,
 * Winograd F(2x2, 3x3) and F(4x4, 3x3), direct kernels, and a
 * register-tiled direct forward along output rows. Each runs one direction on
 * explicit buffers, which lets the choice be measured on scratch memory. */
#ifndef NNCL_OPS_CONV_H
#define NNCL_OPS_CONV_H

#include "ops.h"

/* A convolution node's attributes. */
typedef struct conv_attrs {
    nncl_window win;
    int64_t groups;
    bool bias;
    int8_t algorithm[3]; /* per direction, chosen on first use; -1 before */
    /* Winograd's transformed weights, kept in the node's aux[1] across eval
     * forwards: F(kept_m x kept_m, 3x3)'s, valid while the graph's
     * param_version is kept_version. */
    uint64_t kept_version;
    int kept_m;
} conv_attrs;

static inline conv_attrs *nncl_conv_attrs(const nncl_node *node) {
    return node->attrs;
}

/* Scratch an algorithm may use is capped; larger batches go in chunks. */
#define NNCL_CONV_WORKSPACE_LIMIT ((size_t)256 << 20)

typedef enum conv_direction {
    CONV_FORWARD = 0,          /* y = conv(x, w) (bias added by the op) */
    CONV_BACKWARD_DATA = 1,    /* x (+)= conv_transpose(y, w): y holds dY, x receives dX */
    CONV_BACKWARD_WEIGHTS = 2, /* w += correlation of x and y: y holds dY, w receives dW */
} conv_direction;

typedef struct conv_buffers {
    cl_mem x, w, y;
    bool accumulate;   /* backward-data: add into x */
    bool keep_weights; /* the layer's eval forward: weights may stay transformed between calls */
} conv_buffers;

/* Sizes every algorithm needs. */
typedef struct conv_dims {
    size_t batch, c_in, c_out, groups, cg_in, cg_out, kvol, kg, spatial_in, spatial_out;
} conv_dims;
conv_dims nncl_conv_dims(const nncl_node *node);

typedef struct conv_algorithm {
    const char *name; /* as NNCL_CONV_ALGO spells it */
    bool (*applies)(const nncl_node *node, conv_direction dir);
    size_t (*workspace)(const nncl_node *node, conv_direction dir); /* bytes */
    nncl_status (*run)(nncl_graph *g, const nncl_node *node, conv_direction dir,
                       const conv_buffers *b);
} conv_algorithm;

/* For algorithms that serve every layer, and those that need no scratch. */
bool nncl_conv_any_layer(const nncl_node *node, conv_direction dir);
size_t nncl_conv_no_workspace(const nncl_node *node, conv_direction dir);

extern const conv_algorithm nncl_conv_im2col, nncl_conv_gemm1x1, nncl_conv_winograd,
    nncl_conv_winograd4, nncl_conv_winograd4_fused, nncl_conv_direct, nncl_conv_rows,
    nncl_conv_local;

/* A direct algorithm's pass as a forward convolution src [batch, c_in,
 * from] -> dst [batch, c_out, to] (conv_packed.c): the layer's forward
 * pass, or its stride-1 input gradient (turn: kernels turned, channels
 * swapped; accumulate: add into dX). */
typedef struct conv_pass {
    cl_mem src, dst;
    size_t batch, c_in, c_out;
    const int64_t *from, *to;
    cl_int4 pad;
    bool turn, accumulate;
} conv_pass;
conv_pass nncl_conv_pass(const nncl_node *node, conv_direction dir, const conv_buffers *b);
/* The pass's weights packed 8 output channels to a tap, into the
 * workspace (pack_row_weights), and the bytes they take. */
size_t nncl_conv_packed_bytes(const nncl_node *node, conv_direction dir);
nncl_status nncl_conv_pack_weights(nncl_graph *g, cl_mem w, const conv_pass *p, size_t taps);

/* [a, b, L] at src + src_off -> [b, a, L] at dst + dst_off. */
nncl_status nncl_swap_outer(nncl_graph *g, cl_mem src, size_t src_off, cl_mem dst, size_t dst_off,
                            size_t a, size_t b, size_t len);

/* out_channels and groups > 0, and both channel counts divisible by
 * groups; false after recording the graph error. */
bool nncl_conv_check_channels(nncl_graph *g, const char *op, const char *name, nncl_shape x,
                              int64_t c_out, int64_t groups);
/* Multiply-adds of one forward pass (the summary's figure). */
int64_t nncl_conv_macs(const nncl_node *node);
/* The buffers that live in the convolution's input and output spaces for
 * timing: the input's value and the node's gradient for a convolution,
 * the other way round for a transposed one. */
void nncl_conv_space(const nncl_node *node, cl_mem *x_side, cl_mem *y_side);
/* Table entries both convolution ops use: workspace sizing, and a fused
 * activation when the layer has a bias. */
nncl_status nncl_conv_plan(nncl_graph *g, nncl_node *node);
nncl_fusion nncl_conv_absorbs(const nncl_node *producer, const nncl_node *act);
bool nncl_conv_leaves_bias(const nncl_node *node);
/* Bias gradient: the sum of node's gradient [batch, channels, inner] per
 * channel into parameter 1's gradient, when that learns. */
nncl_status nncl_conv_bias_backward(nncl_graph *g, nncl_node *node, size_t batch, size_t channels,
                                    size_t inner);

/* The algorithm for node's direction: chosen on first call (forced by the
 * context, remembered in the cache directory, or timed) and kept. */
nncl_status nncl_conv_pick(nncl_graph *g, nncl_node *node, conv_direction dir,
                           const conv_algorithm **out);
/* Scratch for every algorithm that may be picked for node. */
size_t nncl_conv_workspace(const nncl_graph *g, const nncl_node *node);
/* The convolution algorithm NNCL_CONV_ALGO or the options name: -1 for
 * "auto" or none, else its index; an unknown name fails (conv_choice.c). */
nncl_status nncl_conv_algorithm_parse(const char *name, int *out);

#endif
