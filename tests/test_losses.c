/* Every loss and its gradient against PyTorch, under every reduction, with
 * class weights, an ignore index and label smoothing where the loss has
 * them; and the bad arguments each loss rejects. */
#include "harness.h"
#include "torch_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum loss_kind { CE, NLL, DICE, BCE, MSE, L1, SMOOTH_L1, HUBER, KL } loss_kind;

typedef struct loss_case {
    const char *name;
    loss_kind kind;
    nncl_reduction reduction;
    bool weighted;
    float smoothing, beta, smooth;
    bool has_ignore;
    int32_t ignore;
} loss_case;

static nncl_node *build(nncl_graph *g, const loss_case *c, nncl_node *x, nncl_node *t,
                        const nncl_loss_params *p) {
    switch (c->kind) {
    case CE:
        return nncl_cross_entropy(g, x, t, p, "loss");
    case NLL:
        return nncl_nll_loss(g, x, t, p, "loss");
    case DICE:
        return nncl_dice_loss(g, x, t, p, "loss");
    case BCE:
        return nncl_bce_with_logits(g, x, t, p, "loss");
    case MSE:
        return nncl_mse_loss(g, x, t, p, "loss");
    case L1:
        return nncl_l1_loss(g, x, t, p, "loss");
    case SMOOTH_L1:
        return nncl_smooth_l1_loss(g, x, t, p, "loss");
    case HUBER:
        return nncl_huber_loss(g, x, t, p, "loss");
    default:
        return nncl_kl_div(g, x, t, p, "loss");
    }
}

static void run_case(const loss_case *c) {
    const tensor *xt = need(c->name, "x"), *tt = need(c->name, "target");
    const tensor *w = need("loss_weights", "w");
    float *weights = to_float(w->v, w->n);
    nncl_loss_params p = {.reduction = c->reduction,
                          .class_weights = c->weighted ? weights : NULL,
                          .n_class_weights = c->weighted ? w->n : 0,
                          .label_smoothing = c->smoothing,
                          .beta = c->beta,
                          .smooth = c->smooth,
                          .has_ignore_index = c->has_ignore,
                          .ignore_index = c->ignore};
    bool classes = c->kind == CE || c->kind == NLL || c->kind == DICE;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", xt->shape);
    ASSERT_OK(nncl_input_set_requires_grad(g, x, true));
    nncl_node *t =
        classes ? nncl_input_labels_nd(g, "t", tt->shape) : nncl_input(g, "t", tt->shape);
    nncl_node *loss = build(g, c, x, t, &p);
    if (!loss) fail_msg("%s: %s", c->name, nncl_graph_error(g));
    float *xf = to_float(xt->v, xt->n);
    ASSERT_OK(nncl_graph_set_input(g, x, xf, (size_t)xt->n * sizeof(float)));
    if (classes) {
        int32_t *labels = labels_of(tt);
        ASSERT_OK(nncl_graph_set_input(g, t, labels, (size_t)tt->n * sizeof(int32_t)));
        free(labels);
    } else {
        float *tf = to_float(tt->v, tt->n);
        ASSERT_OK(nncl_graph_set_input(g, t, tf, (size_t)tt->n * sizeof(float)));
        free(tf);
    }
    ASSERT_OK(nncl_graph_forward(g));
    const tensor *want = need(c->name, "y"), *up = need(c->name, "grad_out");
    assert_int_equal(nncl_shape_numel(nncl_node_shape(loss)), want->n);
    float *got = malloc((size_t)want->n * sizeof(float));
    ASSERT_OK(nncl_graph_read(g, loss, got, (size_t)want->n * sizeof(float)));
    char what[128];
    snprintf(what, sizeof what, "%s: loss", c->name);
    assert_close(what, got, want->v, want->n, 1e-5, 1e-5);
    float *upf = to_float(up->v, up->n);
    ASSERT_OK(nncl_graph_backward(g, loss, upf, (size_t)up->n * sizeof(float)));
    float *dx = malloc((size_t)xt->n * sizeof(float));
    ASSERT_OK(nncl_graph_read_grad(g, x, dx, (size_t)xt->n * sizeof(float)));
    snprintf(what, sizeof what, "%s: gradient", c->name);
    assert_close(what, dx, need(c->name, "dx")->v, xt->n, 1e-5, 1e-5);
    free(xf);
    free(got);
    free(upf);
    free(dx);
    free(weights);
    nncl_graph_destroy(g);
}

#define REDUCTIONS(prefix, ...)                                                                    \
    {prefix "mean", __VA_ARGS__, .reduction = NNCL_REDUCTION_MEAN},                                \
        {prefix "sum", __VA_ARGS__, .reduction = NNCL_REDUCTION_SUM}, {                            \
        prefix "none", __VA_ARGS__, .reduction = NNCL_REDUCTION_NONE                               \
    }

