/* The graph as a data structure: creating and freeing it, adding nodes and
 * parameters, and the sticky first error that lets a whole network be built
 * before it is checked. Builders append, so node order is topological. */
#include "graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void graph_orphan(void *obj);

nncl_status nncl_graph_create(nncl_context *ctx, const nncl_graph_options *options,
                              nncl_graph **out) {
    if (!out) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_create: out is NULL");
    *out = NULL;
    if (!ctx) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_create: ctx is NULL");
    nncl_graph *g = calloc(1, sizeof *g);
    if (!g) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_graph_create: out of memory");
    g->ctx = ctx;
    g->seed = options ? options->seed : 0;
    g->keep_values = options && options->keep_values;
    g->training = true;
    if (!nncl_dependents_add(&ctx->graphs, g, graph_orphan)) {
        free(g);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_graph_create: out of memory");
    }
    *out = g;
    return NNCL_OK;
}

/* A node's device memory and kernel objects. */
static void node_release_device(nncl_node *node) {
    nncl_context *ctx = node->graph->ctx;
    if (node->value_slot < 0) nncl_buffer_release(ctx, node->out);
    node->out = node->grad = NULL;
    for (size_t i = 0; i < sizeof node->aux / sizeof node->aux[0]; i++) {
        nncl_buffer_release(ctx, node->aux[i]);
        node->aux[i] = NULL;
    }
    for (size_t i = 0; i < sizeof node->launches / sizeof node->launches[0]; i++)
        nncl_launch_sites_release(&node->launches[i]);
}

static void node_free(nncl_node *node) {
    node_release_device(node);
    if (node->attrs && node->vt->release) node->vt->release(node);
    free(node->attrs);
    free(node->inputs);
    free(node->accumulate);
    free(node->name);
    free(node);
}

/* Everything the graph holds on the device; its optimizers let go first. */
static void graph_release_device(nncl_graph *g) {
    nncl_dependents_orphan_all(&g->users);
    if (!g->ctx) return;
    clFinish(g->ctx->queue);
    nncl_memplan_release(g);
    for (size_t i = 0; i < g->n_nodes; i++)
        node_release_device(g->nodes[i]);
    nncl_params_release(g);
    nncl_buffer_release(g->ctx, g->workspace);
    g->workspace = NULL;
    g->workspace_bytes = 0;
}

/* The context is being destroyed before the graph. */
static void graph_orphan(void *obj) {
    nncl_graph *g = obj;
    graph_release_device(g);
    g->ctx = NULL;
    g->planned = g->forward_done = false;
}

nncl_status nncl_graph_check(const nncl_graph *g, const char *call) {
    if (!g) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: graph is NULL", call);
    if (!g->ctx)
        return nncl_fail(NNCL_ERROR_STATE, "%s: the graph's context was destroyed before it", call);
    if (g->status != NNCL_OK)
        return nncl_fail(NNCL_ERROR_STATE, "%s: the graph has a build error: %s", call, g->error);
    return NNCL_OK;
}

void nncl_graph_destroy(nncl_graph *g) {
    if (!g) return;
    graph_release_device(g);
    if (g->ctx) nncl_dependents_remove(&g->ctx->graphs, g);
    for (size_t i = 0; i < g->n_nodes; i++)
        node_free(g->nodes[i]);
    for (size_t i = 0; i < g->n_params; i++)
        free(g->params[i].name);
    free(g->params);
    free(g->nodes);
    free(g);
}

nncl_status nncl_graph_status(const nncl_graph *g) {
    return g ? g->status : NNCL_ERROR_INVALID_ARGUMENT;
}

const char *nncl_graph_error(const nncl_graph *g) {
    return g ? g->error : "graph is NULL";
}

nncl_shape nncl_node_shape(const nncl_node *node) {
    return node ? node->shape : (nncl_shape){0};
}

const char *nncl_node_name(const nncl_node *node) {
    return node ? node->name : NULL;
}

