/* Which convolution algorithm runs each layer and direction: the one the
 * context forces, else the fastest applicable one, timed once on the
 * layer's own shapes and remembered per device and shape in the cache
 * directory, so later processes start without timing anything. Direct
 * kernels are only timed on shallow layers (depthwise, first layers). In
 * deterministic mode a fixed rule on the layer's shape decides instead. */
#include "conv.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const conv_algorithm *const algorithms[] = {
    &nncl_conv_im2col, &nncl_conv_gemm1x1,   &nncl_conv_winograd, &nncl_conv_direct,
    &nncl_conv_rows,   &nncl_conv_winograd4, &nncl_conv_local,    &nncl_conv_winograd4_fused};
#define N_ALGORITHMS (sizeof algorithms / sizeof algorithms[0])
static const char *const direction_names[] = {"forward", "backward-data", "backward-weights"};

nncl_status nncl_conv_algorithm_parse(const char *name, int *out) {
    *out = -1;
    if (!name || !*name || !strcmp(name, "auto")) return NNCL_OK;
    for (size_t i = 0; i < N_ALGORITHMS; i++)
        if (!strcmp(name, algorithms[i]->name)) {
            *out = (int)i;
            return NNCL_OK;
        }
    return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                     "convolution algorithm '%s' is unknown: use auto, im2col, gemm1x1, winograd, "
                     "winograd4, winograd4_fused, direct, rows or local",
                     name);
}

bool nncl_conv_any_layer(const nncl_node *node, conv_direction dir) {
    (void)node;
    (void)dir;
    return true;
}

size_t nncl_conv_no_workspace(const nncl_node *node, conv_direction dir) {
    (void)node;
    (void)dir;
    return 0;
}

size_t nncl_conv_workspace(const nncl_graph *g, const nncl_node *node) {
    size_t most = 0;
    for (int dir = 0; dir < 3; dir++)
        for (size_t a = 0; a < N_ALGORITHMS; a++) {
            bool candidate = g->ctx->conv_algorithm < 0 || (int)a == g->ctx->conv_algorithm ||
                             algorithms[a] == &nncl_conv_im2col;
            if (!candidate || !algorithms[a]->applies(node, (conv_direction)dir)) continue;
            size_t bytes = algorithms[a]->workspace(node, (conv_direction)dir);
            if (bytes > most) most = bytes;
        }
    return most;
}

/* "device|driver|gemm|kernels|shape|direction", spaces made underscores:
 * the GEMM path and the kernels' fingerprint are part of what was timed. */
static void choice_key(const nncl_graph *g, const nncl_node *node, conv_direction dir, char *key,
                       size_t size) {
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    conv_dims d = nncl_conv_dims(node);
    snprintf(
        key, size,
        "%s|%s|%s|%016llx|n%zu,c%zu,k%zu,g%zu,in%lldx%lldx%lld,k%lldx%lldx%lld,s%lldx%lldx%lld,"
        "p%lldx%lldx%lld,%lldx%lldx%lld,d%lldx%lldx%lld,out%lldx%lldx%lld|%s",
        g->ctx->info.name, g->ctx->info.driver_version,
        nncl_gemm_is_packed(g->ctx) ? "packed" : "clblast",
        (unsigned long long)g->ctx->kernels_fingerprint, d.batch, d.c_in, d.c_out, d.groups,
        (long long)w->in[0], (long long)w->in[1], (long long)w->in[2], (long long)w->kernel[0],
        (long long)w->kernel[1], (long long)w->kernel[2], (long long)w->stride[0],
        (long long)w->stride[1], (long long)w->stride[2], (long long)w->pad_begin[0],
        (long long)w->pad_begin[1], (long long)w->pad_begin[2], (long long)w->pad_end[0],
        (long long)w->pad_end[1], (long long)w->pad_end[2], (long long)w->dilation[0],
        (long long)w->dilation[1], (long long)w->dilation[2], (long long)w->out[0],
        (long long)w->out[1], (long long)w->out[2], direction_names[dir]);
    for (char *c = key; *c; c++)
        if (*c == ' ' || *c == '\n') *c = '_';
}

static void cache_path(const nncl_context *ctx, char *path, size_t size) {
    snprintf(path, size, "%s/conv-algorithms.txt", ctx->cache_dir);
}

/* The remembered choice for key, or -1. Lines: "<key> <algorithm>". */
static int cached_choice(const nncl_context *ctx, const char *key) {
    if (!ctx->cache_dir[0]) return -1;
    char path[1100], line[1024];
    cache_path(ctx, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int found = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ' ') {
            line[strcspn(line, "\n")] = 0;
            for (size_t a = 0; a < N_ALGORITHMS; a++)
                if (!strcmp(line + n + 1, algorithms[a]->name)) found = (int)a;
        }
    fclose(f);
    return found;
}

