/* Inputs (float features and int32 labels) hold what the user set and do no
 * work of their own; their gradient, when asked for, is written by the
 * nodes that consume them. */
#include "ops.h"

/* An input of `shape`: features, or int32 labels. */
static nncl_node *input(nncl_graph *g, const char *name, nncl_shape shape, bool labels) {
    const char *op = labels ? "labels" : "input";
    if (!nncl_builder_ready(g, op, NULL, 0)) return NULL;
    if (nncl_shape_numel(shape) <= 0) {
        char s[128];
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name,
                               "shape %s must have rank 1 to %d and every dim > 0",
                               nncl_shape_str(shape, s, sizeof s), NNCL_MAX_RANK);
    }
    nncl_node *node =
        nncl_node_add(g, labels ? NNCL_OP_LABELS : NNCL_OP_INPUT, name, NULL, 0, shape);
    if (node) node->is_labels = labels;
    return node;
}

nncl_node *nncl_input(nncl_graph *g, const char *name, nncl_shape shape) {
    return input(g, name, shape, false);
}

nncl_node *nncl_input_labels(nncl_graph *g, const char *name, int64_t batch) {
    if (g && batch <= 0)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "labels", name, "batch size %lld must be > 0",
                               (long long)batch);
    return input(g, name, NNCL_SHAPE(batch), true);
}

nncl_node *nncl_input_labels_nd(nncl_graph *g, const char *name, nncl_shape shape) {
    return input(g, name, shape, true);
}

nncl_status nncl_input_set_requires_grad(nncl_graph *g, nncl_node *input, bool requires_grad) {
    if (!g || !input || input->graph != g || input->op != NNCL_OP_INPUT)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_input_set_requires_grad: expects a float input node of this graph");
    input->wants_grad = requires_grad;
    g->planned = false;
    return NNCL_OK;
}

static nncl_status input_pass(nncl_graph *g, nncl_node *node) {
    (void)g;
    (void)node;
    return NNCL_OK;
}

/* A graph input: the writer lists it; no node computes it. */
static nncl_status input_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    (void)node;
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_input = {.flags = NNCL_OPFLAG_INPUT,
                                      .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                      .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                      .forward = input_pass,
                                      .backward = input_pass,
                                      .to_onnx = input_to_onnx};
