/* Maxout (Goodfellow et al. 2013): the max over groups of k consecutive
 * channels, [N, C, ...] -> [N, C/k, ...], as x.view(N, C/k, k, ...).max(2)
 * in PyTorch. Forward keeps which channel won; backward routes each
 * gradient to it. */
#include "ops.h"

typedef struct maxout_attrs {
    int64_t k;
} maxout_attrs;

static int64_t k_of(const nncl_node *node) {
    return ((const maxout_attrs *)node->attrs)->k;
}

nncl_node *nncl_maxout(nncl_graph *g, nncl_node *x, int64_t k, const char *name) {
    if (!nncl_builder_ready(g, "maxout", &x, 1)) return NULL;
    char s[128];
    if (x->is_labels || x->shape.rank < 2)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "maxout", name,
                               "input '%s' %s must be features [N, C, ...]", x->name,
                               nncl_shape_str(x->shape, s, sizeof s));
    if (k <= 0 || x->shape.dims[1] % k)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "maxout", name,
                               "input %s: channels %lld must be a multiple of k %lld (> 0)",
                               nncl_shape_str(x->shape, s, sizeof s), (long long)x->shape.dims[1],
                               (long long)k);
    nncl_shape y = x->shape;
    y.dims[1] /= k;
    nncl_node *node = nncl_node_add(g, NNCL_OP_MAXOUT, name, &x, 1, y);
    if (node) ((maxout_attrs *)node->attrs)->k = k;
    return node;
}

/* aux[0]: which of the k channels won, per output. */
static nncl_status maxout_plan(nncl_graph *g, nncl_node *node) {
    return nncl_node_aux(g, node, 0, (size_t)nncl_shape_numel(node->shape) * sizeof(cl_int));
}

static nncl_status maxout_forward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape), channels = (cl_int)node->shape.dims[1];
    cl_int k = (cl_int)k_of(node), inner = (cl_int)nncl_shape_inner(node->shape, 2);
    return nncl_launch(g->ctx, "maxout_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(node->aux[0]), NNCL_ARG(total), NNCL_ARG(channels),
                                 NNCL_ARG(k), NNCL_ARG(inner)));
}

static nncl_status maxout_backward(nncl_graph *g, nncl_node *node) {
    nncl_node *x = node->inputs[0];
    cl_int total = (cl_int)nncl_shape_numel(x->shape), channels = (cl_int)node->shape.dims[1];
    cl_int k = (cl_int)k_of(node), inner = (cl_int)nncl_shape_inner(node->shape, 2);
    cl_int acc = node->accumulate[0];
    return nncl_launch(g->ctx, "maxout_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]), NNCL_ARG(x->grad),
                                 NNCL_ARG(total), NNCL_ARG(channels), NNCL_ARG(k), NNCL_ARG(inner),
                                 NNCL_ARG(acc)));
}

/* [N, C, ...] viewed as [N, C/k, k, ...], the max over the k. */
static nncl_status maxout_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const nncl_shape x = node->inputs[0]->shape;
    int64_t view[NNCL_MAX_RANK + 1], axis = 2;
    nncl_ox_reshape_dims(w, node, node->inputs[0], view); /* dim 0 */
    view[1] = node->shape.dims[1], view[2] = k_of(node);
    for (int32_t d = 2; d < x.rank; d++)
        view[d + 1] = x.dims[d];
    const char *grouped = nncl_ox_temp(w, node, "grouped");
    nncl_ox_add(w, "Reshape",
                (const char *[]){nncl_ox_value(node->inputs[0]),
                                 nncl_ox_const_ints(w, node, "view", view, x.rank + 1)},
                2, grouped);
    int n = nncl_ox_add(w, "ReduceMax", &grouped, 1, nncl_ox_value(node));
    nncl_ox_ints(w, n, "axes", &axis, 1);
    nncl_ox_int(w, n, "keepdims", 0);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_maxout = {.attrs_size = sizeof(maxout_attrs),
                                       .profile_forward = NNCL_PROFILE_POOLING,
                                       .profile_backward = NNCL_PROFILE_POOLING,
                                       .plan = maxout_plan,
                                       .forward = maxout_forward,
                                       .backward = maxout_backward,
                                       .to_onnx = maxout_to_onnx};
