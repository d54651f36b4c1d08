/* The adjacency input of graph networks: a batch of graphs as one
 * block-diagonal graph of up to max_nodes nodes, set from CSR rows and
 * each node's graph. The library adds self-loops and normalises
 * symmetrically, A_hat = D^-1/2 (A + I) D^-1/2 with D the row sums of
 * A + I (Kipf & Welling 2017), and keeps A_hat, its transpose and the
 * nodes of each graph on the device for graph_conv and graph_readout.
 * Nodes past the count set are padding: no edges, no graph. */
#include "../runtime/checked.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct graph_input_attrs {
    int64_t max_nodes, max_edges, graphs, nodes;
} graph_input_attrs;

static graph_input_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

nncl_node *nncl_input_graph(nncl_graph *g, const char *name, int64_t max_nodes, int64_t max_edges,
                            int64_t graphs) {
    if (!nncl_builder_ready(g, "graph_input", NULL, 0)) return NULL;
    int64_t cap;
    if (max_nodes <= 0 || max_edges < 0 || graphs <= 0 || graphs > max_nodes ||
        !nncl_add_i64(max_nodes, max_edges, &cap) || cap > INT32_MAX / 2)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "graph_input", name,
                               "max_nodes %lld (> 0), max_edges %lld (>= 0) and graphs %lld (1 to "
                               "max_nodes) must keep nodes + edges below 2^30",
                               (long long)max_nodes, (long long)max_edges, (long long)graphs);
    nncl_node *node = nncl_node_add(g, NNCL_OP_GRAPH_INPUT, name, NULL, 0, NNCL_SHAPE(max_nodes));
    if (!node) return NULL;
    node->is_labels = true; /* its value: each node's graph, int32 */
    *attrs_of(node) = (graph_input_attrs){max_nodes, max_edges, graphs, 0};
    return node;
}

static size_t entries_cap(const graph_input_attrs *a) {
    return (size_t)(a->max_nodes + a->max_edges);
}

/* aux: 0 A_hat's row pointers then columns, 1 its values, 2 and 3 the same
 * for its transpose, 4 the nodes of each graph then where each starts. */
static nncl_status graph_input_plan(nncl_graph *g, nncl_node *node) {
    const graph_input_attrs *a = attrs_of(node);
    size_t ints = (size_t)a->max_nodes + 1 + entries_cap(a), floats = entries_cap(a);
    nncl_status st = NNCL_OK;
    for (int t = 0; t < 2 && st == NNCL_OK; t++) {
        st = nncl_node_aux(g, node, 2 * t, ints * sizeof(cl_int));
        if (st == NNCL_OK) st = nncl_node_aux(g, node, 2 * t + 1, floats * sizeof(cl_float));
    }
    if (st == NNCL_OK)
        st = nncl_node_aux(g, node, 4, (size_t)(a->max_nodes + a->graphs + 1) * sizeof(cl_int));
    return st;
}

nncl_adjacency nncl_adjacency_of(const nncl_node *adjacency) {
    const graph_input_attrs *a = attrs_of(adjacency);
    nncl_adjacency r = {.csr = adjacency->aux[0],
                        .val = adjacency->aux[1],
                        .csr_t = adjacency->aux[2],
                        .val_t = adjacency->aux[3],
                        .groups = adjacency->aux[4],
                        .node_graph = adjacency->out,
                        .col_offset = (cl_int)a->max_nodes + 1,
                        .starts_offset = (cl_int)a->max_nodes,
                        .max_nodes = (cl_int)a->max_nodes,
                        .graphs = (cl_int)a->graphs};
    return r;
}

/* Host copies of what goes to the device. */
typedef struct csr_host {
    int32_t *csr, *csr_t, *groups, *node_graph;
    float *val, *val_t;
} csr_host;

static void csr_host_free(csr_host *h) {
    free(h->csr);
    free(h->csr_t);
    free(h->groups);
    free(h->node_graph);
    free(h->val);
    free(h->val_t);
}

/* Checks the rows and builds A_hat, its transpose and the graphs'
 * members; the first problem is the error, naming the array and index. */
