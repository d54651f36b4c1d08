/* Data-parallel training, run by mpirun with two ranks: after some steps
 * the parameters are bitwise equal on both ranks and equal, within float
 * rounding, to one process training on the global batch (no batch norm,
 * or synchronised batch norm, whose running statistics then match too);
 * a checkpoint rank 0 writes resumes in one process; a rank that stops
 * makes the other's collective fail within its timeout (`stopped` mode,
 * which ends the job with MPI_Abort once it has reported). */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

enum { B = 4, STEPS = 4, C = 3, H = 8, CLASSES = 5 };

typedef struct net {
    nncl_graph *g;
    nncl_node *x, *y, *loss;
    nncl_optimizer *opt;
} net;

/* conv -> [batch norm] -> ReLU -> max pool -> linear -> cross entropy. */
static net build(int64_t batch, bool bn) {
    net n;
    ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 3}, &n.g));
    n.x = nncl_input(n.g, "x", NNCL_SHAPE(batch, C, H, H));
    n.y = nncl_input_labels(n.g, "y", batch);
    nncl_node *h = nncl_conv(
        n.g, n.x, &(nncl_conv_params){.out_channels = 6, .kernel = {3, 3}, .padding = {1, 1}},
        "conv");
    if (bn) h = nncl_batch_norm(n.g, h, NULL, "bn");
    h = nncl_max_pool(n.g, nncl_relu(n.g, h, NULL), &(nncl_pool_params){.kernel = {2, 2}}, NULL);
    h = nncl_linear(n.g, nncl_flatten(n.g, h, NULL), CLASSES, NULL, "fc");
    n.loss = nncl_cross_entropy(n.g, h, n.y, NULL, "loss");
    ASSERT_OK(nncl_graph_status(n.g));
    ASSERT_OK(nncl_optimizer_create(
        n.g, &(nncl_optim_params){.kind = NNCL_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f}, &n.opt));
    return n;
}

static void destroy(net *n) {
    nncl_optimizer_destroy(n->opt);
    nncl_graph_destroy(n->g);
}

/* The global batch of a step: 2 * B samples, the same on every rank. */
static void global_batch(int step, float *x, int32_t *y) {
    double v[2 * B * C * H * H];
    random_fill(v, 2 * B * C * H * H, 100 + (uint64_t)step, -1, 1);
    for (int i = 0; i < 2 * B * C * H * H; i++)
        x[i] = (float)v[i];
    for (int i = 0; i < 2 * B; i++)
        y[i] = (i * 3 + step) % CLASSES;
}

/* Every parameter and buffer, concatenated; *count values. */
static float *all_params(net *n, bool trainable_only, size_t *count) {
    size_t total = 0, at = 0;
    for (size_t i = 0; i < nncl_graph_param_count(n->g); i++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(n->g, i, &info));
        if (info.trainable || !trainable_only) total += (size_t)nncl_shape_numel(info.shape);
    }
    float *v = malloc(total * sizeof *v);
    for (size_t i = 0; i < nncl_graph_param_count(n->g); i++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(n->g, i, &info));
        if (!info.trainable && trainable_only) continue;
        size_t numel = (size_t)nncl_shape_numel(info.shape);
        ASSERT_OK(nncl_graph_param_read(n->g, info.name, v + at, numel * sizeof *v));
        at += numel;
    }
    *count = total;
    return v;
}

static void copy_params(net *from, net *to) {
    for (size_t i = 0; i < nncl_graph_param_count(from->g); i++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(from->g, i, &info));
        size_t bytes = (size_t)nncl_shape_numel(info.shape) * sizeof(float);
        float *v = malloc(bytes);
        ASSERT_OK(nncl_graph_param_read(from->g, info.name, v, bytes));
        ASSERT_OK(nncl_graph_param_write(to->g, info.name, v, bytes));
        free(v);
    }
}

/* How many of v differ from rank 0's: each rank sums its values as
 * doubles (exact for floats) and compares with 2 * its own. */
static size_t differ_across_ranks(nncl_dist *d, const float *v, size_t n) {
    double *sum = malloc(n * sizeof *sum);
    for (size_t i = 0; i < n; i++)
        sum[i] = v[i];
    ASSERT_OK(nncl_dist_sum(d, sum, n));
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += sum[i] != 2.0 * v[i];
    free(sum);
    return differ;
}

/* Trains a data-parallel net (this rank's half of each global batch) and
 * a one-process net (the whole batch) from the same parameters. */
