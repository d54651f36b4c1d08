/* Attention pooling against a host reference and finite differences over
 * 1D, 2D and 3D positions and several heads; the attention weights read
 * back sum to one per head and match the reference; bad arguments. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct attn_case {
    nncl_shape x;
    int64_t heads;
} attn_case;

static nncl_node *build_attn(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    return nncl_attention_pool(g, x[0], ((const attn_case *)cfg)->heads, "attn");
}

/* a[n,h,:] = softmax_p(w[h] . x[n,:,p] + b[h]); y[n, h*C + c] = sum_p a x. */
static void attention(const attn_case *c, const double *x, const double *w, const double *b,
                      double *y, double *a) {
    int64_t n = c->x.dims[0], ch = c->x.dims[1], pos = 1;
    for (int32_t d = 2; d < c->x.rank; d++)
        pos *= c->x.dims[d];
    for (int64_t s = 0; s < n; s++)
        for (int64_t h = 0; h < c->heads; h++) {
            double *row = a + (s * c->heads + h) * pos, m = -INFINITY, sum = 0;
            for (int64_t p = 0; p < pos; p++) {
                row[p] = b[h];
                for (int64_t k = 0; k < ch; k++)
                    row[p] += w[h * ch + k] * x[(s * ch + k) * pos + p];
                m = fmax(m, row[p]);
            }
            for (int64_t p = 0; p < pos; p++)
                sum += exp(row[p] - m);
            for (int64_t p = 0; p < pos; p++)
                row[p] = exp(row[p] - m) / sum;
            for (int64_t k = 0; k < ch; k++) {
                double v = 0;
                for (int64_t p = 0; p < pos; p++)
                    v += row[p] * x[(s * ch + k) * pos + p];
                y[(s * c->heads + h) * ch + k] = v;
            }
        }
}

static void ref_attn(const double *const *x, const double *const *params, const int32_t *labels,
                     double *y, const void *cfg) {
    (void)labels;
    const attn_case *c = cfg;
    double *a = malloc(4096 * sizeof *a);
    attention(c, x[0], params[0], params[1], y, a);
    free(a);
}

static void test_attention_pool_against_reference(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {NNCL_SHAPE(2, 3, 7), 1},
        {NNCL_SHAPE(2, 4, 3, 5), 2},
        {NNCL_SHAPE(1, 2, 2, 3, 2), 3},
        {NNCL_SHAPE(3, 5, 1), 2}, /* one position: the weights are all 1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "attention pool case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_attn,
                      .ref = ref_attn,
                      .cfg = &cases[i]};
        check_op(&c);
    }
}

static void test_attention_weights_readable(void **state) {
    (void)state;
    static const attn_case c = {NNCL_SHAPE(2, 3, 4, 2), 2};
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", c.x);
    nncl_node *y = nncl_attention_pool(g, x, c.heads, "attn");
    float weights[2 * 2 * 8], xf[48], wf[6], bf[2] = {0.5f, -1.0f};
    double xd[48], wd[6], bd[2] = {0.5, -1.0}, yd[12], ad[32];
    for (int i = 0; i < 48; i++)
        xd[i] = xf[i] = (float)((i * 5) % 9) * 0.25f - 1.0f;
    for (int i = 0; i < 6; i++)
        wd[i] = wf[i] = (float)i * 0.3f - 0.8f;
    ASSERT_OK(nncl_graph_param_write(g, "attn.weight", wf, sizeof wf));
    ASSERT_OK(nncl_graph_param_write(g, "attn.bias", bf, sizeof bf));
    assert_int_equal(nncl_attention_pool_weights(g, y, weights, sizeof weights), NNCL_ERROR_STATE);
    ASSERT_OK(nncl_graph_set_input(g, x, xf, sizeof xf));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_attention_pool_weights(g, y, weights, sizeof weights));
    attention(&c, xd, wd, bd, yd, ad);
    assert_close("attention weights", weights, ad, 32, 1e-5, 1e-6);
    for (int r = 0; r < 4; r++) {
        double sum = 0;
        for (int p = 0; p < 8; p++)
            sum += weights[r * 8 + p];
        assert_true(fabs(sum - 1.0) < 1e-5);
    }
    assert_int_equal(nncl_attention_pool_weights(g, y, weights, 12), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "node 'attn' holds 128 bytes ([2, 2, 8]), got 12");
    assert_int_equal(nncl_attention_pool_weights(g, x, weights, sizeof weights),
                     NNCL_ERROR_INVALID_ARGUMENT);
    nncl_graph_destroy(g);
}

static void test_attention_pool_refuses_bad_arguments(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 4));
    assert_null(nncl_attention_pool(g, x, 0, "attn"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_graph_error(g), "op 'attention_pool' node 'attn'");
    assert_contains(nncl_graph_error(g), "heads 0 must be > 0");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    assert_null(nncl_attention_pool(g, x, 2, "attn"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "[2, 3] must be features [N, C, positions...]");
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_pool_against_reference),
        cmocka_unit_test(test_attention_weights_readable),
        cmocka_unit_test(test_attention_pool_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
