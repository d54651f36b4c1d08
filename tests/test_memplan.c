/* The memory plan and fusion: a network using every op, run with shared
 * memory and fused activations, must give bit-identical losses and
 * gradients to the same network with every buffer kept apart and nothing
 * fused, while planning less memory; nodes whose memory was
 * reused refuse to be read, kept ones stay readable, and a second backward
 * after one forward is refused with a clear message. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

enum { BATCH = 4, CLASSES = 5 };

typedef struct net {
    nncl_graph *g;
    nncl_node *x, *labels, *target, *mid, *loss;
} net;

/* Every op family, with values read in backward by conv, batch norm, linear,
 * leaky ReLU with a negative slope, softmax and both loss kinds. */
static void build(net *n, bool keep_values) {
    ASSERT_OK(nncl_graph_create(
        test_context(), &(nncl_graph_options){.seed = 3, .keep_values = keep_values}, &n->g));
    nncl_graph *g = n->g;
    n->x = nncl_input(g, "x", NNCL_SHAPE(BATCH, 3, 12, 12));
    n->labels = nncl_input_labels(g, "y", BATCH);
    n->target = nncl_input(g, "t", NNCL_SHAPE(BATCH, 16));
    nncl_node *h = nncl_conv(
        g, n->x, &(nncl_conv_params){.out_channels = 8, .kernel = {3, 3}, .padding = {1, 1}}, "c1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "b1"), NULL);
    nncl_node *p = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "p1");
    h = nncl_conv(
        g, p,
        &(nncl_conv_params){.out_channels = 8, .kernel = {3, 3}, .padding = {1, 1}, .groups = 2},
        "c2");
    nncl_node *s = nncl_add(g, nncl_leaky_relu(g, h, -0.1f, NULL), p, NULL);
    nncl_node *one =
        nncl_conv(g, s, &(nncl_conv_params){.out_channels = 4, .kernel = {1, 1}}, "c3");
    h = nncl_elu(g, nncl_concat(g, (nncl_node *[]){s, one}, 2, "cat"), 1.0f, NULL);
    n->mid = h;
    h = nncl_avg_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "p2");
    h = nncl_dropout(g, nncl_flatten(g, h, NULL), 0.3f, "drop");
    nncl_node *fc1 = nncl_tanh(g, nncl_linear(g, h, 16, NULL, "fc1"), NULL);
    nncl_node *logits = nncl_linear(g, nncl_sigmoid(g, fc1, NULL), CLASSES, NULL, "fc2");
    nncl_node *nll = nncl_nll_loss(g, nncl_log_softmax(g, logits, NULL), n->labels, NULL, "nll");
    nncl_node *mse = nncl_mse_loss(g, nncl_softmax(g, fc1, NULL), n->target, NULL, "mse");
    n->loss = nncl_add(g, nll, mse, NULL);
    if (nncl_graph_status(g) != NNCL_OK) fail_msg("%s", nncl_graph_error(g));
}

static void set_inputs(net *n) {
    double x[BATCH * 3 * 12 * 12], t[BATCH * 16];
    random_fill(x, BATCH * 3 * 12 * 12, 11, -1.0, 1.0);
    random_fill(t, BATCH * 16, 12, 0.0, 0.2);
    float *xf = to_float(x, BATCH * 3 * 12 * 12), *tf = to_float(t, BATCH * 16);
    int32_t labels[BATCH] = {0, 3, 4, 1};
    ASSERT_OK(nncl_graph_set_input(n->g, n->x, xf, sizeof(float) * BATCH * 3 * 12 * 12));
    ASSERT_OK(nncl_graph_set_input(n->g, n->target, tf, sizeof(float) * BATCH * 16));
    ASSERT_OK(nncl_graph_set_input(n->g, n->labels, labels, sizeof labels));
    free(xf);
    free(tf);
}

static void run(net *n) {
    set_inputs(n);
    ASSERT_OK(nncl_graph_zero_grad(n->g));
    ASSERT_OK(nncl_graph_forward(n->g));
    ASSERT_OK(nncl_graph_backward(n->g, n->loss, NULL, 0));
}

