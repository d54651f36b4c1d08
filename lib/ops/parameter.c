/* A learnable tensor as a node, PyTorch's nn.Parameter used directly: the
 * queries of attention, positional tables, the image that style transfer
 * optimises. Its value is the parameter "<name>" itself (no suffix), so
 * optimizers, checkpoints and freezing treat it as any other. */
#include "copy.h"

#include <string.h>

nncl_node *nncl_parameter(nncl_graph *g, const char *name, nncl_shape shape, nncl_init init,
                          float init_value) {
    if (!nncl_builder_ready(g, "parameter", NULL, 0)) return NULL;
    char s[128];
    if (!name || !*name)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "parameter", name,
                               "a parameter needs a name (its state_dict key)");
    if (nncl_shape_numel(shape) <= 0)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "parameter", name,
                               "shape %s must have rank 1 to %d and every dim > 0",
                               nncl_shape_str(shape, s, sizeof s), NNCL_MAX_RANK);
    nncl_node *node = nncl_node_add(g, NNCL_OP_PARAMETER, name, NULL, 0, shape);
    if (!node) return NULL;
    /* fans as for a linear layer's weight [out, in]: the last dim in */
    int64_t in = shape.dims[shape.rank - 1], out = nncl_shape_numel(shape) / in;
    nncl_fill fill = {init, init_value, in, out};
    return nncl_param_add(g, node, NULL, shape, true, fill) ? node : NULL;
}

static nncl_status parameter_forward(nncl_graph *g, nncl_node *node) {
    return nncl_copy_rows(g, nncl_node_param(g, node, 0)->value, 0, 0, node->out, 0, 0, 1,
                          (size_t)nncl_shape_numel(node->shape), false);
}

static nncl_status parameter_backward(nncl_graph *g, nncl_node *node) {
    nncl_param_entry *p = nncl_node_param(g, node, 0);
    if (!nncl_param_learns(p)) return NNCL_OK;
    return nncl_copy_rows(g, node->grad, 0, 0, p->grad, 0, 0, 1,
                          (size_t)nncl_shape_numel(node->shape), true);
}

/* The initializer is the value; under another name, an Identity gives it
 * the node's. */
static nncl_status parameter_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const char *p = nncl_ox_param(w, node, 0);
    if (p && strcmp(p, nncl_ox_value(node))) nncl_ox_add(w, "Identity", &p, 1, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_parameter = {.profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                          .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                          .forward = parameter_forward,
                                          .backward = parameter_backward,
                                          .to_onnx = parameter_to_onnx};