static void train_both(nncl_dist *d, net *dp, net *one, int first, int steps) {
    int rank = nncl_dist_rank(d);
    for (int s = first; s < first + steps; s++) {
        float x[2 * B * C * H * H];
        int32_t y[2 * B];
        global_batch(s, x, y);
        size_t half = (size_t)B * C * H * H;
        ASSERT_OK(nncl_graph_set_input(dp->g, dp->x, x + rank * half, half * sizeof(float)));
        ASSERT_OK(nncl_graph_set_input(dp->g, dp->y, y + rank * B, B * sizeof(int32_t)));
        ASSERT_OK(nncl_train_step(dp->g, dp->opt, dp->loss, NULL));
        if (!one) continue;
        ASSERT_OK(nncl_graph_set_input(one->g, one->x, x, sizeof x));
        ASSERT_OK(nncl_graph_set_input(one->g, one->y, y, sizeof y));
        ASSERT_OK(nncl_train_step(one->g, one->opt, one->loss, NULL));
    }
}

static void check_against_one_process(bool bn, bool sync) {
    nncl_dist *d;
    ASSERT_OK(nncl_dist_create(&(nncl_dist_options){.sync_batch_norm = sync, .timeout_s = 20}, &d));
    assert_int_equal(nncl_dist_size(d), 2);
    net dp = build(B, bn), one = build(2 * B, bn);
    if (nncl_dist_rank(d) == 1) { /* rank 0's initial values must reach rank 1 */
        float junk[6 * C * 9];
        for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
            junk[i] = 7.0f;
        ASSERT_OK(nncl_graph_param_write(dp.g, "conv.weight", junk, sizeof junk));
    }
    ASSERT_OK(nncl_dist_attach(d, dp.g));
    copy_params(&dp, &one);
    train_both(d, &dp, &one, 0, STEPS);

    size_t n, m;
    float *trained = all_params(&dp, true, &n);
    assert_int_equal(differ_across_ranks(d, trained, n), 0);
    free(trained);
    float *got = all_params(&dp, !bn || !sync, &n), *want = all_params(&one, !bn || !sync, &m);
    assert_int_equal(n, m);
    if (!bn || sync) {
        double *w = malloc(m * sizeof *w);
        for (size_t i = 0; i < m; i++)
            w[i] = want[i];
        assert_close(sync ? "synchronised batch norm net" : "net", got, w, (int64_t)m, 1e-4, 1e-5);
        free(w);
    } else { /* per-rank statistics: the running means see different halves */
        float mean[6];
        ASSERT_OK(nncl_graph_param_read(dp.g, "bn.running_mean", mean, sizeof mean));
        assert_true(differ_across_ranks(d, mean, 6) > 0);
    }
    free(got);
    free(want);

    nncl_dist_stats stats;
    ASSERT_OK(nncl_dist_stats_get(d, &stats));
    assert_int_equal(stats.steps, STEPS);
    assert_true(stats.buckets >= 1);
    assert_true(stats.bytes >= (uint64_t)nncl_graph_trainable_count(dp.g) * sizeof(float));
    destroy(&dp);
    destroy(&one);
    nncl_dist_destroy(d);
}

static void test_matches_one_process(void **state) {
    (void)state;
    check_against_one_process(false, false);
}

static void test_sync_batch_norm_matches_one_process(void **state) {
    (void)state;
    check_against_one_process(true, true);
}

static void test_batch_norm_statistics_per_rank(void **state) {
    (void)state;
    check_against_one_process(true, false);
}

/* Small buckets (one per parameter) and no overlap give the same result;
 * a dist takes one graph, and a graph one dist. */
static void test_bucket_sizes_and_no_overlap(void **state) {
    (void)state;
    float *results[2];
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        nncl_dist *d;
        nncl_dist_options o = {.timeout_s = 20, .bucket_mb = k ? 1e-4 : 0, .no_overlap = k};
        ASSERT_OK(nncl_dist_create(&o, &d));
        net dp = build(B, false);
        ASSERT_OK(nncl_dist_attach(d, dp.g));
        net other = build(B, false);
        assert_int_equal(nncl_dist_attach(d, other.g), NNCL_ERROR_INVALID_ARGUMENT);
        assert_contains(nncl_last_error(), "one graph");
        destroy(&other);
        nncl_dist *second;
        ASSERT_OK(nncl_dist_create(&(nncl_dist_options){.timeout_s = 20}, &second));
        assert_int_equal(nncl_dist_attach(second, dp.g), NNCL_ERROR_INVALID_ARGUMENT);
        assert_contains(nncl_last_error(), "another dist");
        nncl_dist_destroy(second);
        nncl_dist_stats stats;
        ASSERT_OK(nncl_dist_stats_get(d, &stats));
        assert_int_equal(stats.buckets, k ? 4 : 1); /* conv and fc, weight and bias */
        train_both(d, &dp, NULL, 0, STEPS);
        results[k] = all_params(&dp, true, &n);
        destroy(&dp);
        nncl_dist_destroy(d);
    }
    assert_memory_equal(results[0], results[1], n * sizeof(float));
    free(results[0]);
    free(results[1]);
}

