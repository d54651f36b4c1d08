/* ReLU, leaky ReLU, sigmoid, tanh and ELU: one elementwise kernel pair,
 * told apart by the node's op. */
#include "../nncl_internal.h"

static nncl_node *activation(nncl_graph *g, nncl_op_kind op, nncl_node *x, float alpha) {
    if (!nncl_builder_ready(g, nncl_op_name(op), &x, 1)) return NULL;
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, nncl_op_name(op), NULL,
                               "input '%s' holds labels, not features", x->name);
    nncl_node *node = nncl_node_add(g, op, NULL, &x, 1, x->shape);
    if (node) node->attrs.act.alpha = alpha;
    return node;
}

nncl_node *nncl_relu(nncl_graph *g, nncl_node *x) {
    return activation(g, NNCL_OP_RELU, x, 0.0f);
}

nncl_node *nncl_leaky_relu(nncl_graph *g, nncl_node *x, float slope) {
    return activation(g, NNCL_OP_LEAKY_RELU, x, slope != 0.0f ? slope : 0.01f);
}

nncl_node *nncl_sigmoid(nncl_graph *g, nncl_node *x) {
    return activation(g, NNCL_OP_SIGMOID, x, 0.0f);
}

nncl_node *nncl_tanh(nncl_graph *g, nncl_node *x) {
    return activation(g, NNCL_OP_TANH, x, 0.0f);
}

nncl_node *nncl_elu(nncl_graph *g, nncl_node *x, float alpha) {
    return activation(g, NNCL_OP_ELU, x, alpha != 0.0f ? alpha : 1.0f);
}

static cl_int kind_of(nncl_op_kind op) {
    switch (op) {
    case NNCL_OP_RELU:
        return NNCL_ACT_RELU;
    case NNCL_OP_LEAKY_RELU:
        return NNCL_ACT_LEAKY_RELU;
    case NNCL_OP_SIGMOID:
        return NNCL_ACT_SIGMOID;
    case NNCL_OP_TANH:
        return NNCL_ACT_TANH;
    default:
        return NNCL_ACT_ELU;
    }
}

static nncl_status activation_forward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape), kind = kind_of(node->op);
    cl_float alpha = node->attrs.act.alpha;
    return nncl_launch(g->ctx, "activation.cl", "activation_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(total), NNCL_ARG(kind), NNCL_ARG(alpha)));
}

static nncl_status activation_backward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape), kind = kind_of(node->op);
    cl_int acc = node->accumulate[0];
    cl_float alpha = node->attrs.act.alpha;
    nncl_node *x = node->inputs[0];
    return nncl_launch(g->ctx, "activation.cl", "activation_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->out), NNCL_ARG(node->grad),
                                 NNCL_ARG(x->grad), NNCL_ARG(total), NNCL_ARG(kind),
                                 NNCL_ARG(alpha), NNCL_ARG(acc)));
}

const nncl_op_vtable nncl_op_activation = {NULL, activation_forward, activation_backward};
