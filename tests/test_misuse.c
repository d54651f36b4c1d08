/* Hostile and careless inputs: sizes whose products overflow, files that
 * claim more than they hold or describe impossible tensors, arguments that
 * are NaN, objects destroyed in every order. Each case once corrupted
 * memory, crashed or failed silently; each must now return a clear error
 * and leave everything usable. The inputs that came from files are in
 * tests/data/repro/. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPRO NNCL_TEST_DATA "/repro/"

static void expect(nncl_status got, nncl_status want, const char *part) {
    if (got != want)
        fail_msg("got %s, expected %s: %s", nncl_status_name(got), nncl_status_name(want),
                 nncl_last_error());
    if (part) assert_contains(nncl_last_error(), part);
}

/* [1, 1197225396, 10827767, 1423] multiply to 20 modulo 2^64: the file
 * once loaded as a 20-byte dataset that the loader then read past. */
static void test_idx_dims_overflow(void **state) {
    (void)state;
    nncl_dataset *ds = (nncl_dataset *)1;
    expect(nncl_dataset_load_idx(REPRO "idx-dims-overflow", REPRO "idx-labels-1", &ds),
           NNCL_ERROR_INVALID_ARGUMENT, "idx-dims-overflow");
    assert_null(ds);
    assert_contains(nncl_last_error(), "product");
}

/* A header claiming 16 GiB of pixels with 8 bytes present fails at the
 * end of the data, having allocated only what arrived. */
static void test_idx_claims_more_than_file(void **state) {
    (void)state;
    nncl_dataset *ds;
    expect(nncl_dataset_load_idx(REPRO "idx-claims-16GiB", REPRO "idx-labels-1", &ds),
           NNCL_ERROR_IO, "truncated at byte 24");
}

static void test_shape_overflow(void **state) {
    (void)state;
    assert_int_equal(nncl_shape_numel(NNCL_SHAPE((int64_t)1 << 32, (int64_t)1 << 32)), 0);
    assert_int_equal(nncl_shape_numel(NNCL_SHAPE(INT64_MAX, 2)), 0);
    assert_int_equal(nncl_shape_numel(NNCL_SHAPE(3, 5, 7)), 105);
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE((int64_t)1 << 40, (int64_t)1 << 40));
    assert_null(x);
    assert_null(nncl_softmax(g, x, NULL));
    expect(nncl_graph_status(g), NNCL_ERROR_SHAPE, "rank 1 to 5 and every dim > 0");
    nncl_graph_destroy(g);
}

static void test_dataset_create_overflow(void **state) {
    (void)state;
    uint8_t images[16] = {0};
    int32_t labels[4] = {0};
    nncl_dataset *ds;
    expect(nncl_dataset_create(images, labels, 4, (int64_t)1 << 31, (int64_t)1 << 31,
                               (int64_t)1 << 31, &ds),
           NNCL_ERROR_INVALID_ARGUMENT, "overflow");
}

static nncl_dataset *small_dataset(void) {
    static uint8_t images[4 * 9];
    static int32_t labels[4] = {0, 1, 0, 1};
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_create(images, labels, 4, 1, 3, 3, &ds));
    return ds;
}

/* A batch of 2^62 + 1 once wrapped the buffer size and wrote past it;
 * a shift of INT64_MAX overflowed the random span. */
static void test_loader_overflow(void **state) {
    (void)state;
    nncl_dataset *ds = small_dataset();
    nncl_loader *l = (nncl_loader *)1;
    expect(nncl_loader_create(ds, &(nncl_loader_options){.batch = ((int64_t)1 << 62) + 1}, &l),
           NNCL_ERROR_INVALID_ARGUMENT, "does not fit in memory");
    assert_null(l);
    expect(nncl_loader_create(ds, &(nncl_loader_options){.batch = 2, .shift = INT64_MAX}, &l),
           NNCL_ERROR_INVALID_ARGUMENT, "shift");
    expect(nncl_loader_create(ds, &(nncl_loader_options){.batch = 2, .mean = NAN}, &l),
           NNCL_ERROR_INVALID_ARGUMENT, "mean finite");
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = 2, .shift = 3}, &l));
    nncl_loader_destroy(l);
    nncl_dataset_destroy(ds);
}