static nncl_status build(const nncl_node *node, int64_t nodes, const int32_t *row_ptr,
                         const int32_t *col, const int32_t *node_graph, csr_host *h) {
    const graph_input_attrs *a = attrs_of(node);
    const char *who = node->name;
    int64_t n1 = a->max_nodes + 1, cap = (int64_t)entries_cap(a);
    if (row_ptr[0] != 0)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_set_adjacency: '%s': row_ptr[0] is %d, not 0", who,
                         (int)row_ptr[0]);
    for (int64_t i = 0; i < nodes; i++)
        if (row_ptr[i + 1] < row_ptr[i])
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_graph_set_adjacency: '%s': row_ptr[%lld] = %d is below "
                             "row_ptr[%lld] = %d",
                             who, (long long)(i + 1), (int)row_ptr[i + 1], (long long)i,
                             (int)row_ptr[i]);
    int64_t edges = row_ptr[nodes];
    if (edges > a->max_edges)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_set_adjacency: '%s': %lld edges (row_ptr[%lld]) exceed "
                         "max_edges %lld",
                         who, (long long)edges, (long long)nodes, (long long)a->max_edges);
    h->csr = calloc((size_t)(n1 + cap), sizeof *h->csr);
    h->csr_t = calloc((size_t)(n1 + cap), sizeof *h->csr_t);
    h->groups = calloc((size_t)(a->max_nodes + a->graphs + 1), sizeof *h->groups);
    h->node_graph = malloc((size_t)a->max_nodes * sizeof *h->node_graph);
    h->val = calloc((size_t)cap, sizeof *h->val);
    h->val_t = calloc((size_t)cap, sizeof *h->val_t);
    int32_t *stamp = calloc((size_t)nodes, sizeof *stamp),
            *deg = calloc((size_t)nodes, sizeof *deg);
    int32_t *count_t = calloc((size_t)n1, sizeof *count_t);
    nncl_status st = NNCL_OK;
    if (!h->csr || !h->csr_t || !h->groups || !h->node_graph || !h->val || !h->val_t || !stamp ||
        !deg || !count_t)
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_graph_set_adjacency: out of memory");
    for (int64_t i = 0; st == NNCL_OK && i < a->max_nodes; i++) {
        int32_t gr = i >= nodes ? -1 : node_graph ? node_graph[i] : 0;
        if (i < nodes && (gr < 0 || gr >= a->graphs))
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "nncl_graph_set_adjacency: '%s': node_graph[%lld] = %d is outside "
                           "[0, %lld)",
                           who, (long long)i, (int)gr, (long long)a->graphs);
        else
            h->node_graph[i] = gr;
    }
    /* A + I row by row: the self-loop first, then the listed edges. */
    int32_t *rows = h->csr, *cols = h->csr + n1;
    int64_t at = 0;
    for (int64_t i = 0; st == NNCL_OK && i < nodes; i++) {
        rows[i] = (int32_t)at;
        cols[at++] = (int32_t)i;
        stamp[i] = (int32_t)i + 1;
        for (int64_t k = row_ptr[i]; k < row_ptr[i + 1] && st == NNCL_OK; k++) {
            int32_t j = col[k];
            if (j < 0 || j >= nodes) {
                st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                               "nncl_graph_set_adjacency: '%s': col[%lld] = %d is outside [0, "
                               "%lld)",
                               who, (long long)k, (int)j, (long long)nodes);
            } else if (h->node_graph[j] != h->node_graph[i]) {
                st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                               "nncl_graph_set_adjacency: '%s': edge %lld -> %d (col[%lld]) joins "
                               "graph %d and graph %d",
                               who, (long long)i, (int)j, (long long)k, (int)h->node_graph[i],
                               (int)h->node_graph[j]);
            } else if (stamp[j] == (int32_t)i + 1) {
                if (j != i)
                    st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                   "nncl_graph_set_adjacency: '%s': edge %lld -> %d is listed "
                                   "twice (col[%lld])",
                                   who, (long long)i, (int)j, (long long)k);
            } else {
                stamp[j] = (int32_t)i + 1;
                cols[at++] = j;
            }
        }
        deg[i] = (int32_t)(at - rows[i]);
    }
    if (st != NNCL_OK) goto done;
    for (int64_t i = nodes; i <= a->max_nodes; i++)
        rows[i] = (int32_t)at;
    /* Values, and the transpose by counting sort on the columns. */
    int32_t *rows_t = h->csr_t, *cols_t = h->csr_t + n1;
    for (int64_t i = 0; i < nodes; i++)
        for (int32_t k = rows[i]; k < rows[i + 1]; k++) {
            h->val[k] = (float)(1.0 / sqrt((double)deg[i] * (double)deg[cols[k]]));
            count_t[cols[k] + 1]++;
        }
    for (int64_t i = 0; i < a->max_nodes; i++)
        count_t[i + 1] += count_t[i];
    memcpy(rows_t, count_t, (size_t)n1 * sizeof *rows_t);
    for (int64_t i = 0; i < nodes; i++)
        for (int32_t k = rows[i]; k < rows[i + 1]; k++) {
            int32_t slot = count_t[cols[k]]++;
            cols_t[slot] = (int32_t)i;
            h->val_t[slot] = h->val[k];
        }
    /* Each graph's nodes, in order, and where each graph starts. */
    int32_t *members = h->groups, *starts = h->groups + a->max_nodes;
    for (int64_t i = 0; i < nodes; i++)
        starts[h->node_graph[i] + 1]++;
    for (int64_t gr = 0; gr < a->graphs; gr++)
        starts[gr + 1] += starts[gr];
    memset(count_t, 0, (size_t)n1 * sizeof *count_t);
    for (int64_t i = 0; i < nodes; i++) {
        int32_t gr = h->node_graph[i];
        members[starts[gr] + count_t[gr]++] = (int32_t)i;
    }
