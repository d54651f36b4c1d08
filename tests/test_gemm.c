/* The GEMM layer through its public measuring calls: the product
 * nncl_context_time_gemm runs equals a naive host product for every
 * transposition and for shapes across the register tile, panel and k-chunk
 * edges (run once per GEMM path), and nncl_context_gemm_calls counts what
 * the layers run and nothing the timing runs. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* C = op(A) op(B) in double; A is m x k (k x m when ta), B k x n (n x k). */
static void host_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double *a,
                      const double *b, double *c) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t kk = 0; kk < k; kk++)
                s += (ta ? a[kk * m + i] : a[i * k + kk]) * (tb ? b[j * k + kk] : b[kk * n + j]);
            c[i * n + j] = s;
        }
}

static void check_product(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
    double *a = malloc((size_t)(m * k) * sizeof *a), *b = malloc((size_t)(k * n) * sizeof *b),
           *want = malloc((size_t)(m * n) * sizeof *want);
    random_fill(a, m * k, (uint64_t)(m * 31 + k), -1, 1);
    random_fill(b, k * n, (uint64_t)(n * 17 + k), -1, 1);
    host_gemm(ta, tb, m, n, k, a, b, want);
    float *af = to_float(a, m * k), *bf = to_float(b, k * n),
          *got = malloc((size_t)(m * n) * sizeof *got);
    nncl_gemm_call shape = {ta, tb, m, n, k, 0};
    double seconds = -1;
    ASSERT_OK(nncl_context_time_gemm(test_context(), &shape, af, bf, got, 1, &seconds));
    assert_true(seconds > 0);
    char what[96];
    snprintf(what, sizeof what, "%c%c %lld x %lld x %lld", ta ? 'T' : 'N', tb ? 'T' : 'N',
             (long long)m, (long long)n, (long long)k);
    /* Float sums of k products of values in [-1, 1]. */
    assert_close(what, got, want, m * n, 1e-5, 1e-6 * sqrt((double)k) * 8);
    free(a), free(b), free(want), free(af), free(bf), free(got);
}

static void test_products_match_host(void **state) {
    (void)state;
    /* Tile edges (6 rows, panels of 8-32 columns), k past one chunk (512)
     * and past a transposed result's (2048), single elements; whole panels
     * read in place (row stride up to 512) and packed (640), transposed
     * copies with partial 8 x 8 blocks. */
    static const int64_t shapes[][3] = {{1, 1, 1},      {13, 37, 5},    {6, 32, 512},
                                        {7, 70, 1100},  {40, 9, 4200},  {100, 65, 513},
                                        {3, 200, 2049}, {20, 640, 100}, {33, 96, 67}};
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_product(t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2]);
}

static void test_calls_counted(void **state) {
    (void)state;
    nncl_context *ctx;
    ASSERT_OK(nncl_context_create(NULL, &ctx));
    size_t count = 99;
    ASSERT_OK(nncl_context_gemm_calls(ctx, NULL, 0, &count));
    assert_int_equal(count, 0);
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(ctx, NULL, &g));
    nncl_node *a = nncl_input(g, "a", NNCL_SHAPE(5, 7)), *b = nncl_input(g, "b", NNCL_SHAPE(7, 3));
    nncl_node *c = nncl_matmul(g, a, b, "c");
    float av[35] = {0}, bv[21] = {0}, cv[15];
    ASSERT_OK(nncl_graph_set_input(g, a, av, sizeof av));
    ASSERT_OK(nncl_graph_set_input(g, b, bv, sizeof bv));
    for (int run = 0; run < 2; run++)
        ASSERT_OK(nncl_graph_infer(g, c, cv, sizeof cv));
    nncl_gemm_call calls[4];
    ASSERT_OK(nncl_context_gemm_calls(ctx, calls, 4, &count));
    assert_int_equal(count, 1);
    /* A 5x7 by 7x3 product, whichever way round the matmul puts it. */
    assert_int_equal(calls[0].m * calls[0].n, 15);
    assert_int_equal(calls[0].k, 7);
    assert_int_equal(calls[0].calls, 2);
    double seconds;
    ASSERT_OK(nncl_context_time_gemm(ctx, &calls[0], av, bv, NULL, 3, &seconds));
    ASSERT_OK(nncl_context_gemm_calls(ctx, calls, 4, &count));
    assert_int_equal(count, 1);
    assert_int_equal(calls[0].calls, 2);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
}

static void test_bad_arguments(void **state) {
    (void)state;
    nncl_context *ctx = test_context();
    float x[4] = {0};
    double seconds;
    size_t count;
    nncl_gemm_call ok = {false, false, 2, 2, 1, 0}, empty = {false, false, 2, 0, 1, 0},
                   huge = {false, false, (int64_t)1 << 40, 2, 1, 0};
    assert_int_equal(nncl_context_gemm_calls(NULL, NULL, 0, &count), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_context_gemm_calls(ctx, NULL, 3, &count), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_context_time_gemm(ctx, &ok, NULL, x, x, 1, &seconds),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "a is NULL");
    assert_int_equal(nncl_context_time_gemm(ctx, &ok, x, x, x, 0, &seconds),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_context_time_gemm(ctx, &empty, x, x, x, 1, &seconds),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "2 x 0 x 1");
    assert_int_equal(nncl_context_time_gemm(ctx, &huge, x, x, x, 1, &seconds),
                     NNCL_ERROR_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products_match_host),
        cmocka_unit_test(test_calls_counted),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
