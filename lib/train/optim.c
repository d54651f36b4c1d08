/* Optimizers over the graph's learning parameters: PyTorch's defaults,
 * per-parameter state on the device, global-norm clipping without a host
 * round trip, and one update launch per run of packed parameters. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *nncl_optim_kind_name(nncl_optim_kind kind) {
    static const char *const names[] = {"SGD", "Adam", "AdamW", "AdaGrad", "RMSProp", "AdaDelta"};
    return (unsigned)kind <= NNCL_OPTIM_ADADELTA ? names[kind] : "unknown";
}

static float or_default(float v, float dflt) {
    return v != 0.0f ? v : dflt;
}

/* Fills PyTorch's defaults and checks ranges. */
static nncl_status resolve(nncl_optim_params *p) {
    if ((unsigned)p->kind > NNCL_OPTIM_ADADELTA)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "optimizer: unknown kind %d", (int)p->kind);
    const char *name = nncl_optim_kind_name(p->kind);
    const float given[] = {p->lr,
                           p->momentum,
                           p->dampening,
                           p->beta1,
                           p->beta2,
                           p->eps,
                           p->alpha,
                           p->rho,
                           p->lr_decay,
                           p->weight_decay,
                           p->l1,
                           p->clip_grad_norm,
                           p->initial_accumulator};
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        if (!isfinite(given[i]))
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "optimizer %s: every parameter must be finite (got %g)", name,
                             (double)given[i]);
    if (p->kind == NNCL_OPTIM_SGD && p->lr <= 0)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "optimizer SGD: lr is required (> 0)");
    static const float default_lr[] = {0.0f, 1e-3f, 1e-3f, 1e-2f, 1e-2f, 1.0f};
    static const float default_eps[] = {0.0f, 1e-8f, 1e-8f, 1e-10f, 1e-8f, 1e-6f};
    p->lr = or_default(p->lr, default_lr[p->kind]);
    p->eps = or_default(p->eps, default_eps[p->kind]);
    p->beta1 = or_default(p->beta1, 0.9f);
    p->beta2 = or_default(p->beta2, 0.999f);
    p->alpha = or_default(p->alpha, 0.99f);
    p->rho = or_default(p->rho, 0.9f);
    if (p->kind == NNCL_OPTIM_ADAMW) p->weight_decay = or_default(p->weight_decay, 1e-2f);
    if (p->lr < 0 || p->momentum < 0 || p->dampening < 0 || p->weight_decay < 0 || p->l1 < 0 ||
        p->eps < 0 || p->clip_grad_norm < 0 || p->lr_decay < 0 || p->initial_accumulator < 0 ||
        p->beta1 < 0 || p->beta1 >= 1 || p->beta2 < 0 || p->beta2 >= 1 || p->alpha < 0 ||
        p->alpha > 1 || p->rho < 0 || p->rho > 1)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "optimizer %s: lr, momentum, dampening, weight_decay, l1, eps, lr_decay, "
                         "initial_accumulator and clip_grad_norm must be >= 0, betas in [0, 1), "
                         "alpha and rho in [0, 1]",
                         name);
    if (p->nesterov && (p->kind != NNCL_OPTIM_SGD || p->momentum <= 0 || p->dampening != 0))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "optimizer %s: Nesterov momentum needs SGD, momentum > 0 and no "
                         "dampening",
                         name);
    return NNCL_OK;
}

/* How many state buffers each kind keeps per parameter. */
static int state_count(const nncl_optim_params *p) {
    switch (p->kind) {
    case NNCL_OPTIM_SGD:
        return p->momentum > 0 ? 1 : 0;
    case NNCL_OPTIM_ADAGRAD:
        return 1;
    case NNCL_OPTIM_RMSPROP:
        return 3;
    default:
        return 2;
    }
}

/* Whether p continues prev's run: both in the same pack, with only
 * alignment padding between them. */
static bool continues(const nncl_graph *g, const nncl_param_entry *prev,
                      const nncl_param_entry *p) {
    return p->pack >= 0 && p->pack == prev->pack &&
           p->pack_offset == prev->pack_offset + nncl_pack_span(g->ctx, prev);
}

