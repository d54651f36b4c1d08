/* Embedding, PyTorch's nn.Embedding: int32 ids of any shape look up rows of
 * a learned table "<name>.weight" [num_embeddings, embedding_dim], giving
 * ids' shape + [embedding_dim]. The padding index's row starts at zero and
 * takes no gradient; with max_norm, rows looked up are first scaled down
 * to that norm, in place, as PyTorch does. Backward groups positions by id
 * on the host (the ids are small and came from the host) so the device
 * sums without atomics. */
#include "../runtime/checked.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>

typedef struct embedding_attrs {
    int64_t num, dim;
    int32_t padding_idx;       /* -1: none (ids are never negative) */
    float max_norm, norm_type; /* max_norm 0: off */
    int64_t grouped;           /* groups the last forward uploaded for backward, -1: none */
} embedding_attrs;

static const embedding_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

nncl_node *nncl_embedding(nncl_graph *g, nncl_node *ids, int64_t num_embeddings,
                          int64_t embedding_dim, const nncl_embedding_params *params,
                          const char *name) {
    if (!nncl_builder_ready(g, "embedding", &ids, 1)) return NULL;
    char s[128];
    nncl_embedding_params p = params ? *params : (nncl_embedding_params){0};
    if (!ids->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "embedding", name,
                               "input '%s' must hold int32 ids (nncl_input_labels_nd)", ids->name);
    if (ids->shape.rank >= NNCL_MAX_RANK)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "embedding", name,
                               "ids %s: the output adds a dim, and at most %d are allowed",
                               nncl_shape_str(ids->shape, s, sizeof s), NNCL_MAX_RANK);
    int64_t table;
    if (num_embeddings <= 0 || embedding_dim <= 0 || num_embeddings > INT32_MAX ||
        !nncl_mul_i64(num_embeddings, embedding_dim, &table) || table > INT32_MAX)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "embedding", name,
                               "num_embeddings %lld and embedding_dim %lld must be > 0 with a "
                               "table below 2^31 elements",
                               (long long)num_embeddings, (long long)embedding_dim);
    if (!(p.max_norm >= 0.0f) || !isfinite(p.max_norm) || !(p.norm_type >= 0.0f) ||
        !isfinite(p.norm_type))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "embedding", name,
                               "max_norm %g and norm_type %g must be finite and >= 0",
                               (double)p.max_norm, (double)p.norm_type);
    int64_t padding = p.has_padding_idx ? p.padding_idx : -1;
    if (p.has_padding_idx && padding < 0) padding += num_embeddings; /* PyTorch's negative index */
    if (p.has_padding_idx && (padding < 0 || padding >= num_embeddings))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "embedding", name,
                               "padding_idx %lld is outside [-%lld, %lld)",
                               (long long)p.padding_idx, (long long)num_embeddings,
                               (long long)num_embeddings);
    nncl_shape y = ids->shape;
    y.dims[y.rank++] = embedding_dim;
    nncl_node *node = nncl_node_add(g, NNCL_OP_EMBEDDING, name, &ids, 1, y);
    if (!node) return NULL;
    *(embedding_attrs *)node->attrs = (embedding_attrs){num_embeddings,
                                                        embedding_dim,
                                                        (int32_t)padding,
                                                        p.max_norm,
                                                        p.norm_type != 0.0f ? p.norm_type : 2.0f,
                                                        -1};
    nncl_fill fill = {p.init ? p.init : NNCL_INIT_NORMAL, p.init_value, embedding_dim,
                      num_embeddings};
    if (!nncl_param_add(g, node, "weight", NNCL_SHAPE(num_embeddings, embedding_dim), true, fill))
        return NULL;
    if (padding >= 0) {
        float *zeros = calloc((size_t)embedding_dim, sizeof *zeros);
        nncl_param_entry *w = nncl_node_param(g, node, 0);
        nncl_status st =
            zeros ? nncl_buffer_write(g->ctx, w->value, (size_t)(padding * embedding_dim) * 4,
                                      zeros, (size_t)embedding_dim * sizeof *zeros)
                  : NNCL_ERROR_OUT_OF_MEMORY;
        free(zeros);
        if (st != NNCL_OK)
            return nncl_build_fail(g, st, "embedding", name, "zeroing the padding row failed");
    }
    return node;
}

/* aux: 0 positions grouped by id, 1 the ids of the groups, 2 where each
 * group starts (one more than the groups). */
static nncl_status embedding_plan(nncl_graph *g, nncl_node *node) {
    size_t positions = (size_t)nncl_shape_numel(node->inputs[0]->shape);
    nncl_status st = nncl_node_aux(g, node, 0, positions * sizeof(cl_int));
    if (st == NNCL_OK) st = nncl_node_aux(g, node, 1, positions * sizeof(cl_int));
    return st == NNCL_OK ? nncl_node_aux(g, node, 2, (positions + 1) * sizeof(cl_int)) : st;
}

/* Counting sort of the positions by id: order, the distinct ids and where
 * each one's positions start. Returns the number of distinct ids, or -1
 * when out of memory. */
static int64_t group_by_id(const int32_t *ids, int64_t n, int64_t num, int32_t *order,
                           int32_t *unique, int32_t *starts) {
    int32_t *count = calloc((size_t)num + 1, sizeof *count);
    if (!count) return -1;
    for (int64_t p = 0; p < n; p++)
        count[ids[p] + 1]++;
    for (int64_t v = 0; v < num; v++)
        count[v + 1] += count[v];
    int64_t groups = 0;
    for (int64_t v = 0; v < num; v++)
        if (count[v + 1] > count[v]) {
            unique[groups] = (int32_t)v;
            starts[groups++] = count[v];
        }
    starts[groups] = (int32_t)n;
    for (int64_t p = 0; p < n; p++)
        order[count[ids[p]]++] = (int32_t)p;
    free(count);
    return groups;
}

