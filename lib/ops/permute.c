/* Permute and transpose, PyTorch's Tensor.permute / transpose: the same
 * elements with dims reordered, written out contiguously by a strided
 * gather (cl/strided.cl); backward gathers with the inverse order. */
#include "ops.h"

typedef struct permute_attrs {
    int32_t perm[NNCL_MAX_RANK]; /* output dim k is input dim perm[k] */
} permute_attrs;

static const int32_t *perm_of(const nncl_node *node) {
    return ((const permute_attrs *)node->attrs)->perm;
}

nncl_node *nncl_permute(nncl_graph *g, nncl_node *x, const int32_t *dims, const char *name) {
    if (!nncl_builder_ready(g, "permute", &x, 1)) return NULL;
    char s[128];
    if (!dims)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "permute", name,
                               "dims are required (one per dim of the input)");
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "permute", name,
                               "input '%s' holds labels, not features", x->name);
    int32_t rank = x->shape.rank, perm[NNCL_MAX_RANK];
    bool seen[NNCL_MAX_RANK] = {false};
    nncl_shape y = {.rank = rank};
    for (int32_t k = 0; k < rank; k++) {
        int32_t d = dims[k] < 0 ? dims[k] + rank : dims[k];
        if (d < 0 || d >= rank || seen[d])
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "permute", name,
                                   "dims[%d] = %d: dims must name each dim of input %s once",
                                   (int)k, (int)dims[k], nncl_shape_str(x->shape, s, sizeof s));
        seen[d] = true;
        perm[k] = d;
        y.dims[k] = x->shape.dims[d];
    }
    nncl_node *node = nncl_node_add(g, NNCL_OP_PERMUTE, name, &x, 1, y);
    if (!node) return NULL;
    for (int32_t k = 0; k < rank; k++)
        ((permute_attrs *)node->attrs)->perm[k] = perm[k];
    return node;
}

nncl_node *nncl_transpose(nncl_graph *g, nncl_node *x, int32_t dim0, int32_t dim1,
                          const char *name) {
    int32_t rank = x ? x->shape.rank : 0, dims[NNCL_MAX_RANK];
    for (int32_t k = 0; k < rank; k++)
        dims[k] = k;
    int32_t a = dim0 < 0 ? dim0 + rank : dim0, b = dim1 < 0 ? dim1 + rank : dim1;
    if (x && (a < 0 || a >= rank || b < 0 || b >= rank)) {
        if (!nncl_builder_ready(g, "transpose", &x, 1)) return NULL;
        char s[128];
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "transpose", name,
                               "dims %d and %d must be dims of input %s", (int)dim0, (int)dim1,
                               nncl_shape_str(x->shape, s, sizeof s));
    }
    if (x) {
        dims[a] = b;
        dims[b] = a;
    }
    return nncl_permute(g, x, dims, name);
}

nncl_status nncl_strided_gather(nncl_graph *g, cl_mem x, size_t offset, cl_mem y, nncl_shape dims,
                                const int64_t *strides, bool accumulate) {
    cl_int off = (cl_int)offset, rank = dims.rank ? dims.rank : 1, acc = accumulate;
    cl_int8 d = {{1, 1, 1, 1, 1, 1, 1, 1}}, s = {{0}};
    for (int32_t k = 0; k < dims.rank; k++) {
        d.s[k] = (cl_int)dims.dims[k];
        s.s[k] = (cl_int)strides[k];
    }
    int64_t len = d.s[rank - 1];
    cl_int rows = len ? (cl_int)(nncl_shape_numel(dims) / len) : 0;
    return nncl_launch(g->ctx, "strided_gather", (size_t)rows,
                       NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(off), NNCL_ARG(y), NNCL_ARG(rows),
                                 NNCL_ARG(d), NNCL_ARG(s), NNCL_ARG(rank), NNCL_ARG(acc)));
}

static nncl_status permute_forward(nncl_graph *g, nncl_node *node) {
    int64_t xs[NNCL_MAX_RANK], ys[NNCL_MAX_RANK];
    nncl_row_strides(node->inputs[0]->shape, xs);
    for (int32_t k = 0; k < node->shape.rank; k++)
        ys[k] = xs[perm_of(node)[k]];
    return nncl_strided_gather(g, node->inputs[0]->out, 0, node->out, node->shape, ys, false);
}

/* dx in x's order gathers from dy: x's dim perm[k] is dy's dim k. */
static nncl_status permute_backward(nncl_graph *g, nncl_node *node) {
    nncl_node *x = node->inputs[0];
    int64_t ys[NNCL_MAX_RANK], from[NNCL_MAX_RANK];
    nncl_row_strides(node->shape, ys);
    for (int32_t k = 0; k < node->shape.rank; k++)
        from[perm_of(node)[k]] = ys[k];
    return nncl_strided_gather(g, node->grad, 0, x->grad, x->shape, from, node->accumulate[0]);
}

static nncl_status permute_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    int64_t perm[NNCL_MAX_RANK];
    for (int32_t d = 0; d < node->shape.rank; d++)
        perm[d] = perm_of(node)[d];
    nncl_ox_ints(w, nncl_ox_unary(w, "Transpose", node), "perm", perm, node->shape.rank);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_permute = {.attrs_size = sizeof(permute_attrs),
                                        .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                        .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                        .forward = permute_forward,
                                        .backward = permute_backward,
                                        .to_onnx = permute_to_onnx};