/* Splits the entries into runs; runs[i] spans entries [first[i], first[i+1]). */
static nncl_status make_runs(nncl_optimizer *opt, size_t *first) {
    nncl_graph *g = opt->g;
    for (size_t e = 0; e < opt->n_entries; e++) {
        const nncl_param_entry *p = &g->params[opt->entries[e].param];
        if (e && continues(g, &g->params[opt->entries[e - 1].param], p)) continue;
        first[opt->n_runs++] = e;
    }
    first[opt->n_runs] = opt->n_entries;
    for (size_t r = 0; r < opt->n_runs; r++) {
        opt->runs[r].first_entry = first[r];
        opt->runs[r].end_entry = first[r + 1];
        const nncl_param_entry *a = &g->params[opt->entries[first[r]].param];
        const nncl_param_entry *z = &g->params[opt->entries[first[r + 1] - 1].param];
        nncl_optim_run *run = &opt->runs[r];
        size_t start = a->pack >= 0 ? a->pack_offset : 0;
        run->floats = (a->pack >= 0 ? z->pack_offset : 0) + (size_t)z->numel - start;
        cl_mem value = a->pack >= 0 ? g->packs[a->pack].value : a->value;
        cl_mem grad = a->pack >= 0 ? g->packs[a->pack].grad : a->grad;
        nncl_status st = nncl_sub_buffer(value, start, run->floats, &run->value);
        if (st == NNCL_OK) st = nncl_sub_buffer(grad, start, run->floats, &run->grad);
        float init = opt->p.kind == NNCL_OPTIM_ADAGRAD ? opt->p.initial_accumulator : 0.0f;
        for (int k = 0; k < opt->n_states && st == NNCL_OK; k++) {
            st = nncl_buffer_create(g->ctx, run->floats * sizeof(float), &run->state[k]);
            if (st == NNCL_OK && k == 0 && init != 0.0f)
                st = nncl_buffer_fill(g->ctx, run->state[k], init, run->floats);
            for (size_t e = first[r]; e < first[r + 1] && st == NNCL_OK; e++) {
                const nncl_param_entry *p = &g->params[opt->entries[e].param];
                st = nncl_sub_buffer(run->state[k], (p->pack >= 0 ? p->pack_offset : 0) - start,
                                     (size_t)p->numel, &opt->entries[e].state[k]);
            }
        }
        if (st != NNCL_OK) return st;
    }
    return NNCL_OK;
}

static void optimizer_orphan(void *obj);

nncl_status nncl_optimizer_create(nncl_graph *g, const nncl_optim_params *params,
                                  nncl_optimizer **out) {
    if (!out || !params)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_optimizer_create: NULL argument");
    *out = NULL;
    nncl_status st = nncl_graph_check(g, "nncl_optimizer_create");
    if (st != NNCL_OK) return st;
    nncl_optim_params p = *params;
    st = resolve(&p);
    if (st == NNCL_OK) st = nncl_params_pack(g);
    if (st != NNCL_OK) return st;
    nncl_optimizer *opt = calloc(1, sizeof *opt);
    size_t slots = g->n_params ? g->n_params : 1;
    size_t *first = calloc(slots + 1, sizeof *first);
    if (opt) {
        opt->entries = calloc(slots, sizeof *opt->entries);
        opt->runs = calloc(slots, sizeof *opt->runs);
    }
    if (!opt || !first || !opt->entries || !opt->runs) {
        free(first);
        nncl_optimizer_destroy(opt);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_optimizer_create: out of memory");
    }
    opt->g = g;
    if (!nncl_dependents_add(&g->users, opt, optimizer_orphan)) {
        free(first);
        opt->g = NULL;
        nncl_optimizer_destroy(opt);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_optimizer_create: out of memory");
    }
    opt->p = p;
    opt->base_lr = p.lr;
    opt->n_states = state_count(&p);
    for (size_t i = 0; i < g->n_params; i++)
        if (g->params[i].trainable) opt->entries[opt->n_entries++].param = i;
    st = make_runs(opt, first);
    free(first);
    if (st == NNCL_OK) st = nncl_buffer_create(g->ctx, 2 * sizeof(float), &opt->scale);
    if (st == NNCL_OK) st = nncl_buffer_fill(g->ctx, opt->scale, 1.0f, 1);
    if (st == NNCL_OK && p.clip_grad_norm > 0)
        st = nncl_buffer_create(g->ctx, slots * sizeof(float), &opt->squares);
    if (st != NNCL_OK) {
        nncl_optimizer_destroy(opt);
        return st;
    }
    *out = opt;
    return NNCL_OK;
}

/* The optimizer's device memory and kernels. */
static void optimizer_release_device(nncl_optimizer *opt) {
    nncl_optim_active_release(opt);
    nncl_context *ctx = opt->g ? opt->g->ctx : NULL;
    for (size_t i = 0; ctx && i < opt->n_entries; i++)
        for (int k = 0; k < NNCL_OPTIM_STATES; k++) {
            nncl_buffer_release(ctx, opt->entries[i].state[k]);
            opt->entries[i].state[k] = NULL;
        }
    for (size_t i = 0; ctx && i < opt->n_runs; i++) {
        nncl_buffer_release(ctx, opt->runs[i].value);
        nncl_buffer_release(ctx, opt->runs[i].grad);
        for (int k = 0; k < NNCL_OPTIM_STATES; k++)
            nncl_buffer_release(ctx, opt->runs[i].state[k]);
        opt->runs[i] = (nncl_optim_run){0};
    }
    if (ctx) {
        nncl_buffer_release(ctx, opt->scale);
        nncl_buffer_release(ctx, opt->squares);
    }
    opt->scale = opt->squares = NULL;
    nncl_launch_sites_release(&opt->launches);
}

