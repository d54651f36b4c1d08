/* The numerical health check: with check_numerics (or NNCL_CHECK_NUMERICS=1)
 * the first op that writes a NaN or infinity stops the run, naming the op,
 * the node, the pass and the statistics of what it read; without it the
 * same graph runs on silently. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct net {
    nncl_context *ctx;
    nncl_graph *g;
    nncl_node *x, *y;
} net;

/* x [2, 3] -> linear "fc" (3 -> 2) -> relu, every weight w. */
static net make(bool check, float w) {
    net n;
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.check_numerics = check}, &n.ctx));
    ASSERT_OK(nncl_graph_create(n.ctx, NULL, &n.g));
    n.x = nncl_input(n.g, "x", NNCL_SHAPE(2, 3));
    n.y = nncl_relu(n.g, nncl_linear(n.g, n.x, 2, NULL, "fc"), NULL);
    assert_non_null(n.y);
    float weights[6];
    for (int i = 0; i < 6; i++)
        weights[i] = w;
    ASSERT_OK(nncl_graph_param_write(n.g, "fc.weight", weights, sizeof weights));
    return n;
}

static void release(net *n) {
    nncl_graph_destroy(n->g);
    nncl_context_destroy(n->ctx);
}

static void set_x(net *n, float v) {
    float x[6] = {v, v, v, v, v, v};
    ASSERT_OK(nncl_graph_set_input(n->g, n->x, x, sizeof x));
}

/* 1e30 * 1e30 overflows in the linear layer's forward pass. */
static void test_forward_overflow_names_the_op(void **state) {
    (void)state;
    net n = make(true, 1e30f);
    set_x(&n, 1e30f);
    assert_int_equal(nncl_graph_forward(n.g), NNCL_ERROR_NUMERICS);
    const char *e = nncl_last_error();
    assert_contains(e, "op 'linear' node 'fc', forward");
    assert_contains(e, "4 of 4 values");
    assert_contains(e, "'x' [2, 3] min 1e+30 max 1e+30");
    assert_contains(e, "'fc.weight' [2, 3]");
    release(&n);

    n = make(false, 1e30f); /* unchecked, the same graph runs on to infinities */
    set_x(&n, 1e30f);
    ASSERT_OK(nncl_graph_forward(n.g));
    float y[4];
    ASSERT_OK(nncl_graph_read(n.g, n.y, y, sizeof y));
    assert_true(isinf(y[0]));
    release(&n);
}

/* A NaN arriving as the upstream gradient is reported by the first op whose
 * backward passes it on. */
static void test_backward_nan_names_the_op(void **state) {
    (void)state;
    net n = make(true, 0.5f);
    set_x(&n, 1.0f);
    ASSERT_OK(nncl_graph_forward(n.g));
    float up[4] = {1, NAN, 1, 1};
    assert_int_equal(nncl_graph_backward(n.g, n.y, up, sizeof up), NNCL_ERROR_NUMERICS);
    assert_contains(nncl_last_error(), "op 'relu'");
    assert_contains(nncl_last_error(), "backward");
    release(&n);
}

/* A learning rate that overflows the weights is caught by the update. */
static void test_update_overflow(void **state) {
    (void)state;
    net n = make(true, 0.5f);
    nncl_optimizer *opt;
    ASSERT_OK(nncl_optimizer_create(n.g, &(nncl_optim_params){.kind = NNCL_OPTIM_SGD, .lr = 3e38f},
                                    &opt));
    set_x(&n, 1e10f);
    ASSERT_OK(nncl_graph_forward(n.g));
    float up[4] = {1, 1, 1, 1};
    ASSERT_OK(nncl_graph_backward(n.g, n.y, up, sizeof up));
    assert_int_equal(nncl_optimizer_step(opt), NNCL_ERROR_NUMERICS);
    assert_contains(nncl_last_error(), "optimizer update");
    assert_contains(nncl_last_error(), "parameter 'fc.weight'");
    nncl_optimizer_destroy(opt);
    release(&n);
}

static void test_environment_switch(void **state) {
    (void)state;
    setenv("NNCL_CHECK_NUMERICS", "1", 1);
    net n = make(false, 1e30f);
    unsetenv("NNCL_CHECK_NUMERICS");
    set_x(&n, 1e30f);
    assert_int_equal(nncl_graph_forward(n.g), NNCL_ERROR_NUMERICS);
    release(&n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_overflow_names_the_op),
        cmocka_unit_test(test_backward_nan_names_the_op),
        cmocka_unit_test(test_update_overflow),
        cmocka_unit_test(test_environment_switch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
