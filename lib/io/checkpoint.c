/* Checkpoints: a graph's parameters and buffers, ops' counters, the
 * optimizer's state and the counters that make resuming exact, in one
 * safetensors file. Loading checks the whole file against the graph first
 * and changes nothing unless everything (or, non-strict, what fits) loads. */
#include "../train/train.h"
#include "safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STATE_NAMES 3

/* torch.optim's names for each kind's state buffers, in our slot order. */
static const char *const *state_names(nncl_optim_kind kind) {
    static const char *const sgd[] = {"momentum_buffer", NULL, NULL};
    static const char *const adam[] = {"exp_avg", "exp_avg_sq", NULL};
    static const char *const adagrad[] = {"sum", NULL, NULL};
    static const char *const rmsprop[] = {"square_avg", "grad_avg", "momentum_buffer"};
    static const char *const adadelta[] = {"square_avg", "acc_delta", NULL};
    switch (kind) {
    case NNCL_OPTIM_SGD:
        return sgd;
    case NNCL_OPTIM_ADAM:
    case NNCL_OPTIM_ADAMW:
        return adam;
    case NNCL_OPTIM_ADAGRAD:
        return adagrad;
    case NNCL_OPTIM_RMSPROP:
        return rmsprop;
    default:
        return adadelta;
    }
}

/* Everything a checkpoint holds, as one list: name, where it lives, size. */
typedef struct item {
    char name[300];
    nncl_st_dtype dtype;
    nncl_shape shape;
    cl_mem mem;       /* F32 on the device */
    int64_t *counter; /* I64 on the host (num_batches_tracked) */
    bool optional;    /* optimizer state: checked only when an optimizer is given */
} item;

typedef struct item_list {
    item *items;
    size_t n;
} item_list;

static nncl_status add_item(item_list *l, const char *name, nncl_st_dtype dtype, nncl_shape shape,
                            cl_mem mem, int64_t *counter) {
    item *grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    if (!grown) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "checkpoint: out of memory");
    l->items = grown;
    item *it = &l->items[l->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", name);
    it->dtype = dtype;
    it->shape = shape;
    it->mem = mem;
    it->counter = counter;
    return NNCL_OK;
}

static nncl_status collect(nncl_graph *g, const nncl_optimizer *opt, item_list *l) {
    memset(l, 0, sizeof *l);
    nncl_status st = NNCL_OK;
    for (size_t i = 0; i < g->n_params && st == NNCL_OK; i++)
        st = add_item(l, g->params[i].name, NNCL_ST_F32, g->params[i].shape, g->params[i].value,
                      NULL);
    for (size_t i = 0; i < g->n_nodes && st == NNCL_OK; i++) {
        nncl_node *node = g->nodes[i];
        const char *suffix;
        int64_t *counter = node->vt->counter ? node->vt->counter(node, &suffix) : NULL;
        if (!counter) continue;
        char name[300];
        snprintf(name, sizeof name, "%s.%s", node->name, suffix);
        st = add_item(l, name, NNCL_ST_I64, (nncl_shape){0}, NULL, counter);
    }
    if (!opt) return st;
    const char *const *names = state_names(opt->p.kind);
    for (size_t e = 0; e < opt->n_entries && st == NNCL_OK; e++) {
        const nncl_param_entry *p = &g->params[opt->entries[e].param];
        for (int k = 0; k < opt->n_states && st == NNCL_OK; k++) {
            char name[300];
            snprintf(name, sizeof name, "optimizer.%s.%s", p->name, names[k]);
            st = add_item(l, name, NNCL_ST_F32, p->shape, opt->entries[e].state[k], NULL);
            if (st == NNCL_OK) l->items[l->n - 1].optional = true;
        }
    }
    return st;
}

/* Keys nncl writes itself: "format" and the nncl.* counters. */
#define OWN_KEYS 6

/* A caller's metadata key may not take one of nncl's (it would be
 * overwritten or shadow it on load), nor repeat an earlier key. */
static nncl_status check_user_key(const nncl_metadata *metadata, size_t i) {
    const char *key = metadata[i].key;
    if (!key || !metadata[i].value)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_save: metadata %zu has a NULL %s", i,
                         key ? "value" : "key");
    if (!strcmp(key, "format") || !strncmp(key, "nncl.", 5))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_save: metadata key '%s' is nncl's own (\"format\" and \"nncl.*\" "
                         "are reserved)",
                         key);
    for (size_t j = 0; j < i; j++)
        if (!strcmp(metadata[j].key, key))
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_save: metadata key '%s' is given twice (entries %zu and %zu)",
                             key, j, i);
    return NNCL_OK;
}

