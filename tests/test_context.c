/* Device choice (gpu / cpu / P:D / name, the NNCL_DEVICE variable, the
 * error that lists what exists) and the on-disk kernel cache: entries are
 * written, reused, rebuilt when corrupt, and nothing is written when off. */
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A kernel cache the contexts that test something else share: with PoCL's
 * cache off (main), a context without one compiles every kernel again. */
static char shared_cache[] = "/tmp/nncl-context-test-XXXXXX";

static void test_device_listing(void **state) {
    (void)state;
    size_t count = 0;
    ASSERT_OK(nncl_devices(NULL, 0, &count));
    assert_true(count >= 1);
    nncl_device_info *all = calloc(count, sizeof *all);
    ASSERT_OK(nncl_devices(all, count, &count));
    int defaults = 0;
    for (size_t i = 0; i < count; i++) {
        defaults += all[i].is_default;
        assert_true(all[i].name[0] != '\0');
        assert_true(all[i].compute_units >= 1);
        assert_true(all[i].global_mem_bytes > 0);
    }
    assert_int_equal(defaults, 1);
    free(all);
}

static void expect_device(const char *spec, nncl_status want) {
    nncl_context *ctx = NULL;
    nncl_status st = nncl_context_create(
        &(nncl_context_options){.device = spec, .cache_dir = shared_cache}, &ctx);
    if (st != want) fail_msg("device '%s': %s: %s", spec, nncl_status_name(st), nncl_last_error());
    if (st == NNCL_OK)
        assert_non_null(nncl_context_device(ctx));
    else
        assert_null(ctx);
    nncl_context_destroy(ctx);
}

static void test_device_specs(void **state) {
    (void)state;
    nncl_device_info first;
    size_t count = 0;
    ASSERT_OK(nncl_devices(&first, 1, &count));
    expect_device("0:0", NNCL_OK);
    expect_device(first.type == NNCL_DEVICE_GPU ? "gpu" : "cpu", NNCL_OK);
    /* A name substring, in another case. */
    char upper[16] = {0};
    for (int i = 0; i < 4 && first.name[i]; i++)
        upper[i] = (char)(first.name[i] >= 'a' && first.name[i] <= 'z' ? first.name[i] - 32
                                                                       : first.name[i]);
    expect_device(upper, NNCL_OK);
    expect_device("9:9", NNCL_ERROR_NO_DEVICE);
    expect_device("no-such-device-anywhere", NNCL_ERROR_NO_DEVICE);
    /* The error lists the devices that exist. */
    assert_contains(nncl_last_error(), "no-such-device-anywhere");
    assert_contains(nncl_last_error(), first.name);
    assert_contains(nncl_last_error(), "0:0");
}

static void test_device_from_environment(void **state) {
    (void)state;
    nncl_context *ctx = NULL;
    setenv("NNCL_DEVICE", "no-such-device-anywhere", 1);
    assert_int_equal(nncl_context_create(&(nncl_context_options){.cache_dir = shared_cache}, &ctx),
                     NNCL_ERROR_NO_DEVICE);
    /* The option wins over the variable. */
    ASSERT_OK(nncl_context_create(
        &(nncl_context_options){.device = "0:0", .cache_dir = shared_cache}, &ctx));
    nncl_context_destroy(ctx);
    unsetenv("NNCL_DEVICE");
}

/* The cache files in dir: count and total size. */
static int cache_files(const char *dir, long *bytes) {
    DIR *d = opendir(dir);
    int n = 0;
    *bytes = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".bin")) continue;
        char path[2048];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0) *bytes += st.st_size;
        n++;
    }
    closedir(d);
    return n;
}

/* Overwrites the header of every cache entry, or flips bytes in its body. */
static void corrupt_all(const char *dir, bool header) {
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".bin")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r+b");
        assert_non_null(f);
        if (header) {
            fputs("garbage, not a program binary", f);
        } else {
            fseek(f, 40, SEEK_SET);
            fputs("\x01\x02\x03\x04", f);
        }
        fclose(f);
    }
    closedir(d);
}

static void warm_up_in(const char *dir) {
    nncl_context *ctx;
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.cache_dir = dir}, &ctx));
    assert_string_equal(nncl_context_cache_dir(ctx), dir);
    ASSERT_OK(nncl_context_warm_up(ctx));
    nncl_context_destroy(ctx);
}

