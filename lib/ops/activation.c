/* ReLU, leaky ReLU, sigmoid, tanh and ELU: one elementwise kernel pair,
 * told apart by the node's op kind, which the kernels see as NNCL_OP_<KIND>. */
#include "ops.h"

#include <math.h>

typedef struct act_attrs {
    float alpha; /* leaky ReLU's slope, ELU's alpha */
} act_attrs;

static float alpha_of(const nncl_node *node) {
    return ((const act_attrs *)node->attrs)->alpha;
}

static nncl_node *activation(nncl_graph *g, nncl_op_kind op, nncl_node *x, float alpha,
                             const char *name) {
    if (!nncl_builder_ready(g, nncl_op_name(op), &x, 1)) return NULL;
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, nncl_op_name(op), name,
                               "input '%s' holds labels, not features", x->name);
    if (!isfinite(alpha))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, nncl_op_name(op), name,
                               "slope / alpha %g must be finite", (double)alpha);
    nncl_node *node = nncl_node_add(g, op, name, &x, 1, x->shape);
    if (node) ((act_attrs *)node->attrs)->alpha = alpha;
    return node;
}

nncl_node *nncl_relu(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_RELU, x, 0.0f, name);
}

nncl_node *nncl_leaky_relu(nncl_graph *g, nncl_node *x, float slope, const char *name) {
    return activation(g, NNCL_OP_LEAKY_RELU, x, slope != 0.0f ? slope : 0.01f, name);
}

nncl_node *nncl_sigmoid(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_SIGMOID, x, 0.0f, name);
}

nncl_node *nncl_tanh(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_TANH, x, 0.0f, name);
}

nncl_node *nncl_elu(nncl_graph *g, nncl_node *x, float alpha, const char *name) {
    return activation(g, NNCL_OP_ELU, x, alpha != 0.0f ? alpha : 1.0f, name);
}

/* For ReLU, and leaky ReLU and ELU with alpha >= 0, the output is positive
 * exactly where the input is, so backward can test the output instead and
 * the input's memory can be reused (PyTorch's inplace=True saves the same). */
static bool reads_input(const nncl_node *node) {
    return (node->op == NNCL_OP_LEAKY_RELU || node->op == NNCL_OP_ELU) && alpha_of(node) < 0;
}

nncl_status nncl_bias_epilogue(nncl_graph *g, nncl_node *producer, cl_mem bias, size_t channels,
                               size_t inner, size_t rows) {
    cl_int c = (cl_int)channels, len = (cl_int)inner, n = (cl_int)rows;
    const nncl_node *act = producer->fused_act;
    if (!act)
        return nncl_launch(g->ctx, "add_bias", rows,
                           NNCL_ARGS(NNCL_ARG(producer->out), NNCL_ARG(bias), NNCL_ARG(c),
                                     NNCL_ARG(len), NNCL_ARG(n)));
    cl_int kind = act->op; /* the kernels switch on NNCL_OP_<KIND> */
    cl_float alpha = alpha_of(act);
    return nncl_launch(g->ctx, "bias_activation", rows,
                       NNCL_ARGS(NNCL_ARG(producer->out), NNCL_ARG(bias), NNCL_ARG(act->out),
                                 NNCL_ARG(c), NNCL_ARG(len), NNCL_ARG(n), NNCL_ARG(kind),
                                 NNCL_ARG(alpha)));
}

static nncl_status activation_forward(nncl_graph *g, nncl_node *node) {
    if (node->fused_into) return NNCL_OK; /* computed by its producer */
    cl_int total = (cl_int)nncl_shape_numel(node->shape), kind = node->op;
    cl_float alpha = alpha_of(node);
    return nncl_launch(g->ctx, "activation_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(total), NNCL_ARG(kind), NNCL_ARG(alpha)));
}

static nncl_status activation_backward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape), kind = node->op;
    cl_int acc = node->accumulate[0];
    cl_float alpha = alpha_of(node);
    nncl_node *x = node->inputs[0];
    cl_mem sign_source = reads_input(node) ? x->out : node->out;
    return nncl_launch(g->ctx, "activation_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(sign_source), NNCL_ARG(node->out), NNCL_ARG(node->grad),
                                 NNCL_ARG(x->grad), NNCL_ARG(total), NNCL_ARG(kind),
                                 NNCL_ARG(alpha), NNCL_ARG(acc)));
}

/* Backward reads the output, and the input only where the output
 * does not tell the sign of the input. */
static uint32_t activation_saves(const nncl_node *node) {
    return NNCL_SAVES_OUTPUT | (reads_input(node) ? NNCL_SAVES_INPUT(0) : 0);
}

nncl_fusion nncl_bias_absorbs(bool has_bias) {
    return has_bias ? NNCL_FUSION_AFTER_VALUE : NNCL_FUSION_NONE;
}

const nncl_op_vtable nncl_op_activation = {.attrs_size = sizeof(act_attrs),
                                           .flags = NNCL_OPFLAG_ACTIVATION,
                                           .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                           .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                           .forward = activation_forward,
                                           .backward = activation_backward,
                                           .saves = activation_saves};
