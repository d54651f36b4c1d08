/* Elementwise losses between a prediction and a target of one shape:
 * binary cross-entropy on logits, MSE, L1, smooth L1, Huber and KL
 * divergence, with PyTorch's definitions and reductions. The elementwise
 * values are summed on the device in a fixed order. */
#include "ops.h"

#include <math.h>

typedef struct pointwise_attrs {
    nncl_reduction reduction;
    float beta; /* smooth L1's beta, Huber's delta */
} pointwise_attrs;

static const pointwise_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

static nncl_node *pointwise_loss(nncl_graph *g, nncl_op_kind op, nncl_node *x, nncl_node *t,
                                 const nncl_loss_params *params, const char *name) {
    const char *op_name = nncl_op_name(op);
    nncl_node *in[2] = {x, t};
    if (!nncl_builder_ready(g, op_name, in, 2)) return NULL;
    char sx[128], st[128];
    nncl_loss_params p = params ? *params : (nncl_loss_params){0};
    bool same = x->shape.rank == t->shape.rank && !x->is_labels && !t->is_labels;
    for (int i = 0; same && i < x->shape.rank; i++)
        same = x->shape.dims[i] == t->shape.dims[i];
    if (!same)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, op_name, name,
                               "input '%s' %s and target '%s' %s must be features of one shape",
                               x->name, nncl_shape_str(x->shape, sx, sizeof sx), t->name,
                               nncl_shape_str(t->shape, st, sizeof st));
    if (p.reduction > NNCL_REDUCTION_BATCHMEAN ||
        (p.reduction == NNCL_REDUCTION_BATCHMEAN && op != NNCL_OP_KL_DIV) ||
        !(p.beta >= 0 && isfinite(p.beta)) || p.class_weights || p.label_smoothing != 0)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                               "takes reduction mean, sum or none (batchmean: kl_div only), beta "
                               ">= 0, and no class weights or label smoothing");
    nncl_shape y = p.reduction == NNCL_REDUCTION_NONE ? x->shape : NNCL_SHAPE(1);
    nncl_node *node = nncl_node_add(g, op, name, in, 2, y);
    if (!node) return NULL;
    pointwise_attrs *a = node->attrs;
    a->reduction = p.reduction;
    a->beta = p.beta > 0 ? p.beta : 1.0f;
    return node;
}

#define POINTWISE_BUILDER(fn, op)                                                                  \
    nncl_node *fn(nncl_graph *g, nncl_node *x, nncl_node *t, const nncl_loss_params *params,       \
                  const char *name) {                                                              \
        return pointwise_loss(g, op, x, t, params, name);                                          \
    }
POINTWISE_BUILDER(nncl_bce_with_logits, NNCL_OP_BCE_WITH_LOGITS)
POINTWISE_BUILDER(nncl_mse_loss, NNCL_OP_MSE_LOSS)
POINTWISE_BUILDER(nncl_l1_loss, NNCL_OP_L1_LOSS)
POINTWISE_BUILDER(nncl_smooth_l1_loss, NNCL_OP_SMOOTH_L1_LOSS)
POINTWISE_BUILDER(nncl_huber_loss, NNCL_OP_HUBER_LOSS)
POINTWISE_BUILDER(nncl_kl_div, NNCL_OP_KL_DIV)

/* What the summed loss is divided by. */
static float divisor_of(const nncl_node *node) {
    nncl_shape s = node->inputs[0]->shape;
    switch (attrs_of(node)->reduction) {
    case NNCL_REDUCTION_MEAN:
        return (float)nncl_shape_numel(s);
    case NNCL_REDUCTION_BATCHMEAN:
        return (float)s.dims[0];
    default:
        return 1.0f;
    }
}

static nncl_status pointwise_plan(nncl_graph *g, nncl_node *node) {
    if (attrs_of(node)->reduction == NNCL_REDUCTION_NONE) return NNCL_OK;
    return nncl_node_aux(g, node, 0, /* elementwise losses */
                         (size_t)nncl_shape_numel(node->inputs[0]->shape) * sizeof(float));
}

static nncl_status pointwise_forward(nncl_graph *g, nncl_node *node) {
    bool per_element = attrs_of(node)->reduction == NNCL_REDUCTION_NONE;
    cl_mem values = per_element ? node->out : node->aux[0];
    cl_int n = (cl_int)nncl_shape_numel(node->inputs[0]->shape), kind = node->op;
    cl_float beta = attrs_of(node)->beta;
    nncl_status st =
        nncl_launch(g->ctx, "pointwise_loss_forward", (size_t)n,
                    NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->inputs[1]->out),
                              NNCL_ARG(values), NNCL_ARG(n), NNCL_ARG(kind), NNCL_ARG(beta)));
    if (st != NNCL_OK || per_element) return st;
    return nncl_sum(g->ctx, values, (size_t)n, false, 1.0f / divisor_of(node), node->out, 0);
}