const char *nncl_node_op(const nncl_node *node) {
    return node ? nncl_op_name(node->op) : NULL;
}

nncl_node *nncl_node_input(const nncl_node *node, int32_t k) {
    return node && k >= 0 && k < node->n_inputs ? node->inputs[k] : NULL;
}

bool nncl_node_holds_ints(const nncl_node *node) {
    return node && node->is_labels;
}

static void record(nncl_graph *g, nncl_status status, const char *fmt, va_list ap) {
    nncl_fail_v(status, fmt, ap);
    if (g->status != NNCL_OK) return;
    g->status = status;
    snprintf(g->error, sizeof g->error, "%s", nncl_last_error());
}

static void record_f(nncl_graph *g, nncl_status status, const char *fmt, ...) NNCL_PRINTF(3, 4);
static void record_f(nncl_graph *g, nncl_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(g, status, fmt, ap);
    va_end(ap);
}

nncl_node *nncl_build_fail(nncl_graph *g, nncl_status status, const char *op, const char *name,
                           const char *fmt, ...) {
    char detail[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    char node_part[300] = "";
    if (name) snprintf(node_part, sizeof node_part, " node '%s'", name);
    record_f(g, status, "op '%s'%s (node %zu): %s", op, node_part, g->n_nodes, detail);
    return NULL;
}

bool nncl_builder_ready(nncl_graph *g, const char *op, nncl_node *const *inputs, int32_t n) {
    if (!g) {
        nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "op '%s': graph is NULL", op);
        return false;
    }
    if (g->status != NNCL_OK) {
        nncl_fail(g->status, "%s", g->error);
        return false;
    }
    if (!g->ctx) {
        nncl_fail(NNCL_ERROR_STATE, "op '%s': the graph's context was destroyed before it", op);
        return false;
    }
    for (int32_t i = 0; i < n; i++) {
        if (!inputs[i]) {
            nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, NULL, "input %d is NULL", (int)i);
            return false;
        }
        if (inputs[i]->graph != g) {
            nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, NULL,
                            "input %d ('%s') belongs to another graph", (int)i, inputs[i]->name);
            return false;
        }
    }
    return true;
}

static char *dup_str(const char *s) {
    char *copy = malloc(strlen(s) + 1);
    return copy ? strcpy(copy, s) : NULL;
}

static bool name_taken(const nncl_graph *g, const char *name) {
    for (size_t i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i]->name, name)) return true;
    return false;
}

nncl_node *nncl_node_add(nncl_graph *g, nncl_op_kind op, const char *name, nncl_node *const *inputs,
                         int32_t n_inputs, nncl_shape shape) {
    const char *op_name = nncl_op_name(op);
    char auto_name[64];
    if (!name) {
        snprintf(auto_name, sizeof auto_name, "%s_%zu", op_name, g->n_nodes);
        name = auto_name;
    }
    if (!*name || strlen(name) > 200)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                               "a node name must have 1 to 200 characters");
    if (nncl_shape_numel(shape) <= 0 || nncl_shape_numel(shape) > INT32_MAX) {
        char s[128];
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, op_name, name,
                               "output %s must have 1 to 2^31-1 elements",
                               nncl_shape_str(shape, s, sizeof s));
    }
    if (name_taken(g, name))
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                               "another node already has this name");
    if (g->full_batch && g->batch != g->full_batch)
        return nncl_build_fail(g, NNCL_ERROR_STATE, op_name, name,
                               "the graph runs at batch %lld: set it back to %lld "
                               "(nncl_graph_set_batch) before adding nodes",
                               (long long)g->batch, (long long)g->full_batch);
    if (g->n_nodes == g->nodes_cap) {
        size_t cap = g->nodes_cap ? g->nodes_cap * 2 : 16;
        nncl_node **grown = realloc(g->nodes, cap * sizeof *grown);
        if (!grown) return nncl_build_fail(g, NNCL_ERROR_OUT_OF_MEMORY, op_name, name, "no memory");
        g->nodes = grown;
        g->nodes_cap = cap;
    }
    nncl_node *node = calloc(1, sizeof *node);
    if (node) {
        node->graph = g; /* node_free needs it, and no slot yet */
        node->value_slot = node->grad_slot = -1;
        node->name = dup_str(name);
        node->inputs = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *node->inputs);
        node->accumulate = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *node->accumulate);
        node->vt = nncl_op_vtable_of(op);
        node->attrs = node->vt->attrs_size ? calloc(1, node->vt->attrs_size) : NULL;
    }
    if (!node || !node->name || !node->inputs || !node->accumulate ||
        (node->vt->attrs_size && !node->attrs)) {
        if (node) node_free(node);
        return nncl_build_fail(g, NNCL_ERROR_OUT_OF_MEMORY, op_name, name, "no memory");
    }
    node->index = (int32_t)g->n_nodes;
    node->op = op;
    node->shape = shape;
    node->n_inputs = n_inputs;
    for (int32_t i = 0; i < n_inputs; i++)
        node->inputs[i] = inputs[i];
    node->first_param = g->n_params;
    g->nodes[g->n_nodes++] = node;
    g->planned = false;
    g->forward_done = false;
    return node;
}

