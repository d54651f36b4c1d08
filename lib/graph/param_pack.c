/* Trainable parameters packed side by side: one value buffer and one
 * gradient buffer per pack, each parameter a sub-buffer at an aligned
 * origin. Clearing gradients and the optimizer's update then take one
 * launch per pack instead of one per parameter. */
#include "graph.h"

#include <stdlib.h>

size_t nncl_pack_span(const nncl_context *ctx, const nncl_param_entry *p) {
    size_t align = ctx->base_align / sizeof(float);
    if (!align) align = 1;
    return ((size_t)p->numel + align - 1) / align * align;
}

/* Moves one parameter's value and gradient into the pack at `at`. */
static nncl_status move_in(nncl_context *ctx, nncl_param_entry *p, int index,
                           const nncl_param_pack *pack, size_t at) {
    size_t n = (size_t)p->numel;
    cl_mem value, grad = NULL;
    nncl_status st = nncl_sub_buffer(pack->value, at, n, &value);
    if (st == NNCL_OK) st = nncl_sub_buffer(pack->grad, at, n, &grad);
    cl_int err = CL_SUCCESS;
    if (st == NNCL_OK)
        err = clEnqueueCopyBuffer(ctx->queue, p->value, value, 0, 0, n * sizeof(float), 0, NULL,
                                  NULL);
    if (st == NNCL_OK && err == CL_SUCCESS)
        err =
            clEnqueueCopyBuffer(ctx->queue, p->grad, grad, 0, 0, n * sizeof(float), 0, NULL, NULL);
    if (st == NNCL_OK && err != CL_SUCCESS) st = nncl_fail_cl(err, "packing parameters");
    if (st != NNCL_OK) {
        if (value) clReleaseMemObject(value);
        if (grad) clReleaseMemObject(grad);
        return st;
    }
    nncl_buffer_release(ctx, p->value);
    nncl_buffer_release(ctx, p->grad);
    p->value = value;
    p->grad = grad;
    p->pack = index;
    p->pack_offset = at;
    return NNCL_OK;
}

nncl_status nncl_params_pack(nncl_graph *g) {
    size_t floats = 0;
    for (size_t i = 0; i < g->n_params; i++)
        if (g->params[i].trainable && g->params[i].pack < 0)
            floats += nncl_pack_span(g->ctx, &g->params[i]);
    if (!floats) return NNCL_OK;
    nncl_param_pack *grown = realloc(g->packs, (g->n_packs + 1) * sizeof *grown);
    if (!grown) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "packing parameters: out of memory");
    g->packs = grown;
    nncl_param_pack pack = {.floats = floats};
    nncl_status st = nncl_buffer_create(g->ctx, floats * sizeof(float), &pack.value);
    if (st == NNCL_OK) st = nncl_buffer_create(g->ctx, floats * sizeof(float), &pack.grad);
    if (st != NNCL_OK) {
        nncl_buffer_release(g->ctx, pack.value);
        return st;
    }
    /* Parameters moved so far stay valid if a later one fails: each is
     * whole in either place, and the pack lives until the graph does. */
    int index = (int)g->n_packs;
    g->packs[g->n_packs++] = pack;
    size_t at = 0;
    for (size_t i = 0; i < g->n_params && st == NNCL_OK; i++) {
        nncl_param_entry *p = &g->params[i];
        if (!p->trainable || p->pack >= 0) continue;
        st = move_in(g->ctx, p, index, &pack, at);
        at += nncl_pack_span(g->ctx, p);
    }
    return st;
}

void nncl_params_release(nncl_graph *g) {
    for (size_t i = 0; i < g->n_params; i++) {
        nncl_buffer_release(g->ctx, g->params[i].value);
        nncl_buffer_release(g->ctx, g->params[i].grad);
        g->params[i].value = g->params[i].grad = NULL;
    }
    for (size_t i = 0; i < g->n_packs; i++) {
        nncl_buffer_release(g->ctx, g->packs[i].value);
        nncl_buffer_release(g->ctx, g->packs[i].grad);
    }
    free(g->packs);
    g->packs = NULL;
    g->n_packs = 0;
}