/* Groups the ids on the host and uploads the groups to aux 0-2; *groups
 * gets their number. */
static nncl_status upload_groups(nncl_graph *g, nncl_node *node, int64_t *groups) {
    int64_t n = nncl_shape_numel(node->inputs[0]->shape);
    int32_t *host = malloc((size_t)(4 * n + 1) * sizeof *host);
    if (!host) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "embedding '%s': no memory", node->name);
    int32_t *ids = host, *order = host + n, *unique = host + 2 * n, *starts = host + 3 * n;
    nncl_status st = nncl_buffer_read(g->ctx, node->inputs[0]->out, 0, ids, (size_t)n * 4);
    *groups = st == NNCL_OK ? group_by_id(ids, n, attrs_of(node)->num, order, unique, starts) : 0;
    if (*groups < 0)
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "embedding '%s': no memory", node->name);
    if (st == NNCL_OK) st = nncl_buffer_write(g->ctx, node->aux[0], 0, order, (size_t)n * 4);
    if (st == NNCL_OK) st = nncl_buffer_write(g->ctx, node->aux[1], 0, unique, (size_t)*groups * 4);
    if (st == NNCL_OK)
        st = nncl_buffer_write(g->ctx, node->aux[2], 0, starts, (size_t)(*groups + 1) * 4);
    free(host);
    return st;
}

static nncl_status embedding_forward(nncl_graph *g, nncl_node *node) {
    embedding_attrs *a = node->attrs;
    cl_int total = (cl_int)nncl_shape_numel(node->shape), dim = (cl_int)a->dim;
    a->grouped = -1;
    if (a->max_norm > 0.0f) { /* the renormalised rows: the groups backward uses too */
        int64_t groups;
        nncl_status st = upload_groups(g, node, &groups);
        if (st == NNCL_OK) a->grouped = groups;
        cl_int count = (cl_int)groups;
        cl_float max_norm = a->max_norm, norm_type = a->norm_type;
        if (st == NNCL_OK)
            st = nncl_launch(g->ctx, "embedding_renorm", (size_t)count,
                             NNCL_ARGS(NNCL_ARG(nncl_node_param(g, node, 0)->value),
                                       NNCL_ARG(node->aux[1]), NNCL_ARG(count), NNCL_ARG(dim),
                                       NNCL_ARG(max_norm), NNCL_ARG(norm_type)));
        if (st != NNCL_OK) return st;
    }
    cl_int count = total / dim; /* ids */
    return nncl_launch(g->ctx, "embedding_forward", (size_t)count,
                       NNCL_ARGS(NNCL_ARG(node->inputs[0]->out),
                                 NNCL_ARG(nncl_node_param(g, node, 0)->value), NNCL_ARG(node->out),
                                 NNCL_ARG(count), NNCL_ARG(dim)));
}

static nncl_status embedding_backward(nncl_graph *g, nncl_node *node) {
    nncl_param_entry *w = nncl_node_param(g, node, 0);
    if (!nncl_param_learns(w)) return NNCL_OK;
    const embedding_attrs *a = attrs_of(node);
    int64_t groups = a->grouped;
    nncl_status st = groups >= 0 ? NNCL_OK : upload_groups(g, node, &groups);
    if (st != NNCL_OK) return st;
    cl_int count = (cl_int)groups, dim = (cl_int)a->dim, padding = a->padding_idx;
    return nncl_launch(g->ctx, "embedding_backward", (size_t)(groups * a->dim),
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]),
                                 NNCL_ARG(node->aux[1]), NNCL_ARG(node->aux[2]), NNCL_ARG(w->grad),
                                 NNCL_ARG(count), NNCL_ARG(dim), NNCL_ARG(padding)));
}

/* Backward reads the ids (to group them, unless forward did). */
static uint32_t embedding_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

/* Every id must index the table. */
static nncl_status embedding_check_labels(const nncl_node *node, int32_t k, const int32_t *ids,
                                          int64_t count) {
    int64_t num = attrs_of(node)->num;
    for (int64_t i = 0; k == 0 && i < count; i++)
        if (ids[i] < 0 || ids[i] >= num)
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_graph_set_input: id %lld of input '%s' is %d, outside [0, "
                             "%lld) for embedding '%s'",
                             (long long)i, node->inputs[0]->name, (int)ids[i], (long long)num,
                             node->name);
    return NNCL_OK;
}

static nncl_status embedding_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    if (attrs_of(node)->max_norm > 0)
        return nncl_ox_refuse(w, node, "max_norm renormalises the table as it runs");
    const char *in[2] = {nncl_ox_param(w, node, 0), nncl_ox_value(node->inputs[0])};
    nncl_ox_int(w, nncl_ox_add(w, "Gather", in, 2, nncl_ox_value(node)), "axis", 0);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_embedding = {.attrs_size = sizeof(embedding_attrs),
                                          .profile_forward = NNCL_PROFILE_ELEMENTWISE,
                                          .profile_backward = NNCL_PROFILE_ELEMENTWISE,
                                          .plan = embedding_plan,
                                          .forward = embedding_forward,
                                          .backward = embedding_backward,
                                          .saves = embedding_saves,
                                          .check_labels = embedding_check_labels,
                                          .to_onnx = embedding_to_onnx};
