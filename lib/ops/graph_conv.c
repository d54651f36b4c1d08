/* Graph convolution (Kipf & Welling 2017), H' = A_hat H W^T + b. A_hat
 * comes from a graph input (graph_input.c); the dense products are GEMMs
 * and the sparse ones CSR gathers. Parameters "<name>.weight" [out, in]
 * and "<name>.bias" [out], a Linear's. */
#include "ops.h"

typedef struct graph_conv_attrs {
    bool bias;
} graph_conv_attrs;

bool nncl_graph_features_check(nncl_graph *g, const char *op, const char *name, const nncl_node *h,
                               const nncl_node *adjacency) {
    char s[128];
    if (adjacency->op != NNCL_OP_GRAPH_INPUT) {
        nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                        "'%s' is not a graph input (nncl_input_graph)", adjacency->name);
        return false;
    }
    if (h->is_labels || h->shape.rank != 2 || h->shape.dims[0] != adjacency->shape.dims[0]) {
        nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name,
                        "node features '%s' %s must be [%lld, features] (graph input '%s')",
                        h->name, nncl_shape_str(h->shape, s, sizeof s),
                        (long long)adjacency->shape.dims[0], adjacency->name);
        return false;
    }
    return true;
}

nncl_node *nncl_graph_conv(nncl_graph *g, nncl_node *h, nncl_node *adjacency, int64_t out_features,
                           const nncl_linear_params *params, const char *name) {
    nncl_node *in[2] = {h, adjacency};
    if (!nncl_builder_ready(g, "graph_conv", in, 2)) return NULL;
    if (!nncl_graph_features_check(g, "graph_conv", name, h, adjacency)) return NULL;
    if (out_features <= 0 || out_features > INT32_MAX)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "graph_conv", name,
                               "out_features %lld must be in 1..2^31-1", (long long)out_features);
    nncl_linear_params p = params ? *params : (nncl_linear_params){0};
    int64_t features = h->shape.dims[1];
    nncl_node *node = nncl_node_add(g, NNCL_OP_GRAPH_CONV, name, in, 2,
                                    NNCL_SHAPE(h->shape.dims[0], out_features));
    if (!node) return NULL;
    ((graph_conv_attrs *)node->attrs)->bias = !p.no_bias;
    nncl_fill fill = {p.init ? p.init : NNCL_INIT_XAVIER_UNIFORM, p.init_value, features,
                      out_features};
    if (!nncl_param_add(g, node, "weight", NNCL_SHAPE(out_features, features), true, fill))
        return NULL;
    if (!p.no_bias &&
        !nncl_param_add(g, node, "bias", NNCL_SHAPE(out_features), true, NNCL_FILL_CONSTANT(0.0f)))
        return NULL;
    return node;
}

static bool has_bias(const nncl_node *node) {
    return ((const graph_conv_attrs *)node->attrs)->bias;
}

/* aux[0]: H W^T; aux[1]: its gradient in backward. */
static nncl_status graph_conv_plan(nncl_graph *g, nncl_node *node) {
    nncl_status st = nncl_node_aux(g, node, 0, nncl_node_bytes(node));
    return st == NNCL_OK ? nncl_node_aux(g, node, 1, nncl_node_bytes(node)) : st;
}

typedef struct gc_dims {
    size_t nodes, in, out;
} gc_dims;

static gc_dims dims_of(const nncl_node *node) {
    gc_dims d = {(size_t)node->shape.dims[0], (size_t)node->inputs[0]->shape.dims[1],
                 (size_t)node->shape.dims[1]};
    return d;
}

static nncl_status spmm(nncl_graph *g, cl_mem csr, cl_mem val, const nncl_adjacency *a, cl_mem t,
                        cl_mem bias, cl_mem y, size_t features, bool accumulate) {
    cl_int nodes = a->max_nodes, f = (cl_int)features, has_bias = bias != NULL, acc = accumulate,
           col_off = a->col_offset;
    cl_mem b = bias ? bias : val; /* any buffer when unused */
    return nncl_launch(g->ctx, "csr_spmm", (size_t)nodes * features,
                       NNCL_ARGS(NNCL_ARG(csr), NNCL_ARG(col_off), NNCL_ARG(val), NNCL_ARG(t),
                                 NNCL_ARG(b), NNCL_ARG(y), NNCL_ARG(nodes), NNCL_ARG(f),
                                 NNCL_ARG(has_bias), NNCL_ARG(acc)));
}

