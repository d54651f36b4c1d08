/* Per-graph readouts of node features (sum, mean, max), PyTorch
 * Geometric's global_add/mean/max_pool: one row per graph of a graph
 * input's batch, padding nodes left out. */
#include "ops.h"

typedef struct readout_attrs {
    nncl_readout mode;
} readout_attrs;

static cl_int mode_of(const nncl_node *node) {
    return (cl_int)((const readout_attrs *)node->attrs)->mode;
}

nncl_node *nncl_graph_readout(nncl_graph *g, nncl_node *h, nncl_node *adjacency, nncl_readout mode,
                              const char *name) {
    nncl_node *in[2] = {h, adjacency};
    if (!nncl_builder_ready(g, "graph_readout", in, 2)) return NULL;
    if (!nncl_graph_features_check(g, "graph_readout", name, h, adjacency)) return NULL;
    if (mode != NNCL_READOUT_SUM && mode != NNCL_READOUT_MEAN && mode != NNCL_READOUT_MAX)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "graph_readout", name,
                               "mode %d is not sum, mean or max", (int)mode);
    nncl_adjacency a = nncl_adjacency_of(adjacency);
    nncl_node *node = nncl_node_add(g, NNCL_OP_GRAPH_READOUT, name, in, 2,
                                    NNCL_SHAPE(a.graphs, h->shape.dims[1]));
    if (node) ((readout_attrs *)node->attrs)->mode = mode;
    return node;
}

/* aux[0]: max's winning node per (graph, feature). */
static nncl_status readout_plan(nncl_graph *g, nncl_node *node) {
    return nncl_node_aux(g, node, 0, (size_t)nncl_shape_numel(node->shape) * sizeof(cl_int));
}

static nncl_status readout_forward(nncl_graph *g, nncl_node *node) {
    nncl_adjacency a = nncl_adjacency_of(node->inputs[1]);
    cl_int features = (cl_int)node->shape.dims[1], mode = mode_of(node);
    return nncl_launch(g->ctx, "graph_readout_forward", (size_t)(a.graphs * features),
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out), NNCL_ARG(a.groups),
                                 NNCL_ARG(a.starts_offset), NNCL_ARG(node->out),
                                 NNCL_ARG(node->aux[0]), NNCL_ARG(a.graphs), NNCL_ARG(features),
                                 NNCL_ARG(mode)));
}

static nncl_status readout_backward(nncl_graph *g, nncl_node *node) {
    nncl_node *h = node->inputs[0];
    if (!h->requires_grad) return NNCL_OK;
    nncl_adjacency a = nncl_adjacency_of(node->inputs[1]);
    cl_int features = (cl_int)node->shape.dims[1], mode = mode_of(node), acc = node->accumulate[0];
    return nncl_launch(g->ctx, "graph_readout_backward", (size_t)(a.max_nodes * features),
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(a.node_graph), NNCL_ARG(a.groups),
                                 NNCL_ARG(a.starts_offset), NNCL_ARG(node->aux[0]),
                                 NNCL_ARG(h->grad), NNCL_ARG(a.max_nodes), NNCL_ARG(features),
                                 NNCL_ARG(mode), NNCL_ARG(acc)));
}

/* Over the members matrix M [graphs, nodes] (graph_input.c): sum M h,
 * mean M h / max(count, 1), max the largest of h where M is 1 (-1e30
 * elsewhere), times min(count, 1) so that an empty graph gives 0. */
static nncl_status readout_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const char *h = nncl_ox_value(node->inputs[0]), *y = nncl_ox_value(node);
    const char *m = nncl_ox_temp(w, node->inputs[1], "members");
    const char *count = nncl_ox_temp(w, node, "count");
    int64_t one = 1, two = 2, zero = 0;
    float unit = 1.0f, far = 1e30f;
    nncl_readout mode = (nncl_readout)mode_of(node);
    if (mode != NNCL_READOUT_SUM) {
        const char *in[2] = {m, nncl_ox_const_ints(w, node, "axis", &one, 1)};
        nncl_ox_int(w, nncl_ox_add(w, "ReduceSum", in, 2, count), "keepdims", 1);
    }
    const char *ones = nncl_ox_const_floats(w, node, "one", &unit, (nncl_shape){0});
    if (mode == NNCL_READOUT_SUM || mode == NNCL_READOUT_MEAN) {
        const char *sum = mode == NNCL_READOUT_SUM ? y : nncl_ox_temp(w, node, "sum");
        nncl_ox_add(w, "MatMul", (const char *[]){m, h}, 2, sum);
        if (mode == NNCL_READOUT_MEAN) {
            const char *at_least = nncl_ox_temp(w, node, "count_1");
            nncl_ox_add(w, "Max", (const char *[]){count, ones}, 2, at_least);
            nncl_ox_add(w, "Div", (const char *[]){sum, at_least}, 2, y);
        }
        return nncl_ox_status(w);
    }
    const char *mu = nncl_ox_temp(w, node, "members_3d"), *hu = nncl_ox_temp(w, node, "h_3d"),
               *kept = nncl_ox_temp(w, node, "kept"), *off = nncl_ox_temp(w, node, "off"),
               *offset = nncl_ox_temp(w, node, "offset"), *masked = nncl_ox_temp(w, node, "masked"),
               *top = nncl_ox_temp(w, node, "top"), *any = nncl_ox_temp(w, node, "any");
    nncl_ox_add(w, "Unsqueeze", (const char *[]){m, nncl_ox_const_ints(w, node, "axis2", &two, 1)},
                2, mu);
    nncl_ox_add(w, "Unsqueeze", (const char *[]){h, nncl_ox_const_ints(w, node, "axis0", &zero, 1)},
                2, hu);
    nncl_ox_add(w, "Mul", (const char *[]){mu, hu}, 2, kept);
    nncl_ox_add(w, "Sub", (const char *[]){mu, ones}, 2, off);
    nncl_ox_add(w, "Mul",
                (const char *[]){off, nncl_ox_const_floats(w, node, "far", &far, (nncl_shape){0})},
                2, offset);
    nncl_ox_add(w, "Add", (const char *[]){kept, offset}, 2, masked);
    int n = nncl_ox_add(w, "ReduceMax", &masked, 1, top);
    nncl_ox_ints(w, n, "axes", &one, 1);
    nncl_ox_int(w, n, "keepdims", 0);
    nncl_ox_add(w, "Min", (const char *[]){count, ones}, 2, any);
    nncl_ox_add(w, "Mul", (const char *[]){top, any}, 2, y);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_graph_readout = {.attrs_size = sizeof(readout_attrs),
                                              .profile_forward = NNCL_PROFILE_POOLING,
                                              .profile_backward = NNCL_PROFILE_POOLING,
                                              .plan = readout_plan,
                                              .forward = readout_forward,
                                              .backward = readout_backward,
                                              .to_onnx = readout_to_onnx};