static void remember(const nncl_context *ctx, const char *key, int choice) {
    if (!ctx->cache_dir[0]) return;
    char path[1100];
    cache_path(ctx, path, sizeof path);
    FILE *f =
        fopen(path, "a"); /* one short append per line: whole lines even with writers racing */
    if (!f) return;
    fprintf(f, "%s %s\n", key, algorithms[choice]->name);
    fclose(f);
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One run of algorithm a on scratch output memory, in seconds. */
static nncl_status time_one(nncl_graph *g, const nncl_node *node, conv_direction dir,
                            const conv_algorithm *a, const conv_buffers *b, double *seconds_taken) {
    double t0 = seconds();
    nncl_status st = a->run(g, node, dir, b);
    cl_int err = clFinish(g->ctx->queue);
    if (st != NNCL_OK) return st;
    if (err != CL_SUCCESS) return nncl_fail_cl(err, "clFinish");
    *seconds_taken = seconds() - t0;
    return NNCL_OK;
}

/* Direct kernels do a whole reduction per work-item: timing them on deep
 * layers costs seconds and they never win there. Local memory pays only
 * where it is fast: on GPUs. */
static bool worth_timing(const nncl_node *node, conv_direction dir, const conv_algorithm *a) {
    return a->applies(node, dir) && (a != &nncl_conv_direct || nncl_conv_dims(node).kg <= 64) &&
           (a != &nncl_conv_local || node->graph->ctx->info.type == NNCL_DEVICE_GPU);
}

static nncl_status measure(nncl_graph *g, const nncl_node *node, conv_direction dir, int *choice) {
    int candidates = 0;
    for (size_t a = 0; a < N_ALGORITHMS; a++)
        if (worth_timing(node, dir, algorithms[a])) candidates++, *choice = (int)a;
    if (candidates == 1) return NNCL_OK;
    conv_dims d = nncl_conv_dims(node);
    size_t floats = d.batch * d.c_in * d.spatial_in;
    if (d.batch * d.c_out * d.spatial_out > floats) floats = d.batch * d.c_out * d.spatial_out;
    if (d.c_out * d.kg > floats) floats = d.c_out * d.kg;
    cl_mem scratch;
    nncl_status st = nncl_buffer_create(g->ctx, floats * sizeof(float), &scratch);
    if (st != NNCL_OK) return st;
    /* Reads the layer's real input, weights and output gradient; writes scratch. */
    conv_buffers b = {NULL, nncl_node_param(g, node, 0)->value, NULL, false, false};
    nncl_conv_space(node, &b.x, &b.y);
    if (dir == CONV_FORWARD) b.y = scratch;
    if (dir == CONV_BACKWARD_DATA) b.x = scratch;
    if (dir == CONV_BACKWARD_WEIGHTS) b.w = scratch;
    /* Each candidate runs once to build its kernels, then in rounds, one
     * run of each in turn, so that a busy moment slows them all alike; the
     * best run of each counts. Quick layers get up to 9 rounds (a single
     * run of a millisecond a busy moment can double), slow ones one. */
    double best[N_ALGORITHMS], spent = 0;
    for (size_t a = 0; a < N_ALGORITHMS; a++)
        best[a] = 1e30;
    for (int round = 0; round < 10 && (round < 2 || spent < 0.05) && st == NNCL_OK; round++)
        for (size_t a = 0; a < N_ALGORITHMS && st == NNCL_OK; a++) {
            if (!worth_timing(node, dir, algorithms[a])) continue;
            double t = 0;
            st = time_one(g, node, dir, algorithms[a], &b, &t);
            if (round == 0) continue;
            spent += t;
            if (t < best[a]) best[a] = t;
        }
    for (size_t a = 0; a < N_ALGORITHMS; a++)
        if (best[a] < best[*choice]) *choice = (int)a;
    nncl_buffer_release(g->ctx, scratch);
    return st;
}

/* The deterministic mode's rule: the algorithm that usually wins for the
 * shape (1x1 as a GEMM, then Winograd for 3x3 stride 1), else im2col. */
static int by_rule(const nncl_node *node, conv_direction dir) {
    const conv_algorithm *preferred[] = {&nncl_conv_gemm1x1, &nncl_conv_winograd};
    for (size_t p = 0; p < sizeof preferred / sizeof preferred[0]; p++)
        for (size_t a = 0; a < N_ALGORITHMS; a++)
            if (algorithms[a] == preferred[p] && preferred[p]->applies(node, dir)) return (int)a;
    return 0;
}

nncl_status nncl_conv_pick(nncl_graph *g, nncl_node *node, conv_direction dir,
                           const conv_algorithm **out) {
    int8_t *slot = &nncl_conv_attrs(node)->algorithm[dir];
    if (*slot < 0) {
        int forced = g->ctx->conv_algorithm, choice = 0; /* im2col serves every layer */
        if (forced >= 0) {
            if (algorithms[forced]->applies(node, dir)) choice = forced;
        } else if (g->ctx->deterministic) {
            choice = by_rule(node, dir);
        } else {
            char key[900];
            choice_key(g, node, dir, key, sizeof key);
            int cached = cached_choice(g->ctx, key);
            if (cached >= 0 && algorithms[cached]->applies(node, dir)) {
                choice = cached;
            } else {
                nncl_profile_kind phase = g->ctx->phase;
                nncl_status st = measure(g, node, dir, &choice);
                g->ctx->phase = phase;
                if (st != NNCL_OK) return st;
                remember(g->ctx, key, choice);
            }
        }
        *slot = (int8_t)choice;
    }
    *out = algorithms[*slot];
    return NNCL_OK;
}