/* The graph is being destroyed before the optimizer. */
static void optimizer_orphan(void *obj) {
    nncl_optimizer *opt = obj;
    optimizer_release_device(opt);
    opt->g = NULL;
}

void nncl_optimizer_destroy(nncl_optimizer *opt) {
    if (!opt) return;
    optimizer_release_device(opt);
    if (opt->g) nncl_dependents_remove(&opt->g->users, opt);
    free(opt->entries);
    free(opt->runs);
    free(opt);
}

nncl_status nncl_optimizer_check(const nncl_optimizer *opt, const char *call) {
    if (!opt) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: optimizer is NULL", call);
    if (!opt->g)
        return nncl_fail(NNCL_ERROR_STATE, "%s: the optimizer's graph was destroyed before it",
                         call);
    return nncl_graph_check(opt->g, call);
}

int64_t nncl_optimizer_steps(const nncl_optimizer *opt) {
    return opt ? opt->steps : 0;
}

/* scale[0] from the global gradient norm, all on the device. */
static nncl_status clip(nncl_optimizer *opt) {
    nncl_graph *g = opt->g;
    nncl_status st = NNCL_OK;
    for (size_t i = 0; i < opt->n_active && st == NNCL_OK; i++)
        st = nncl_sum(g->ctx, opt->active[i].grad, opt->active[i].floats, true, 1.0f, opt->squares,
                      i);
    if (st != NNCL_OK) return st;
    cl_int count = (cl_int)opt->n_active;
    cl_float max_norm = opt->p.clip_grad_norm;
    return nncl_launch(g->ctx, "clip_scale", 1,
                       NNCL_ARGS(NNCL_ARG(opt->squares), NNCL_ARG(count), NNCL_ARG(max_norm),
                                 NNCL_ARG(opt->scale)));
}

nncl_status nncl_optimizer_step(nncl_optimizer *opt) {
    nncl_status checked = nncl_optimizer_check(opt, "nncl_optimizer_step");
    if (checked != NNCL_OK) return checked;
    const nncl_optim_params *p = &opt->p;
    nncl_status st = nncl_optim_active_refresh(opt);
    if (st != NNCL_OK) return st;
    nncl_launch_sites_enter(opt->g->ctx, &opt->launches, NNCL_PROFILE_OPTIMIZER);
    opt->g->param_version++;
    if (p->clip_grad_norm > 0) st = clip(opt);
    opt->steps++;
    double t = (double)opt->steps;
    cl_float lr = nncl_optimizer_lr(opt);
    if (p->kind == NNCL_OPTIM_ADAGRAD) lr = (cl_float)(lr / (1.0 + (t - 1.0) * p->lr_decay));
    cl_float bias1 = (cl_float)(1.0 - pow(p->beta1, t)), bias2 = (cl_float)(1.0 - pow(p->beta2, t));
    cl_int kind = p->kind, nesterov = p->nesterov, centered = p->centered, first = opt->steps == 1;
    for (size_t i = 0; i < opt->n_active && st == NNCL_OK; i++) {
        nncl_optim_run *run = &opt->active[i];
        cl_mem *s = run->state;
        /* Kinds with fewer states get the weights as unused arguments. */
        cl_mem s0 = s[0] ? s[0] : run->value, s1 = s[1] ? s[1] : run->value,
               s2 = s[2] ? s[2] : run->value;
        cl_int n = (cl_int)run->floats;
        st = nncl_launch(
            opt->g->ctx, "optim_update", (size_t)n,
            NNCL_ARGS(NNCL_ARG(run->value), NNCL_ARG(run->grad), NNCL_ARG(s0), NNCL_ARG(s1),
                      NNCL_ARG(s2), NNCL_ARG(n), NNCL_ARG(kind), NNCL_ARG(opt->scale), NNCL_ARG(lr),
                      NNCL_ARG(p->momentum), NNCL_ARG(p->dampening), NNCL_ARG(p->beta1),
                      NNCL_ARG(p->beta2), NNCL_ARG(p->eps), NNCL_ARG(p->alpha), NNCL_ARG(p->rho),
                      NNCL_ARG(p->weight_decay), NNCL_ARG(p->l1), NNCL_ARG(bias1), NNCL_ARG(bias2),
                      NNCL_ARG(nesterov), NNCL_ARG(centered), NNCL_ARG(first)));
    }
    nncl_launch_sites_leave(opt->g->ctx);
    if (st == NNCL_OK && opt->g->ctx->check_numerics) st = nncl_numerics_update(opt->g);
    return st;
}
