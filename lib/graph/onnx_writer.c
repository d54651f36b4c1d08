/* The plain-memory ONNX model export builds (onnx_writer.h): the walk over
 * the nodes an export needs, and the calls ops' to_onnx use to add nodes,
 * attributes and initializers. Everything it allocates is listed in
 * `owned` and freed at once. */
#include "onnx_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool failed(nncl_onnx_writer *w) {
    return w->status != NNCL_OK;
}

static void *keep(nncl_onnx_writer *w, void *p) {
    if (!p || failed(w)) {
        free(p);
        if (!failed(w)) w->status = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "ONNX export");
        return NULL;
    }
    if (w->n_owned == w->owned_cap) {
        size_t cap = w->owned_cap ? 2 * w->owned_cap : 64;
        void **grown = realloc(w->owned, cap * sizeof *grown);
        if (!grown) {
            free(p);
            w->status = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "ONNX export");
            return NULL;
        }
        w->owned = grown;
        w->owned_cap = cap;
    }
    return w->owned[w->n_owned++] = p;
}

static const char *keep_string(nncl_onnx_writer *w, const char *s) {
    return keep(w, s ? strdup(s) : NULL);
}

const char *nncl_ox_value(const nncl_node *node) {
    return node->name;
}

const char *nncl_ox_temp(nncl_onnx_writer *w, const nncl_node *node, const char *suffix) {
    char name[512];
    snprintf(name, sizeof name, "%s/%s", node->name, suffix);
    return keep_string(w, name);
}

int nncl_ox_add(nncl_onnx_writer *w, const char *op_type, const char *const *inputs, int n_inputs,
                const char *output) {
    if (failed(w) || !output || n_inputs > 64) return -1;
    if (w->n_nodes == w->nodes_cap) {
        size_t cap = w->nodes_cap ? 2 * w->nodes_cap : 32;
        nncl_ox_node *grown = realloc(w->nodes, cap * sizeof *grown);
        if (!grown) return keep(w, NULL), -1;
        w->nodes = grown;
        w->nodes_cap = cap;
    }
    nncl_ox_node *n = &w->nodes[w->n_nodes];
    *n = (nncl_ox_node){.op_type = op_type, .n_inputs = n_inputs, .output = output};
    for (int k = 0; k < n_inputs; k++) {
        if (inputs[k] == NULL && k < n_inputs - 1)
            n->inputs[k] = "";
        else if (!inputs[k])
            return keep(w, NULL), -1; /* a required input failed */
        else
            n->inputs[k] = inputs[k];
    }
    return (int)w->n_nodes++;
}

static nncl_ox_attr *new_attr(nncl_onnx_writer *w, int node, const char *name,
                              nncl_ox_attr_type type) {
    if (failed(w) || node < 0) return NULL;
    nncl_ox_node *n = &w->nodes[node];
    nncl_ox_attr *grown = keep(w, malloc(((size_t)n->n_attrs + 1) * sizeof *grown));
    if (!grown) return NULL;
    if (n->n_attrs) memcpy(grown, n->attrs, (size_t)n->n_attrs * sizeof *grown);
    n->attrs = grown; /* the old array stays owned until the end */
    nncl_ox_attr *a = &n->attrs[n->n_attrs++];
    *a = (nncl_ox_attr){.name = name, .type = type};
    return a;
}

void nncl_ox_int(nncl_onnx_writer *w, int node, const char *name, int64_t v) {
    nncl_ox_attr *a = new_attr(w, node, name, NNCL_OX_INT);
    if (a) a->i = v;
}

void nncl_ox_float(nncl_onnx_writer *w, int node, const char *name, float v) {
    nncl_ox_attr *a = new_attr(w, node, name, NNCL_OX_FLOAT);
    if (a) a->f = v;
}

void nncl_ox_string(nncl_onnx_writer *w, int node, const char *name, const char *v) {
    nncl_ox_attr *a = new_attr(w, node, name, NNCL_OX_STRING);
    if (a) a->s = v;
}

void nncl_ox_ints(nncl_onnx_writer *w, int node, const char *name, const int64_t *v, int count) {
    nncl_ox_attr *a = new_attr(w, node, name, NNCL_OX_INTS);
    if (!a) return;
    a->ints = keep(w, malloc((size_t)count * sizeof *v + 1));
    if (a->ints) memcpy(a->ints, v, (size_t)count * sizeof *v);
    a->count = count;
}

static nncl_ox_tensor *new_tensor(nncl_onnx_writer *w, const char *name, nncl_shape shape) {
    if (failed(w) || !name) return NULL;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name)) return &w->tensors[i]; /* already there */
    if (w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? 2 * w->tensors_cap : 32;
        nncl_ox_tensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) return keep(w, NULL);
        w->tensors = grown;
        w->tensors_cap = cap;
    }
    nncl_ox_tensor *t = &w->tensors[w->n_tensors++];
    *t = (nncl_ox_tensor){.name = name, .rank = shape.rank, .numel = 1};
    for (int32_t d = 0; d < shape.rank; d++)
        t->dims[d] = shape.dims[d], t->numel *= shape.dims[d];
    return t;
}

const char *nncl_ox_param(nncl_onnx_writer *w, const nncl_node *node, size_t i) {
    nncl_param_entry *p = nncl_node_param(w->g, node, i);
    if (!p) return w->status = nncl_graph_status(w->g), NULL;
    nncl_ox_tensor *t = new_tensor(w, p->name, p->shape);
    if (!t || t->floats) return t ? t->name : NULL;
    t->floats = keep(w, malloc((size_t)p->numel * sizeof(float) + 1));
    if (!t->floats) return NULL;
    nncl_status st =
        nncl_graph_param_read(w->g, p->name, t->floats, (size_t)p->numel * sizeof(float));
    if (st != NNCL_OK) return w->status = st, NULL;
    return t->name;
}

