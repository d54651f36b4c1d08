/* Searching CLBlast's Xgemm parameters for the device: candidate sets that
 * satisfy the kernel's divisibility rules (as CLBlast's own tuner states
 * them), each timed through CLBlastOverrideParameters on the GEMM shapes
 * the context has run, weighted by their call counts. The winner is kept
 * in the cache directory per device and driver (read by gemm.c). */
#include "gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GEMMK, KREG, KWG, KWI, MDIMA, MDIMC, MWG, NDIMB, NDIMC, NWG, SA, SB, STRM, STRN, VWM, VWN };

static bool valid(const size_t *p) {
    if (p[MWG] % (p[MDIMC] * p[VWM]) || p[NWG] % (p[NDIMC] * p[VWN])) return false;
    if (p[MWG] % (p[MDIMA] * p[VWM]) || p[NWG] % (p[NDIMB] * p[VWN])) return false;
    if (p[KWG] % ((p[MDIMC] * p[NDIMC]) / p[MDIMA]) || p[KWG] % ((p[MDIMC] * p[NDIMC]) / p[NDIMB]))
        return false;
    return p[KWG] % p[KWI] == 0;
}

/* Every valid set of a grid around what works on CPUs and GPUs alike
 * (GEMMK 0, no local memory or with it, vector widths 1-8). */
static size_t grid(size_t (*out)[NNCL_XGEMM_PARAMS], size_t cap) {
    static const size_t mwg[] = {16, 32, 64}, nwg[] = {16, 32, 64}, kwg[] = {16, 32},
                        dim[] = {4, 8}, vwm[] = {1, 2, 4, 8}, vwn[] = {1, 2, 4}, share[] = {0, 1};
    size_t n = 0;
#define EACH(arr, v) for (size_t i_##v = 0; i_##v < sizeof arr / sizeof arr[0]; i_##v++)
    EACH(mwg, a)
    EACH(nwg, b) EACH(kwg, c) EACH(dim, d) EACH(dim, e) EACH(vwm, f) EACH(vwn, h) EACH(share, s) {
        size_t p[NNCL_XGEMM_PARAMS] = {0};
        p[KREG] = 1, p[KWI] = 2, p[MWG] = mwg[i_a], p[NWG] = nwg[i_b], p[KWG] = kwg[i_c];
        p[MDIMC] = p[MDIMA] = dim[i_d], p[NDIMC] = p[NDIMB] = dim[i_e];
        p[VWM] = vwm[i_f], p[VWN] = vwn[i_h], p[SA] = p[SB] = share[i_s];
        if (valid(p) && n < cap) memcpy(out[n++], p, sizeof p);
    }
#undef EACH
    return n;
}

/* Weighted seconds of all recorded shapes with the parameters in force;
 * each shape runs once untimed (kernel builds), then the faster of two. */
static nncl_status time_shapes(nncl_context *ctx, cl_mem a, cl_mem b, cl_mem c, double *total) {
    *total = 0;
    for (size_t i = 0; i < ctx->gemm->n_shapes; i++) {
        nncl_gemm_shape s = ctx->gemm->shapes[i];
        double best = 1e30;
        for (int run = 0; run < 3; run++) {
            double t0 = nncl_gemm_now();
            nncl_status st =
                nncl_gemm(ctx, s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a, 0,
                          s.trans_a ? s.m : s.k, b, 0, s.trans_b ? s.k : s.n, 0.0f, c, 0, s.n);
            cl_int err = clFinish(ctx->queue);
            if (st != NNCL_OK) return st;
            if (err != CL_SUCCESS) return nncl_fail_cl(err, "clFinish");
            if (run && nncl_gemm_now() - t0 < best) best = nncl_gemm_now() - t0;
        }
        ctx->gemm->shapes[i].calls = s.calls; /* timing runs do not count */
        *total += best * (double)s.calls;
    }
    return NNCL_OK;
}

static double weighted_gflop(const nncl_context *ctx) {
    double f = 0;
    for (size_t i = 0; i < ctx->gemm->n_shapes; i++) {
        const nncl_gemm_shape *s = &ctx->gemm->shapes[i];
        f += 2.0 * (double)s->m * (double)s->n * (double)s->k * (double)s->calls * 1e-9;
    }
    return f;
}

static void describe(const size_t *p, char *out, size_t size) {
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < NNCL_XGEMM_PARAMS && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s=%zu", i ? " " : "",
                                 nncl_xgemm_names[i], p[i]);
}

