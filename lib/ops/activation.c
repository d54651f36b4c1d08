/* The elementwise activations (ReLU, leaky ReLU, sigmoid, tanh, ELU, GELU
 * exact and tanh, SiLU, softplus, ReLU6, hard-sigmoid, hard-swish, SELU,
 * clamp) and unary math (abs, neg, exp, log, sqrt, reciprocal, erf): one
 * kernel pair, told apart by the node's op kind, which the kernels see as
 * NNCL_OP_<KIND>. */
#include "ops.h"

#include <math.h>
#include <stdio.h>

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
    if (node->op == NNCL_OP_RELU)
        return nncl_launch(
            g->ctx, "relu_forward", (size_t)total,
            NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out), NNCL_ARG(total)));
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
    if (node->op == NNCL_OP_RELU)
        return nncl_launch(g->ctx, "relu_backward", (size_t)total,
                           NNCL_ARGS(NNCL_ARG(node->out), NNCL_ARG(node->grad), NNCL_ARG(x->grad),
                                     NNCL_ARG(total), NNCL_ARG(acc)));
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

/* A float scalar constant named "<node>/<suffix>". */
static const char *scalar(nncl_onnx_writer *w, const nncl_node *node, const char *suffix, float v) {
    return nncl_ox_const_floats(w, node, suffix, &v, (nncl_shape){0});
}

/* a op b -> out, b a scalar constant. */
static const char *with_scalar(nncl_onnx_writer *w, const nncl_node *node, const char *op,
                               const char *a, float b, const char *out) {
    char suffix[32];
    snprintf(suffix, sizeof suffix, "%s_const%zu", op, w->n_tensors);
    nncl_ox_add(w, op, (const char *[]){a, scalar(w, node, suffix, b)}, 2, out);
    return out;
}

/* GELU and its tanh form, SiLU and softplus with beta written out in ONNX
 * operators; the rest map one to one. */
static void composite_to_onnx(nncl_onnx_writer *w, const nncl_node *node, const char *x,
                              const char *y) {
    float alpha = alpha_of(node);
    const char *t1 = nncl_ox_temp(w, node, "t1"), *t2 = nncl_ox_temp(w, node, "t2"),
               *t3 = nncl_ox_temp(w, node, "t3"), *t4 = nncl_ox_temp(w, node, "t4");
    switch (node->op) {
    case NNCL_OP_GELU: /* 0.5 x (1 + erf(x / sqrt 2)) */
        with_scalar(w, node, "Div", x, 1.4142135623730951f, t1);
        nncl_ox_add(w, "Erf", &t1, 1, t2);
        with_scalar(w, node, "Add", t2, 1.0f, t3);
        nncl_ox_add(w, "Mul", (const char *[]){x, t3}, 2, t4);
        with_scalar(w, node, "Mul", t4, 0.5f, y);
        break;
    case NNCL_OP_GELU_TANH: { /* 0.5 x (1 + tanh(k (x + c x^3))) */
        const char *t5 = nncl_ox_temp(w, node, "t5"), *t6 = nncl_ox_temp(w, node, "t6"),
                   *t7 = nncl_ox_temp(w, node, "t7"), *t8 = nncl_ox_temp(w, node, "t8");
        nncl_ox_add(w, "Mul", (const char *[]){x, x}, 2, t1);
        nncl_ox_add(w, "Mul", (const char *[]){t1, x}, 2, t2);
        with_scalar(w, node, "Mul", t2, 0.044715f, t3);
        nncl_ox_add(w, "Add", (const char *[]){x, t3}, 2, t4);
        with_scalar(w, node, "Mul", t4, 0.7978845608028654f, t5);
        nncl_ox_add(w, "Tanh", &t5, 1, t6);
        with_scalar(w, node, "Add", t6, 1.0f, t7);
        nncl_ox_add(w, "Mul", (const char *[]){x, t7}, 2, t8);
        with_scalar(w, node, "Mul", t8, 0.5f, y);
        break;
    }
    case NNCL_OP_SILU:
        nncl_ox_add(w, "Sigmoid", &x, 1, t1);
        nncl_ox_add(w, "Mul", (const char *[]){x, t1}, 2, y);
        break;
    default: /* softplus with beta: softplus(beta x) / beta */
        with_scalar(w, node, "Mul", x, alpha, t1);
        nncl_ox_add(w, "Softplus", &t1, 1, t2);
        with_scalar(w, node, "Div", t2, alpha, y);
        break;
    }
}

static nncl_status activation_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    static const struct {
        nncl_op_kind op;
        const char *onnx;
    } direct[] = {{NNCL_OP_RELU, "Relu"}, {NNCL_OP_SIGMOID, "Sigmoid"},
                  {NNCL_OP_TANH, "Tanh"}, {NNCL_OP_HARDSWISH, "HardSwish"},
                  {NNCL_OP_ABS, "Abs"},   {NNCL_OP_NEG, "Neg"},
                  {NNCL_OP_EXP, "Exp"},   {NNCL_OP_LOG, "Log"},
                  {NNCL_OP_SQRT, "Sqrt"}, {NNCL_OP_RECIPROCAL, "Reciprocal"},
                  {NNCL_OP_ERF, "Erf"}};
    const char *x = nncl_ox_value(node->inputs[0]), *y = nncl_ox_value(node);
    float alpha = alpha_of(node), beta = beta_of(node);
    for (size_t i = 0; i < sizeof direct / sizeof direct[0]; i++)
        if (direct[i].op == node->op) {
            nncl_ox_unary(w, direct[i].onnx, node);
            return nncl_ox_status(w);
        }
    int n;
    switch (node->op) {
    case NNCL_OP_LEAKY_RELU:
        nncl_ox_float(w, nncl_ox_unary(w, "LeakyRelu", node), "alpha", alpha);
        break;
    case NNCL_OP_ELU:
        nncl_ox_float(w, nncl_ox_unary(w, "Elu", node), "alpha", alpha);
        break;
    case NNCL_OP_SELU:
        n = nncl_ox_unary(w, "Selu", node);
        nncl_ox_float(w, n, "alpha", alpha);
        nncl_ox_float(w, n, "gamma", beta);
        break;
    case NNCL_OP_HARDSIGMOID:
        n = nncl_ox_unary(w, "HardSigmoid", node);
        nncl_ox_float(w, n, "alpha", 1.0f / 6.0f);
        nncl_ox_float(w, n, "beta", 0.5f);
        break;
    case NNCL_OP_RELU6:
    case NNCL_OP_CLAMP: { /* Clip; an infinite bound is left out */
        float lo = node->op == NNCL_OP_RELU6 ? 0.0f : alpha,
              hi = node->op == NNCL_OP_RELU6 ? 6.0f : beta;
        const char *in[3] = {x, isinf(lo) ? NULL : scalar(w, node, "min", lo),
                             isinf(hi) ? NULL : scalar(w, node, "max", hi)};
        nncl_ox_add(w, "Clip", in, isinf(hi) ? (isinf(lo) ? 1 : 2) : 3, y);
        break;
    }
    case NNCL_OP_SOFTPLUS:
        if (alpha == 1.0f) {
            nncl_ox_unary(w, "Softplus", node);
            break;
        }
        composite_to_onnx(w, node, x, y);
        break;
    default:
        composite_to_onnx(w, node, x, y);
        break;
    }
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_activation = {.attrs_size = sizeof(act_attrs),
                                           .flags = NNCL_OPFLAG_ACTIVATION,
                                           .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                           .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                           .forward = activation_forward,
                                           .backward = activation_backward,
                                           .saves = activation_saves,
                                           .to_onnx = activation_to_onnx};
