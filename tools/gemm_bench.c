/* nncl-bench --gemm: the GEMMs one training step runs, each timed with the
 * context's GEMM and, in alternation, with OpenBLAS's SGEMM on the same
 * data and the same cores, so the gap to what the hardware gives a tuned
 * host BLAS is visible per shape (and the products are checked against it). */
#include "gemm_bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef NNCL_HAVE_OPENBLAS
#include <cblas.h>
#include <unistd.h>

/* OpenBLAS picks its kernels for the CPU once, as it loads; a release older
 * than the CPU falls back to its generic SSE3 kernels ("Prescott") at a
 * fifth of the speed, which would flatter nncl. The kernel family the CPU
 * supports is named in OPENBLAS_CORETYPE and the program run again. */
void gemm_bench_prepare(char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || strcmp(openblas_get_corename(), "Prescott")) return;
    __builtin_cpu_init();
    const char *core = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                       : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                         : NULL;
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);
}

static double host_seconds(const nncl_gemm_call *s, const float *a, const float *b, float *c,
                           int reps) {
    double best = 1e300;
    for (int r = 0; r <= reps; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                    s->trans_b ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                    a, s->trans_a ? (int)s->m : (int)s->k, b, s->trans_b ? (int)s->k : (int)s->n,
                    0.0f, c, (int)s->n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double t = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (r && t < best) best = t;
    }
    return best;
}

/* Largest |x - y| over the largest |y|: both sides sum k products. */
static double relative_error(const float *x, const float *y, size_t n) {
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)x[i] - (double)y[i]));
        scale = fmax(scale, fabs((double)y[i]));
    }
    return diff / scale;
}
#else
void gemm_bench_prepare(char **argv) {
    (void)argv;
}
#endif

static const char *openblas_name(void) {
#ifdef NNCL_HAVE_OPENBLAS
    static char name[96];
    snprintf(name, sizeof name, "OpenBLAS %s kernels, %d threads", openblas_get_corename(),
             openblas_get_num_threads());
    return name;
#else
    return "built without OpenBLAS";
#endif
}

/* A pause before each side's runs: PoCL's worker threads keep spinning for
 * a while after a kernel (OpenBLAS's would share the cores with them), and
 * both sides then start from the same idle state. */
