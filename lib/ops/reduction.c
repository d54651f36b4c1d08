/* Sum, mean and max over chosen dims, PyTorch's Tensor.sum / mean / amax
 * with dim and keepdim (max's gradient goes to the first maximum). */
#include "ops.h"

typedef struct reduce_attrs {
    nncl_reduce_op op;
    uint32_t mask; /* bit k: dim k of the input is reduced */
} reduce_attrs;

static const reduce_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

static const char *op_name_of(nncl_reduce_op op) {
    return op == NNCL_REDUCE_SUM ? "sum" : op == NNCL_REDUCE_MEAN ? "mean" : "max";
}

nncl_node *nncl_reduce(nncl_graph *g, nncl_node *x, nncl_reduce_op op, const int32_t *dims,
                       int32_t n_dims, bool keepdim, const char *name) {
    const char *op_name = op_name_of(op);
    if (!nncl_builder_ready(g, op_name, &x, 1)) return NULL;
    char s[128];
    if (op != NNCL_REDUCE_SUM && op != NNCL_REDUCE_MEAN && op != NNCL_REDUCE_MAX)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "reduce", name,
                               "op %d is not sum, mean or max", (int)op);
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                               "input '%s' holds labels, not features", x->name);
    int32_t rank = x->shape.rank;
    uint32_t mask = 0;
    if (n_dims < 0 || (n_dims > 0 && !dims))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                               "%d dims given without the array", (int)n_dims);
    for (int32_t i = 0; i < n_dims; i++) {
        int32_t d = dims[i] < 0 ? dims[i] + rank : dims[i];
        if (d < 0 || d >= rank || (mask & (1u << d)))
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                                   "dims[%d] = %d: each must be a distinct dim of input %s", (int)i,
                                   (int)dims[i], nncl_shape_str(x->shape, s, sizeof s));
        mask |= 1u << d;
    }
    if (n_dims == 0) mask = (1u << rank) - 1; /* every dim */
    nncl_shape y = {.rank = 0};
    for (int32_t k = 0; k < rank; k++)
        if (!(mask & (1u << k)))
            y.dims[y.rank++] = x->shape.dims[k];
        else if (keepdim)
            y.dims[y.rank++] = 1;
    if (y.rank == 0) y = NNCL_SHAPE(1); /* a scalar as [1] */
    nncl_node *node = nncl_node_add(g, NNCL_OP_REDUCE, name, &x, 1, y);
    if (node) *(reduce_attrs *)node->attrs = (reduce_attrs){op, mask};
    return node;
}

/* aux[0]: max's winning input index per output. */
static nncl_status reduce_plan(nncl_graph *g, nncl_node *node) {
    size_t n = attrs_of(node)->op == NNCL_REDUCE_MAX ? (size_t)nncl_shape_numel(node->shape) : 1;
    return nncl_node_aux(g, node, 0, n * sizeof(cl_int));
}

typedef struct reduce_geometry {
    cl_int8 kept_dims, kept_strides, gone_dims, gone_strides, out_strides, x_dims;
    cl_int kept_rank, gone_rank, count;
} reduce_geometry;

static reduce_geometry geometry_of(const nncl_node *node) {
    nncl_shape x = node->inputs[0]->shape;
    uint32_t mask = attrs_of(node)->mask;
    int64_t xs[NNCL_MAX_RANK], out_step = 1, os[NNCL_MAX_RANK];
    nncl_row_strides(x, xs);
    reduce_geometry r = {.kept_dims = {{1, 1, 1, 1, 1, 1, 1, 1}},
                         .gone_dims = {{1, 1, 1, 1, 1, 1, 1, 1}},
                         .x_dims = {{1, 1, 1, 1, 1, 1, 1, 1}},
                         .count = 1};
    for (int32_t k = x.rank - 1; k >= 0; k--) { /* the output's strides over x's dims */
        os[k] = mask & (1u << k) ? 0 : out_step;
        if (!(mask & (1u << k))) out_step *= x.dims[k];
    }
    for (int32_t k = 0; k < x.rank; k++) {
        r.x_dims.s[k] = (cl_int)x.dims[k];
        r.out_strides.s[k] = (cl_int)os[k];
        if (mask & (1u << k)) {
            r.gone_dims.s[r.gone_rank] = (cl_int)x.dims[k];
            r.gone_strides.s[r.gone_rank++] = (cl_int)xs[k];
            r.count *= (cl_int)x.dims[k];
        } else {
            r.kept_dims.s[r.kept_rank] = (cl_int)x.dims[k];
            r.kept_strides.s[r.kept_rank++] = (cl_int)xs[k];
        }
    }
    return r;
}

