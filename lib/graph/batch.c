/* Running a graph on fewer samples than it was built for, without
 * rebuilding it: nodes whose dim 0 is the batch ("batch-major": the inputs
 * of the built batch and whatever keeps their batch in dim 0) take the
 * smaller batch, and every op sizes its work from its shapes at run time.
 * Memory, scratch and op state stay planned for the full batch, so the
 * batch can change between any two steps at no cost. */
#include "graph.h"

/* Marks batch-major nodes; refuses a graph where a node mixes the batch
 * into another dim (a reshape of [N, C] to [N * C]), whose size the batch
 * would change in a way no rule can follow. */
static nncl_status analyse(nncl_graph *g) {
    int64_t full = 0;
    for (size_t i = 0; i < g->n_nodes && !full; i++)
        if (nncl_node_is_input(g->nodes[i])) full = g->nodes[i]->shape.dims[0];
    if (!full) return nncl_fail(NNCL_ERROR_STATE, "nncl_graph_set_batch: the graph has no inputs");
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *node = g->nodes[i];
        bool fed = false;
        for (int32_t k = 0; k < node->n_inputs; k++)
            fed |= node->inputs[k]->batch_major;
        node->full_shape = node->shape;
        node->batch_major = node->shape.dims[0] == full && (nncl_node_is_input(node) || fed);
        bool reduced = node->shape.rank == 1 && node->shape.dims[0] == 1;
        if (fed && !node->batch_major && !reduced) {
            char s[128];
            return nncl_fail(NNCL_ERROR_STATE,
                             "nncl_graph_set_batch: node '%s' (%s) %s does not keep the batch of "
                             "%lld in dim 0, so it cannot run on another batch",
                             node->name, nncl_op_name(node->op),
                             nncl_shape_str(node->shape, s, sizeof s), (long long)full);
        }
    }
    g->full_batch = full;
    g->batch = full;
    g->batch_nodes = g->n_nodes;
    return NNCL_OK;
}

void nncl_batch_apply(nncl_graph *g, int64_t batch) {
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->batch_major) g->nodes[i]->shape.dims[0] = batch;
    g->batch = batch;
}

nncl_status nncl_graph_set_batch(nncl_graph *g, int64_t batch) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_set_batch");
    if (st != NNCL_OK) return st;
    if (g->batch_nodes != g->n_nodes && (st = analyse(g)) != NNCL_OK) return st;
    if (batch < 1 || batch > g->full_batch)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_set_batch: batch %lld is not 1 to the %lld the graph was "
                         "built for",
                         (long long)batch, (long long)g->full_batch);
    if (batch != g->batch) {
        nncl_batch_apply(g, batch);
        for (size_t i = 0; i < g->n_nodes; i++) /* what they held was another batch */
            if (nncl_node_is_input(g->nodes[i]) && g->nodes[i]->batch_major)
                g->nodes[i]->value_set = false;
        g->forward_done = false;
    }
    return NNCL_OK;
}

int64_t nncl_graph_batch(const nncl_graph *g) {
    if (!g) return 0;
    if (g->batch_nodes == g->n_nodes && g->full_batch) return g->batch;
    for (size_t i = 0; i < g->n_nodes; i++) /* never changed: the inputs' */
        if (nncl_node_is_input(g->nodes[i])) return g->nodes[i]->shape.dims[0];
    return 0;
}