static void test_shared_memory_gives_identical_gradients(void **state) {
    (void)state;
    net shared, apart;
    build(&shared, false);
    build(&apart, true);
    nncl_graph_memory_info ms, ma;
    ASSERT_OK(nncl_graph_memory(shared.g, &ms));
    ASSERT_OK(nncl_graph_memory(apart.g, &ma));
    assert_true(ms.values_unshared == ma.values_unshared);
    assert_true(ma.values_planned == ma.values_unshared);
    assert_true(ms.values_planned < ms.values_unshared * 3 / 4);
    assert_true(ms.values_unshared == nncl_graph_activation_bytes(shared.g));
    /* Fused where the producer's output feeds only the activation. */
    char *text;
    ASSERT_OK(nncl_graph_summary(shared.g, &text));
    assert_contains(text, "batch_norm+relu");
    assert_contains(text, "linear+tanh");
    nncl_free(text);
    for (int step = 0; step < 2; step++) { /* the second step runs on reused memory */
        run(&shared);
        run(&apart);
        float a, b;
        ASSERT_OK(nncl_graph_read(shared.g, shared.loss, &a, sizeof a));
        ASSERT_OK(nncl_graph_read(apart.g, apart.loss, &b, sizeof b));
        assert_memory_equal(&a, &b, sizeof a);
        for (size_t i = 0; i < nncl_graph_param_count(shared.g); i++) {
            nncl_param_info info;
            ASSERT_OK(nncl_graph_param_info(shared.g, i, &info));
            if (!info.trainable) continue;
            size_t bytes = (size_t)nncl_shape_numel(info.shape) * sizeof(float);
            float *ga = malloc(bytes), *gb = malloc(bytes);
            ASSERT_OK(nncl_graph_grad_read(shared.g, info.name, ga, bytes));
            ASSERT_OK(nncl_graph_grad_read(apart.g, info.name, gb, bytes));
            if (memcmp(ga, gb, bytes))
                fail_msg("gradient of %s differs with shared memory", info.name);
            free(ga);
            free(gb);
        }
    }
    nncl_graph_destroy(shared.g);
    nncl_graph_destroy(apart.g);
}

static void test_reused_nodes_refuse_reads(void **state) {
    (void)state;
    net n;
    build(&n, false);
    run(&n);
    size_t bytes = (size_t)nncl_shape_numel(nncl_node_shape(n.mid)) * sizeof(float);
    float *v = malloc(bytes);
    assert_int_equal(nncl_graph_read(n.g, n.mid, v, bytes), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "nncl_graph_keep");
    assert_contains(nncl_last_error(), nncl_node_name(n.mid));
    /* A second backward would read values the first one's gradients overwrote. */
    assert_int_equal(nncl_graph_backward(n.g, n.loss, NULL, 0), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "run nncl_graph_forward again");

    /* Kept: readable, and equal to the value in a graph that keeps everything. */
    ASSERT_OK(nncl_graph_keep(n.g, n.mid));
    run(&n);
    ASSERT_OK(nncl_graph_read(n.g, n.mid, v, bytes));
    ASSERT_OK(nncl_graph_read_grad(n.g, n.mid, v, bytes));
    net apart;
    build(&apart, true);
    run(&apart);
    float *w = malloc(bytes);
    ASSERT_OK(nncl_graph_read(n.g, n.mid, v, bytes));
    ASSERT_OK(nncl_graph_read(apart.g, apart.mid, w, bytes));
    assert_memory_equal(v, w, bytes);
    ASSERT_OK(nncl_graph_backward(apart.g, apart.loss, NULL, 0)); /* kept apart: allowed */
    free(v);
    free(w);
    nncl_graph_destroy(n.g);
    nncl_graph_destroy(apart.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_memory_gives_identical_gradients),
        cmocka_unit_test(test_reused_nodes_refuse_reads),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