static void test_kernel_cache(void **state) {
    (void)state;
    char dir[] = "/tmp/nncl-cache-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[256];
    snprintf(sub, sizeof sub, "%s/nested/dir", dir); /* created on demand */
    long bytes = 0, bytes_again = 0;
    warm_up_in(sub);
    int n = cache_files(sub, &bytes);
    assert_int_equal(n, 1); /* one program holds every kernel */
    warm_up_in(sub);        /* reused: nothing new */
    assert_int_equal(cache_files(sub, &bytes_again), n);
    assert_int_equal(bytes_again, bytes);
    corrupt_all(sub, true);
    nncl_context *ctx; /* rebuilt, and the entry rewritten whole */
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.cache_dir = sub}, &ctx));
    nncl_context_destroy(ctx);
    assert_int_equal(cache_files(sub, &bytes_again), n);
    assert_int_equal(bytes_again, bytes);
    /* A graph runs on a context whose cache entry was corrupt (and rewrites it). */
    corrupt_all(sub, false);
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.cache_dir = sub}, &ctx));
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(ctx, NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 4));
    nncl_node *y = nncl_relu(g, x, NULL);
    float in[4] = {-1, 2, -3, 4}, out[4];
    ASSERT_OK(nncl_graph_set_input(g, x, in, sizeof in));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    assert_true(out[0] == 0 && out[1] == 2 && out[2] == 0 && out[3] == 4);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    assert_int_equal(cache_files(sub, &bytes_again), n);
    assert_int_equal(bytes_again, bytes);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_cache_off_and_defaults(void **state) {
    (void)state;
    nncl_context *ctx;
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.cache_dir = "off"}, &ctx));
    assert_string_equal(nncl_context_cache_dir(ctx), "off");
    nncl_context_destroy(ctx);

    char buf[1024];
    const char *saved = getenv("NNCL_CACHE_DIR");
    char keep[1024] = "";
    if (saved) snprintf(keep, sizeof keep, "%s", saved);
    unsetenv("NNCL_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
    ASSERT_OK(nncl_cache_dir(NULL, buf, sizeof buf));
    assert_string_equal(buf, "/tmp/xdg-test/nncl");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/tmp/home-test", 1);
    ASSERT_OK(nncl_cache_dir(NULL, buf, sizeof buf));
    assert_string_equal(buf, "/tmp/home-test/.cache/nncl");
    setenv("NNCL_CACHE_DIR", "/tmp/explicit", 1);
    ASSERT_OK(nncl_cache_dir(NULL, buf, sizeof buf));
    assert_string_equal(buf, "/tmp/explicit");
    ASSERT_OK(nncl_cache_dir(&(nncl_context_options){.cache_dir = "/opt/x"}, buf, sizeof buf));
    assert_string_equal(buf, "/opt/x");
    assert_int_equal(nncl_cache_dir(NULL, buf, 4), NNCL_ERROR_INVALID_ARGUMENT);
    if (keep[0])
        setenv("NNCL_CACHE_DIR", keep, 1);
    else
        unsetenv("NNCL_CACHE_DIR");
}

/* Activation bytes without reuse, memory counters and profiling totals. */
static void test_memory_and_profile(void **state) {
    (void)state;
    nncl_context *ctx;
    /* No kernel cache: a cache's first use generates code for every kernel
     * (seconds with PoCL's cache off); this test runs a few. */
    ASSERT_OK(
        nncl_context_create(&(nncl_context_options){.cache_dir = "off", .profile = true}, &ctx));
    uint64_t empty;
    nncl_context_memory(ctx, &empty, NULL);
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(ctx, NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    nncl_node *y = nncl_relu(g, nncl_linear(g, x, 4, NULL, "fc"), NULL);
    /* x: 24 bytes, no gradient; fc and relu: 32 bytes each, with gradients. */
    assert_int_equal(nncl_graph_activation_bytes(g), 24 + 2 * 32 + 2 * 32);
    uint64_t before, peak, after;
    nncl_context_memory(ctx, &before, NULL);
    float in[6] = {1, 2, 3, 4, 5, 6}, out[8];
    ASSERT_OK(nncl_graph_set_input(g, x, in, sizeof in));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    nncl_context_memory(ctx, &after, &peak);
    assert_true(after >= before + 24 + 2 * 32 && peak >= after);
    nncl_profile_entry e[NNCL_PROFILE_KINDS];
    size_t n;
    ASSERT_OK(nncl_context_profile(ctx, e, NNCL_PROFILE_KINDS, &n, true));
    assert_int_equal(n, NNCL_PROFILE_KINDS);
    assert_string_equal(e[3].kind, "gemm");
    assert_true(e[3].launches >= 1 && e[6].launches >= 1); /* the GEMM; bias and ReLU */
    ASSERT_OK(nncl_context_profile(ctx, e, NNCL_PROFILE_KINDS, &n, false));
    assert_int_equal(e[3].launches, 0); /* reset */
    nncl_graph_destroy(g);
    /* What remains is the context's GEMM scratch, at most the packed x (in
     * panels at most 32 wide). */
    nncl_context_memory(ctx, &after, NULL);
    assert_true(after >= empty && after <= empty + 32 * 3 * sizeof(float));
    uint64_t settled = after;
    ASSERT_OK(nncl_graph_create(ctx, NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    y = nncl_relu(g, nncl_linear(g, x, 4, NULL, "fc"), NULL);
    ASSERT_OK(nncl_graph_set_input(g, x, in, sizeof in));
    ASSERT_OK(nncl_graph_forward(g));
    nncl_graph_destroy(g);
    nncl_context_memory(ctx, &after, NULL);
    assert_int_equal(after, settled); /* everything the graph held is released */
    nncl_context_destroy(ctx);
    ASSERT_OK(nncl_context_create(&(nncl_context_options){.cache_dir = shared_cache}, &ctx));
    assert_int_equal(nncl_context_profile(ctx, e, NNCL_PROFILE_KINDS, &n, false), NNCL_ERROR_STATE);
    nncl_context_destroy(ctx);
}

int main(void) {
    /* PoCL caches compiled kernels itself, and nncl then keeps no cache of
     * its own; with PoCL's cache off, nncl's runs as on drivers without one. */
    setenv("POCL_KERNEL_CACHE", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_listing),          cmocka_unit_test(test_device_specs),
        cmocka_unit_test(test_device_from_environment), cmocka_unit_test(test_kernel_cache),
        cmocka_unit_test(test_cache_off_and_defaults),  cmocka_unit_test(test_memory_and_profile),
    };
    if (!mkdtemp(shared_cache)) return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", shared_cache);
    return system(cmd) ? 1 : failed;
}
