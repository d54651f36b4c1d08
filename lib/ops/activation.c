/* The elementwise activations (ReLU, leaky ReLU, sigmoid, tanh, ELU, GELU
 * exact and tanh, SiLU, softplus, ReLU6, hard-sigmoid, hard-swish, SELU,
 * clamp) and unary math (abs, neg, exp, log, sqrt, reciprocal, erf): one
 * kernel pair, told apart by the node's op kind, which the kernels see as
 * NNCL_OP_<KIND>. */
#include "ops.h"

#include <math.h>

typedef struct act_attrs {
    float alpha; /* leaky ReLU's slope, ELU's and SELU's alpha, softplus's beta, clamp's min */
    float beta;  /* softplus's threshold, SELU's scale, clamp's max */
} act_attrs;

static float alpha_of(const nncl_node *node) {
    return ((const act_attrs *)node->attrs)->alpha;
}

static float beta_of(const nncl_node *node) {
    return ((const act_attrs *)node->attrs)->beta;
}

static nncl_node *activation2(nncl_graph *g, nncl_op_kind op, nncl_node *x, float alpha, float beta,
                              const char *name) {
    if (!nncl_builder_ready(g, nncl_op_name(op), &x, 1)) return NULL;
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, nncl_op_name(op), name,
                               "input '%s' holds labels, not features", x->name);
    /* clamp's bounds may be infinite (one-sided) */
    bool bounds_ok =
        op == NNCL_OP_CLAMP ? !isnan(alpha) && !isnan(beta) : isfinite(alpha) && isfinite(beta);
    if (!bounds_ok)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, nncl_op_name(op), name,
                               "constants %g and %g must be %s", (double)alpha, (double)beta,
                               op == NNCL_OP_CLAMP ? "numbers" : "finite");
    nncl_node *node = nncl_node_add(g, op, name, &x, 1, x->shape);
    if (node) {
        ((act_attrs *)node->attrs)->alpha = alpha;
        ((act_attrs *)node->attrs)->beta = beta;
    }
    return node;
}

static nncl_node *activation(nncl_graph *g, nncl_op_kind op, nncl_node *x, float alpha,
                             const char *name) {
    return activation2(g, op, x, alpha, 0.0f, name);
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

nncl_node *nncl_gelu(nncl_graph *g, nncl_node *x, bool tanh_approximation, const char *name) {
    return activation(g, tanh_approximation ? NNCL_OP_GELU_TANH : NNCL_OP_GELU, x, 0.0f, name);
}

nncl_node *nncl_silu(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_SILU, x, 0.0f, name);
}

nncl_node *nncl_softplus(nncl_graph *g, nncl_node *x, float beta, float threshold,
                         const char *name) {
    if (beta < 0.0f || threshold < 0.0f) {
        if (!nncl_builder_ready(g, "softplus", &x, 1)) return NULL;
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "softplus", name,
                               "beta %g and threshold %g must be >= 0 (0: 1 and 20)", (double)beta,
                               (double)threshold);
    }
    return activation2(g, NNCL_OP_SOFTPLUS, x, beta != 0.0f ? beta : 1.0f,
                       threshold != 0.0f ? threshold : 20.0f, name);
}

nncl_node *nncl_relu6(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_RELU6, x, 0.0f, name);
}

nncl_node *nncl_hardsigmoid(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_HARDSIGMOID, x, 0.0f, name);
}

nncl_node *nncl_hardswish(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_HARDSWISH, x, 0.0f, name);
}

nncl_node *nncl_selu(nncl_graph *g, nncl_node *x, float alpha, float scale, const char *name) {
    return activation2(g, NNCL_OP_SELU, x, alpha != 0.0f ? alpha : 1.6732632423543772f,
                       scale != 0.0f ? scale : 1.0507009873554805f, name);
}

nncl_node *nncl_clamp(nncl_graph *g, nncl_node *x, float min, float max, const char *name) {
    return activation2(g, NNCL_OP_CLAMP, x, min, max, name);
}

nncl_node *nncl_abs(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_ABS, x, 0.0f, name);
}

nncl_node *nncl_neg(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_NEG, x, 0.0f, name);
}

nncl_node *nncl_exp(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_EXP, x, 0.0f, name);
}

nncl_node *nncl_log(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_LOG, x, 0.0f, name);
}

nncl_node *nncl_sqrt(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_SQRT, x, 0.0f, name);
}

nncl_node *nncl_reciprocal(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_RECIPROCAL, x, 0.0f, name);
}

nncl_node *nncl_erf(nncl_graph *g, nncl_node *x, const char *name) {
    return activation(g, NNCL_OP_ERF, x, 0.0f, name);
}

/* For ReLU, and leaky ReLU and ELU with alpha >= 0, the output is positive
 * exactly where the input is, so backward can test the output instead and
 * the input's memory can be reused (PyTorch's inplace=True saves the same). */
static bool reads_input(const nncl_node *node) {
    switch (node->op) {
    case NNCL_OP_LEAKY_RELU:
    case NNCL_OP_ELU:
        return alpha_of(node) < 0;
    case NNCL_OP_GELU:
    case NNCL_OP_GELU_TANH:
    case NNCL_OP_SILU:
    case NNCL_OP_SOFTPLUS:
    case NNCL_OP_HARDSWISH:
    case NNCL_OP_SELU:
    case NNCL_OP_CLAMP: /* the output cannot tell x == min from x < min */
    case NNCL_OP_ABS:
    case NNCL_OP_LOG:
    case NNCL_OP_ERF:
        return true;
    default: /* ReLU6 and hard-sigmoid: the output is inside its flat ends exactly where the
                input is; sigmoid, tanh, neg, exp, sqrt, reciprocal: a function of the output */
        return false;
    }
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
    cl_float alpha = alpha_of(act), beta = beta_of(act);
    cl_int store_sum = reads_input(act);
    return nncl_launch(g->ctx, "bias_activation", rows,
                       NNCL_ARGS(NNCL_ARG(producer->out), NNCL_ARG(bias), NNCL_ARG(act->out),
                                 NNCL_ARG(c), NNCL_ARG(len), NNCL_ARG(n), NNCL_ARG(kind),
                                 NNCL_ARG(alpha), NNCL_ARG(beta), NNCL_ARG(store_sum)));
}

static nncl_status activation_forward(nncl_graph *g, nncl_node *node) {
    if (node->fused_into) return NNCL_OK; /* computed by its producer */
    cl_int total = (cl_int)nncl_shape_numel(node->shape), kind = node->op;
    cl_float alpha = alpha_of(node), beta = beta_of(node);
    return nncl_launch(g->ctx, "activation_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(total), NNCL_ARG(kind), NNCL_ARG(alpha), NNCL_ARG(beta)));
}

static nncl_status activation_backward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape), kind = node->op;
    cl_int acc = node->accumulate[0];
    cl_float alpha = alpha_of(node), beta = beta_of(node);
    nncl_node *x = node->inputs[0];
    cl_mem sign_source = reads_input(node) ? x->out : node->out;
    return nncl_launch(g->ctx, "activation_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(sign_source), NNCL_ARG(node->out), NNCL_ARG(node->grad),
                                 NNCL_ARG(x->grad), NNCL_ARG(total), NNCL_ARG(kind),
                                 NNCL_ARG(alpha), NNCL_ARG(beta), NNCL_ARG(acc)));
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