const char *nncl_ox_const_ints(nncl_onnx_writer *w, const nncl_node *node, const char *suffix,
                               const int64_t *v, int count) {
    nncl_ox_tensor *t =
        new_tensor(w, nncl_ox_temp(w, node, suffix), (nncl_shape){.rank = 1, .dims = {count}});
    if (!t || !(t->ints = keep(w, malloc((size_t)count * sizeof *v + 1)))) return NULL;
    memcpy(t->ints, v, (size_t)count * sizeof *v);
    return t->name;
}

const char *nncl_ox_const_floats(nncl_onnx_writer *w, const nncl_node *node, const char *suffix,
                                 const float *v, nncl_shape shape) {
    nncl_ox_tensor *t = new_tensor(w, nncl_ox_temp(w, node, suffix), shape);
    if (!t || !(t->floats = keep(w, malloc((size_t)t->numel * sizeof *v + 1)))) return NULL;
    memcpy(t->floats, v, (size_t)t->numel * sizeof *v);
    return t->name;
}

void nncl_ox_reshape_dims(const nncl_onnx_writer *w, const nncl_node *node, const nncl_node *input,
                          int64_t *dims) {
    for (int32_t d = 0; d < node->shape.rank; d++)
        dims[d] = node->shape.dims[d];
    if (w->batch[node->index] && w->batch[input->index]) dims[0] = 0;
}

/* Which nodes carry the batch in dim 0: inputs, and nodes fed by such
 * nodes whose dim 0 keeps the inputs' size (batch.c's rule). */
static void mark_batch(nncl_onnx_writer *w) {
    const nncl_graph *g = w->g;
    int64_t full = 0;
    for (size_t i = 0; i < g->n_nodes && !full; i++)
        if (g->nodes[i]->vt->flags & NNCL_OPFLAG_INPUT) full = g->nodes[i]->shape.dims[0];
    for (size_t i = 0; i < g->n_nodes; i++) {
        const nncl_node *node = g->nodes[i];
        bool fed = node->vt->flags & NNCL_OPFLAG_INPUT;
        for (int32_t k = 0; k < node->n_inputs; k++)
            fed |= w->batch[node->inputs[k]->index];
        w->batch[i] = fed && node->shape.dims[0] == full;
    }
}

void nncl_ox_input(nncl_onnx_writer *w, const char *name, nncl_shape shape, bool ints) {
    if (failed(w)) return;
    if (w->n_inputs == 64) {
        w->status = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "ONNX export: more than 64 inputs");
        return;
    }
    w->inputs[w->n_inputs++] = (nncl_ox_io){name, shape, ints, false};
}

nncl_status nncl_ox_refuse(nncl_onnx_writer *w, const nncl_node *node, const char *why) {
    if (!failed(w))
        w->status = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "ONNX export: op '%s' (node '%s'): %s",
                              nncl_op_name(node->op), node->name, why);
    return w->status;
}

nncl_status nncl_ox_status(const nncl_onnx_writer *w) {
    return w->status;
}

/* Marks node and everything it reads. */
static void mark_needed(const nncl_node *node, bool *needed) {
    if (needed[node->index]) return;
    needed[node->index] = true;
    for (int32_t k = 0; k < node->n_inputs; k++)
        mark_needed(node->inputs[k], needed);
}

nncl_status nncl_onnx_writer_build(nncl_graph *g, nncl_node *const *outputs, size_t n,
                                   nncl_onnx_writer *w) {
    *w = (nncl_onnx_writer){.g = g};
    if (!n || n > 64 || !outputs)
        return w->status =
                   nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "ONNX export: give 1 to 64 output nodes");
    if (nncl_graph_status(g) != NNCL_OK)
        return w->status =
                   nncl_fail(NNCL_ERROR_STATE, "ONNX export: the graph has a build error: %s",
                             nncl_graph_error(g));
    bool *needed = calloc(g->n_nodes + 1, sizeof *needed);
    w->batch = calloc(g->n_nodes + 1, sizeof *w->batch);
    if (!needed || !w->batch) {
        free(needed);
        return w->status = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "ONNX export");
    }
    mark_batch(w);
    for (size_t k = 0; k < n; k++) {
        if (!outputs[k] || outputs[k]->graph != g) {
            free(needed);
            return w->status = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                         "ONNX export: output %zu is not a node of this graph", k);
        }
        mark_needed(outputs[k], needed);
    }
    for (size_t i = 0; i < g->n_nodes && !failed(w); i++) {
        const nncl_node *node = g->nodes[i];
        if (!needed[i]) continue;
        if ((node->vt->flags & NNCL_OPFLAG_INPUT) && !(node->vt->flags & NNCL_OPFLAG_OWN_SETTER)) {
            nncl_ox_input(w, node->name, node->shape, node->is_labels);
            if (!failed(w)) w->inputs[w->n_inputs - 1].batch = w->batch[i];
        }
        if (!node->vt->to_onnx)
            nncl_ox_refuse(w, node, "has no ONNX form");
        else
            node->vt->to_onnx(w, node);
    }
    for (size_t k = 0; k < n && !failed(w); k++)
        w->outputs[w->n_outputs++] =
            (nncl_ox_io){outputs[k]->name, outputs[k]->shape, outputs[k]->is_labels,
                         w->batch[outputs[k]->index]};
    free(needed);
    return w->status;
}

void nncl_onnx_writer_free(nncl_onnx_writer *w) {
    for (size_t i = 0; i < w->n_owned; i++)
        free(w->owned[i]);
    free(w->owned);
    free(w->nodes);
    free(w->tensors);
    free(w->batch);
    *w = (nncl_onnx_writer){0};
}
