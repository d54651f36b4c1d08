/* Slicing and splitting along one dim, PyTorch's x[..., start:end:step]
 * and torch.split: a strided gather forward (cl/strided.cl); backward
 * writes the slice's gradient into its positions and zeros elsewhere. */
#include "ops.h"

#include <stdio.h>

typedef struct slice_attrs {
    int32_t dim;
    int64_t start, step;
} slice_attrs;

static const slice_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

/* PyTorch's clamping of a slice bound: negative counts from the end. */
static int64_t clamp_bound(int64_t v, int64_t size) {
    if (v < 0) v += size;
    return v < 0 ? 0 : v > size ? size : v;
}

nncl_node *nncl_slice(nncl_graph *g, nncl_node *x, int32_t dim, int64_t start, int64_t end,
                      int64_t step, const char *name) {
    if (!nncl_builder_ready(g, "slice", &x, 1)) return NULL;
    char s[128];
    int32_t d = dim < 0 ? dim + x->shape.rank : dim;
    if (x->is_labels || d < 0 || d >= x->shape.rank)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "slice", name,
                               "dim %d is not a dim of feature input %s", (int)dim,
                               nncl_shape_str(x->shape, s, sizeof s));
    if (step == 0) step = 1;
    int64_t size = x->shape.dims[d], lo = clamp_bound(start, size), hi = clamp_bound(end, size);
    int64_t len = step > 0 && hi > lo ? (hi - lo + step - 1) / step : 0;
    if (step < 0 || len == 0)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "slice", name,
                               "input %s: [%lld:%lld:%lld] along dim %d is empty or has a "
                               "negative step",
                               nncl_shape_str(x->shape, s, sizeof s), (long long)start,
                               (long long)end, (long long)step, (int)dim);
    nncl_shape y = x->shape;
    y.dims[d] = len;
    nncl_node *node = nncl_node_add(g, NNCL_OP_SLICE, name, &x, 1, y);
    if (node) *(slice_attrs *)node->attrs = (slice_attrs){d, lo, step};
    return node;
}

nncl_status nncl_split(nncl_graph *g, nncl_node *x, int32_t dim, const int64_t *sizes,
                       int32_t count, nncl_node **out, const char *name) {
    if (!nncl_builder_ready(g, "split", &x, 1)) return nncl_graph_status(g);
    char s[128];
    int32_t d = dim < 0 && x ? dim + x->shape.rank : dim;
    int64_t total = 0;
    for (int32_t i = 0; sizes && i < count; i++)
        total += sizes[i] > 0 ? sizes[i] : -1;
    if (!sizes || !out || count <= 0 || d < 0 || d >= x->shape.rank || total != x->shape.dims[d]) {
        nncl_build_fail(g, NNCL_ERROR_SHAPE, "split", name,
                        "input %s: %d sizes (each > 0) must add up to dim %d's extent",
                        nncl_shape_str(x->shape, s, sizeof s), (int)count, (int)dim);
        return nncl_graph_status(g);
    }
    int64_t at = 0;
    for (int32_t i = 0; i < count; i++) {
        char part[256];
        snprintf(part, sizeof part, "%s.%d", name ? name : "split", (int)i);
        out[i] = nncl_slice(g, x, d, at, at + sizes[i], 1, part);
        if (!out[i]) return nncl_graph_status(g);
        at += sizes[i];
    }
    return NNCL_OK;
}

static nncl_status slice_forward(nncl_graph *g, nncl_node *node) {
    const slice_attrs *a = attrs_of(node);
    int64_t strides[NNCL_MAX_RANK];
    nncl_row_strides(node->inputs[0]->shape, strides);
    size_t offset = (size_t)(a->start * strides[a->dim]);
    strides[a->dim] *= a->step;
    return nncl_strided_gather(g, node->inputs[0]->out, offset, node->out, node->shape, strides,
                               false);
}

static nncl_status slice_backward(nncl_graph *g, nncl_node *node) {
    const slice_attrs *a = attrs_of(node);
    nncl_node *x = node->inputs[0];
    cl_int total = (cl_int)nncl_shape_numel(x->shape), extent = (cl_int)x->shape.dims[a->dim];
    cl_int inner = (cl_int)nncl_shape_inner(x->shape, a->dim + 1), outer = total / (extent * inner),
           start = (cl_int)a->start, step = (cl_int)a->step, len = (cl_int)node->shape.dims[a->dim],
           acc = node->accumulate[0];
    return nncl_launch(g->ctx, "slice_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(total),
                                 NNCL_ARG(outer), NNCL_ARG(extent), NNCL_ARG(inner),
                                 NNCL_ARG(start), NNCL_ARG(step), NNCL_ARG(len), NNCL_ARG(acc)));
}

static nncl_status slice_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const slice_attrs *a = attrs_of(node);
    int64_t start = a->start, end = a->start + (node->shape.dims[a->dim] - 1) * a->step + 1,
            axis = a->dim, step = a->step;
    const char *in[5] = {
        nncl_ox_value(node->inputs[0]), nncl_ox_const_ints(w, node, "starts", &start, 1),
        nncl_ox_const_ints(w, node, "ends", &end, 1), nncl_ox_const_ints(w, node, "axes", &axis, 1),
        nncl_ox_const_ints(w, node, "steps", &step, 1)};
    nncl_ox_add(w, "Slice", in, 5, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_slice = {.attrs_size = sizeof(slice_attrs),
                                      .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                      .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                      .forward = slice_forward,
                                      .backward = slice_backward,
                                      .to_onnx = slice_to_onnx};
