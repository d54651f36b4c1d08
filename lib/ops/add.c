/* Elementwise sum of two tensors of one shape: the residual connection.
 * Its gradient passes unchanged to both inputs. Other shapes broadcast
 * (binary.c). */
#include "copy.h"

nncl_node *nncl_add(nncl_graph *g, nncl_node *a, nncl_node *b, const char *name) {
    nncl_node *in[2] = {a, b};
    if (!nncl_builder_ready(g, "add", in, 2)) return NULL;
    bool same = a->shape.rank == b->shape.rank && !a->is_labels && !b->is_labels;
    for (int i = 0; same && i < a->shape.rank; i++)
        same = a->shape.dims[i] == b->shape.dims[i];
    if (!same) return nncl_binary(g, 0, a, b, name); /* broadcasting */
    return nncl_node_add(g, NNCL_OP_ADD, name, in, 2, a->shape);
}

static nncl_status add_forward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape);
    cl_int relu = node->fused_act != NULL; /* then the ReLU's output is written instead */
    cl_mem y = relu ? node->fused_act->out : node->out;
    return nncl_launch(g->ctx, "add2", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->inputs[1]->out),
                                 NNCL_ARG(y), NNCL_ARG(total), NNCL_ARG(relu)));
}

static nncl_status add_backward(nncl_graph *g, nncl_node *node) {
    size_t n = (size_t)nncl_shape_numel(node->shape);
    nncl_status st = NNCL_OK;
    for (int32_t k = 0; k < 2 && st == NNCL_OK; k++)
        if (node->inputs[k]->requires_grad)
            st = nncl_copy_rows(g, node->grad, 0, 0, node->inputs[k]->grad, 0, 0, 1, n,
                                node->accumulate[k]);
    return st;
}

/* A ReLU after a residual sum (ResNet's blocks end so) is applied by
 * add2, which then writes only the ReLU's output: the sum's gradient
 * needs no value. */
static nncl_fusion add_absorbs(const nncl_node *producer, const nncl_node *act) {
    (void)producer;
    return act->op == NNCL_OP_RELU ? NNCL_FUSION_INSTEAD_VALUE : NNCL_FUSION_NONE;
}

static nncl_status add_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const char *in[2] = {nncl_ox_value(node->inputs[0]), nncl_ox_value(node->inputs[1])};
    nncl_ox_add(w, "Add", in, 2, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_add = {.profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                    .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                    .forward = add_forward,
                                    .backward = add_backward,
                                    .absorbs = add_absorbs,
                                    .to_onnx = add_to_onnx};
