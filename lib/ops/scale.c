/* The scalar affine map y = x * mul + add: x + s, x - s, x * s, x / s and
 * s - x in one op (PyTorch's arithmetic with a Python number). */
#include "ops.h"

#include <math.h>

typedef struct scale_attrs {
    float mul, add;
} scale_attrs;

nncl_node *nncl_scale(nncl_graph *g, nncl_node *x, float mul, float add, const char *name) {
    if (!nncl_builder_ready(g, "scale", &x, 1)) return NULL;
    if (x->is_labels || !isfinite(mul) || !isfinite(add))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "scale", name,
                               "input '%s' must be features and mul %g, add %g finite", x->name,
                               (double)mul, (double)add);
    nncl_node *node = nncl_node_add(g, NNCL_OP_SCALE, name, &x, 1, x->shape);
    if (node) *(scale_attrs *)node->attrs = (scale_attrs){mul, add};
    return node;
}

static nncl_status scale_forward(nncl_graph *g, nncl_node *node) {
    const scale_attrs *a = node->attrs;
    cl_int total = (cl_int)nncl_shape_numel(node->shape);
    cl_float mul = a->mul, add = a->add;
    return nncl_launch(g->ctx, "scale_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(node->out),
                                 NNCL_ARG(total), NNCL_ARG(mul), NNCL_ARG(add)));
}

static nncl_status scale_backward(nncl_graph *g, nncl_node *node) {
    cl_int total = (cl_int)nncl_shape_numel(node->shape), acc = node->accumulate[0];
    cl_float mul = ((const scale_attrs *)node->attrs)->mul;
    return nncl_launch(g->ctx, "scale_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(node->inputs[0]->grad),
                                 NNCL_ARG(total), NNCL_ARG(mul), NNCL_ARG(acc)));
}

/* x * mul + add as Mul and Add by scalar constants (Identity when both
 * are neutral). */
static nncl_status scale_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const scale_attrs *a = node->attrs;
    const char *x = nncl_ox_value(node->inputs[0]), *y = nncl_ox_value(node);
    if (a->mul == 1.0f && a->add == 0.0f) {
        nncl_ox_add(w, "Identity", &x, 1, y);
        return nncl_ox_status(w);
    }
    if (a->mul != 1.0f) {
        const char *product = a->add != 0.0f ? nncl_ox_temp(w, node, "mul") : y;
        nncl_ox_add(
            w, "Mul",
            (const char *[]){x, nncl_ox_const_floats(w, node, "mul_by", &a->mul, (nncl_shape){0})},
            2, product);
        x = product;
    }
    if (a->add != 0.0f)
        nncl_ox_add(
            w, "Add",
            (const char *[]){x, nncl_ox_const_floats(w, node, "add_to", &a->add, (nncl_shape){0})},
            2, y);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_scale = {.attrs_size = sizeof(scale_attrs),
                                      .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                      .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                      .forward = scale_forward,
                                      .backward = scale_backward,
                                      .to_onnx = scale_to_onnx};