done:
    free(stamp);
    free(deg);
    free(count_t);
    return st;
}

nncl_status nncl_graph_set_adjacency(nncl_graph *g, nncl_node *adjacency, int64_t nodes,
                                     const int32_t *row_ptr, const int32_t *col,
                                     const int32_t *node_graph) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_set_adjacency");
    if (st != NNCL_OK) return st;
    if (!adjacency || adjacency->graph != g || adjacency->op != NNCL_OP_GRAPH_INPUT)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_set_adjacency: the node is not a graph input of this graph");
    graph_input_attrs *a = attrs_of(adjacency);
    if (nodes < 0 || nodes > a->max_nodes || !row_ptr || (!col && nodes && row_ptr[nodes]) ||
        (!node_graph && a->graphs > 1))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_set_adjacency: '%s': nodes %lld must be in 0..%lld, with "
                         "row_ptr, col and (for %lld graphs) node_graph given",
                         adjacency->name, (long long)nodes, (long long)a->max_nodes,
                         (long long)a->graphs);
    if ((st = nncl_plan_ensure(g)) != NNCL_OK) return st;
    csr_host h = {0};
    st = build(adjacency, nodes, row_ptr, col, node_graph, &h);
    nncl_adjacency d = nncl_adjacency_of(adjacency);
    size_t n1 = (size_t)a->max_nodes + 1, cap = entries_cap(a);
    if (st == NNCL_OK) st = nncl_buffer_write(g->ctx, d.csr, 0, h.csr, (n1 + cap) * 4);
    if (st == NNCL_OK) st = nncl_buffer_write(g->ctx, d.csr_t, 0, h.csr_t, (n1 + cap) * 4);
    if (st == NNCL_OK) st = nncl_buffer_write(g->ctx, d.val, 0, h.val, cap * 4);
    if (st == NNCL_OK) st = nncl_buffer_write(g->ctx, d.val_t, 0, h.val_t, cap * 4);
    if (st == NNCL_OK)
        st = nncl_buffer_write(g->ctx, d.groups, 0, h.groups,
                               (size_t)(a->max_nodes + a->graphs + 1) * 4);
    if (st == NNCL_OK)
        st = nncl_buffer_write(g->ctx, d.node_graph, 0, h.node_graph, (size_t)a->max_nodes * 4);
    csr_host_free(&h);
    if (st != NNCL_OK) return st;
    a->nodes = nodes;
    adjacency->value_set = true;
    return NNCL_OK;
}

static nncl_status graph_input_pass(nncl_graph *g, nncl_node *node) {
    (void)g;
    if (node->value_set) return NNCL_OK;
    return nncl_fail(NNCL_ERROR_STATE,
                     "nncl_graph_forward: graph input '%s' was never set "
                     "(nncl_graph_set_adjacency)",
                     node->name);
}

static nncl_status graph_input_backward(nncl_graph *g, nncl_node *node) {
    (void)g;
    (void)node;
    return NNCL_OK;
}

/* In ONNX the graph arrives dense: "<name>" the normalised adjacency
 * A_hat [max_nodes, max_nodes], "<name>/members" [graphs, max_nodes] with
 * 1 where a node belongs to a graph; graph_conv and graph_readout read
 * them by these names. */
static nncl_status graph_input_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const graph_input_attrs *a = attrs_of(node);
    nncl_ox_input(w, nncl_ox_value(node), NNCL_SHAPE(a->max_nodes, a->max_nodes), false);
    nncl_ox_input(w, nncl_ox_temp(w, node, "members"), NNCL_SHAPE(a->graphs, a->max_nodes), false);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_graph_input = {.attrs_size = sizeof(graph_input_attrs),
                                            .flags = NNCL_OPFLAG_INPUT | NNCL_OPFLAG_OWN_SETTER,
                                            .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                            .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                            .plan = graph_input_plan,
                                            .forward = graph_input_pass,
                                            .backward = graph_input_backward,
                                            .to_onnx = graph_input_to_onnx};