/* Padding or dilation of 2^62 overflowed the output-size rule. */
static void test_window_overflow(void **state) {
    (void)state;
    int64_t huge = (int64_t)1 << 62;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 1, 8, 8));
    assert_null(nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 1, .kernel = {3, 3}, .padding = {huge, huge}},
        "c"));
    expect(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT, "below 2^31");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(1, 1, 8, 8));
    assert_null(
        nncl_max_pool(g, x, &(nncl_pool_params){.kernel = {2, 2}, .dilation = {huge, 1}}, "p"));
    expect(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT, "dilation");
    nncl_graph_destroy(g);
}

/* fc1 (4 -> 4) and fc2 (4 -> 2): the tensors the repro checkpoints name. */
static nncl_node *last_x, *last_y;
static nncl_graph *two_layers(nncl_context *ctx) {
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 3}, &g));
    last_x = nncl_input(g, "x", NNCL_SHAPE(1, 4));
    last_y =
        nncl_linear(g, nncl_relu(g, nncl_linear(g, last_x, 4, NULL, "fc1"), NULL), 2, NULL, "fc2");
    assert_non_null(last_y);
    return g;
}

static void read_all(nncl_graph *g, float *out) {
    const char *names[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    size_t sizes[] = {16, 4, 8, 2};
    for (int i = 0; i < 4; i++, out += sizes[i - 1])
        ASSERT_OK(nncl_graph_param_read(g, names[i], out, sizes[i] * sizeof(float)));
}

/* A dim of 4.5 (18 bytes) once passed validation, overwrote earlier
 * tensors and failed in clEnqueueWriteBuffer; a dim of 5.6e107 was
 * converted to int64. Now the file is refused whole, naming the tensor. */
static void test_checkpoint_impossible_dims(void **state) {
    (void)state;
    nncl_graph *g = two_layers(test_context());
    float before[30], after[30];
    read_all(g, before);
    expect(nncl_load(g, NULL, REPRO "st-fractional-dim.safetensors", NULL),
           NNCL_ERROR_INVALID_ARGUMENT, "'fc1.bias'");
    assert_contains(nncl_last_error(), "st-fractional-dim.safetensors");
    assert_contains(nncl_last_error(), "not a whole number");
    expect(nncl_load(g, NULL, REPRO "st-huge-dim.safetensors", NULL), NNCL_ERROR_INVALID_ARGUMENT,
           "'fc1.weight'");
    expect(nncl_load(g, NULL, REPRO "st-huge-dim.safetensors",
                     &(nncl_load_options){.non_strict = true}),
           NNCL_ERROR_INVALID_ARGUMENT, "header byte");
    read_all(g, after);
    assert_memory_equal(before, after, sizeof before);
    nncl_graph_destroy(g);
}

static void test_checkpoint_not_a_file(void **state) {
    (void)state;
    nncl_graph *g = two_layers(test_context());
    expect(nncl_load(g, NULL, test_dir, NULL), NNCL_ERROR_IO, "is a directory");
    char value[16];
    expect(nncl_checkpoint_metadata(test_dir, "format", value, sizeof value), NNCL_ERROR_IO,
           "is a directory");
    nncl_graph_destroy(g);
}

/* More than 61 user entries were once dropped silently, and a user key
 * could shadow nncl's own counters. */
static void test_save_metadata(void **state) {
    (void)state;
    nncl_graph *g = two_layers(test_context());
    char path[128], keys[100][16], values[100][16];
    snprintf(path, sizeof path, "%s/meta.safetensors", test_dir);
    nncl_metadata meta[100];
    for (int i = 0; i < 100; i++) {
        snprintf(keys[i], sizeof keys[i], "user.k%d", i);
        snprintf(values[i], sizeof values[i], "v%d", i * 7);
        meta[i] = (nncl_metadata){keys[i], values[i]};
    }
    ASSERT_OK(nncl_save(g, NULL, path, meta, 100));
    char got[32];
    ASSERT_OK(nncl_checkpoint_metadata(path, "user.k99", got, sizeof got));
    assert_string_equal(got, "v693");
    ASSERT_OK(nncl_checkpoint_metadata(path, "nncl.seed", got, sizeof got));
    assert_string_equal(got, "3");
    meta[5].key = "nncl.seed";
    expect(nncl_save(g, NULL, path, meta, 100), NNCL_ERROR_INVALID_ARGUMENT, "'nncl.seed'");
    meta[5].key = "format";
    expect(nncl_save(g, NULL, path, meta, 100), NNCL_ERROR_INVALID_ARGUMENT, "reserved");
    meta[5].key = "user.k4";
    expect(nncl_save(g, NULL, path, meta, 100), NNCL_ERROR_INVALID_ARGUMENT, "given twice");
    ASSERT_OK(nncl_checkpoint_metadata(path, "user.k5", got, sizeof got)); /* the file stayed */
    nncl_graph_destroy(g);
}

/* A save killed before its rename leaves "<path>.tmp.<pid>"; the next
 * save removes those of dead processes and keeps a live one's. */
static void test_save_removes_stale_temporaries(void **state) {
    (void)state;
    pid_t child = fork();
    if (child == 0) _exit(0);
    assert_true(child > 0);
    waitpid(child, NULL, 0); /* its pid now names no process */
    char path[128], dead[160], live[160];
    snprintf(path, sizeof path, "%s/stale.safetensors", test_dir);
    snprintf(dead, sizeof dead, "%s.tmp.%ld", path, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid());
    FILE *f = fopen(dead, "w");
    fclose(f);
    f = fopen(live, "w");
    fclose(f);
    nncl_graph *g = two_layers(test_context());
    ASSERT_OK(nncl_save(g, NULL, path, NULL, 0));
    assert_int_not_equal(access(dead, F_OK), 0);
    assert_int_equal(access(live, F_OK), 0);
    remove(live);
    nncl_graph_destroy(g);
}

static void test_null_graph_calls(void **state) {
    (void)state;
    expect(nncl_graph_zero_grad(NULL), NNCL_ERROR_INVALID_ARGUMENT, "graph is NULL");
    expect(nncl_graph_forward(NULL), NNCL_ERROR_INVALID_ARGUMENT, "graph is NULL");
    expect(nncl_graph_plan(NULL), NNCL_ERROR_INVALID_ARGUMENT, "graph is NULL");
    expect(nncl_graph_finish(NULL), NNCL_ERROR_INVALID_ARGUMENT, "graph is NULL");
    expect(nncl_optimizer_step(NULL), NNCL_ERROR_INVALID_ARGUMENT, "optimizer is NULL");
}

static void test_optimizer_rejects_non_finite(void **state) {
    (void)state;
    nncl_graph *g = two_layers(test_context());
    nncl_optimizer *opt;
    const nncl_optim_params bad[] = {
        {.kind = NNCL_OPTIM_SGD, .lr = NAN},
        {.kind = NNCL_OPTIM_SGD, .lr = INFINITY},
        {.kind = NNCL_OPTIM_ADAM, .beta1 = NAN},
        {.kind = NNCL_OPTIM_ADAM, .beta2 = -0.5f},
        {.kind = NNCL_OPTIM_ADAMW, .weight_decay = NAN},
        {.kind = NNCL_OPTIM_SGD, .lr = 0.1f, .clip_grad_norm = INFINITY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(nncl_optimizer_create(g, &bad[i], &opt), NNCL_ERROR_INVALID_ARGUMENT, "optimizer");
    nncl_graph_destroy(g);
}

/* NaN where a layer, loss or schedule takes a number: refused when built. */
static void test_layers_reject_nan(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 4, 4));
    assert_null(nncl_batch_norm(g, x, &(nncl_batch_norm_params){.eps = NAN}, "bn"));
    expect(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT, "eps");
    nncl_graph_destroy(g);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    assert_null(nncl_leaky_relu(g, nncl_input(g, "x", NNCL_SHAPE(4)), NAN, NULL));
    expect(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT, "finite");
    nncl_graph_destroy(g);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *a = nncl_input(g, "a", NNCL_SHAPE(4)), *b = nncl_input(g, "b", NNCL_SHAPE(4));
    assert_null(nncl_smooth_l1_loss(g, a, b, &(nncl_loss_params){.beta = NAN}, "l"));
    expect(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT, "beta");
    nncl_graph_destroy(g);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    float weights[3] = {1, NAN, 1};
    assert_null(nncl_cross_entropy(
        g, nncl_input(g, "z", NNCL_SHAPE(2, 3)), nncl_input_labels(g, "y", 2),
        &(nncl_loss_params){.class_weights = weights, .n_class_weights = 3}, "ce"));
    expect(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT, "class weight 1");
    nncl_graph_destroy(g);

    g = two_layers(test_context());
    nncl_optimizer *opt;
    ASSERT_OK(nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM}, &opt));
    expect(nncl_optimizer_set_schedule(
               opt, &(nncl_schedule){.kind = NNCL_SCHEDULE_EXPONENTIAL, .gamma = NAN}),
           NNCL_ERROR_INVALID_ARGUMENT, "finite");
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
}

