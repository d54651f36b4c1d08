/* Determinism as nncl.h states it: the same seed on the same device gives
 * bitwise-identical losses and weights over 100 training steps in two
 * processes (sharing a cache directory), and in deterministic mode also
 * when each process starts from an empty cache of its own. The test runs
 * itself as the two child processes. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { STEPS = 100, BATCH = 8, SIDE = 12, CLASSES = 10 };

/* 100 steps of a small CNN with every kind of layer whose algorithm or
 * randomness could vary (convolutions 3x3 and 1x1, batch norm, pooling,
 * dropout, Adam); writes the losses and then every parameter to out. */
static int child(const char *out) {
    nncl_context *ctx;
    nncl_graph *g;
    if (nncl_context_create(NULL, &ctx) ||
        nncl_graph_create(ctx, &(nncl_graph_options){.seed = 11}, &g))
        return 3;
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(BATCH, 1, SIDE, SIDE));
    nncl_node *y = nncl_input_labels(g, "y", BATCH);
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 8, .kernel = {3, 3}, .padding = {1, 1}}, "c1");
    h = nncl_max_pool(g, nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn"), NULL),
                      &(nncl_pool_params){.kernel = {2, 2}}, "p");
    h = nncl_relu(
        g, nncl_conv(g, h, &(nncl_conv_params){.out_channels = 4, .kernel = {1, 1}}, "c2"), NULL);
    h = nncl_linear(g, nncl_dropout(g, nncl_flatten(g, h, NULL), 0.3f, "drop"), CLASSES, NULL,
                    "fc");
    nncl_node *loss = nncl_cross_entropy(g, h, y, NULL, "loss");
    nncl_optimizer *opt;
    if (!loss || nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM}, &opt))
        return 4;
    static float images[BATCH * SIDE * SIDE];
    int32_t labels[BATCH];
    float losses[STEPS];
    uint64_t state = 5;
    for (int s = 0; s < STEPS; s++) {
        for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            images[i] = (float)(state >> 40) / (float)(1 << 24) - 0.5f;
        }
        for (int i = 0; i < BATCH; i++)
            labels[i] = (int32_t)((state >> (3 * i)) % CLASSES);
        if (nncl_graph_set_input(g, x, images, sizeof images) ||
            nncl_graph_set_input(g, y, labels, sizeof labels) ||
            nncl_train_step(g, opt, loss, &losses[s]))
            return 5;
    }
    FILE *f = fopen(out, "wb");
    if (!f) return 6;
    fwrite(losses, sizeof losses, 1, f);
    for (size_t i = 0; i < nncl_graph_param_count(g); i++) {
        nncl_param_info info;
        nncl_graph_param_info(g, i, &info);
        size_t bytes = (size_t)nncl_shape_numel(info.shape) * sizeof(float);
        float *v = malloc(bytes);
        if (!v || nncl_graph_param_read(g, info.name, v, bytes)) return 7;
        fwrite(v, bytes, 1, f);
        free(v);
    }
    fclose(f);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return 0;
}

/* Runs this program as a child writing to test_dir/name, with the given
 * cache directory and NNCL_DETERMINISTIC setting; returns the file's bytes. */
static unsigned char *run_child(const char *name, const char *cache, bool deterministic,
                                size_t *size) {
    char out[256];
    snprintf(out, sizeof out, "%s/%s", test_dir, name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("NNCL_CACHE_DIR", cache, 1);
        if (deterministic)
            setenv("NNCL_DETERMINISTIC", "1", 1);
        else
            unsetenv("NNCL_DETERMINISTIC");
        execl("/proc/self/exe", "test_determinism", "--child", out, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        fail_msg("child %s failed with status %d", name, status);
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc(*size);
    assert_int_equal(fread(bytes, 1, *size, f), *size);
    fclose(f);
    return bytes;
}

static void assert_same_run(const char *what, const unsigned char *a, size_t na,
                            const unsigned char *b, size_t nb) {
    assert_int_equal(na, nb);
    assert_true(na > STEPS * sizeof(float));
    for (size_t i = 0; i < na; i++)
        if (a[i] != b[i])
            fail_msg("%s: the runs differ at byte %zu (%s)", what, i,
                     i < STEPS * sizeof(float) ? "a loss" : "a weight");
}

static void test_same_seed_same_bits(void **state) {
    (void)state;
    char cache[128];
    snprintf(cache, sizeof cache, "%s/shared-cache", test_dir);
    size_t na, nb;
    unsigned char *a = run_child("first", cache, false, &na);
    unsigned char *b = run_child("second", cache, false, &nb);
    assert_same_run("two processes sharing a cache", a, na, b, nb);
    float first, last;
    memcpy(&first, a, sizeof first);
    memcpy(&last, a + (STEPS - 1) * sizeof(float), sizeof last);
    assert_true(first > 1.5f && last < first); /* it trained */
    free(a);
    free(b);
}

static void test_deterministic_with_empty_caches(void **state) {
    (void)state;
    char cache_a[128], cache_b[128];
    snprintf(cache_a, sizeof cache_a, "%s/empty-a", test_dir);
    snprintf(cache_b, sizeof cache_b, "%s/empty-b", test_dir);
    size_t na, nb;
    unsigned char *a = run_child("det-a", cache_a, true, &na);
    unsigned char *b = run_child("det-b", cache_b, true, &nb);
    assert_same_run("deterministic mode, separate empty caches", a, na, b, nb);
    free(a);
    free(b);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--child")) return child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bits),
        cmocka_unit_test(test_deterministic_with_empty_caches),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
