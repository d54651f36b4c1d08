/* Group, instance and layer norm against a host reference (double, written
 * from the definitions) and finite differences, over 1D, 2D and 3D inputs,
 * affine or not; instance norm's running statistics; bad arguments. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum norm_kind { GROUP, INSTANCE, LAYER } norm_kind;

typedef struct norm_case {
    norm_kind kind;
    nncl_shape x;
    int64_t groups;    /* group norm */
    int32_t norm_dims; /* layer norm */
    bool affine;
} norm_case;

static nncl_node *build_norm(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const norm_case *c = cfg;
    switch (c->kind) {
    case GROUP:
        return nncl_group_norm(g, x[0], c->groups, &(nncl_norm_params){.no_affine = !c->affine},
                               "n");
    case INSTANCE:
        return nncl_instance_norm(g, x[0], &(nncl_instance_norm_params){.affine = c->affine}, "n");
    default:
        return nncl_layer_norm(g, x[0], c->norm_dims, &(nncl_norm_params){.no_affine = !c->affine},
                               "n");
    }
}

static int64_t numel(nncl_shape s) {
    int64_t n = 1;
    for (int32_t i = 0; i < s.rank; i++)
        n *= s.dims[i];
    return n;
}

/* Rows of row_len values, each normalised (biased variance, eps 1e-5);
 * then weight and bias at index widx(i). */
static void ref_norm(const double *const *x, const double *const *params, const int32_t *labels,
                     double *y, const void *cfg) {
    (void)labels;
    const norm_case *c = cfg;
    int64_t total = numel(c->x), row_len, inner = 1, channels = c->x.dims[1];
    for (int32_t d = 2; d < c->x.rank; d++)
        inner *= c->x.dims[d];
    if (c->kind == LAYER) {
        row_len = 1;
        for (int32_t d = c->x.rank - c->norm_dims; d < c->x.rank; d++)
            row_len *= c->x.dims[d];
    } else {
        row_len = c->kind == GROUP ? channels / c->groups * inner : inner;
    }
    for (int64_t r = 0; r < total / row_len; r++) {
        double mean = 0, var = 0;
        for (int64_t j = 0; j < row_len; j++)
            mean += x[0][r * row_len + j];
        mean /= (double)row_len;
        for (int64_t j = 0; j < row_len; j++)
            var += (x[0][r * row_len + j] - mean) * (x[0][r * row_len + j] - mean);
        var /= (double)row_len;
        for (int64_t j = 0; j < row_len; j++) {
            int64_t i = r * row_len + j;
            double v = (x[0][i] - mean) / sqrt(var + 1e-5);
            if (c->affine) {
                int64_t a = c->kind == LAYER ? j : (i / inner) % channels;
                v = v * params[0][a] + params[1][a];
            }
            y[i] = v;
        }
    }
}

static const norm_case cases[] = {
    {GROUP, NNCL_SHAPE(2, 6, 3, 4), .groups = 3, .affine = true},
    {GROUP, NNCL_SHAPE(3, 4, 5), .groups = 2, .affine = true},
    {GROUP, NNCL_SHAPE(2, 4, 2, 3, 2), .groups = 4, .affine = false},
    {GROUP, NNCL_SHAPE(2, 6, 3, 3), .groups = 1, .affine = true},
    {GROUP, NNCL_SHAPE(4, 6), .groups = 3, .affine = true},
    {INSTANCE, NNCL_SHAPE(2, 3, 7), .affine = true},
    {INSTANCE, NNCL_SHAPE(2, 3, 4, 5), .affine = false},
    {INSTANCE, NNCL_SHAPE(1, 2, 3, 2, 3), .affine = true},
    {LAYER, NNCL_SHAPE(3, 10), .norm_dims = 1, .affine = true},
    {LAYER, NNCL_SHAPE(2, 3, 4, 5), .norm_dims = 2, .affine = true},
    {LAYER, NNCL_SHAPE(2, 5, 7), .norm_dims = 1, .affine = false},
    {LAYER, NNCL_SHAPE(2, 3, 4), .norm_dims = 3, .affine = true},
};

static void test_norms_against_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "norm case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_norm,
                      .ref = ref_norm,
                      .cfg = &cases[i]};
        check_op(&c);
    }
}

typedef struct lrn_case {
    nncl_shape x;
    int64_t size;
    double alpha, beta, k;
} lrn_case;

static nncl_node *build_lrn(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const lrn_case *c = cfg;
    return nncl_local_response_norm(g, x[0], c->size, (float)c->alpha, (float)c->beta, (float)c->k,
                                    "lrn");
}

static void ref_lrn(const double *const *x, const double *const *params, const int32_t *labels,
                    double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const lrn_case *c = cfg;
    int64_t channels = c->x.dims[1], inner = numel(c->x) / c->x.dims[0] / channels;
    for (int64_t i = 0; i < numel(c->x); i++) {
        int64_t ch = (i / inner) % channels, base = i - ch * inner;
        double sum = 0;
        for (int64_t j = ch - c->size / 2; j <= ch + (c->size - 1) / 2; j++)
            if (j >= 0 && j < channels) sum += x[0][base + j * inner] * x[0][base + j * inner];
        y[i] = x[0][i] / pow(c->k + c->alpha / (double)c->size * sum, c->beta);
    }
}