nncl_status nncl_save(nncl_graph *g, const nncl_optimizer *opt, const char *path,
                      const nncl_metadata *metadata, size_t n_metadata) {
    if (!path || (n_metadata && !metadata))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_save: NULL argument");
    if (!g || !g->ctx) return nncl_graph_check(g, "nncl_save");
    if (opt && opt->g != g)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_save: the optimizer belongs to another graph");
    item_list l;
    nncl_status st = collect(g, opt, &l);
    nncl_st_tensor *t = calloc(l.n ? l.n : 1, sizeof *t);
    if (st == NNCL_OK && !t) st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_save: out of memory");
    for (size_t i = 0; i < l.n && st == NNCL_OK; i++) {
        item *it = &l.items[i];
        t[i].name = it->name;
        t[i].dtype = it->dtype;
        t[i].shape = it->shape;
        if (it->dtype == NNCL_ST_I64) {
            t[i].data = it->counter;
            t[i].bytes = sizeof(int64_t);
            continue;
        }
        t[i].bytes = (size_t)nncl_shape_numel(it->shape) * sizeof(float);
        void *host = malloc(t[i].bytes);
        t[i].data = host;
        st = host ? nncl_buffer_read(g->ctx, it->mem, 0, host, t[i].bytes)
                  : nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_save: out of memory");
    }
    char seed[32], step[32], steps[32], pos[32], kind[16];
    snprintf(seed, sizeof seed, "%" PRIu64, g->seed);
    snprintf(step, sizeof step, "%" PRIu64, g->step);
    nncl_st_meta *meta = calloc(n_metadata + OWN_KEYS, sizeof *meta);
    if (st == NNCL_OK && !meta)
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_save: out of memory");
    size_t n_meta = 0;
    if (meta) {
        meta[n_meta++] = (nncl_st_meta){"format", "pt"}; /* what safetensors.torch expects */
        meta[n_meta++] = (nncl_st_meta){"nncl.seed", seed};
        meta[n_meta++] = (nncl_st_meta){"nncl.step", step};
    }
    if (meta && opt) {
        snprintf(steps, sizeof steps, "%" PRId64, opt->steps);
        snprintf(pos, sizeof pos, "%" PRId64, opt->schedule_pos);
        snprintf(kind, sizeof kind, "%d", (int)opt->p.kind);
        meta[n_meta++] = (nncl_st_meta){"nncl.optimizer.kind", kind};
        meta[n_meta++] = (nncl_st_meta){"nncl.optimizer.steps", steps};
        meta[n_meta++] = (nncl_st_meta){"nncl.optimizer.schedule_position", pos};
    }
    for (size_t i = 0; i < n_metadata && st == NNCL_OK; i++)
        if ((st = check_user_key(metadata, i)) == NNCL_OK)
            meta[n_meta++] = (nncl_st_meta){metadata[i].key, metadata[i].value};
    if (st == NNCL_OK) st = nncl_st_write(path, t, l.n, meta, n_meta);
    for (size_t i = 0; t && i < l.n; i++)
        if (l.items[i].dtype == NNCL_ST_F32) free((void *)t[i].data);
    free(meta);
    free(t);
    free(l.items);
    return st;
}

/* Appends to a bounded text. */
static void note(char *buf, size_t size, size_t *used, const char *fmt, ...) NNCL_PRINTF(4, 5);
static void note(char *buf, size_t size, size_t *used, const char *fmt, ...) {
    if (!buf || *used >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
}

static bool parse_u64(const char *s, uint64_t *out) {
    if (!s) return false;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || end == s) return false;
    *out = v;
    return true;
}

static bool parse_i64(const char *s, int64_t *out) {
    if (!s) return false;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || end == s) return false;
    *out = v;
    return true;
}