nncl_param_entry *nncl_node_param(nncl_graph *g, const nncl_node *node, size_t i) {
    return &g->params[node->first_param + i];
}

bool nncl_param_learns(const nncl_param_entry *p) {
    return p->trainable && !p->frozen;
}

/* torch.nn.init's rules; see nncl_init in nncl.h. Each parameter draws from
 * its own stream, so adding a layer later leaves earlier weights alone. */
static bool param_init(nncl_graph *g, nncl_param_entry *p, nncl_fill fill) {
    float *host = malloc((size_t)p->numel * sizeof *host);
    if (!host) return false;
    uint64_t state = g->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(g->n_params + 1));
    double fan_in = (double)fill.fan_in, fans = (double)(fill.fan_in + fill.fan_out);
    size_t n = (size_t)p->numel;
    switch (fill.init) {
    case NNCL_INIT_DEFAULT:
    case NNCL_INIT_KAIMING_NORMAL:
        nncl_normal_fill(&state, host, n, sqrt(2.0 / fan_in));
        break;
    case NNCL_INIT_KAIMING_UNIFORM:
        nncl_uniform_fill(&state, host, n, sqrt(6.0 / fan_in));
        break;
    case NNCL_INIT_XAVIER_NORMAL:
        nncl_normal_fill(&state, host, n, sqrt(2.0 / fans));
        break;
    case NNCL_INIT_XAVIER_UNIFORM:
        nncl_uniform_fill(&state, host, n, sqrt(6.0 / fans));
        break;
    case NNCL_INIT_ZEROS:
    case NNCL_INIT_CONSTANT:
        for (size_t i = 0; i < n; i++)
            host[i] = fill.init == NNCL_INIT_CONSTANT ? fill.value : 0.0f;
        break;
    case NNCL_INIT_NORMAL:
        nncl_normal_fill(&state, host, n, fill.value != 0.0f ? fill.value : 1.0);
        break;
    }
    g->param_version++;
    bool ok =
        nncl_buffer_write(g->ctx, p->value, 0, host, (size_t)p->numel * sizeof *host) == NNCL_OK;
    free(host);
    return ok;
}

