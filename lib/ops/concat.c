/* Concatenation along channels (dim 1), as torch.cat(xs, dim=1): each input
 * is a block of rows copied into its slice of every sample, and backward
 * copies the slices back out. */
#include "copy.h"

nncl_node *nncl_concat(nncl_graph *g, nncl_node *const *inputs, int32_t count, const char *name) {
    if (!g || count < 1 || !inputs) {
        if (g && g->status == NNCL_OK)
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "concat", name,
                                   "needs at least one input");
        return NULL;
    }
    if (!nncl_builder_ready(g, "concat", inputs, count)) return NULL;
    nncl_shape y = inputs[0]->shape;
    char s0[128], s1[128];
    for (int32_t i = 0; i < count; i++) {
        nncl_shape s = inputs[i]->shape;
        bool ok = s.rank == y.rank && s.rank >= 2 && !inputs[i]->is_labels;
        for (int d = 0; ok && d < s.rank; d++)
            ok = d == 1 || s.dims[d] == y.dims[d];
        if (!ok)
            return nncl_build_fail(g, NNCL_ERROR_SHAPE, "concat", name,
                                   "input %d '%s' %s does not match input 0 %s outside dim 1",
                                   (int)i, inputs[i]->name, nncl_shape_str(s, s0, sizeof s0),
                                   nncl_shape_str(inputs[0]->shape, s1, sizeof s1));
        if (i) y.dims[1] += s.dims[1];
    }
    return nncl_node_add(g, NNCL_OP_CONCAT, name, inputs, count, y);
}

static nncl_status concat_pass(nncl_graph *g, nncl_node *node, bool backward) {
    size_t batch = (size_t)node->shape.dims[0], row = (size_t)nncl_shape_inner(node->shape, 1);
    size_t offset = 0;
    nncl_status st = NNCL_OK;
    for (int32_t k = 0; k < node->n_inputs && st == NNCL_OK; k++) {
        nncl_node *x = node->inputs[k];
        size_t cols = (size_t)nncl_shape_inner(x->shape, 1);
        if (!backward)
            st = nncl_copy_rows(g, x->out, 0, cols, node->out, offset, row, batch, cols, false);
        else if (x->requires_grad)
            st = nncl_copy_rows(g, node->grad, offset, row, x->grad, 0, cols, batch, cols,
                                node->accumulate[k]);
        offset += cols;
    }
    return st;
}

static nncl_status concat_forward(nncl_graph *g, nncl_node *node) {
    return concat_pass(g, node, false);
}

static nncl_status concat_backward(nncl_graph *g, nncl_node *node) {
    return concat_pass(g, node, true);
}

static nncl_status concat_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const char *in[64];
    if (node->n_inputs > 64) return nncl_ox_refuse(w, node, "more than 64 inputs");
    for (int32_t k = 0; k < node->n_inputs; k++)
        in[k] = nncl_ox_value(node->inputs[k]);
    nncl_ox_int(w, nncl_ox_add(w, "Concat", in, node->n_inputs, nncl_ox_value(node)), "axis", 1);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_concat = {.profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                       .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                       .forward = concat_forward,
                                       .backward = concat_backward,
                                       .to_onnx = concat_to_onnx};