static nncl_status graph_conv_forward(nncl_graph *g, nncl_node *node) {
    gc_dims d = dims_of(node);
    nncl_adjacency a = nncl_adjacency_of(node->inputs[1]);
    nncl_status st =
        nncl_gemm(g->ctx, false, true, d.nodes, d.out, d.in, 1.0f, node->inputs[0]->out, 0, d.in,
                  nncl_node_param(g, node, 0)->value, 0, d.in, 0.0f, node->aux[0], 0, d.out);
    if (st != NNCL_OK) return st;
    return spmm(g, a.csr, a.val, &a, node->aux[0],
                has_bias(node) ? nncl_node_param(g, node, 1)->value : NULL, node->out, d.out,
                false);
}

static nncl_status graph_conv_backward(nncl_graph *g, nncl_node *node) {
    gc_dims d = dims_of(node);
    nncl_node *h = node->inputs[0];
    nncl_adjacency a = nncl_adjacency_of(node->inputs[1]);
    nncl_param_entry *w = nncl_node_param(g, node, 0);
    nncl_status st = NNCL_OK;
    if (has_bias(node) && nncl_param_learns(nncl_node_param(g, node, 1))) {
        cl_int rows = (cl_int)d.nodes, cols = (cl_int)d.out;
        st =
            nncl_launch(g->ctx, "column_sum", d.out,
                        NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(nncl_node_param(g, node, 1)->grad),
                                  NNCL_ARG(rows), NNCL_ARG(cols)));
    }
    /* d(H W^T) = A_hat^T dY */
    if (st == NNCL_OK)
        st = spmm(g, a.csr_t, a.val_t, &a, node->grad, NULL, node->aux[1], d.out, false);
    if (st == NNCL_OK && nncl_param_learns(w))
        st = nncl_gemm(g->ctx, true, false, d.out, d.in, d.nodes, 1.0f, node->aux[1], 0, d.out,
                       h->out, 0, d.in, 1.0f, w->grad, 0, d.in);
    if (st != NNCL_OK || !h->requires_grad) return st;
    return nncl_gemm(g->ctx, false, false, d.nodes, d.in, d.out, 1.0f, node->aux[1], 0, d.out,
                     w->value, 0, d.in, node->accumulate[0] ? 1.0f : 0.0f, h->grad, 0, d.in);
}

static uint32_t graph_conv_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0) | NNCL_SAVES_INPUT(1);
}

static int64_t graph_conv_macs(const nncl_node *node) {
    gc_dims d = dims_of(node);
    return (int64_t)(d.nodes * d.in * d.out);
}

/* A_hat (h W^T) + b over the dense adjacency input (graph_input.c). */
static nncl_status graph_conv_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const char *weight = nncl_ox_param(w, node, 0), *wt = nncl_ox_temp(w, node, "weight_t"),
               *hw = nncl_ox_temp(w, node, "hw"), *ahw = nncl_ox_temp(w, node, "ahw");
    nncl_ox_add(w, "Transpose", &weight, 1, wt);
    nncl_ox_add(w, "MatMul", (const char *[]){nncl_ox_value(node->inputs[0]), wt}, 2, hw);
    nncl_ox_add(w, "MatMul", (const char *[]){nncl_ox_value(node->inputs[1]), hw}, 2,
                has_bias(node) ? ahw : nncl_ox_value(node));
    if (has_bias(node))
        nncl_ox_add(w, "Add", (const char *[]){ahw, nncl_ox_param(w, node, 1)}, 2,
                    nncl_ox_value(node));
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_graph_conv = {.attrs_size = sizeof(graph_conv_attrs),
                                           .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                           .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                           .plan = graph_conv_plan,
                                           .forward = graph_conv_forward,
                                           .backward = graph_conv_backward,
                                           .saves = graph_conv_saves,
                                           .macs = graph_conv_macs,
                                           .to_onnx = graph_conv_to_onnx};
