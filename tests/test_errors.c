/* Bad inputs return a status and a message naming the op, the node and the
 * shapes, and never crash: mismatched shapes between ops, channels not
 * divisible by groups, a kernel larger than the padded input, zero or
 * negative sizes, NULL handles, wrong buffer sizes, out-of-range labels and
 * calls out of order. The first build error sticks to the graph. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static nncl_graph *new_graph(void) {
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    return g;
}

static void test_groups_must_divide_channels(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 8, 8));
    nncl_node *y = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}, .groups = 4}, "conv1");
    assert_null(y);
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "op 'conv'");
    assert_contains(nncl_graph_error(g), "node 'conv1'");
    assert_contains(nncl_graph_error(g), "[2, 6, 8, 8]");
    assert_contains(nncl_graph_error(g), "groups 4");
    nncl_graph_destroy(g);
}

static void test_kernel_larger_than_padded_input(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 1, 4, 4));
    assert_null(nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 1, .kernel = {7, 3}, .padding = {1, 1}}, "big"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "node 'big'");
    assert_contains(nncl_graph_error(g), "spans 7");
    nncl_graph_destroy(g);

    g = new_graph();
    x = nncl_input(g, "x", NNCL_SHAPE(1, 1, 3));
    assert_null(nncl_max_pool(g, x, &(nncl_pool_params){.kernel = {4}}, "p"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    nncl_graph_destroy(g);
}

static void test_zero_and_negative_sizes(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    assert_null(nncl_input(g, "x", NNCL_SHAPE(2, 0, 5)));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "[2, 0, 5]");
    nncl_graph_destroy(g);

    static const nncl_conv_params bad[] = {
        {.out_channels = 0, .kernel = {3}},
        {.out_channels = -2, .kernel = {3}},
        {.out_channels = 2, .kernel = {0}},
        {.out_channels = 2, .kernel = {3}, .stride = {-1}},
        {.out_channels = 2, .kernel = {3}, .padding = {-1}},
        {.out_channels = 2, .kernel = {3}, .groups = -1},
        {.out_channels = 2, .kernel = {3}, .stride = {2}, .padding_same = true},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g = new_graph();
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 2, 9));
        assert_null(nncl_conv(g, x, &bad[i], "c"));
        assert_int_not_equal(nncl_graph_status(g), NNCL_OK);
        assert_contains(nncl_graph_error(g), "op 'conv'");
        nncl_graph_destroy(g);
    }
    g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(3, 4));
    assert_null(nncl_linear(g, x, 0, NULL, "fc"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    nncl_graph_destroy(g);
    g = new_graph();
    assert_null(nncl_input_labels(g, "y", -1));
    assert_null(nncl_dropout(g, NULL, 0.5f, "d"));
    nncl_graph_destroy(g);
}

static void test_window_dims_must_match_input(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 2, 9));
    assert_null(nncl_conv(g, x, &(nncl_conv_params){.out_channels = 2, .kernel = {3, 3}}, "c"));
    assert_contains(nncl_graph_error(g), "has 1 spatial dims but the window sets dim 1");
    nncl_graph_destroy(g);
    g = new_graph();
    x = nncl_input(g, "x", NNCL_SHAPE(1, 2, 9, 9));
    assert_null(
        nncl_avg_pool(g, x, &(nncl_pool_params){.kernel = {3, 3}, .stride = {1, 1, 1}}, "p"));
    assert_contains(nncl_graph_error(g), "window sets dim 2");
    nncl_graph_destroy(g);
}

static void test_too_many_elements(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(65536, 65536));
    assert_null(x);
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "[65536, 65536]");
    nncl_graph_destroy(g);
}

static void test_shape_mismatch_between_ops(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *a = nncl_input(g, "a", NNCL_SHAPE(2, 3, 4, 4));
    nncl_node *b = nncl_input(g, "b", NNCL_SHAPE(2, 3, 4, 5));
    assert_null(nncl_add(g, a, b, NULL));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "[2, 3, 4, 4]");
    assert_contains(nncl_graph_error(g), "[2, 3, 4, 5]");
    nncl_graph_destroy(g);

    g = new_graph();
    a = nncl_input(g, "a", NNCL_SHAPE(2, 3, 4, 4));
    b = nncl_input(g, "b", NNCL_SHAPE(2, 3, 5, 4));
    assert_null(nncl_concat(g, (nncl_node *[]){a, b}, 2, "cat"));
    assert_contains(nncl_graph_error(g), "does not match");
    nncl_graph_destroy(g);

    g = new_graph();
    a = nncl_input(g, "a", NNCL_SHAPE(2, 3, 4, 4));
    assert_null(nncl_linear(g, nncl_input(g, "v", NNCL_SHAPE(5)), 3, NULL, "fc"));
    nncl_graph_destroy(g);

    g = new_graph();
    a = nncl_input(g, "logits", NNCL_SHAPE(4, 10));
    nncl_node *y = nncl_input_labels(g, "y", 3);
    assert_null(nncl_cross_entropy(g, a, y, NULL, "loss"));
    assert_contains(nncl_graph_error(g), "batch 4");
    nncl_graph_destroy(g);

    g = new_graph();
    a = nncl_input(g, "x", NNCL_SHAPE(4, 10));
    assert_null(nncl_conv(g, a, &(nncl_conv_params){.out_channels = 2, .kernel = {3}}, "c"));
    assert_contains(nncl_graph_error(g), "NCW, NCHW or NCDHW");
    nncl_graph_destroy(g);

    g = new_graph();
    a = nncl_input(g, "x", NNCL_SHAPE(4, 10));
    assert_null(nncl_reshape(g, a, NNCL_SHAPE(3, 7), NULL));
    assert_contains(nncl_graph_error(g), "cannot reshape");
    nncl_graph_destroy(g);
}

/* After the first error every builder returns NULL and the first message stays. */
static void test_first_error_sticks(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 3, 8, 8));
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}, .groups = 2}, "bad_conv");
    h = nncl_relu(g, h, NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool");
    h = nncl_linear(g, nncl_flatten(g, h, NULL), 10, NULL, "fc");
    assert_null(h);
    assert_contains(nncl_graph_error(g), "bad_conv");
    /* Running a broken graph is refused, with the build error. */
    float buf[192] = {0};
    assert_int_equal(nncl_graph_set_input(g, x, buf, sizeof buf), NNCL_ERROR_STATE);
    assert_int_equal(nncl_graph_forward(g), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "bad_conv");
    nncl_graph_destroy(g);
}

