/* Dropout (Srivastava et al. 2014) with inverted scaling, PyTorch's
 * convention: kept elements are scaled by 1 / (1 - p) in training, and eval
 * is the identity. The mask is a hash of (seed, node, step, element). */
#include "copy.h"

#include <math.h>

typedef struct dropout_attrs {
    float p;
    uint64_t step; /* the forward step whose mask backward must reuse */
} dropout_attrs;

static dropout_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

nncl_node *nncl_dropout(nncl_graph *g, nncl_node *x, float p, const char *name) {
    if (!nncl_builder_ready(g, "dropout", &x, 1)) return NULL;
    if (!(p >= 0.0f && p < 1.0f) || x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "dropout", name,
                               "p = %g must be in [0, 1) and the input features", (double)p);
    nncl_node *node = nncl_node_add(g, NNCL_OP_DROPOUT, name, &x, 1, x->shape);
    if (node) attrs_of(node)->p = p;
    return node;
}

typedef struct dropout_key {
    cl_uint key0, key1, threshold;
    cl_float scale;
} dropout_key;

static dropout_key key_of(const nncl_graph *g, const nncl_node *node) {
    uint64_t state = g->seed ^ ((uint64_t)node->index << 40) ^ attrs_of(node)->step;
    uint64_t bits = nncl_splitmix64(&state);
    double p = attrs_of(node)->p;
    dropout_key k = {(cl_uint)bits, (cl_uint)(bits >> 32),
                     (cl_uint)fmin(p * 4294967296.0, 4294967295.0), (cl_float)(1.0 / (1.0 - p))};
    return k;
}

static nncl_status dropout_forward(nncl_graph *g, nncl_node *node) {
    size_t n = (size_t)nncl_shape_numel(node->shape);
    attrs_of(node)->step = g->step;
    if (!node->ran_training || attrs_of(node)->p == 0.0f)
        return nncl_copy_rows(g, node->inputs[0]->out, 0, 0, node->out, 0, 0, 1, n, false);
    dropout_key k = key_of(g, node);
    cl_int total = (cl_int)n;
    return nncl_launch(g->ctx, "dropout_forward", n,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(total), NNCL_ARG(k.key0), NNCL_ARG(k.key1),
                                 NNCL_ARG(k.threshold), NNCL_ARG(k.scale)));
}

static nncl_status dropout_backward(nncl_graph *g, nncl_node *node) {
    size_t n = (size_t)nncl_shape_numel(node->shape);
    nncl_node *x = node->inputs[0];
    if (!node->ran_training || attrs_of(node)->p == 0.0f)
        return nncl_copy_rows(g, node->grad, 0, 0, x->grad, 0, 0, 1, n, node->accumulate[0]);
    dropout_key k = key_of(g, node);
    cl_int total = (cl_int)n, acc = node->accumulate[0];
    return nncl_launch(g->ctx, "dropout_backward", n,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(total),
                                 NNCL_ARG(k.key0), NNCL_ARG(k.key1), NNCL_ARG(k.threshold),
                                 NNCL_ARG(k.scale), NNCL_ARG(acc)));
}

/* An inference export: dropout is the identity. */
static nncl_status dropout_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    nncl_ox_unary(w, "Identity", node);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_dropout = {.attrs_size = sizeof(dropout_attrs),
                                        .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                        .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                        .forward = dropout_forward,
                                        .backward = dropout_backward,
                                        .to_onnx = dropout_to_onnx};
