/* Which stretches of the packed parameters an update covers: the learning
 * ones. The optimizer's state covers every trainable parameter, so that
 * freezing or unfreezing after the optimizer exists takes effect at the
 * next step (a frozen parameter is skipped, weight decay included) and
 * unfreezing resumes from its state. Recomputed only when freezing changed. */
#include "train.h"

#include <stdlib.h>

void nncl_optim_active_release(nncl_optimizer *opt) {
    nncl_context *ctx = opt->g ? opt->g->ctx : NULL;
    for (size_t i = 0; ctx && i < opt->n_active; i++) {
        nncl_buffer_release(ctx, opt->active[i].value);
        nncl_buffer_release(ctx, opt->active[i].grad);
        for (int k = 0; k < NNCL_OPTIM_STATES; k++)
            nncl_buffer_release(ctx, opt->active[i].state[k]);
    }
    free(opt->active);
    opt->active = NULL;
    opt->n_active = 0;
}

/* Floats from the start of the pack (or of the parameter's own buffer). */
static size_t offset_of(const nncl_param_entry *p) {
    return p->pack >= 0 ? p->pack_offset : 0;
}

/* A view of entries [first, end) of base run r, which must be learning. */
static nncl_status view(nncl_optimizer *opt, const nncl_optim_run *r, size_t first, size_t end,
                        nncl_optim_run *out) {
    nncl_graph *g = opt->g;
    const nncl_param_entry *a = &g->params[opt->entries[first].param];
    const nncl_param_entry *z = &g->params[opt->entries[end - 1].param];
    const nncl_param_entry *base = &g->params[opt->entries[r->first_entry].param];
    size_t start = offset_of(a), floats = offset_of(z) + (size_t)z->numel - start;
    cl_mem value = a->pack >= 0 ? g->packs[a->pack].value : a->value;
    cl_mem grad = a->pack >= 0 ? g->packs[a->pack].grad : a->grad;
    *out = (nncl_optim_run){.floats = floats, .first_entry = first, .end_entry = end};
    nncl_status st = nncl_sub_buffer(value, start, floats, &out->value);
    if (st == NNCL_OK) st = nncl_sub_buffer(grad, start, floats, &out->grad);
    for (int k = 0; k < opt->n_states && st == NNCL_OK; k++)
        st = nncl_sub_buffer(r->state[k], start - offset_of(base), floats, &out->state[k]);
    return st;
}

nncl_status nncl_optim_active_refresh(nncl_optimizer *opt) {
    nncl_graph *g = opt->g;
    if (opt->active && opt->freeze_version == g->freeze_version) return NNCL_OK;
    nncl_optim_active_release(opt);
    opt->active = calloc(opt->n_entries ? opt->n_entries : 1, sizeof *opt->active);
    if (!opt->active) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "optimizer: out of memory");
    nncl_status st = NNCL_OK;
    for (size_t r = 0; r < opt->n_runs && st == NNCL_OK; r++) {
        const nncl_optim_run *run = &opt->runs[r];
        for (size_t e = run->first_entry; e < run->end_entry && st == NNCL_OK;) {
            if (!nncl_param_learns(&g->params[opt->entries[e].param])) {
                e++;
                continue;
            }
            size_t end = e + 1;
            while (end < run->end_entry && nncl_param_learns(&g->params[opt->entries[end].param]))
                end++;
            st = view(opt, run, e, end, &opt->active[opt->n_active]);
            opt->n_active++; /* released with the rest, also when partly made */
            e = end;
        }
    }
    if (st != NNCL_OK) {
        nncl_optim_active_release(opt);
        return st;
    }
    opt->freeze_version = g->freeze_version;
    return NNCL_OK;
}
