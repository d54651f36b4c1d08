/* Fully connected layer over the last dim, PyTorch's Linear: y = x W^T + b.
 * Forward and both gradients are single GEMMs; the input gradient uses
 * GEMM's beta to add into a gradient another consumer already wrote. */
#include "ops.h"

typedef struct linear_attrs {
    bool bias;
} linear_attrs;

static bool has_bias(const nncl_node *node) {
    return ((const linear_attrs *)node->attrs)->bias;
}

nncl_node *nncl_linear(nncl_graph *g, nncl_node *x, int64_t out_features,
                       const nncl_linear_params *params, const char *name) {
    if (!nncl_builder_ready(g, "linear", &x, 1)) return NULL;
    char s[128];
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "linear", name,
                               "input '%s' holds labels, not features", x->name);
    if (out_features <= 0)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "linear", name,
                               "out_features %lld must be > 0", (long long)out_features);
    if (x->shape.rank < 2)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "linear", name,
                               "input %s must be [N, in_features] (flatten a feature map first)",
                               nncl_shape_str(x->shape, s, sizeof s));
    int64_t in = x->shape.dims[x->shape.rank - 1];
    nncl_shape y = x->shape;
    y.dims[y.rank - 1] = out_features;
    nncl_node *node = nncl_node_add(g, NNCL_OP_LINEAR, name, &x, 1, y);
    if (!node) return NULL;
    nncl_linear_params p = params ? *params : (nncl_linear_params){0};
    ((linear_attrs *)node->attrs)->bias = !p.no_bias;
    nncl_fill fill = {p.init, p.init_value, in, out_features};
    if (!nncl_param_add(g, node, "weight", NNCL_SHAPE(out_features, in), true, fill)) return NULL;
    if (!p.no_bias &&
        !nncl_param_add(g, node, "bias", NNCL_SHAPE(out_features), true, NNCL_FILL_CONSTANT(0.0f)))
        return NULL;
    return node;
}

typedef struct linear_dims {
    size_t rows, in, out;
} linear_dims;

static linear_dims dims_of(const nncl_node *node) {
    linear_dims d;
    d.out = (size_t)node->shape.dims[node->shape.rank - 1];
    d.rows = (size_t)nncl_shape_numel(node->shape) / d.out;
    d.in = (size_t)node->inputs[0]->shape.dims[node->shape.rank - 1];
    return d;
}

static nncl_status linear_forward(nncl_graph *g, nncl_node *node) {
    linear_dims d = dims_of(node);
    nncl_status st =
        nncl_gemm(g->ctx, false, true, d.rows, d.out, d.in, 1.0f, node->inputs[0]->out, 0, d.in,
                  nncl_node_param(g, node, 0)->value, 0, d.in, 0.0f, node->out, 0, d.out);
    if (st != NNCL_OK || !has_bias(node)) return st;
    return nncl_bias_epilogue(g, node, nncl_node_param(g, node, 1)->value, d.out, 1,
                              d.rows * d.out);
}

static nncl_status linear_backward(nncl_graph *g, nncl_node *node) {
    linear_dims d = dims_of(node);
    nncl_node *x = node->inputs[0];
    nncl_param_entry *w = nncl_node_param(g, node, 0);
    nncl_param_entry *b = has_bias(node) ? nncl_node_param(g, node, 1) : NULL;
    nncl_status st = NNCL_OK;
    if (nncl_param_learns(w))
        st = nncl_gemm(g->ctx, true, false, d.out, d.in, d.rows, 1.0f, node->grad, 0, d.out, x->out,
                       0, d.in, 1.0f, w->grad, 0, d.in);
    if (st == NNCL_OK && b && nncl_param_learns(b)) {
        cl_int rows = (cl_int)d.rows, cols = (cl_int)d.out;
        st = nncl_launch(
            g->ctx, "column_sum", d.out,
            NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(b->grad), NNCL_ARG(rows), NNCL_ARG(cols)));
    }
    if (st != NNCL_OK || !x->requires_grad) return st;
    return nncl_gemm(g->ctx, false, false, d.rows, d.in, d.out, 1.0f, node->grad, 0, d.out,
                     w->value, 0, d.in, node->accumulate[0] ? 1.0f : 0.0f, x->grad, 0, d.in);
}

static int64_t linear_macs(const nncl_node *node) {
    linear_dims d = dims_of(node);
    return (int64_t)(d.rows * d.in * d.out);
}

/* The weight gradient needs the input. */
static uint32_t linear_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

static nncl_fusion linear_absorbs(const nncl_node *producer, const nncl_node *act) {
    (void)act;
    return nncl_bias_absorbs(has_bias(producer));
}

/* Gemm for [N, in]; MatMul with the weight transposed, plus the bias,
 * for more dims. */
static nncl_status linear_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const char *x = nncl_ox_value(node->inputs[0]), *weight = nncl_ox_param(w, node, 0);
    const char *bias = has_bias(node) ? nncl_ox_param(w, node, 1) : NULL;
    if (node->shape.rank == 2) {
        int n = nncl_ox_add(w, "Gemm", (const char *[]){x, weight, bias}, bias ? 3 : 2,
                            nncl_ox_value(node));
        nncl_ox_int(w, n, "transB", 1);
        return nncl_ox_status(w);
    }
    const char *wt = nncl_ox_temp(w, node, "weight_t"), *product = nncl_ox_temp(w, node, "matmul");
    nncl_ox_add(w, "Transpose", &weight, 1, wt);
    nncl_ox_add(w, "MatMul", (const char *[]){x, wt}, 2, bias ? product : nncl_ox_value(node));
    if (bias) nncl_ox_add(w, "Add", (const char *[]){product, bias}, 2, nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_linear = {.attrs_size = sizeof(linear_attrs),
                                       .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                       .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                       .forward = linear_forward,
                                       .backward = linear_backward,
                                       .saves = linear_saves,
                                       .absorbs = linear_absorbs,
                                       .macs = linear_macs,
                                       .to_onnx = linear_to_onnx};
