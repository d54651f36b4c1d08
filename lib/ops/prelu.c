/* PReLU, PyTorch's PReLU: a leaky ReLU whose negative slopes are learned,
 * one per channel (dim 1) or one shared, parameter "<name>.weight"
 * starting at 0.25. */
#include "ops.h"

#include <math.h>

nncl_node *nncl_prelu(nncl_graph *g, nncl_node *x, int64_t num_parameters, float init,
                      const char *name) {
    if (!nncl_builder_ready(g, "prelu", &x, 1)) return NULL;
    char s[128];
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "prelu", name,
                               "input '%s' holds labels, not features", x->name);
    if (!isfinite(init))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "prelu", name,
                               "initial slope %g must be finite", (double)init);
    int64_t channels = x->shape.rank >= 2 ? x->shape.dims[1] : 1;
    if (num_parameters == 0) num_parameters = 1;
    if (num_parameters != 1 && num_parameters != channels)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "prelu", name,
                               "num_parameters %lld must be 1 or the channels (dim 1) of input "
                               "%s",
                               (long long)num_parameters, nncl_shape_str(x->shape, s, sizeof s));
    nncl_node *node = nncl_node_add(g, NNCL_OP_PRELU, name, &x, 1, x->shape);
    if (!node) return NULL;
    if (!nncl_param_add(g, node, "weight", NNCL_SHAPE(num_parameters), true,
                        NNCL_FILL_CONSTANT(init)))
        return NULL;
    return node;
}

typedef struct prelu_dims {
    cl_int total, batch, channels, inner, slopes;
} prelu_dims;

static prelu_dims dims_of(const nncl_graph *g, const nncl_node *node) {
    nncl_shape s = node->shape;
    prelu_dims d;
    d.total = (cl_int)nncl_shape_numel(s);
    d.batch = s.rank >= 2 ? (cl_int)s.dims[0] : 1;
    d.channels = s.rank >= 2 ? (cl_int)s.dims[1] : 1;
    d.inner = s.rank >= 2 ? (cl_int)nncl_shape_inner(s, 2) : d.total;
    d.slopes = (cl_int)g->params[node->first_param].numel;
    return d;
}

static nncl_status prelu_forward(nncl_graph *g, nncl_node *node) {
    prelu_dims d = dims_of(g, node);
    /* one slope: every element reads a[0] (channels 1, inner the rest) */
    cl_int channels = d.slopes, inner = d.slopes == 1 ? d.total : d.inner;
    return nncl_launch(g->ctx, "prelu_forward", (size_t)d.total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out),
                                 NNCL_ARG(nncl_node_param(g, node, 0)->value), NNCL_ARG(node->out),
                                 NNCL_ARG(d.total), NNCL_ARG(channels), NNCL_ARG(inner)));
}

static nncl_status prelu_backward(nncl_graph *g, nncl_node *node) {
    prelu_dims d = dims_of(g, node);
    nncl_node *x = node->inputs[0];
    nncl_param_entry *a = nncl_node_param(g, node, 0);
    nncl_status st = NNCL_OK;
    if (nncl_param_learns(a))
        st = nncl_launch(g->ctx, "prelu_backward_slope", (size_t)d.slopes,
                         NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(node->grad), NNCL_ARG(a->grad),
                                   NNCL_ARG(d.slopes), NNCL_ARG(d.batch), NNCL_ARG(d.channels),
                                   NNCL_ARG(d.inner)));
    if (st != NNCL_OK || !x->requires_grad) return st;
    cl_int channels = d.slopes, inner = d.slopes == 1 ? d.total : d.inner;
    cl_int acc = node->accumulate[0];
    return nncl_launch(g->ctx, "prelu_backward_input", (size_t)d.total,
                       NNCL_ARGS(NNCL_ARG(x->out), NNCL_ARG(a->value), NNCL_ARG(node->grad),
                                 NNCL_ARG(x->grad), NNCL_ARG(d.total), NNCL_ARG(channels),
                                 NNCL_ARG(inner), NNCL_ARG(acc)));
}

static uint32_t prelu_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

/* ONNX's slope broadcasts from the right: one per channel is [C, 1, ...]. */
static nncl_status prelu_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const char *slope = nncl_ox_param(w, node, 0);
    int64_t count = nncl_node_param(w->g, node, 0)->numel, shape[NNCL_MAX_RANK] = {count};
    int32_t rank = node->shape.rank - 1;
    if (count > 1 && rank > 1) {
        for (int32_t d = 1; d < rank; d++)
            shape[d] = 1;
        const char *in[2] = {slope, nncl_ox_const_ints(w, node, "slope_shape", shape, rank)};
        slope = nncl_ox_temp(w, node, "slope");
        nncl_ox_add(w, "Reshape", in, 2, slope);
    }
    nncl_ox_add(w, "PRelu", (const char *[]){nncl_ox_value(node->inputs[0]), slope}, 2,
                nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_prelu = {.profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                      .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                      .forward = prelu_forward,
                                      .backward = prelu_backward,
                                      .saves = prelu_saves,
                                      .to_onnx = prelu_to_onnx};
