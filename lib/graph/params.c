/* Parameters and buffers as the user sees them: listed in creation order,
 * found by their state_dict names, read, written and their gradients read. */
#include "graph.h"

#include <string.h>

size_t nncl_graph_param_count(const nncl_graph *g) {
    return g ? g->n_params : 0;
}

nncl_status nncl_graph_param_info(const nncl_graph *g, size_t index, nncl_param_info *out) {
    if (!g || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_param_info: NULL argument");
    if (index >= g->n_params)
        return nncl_fail(NNCL_ERROR_NOT_FOUND, "nncl_graph_param_info: index %zu of %zu", index,
                         g->n_params);
    out->name = g->params[index].name;
    out->shape = g->params[index].shape;
    out->trainable = g->params[index].trainable;
    out->frozen = g->params[index].frozen;
    return NNCL_OK;
}

int64_t nncl_graph_trainable_count(const nncl_graph *g) {
    int64_t n = 0;
    for (size_t i = 0; g && i < g->n_params; i++)
        if (g->params[i].trainable) n += g->params[i].numel;
    return n;
}

int64_t nncl_graph_frozen_count(const nncl_graph *g) {
    int64_t n = 0;
    for (size_t i = 0; g && i < g->n_params; i++)
        if (g->params[i].trainable && g->params[i].frozen) n += g->params[i].numel;
    return n;
}

static nncl_status find(nncl_graph *g, const char *name, size_t bytes, const void *buf,
                        const char *call, nncl_param_entry **out) {
    if (!name || !buf) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: NULL argument", call);
    if (!g || !g->ctx) return nncl_graph_check(g, call);
    for (size_t i = 0; i < g->n_params; i++) {
        nncl_param_entry *p = &g->params[i];
        if (strcmp(p->name, name)) continue;
        if (bytes != (size_t)p->numel * sizeof(float))
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: '%s' holds %zu bytes, got %zu", call,
                             name, (size_t)p->numel * sizeof(float), bytes);
        *out = p;
        return NNCL_OK;
    }
    return nncl_fail(NNCL_ERROR_NOT_FOUND, "%s: no parameter or buffer named '%s'", call, name);
}

nncl_status nncl_graph_param_read(nncl_graph *g, const char *name, float *dst, size_t bytes) {
    nncl_param_entry *p = NULL;
    nncl_status st = find(g, name, bytes, dst, "nncl_graph_param_read", &p);
    return st != NNCL_OK ? st : nncl_buffer_read(g->ctx, p->value, 0, dst, bytes);
}

nncl_status nncl_graph_param_write(nncl_graph *g, const char *name, const float *src,
                                   size_t bytes) {
    nncl_param_entry *p = NULL;
    nncl_status st = find(g, name, bytes, src, "nncl_graph_param_write", &p);
    if (st != NNCL_OK) return st;
    g->param_version++;
    return nncl_buffer_write(g->ctx, p->value, 0, src, bytes);
}

nncl_status nncl_graph_grad_read(nncl_graph *g, const char *name, float *dst, size_t bytes) {
    nncl_param_entry *p = NULL;
    nncl_status st = find(g, name, bytes, dst, "nncl_graph_grad_read", &p);
    if (st != NNCL_OK) return st;
    if (!p->grad)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_graph_grad_read: '%s' is a buffer, it has no gradient", name);
    return nncl_buffer_read(g->ctx, p->grad, 0, dst, bytes);
}

nncl_status nncl_graph_freeze_layers(nncl_graph *g, const char *const *layers, size_t count,
                                     bool frozen) {
    if (!g || (count && !layers))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_freeze: NULL argument");
    for (size_t l = 0; l < count; l++) { /* all names must match before anything changes */
        bool matched = false;
        for (size_t i = 0; layers[l] && i < g->n_params && !matched; i++)
            matched = g->params[i].trainable && nncl_name_under(g->params[i].name, layers[l]);
        if (!layers[l])
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_freeze: name %zu is NULL", l);
        if (!matched)
            return nncl_fail(NNCL_ERROR_NOT_FOUND,
                             "nncl_graph_freeze: no trainable parameter is '%s' or under it",
                             layers[l]);
    }
    for (size_t l = 0; l < count; l++)
        for (size_t i = 0; i < g->n_params; i++)
            if (g->params[i].trainable && nncl_name_under(g->params[i].name, layers[l]))
                g->params[i].frozen = frozen;
    g->freeze_version++; /* optimizers recompute what they update */
    g->planned = false;  /* which nodes carry gradients may change */
    g->forward_done = false;
    return NNCL_OK;
}

nncl_status nncl_graph_freeze(nncl_graph *g, const char *layer, bool frozen) {
    if (!layer) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_graph_freeze: NULL argument");
    return nncl_graph_freeze_layers(g, &layer, 1, frozen);
}