bool nncl_param_add(nncl_graph *g, nncl_node *node, const char *suffix, nncl_shape shape,
                    bool trainable, nncl_fill fill) {
    const char *op = nncl_op_name(node->op);
    if ((unsigned)fill.init > NNCL_INIT_NORMAL) {
        nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, node->name, "unknown initialisation %d",
                        (int)fill.init);
        return false;
    }
    int64_t numel = nncl_shape_numel(shape);
    if (numel <= 0 || numel > INT32_MAX) { /* kernels index parameters with 32-bit ints */
        char s[128];
        nncl_build_fail(g, NNCL_ERROR_SHAPE, op, node->name,
                        "parameter '%s' %s must have 1 to 2^31-1 elements", suffix ? suffix : "",
                        nncl_shape_str(shape, s, sizeof s));
        return false;
    }
    if (g->n_params == g->params_cap) {
        size_t cap = g->params_cap ? g->params_cap * 2 : 16;
        nncl_param_entry *grown = realloc(g->params, cap * sizeof *grown);
        if (!grown) {
            nncl_build_fail(g, NNCL_ERROR_OUT_OF_MEMORY, op, node->name, "no memory");
            return false;
        }
        g->params = grown;
        g->params_cap = cap;
    }
    nncl_param_entry p = {
        .shape = shape, .numel = nncl_shape_numel(shape), .trainable = trainable, .pack = -1};
    size_t len = strlen(node->name) + (suffix ? strlen(suffix) : 0) + 2;
    p.name = malloc(len);
    if (!p.name) {
        nncl_build_fail(g, NNCL_ERROR_OUT_OF_MEMORY, op, node->name, "no memory");
        return false;
    }
    snprintf(p.name, len, "%s%s%s", node->name, suffix ? "." : "", suffix ? suffix : "");
    size_t bytes = (size_t)p.numel * sizeof(float);
    nncl_status st = nncl_buffer_create(g->ctx, bytes, &p.value);
    if (st == NNCL_OK && trainable) st = nncl_buffer_create(g->ctx, bytes, &p.grad);
    if (st == NNCL_OK && !param_init(g, &p, fill))
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "initialising %s failed: %s", p.name,
                       nncl_last_error());
    if (st != NNCL_OK) {
        nncl_build_fail(g, st, op, node->name, "parameter %s: %s", p.name, nncl_last_error());
        nncl_buffer_release(g->ctx, p.value);
        nncl_buffer_release(g->ctx, p.grad);
        free(p.name);
        return false;
    }
    g->params[g->n_params++] = p;
    node->n_params++;
    return true;
}

nncl_status nncl_graph_keep(nncl_graph *g, nncl_node *node) {
    if (!g || !node || node->graph != g)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_keep: expects a node of this graph");
    if (!node->keep) g->planned = false;
    node->keep = true;
    return NNCL_OK;
}

bool nncl_node_is_input(const nncl_node *node) {
    return node->vt->flags & NNCL_OPFLAG_INPUT;
}

size_t nncl_node_bytes(const nncl_node *node) {
    return (size_t)nncl_shape_numel(node->shape) *
           (node->is_labels ? sizeof(int32_t) : sizeof(float));
}

bool nncl_name_under(const char *name, const char *layer) {
    size_t n = strlen(layer);
    if (strncmp(name, layer, n)) return false;
    return !name[n] || name[n] == '.' || (n && layer[n - 1] == '.');
}

nncl_status nncl_graph_set_layer_eval(nncl_graph *g, const char *layer, bool eval) {
    nncl_status st = nncl_graph_check(g, "nncl_graph_set_layer_eval");
    if (st != NNCL_OK) return st;
    if (!layer)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_set_layer_eval: layer is NULL");
    size_t matched = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (nncl_name_under(g->nodes[i]->name, layer)) {
            g->nodes[i]->eval_only = eval;
            matched++;
        }
    if (!matched)
        return nncl_fail(NNCL_ERROR_NOT_FOUND,
                         "nncl_graph_set_layer_eval: no node is '%s' or under it", layer);
    g->forward_done = false;
    return NNCL_OK;
}

nncl_node *nncl_graph_node(const nncl_graph *g, const char *name) {
    if (!g || !name) {
        nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_node: NULL argument");
        return NULL;
    }
    for (size_t i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i]->name, name)) return g->nodes[i];
    nncl_fail(NNCL_ERROR_NOT_FOUND, "nncl_graph_node: no node named '%s'", name);
    return NULL;
}