static nncl_status reduce_forward(nncl_graph *g, nncl_node *node) {
    reduce_geometry r = geometry_of(node);
    cl_int total = (cl_int)nncl_shape_numel(node->shape), op = attrs_of(node)->op;
    return nncl_launch(g->ctx, "reduce_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(node->aux[0]), NNCL_ARG(total), NNCL_ARG(r.kept_dims),
                                 NNCL_ARG(r.kept_strides), NNCL_ARG(r.kept_rank),
                                 NNCL_ARG(r.gone_dims), NNCL_ARG(r.gone_strides),
                                 NNCL_ARG(r.gone_rank), NNCL_ARG(r.count), NNCL_ARG(op)));
}

static nncl_status reduce_backward(nncl_graph *g, nncl_node *node) {
    reduce_geometry r = geometry_of(node);
    nncl_node *x = node->inputs[0];
    cl_int total = (cl_int)nncl_shape_numel(x->shape), op = attrs_of(node)->op,
           rank = x->shape.rank, acc = node->accumulate[0];
    return nncl_launch(g->ctx, "reduce_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]), NNCL_ARG(x->grad),
                                 NNCL_ARG(total), NNCL_ARG(r.x_dims), NNCL_ARG(r.out_strides),
                                 NNCL_ARG(rank), NNCL_ARG(r.count), NNCL_ARG(op), NNCL_ARG(acc)));
}

/* ReduceSum takes its axes as an input (opset 13), ReduceMean and
 * ReduceMax as an attribute (until opset 18). Reducing every dim without
 * keepdim is [1] in nncl, a scalar in ONNX: reshaped after. */
static nncl_status reduce_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const reduce_attrs *a = attrs_of(node);
    const nncl_node *x = node->inputs[0];
    int64_t axes[NNCL_MAX_RANK];
    int count = 0;
    for (int32_t d = 0; d < x->shape.rank; d++)
        if (a->mask >> d & 1) axes[count++] = d;
    bool keep = node->shape.rank == x->shape.rank, scalar = !keep && count == x->shape.rank;
    const char *y = scalar ? nncl_ox_temp(w, node, "scalar") : nncl_ox_value(node);
    const char *in[2] = {nncl_ox_value(x), NULL};
    int n;
    if (a->op == NNCL_REDUCE_SUM) {
        in[1] = nncl_ox_const_ints(w, node, "axes", axes, count);
        n = nncl_ox_add(w, "ReduceSum", in, 2, y);
    } else {
        n = nncl_ox_add(w, a->op == NNCL_REDUCE_MEAN ? "ReduceMean" : "ReduceMax", in, 1, y);
        nncl_ox_ints(w, n, "axes", axes, count);
    }
    nncl_ox_int(w, n, "keepdims", keep);
    if (scalar) {
        int64_t one = 1;
        nncl_ox_add(w, "Reshape",
                    (const char *[]){y, nncl_ox_const_ints(w, node, "shape", &one, 1)}, 2,
                    nncl_ox_value(node));
    }
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_reduction = {.attrs_size = sizeof(reduce_attrs),
                                          .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                          .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                          .plan = reduce_plan,
                                          .forward = reduce_forward,
                                          .backward = reduce_backward,
                                          .to_onnx = reduce_to_onnx};
