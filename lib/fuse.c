/* Fusion decided at plan time: an activation whose input feeds nothing
 * else is applied in its producer's last pass (the bias add of conv and
 * linear, the normalisation of batch norm), saving one read and one write
 * of the whole tensor. Kept nodes are never fused: their values stay. */
#include "nncl_internal.h"

static bool is_activation(nncl_op_kind op) {
    return op == NNCL_OP_RELU || op == NNCL_OP_LEAKY_RELU || op == NNCL_OP_SIGMOID ||
           op == NNCL_OP_TANH || op == NNCL_OP_ELU;
}

static int consumers(const nncl_graph *g, const nncl_node *node) {
    int n = 0;
    for (size_t c = (size_t)node->index + 1; c < g->n_nodes; c++)
        for (int32_t k = 0; k < g->nodes[c]->n_inputs; k++)
            n += g->nodes[c]->inputs[k] == node;
    return n;
}

static bool can_absorb(const nncl_node *producer, const nncl_node *act) {
    switch (producer->op) {
    case NNCL_OP_CONV:
        return producer->attrs.conv.bias;
    case NNCL_OP_LINEAR:
        return producer->attrs.linear.bias;
    case NNCL_OP_BATCH_NORM:
        return act->op == NNCL_OP_RELU;
    default:
        return false;
    }
}

void nncl_fuse(nncl_graph *g) {
    for (size_t i = 0; i < g->n_nodes; i++)
        g->nodes[i]->fused_act = g->nodes[i]->fused_into = NULL;
    if (g->keep_values) return;
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *act = g->nodes[i];
        if (!is_activation(act->op)) continue;
        nncl_node *producer = act->inputs[0];
        if (producer->keep || consumers(g, producer) != 1 || !can_absorb(producer, act)) continue;
        producer->fused_act = act;
        act->fused_into = producer;
    }
}