static nncl_status pointwise_backward(nncl_graph *g, nncl_node *node) {
    nncl_node *x = node->inputs[0];
    if (!x->requires_grad) return NNCL_OK;
    cl_int n = (cl_int)nncl_shape_numel(x->shape), kind = node->op;
    cl_int per_element = attrs_of(node)->reduction == NNCL_REDUCTION_NONE;
    cl_int acc = node->accumulate[0];
    cl_float beta = attrs_of(node)->beta, scale = 1.0f / divisor_of(node);
    return nncl_launch(g->ctx, "pointwise_loss_backward", (size_t)n,
                       NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->inputs[1]->out),
                                 NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(n),
                                 NNCL_ARG(kind), NNCL_ARG(beta), NNCL_ARG(per_element),
                                 NNCL_ARG(scale), NNCL_ARG(acc)));
}

/* Backward reads prediction and target. */
static uint32_t pointwise_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0) | NNCL_SAVES_INPUT(1);
}

/* op(a, b) -> "<node>/<suffix>", or -> out when given; b may be NULL for
 * one-input operators. */
static const char *op2(nncl_onnx_writer *w, const nncl_node *node, const char *op, const char *a,
                       const char *b, const char *suffix, const char *out) {
    const char *y = out ? out : nncl_ox_temp(w, node, suffix);
    nncl_ox_add(w, op, (const char *[]){a, b}, b ? 2 : 1, y);
    return y;
}

static const char *scalar(nncl_onnx_writer *w, const nncl_node *node, const char *suffix, float v) {
    return nncl_ox_const_floats(w, node, suffix, &v, (nncl_shape){0});
}

/* The elementwise values written out in ONNX operators (PyTorch's
 * definitions), then the reduction: mean or sum over everything as [1],
 * batchmean the sum over the batch. */
static nncl_status pointwise_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const pointwise_attrs *a = attrs_of(node);
    const char *x = nncl_ox_value(node->inputs[0]), *t = nncl_ox_value(node->inputs[1]);
    bool reduced = a->reduction != NNCL_REDUCTION_NONE;
    const char *each = reduced ? NULL : nncl_ox_value(node), *e;
    if (node->op == NNCL_OP_BCE_WITH_LOGITS) { /* max(x, 0) - x t + log(1 + exp(-|x|)) */
        const char *pos = op2(w, node, "Relu", x, NULL, "relu", NULL),
                   *xt = op2(w, node, "Mul", x, t, "xt", NULL),
                   *na = op2(w, node, "Neg", op2(w, node, "Abs", x, NULL, "abs", NULL), NULL,
                             "neg_abs", NULL);
        e = op2(w, node, "Add", op2(w, node, "Sub", pos, xt, "diff", NULL),
                op2(w, node, "Softplus", na, NULL, "softplus", NULL), "each", each);
    } else if (node->op == NNCL_OP_KL_DIV) { /* t (log t - x), 0 where t = 0 */
        const char *safe = op2(w, node, "Max", t, scalar(w, node, "tiny", 1e-37f), "safe_t", NULL);
        e = op2(w, node, "Mul", t,
                op2(w, node, "Sub", op2(w, node, "Log", safe, NULL, "log_t", NULL), x, "gap", NULL),
                "each", each);
    } else {
        const char *d = op2(w, node, "Sub", x, t, "diff", NULL);
        float beta = a->beta;
        if (node->op == NNCL_OP_MSE_LOSS) {
            e = op2(w, node, "Mul", d, d, "each", each);
        } else if (node->op == NNCL_OP_L1_LOSS || (node->op == NNCL_OP_SMOOTH_L1_LOSS && !beta)) {
            e = op2(w, node, "Abs", d, NULL, "each", each);
        } else { /* q = min(|d|, beta): q (|d| - q / 2), over beta for smooth L1 */
            const char *ad = op2(w, node, "Abs", d, NULL, "abs", NULL),
                       *q = op2(w, node, "Min", ad, scalar(w, node, "beta", beta), "q", NULL),
                       *half =
                           op2(w, node, "Mul", q, scalar(w, node, "half", 0.5f), "half_q", NULL),
                       *huber = op2(w, node, "Mul", q, op2(w, node, "Sub", ad, half, "rest", NULL),
                                    "huber", node->op == NNCL_OP_HUBER_LOSS ? each : NULL);
            e = node->op == NNCL_OP_HUBER_LOSS
                    ? huber
                    : op2(w, node, "Div", huber, scalar(w, node, "over", beta), "each", each);
        }
    }
    if (!reduced) return nncl_ox_status(w);
    bool mean = a->reduction == NNCL_REDUCTION_MEAN;
    const char *total = nncl_ox_temp(w, node, "total");
    nncl_ox_int(w, nncl_ox_add(w, mean ? "ReduceMean" : "ReduceSum", &e, 1, total), "keepdims", 0);
    if (a->reduction == NNCL_REDUCTION_BATCHMEAN)
        total =
            op2(w, node, "Div", total,
                scalar(w, node, "batch", (float)node->inputs[0]->shape.dims[0]), "batchmean", NULL);
    int64_t one = 1;
    op2(w, node, "Reshape", total, nncl_ox_const_ints(w, node, "shape", &one, 1), "",
        nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_pointwise_loss = {.attrs_size = sizeof(pointwise_attrs),
                                               .profile_forward = NNCL_PROFILE_LOSS,
                                               .profile_backward = NNCL_PROFILE_LOSS,
                                               .plan = pointwise_plan,
                                               .forward = pointwise_forward,
                                               .backward = pointwise_backward,
                                               .saves = pointwise_saves,
                                               .to_onnx = pointwise_to_onnx};
