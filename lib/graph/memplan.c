/* The memory plan: each node value and gradient lives for an interval of a
 * forward + backward pass, and buffers whose intervals do not overlap share
 * one slot of device memory. Largest buffers are placed first, each into
 * the first slot it fits beside (greedy interval colouring). */
#include "graph.h"

#include <stdlib.h>

/* Positions on one pass: node i runs forward at i and backward at 2n-1-i. */
typedef struct live_range {
    nncl_node *node;
    bool grad;
    size_t bytes;
    int64_t first, last;
    int32_t slot;
} live_range;

static int64_t backward_at(const nncl_graph *g, const nncl_node *node) {
    return 2 * (int64_t)g->n_nodes - 1 - node->index;
}

static size_t value_bytes(const nncl_node *node) {
    return (size_t)nncl_shape_numel(node->shape) * 4; /* float32 or int32 */
}

static uint32_t saves_of(const nncl_node *node) {
    return node->vt->saves ? node->vt->saves(node) : 0;
}

/* Whether node feeds any other node, and the last forward and backward
 * positions at which its value is read. */
static bool value_range(const nncl_graph *g, const nncl_node *node, int64_t *last) {
    bool consumed = false;
    *last = node->index;
    if (node->requires_grad && (saves_of(node) & NNCL_SAVES_OUTPUT)) *last = backward_at(g, node);
    for (size_t c = (size_t)node->index + 1; c < g->n_nodes; c++) {
        const nncl_node *user = g->nodes[c];
        uint32_t saves = saves_of(user);
        for (int32_t k = 0; k < user->n_inputs; k++) {
            if (user->inputs[k] != node) continue;
            consumed = true;
            int64_t at = user->requires_grad && (saves & NNCL_SAVES_INPUT(k)) ? backward_at(g, user)
                                                                              : user->index;
            if (at > *last) *last = at;
        }
    }
    return consumed;
}

/* A fused activation's value is written by its producer's forward. */
static int64_t written_at(const nncl_node *node) {
    return node->fused_into ? node->fused_into->index : node->index;
}

/* A gradient is first written by the backward of its last consumer. */
static int64_t grad_first(const nncl_graph *g, const nncl_node *node) {
    for (size_t c = g->n_nodes; c-- > (size_t)node->index + 1;)
        for (int32_t k = 0; k < g->nodes[c]->n_inputs; k++)
            if (g->nodes[c]->inputs[k] == node) return backward_at(g, g->nodes[c]);
    return backward_at(g, node);
}

static int by_size_descending(const void *a, const void *b) {
    const live_range *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Collects the ranges to place; kept buffers get a slot alone (first =
 * INT64_MIN, last = INT64_MAX makes them overlap everything). */
static size_t collect(nncl_graph *g, live_range *ranges) {
    size_t n = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *node = g->nodes[i];
        int64_t last;
        bool consumed = value_range(g, node, &last);
        bool kept = g->keep_values || node->keep || !consumed;
        bool input = nncl_node_is_input(node);
        if (!input)
            ranges[n++] = (live_range){node,
                                       false,
                                       value_bytes(node),
                                       kept ? INT64_MIN : written_at(node),
                                       kept ? INT64_MAX : last,
                                       -1};
        if (!node->requires_grad) continue;
        kept = kept || input; /* the gradient the user asked for */
        ranges[n++] = (live_range){node,
                                   true,
                                   value_bytes(node),
                                   kept ? INT64_MIN : grad_first(g, node),
                                   kept ? INT64_MAX : backward_at(g, node),
                                   -1};
    }
    return n;
}

static bool overlaps(const live_range *a, const live_range *b) {
    return a->first <= b->last && b->first <= a->last;
}

void nncl_memplan_release(nncl_graph *g) {
    for (size_t i = 0; i < g->n_slots; i++)
        nncl_buffer_release(g->ctx, g->slots[i].mem);
    free(g->slots);
    g->slots = NULL;
    g->n_slots = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        nncl_node *node = g->nodes[i];
        if (node->value_slot >= 0) node->out = NULL;
        node->grad = NULL;
        node->value_slot = node->grad_slot = -1;
    }
}

nncl_status nncl_memplan_build(nncl_graph *g) {
    nncl_memplan_release(g);
    live_range *ranges = calloc(2 * g->n_nodes + 1, sizeof *ranges);
    g->slots = calloc(2 * g->n_nodes + 1, sizeof *g->slots);
    if (!ranges || !g->slots) {
        free(ranges);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "graph plan: out of memory");
    }
    size_t n = collect(g, ranges);
    qsort(ranges, n, sizeof *ranges, by_size_descending);
    g->unshared_bytes = g->planned_bytes = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->value_slot < 0 && g->nodes[i]->out) {
            g->unshared_bytes += value_bytes(g->nodes[i]); /* inputs own their memory */
            g->planned_bytes += value_bytes(g->nodes[i]);
        }
    for (size_t i = 0; i < n; i++) {
        live_range *r = &ranges[i];
        g->unshared_bytes += r->bytes;
        for (int32_t s = 0; s < (int32_t)g->n_slots && r->slot < 0; s++) {
            bool free_here = true;
            for (size_t j = 0; j < i && free_here; j++)
                free_here = ranges[j].slot != s || !overlaps(&ranges[j], r);
            if (free_here) r->slot = s;
        }
        if (r->slot < 0) {
            r->slot = (int32_t)g->n_slots++;
            g->slots[r->slot].bytes = r->bytes; /* the largest member comes first */
            g->planned_bytes += r->bytes;
        }
    }
    nncl_status st = NNCL_OK;
    for (size_t s = 0; s < g->n_slots && st == NNCL_OK; s++)
        st = nncl_buffer_create(g->ctx, g->slots[s].bytes, &g->slots[s].mem);
    for (size_t i = 0; i < n && st == NNCL_OK; i++) {
        live_range *r = &ranges[i];
        cl_mem mem = g->slots[r->slot].mem;
        if (r->grad) {
            r->node->grad_slot = r->slot;
            r->node->grad = mem;
        } else {
            r->node->value_slot = r->slot;
            r->node->out = mem;
        }
    }
    free(ranges);
    return st;
}

void nncl_memplan_claim(nncl_graph *g, const nncl_node *node, bool grad) {
    int32_t s = grad ? node->grad_slot : node->value_slot;
    if (s < 0) return;
    g->slots[s].owner = node;
    g->slots[s].owner_is_grad = grad;
}

bool nncl_memplan_holds(const nncl_graph *g, const nncl_node *node, bool grad) {
    int32_t s = grad ? node->grad_slot : node->value_slot;
    return s < 0 || (g->slots[s].owner == node && g->slots[s].owner_is_grad == grad);
}

nncl_status nncl_memplan_check(const nncl_graph *g, const nncl_node *node, bool grad,
                               const char *call) {
    if (nncl_memplan_holds(g, node, grad)) return NNCL_OK;
    const nncl_slot *slot = &g->slots[grad ? node->grad_slot : node->value_slot];
    if (!slot->owner)
        return nncl_fail(NNCL_ERROR_STATE, "%s: the %s of node '%s' has not been computed", call,
                         grad ? "gradient" : "value", node->name);
    return nncl_fail(NNCL_ERROR_STATE,
                     "%s: the %s of node '%s' is gone: its memory now holds the %s of '%s'. Call "
                     "nncl_graph_keep(g, node) before running the graph to keep it readable",
                     call, grad ? "gradient" : "value", node->name,
                     slot->owner_is_grad ? "gradient" : "value", slot->owner->name);
}
