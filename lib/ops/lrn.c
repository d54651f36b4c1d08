/* Local response normalisation across channels (Krizhevsky et al. 2012,
 * AlexNet), PyTorch's LocalResponseNorm(size, alpha, beta, k). */
#include "ops.h"

#include <math.h>

typedef struct lrn_attrs {
    int64_t size;
    float alpha, beta, k;
} lrn_attrs;

static const lrn_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

nncl_node *nncl_local_response_norm(nncl_graph *g, nncl_node *x, int64_t size, float alpha,
                                    float beta, float k, const char *name) {
    if (!nncl_builder_ready(g, "local_response_norm", &x, 1)) return NULL;
    char s[128];
    if (x->is_labels || x->shape.rank < 2)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "local_response_norm", name,
                               "input '%s' %s must be features [N, C, ...]", x->name,
                               nncl_shape_str(x->shape, s, sizeof s));
    if (size <= 0 || size > INT32_MAX || !isfinite(alpha) || !isfinite(beta) || !isfinite(k) ||
        !(k > 0.0f))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "local_response_norm", name,
                               "size %lld must be > 0, alpha %g and beta %g finite and k %g > 0",
                               (long long)size, (double)alpha, (double)beta, (double)k);
    nncl_node *node = nncl_node_add(g, NNCL_OP_LOCAL_RESPONSE_NORM, name, &x, 1, x->shape);
    if (node) *(lrn_attrs *)node->attrs = (lrn_attrs){size, alpha, beta, k};
    return node;
}

/* aux[0]: the scale s of every element. */
static nncl_status lrn_plan(nncl_graph *g, nncl_node *node) {
    return nncl_node_aux(g, node, 0, nncl_node_bytes(node));
}

typedef struct lrn_dims {
    cl_int total, channels, inner, size;
} lrn_dims;

static lrn_dims dims_of(const nncl_node *node) {
    lrn_dims d = {(cl_int)nncl_shape_numel(node->shape), (cl_int)node->shape.dims[1],
                  (cl_int)nncl_shape_inner(node->shape, 2), (cl_int)attrs_of(node)->size};
    return d;
}

static nncl_status lrn_forward(nncl_graph *g, nncl_node *node) {
    lrn_dims d = dims_of(node);
    lrn_attrs a = *attrs_of(node);
    return nncl_launch(g->ctx, "lrn_forward", (size_t)d.total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(node->aux[0]), NNCL_ARG(d.total), NNCL_ARG(d.channels),
                                 NNCL_ARG(d.inner), NNCL_ARG(d.size), NNCL_ARG(a.alpha),
                                 NNCL_ARG(a.beta), NNCL_ARG(a.k)));
}

static nncl_status lrn_backward(nncl_graph *g, nncl_node *node) {
    lrn_dims d = dims_of(node);
    lrn_attrs a = *attrs_of(node);
    nncl_node *x = node->inputs[0];
    cl_int acc = node->accumulate[0];
    return nncl_launch(g->ctx, "lrn_backward", (size_t)d.total,
                       NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->aux[0]), NNCL_ARG(node->grad),
                                 NNCL_ARG(x->grad), NNCL_ARG(d.total), NNCL_ARG(d.channels),
                                 NNCL_ARG(d.inner), NNCL_ARG(d.size), NNCL_ARG(a.alpha),
                                 NNCL_ARG(a.beta), NNCL_ARG(acc)));
}

static uint32_t lrn_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

static nncl_status lrn_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const lrn_attrs *a = attrs_of(node);
    if (a->size % 2 == 0)
        return nncl_ox_refuse(w, node, "an even size: ONNX's window sits one channel later");
    int n = nncl_ox_unary(w, "LRN", node);
    nncl_ox_int(w, n, "size", a->size);
    nncl_ox_float(w, n, "alpha", a->alpha);
    nncl_ox_float(w, n, "beta", a->beta);
    nncl_ox_float(w, n, "bias", a->k);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_lrn = {.attrs_size = sizeof(lrn_attrs),
                                    .profile_forward = NNCL_PROFILE_BATCH_NORM,
                                    .profile_backward = NNCL_PROFILE_BATCH_NORM,
                                    .plan = lrn_plan,
                                    .forward = lrn_forward,
                                    .backward = lrn_backward,
                                    .saves = lrn_saves,
                                    .to_onnx = lrn_to_onnx};