/* One step of two_layers' graph (x, y its input and output) with opt, to
 * show it still works or is refused. */
static nncl_status step(nncl_graph *g, nncl_node *x, nncl_node *y, nncl_optimizer *opt) {
    float input[4] = {1, 2, 3, 4}, out[2];
    nncl_status st = nncl_graph_set_input(g, x, input, sizeof input);
    if (st == NNCL_OK) st = nncl_graph_forward(g);
    if (st == NNCL_OK) st = nncl_graph_read(g, y, out, sizeof out);
    if (st == NNCL_OK) st = nncl_graph_backward(g, y, out, sizeof out);
    if (st == NNCL_OK && opt) st = nncl_optimizer_step(opt);
    return st;
}

/* Every destruction order: the optimizer after its graph once read freed
 * memory; a graph after its context did too. Under ASan any use after
 * free fails the test. */
static void test_destroy_in_any_order(void **state) {
    (void)state;
    for (int order = 0; order < 6; order++) {
        nncl_context *ctx;
        ASSERT_OK(nncl_context_create(NULL, &ctx));
        nncl_graph *g = two_layers(ctx);
        nncl_node *x = last_x, *y = last_y;
        nncl_optimizer *opt;
        ASSERT_OK(nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM}, &opt));
        ASSERT_OK(step(g, x, y, opt));
        switch (order) {
        case 0: /* the documented order */
            nncl_optimizer_destroy(opt);
            nncl_graph_destroy(g);
            nncl_context_destroy(ctx);
            break;
        case 1:
            nncl_graph_destroy(g);
            expect(nncl_optimizer_step(opt), NNCL_ERROR_STATE, "graph was destroyed");
            nncl_optimizer_destroy(opt);
            nncl_context_destroy(ctx);
            break;
        case 2:
            nncl_graph_destroy(g);
            nncl_context_destroy(ctx);
            nncl_optimizer_destroy(opt);
            break;
        case 3:
            nncl_context_destroy(ctx);
            expect(step(g, x, y, opt), NNCL_ERROR_STATE, "context was destroyed");
            expect(nncl_optimizer_step(opt), NNCL_ERROR_STATE, "graph was destroyed");
            nncl_optimizer_destroy(opt);
            nncl_graph_destroy(g);
            break;
        case 4:
            nncl_context_destroy(ctx);
            assert_null(nncl_relu(g, x, NULL));
            expect(nncl_graph_status(g), NNCL_OK,
                   NULL); /* refused, not recorded as a build error */
            nncl_graph_destroy(g);
            nncl_optimizer_destroy(opt);
            break;
        default:
            nncl_optimizer_destroy(opt);
            nncl_context_destroy(ctx);
            nncl_graph_destroy(g);
            break;
        }
    }
}

