/* Softmax and log-softmax over one dim (dim 1, the classes or channels,
 * unless told otherwise). */
#include "ops.h"

typedef struct softmax_attrs {
    int32_t dim;
} softmax_attrs;

static nncl_node *softmax(nncl_graph *g, nncl_op_kind op, nncl_node *x, int32_t dim,
                          const char *name) {
    if (!nncl_builder_ready(g, nncl_op_name(op), &x, 1)) return NULL;
    char s[128];
    int32_t d = dim < 0 ? dim + x->shape.rank : dim;
    if (x->is_labels || d < 0 || d >= x->shape.rank)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, nncl_op_name(op), name,
                               "input %s must be features with a dim %d",
                               nncl_shape_str(x->shape, s, sizeof s), (int)dim);
    nncl_node *node = nncl_node_add(g, op, name, &x, 1, x->shape);
    if (node) ((softmax_attrs *)node->attrs)->dim = d;
    return node;
}

nncl_node *nncl_softmax(nncl_graph *g, nncl_node *x, const char *name) {
    return softmax(g, NNCL_OP_SOFTMAX, x, 1, name);
}

nncl_node *nncl_log_softmax(nncl_graph *g, nncl_node *x, const char *name) {
    return softmax(g, NNCL_OP_LOG_SOFTMAX, x, 1, name);
}

nncl_node *nncl_softmax_dim(nncl_graph *g, nncl_node *x, int32_t dim, bool log, const char *name) {
    return softmax(g, log ? NNCL_OP_LOG_SOFTMAX : NNCL_OP_SOFTMAX, x, dim, name);
}

typedef struct softmax_dims {
    cl_int channels, inner, rows;
} softmax_dims;

static softmax_dims dims_of(const nncl_node *node) {
    int32_t dim = ((const softmax_attrs *)node->attrs)->dim;
    softmax_dims d;
    d.channels = (cl_int)node->shape.dims[dim];
    d.inner = (cl_int)nncl_shape_inner(node->shape, dim + 1);
    d.rows = (cl_int)(nncl_shape_numel(node->shape) / d.channels);
    return d;
}

static nncl_status softmax_forward(nncl_graph *g, nncl_node *node) {
    softmax_dims d = dims_of(node);
    cl_int log_out = node->op == NNCL_OP_LOG_SOFTMAX;
    return nncl_launch(g->ctx, "softmax_forward", (size_t)d.rows,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(d.channels), NNCL_ARG(d.inner), NNCL_ARG(d.rows),
                                 NNCL_ARG(log_out)));
}

static nncl_status softmax_backward(nncl_graph *g, nncl_node *node) {
    softmax_dims d = dims_of(node);
    cl_int acc = node->accumulate[0], log_out = node->op == NNCL_OP_LOG_SOFTMAX;
    return nncl_launch(g->ctx, "softmax_backward", (size_t)d.rows,
                       NNCL_ARGS(NNCL_ARG(node->out), NNCL_ARG(node->grad),
                                 NNCL_ARG(node->inputs[0]->grad), NNCL_ARG(d.channels),
                                 NNCL_ARG(d.inner), NNCL_ARG(d.rows), NNCL_ARG(log_out),
                                 NNCL_ARG(acc)));
}

/* The Jacobian is a function of the output. */
static uint32_t softmax_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_OUTPUT;
}

static nncl_status softmax_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    int n = nncl_ox_unary(w, node->op == NNCL_OP_LOG_SOFTMAX ? "LogSoftmax" : "Softmax", node);
    nncl_ox_int(w, n, "axis", ((const softmax_attrs *)node->attrs)->dim);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_softmax = {.attrs_size = sizeof(softmax_attrs),
                                        .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                        .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                        .forward = softmax_forward,
                                        .backward = softmax_backward,
                                        .saves = softmax_saves,
                                        .to_onnx = softmax_to_onnx};
