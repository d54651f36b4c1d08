/* The plan, built once and again only when the graph changes (a new node,
 * nncl_graph_keep, a frozen parameter, an input that asks for its
 * gradient): which nodes carry gradients, parameters packed, activations
 * fused, memory placed, each op's own planning, one shared workspace. The
 * executor (exec.c) then only queues each node's launches. */
#include "graph.h"

static bool has_learning_param(const nncl_graph *g, const nncl_node *node) {
    for (size_t i = 0; i < node->n_params; i++)
        if (nncl_param_learns(&g->params[node->first_param + i])) return true;
    return false;
}

void nncl_mark_gradients(nncl_graph *g) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *node = g->nodes[i];
        node->requires_grad = node->wants_grad || has_learning_param(g, node);
        for (int32_t k = 0; k < node->n_inputs; k++)
            node->requires_grad |= node->inputs[k]->requires_grad;
        if (node->vt->flags & NNCL_OPFLAG_NO_GRADIENT) node->requires_grad = false;
    }
}

/* Inputs own their memory: the user writes it before any plan may reuse it. */
static nncl_status input_buffers(nncl_graph *g) {
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *node = g->nodes[i];
        if (!nncl_node_is_input(node) || node->out) continue;
        nncl_status st = nncl_buffer_create(g->ctx, nncl_node_bytes(node), &node->out);
        if (st != NNCL_OK) return st;
    }
    return NNCL_OK;
}

static nncl_status grow_workspace(nncl_graph *g, size_t bytes) {
    if (bytes <= g->workspace_bytes) return NNCL_OK;
    nncl_buffer_release(g->ctx, g->workspace);
    g->workspace = NULL;
    g->workspace_bytes = 0;
    nncl_status st = nncl_buffer_create(g->ctx, bytes, &g->workspace);
    if (st == NNCL_OK) g->workspace_bytes = bytes;
    return st;
}

/* Plans with every node at the full batch, so that memory, scratch and op
 * state serve any batch up to it. */
static nncl_status plan(nncl_graph *g);

nncl_status nncl_plan_ensure(nncl_graph *g) {
    if (g->planned) return NNCL_OK;
    int64_t batch = g->batch;
    bool smaller = g->full_batch && batch != g->full_batch;
    if (smaller) nncl_batch_apply(g, g->full_batch);
    nncl_status st = plan(g);
    if (smaller) nncl_batch_apply(g, batch);
    return st;
}

static nncl_status plan(nncl_graph *g) {
    g->forward_done = false;
    /* A new plan releases and regrows memory that queued kernels may still
     * use: wait for them first. */
    cl_int err = clFinish(g->ctx->queue);
    if (err != CL_SUCCESS) return nncl_fail_cl(err, "clFinish before planning");
    nncl_status st = nncl_params_pack(g);
    if (st != NNCL_OK) return st;
    nncl_mark_gradients(g);
    if ((st = input_buffers(g)) != NNCL_OK) return st;
    nncl_fuse(g);
    if ((st = nncl_memplan_build(g)) != NNCL_OK) return st;
    size_t workspace = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *node = g->nodes[i];
        if (node->vt->plan && (st = node->vt->plan(g, node)) != NNCL_OK) return st;
        if (node->workspace_bytes > workspace) workspace = node->workspace_bytes;
    }
    if ((st = grow_workspace(g, workspace)) != NNCL_OK) return st;
    g->planned = true;
    return NNCL_OK;
}

nncl_status nncl_graph_plan(nncl_graph *g) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_plan");
    return st != NNCL_OK ? st : nncl_plan_ensure(g);
}