static void settle(void) {
    nanosleep(&(struct timespec){0, 100000000}, NULL);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct measured {
    nncl_gemm_call call;
    float *a, *b, *c, *ref;
    double *dev, *host; /* per round */
    double nncl_s, host_s, error;
} measured;

static int by_work(const void *x, const void *y) {
    const measured *a = x, *b = y;
    double wa = (double)a->call.m * (double)a->call.n * (double)a->call.k * (double)a->call.calls;
    double wb = (double)b->call.m * (double)b->call.n * (double)b->call.k * (double)b->call.calls;
    return (wa < wb) - (wa > wb);
}

static double gflop(const nncl_gemm_call *s) {
    return 2.0 * (double)s->m * (double)s->n * (double)s->k * 1e-9;
}

/* Random operands and room for the rounds' times. */
static int prepare(measured *m, int rounds) {
    const nncl_gemm_call *s = &m->call;
    size_t na = (size_t)(s->m * s->k), nb = (size_t)(s->k * s->n), nc = (size_t)(s->m * s->n);
    m->a = malloc(na * sizeof *m->a), m->b = malloc(nb * sizeof *m->b);
    m->c = malloc(nc * sizeof *m->c), m->ref = malloc(nc * sizeof *m->ref);
    m->dev = calloc((size_t)rounds, sizeof *m->dev);
    m->host = calloc((size_t)rounds, sizeof *m->host);
    if (!m->a || !m->b || !m->c || !m->ref || !m->dev || !m->host) {
        fprintf(stderr,
                "nncl-bench: GEMM: out of host memory for the %lld x %lld x %lld operands\n",
                (long long)s->m, (long long)s->n, (long long)s->k);
        return 2;
    }
    for (size_t i = 0; i < na; i++)
        m->a[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
    for (size_t i = 0; i < nb; i++)
        m->b[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
    return 0;
}

/* One round of one shape: nncl's GEMM, then OpenBLAS's, each best of 3. */
static int time_round(nncl_context *ctx, measured *m, int round) {
    settle();
    if (nncl_context_time_gemm(ctx, &m->call, m->a, m->b, m->c, 3, &m->dev[round]) != NNCL_OK)
        return 1;
#ifdef NNCL_HAVE_OPENBLAS
    settle();
    m->host[round] = host_seconds(&m->call, m->a, m->b, m->ref, 3);
#endif
    return 0;
}

static void finish(measured *m, int rounds) {
    m->nncl_s = median_of(m->dev, rounds);
    m->host_s = median_of(m->host, rounds);
#ifdef NNCL_HAVE_OPENBLAS
    m->error = relative_error(m->c, m->ref, (size_t)(m->call.m * m->call.n));
#endif
}

static void release(measured *m) {
    free(m->a), free(m->b), free(m->c), free(m->ref), free(m->dev), free(m->host);
}

int gemm_bench(nncl_context *ctx, const nncl_gemm_call *calls, size_t n, int rounds, bool json) {
    measured *m = calloc(n ? n : 1, sizeof *m);
    if (!m) return 1;
    for (size_t i = 0; i < n; i++)
        m[i].call = calls[i];
    qsort(m, n, sizeof *m, by_work);
    double dev_total = 0, host_total = 0, work = 0, worst = 0;
    int rc = 0;
    srand(2);
    if (!json)
        printf("GEMMs of one training step, by share of its GEMM work (%d alternating rounds, "
               "median; GFLOP/s; %s):\n  %-3s %-2s %6s %7s %6s %6s %8s %9s %6s\n",
               rounds, openblas_name(), "op", "", "M", "N", "K", "calls", "nncl", "OpenBLAS",
               "ratio");
    for (size_t i = 0; i < n && !rc; i++)
        rc = prepare(&m[i], rounds);
    /* Each round visits every shape, so a shape's rounds lie seconds apart
     * and a busy spell on this machine skews one round, not the median. */
    for (int r = 0; r < rounds && !rc; r++)
        for (size_t i = 0; i < n && !rc; i++)
            rc = time_round(ctx, &m[i], r);
    for (size_t i = 0; i < n && !rc; i++) {
        finish(&m[i], rounds);
        const nncl_gemm_call *s = &m[i].call;
        double f = gflop(s);
        dev_total += m[i].nncl_s * (double)s->calls;
        host_total += m[i].host_s * (double)s->calls;
        work += f * (double)s->calls;
        worst = fmax(worst, m[i].error);
        if (json) continue;
        printf("  %c%c %6lld %7lld %6lld %6lld %8.1f", s->trans_a ? 'T' : 'N',
               s->trans_b ? 'T' : 'N', (long long)s->m, (long long)s->n, (long long)s->k,
               (long long)s->calls, f / m[i].nncl_s);
        if (m[i].host_s > 0)
            printf(" %9.1f %5.0f%%\n", f / m[i].host_s, 100 * m[i].host_s / m[i].nncl_s);
        else
            printf("\n");
    }
    if (rc == 1) {
        fprintf(stderr, "nncl-bench: GEMM: %s\n", nncl_last_error());
    } else if (json) {
        printf("{\"gemm_shapes\": %zu, \"gemm_gflop_per_step\": %.3f, \"nncl_gflops\": %.2f, "
               "\"openblas_gflops\": %.2f, \"max_relative_error\": %.3g}\n",
               n, work, work / dev_total, host_total > 0 ? work / host_total : 0.0, worst);
    } else {
        printf("  all %zu shapes, weighted by calls: %.2f GFLOP per step, nncl %.1f GFLOP/s "
               "(%.1f ms)",
               n, work, work / dev_total, dev_total * 1e3);
        if (host_total > 0)
            printf(", OpenBLAS %.1f GFLOP/s (%.1f ms): %.0f%% of OpenBLAS\n"
                   "  largest difference from OpenBLAS's product: %.2g of its largest value\n",
                   work / host_total, host_total * 1e3, 100 * host_total / dev_total, worst);
        else
            printf("\n  (built without OpenBLAS: no host reference)\n");
    }
    /* Sums of k products of values in [-1, 1], rounded in another order. */
    if (!rc && worst > 1e-4) {
        fprintf(stderr, "nncl-bench: GEMM differs from OpenBLAS by %.3g\n", worst);
        rc = 1;
    }
    for (size_t i = 0; i < n; i++)
        release(&m[i]);
    free(m);
    return rc;
}
