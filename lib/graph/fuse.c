/* Fusion decided at plan time: an activation whose input feeds nothing
 * else is applied in its producer's last pass (the bias add of conv and
 * linear, the normalisation of batch norm), saving one read and one write
 * of the whole tensor. Which producers absorb which activations is theirs
 * to say (absorbs in the op table). A convolution's bias before a batch
 * norm that alone consumes it is left to the batch norm: in training the
 * normalisation removes it, and only the running mean (and the eval
 * mean) needs it, per channel, so the pass that adds it goes. Kept nodes
 * are never fused: their values stay. */
#include "graph.h"

static int consumers(const nncl_graph *g, const nncl_node *node) {
    int n = 0;
    for (size_t c = (size_t)node->index + 1; c < g->n_nodes; c++)
        for (int32_t k = 0; k < g->nodes[c]->n_inputs; k++)
            n += g->nodes[c]->inputs[k] == node;
    return n;
}

void nncl_fuse(nncl_graph *g) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        g->nodes[i]->fused_act = g->nodes[i]->fused_into = g->nodes[i]->bias_into = NULL;
        g->nodes[i]->writes_value = true;
    }
    if (g->keep_values) return;
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *act = g->nodes[i];
        if (!(act->vt->flags & NNCL_OPFLAG_ACTIVATION)) continue;
        nncl_node *producer = act->inputs[0];
        if (producer->keep || !producer->vt->absorbs || consumers(g, producer) != 1) continue;
        nncl_fusion how = producer->vt->absorbs(producer, act);
        if (how == NNCL_FUSION_NONE) continue;
        producer->fused_act = act;
        producer->writes_value = how == NNCL_FUSION_AFTER_VALUE;
        act->fused_into = producer;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (!(g->nodes[i]->vt->flags & NNCL_OPFLAG_TAKES_BIAS)) continue;
        nncl_node *producer = g->nodes[i]->inputs[0];
        if (!producer->keep && producer->vt->leaves_bias && producer->vt->leaves_bias(producer) &&
            consumers(g, producer) == 1)
            producer->bias_into = g->nodes[i];
    }
}