/* Rank 0 writes the checkpoint (both ranks learn it worked); one process
 * resumes from it and continues as the data-parallel run does. */
static void test_checkpoint_resumes_in_one_process(void **state) {
    (void)state;
    nncl_dist *d;
    ASSERT_OK(nncl_dist_create(&(nncl_dist_options){.timeout_s = 20}, &d));
    net dp = build(B, false);
    ASSERT_OK(nncl_dist_attach(d, dp.g));
    train_both(d, &dp, NULL, 0, 2);
    char path[128];
    snprintf(path, sizeof path, "%s/dist.safetensors", test_dir); /* rank 0's directory */
    MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
    assert_int_equal(access(path, F_OK), -1);
    MPI_Barrier(MPI_COMM_WORLD);
    ASSERT_OK(nncl_dist_save(d, dp.g, dp.opt, path, NULL, 0));
    assert_int_equal(access(path, F_OK), 0);
    net one = build(2 * B, false);
    if (nncl_dist_rank(d) == 0) ASSERT_OK(nncl_load(one.g, one.opt, path, NULL));
    train_both(d, &dp, nncl_dist_rank(d) == 0 ? &one : NULL, 2, 2);
    if (nncl_dist_rank(d) == 0) {
        size_t n, m;
        float *got = all_params(&dp, true, &n), *want = all_params(&one, true, &m);
        double *w = malloc(m * sizeof *w);
        for (size_t i = 0; i < m; i++)
            w[i] = want[i];
        assert_close("resumed", got, w, (int64_t)m, 1e-4, 1e-5);
        free(got);
        free(want);
        free(w);
    }
    /* A save that fails on rank 0 fails on every rank, with its message. */
    assert_int_equal(nncl_dist_save(d, dp.g, dp.opt, "/nonexistent/dir/x.safetensors", NULL, 0),
                     NNCL_ERROR_IO);
    assert_contains(nncl_last_error(), "/nonexistent/dir");
    destroy(&dp);
    destroy(&one);
    nncl_dist_destroy(d);
}

/* Rank 1 stops taking part; rank 0's next backward fails within its
 * timeout, naming the cause. Ends the job (MPI cannot cancel the pending
 * collective), after printing the line the test looks for. */
static int stopped_rank(void) {
    nncl_dist *d;
    if (nncl_dist_create(&(nncl_dist_options){.timeout_s = 2}, &d) != NNCL_OK) return 1;
    net dp = build(B, false);
    if (nncl_dist_attach(d, dp.g) != NNCL_OK) return 1;
    train_both(d, &dp, NULL, 0, 1);
    if (nncl_dist_rank(d) == 1) {
        sleep(60);
        return 1;
    }
    float x[B * C * H * H] = {0};
    int32_t y[B] = {0};
    nncl_graph_set_input(dp.g, dp.x, x, sizeof x);
    nncl_graph_set_input(dp.g, dp.y, y, sizeof y);
    double start = MPI_Wtime();
    nncl_status st = nncl_train_step(dp.g, dp.opt, dp.loss, NULL);
    double waited = MPI_Wtime() - start;
    bool named = strstr(nncl_last_error(), "did not complete within 2 s") != NULL;
    printf("rank 0: %s after %.1f s: %s\n", nncl_status_name(st), waited, nncl_last_error());
    if (st == NNCL_ERROR_COMMUNICATION && named && waited < 30) printf("stopped rank detected\n");
    fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, 0);
    return 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "stopped")) return stopped_rank();
    /* Initialised here, so that each nncl_dist_destroy leaves MPI running. */
    int level;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &level);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_one_process),
        cmocka_unit_test(test_sync_batch_norm_matches_one_process),
        cmocka_unit_test(test_batch_norm_statistics_per_rank),
        cmocka_unit_test(test_bucket_sizes_and_no_overlap),
        cmocka_unit_test(test_checkpoint_resumes_in_one_process),
    };
    int failed = cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
    MPI_Finalize();
    return failed;
}