static void test_null_handles(void **state) {
    (void)state;
    assert_int_equal(nncl_context_create(NULL, NULL), NNCL_ERROR_INVALID_ARGUMENT);
    nncl_graph *g = NULL;
    assert_int_equal(nncl_graph_create(NULL, NULL, &g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_null(g);
    assert_null(nncl_input(NULL, "x", NNCL_SHAPE(1)));
    assert_null(nncl_relu(NULL, NULL, NULL));
    assert_int_equal(nncl_graph_forward(NULL), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_graph_read(NULL, NULL, NULL, 0), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_graph_summary(NULL, NULL), NNCL_ERROR_INVALID_ARGUMENT);
    nncl_graph_destroy(NULL);
    nncl_context_destroy(NULL);
    nncl_free(NULL);
    g = new_graph();
    assert_null(nncl_relu(g, NULL, NULL));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_graph_error(g), "input 0 is NULL");
    nncl_graph_destroy(g);
}

static void test_run_time_misuse(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    nncl_node *labels = nncl_input_labels(g, "y", 2);
    nncl_node *loss = nncl_cross_entropy(g, nncl_linear(g, x, 4, NULL, "fc"), labels, NULL, "loss");
    float data[6] = {0}, out = 0;
    /* wrong sizes */
    assert_int_equal(nncl_graph_set_input(g, x, data, 5 * sizeof(float)),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "takes 24 bytes, got 20");
    assert_int_equal(nncl_graph_set_input(g, loss, data, 4), NNCL_ERROR_INVALID_ARGUMENT);
    /* labels out of range for the loss */
    int32_t bad[2] = {1, 4};
    assert_int_equal(nncl_graph_set_input(g, labels, bad, sizeof bad), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "outside [0, 4)");
    /* reads and backward before forward */
    assert_int_equal(nncl_graph_read(g, loss, &out, sizeof out), NNCL_ERROR_STATE);
    assert_int_equal(nncl_graph_backward(g, loss, NULL, 0), NNCL_ERROR_STATE);
    int32_t good[2] = {1, 3};
    ASSERT_OK(nncl_graph_set_input(g, x, data, sizeof data));
    ASSERT_OK(nncl_graph_set_input(g, labels, good, sizeof good));
    ASSERT_OK(nncl_graph_forward(g));
    assert_int_equal(nncl_graph_read(g, loss, &out, 8), NNCL_ERROR_INVALID_ARGUMENT);
    /* a non-scalar output needs an upstream gradient */
    nncl_graph_destroy(g);
    g = new_graph();
    x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    nncl_node *y = nncl_linear(g, x, 2, NULL, "fc");
    ASSERT_OK(nncl_graph_set_input(g, x, data, sizeof data));
    ASSERT_OK(nncl_graph_forward(g));
    assert_int_equal(nncl_graph_backward(g, y, NULL, 0), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "pass grad_output");
    /* unknown parameter names and wrong sizes */
    float w[6];
    assert_int_equal(nncl_graph_param_read(g, "fc.wieght", w, sizeof w), NNCL_ERROR_NOT_FOUND);
    assert_contains(nncl_last_error(), "fc.wieght");
    assert_int_equal(nncl_graph_param_write(g, "fc.weight", w, 8), NNCL_ERROR_INVALID_ARGUMENT);
    /* duplicate node names */
    assert_null(nncl_linear(g, y, 2, NULL, "fc"));
    assert_contains(nncl_graph_error(g), "already has this name");
    nncl_graph_destroy(g);
}

static void test_batch_norm_needs_two_values(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 4));
    nncl_batch_norm(g, x, NULL, "bn");
    float data[4] = {1, 2, 3, 4};
    ASSERT_OK(nncl_graph_set_input(g, x, data, sizeof data));
    assert_int_equal(nncl_graph_forward(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_last_error(), "node 'bn'");
    nncl_graph_set_training(g, false);
    ASSERT_OK(nncl_graph_forward(g));
    nncl_graph_destroy(g);
}

