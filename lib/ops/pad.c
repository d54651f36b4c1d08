/* Padding, PyTorch's F.pad: pads given for the last dims first, (left,
 * right) of the last dim, then (top, bottom) of the one before, and so
 * on; constant (any value), reflect (mirrored without repeating the edge,
 * each pad below the dim's size) or replicate (the edge repeated). */
#include "ops.h"

#include <math.h>

typedef struct pad_attrs {
    nncl_pad_mode mode;
    float value;
    int64_t before[NNCL_MAX_RANK], after[NNCL_MAX_RANK];
} pad_attrs;

static const pad_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

nncl_node *nncl_pad(nncl_graph *g, nncl_node *x, const int64_t *pads, int32_t n_pads,
                    nncl_pad_mode mode, float value, const char *name) {
    if (!nncl_builder_ready(g, "pad", &x, 1)) return NULL;
    char s[128];
    int32_t rank = x->shape.rank;
    if (x->is_labels || !pads || n_pads <= 0 || n_pads % 2 || n_pads > 2 * rank)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "pad", name,
                               "input %s takes an even number of pads, 2 to %d, for its last "
                               "dims (got %d)",
                               nncl_shape_str(x->shape, s, sizeof s), 2 * rank, (int)n_pads);
    if (mode != NNCL_PAD_CONSTANT && mode != NNCL_PAD_REFLECT && mode != NNCL_PAD_REPLICATE)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "pad", name,
                               "mode %d is not constant, reflect or replicate", (int)mode);
    if (!isfinite(value))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "pad", name,
                               "value %g must be finite", (double)value);
    pad_attrs a = {.mode = mode, .value = value};
    nncl_shape y = x->shape;
    for (int32_t i = 0; i < n_pads / 2; i++) {
        int32_t d = rank - 1 - i;
        int64_t lo = pads[2 * i], hi = pads[2 * i + 1], size = x->shape.dims[d];
        if (lo < 0 || hi < 0 || lo > INT32_MAX || hi > INT32_MAX ||
            (mode == NNCL_PAD_REFLECT && (lo >= size || hi >= size)))
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "pad", name,
                                   "pads %lld and %lld of dim %d (size %lld) must be >= 0%s",
                                   (long long)lo, (long long)hi, (int)d, (long long)size,
                                   mode == NNCL_PAD_REFLECT ? " and below the size (reflect)" : "");
        a.before[d] = lo;
        a.after[d] = hi;
        y.dims[d] = size + lo + hi;
        if (y.dims[d] > INT32_MAX)
            return nncl_build_fail(g, NNCL_ERROR_SHAPE, "pad", name,
                                   "dim %d would be %lld, past 2^31-1", (int)d,
                                   (long long)y.dims[d]);
    }
    nncl_node *node = nncl_node_add(g, NNCL_OP_PAD, name, &x, 1, y);
    if (node) *(pad_attrs *)node->attrs = a;
    return node;
}

static cl_int8 int8_of(const int64_t *v, int32_t rank) {
    cl_int8 r = {{0}};
    for (int32_t k = 0; k < rank; k++)
        r.s[k] = (cl_int)v[k];
    return r;
}

static nncl_status pad_forward(nncl_graph *g, nncl_node *node) {
    const pad_attrs *a = attrs_of(node);
    nncl_shape x = node->inputs[0]->shape;
    cl_int total = (cl_int)nncl_shape_numel(node->shape), rank = x.rank, mode = a->mode;
    cl_int8 in = int8_of(x.dims, rank), out = int8_of(node->shape.dims, rank),
            before = int8_of(a->before, rank);
    cl_float value = a->value;
    return nncl_launch(g->ctx, "pad_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(total), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(before),
                                 NNCL_ARG(rank), NNCL_ARG(mode), NNCL_ARG(value)));
}

static nncl_status pad_backward(nncl_graph *g, nncl_node *node) {
    const pad_attrs *a = attrs_of(node);
    nncl_node *x = node->inputs[0];
    cl_int total = (cl_int)nncl_shape_numel(x->shape), rank = x->shape.rank, mode = a->mode,
           acc = node->accumulate[0];
    cl_int8 in = int8_of(x->shape.dims, rank), out = int8_of(node->shape.dims, rank),
            before = int8_of(a->before, rank), after = int8_of(a->after, rank);
    return nncl_launch(g->ctx, "pad_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(total),
                                 NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(before), NNCL_ARG(after),
                                 NNCL_ARG(rank), NNCL_ARG(mode), NNCL_ARG(acc)));
}

static nncl_status pad_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const pad_attrs *a = attrs_of(node);
    int32_t rank = node->shape.rank;
    int64_t pads[2 * NNCL_MAX_RANK];
    for (int32_t d = 0; d < rank; d++)
        pads[d] = a->before[d], pads[rank + d] = a->after[d];
    const char *in[3] = {nncl_ox_value(node->inputs[0]),
                         nncl_ox_const_ints(w, node, "pads", pads, 2 * rank),
                         nncl_ox_const_floats(w, node, "value", &a->value, (nncl_shape){0})};
    int n = nncl_ox_add(w, "Pad", in, 3, nncl_ox_value(node));
    nncl_ox_string(w, n, "mode",
                   a->mode == NNCL_PAD_REFLECT     ? "reflect"
                   : a->mode == NNCL_PAD_REPLICATE ? "edge"
                                                   : "constant");
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_pad = {.attrs_size = sizeof(pad_attrs),
                                    .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                    .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                    .forward = pad_forward,
                                    .backward = pad_backward,
                                    .to_onnx = pad_to_onnx};