static nncl_status store(const nncl_context *ctx, const size_t *p) {
    char path[1100], key[600];
    nncl_gemm_tuning_path(ctx, path, sizeof path);
    nncl_gemm_device_key(ctx, key, sizeof key);
    FILE *f = fopen(path, "a");
    if (!f) return nncl_fail(NNCL_ERROR_IO, "nncl_context_tune_gemm: cannot write %s", path);
    fprintf(f, "%s", key);
    for (int i = 0; i < NNCL_XGEMM_PARAMS; i++)
        fprintf(f, " %zu", p[i]);
    fprintf(f, "\n");
    return fclose(f) == 0 ? NNCL_OK
                          : nncl_fail(NNCL_ERROR_IO, "nncl_context_tune_gemm: writing %s", path);
}

static nncl_status buffers(nncl_context *ctx, cl_mem *m) {
    size_t a = 4, b = 4, c = 4;
    for (size_t i = 0; i < ctx->gemm->n_shapes; i++) {
        const nncl_gemm_shape *s = &ctx->gemm->shapes[i];
        if (s->m * s->k > a) a = s->m * s->k;
        if (s->k * s->n > b) b = s->k * s->n;
        if (s->m * s->n > c) c = s->m * s->n;
    }
    nncl_status st = nncl_buffer_create(ctx, a * sizeof(float), &m[0]);
    if (st == NNCL_OK) st = nncl_buffer_create(ctx, b * sizeof(float), &m[1]);
    if (st == NNCL_OK) st = nncl_buffer_create(ctx, c * sizeof(float), &m[2]);
    return st;
}

nncl_status nncl_context_tune_gemm(nncl_context *ctx, int32_t candidates,
                                   void (*progress)(void *user, int32_t done, int32_t total),
                                   void *user, nncl_gemm_tuning *out) {
    if (!ctx || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_context_tune_gemm: %s is NULL",
                         ctx ? "out" : "ctx");
    memset(out, 0, sizeof *out);
    if (!ctx->gemm->n_shapes)
        return nncl_fail(NNCL_ERROR_STATE, "nncl_context_tune_gemm: no GEMM has run on this "
                                           "context; run a training step first");
    if (!ctx->cache_dir[0])
        return nncl_fail(NNCL_ERROR_STATE,
                         "nncl_context_tune_gemm: the cache directory is off, so the result "
                         "could not be kept");
    if (candidates <= 0) candidates = 12;
    enum { GRID_CAP = 4096 };
    size_t(*all)[NNCL_XGEMM_PARAMS] = calloc(GRID_CAP, sizeof *all);
    if (!all) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_context_tune_gemm: out of memory");
    size_t n_all = grid(all, GRID_CAP);
    cl_mem m[3] = {NULL, NULL, NULL};
    nncl_status st = buffers(ctx, m);
    double weight = weighted_gflop(ctx);
    /* Twice: the first pass also pays for first-touch memory and warm-up. */
    for (int pass = 0; pass < 2 && st == NNCL_OK; pass++)
        st = time_shapes(ctx, m[0], m[1], m[2], &out->before_seconds);
    size_t best[NNCL_XGEMM_PARAMS] = {0};
    const size_t *shipped = nncl_gemm_shipped(ctx);
    double best_time = 1e30;
    for (int32_t i = 0; i < candidates && st == NNCL_OK; i++) {
        /* The shipped set first, then an even spread over the grid. */
        const size_t *p = i == 0 && shipped ? shipped : all[(size_t)i * n_all / (size_t)candidates];
        double t;
        out->tried++;
        if (!nncl_gemm_apply(ctx, p) || time_shapes(ctx, m[0], m[1], m[2], &t) != NNCL_OK) {
            out->failed++; /* CLBlast refused this set on this device */
        } else if (t < best_time) {
            best_time = t;
            memcpy(best, p, sizeof best);
        }
        if (progress) progress(user, i + 1, candidates);
    }
    for (int i = 0; i < 3; i++)
        nncl_buffer_release(ctx, m[i]);
    free(all);
    if (st != NNCL_OK) return st;
    if (best_time >= 1e30)
        return nncl_fail(NNCL_ERROR_GEMM,
                         "nncl_context_tune_gemm: CLBlast rejected all %d "
                         "candidates",
                         (int)out->tried);
    nncl_gemm_apply(ctx, best);
    out->shapes = (int32_t)ctx->gemm->n_shapes;
    out->gflops_before = weight / out->before_seconds;
    if (best_time >= out->before_seconds) { /* keep what the next context would use anyway */
        out->after_seconds = out->before_seconds;
        out->gflops_after = out->gflops_before;
        snprintf(out->parameters, sizeof out->parameters, "unchanged: no candidate was faster");
        return NNCL_OK;
    }
    out->after_seconds = best_time;
    out->gflops_after = weight / best_time;
    describe(best, out->parameters, sizeof out->parameters);
    return store(ctx, best);
}
