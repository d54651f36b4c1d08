/* Batch normalisation: training and eval mode, affine or not, over NC, NCW,
 * NCHW and NCDHW, against the host reference and finite differences; and
 * the running statistics against PyTorch's update rule. */
#include "harness.h"
#include "ref/ref.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct bn_case {
    nncl_batch_norm_params p;
    nncl_shape x;
    bool eval;
} bn_case;

static nncl_node *build_bn(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    return nncl_batch_norm(g, x[0], &((const bn_case *)cfg)->p, "bn");
}

static void ref_bn_case(const double *const *x, const double *const *params, const int32_t *labels,
                        double *y, const void *cfg) {
    (void)labels;
    const bn_case *c = cfg;
    int64_t inner = 1;
    for (int i = 2; i < c->x.rank; i++)
        inner *= c->x.dims[i];
    bool affine = !c->p.no_affine;
    const double *const *stats = params + (affine ? 2 : 0);
    ref_batch_norm(x[0], affine ? params[0] : NULL, affine ? params[1] : NULL, stats[0], stats[1],
                   c->x.dims[0], c->x.dims[1], inner, c->p.eps ? c->p.eps : 1e-5, !c->eval, y, NULL,
                   NULL);
}

static const bn_case bn_cases[] = {
    {.x = NNCL_SHAPE(6, 4), .eval = false},
    {.x = NNCL_SHAPE(3, 3, 7), .eval = false},
    {.x = NNCL_SHAPE(130, 2, 9), .eval = false}, /* more rows than a work-group has items */
    {.x = NNCL_SHAPE(3, 2, 100), .eval = false}, /* rows split into parts */
    /* channels of more values than one work-item takes alone (4096), too
     * few to fill the cores: a work-group per channel */
    {.x = NNCL_SHAPE(2, 2, 2100), .eval = false},
    {{.eps = 1e-3f}, NNCL_SHAPE(2, 5, 4, 3), false},
    {{.no_affine = true}, NNCL_SHAPE(2, 3, 3, 5), false},
    {.x = NNCL_SHAPE(2, 2, 3, 3, 2), .eval = false},
    {.x = NNCL_SHAPE(1, 4, 3, 5), .eval = true},
    {{.no_affine = true}, NNCL_SHAPE(2, 3, 6), true},
    {.x = NNCL_SHAPE(2, 2, 2, 3, 3), .eval = true},
};

static void test_batch_norm_against_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bn_cases / sizeof bn_cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "batch_norm case %zu (%s)", i,
                 bn_cases[i].eval ? "eval" : "training");
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {bn_cases[i].x},
                      .eval = bn_cases[i].eval,
                      .build = build_bn,
                      .ref = ref_bn_case,
                      .cfg = &bn_cases[i]};
        check_op(&c);
    }
}

/* Two training steps update running_mean / running_var as PyTorch does:
 * running = (1 - m) * running + m * batch, with the unbiased variance. */
static void test_running_statistics(void **state) {
    (void)state;
    const int64_t n = 4, c = 3, inner = 10, numel = n * c * inner;
    const float momentum = 0.25f;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(n, c, inner));
    nncl_batch_norm(g, x, &(nncl_batch_norm_params){.momentum = momentum}, "bn");
    double want_mean[3] = {0, 0, 0}, want_var[3] = {1, 1, 1};
    for (int step = 0; step < 2; step++) {
        double xd[120], y[120], mean[3], var[3];
        random_fill(xd, numel, 50 + step, -3.0, 5.0);
        float *xf = to_float(xd, numel);
        ASSERT_OK(nncl_graph_set_input(g, x, xf, (size_t)numel * sizeof(float)));
        ASSERT_OK(nncl_graph_forward(g));
        free(xf);
        ref_batch_norm(xd, NULL, NULL, NULL, NULL, n, c, inner, 1e-5, true, y, mean, var);
        for (int k = 0; k < 3; k++) {
            double unbiased = var[k] * (double)(n * inner) / (double)(n * inner - 1);
            want_mean[k] = (1 - momentum) * want_mean[k] + momentum * mean[k];
            want_var[k] = (1 - momentum) * want_var[k] + momentum * unbiased;
        }
    }
    float got_mean[3], got_var[3];
    ASSERT_OK(nncl_graph_param_read(g, "bn.running_mean", got_mean, sizeof got_mean));
    ASSERT_OK(nncl_graph_param_read(g, "bn.running_var", got_var, sizeof got_var));
    assert_close("running_mean", got_mean, want_mean, 3, 1e-5, 1e-5);
    assert_close("running_var", got_var, want_var, 3, 1e-5, 1e-5);
    /* Eval mode leaves them alone. */
    nncl_graph_set_training(g, false);
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_param_read(g, "bn.running_mean", got_mean, sizeof got_mean));
    assert_close("running_mean after eval", got_mean, want_mean, 3, 1e-5, 1e-5);
    nncl_graph_destroy(g);
}

/* Statistics stay accurate when the mean is far from zero (values near
 * 1000, spread 0.3): one pass of plain sums of x and x^2 would lose the
 * variance to cancellation. */