static void test_local_response_norm(void **state) {
    (void)state;
    static const lrn_case cases[] = {
        {NNCL_SHAPE(2, 7, 3, 3), 5, 1e-4, 0.75, 1}, /* AlexNet's */
        {NNCL_SHAPE(2, 5, 4), 2, 0.5, 0.6, 2},      /* even size: more after than before */
        {NNCL_SHAPE(1, 6, 2, 2, 2), 3, 0.9, 1.2, 1.5},
        {NNCL_SHAPE(3, 4), 7, 0.3, 0.75, 1}, /* window wider than the channels */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "lrn case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_lrn,
                      .ref = ref_lrn,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 4));
    assert_null(nncl_local_response_norm(g, x, 0, 1e-4f, 0.75f, 1.0f, "lrn"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_graph_error(g), "op 'local_response_norm' node 'lrn'");
    assert_contains(nncl_graph_error(g), "size 0 must be > 0");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 4));
    assert_null(nncl_local_response_norm(g, x, 3, 1e-4f, 0.75f, 0.0f, "lrn"));
    assert_contains(nncl_graph_error(g), "k 0 > 0");
    nncl_graph_destroy(g);
}

/* Instance norm with running statistics: two training passes move them by
 * momentum towards the batch's mean of instance means and unbiased
 * variances; eval then normalises with them. */
static void test_instance_norm_running_stats(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 2, 4));
    nncl_node *y = nncl_instance_norm(
        g, x, &(nncl_instance_norm_params){.track_running_stats = true, .momentum = 0.5f}, "in");
    float in[16] = {1, 2, 3, 6, -1, 0, 1, 0, 2, 2, 2, 6, 5, 3, 1, -1};
    ASSERT_OK(nncl_graph_set_input(g, x, in, sizeof in));
    double rm[2] = {0, 0}, rv[2] = {1, 1};
    for (int pass = 0; pass < 2; pass++) {
        ASSERT_OK(nncl_graph_forward(g));
        for (int c = 0; c < 2; c++) {
            double m = 0, v = 0;
            for (int n = 0; n < 2; n++) {
                const float *row = in + (n * 2 + c) * 4;
                double mean = (row[0] + row[1] + row[2] + row[3]) / 4.0, ss = 0;
                for (int j = 0; j < 4; j++)
                    ss += (row[j] - mean) * (row[j] - mean);
                m += mean / 2;
                v += ss / 3 / 2;
            }
            rm[c] = 0.5 * rm[c] + 0.5 * m;
            rv[c] = 0.5 * rv[c] + 0.5 * v;
        }
    }
    float got[2];
    ASSERT_OK(nncl_graph_param_read(g, "in.running_mean", got, sizeof got));
    assert_close("running_mean", got, rm, 2, 1e-5, 1e-6);
    ASSERT_OK(nncl_graph_param_read(g, "in.running_var", got, sizeof got));
    assert_close("running_var", got, rv, 2, 1e-5, 1e-6);
    nncl_graph_set_training(g, false);
    ASSERT_OK(nncl_graph_forward(g));
    float out[16];
    double want[16];
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    for (int i = 0; i < 16; i++)
        want[i] = (in[i] - rm[(i / 4) % 2]) / sqrt(rv[(i / 4) % 2] + 1e-5);
    assert_close("eval output", out, want, 16, 1e-5, 1e-5);
    nncl_graph_destroy(g);
}

static void test_norms_refuse_bad_arguments(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 4));
    assert_null(nncl_group_norm(g, x, 4, NULL, "gn"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "op 'group_norm' node 'gn'");
    assert_contains(nncl_graph_error(g), "input [2, 6, 4]: channels 6 must divide into groups 4");
    nncl_graph_destroy(g);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 4));
    assert_null(nncl_group_norm(g, x, 0, NULL, "gn"));
    assert_contains(nncl_graph_error(g), "groups 0");
    nncl_graph_destroy(g);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 4));
    assert_null(nncl_layer_norm(g, x, 4, NULL, "ln"));
    assert_contains(nncl_graph_error(g), "op 'layer_norm' node 'ln'");
    assert_contains(nncl_graph_error(g), "normalized_dims 4 must be in 1..3");
    nncl_graph_destroy(g);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 4));
    assert_null(nncl_layer_norm(g, x, 1, &(nncl_norm_params){.eps = -1}, "ln"));
    assert_contains(nncl_graph_error(g), "eps -1 must be >= 0");
    nncl_graph_destroy(g);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 6));
    assert_null(nncl_instance_norm(g, x, NULL, "in"));
    assert_contains(nncl_graph_error(g), "op 'instance_norm' node 'in'");
    assert_contains(nncl_graph_error(g), "[2, 6] must be features of rank >= 3");
    nncl_graph_destroy(g);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 4));
    assert_null(nncl_instance_norm(g, x, &(nncl_instance_norm_params){.momentum = 2}, "in"));
    assert_contains(nncl_graph_error(g), "momentum 2 in [0, 1]");
    nncl_graph_destroy(g);

    /* Training with running statistics on one value per instance. */
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 1));
    nncl_instance_norm(g, x, &(nncl_instance_norm_params){.track_running_stats = true}, "in");
    float v[6] = {0};
    ASSERT_OK(nncl_graph_set_input(g, x, v, sizeof v));
    assert_int_equal(nncl_graph_forward(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_last_error(), "more than one value per instance");
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norms_against_reference),
        cmocka_unit_test(test_instance_norm_running_stats),
        cmocka_unit_test(test_local_response_norm),
        cmocka_unit_test(test_norms_refuse_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
