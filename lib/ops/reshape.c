/* Flatten and reshape: the same elements under a new shape. The output is
 * its own buffer, so a gradient arriving from several consumers adds up
 * like any other. */
#include "../runtime/checked.h"
#include "copy.h"

nncl_node *nncl_reshape(nncl_graph *g, nncl_node *x, nncl_shape shape, const char *name) {
    if (!nncl_builder_ready(g, "reshape", &x, 1)) return NULL;
    char a[128], b[128];
    int64_t known = 1, numel = nncl_shape_numel(x->shape);
    int infer = -1;
    if (shape.rank < 1 || shape.rank > NNCL_MAX_RANK)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "reshape", name, "rank %d is not 1 to %d",
                               (int)shape.rank, NNCL_MAX_RANK);
    for (int i = 0; i < shape.rank; i++) {
        if (shape.dims[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape.dims[i] <= 0 || !nncl_mul_i64(known, shape.dims[i], &known)) {
            return nncl_build_fail(g, NNCL_ERROR_SHAPE, "reshape", name,
                                   "target %s: dims must be > 0, with at most one -1, and "
                                   "their product below 2^63",
                                   nncl_shape_str(shape, a, sizeof a));
        }
    }
    if (infer >= 0 && numel % known == 0) shape.dims[infer] = numel / known;
    if (nncl_shape_numel(shape) != numel || x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "reshape", name,
                               "cannot reshape %s input %s (%lld elements) to %s",
                               x->is_labels ? "labels" : "feature",
                               nncl_shape_str(x->shape, a, sizeof a), (long long)numel,
                               nncl_shape_str(shape, b, sizeof b));
    return nncl_node_add(g, NNCL_OP_RESHAPE, name, &x, 1, shape);
}

nncl_node *nncl_flatten(nncl_graph *g, nncl_node *x, const char *name) {
    if (!nncl_builder_ready(g, "flatten", &x, 1)) return NULL;
    char s[128];
    if (x->shape.rank < 2 || x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "flatten", name,
                               "input %s must be [N, ...] features",
                               nncl_shape_str(x->shape, s, sizeof s));
    nncl_shape y = NNCL_SHAPE(x->shape.dims[0], nncl_shape_inner(x->shape, 1));
    return nncl_node_add(g, NNCL_OP_FLATTEN, name, &x, 1, y);
}

static nncl_status reshape_forward(nncl_graph *g, nncl_node *node) {
    size_t n = (size_t)nncl_shape_numel(node->shape);
    return nncl_copy_rows(g, node->inputs[0]->out, 0, 0, node->out, 0, 0, 1, n, false);
}

static nncl_status reshape_backward(nncl_graph *g, nncl_node *node) {
    size_t n = (size_t)nncl_shape_numel(node->shape);
    return nncl_copy_rows(g, node->grad, 0, 0, node->inputs[0]->grad, 0, 0, 1, n,
                          node->accumulate[0]);
}

static nncl_status reshape_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    int64_t dims[NNCL_MAX_RANK];
    nncl_ox_reshape_dims(w, node, node->inputs[0], dims);
    const char *in[2] = {nncl_ox_value(node->inputs[0]),
                         nncl_ox_const_ints(w, node, "shape", dims, node->shape.rank)};
    nncl_ox_add(w, "Reshape", in, 2, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_reshape = {.profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                        .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                        .forward = reshape_forward,
                                        .backward = reshape_backward,
                                        .to_onnx = reshape_to_onnx};
