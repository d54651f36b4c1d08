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

const nncl_op_vtable nncl_op_pointwise_loss = {.attrs_size = sizeof(pointwise_attrs),
                                               .profile_forward = NNCL_PROFILE_LOSS,
                                               .profile_backward = NNCL_PROFILE_LOSS,
                                               .plan = pointwise_plan,
                                               .forward = pointwise_forward,
                                               .backward = pointwise_backward,
                                               .saves = pointwise_saves};
