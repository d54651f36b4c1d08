/* The GEMM calls a context has run (what nncl-tune tunes on and
 * nncl-bench --gemm measures), and timing one product on host data, so
 * that a benchmark can set the packed kernels or CLBlast beside a host
 * BLAS on the very shapes the layers run. */
#include "../runtime/checked.h"
#include "gemm.h"

#include <string.h>
#include <time.h>

double nncl_gemm_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void nncl_gemm_record(nncl_context *ctx, bool ta, bool tb, size_t m, size_t n, size_t k) {
    struct nncl_gemm_state *g = ctx->gemm;
    for (size_t i = 0; i < g->n_shapes; i++) {
        nncl_gemm_shape *s = &g->shapes[i];
        if (s->trans_a == ta && s->trans_b == tb && s->m == m && s->n == n && s->k == k) {
            s->calls++;
            return;
        }
    }
    if (g->n_shapes < sizeof g->shapes / sizeof g->shapes[0])
        g->shapes[g->n_shapes++] = (nncl_gemm_shape){ta, tb, m, n, k, 1};
}

nncl_status nncl_context_gemm_calls(const nncl_context *ctx, nncl_gemm_call *out, size_t capacity,
                                    size_t *count) {
    if (!ctx || !count || (!out && capacity))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_context_gemm_calls: %s is NULL",
                         !ctx     ? "ctx"
                         : !count ? "count"
                                  : "out");
    const struct nncl_gemm_state *g = ctx->gemm;
    for (size_t i = 0; i < g->n_shapes && i < capacity; i++) {
        const nncl_gemm_shape *s = &g->shapes[i];
        out[i] = (nncl_gemm_call){s->trans_a,    s->trans_b,    (int64_t)s->m,
                                  (int64_t)s->n, (int64_t)s->k, (int64_t)s->calls};
    }
    *count = g->n_shapes;
    return NNCL_OK;
}

static nncl_status check_call(const nncl_gemm_call *s, const float *a, const float *b, int32_t reps,
                              const double *seconds) {
    const char *null = !s ? "shape" : !a ? "a" : !b ? "b" : !seconds ? "seconds" : NULL;
    if (null)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_context_time_gemm: %s is NULL", null);
    if (s->m < 1 || s->n < 1 || s->k < 1 || s->m > INT32_MAX || s->n > INT32_MAX ||
        s->k > INT32_MAX || reps < 1)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_context_time_gemm: %lld x %lld x %lld, %d reps: each dim must be "
                         "1..2^31-1 and reps >= 1",
                         (long long)s->m, (long long)s->n, (long long)s->k, (int)reps);
    return NNCL_OK;
}

nncl_status nncl_context_time_gemm(nncl_context *ctx, const nncl_gemm_call *shape, const float *a,
                                   const float *b, float *c, int32_t reps, double *seconds) {
    if (!ctx) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_context_time_gemm: ctx is NULL");
    nncl_status st = check_call(shape, a, b, reps, seconds);
    if (st != NNCL_OK) return st;
    size_t m = (size_t)shape->m, n = (size_t)shape->n, k = (size_t)shape->k, ab, bb, cb;
    if (!nncl_mul_size(m, k, &ab) || !nncl_mul_size(ab, sizeof(float), &ab) ||
        !nncl_mul_size(k, n, &bb) || !nncl_mul_size(bb, sizeof(float), &bb) ||
        !nncl_mul_size(m, n, &cb) || !nncl_mul_size(cb, sizeof(float), &cb))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_context_time_gemm: %zu x %zu x %zu overflows a buffer size", m, n,
                         k);
    cl_mem mem[3] = {NULL, NULL, NULL};
    st = nncl_buffer_create(ctx, ab, &mem[0]);
    if (st == NNCL_OK) st = nncl_buffer_create(ctx, bb, &mem[1]);
    if (st == NNCL_OK) st = nncl_buffer_create(ctx, cb, &mem[2]);
    if (st == NNCL_OK) st = nncl_buffer_write(ctx, mem[0], 0, a, ab);
    if (st == NNCL_OK) st = nncl_buffer_write(ctx, mem[1], 0, b, bb);
    /* The measured runs must not count as the context's own calls. */
    struct nncl_gemm_state *g = ctx->gemm;
    size_t n_shapes = g->n_shapes;
    nncl_gemm_shape saved[sizeof g->shapes / sizeof g->shapes[0]];
    memcpy(saved, g->shapes, sizeof saved);
    double best = 1e300;
    for (int32_t run = 0; run <= reps && st == NNCL_OK; run++) {
        double t0 = nncl_gemm_now();
        st = nncl_gemm(ctx, shape->trans_a, shape->trans_b, m, n, k, 1.0f, mem[0], 0,
                       shape->trans_a ? m : k, mem[1], 0, shape->trans_b ? k : n, 0.0f, mem[2], 0,
                       n);
        cl_int err = clFinish(ctx->queue);
        if (st == NNCL_OK && err != CL_SUCCESS) st = nncl_fail_cl(err, "clFinish after a GEMM");
        double t = nncl_gemm_now() - t0;
        if (run && t < best) best = t;
    }
    memcpy(g->shapes, saved, sizeof saved);
    g->n_shapes = n_shapes;
    if (st == NNCL_OK && c) st = nncl_buffer_read(ctx, mem[2], 0, c, cb);
    for (int i = 0; i < 3; i++)
        nncl_buffer_release(ctx, mem[i]);
    if (st == NNCL_OK) *seconds = best;
    return st;
}
