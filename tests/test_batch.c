/* Running a graph on a smaller batch than it was built for
 * (nncl_graph_set_batch): the results equal those of a graph built for
 * that batch, bit for bit in deterministic mode (training-mode batch norm
 * and dropout included), without rebuilding or reloading anything. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FULL = 6, PART = 3, CH = 2, SIDE = 6, CLASSES = 3 };

typedef struct net {
    nncl_graph *g;
    nncl_node *x, *y, *logits, *loss, *acc;
} net;

static net build(nncl_context *ctx, int64_t batch) {
    net n;
    ASSERT_OK(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 21}, &n.g));
    n.x = nncl_input(n.g, "x", NNCL_SHAPE(batch, CH, SIDE, SIDE));
    n.y = nncl_input_labels(n.g, "y", batch);
    nncl_node *h = nncl_conv(
        n.g, n.x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}, .padding = {1, 1}},
        "conv");
    h = nncl_relu(n.g, nncl_batch_norm(n.g, h, NULL, "bn"), NULL);
    h = nncl_max_pool(n.g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool");
    h = nncl_dropout(n.g, nncl_flatten(n.g, h, NULL), 0.3f, "drop");
    n.logits = nncl_linear(n.g, h, CLASSES, NULL, "fc");
    n.loss = nncl_cross_entropy(n.g, n.logits, n.y, NULL, "loss");
    n.acc = nncl_accuracy(n.g, n.logits, n.y, "acc");
    assert_non_null(n.acc);
    ASSERT_OK(nncl_graph_keep(n.g, n.logits));
    return n;
}

static float images[FULL * CH * SIDE * SIDE];
static int32_t labels[FULL];

static void make_data(void) {
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
        images[i] = sinf(0.37f * (float)i) * cosf(0.11f * (float)i);
    for (int i = 0; i < FULL; i++)
        labels[i] = (i * 2 + 1) % CLASSES;
}

/* One training forward + backward on the first `batch` samples; the logits,
 * the loss, the accuracy and every gradient and buffer, end to end. */
static float *run(net *n, int64_t batch, size_t *count) {
    size_t sample = CH * SIDE * SIDE, params = nncl_graph_param_count(n->g);
    ASSERT_OK(nncl_graph_set_input(n->g, n->x, images, (size_t)batch * sample * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(n->g, n->y, labels, (size_t)batch * sizeof(int32_t)));
    ASSERT_OK(nncl_graph_zero_grad(n->g));
    ASSERT_OK(nncl_graph_forward(n->g));
    ASSERT_OK(nncl_graph_backward(n->g, n->loss, NULL, 0));
    float *out = calloc(4096, sizeof *out);
    size_t at = 0;
    ASSERT_OK(nncl_graph_read(n->g, n->logits, out, (size_t)batch * CLASSES * sizeof(float)));
    at += (size_t)batch * CLASSES;
    ASSERT_OK(nncl_graph_read(n->g, n->loss, out + at++, sizeof(float)));
    ASSERT_OK(nncl_graph_read(n->g, n->acc, out + at++, sizeof(float)));
    for (size_t i = 0; i < params; i++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(n->g, i, &info));
        size_t bytes = (size_t)nncl_shape_numel(info.shape) * sizeof(float);
        ASSERT_OK(nncl_graph_param_read(n->g, info.name, out + at, bytes));
        at += bytes / sizeof(float);
        if (info.trainable) {
            ASSERT_OK(nncl_graph_grad_read(n->g, info.name, out + at, bytes));
            at += bytes / sizeof(float);
        }
    }
    assert_true(at <= 4096);
    *count = at;
    return out;
}

static void test_smaller_batch_equals_its_own_graph(void **state) {
    (void)state;
    make_data();
    nncl_context *ctx;
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.deterministic = true}, &ctx));
    net full = build(ctx, FULL), part = build(ctx, PART);
    assert_int_equal(nncl_graph_batch(full.g), FULL);
    ASSERT_OK(nncl_graph_set_batch(full.g, PART));
    assert_int_equal(nncl_graph_batch(full.g), PART);
    assert_int_equal(nncl_node_shape(full.logits).dims[0], PART);
    size_t na, nb;
    float *a = run(&full, PART, &na), *b = run(&part, PART, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)))
            fail_msg("value %zu: %.9g at batch %d of %d, %.9g built for %d", i, (double)a[i], PART,
                     FULL, (double)b[i], PART);
    free(a);
    free(b);
    /* Back to the full batch: the inputs must be set again, then it trains. */
    ASSERT_OK(nncl_graph_set_batch(full.g, FULL));
    assert_int_equal(nncl_graph_forward(full.g), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "never set");
    a = run(&full, FULL, &na);
    free(a);
    nncl_graph_destroy(full.g);
    nncl_graph_destroy(part.g);
    nncl_context_destroy(ctx);
}

/* One sample at a time in eval mode gives each sample's row of the full
 * batch's inference. */
static void test_inference_one_sample(void **state) {
    (void)state;
    make_data();
    net n = build(test_context(), FULL);
    float all[FULL * CLASSES], one[CLASSES];
    ASSERT_OK(nncl_graph_set_input(n.g, n.x, images, sizeof images));
    ASSERT_OK(nncl_graph_set_input(n.g, n.y, labels, sizeof labels));
    ASSERT_OK(nncl_graph_infer(n.g, n.logits, all, sizeof all));
    size_t sample = CH * SIDE * SIDE;
    ASSERT_OK(nncl_graph_set_batch(n.g, 1));
    for (int s = 0; s < FULL; s++) {
        ASSERT_OK(nncl_graph_set_input(n.g, n.x, images + s * sample, sample * sizeof(float)));
        ASSERT_OK(nncl_graph_set_input(n.g, n.y, labels + s, sizeof(int32_t)));
        ASSERT_OK(nncl_graph_infer(n.g, n.logits, one, sizeof one));
        for (int c = 0; c < CLASSES; c++)
            assert_float_equal(one[c], all[s * CLASSES + c], 1e-5);
    }
    nncl_graph_destroy(n.g);
}

static void test_batch_misuse(void **state) {
    (void)state;
    net n = build(test_context(), FULL);
    assert_int_equal(nncl_graph_set_batch(n.g, FULL + 1), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_graph_set_batch(n.g, 0), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "1 to the 6");
    ASSERT_OK(nncl_graph_set_batch(n.g, 2));
    assert_null(nncl_relu(n.g, n.logits, "late"));
    assert_contains(nncl_graph_error(n.g), "set it back to 6");
    nncl_graph_destroy(n.g);

    /* A reshape that folds the batch into another dim cannot follow it. */
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(4, 3));
    assert_non_null(nncl_reshape(g, x, NNCL_SHAPE(12), "all"));
    assert_int_equal(nncl_graph_set_batch(g, 2), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "node 'all'");
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smaller_batch_equals_its_own_graph),
        cmocka_unit_test(test_inference_one_sample),
        cmocka_unit_test(test_batch_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