static void test_statistics_far_from_zero(void **state) {
    (void)state;
    enum { N = 8, C = 2, INNER = 50, NUMEL = N * C * INNER };
    double xd[NUMEL], y[NUMEL];
    random_fill(xd, NUMEL, 77, 999.5, 1000.5);
    float *xf = to_float(xd, NUMEL);
    /* The inputs as the device sees them, rounded to float. */
    for (int i = 0; i < NUMEL; i++)
        xd[i] = xf[i];
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(N, C, INNER));
    nncl_node *out = nncl_batch_norm(g, x, &(nncl_batch_norm_params){.no_affine = true}, "bn");
    ASSERT_OK(nncl_graph_set_input(g, x, xf, sizeof(float) * NUMEL));
    ASSERT_OK(nncl_graph_forward(g));
    float got[NUMEL];
    ASSERT_OK(nncl_graph_read(g, out, got, sizeof got));
    ref_batch_norm(xd, NULL, NULL, NULL, NULL, N, C, INNER, 1e-5, true, y, NULL, NULL);
    assert_close("batch norm of values near 1000", got, y, NUMEL, 1e-3, 1e-3);
    free(xf);
    nncl_graph_destroy(g);
}

/* A convolution with bias, then batch norm: the bias is left to the batch
 * norm (no pass of its own), which must give what conv + bias, then the
 * normalisation give, in training and in eval mode, gradients included;
 * the conv's value is refused (it lacks the bias) unless kept. */
typedef struct biased_case {
    bool transpose, eval;
} biased_case;

static nncl_node *build_biased(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const biased_case *c = cfg;
    nncl_node *h =
        c->transpose
            ? nncl_conv_transpose(
                  g, x[0], &(nncl_conv_transpose_params){.out_channels = 3, .kernel = {3}}, "conv")
            : nncl_conv(g, x[0], &(nncl_conv_params){.out_channels = 3, .kernel = {3}}, "conv");
    return nncl_batch_norm(g, h, NULL, "bn");
}

static void ref_biased(const double *const *x, const double *const *params, const int32_t *labels,
                       double *y, const void *cfg) {
    (void)labels;
    const biased_case *c = cfg;
    ref_window w = {.spatial = 1, .in = {9}, .kernel = {3}, .stride = {1}, .dilation = {1}};
    assert_true(ref_window_out(&w));
    int64_t len = c->transpose ? 11 : 7;
    double h[2 * 3 * 11];
    if (c->transpose) {
        ref_window t = {.spatial = 1, .in = {9}, .kernel = {3}, .stride = {1}, .dilation = {1}};
        t.out[0] = 11;
        ref_conv_transpose(x[0], params[0], params[1], 2, 2, 3, 1, &t, h);
    } else {
        ref_conv(x[0], params[0], params[1], 2, 2, 3, 1, &w, h);
    }
    ref_batch_norm(h, params[2], params[3], params[4], params[5], 2, 3, len, 1e-5, !c->eval, y,
                   NULL, NULL);
}

static void test_bias_left_to_batch_norm(void **state) {
    (void)state;
    static const biased_case cases[] = {{false, false}, {false, true}, {true, false}, {true, true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "%s with bias, then batch norm (%s)",
                 cases[i].transpose ? "conv_transpose" : "conv",
                 cases[i].eval ? "eval" : "training");
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {NNCL_SHAPE(2, 2, 9)},
                      .eval = cases[i].eval,
                      .build = build_biased,
                      .ref = ref_biased,
                      .cfg = &cases[i]};
        check_op(&c);
    }
}

/* The running mean tracks conv + bias, as PyTorch's does; the conv's own
 * value reads only when kept. */
static void test_bias_left_running_mean(void **state) {
    (void)state;
    enum { N = 3, C = 2, L = 8 };
    for (int keep = 0; keep < 2; keep++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(N, 1, L));
        nncl_node *h =
            nncl_conv(g, x, &(nncl_conv_params){.out_channels = C, .kernel = {1}}, "conv");
        nncl_batch_norm(g, h, &(nncl_batch_norm_params){.momentum = 0.5f}, "bn");
        if (keep) ASSERT_OK(nncl_graph_keep(g, h));
        const float w[C] = {2.0f, -1.0f}, b[C] = {3.0f, 10.0f};
        ASSERT_OK(nncl_graph_param_write(g, "conv.weight", w, sizeof w));
        ASSERT_OK(nncl_graph_param_write(g, "conv.bias", b, sizeof b));
        double xd[N * L];
        random_fill(xd, N * L, 9, -1.0, 1.0);
        float *xf = to_float(xd, N * L);
        ASSERT_OK(nncl_graph_set_input(g, x, xf, sizeof(float) * N * L));
        ASSERT_OK(nncl_graph_forward(g));
        double want[C] = {0, 0}, want_h[N * C * L];
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int j = 0; j < L; j++) {
                    want_h[(n * C + c) * L + j] = w[c] * (double)xf[n * L + j] + b[c];
                    want[c] += 0.5 * want_h[(n * C + c) * L + j] / (N * L);
                }
        float got[C], got_h[N * C * L];
        ASSERT_OK(nncl_graph_param_read(g, "bn.running_mean", got, sizeof got));
        assert_close("running mean after conv + bias", got, want, C, 1e-5, 1e-5);
        nncl_status st = nncl_graph_read(g, h, got_h, sizeof got_h);
        if (keep) {
            ASSERT_OK(st);
            assert_close("kept conv value", got_h, want_h, N * C * L, 1e-5, 1e-5);
        } else {
            assert_int_equal(st, NNCL_ERROR_STATE);
            assert_contains(nncl_last_error(), "without its bias");
        }
        free(xf);
        nncl_graph_destroy(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_norm_against_reference),
        cmocka_unit_test(test_statistics_far_from_zero),
        cmocka_unit_test(test_running_statistics),
        cmocka_unit_test(test_bias_left_to_batch_norm),
        cmocka_unit_test(test_bias_left_running_mean),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
