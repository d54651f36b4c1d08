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

const nncl_op_vtable nncl_op_graph_readout = {.attrs_size = sizeof(readout_attrs),
                                              .profile_forward = NNCL_PROFILE_POOLING,
                                              .profile_backward = NNCL_PROFILE_POOLING,
                                              .plan = readout_plan,
                                              .forward = readout_forward,
                                              .backward = readout_backward};