nncl_status nncl_load(nncl_graph *g, nncl_optimizer *opt, const char *path,
                      const nncl_load_options *options) {
    if (!path) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_load: NULL argument");
    if (!g || !g->ctx) return nncl_graph_check(g, "nncl_load");
    if (opt && opt->g != g)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_load: the optimizer belongs to another graph");
    bool strict = !(options && options->non_strict);
    char *report = options ? options->report : NULL;
    size_t report_size = options ? options->report_size : 0, report_used = 0;
    if (report && report_size) report[0] = '\0';
    nncl_st_file f;
    nncl_status st = nncl_st_read(path, &f);
    if (st != NNCL_OK) return st;
    int64_t kind = -1;
    if (opt &&
        (!parse_i64(nncl_st_meta_get(&f, "nncl.optimizer.kind"), &kind) || kind != opt->p.kind)) {
        nncl_st_close(&f);
        if (kind < 0)
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_load: %s holds no optimizer state; load it without the "
                             "optimizer to take the weights only",
                             path);
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_load: %s holds %s state, not %s; load it without the optimizer to "
                         "take the weights only",
                         path, nncl_optim_kind_name((nncl_optim_kind)kind),
                         nncl_optim_kind_name(opt->p.kind));
    }
    item_list l;
    st = collect(g, opt, &l);
    bool *use = calloc(l.n ? l.n : 1, sizeof *use);
    if (st == NNCL_OK && !use) st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_load: out of memory");
    char problems[4096] = "";
    size_t used = 0, bad = 0;
    /* Check everything before touching the graph. */
    for (size_t i = 0; i < l.n && st == NNCL_OK; i++) {
        item *it = &l.items[i];
        const nncl_st_tensor *t = nncl_st_find(&f, it->name);
        char a[128], b[128];
        if (!t) {
            note(problems, sizeof problems, &used, "%smissing '%s'", bad++ ? "; " : "", it->name);
            continue;
        }
        if (t->dtype != it->dtype || !nncl_shape_equal(t->shape, it->shape)) {
            note(problems, sizeof problems, &used, "%s'%s' is %s %s in the file, %s %s here",
                 bad++ ? "; " : "", it->name, t->dtype == NNCL_ST_F32 ? "F32" : "I64",
                 nncl_shape_str(t->shape, a, sizeof a), it->dtype == NNCL_ST_F32 ? "F32" : "I64",
                 nncl_shape_str(it->shape, b, sizeof b));
            continue;
        }
        use[i] = true;
    }
    for (size_t k = 0; k < f.n && st == NNCL_OK; k++) {
        bool known = false;
        for (size_t i = 0; i < l.n && !known; i++)
            known = !strcmp(l.items[i].name, f.tensors[k].name);
        /* Optimizer state is extra only when an optimizer was given. */
        if (!known && (opt || strncmp(f.tensors[k].name, "optimizer.", 10)))
            note(problems, sizeof problems, &used, "%sunexpected '%s'", bad++ ? "; " : "",
                 f.tensors[k].name);
    }
    if (st == NNCL_OK && bad && strict)
        st = nncl_fail(NNCL_ERROR_SHAPE, "nncl_load: %s does not match the graph: %s", path,
                       problems);
    if (st == NNCL_OK && bad) note(report, report_size, &report_used, "skipped: %s", problems);
    for (size_t i = 0; i < l.n && st == NNCL_OK; i++) {
        if (!use[i]) continue;
        const nncl_st_tensor *t = nncl_st_find(&f, l.items[i].name);
        if (l.items[i].dtype == NNCL_ST_I64)
            memcpy(l.items[i].counter, t->data, sizeof(int64_t));
        else
            st = nncl_buffer_write(g->ctx, l.items[i].mem, 0, t->data, t->bytes);
    }
    g->param_version++;
    /* The dropout generator's state: its seed and position. */
    uint64_t u;
    if (st == NNCL_OK && parse_u64(nncl_st_meta_get(&f, "nncl.seed"), &u)) g->seed = u;
    if (st == NNCL_OK && parse_u64(nncl_st_meta_get(&f, "nncl.step"), &u)) g->step = u;
    int64_t v;
    if (st == NNCL_OK && opt) {
        if (parse_i64(nncl_st_meta_get(&f, "nncl.optimizer.steps"), &v)) opt->steps = v;
        if (parse_i64(nncl_st_meta_get(&f, "nncl.optimizer.schedule_position"), &v))
            opt->schedule_pos = v;
    }
    free(use);
    free(l.items);
    nncl_st_close(&f);
    return st;
}

nncl_status nncl_checkpoint_metadata(const char *path, const char *key, char *value, size_t size) {
    if (!path || !key || !value || !size)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_checkpoint_metadata: NULL argument");
    nncl_st_file f;
    nncl_status st = nncl_st_read(path, &f);
    if (st != NNCL_OK) return st;
    const char *v = nncl_st_meta_get(&f, key);
    if (v)
        snprintf(value, size, "%s", v);
    else
        st = nncl_fail(NNCL_ERROR_NOT_FOUND, "%s: no metadata '%s'", path, key);
    nncl_st_close(&f);
    return st;
}