/* Memory plan, convolution algorithm, GEMM path and GEMM tuning misuse. */
static void test_plan_and_tuning_misuse(void **state) {
    (void)state;
    nncl_context *ctx;
    assert_int_equal(
        nncl_context_create(&(nncl_context_options){.conv_algorithm = "fastest"}, &ctx),
        NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "'fastest'");
    assert_contains(nncl_last_error(), "winograd");
    ctx = (nncl_context *)1;
    assert_int_equal(nncl_context_create(&(nncl_context_options){.gemm = "cublas"}, &ctx),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_contains(nncl_last_error(), "'cublas'");
    assert_contains(nncl_last_error(), "clblast");
    ctx = (nncl_context *)1;
    assert_int_equal(nncl_context_create(&(nncl_context_options){.vector_width = 3}, &ctx),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_contains(nncl_last_error(), "vector width 3: use 1, 4, 8 or 16");
    setenv("NNCL_VECTOR_WIDTH", "32", 1);
    assert_int_equal(nncl_context_create(NULL, &ctx), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "vector width 32 (NNCL_VECTOR_WIDTH)");
    unsetenv("NNCL_VECTOR_WIDTH");
    assert_int_equal(nncl_context_create(&(nncl_context_options){.work_group_size = 48}, &ctx),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_contains(nncl_last_error(), "work-group size 48: use a power of two");
    setenv("NNCL_WORK_GROUP_SIZE", "4096", 1);
    assert_int_equal(nncl_context_create(NULL, &ctx), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "work-group size 4096 (NNCL_WORK_GROUP_SIZE)");
    unsetenv("NNCL_WORK_GROUP_SIZE");

    nncl_graph *g, *other;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &other));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    nncl_node *y = nncl_relu(g, nncl_linear(g, x, 4, NULL, "fc"), NULL);
    nncl_node *z = nncl_input(other, "z", NNCL_SHAPE(1));
    assert_int_equal(nncl_graph_keep(NULL, y), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_graph_keep(g, z), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "nncl_graph_keep");
    assert_int_equal(nncl_graph_memory(g, NULL), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "info is NULL");
    nncl_graph_destroy(other);

    /* Tuning needs GEMM shapes to time and a cache to keep the result in. */
    nncl_gemm_tuning t;
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.cache_dir = "off"}, &ctx));
    assert_int_equal(nncl_context_tune_gemm(ctx, 1, NULL, NULL, NULL), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_context_tune_gemm(ctx, 1, NULL, NULL, &t), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "run a training step first");
    nncl_graph *h;
    ASSERT_OK(nncl_graph_create(ctx, NULL, &h));
    nncl_node *hx = nncl_input(h, "x", NNCL_SHAPE(2, 3));
    nncl_linear(h, hx, 4, NULL, "fc");
    float in[6] = {0};
    ASSERT_OK(nncl_graph_set_input(h, hx, in, sizeof in));
    ASSERT_OK(nncl_graph_forward(h));
    assert_int_equal(nncl_context_tune_gemm(ctx, 1, NULL, NULL, &t), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "cache directory is off");
    nncl_graph_destroy(h);
    nncl_context_destroy(ctx);
    nncl_graph_destroy(g);
}

