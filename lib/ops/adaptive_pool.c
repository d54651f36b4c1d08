/* Adaptive average and max pooling, PyTorch's AdaptiveAvgPool1d/2d/3d and
 * AdaptiveMaxPool1d/2d/3d: the input divided into a given number of
 * windows per spatial dim, whatever its size (the classifier heads of
 * ResNet and VGG, the pyramid pooling of segmentation nets). */
#include "ops.h"

nncl_node *nncl_adaptive_pool(nncl_graph *g, nncl_node *x, bool max, const int64_t output_size[3],
                              const char *name) {
    const char *op = max ? "adaptive_max_pool" : "adaptive_avg_pool";
    if (!nncl_builder_ready(g, op, &x, 1)) return NULL;
    char s[128];
    if (x->is_labels || x->shape.rank < 3 || x->shape.rank > 5)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name,
                               "input '%s' %s must be NCW, NCHW or NCDHW features", x->name,
                               nncl_shape_str(x->shape, s, sizeof s));
    if (!output_size)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                               "output_size is required (0 in a dim keeps its size)");
    int spatial = x->shape.rank - 2;
    nncl_shape y = x->shape;
    for (int i = 0; i < 3; i++) {
        if (i >= spatial) {
            if (output_size[i])
                return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                                       "input %s has %d spatial dims but output_size sets dim %d",
                                       nncl_shape_str(x->shape, s, sizeof s), spatial, i);
            continue;
        }
        int64_t out = output_size[i] ? output_size[i] : x->shape.dims[2 + i];
        if (out <= 0 || out > INT32_MAX)
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                                   "output_size %lld in dim %d must be in 1..2^31-1",
                                   (long long)output_size[i], i);
        y.dims[2 + i] = out;
    }
    return nncl_node_add(g, max ? NNCL_OP_ADAPTIVE_MAX_POOL : NNCL_OP_ADAPTIVE_AVG_POOL, name, &x,
                         1, y);
}

static bool is_max(const nncl_node *node) {
    return node->op == NNCL_OP_ADAPTIVE_MAX_POOL;
}

/* aux[0]: max pooling's argmax per output (a flat index in its plane). */
static nncl_status adaptive_plan(nncl_graph *g, nncl_node *node) {
    size_t outputs = (size_t)nncl_shape_numel(node->shape);
    return nncl_node_aux(g, node, 0, (is_max(node) ? outputs : 1) * sizeof(cl_int));
}

static nncl_status adaptive_forward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape), max = is_max(node);
    cl_int4 in = nncl_spatial_dims(node->inputs[0]->shape), out = nncl_spatial_dims(node->shape);
    return nncl_launch(g->ctx, "adaptive_pool_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(node->aux[0]), NNCL_ARG(total), NNCL_ARG(in),
                                 NNCL_ARG(out), NNCL_ARG(max)));
}

static nncl_status adaptive_backward(nncl_graph *g, nncl_node *node) {
    nncl_node *x = node->inputs[0];
    cl_int total = (cl_int)nncl_shape_numel(x->shape), max = is_max(node);
    cl_int acc = node->accumulate[0];
    cl_int4 in = nncl_spatial_dims(x->shape), out = nncl_spatial_dims(node->shape);
    return nncl_launch(g->ctx, "adaptive_pool_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]), NNCL_ARG(x->grad),
                                 NNCL_ARG(total), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(max),
                                 NNCL_ARG(acc)));
}

/* Where each output cell covers an equal block (the input divides by the
 * output), a pool with kernel = stride = the block; a global pool for 1. */
static nncl_status adaptive_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const nncl_shape x = node->inputs[0]->shape;
    int spatial = x.rank - 2;
    int64_t block[3], zeros[6] = {0};
    bool global = true;
    for (int i = 0; i < spatial; i++) {
        if (x.dims[2 + i] % node->shape.dims[2 + i])
            return nncl_ox_refuse(w, node, "the input does not divide into the output's cells");
        block[i] = x.dims[2 + i] / node->shape.dims[2 + i];
        global &= node->shape.dims[2 + i] == 1;
    }
    if (global) {
        nncl_ox_unary(w, is_max(node) ? "GlobalMaxPool" : "GlobalAveragePool", node);
        return nncl_ox_status(w);
    }
    int n = nncl_ox_unary(w, is_max(node) ? "MaxPool" : "AveragePool", node);
    nncl_ox_ints(w, n, "kernel_shape", block, spatial);
    nncl_ox_ints(w, n, "strides", block, spatial);
    nncl_ox_ints(w, n, "pads", zeros, 2 * spatial);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_adaptive_pool = {.profile_forward = NNCL_PROFILE_POOLING,
                                              .profile_backward = NNCL_PROFILE_POOLING,
                                              .plan = adaptive_plan,
                                              .forward = adaptive_forward,
                                              .backward = adaptive_backward,
                                              .to_onnx = adaptive_to_onnx};