static const loss_case cases[] = {
    REDUCTIONS("ce_", .kind = CE),
    REDUCTIONS("ce_weighted_", .kind = CE, .weighted = true),
    REDUCTIONS("ce_smooth_", .kind = CE, .smoothing = 0.2f),
    REDUCTIONS("ce_all_", .kind = CE, .weighted = true, .smoothing = 0.1f, .has_ignore = true,
               .ignore = 2),
    REDUCTIONS("nll_", .kind = NLL, .weighted = true),
    REDUCTIONS("bce_", .kind = BCE),
    REDUCTIONS("mse_", .kind = MSE),
    REDUCTIONS("l1_", .kind = L1),
    REDUCTIONS("smooth_l1_", .kind = SMOOTH_L1, .beta = 0.5f),
    REDUCTIONS("huber_", .kind = HUBER, .beta = 0.8f),
    REDUCTIONS("kl_", .kind = KL),
    {"kl_batchmean", .kind = KL, .reduction = NNCL_REDUCTION_BATCHMEAN},
    REDUCTIONS("ce2d_", .kind = CE, .weighted = true),
    REDUCTIONS("nll2d_", .kind = NLL),
    {"ce1d_smooth", .kind = CE, .smoothing = 0.1f, .has_ignore = true, .ignore = 2},
    {"ce3d", .kind = CE},
    {"dice", .kind = DICE, .smooth = 1.0f},
    {"dice_weighted", .kind = DICE, .weighted = true, .smooth = 0.5f},
    {"dice1d", .kind = DICE},
};

static void test_losses_match_pytorch(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

/* Dense labels against host references and finite differences: per-pixel
 * cross-entropy (class weights, smoothing, ignored pixels) and soft Dice. */
static const int32_t map_labels[2 * 3 * 4] = {0, 1, 2, 3, 1, -100, 2,    0, 3, 3, 1, 2,
                                              2, 0, 0, 1, 3, 2,    -100, 1, 0, 2, 3, 3};
static const float class_w[4] = {0.5f, 2.0f, 1.0f, 1.5f};

static nncl_node *build_dense(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    bool dice = *(const bool *)cfg;
    nncl_loss_params p = {.class_weights = class_w, .n_class_weights = 4, .smooth = 0.5f};
    if (dice) return nncl_dice_loss(g, x[0], labels, &p, "loss");
    p.label_smoothing = 0.1f;
    return nncl_cross_entropy(g, x[0], labels, &p, "loss");
}

/* x [2, 4, 3, 4]: positions (n, j) of 12 pixels, classes with stride 12. */
static void ref_dense(const double *const *x, const double *const *params, const int32_t *labels,
                      double *y, const void *cfg) {
    (void)params;
    bool dice = *(const bool *)cfg;
    double prob[2 * 4 * 12], total = 0, counted = 0, inter[4] = {0}, psum[4] = {0}, tsum[4] = {0};
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 12; j++) {
            double m = -1e300, z = 0;
            for (int c = 0; c < 4; c++)
                m = fmax(m, x[0][(n * 4 + c) * 12 + j]);
            for (int c = 0; c < 4; c++)
                z += exp(x[0][(n * 4 + c) * 12 + j] - m);
            for (int c = 0; c < 4; c++)
                prob[(n * 4 + c) * 12 + j] = exp(x[0][(n * 4 + c) * 12 + j] - m) / z;
            int t = labels[n * 12 + j];
            if (t == -100) continue;
            double smooth = 0;
            for (int c = 0; c < 4; c++) {
                double p = prob[(n * 4 + c) * 12 + j];
                smooth -= class_w[c] * log(p);
                psum[c] += p;
                if (c == t) inter[c] += p, tsum[c] += 1;
            }
            total += 0.9 * -class_w[t] * log(prob[(n * 4 + t) * 12 + j]) + 0.1 / 4 * smooth;
            counted += class_w[t];
        }
    if (!dice) {
        y[0] = total / counted;
        return;
    }
    double score = 0, wsum = 0;
    for (int c = 0; c < 4; c++) {
        score += class_w[c] * (2 * inter[c] + 0.5) / (psum[c] + tsum[c] + 0.5);
        wsum += class_w[c];
    }
    y[0] = 1 - score / wsum;
}

static void test_dense_losses_against_reference(void **state) {
    (void)state;
    static const bool kinds[2] = {false, true};
    for (int k = 0; k < 2; k++) {
        op_check c = {.label = k ? "dice" : "per-pixel cross-entropy",
                      .n_inputs = 1,
                      .inputs = {NNCL_SHAPE(2, 4, 3, 4)},
                      .labels_shape = NNCL_SHAPE(2, 3, 4),
                      .labels = map_labels,
                      .build = build_dense,
                      .ref = ref_dense,
                      .cfg = &kinds[k]};
        check_op(&c);
    }
}