/* Nodes by name, labels read as int32, a forward before the inputs are
 * set, a training step on a non-scalar loss, another optimizer's state. */
static void test_api_for_real_programs(void **state) {
    (void)state;
    nncl_graph *g = new_graph();
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    nncl_node *y = nncl_input_labels(g, "y", 2);
    nncl_node *fc = nncl_linear(g, x, 4, NULL, "fc");
    nncl_node *r = nncl_relu(g, fc, "act");
    nncl_node *loss = nncl_cross_entropy(g, r, y, NULL, "loss");
    assert_ptr_equal(nncl_graph_node(g, "fc"), fc);
    assert_ptr_equal(nncl_graph_node(g, "loss"), loss);
    assert_ptr_equal(nncl_graph_node(g, "act"), r);
    assert_null(nncl_add(g, fc, r, "act")); /* names are unique */
    assert_contains(nncl_graph_error(g), "already has this name");
    nncl_graph_destroy(g);
    g = new_graph();
    x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    y = nncl_input_labels(g, "y", 2);
    fc = nncl_linear(g, x, 4, NULL, "fc");
    r = nncl_relu(g, fc, NULL);
    assert_string_equal(nncl_node_name(r), "relu_3");
    loss = nncl_cross_entropy(g, r, y, NULL, "loss");
    assert_null(nncl_graph_node(g, "fc2"));
    assert_contains(nncl_last_error(), "no node named 'fc2'");
    assert_int_equal(nncl_graph_forward(g), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "input 'x' was never set");
    float data[6] = {1, 2, 3, 4, 5, 6};
    int32_t labels[2] = {3, 1}, back[2] = {0, 0};
    ASSERT_OK(nncl_graph_set_input(g, x, data, sizeof data));
    ASSERT_OK(nncl_graph_set_input(g, y, labels, sizeof labels));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read_labels(g, y, back, sizeof back));
    assert_memory_equal(back, labels, sizeof labels);
    assert_int_equal(nncl_graph_read_labels(g, x, back, sizeof back), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "holds floats");
    nncl_optimizer *sgd, *adam;
    ASSERT_OK(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_SGD, .lr = 0.1f}, &sgd));
    ASSERT_OK(nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM}, &adam));
    assert_int_equal(nncl_train_step(g, sgd, r, NULL), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "needs a one-element loss");
    char path[] = "/tmp/nncl-errors-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    ASSERT_OK(nncl_save(g, adam, path, NULL, 0));
    assert_int_equal(nncl_load(g, sgd, path, NULL), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "holds Adam state, not SGD");
    ASSERT_OK(nncl_load(g, NULL, path, NULL)); /* the weights alone */
    remove(path);
    nncl_optimizer_destroy(sgd);
    nncl_optimizer_destroy(adam);
    nncl_graph_destroy(g);
}

static void test_status_names(void **state) {
    (void)state;
    assert_string_equal(nncl_status_name(NNCL_OK), "NNCL_OK");
    assert_string_equal(nncl_status_name(NNCL_ERROR_SHAPE), "NNCL_ERROR_SHAPE");
    assert_string_equal(nncl_status_name((nncl_status)999), "NNCL_UNKNOWN_STATUS");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups_must_divide_channels),
        cmocka_unit_test(test_api_for_real_programs),
        cmocka_unit_test(test_kernel_larger_than_padded_input),
        cmocka_unit_test(test_zero_and_negative_sizes),
        cmocka_unit_test(test_window_dims_must_match_input),
        cmocka_unit_test(test_too_many_elements),
        cmocka_unit_test(test_shape_mismatch_between_ops),
        cmocka_unit_test(test_first_error_sticks),
        cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_run_time_misuse),
        cmocka_unit_test(test_batch_norm_needs_two_values),
        cmocka_unit_test(test_plan_and_tuning_misuse),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