/* A cache directory the caller names must be usable; it once ran
 * uncached without a word. */
static void test_named_cache_dir_unusable(void **state) {
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/a-file", test_dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    nncl_context *ctx = (nncl_context *)1;
    expect(nncl_context_create(&(nncl_context_options){.cache_dir = path}, &ctx), NNCL_ERROR_IO,
           "a-file");
    assert_null(ctx);
    char sub[160];
    snprintf(sub, sizeof sub, "%s/under", path);
    expect(nncl_context_create(&(nncl_context_options){.cache_dir = sub}, &ctx), NNCL_ERROR_IO,
           "cannot be used");
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.cache_dir = "off"}, &ctx));
    assert_string_equal(nncl_context_cache_dir(ctx), "off");
    nncl_context_destroy(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_dims_overflow),
        cmocka_unit_test(test_idx_claims_more_than_file),
        cmocka_unit_test(test_shape_overflow),
        cmocka_unit_test(test_dataset_create_overflow),
        cmocka_unit_test(test_loader_overflow),
        cmocka_unit_test(test_window_overflow),
        cmocka_unit_test(test_checkpoint_impossible_dims),
        cmocka_unit_test(test_checkpoint_not_a_file),
        cmocka_unit_test(test_save_metadata),
        cmocka_unit_test(test_save_removes_stale_temporaries),
        cmocka_unit_test(test_null_graph_calls),
        cmocka_unit_test(test_optimizer_rejects_non_finite),
        cmocka_unit_test(test_layers_reject_nan),
        cmocka_unit_test(test_destroy_in_any_order),
        cmocka_unit_test(test_named_cache_dir_unusable),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
