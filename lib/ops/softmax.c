/* Softmax and log-softmax over dim 1 (classes or channels) of [N, C, ...]. */
#include "ops.h"

static nncl_node *softmax(nncl_graph *g, nncl_op_kind op, nncl_node *x, const char *name) {
    if (!nncl_builder_ready(g, nncl_op_name(op), &x, 1)) return NULL;
    char s[128];
    if (x->shape.rank < 2 || x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, nncl_op_name(op), name,
                               "input %s must be [N, C, ...] features",
                               nncl_shape_str(x->shape, s, sizeof s));
    return nncl_node_add(g, op, name, &x, 1, x->shape);
}

nncl_node *nncl_softmax(nncl_graph *g, nncl_node *x, const char *name) {
    return softmax(g, NNCL_OP_SOFTMAX, x, name);
}

nncl_node *nncl_log_softmax(nncl_graph *g, nncl_node *x, const char *name) {
    return softmax(g, NNCL_OP_LOG_SOFTMAX, x, name);
}

typedef struct softmax_dims {
    cl_int channels, inner, rows;
} softmax_dims;

static softmax_dims dims_of(const nncl_node *node) {
    softmax_dims d;
    d.channels = (cl_int)node->shape.dims[1];
    d.inner = (cl_int)nncl_shape_inner(node->shape, 2);
    d.rows = (cl_int)(node->shape.dims[0] * d.inner);
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

const nncl_op_vtable nncl_op_softmax = {.profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                        .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                        .forward = softmax_forward,
                                        .backward = softmax_backward,
                                        .saves = softmax_saves};