static void expect_build_error(nncl_node *(*fn)(nncl_graph *, nncl_node *, nncl_node *,
                                                const nncl_loss_params *, const char *),
                               nncl_shape xs, nncl_shape ts, bool labels, const nncl_loss_params *p,
                               const char *part) {
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", xs);
    nncl_node *t = labels ? nncl_input_labels_nd(g, "t", ts) : nncl_input(g, "t", ts);
    assert_null(fn(g, x, t, p, "bad_loss"));
    const char *msg = nncl_graph_error(g);
    if (!strstr(msg, part) || !strstr(msg, "bad_loss"))
        fail_msg("expected \"%s\" in \"%s\"", part, msg);
    nncl_graph_destroy(g);
}

static void test_loss_errors(void **state) {
    (void)state;
    float w[3] = {1, 2, 3};
    expect_build_error(nncl_cross_entropy, NNCL_SHAPE(4, 5), NNCL_SHAPE(4), true,
                       &(nncl_loss_params){.class_weights = w, .n_class_weights = 3},
                       "3 class weights for 5 classes");
    expect_build_error(nncl_cross_entropy, NNCL_SHAPE(4, 5), NNCL_SHAPE(4), true,
                       &(nncl_loss_params){.label_smoothing = 1.5f}, "label_smoothing");
    expect_build_error(nncl_nll_loss, NNCL_SHAPE(4, 5), NNCL_SHAPE(3), true, NULL, "batch 4");
    expect_build_error(nncl_mse_loss, NNCL_SHAPE(4, 5), NNCL_SHAPE(4, 6), false, NULL, "[4, 6]");
    expect_build_error(nncl_l1_loss, NNCL_SHAPE(4, 5), NNCL_SHAPE(4, 5), false,
                       &(nncl_loss_params){.reduction = NNCL_REDUCTION_BATCHMEAN}, "batchmean");
    expect_build_error(nncl_cross_entropy, NNCL_SHAPE(2, 5, 3, 4), NNCL_SHAPE(2, 3, 5), true, NULL,
                       "labels 't' [2, 3, 5] must be labels of shape [2, 3, 4]");
    expect_build_error(nncl_dice_loss, NNCL_SHAPE(2, 5, 3), NNCL_SHAPE(2, 4), true, NULL,
                       "must be labels of shape [2, 3]");
    expect_build_error(nncl_dice_loss, NNCL_SHAPE(2, 5, 3), NNCL_SHAPE(2, 3), true,
                       &(nncl_loss_params){.reduction = NNCL_REDUCTION_SUM},
                       "only the mean reduction");
    expect_build_error(nncl_dice_loss, NNCL_SHAPE(2, 5, 3), NNCL_SHAPE(2, 3), true,
                       &(nncl_loss_params){.smooth = -1}, "smooth -1 must be finite and >= 0");
    expect_build_error(nncl_dice_loss, NNCL_SHAPE(2, 5, 3), NNCL_SHAPE(2, 3), true,
                       &(nncl_loss_params){.class_weights = w, .n_class_weights = 3},
                       "3 class weights for 5 classes");
    float zeros[2] = {0, 0};
    expect_build_error(nncl_dice_loss, NNCL_SHAPE(2, 2, 3), NNCL_SHAPE(2, 3), true,
                       &(nncl_loss_params){.class_weights = zeros, .n_class_weights = 2},
                       "class weights sum to 0");
    expect_build_error(nncl_dice_loss, NNCL_SHAPE(2), NNCL_SHAPE(2), true, NULL,
                       "must be [N, classes, ...] logits");
    /* A label outside [0, C) that is not the ignore index, also in a map. */
    {
        nncl_graph *gm;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &gm));
        nncl_node *xm = nncl_input(gm, "x", NNCL_SHAPE(1, 3, 2, 2));
        nncl_node *tm = nncl_input_labels_nd(gm, "map", NNCL_SHAPE(1, 2, 2));
        assert_non_null(nncl_dice_loss(gm, xm, tm, NULL, "dice"));
        int32_t bad_map[4] = {0, 1, 2, 3};
        assert_int_equal(nncl_graph_set_input(gm, tm, bad_map, sizeof bad_map),
                         NNCL_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(nncl_last_error(), "label 3 of input 'map' is 3, outside [0, 3)"));
        nncl_graph_destroy(gm);
    }
    /* A label outside [0, C) that is not the ignore index. */
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    nncl_node *t = nncl_input_labels(g, "t", 2);
    nncl_cross_entropy(g, x, t, NULL, "ce");
    int32_t ok[2] = {-100, 2}, bad[2] = {0, -1};
    ASSERT_OK(nncl_graph_set_input(g, t, ok, sizeof ok));
    assert_int_equal(nncl_graph_set_input(g, t, bad, sizeof bad), NNCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(nncl_last_error(), "ignore index -100"));
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_losses_match_pytorch),
        cmocka_unit_test(test_loss_errors),
        cmocka_unit_test(test_dense_losses_against_reference),
    };
    return cmocka_run_group_tests(tests, torch_data_load, torch_data_unload);
}
