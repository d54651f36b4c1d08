/* Checkpoints: a round trip of every parameter, buffer and optimizer state;
 * a run of 2N steps against N steps, a save, and N more in a new process
 * (bitwise-equal losses); strict and non-strict loading of files that do
 * not fit; damaged files; and saves killed midway, which must leave the
 * previous checkpoint loadable. The test program re-runs itself for the
 * steps that need a separate process. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *self;
enum { BATCH = 8, STEPS = 6 };

typedef struct net {
    nncl_graph *g;
    nncl_node *x, *y, *loss;
    nncl_optimizer *opt;
} net;

/* conv - bn - relu - pool - linear - dropout - linear - cross-entropy,
 * Adam with a step schedule: every kind of state a resume must restore. */
static net build(uint64_t seed, int64_t hidden) {
    net n;
    ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = seed}, &n.g));
    n.x = nncl_input(n.g, "x", NNCL_SHAPE(BATCH, 2, 6, 6));
    n.y = nncl_input_labels(n.g, "y", BATCH);
    nncl_node *h =
        nncl_conv(n.g, n.x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}}, "conv");
    h = nncl_relu(n.g, nncl_batch_norm(n.g, h, NULL, "bn"), NULL);
    h = nncl_max_pool(n.g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool");
    h = nncl_relu(n.g, nncl_linear(n.g, nncl_flatten(n.g, h, NULL), hidden, NULL, "fc1"), NULL);
    h = nncl_linear(n.g, nncl_dropout(n.g, h, 0.3f, "drop"), 3, NULL, "fc2");
    n.loss = nncl_cross_entropy(n.g, h, n.y, NULL, "loss");
    if (!n.loss) fail_msg("%s", nncl_graph_error(n.g));
    ASSERT_OK(nncl_optimizer_create(n.g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.01f},
                                    &n.opt));
    ASSERT_OK(nncl_optimizer_set_schedule(
        n.opt, &(nncl_schedule){.kind = NNCL_SCHEDULE_STEP, .step_size = 2, .gamma = 0.5f}));
    return n;
}

static void destroy(net *n) {
    nncl_optimizer_destroy(n->opt);
    nncl_graph_destroy(n->g);
}

/* Step s's batch, a function of s alone. */
static float train_one(net *n, int s) {
    float x[BATCH * 2 * 36];
    int32_t y[BATCH];
    uint64_t r = 1000 + (uint64_t)s;
    for (int i = 0; i < BATCH * 72; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((r >> 40) % 1000) / 500.0f - 1.0f;
    }
    for (int i = 0; i < BATCH; i++)
        y[i] = (i + s) % 3;
    ASSERT_OK(nncl_graph_set_input(n->g, n->x, x, sizeof x));
    ASSERT_OK(nncl_graph_set_input(n->g, n->y, y, sizeof y));
    float loss;
    ASSERT_OK(nncl_train_step(n->g, n->opt, n->loss, &loss));
    nncl_optimizer_schedule_step(n->opt);
    return loss;
}

static char *path_of(const char *name) {
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", test_dir, name);
    return p[k];
}

/* Runs this program again with arguments; returns its exit status. */
static int run_self(const char *mode, const char *a, const char *b) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, mode, a, b, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Child: load `ckpt`, train steps STEPS/2 .. STEPS-1, write the losses. */
static int continue_training(const char *ckpt, const char *out) {
    net n = build(99, 16); /* another seed: everything must come from the file */
    if (nncl_load(n.g, n.opt, ckpt, NULL) != NNCL_OK) {
        fprintf(stderr, "load: %s\n", nncl_last_error());
        return 1;
    }
    FILE *f = fopen(out, "wb");
    for (int s = STEPS / 2; s < STEPS; s++) {
        float loss = train_one(&n, s);
        fwrite(&loss, sizeof loss, 1, f);
    }
    fclose(f);
    destroy(&n);
    test_context_teardown(NULL);
    return 0;
}

static void test_resume_equals_uninterrupted(void **state) {
    (void)state;
    float straight[STEPS], resumed[STEPS / 2];
    net a = build(5, 16);
    for (int s = 0; s < STEPS; s++)
        straight[s] = train_one(&a, s);
    destroy(&a);
    net b = build(5, 16);
    for (int s = 0; s < STEPS / 2; s++)
        assert_true(train_one(&b, s) == straight[s]);
    ASSERT_OK(nncl_save(b.g, b.opt, path_of("half.safetensors"), NULL, 0));
    destroy(&b);
    assert_int_equal(run_self("--continue", path_of("half.safetensors"), path_of("losses")), 0);
    FILE *f = fopen(path_of("losses"), "rb");
    assert_non_null(f);
    assert_int_equal(fread(resumed, sizeof(float), STEPS / 2, f), STEPS / 2);
    fclose(f);
    for (int s = 0; s < STEPS / 2; s++)
        if (resumed[s] != straight[STEPS / 2 + s])
            fail_msg("step %d: resumed loss %.9g, uninterrupted %.9g", STEPS / 2 + s, resumed[s],
                     straight[STEPS / 2 + s]);
}

static void test_round_trip(void **state) {
    (void)state;
    net a = build(5, 16);
    for (int s = 0; s < 3; s++)
        train_one(&a, s);
    nncl_metadata meta[] = {{"epoch", "7"}};
    ASSERT_OK(nncl_save(a.g, a.opt, path_of("rt.safetensors"), meta, 1));
    net b = build(6, 16);
    ASSERT_OK(nncl_load(b.g, b.opt, path_of("rt.safetensors"), NULL));
    for (size_t i = 0; i < nncl_graph_param_count(a.g); i++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(a.g, i, &info));
        size_t bytes = (size_t)nncl_shape_numel(info.shape) * sizeof(float);
        float *va = malloc(bytes), *vb = malloc(bytes);
        ASSERT_OK(nncl_graph_param_read(a.g, info.name, va, bytes));
        ASSERT_OK(nncl_graph_param_read(b.g, info.name, vb, bytes));
        if (memcmp(va, vb, bytes)) fail_msg("%s differs after loading", info.name);
        free(va);
        free(vb);
    }
    assert_int_equal(nncl_optimizer_steps(b.opt), 3);
    assert_float_equal(nncl_optimizer_lr(b.opt), nncl_optimizer_lr(a.opt), 0);
    char v[16];
    ASSERT_OK(nncl_checkpoint_metadata(path_of("rt.safetensors"), "epoch", v, sizeof v));
    assert_string_equal(v, "7");
    assert_int_equal(nncl_checkpoint_metadata(path_of("rt.safetensors"), "none", v, sizeof v),
                     NNCL_ERROR_NOT_FOUND);
    /* The next step's loss agrees too. */
    assert_true(train_one(&a, 3) == train_one(&b, 3));
    /* Model only: a graph without optimizer loads the same file. */
    net c = build(7, 16);
    ASSERT_OK(nncl_load(c.g, NULL, path_of("rt.safetensors"), NULL));
    destroy(&a);
    destroy(&b);
    destroy(&c);
}

static void test_strict_and_non_strict(void **state) {
    (void)state;
    net a = build(5, 16);
    ASSERT_OK(nncl_save(a.g, NULL, path_of("model.safetensors"), NULL, 0));
    /* A wider fc1: fc1.weight, fc1.bias and fc2.weight do not fit. */
    net b = build(8, 20);
    float before[3 * 20], after[3 * 20], conv_a[72], conv_b[72], conv_kept[72];
    ASSERT_OK(nncl_graph_param_read(b.g, "fc2.weight", before, sizeof before));
    ASSERT_OK(nncl_graph_param_read(b.g, "conv.weight", conv_kept, sizeof conv_kept));
    assert_int_equal(nncl_load(b.g, NULL, path_of("model.safetensors"), NULL), NNCL_ERROR_SHAPE);
    const char *msg = nncl_last_error();
    const char *named[] = {"'fc1.weight' is F32 [16, 16] in the file, F32 [20, 16] here",
                           "'fc1.bias'", "'fc2.weight'", "model.safetensors"};
    for (int i = 0; i < 4; i++)
        if (!strstr(msg, named[i])) fail_msg("expected \"%s\" in \"%s\"", named[i], msg);
    /* Nothing changed: conv.weight fits, but a failed load loads nothing. */
    ASSERT_OK(nncl_graph_param_read(a.g, "conv.weight", conv_a, sizeof conv_a));
    ASSERT_OK(nncl_graph_param_read(b.g, "conv.weight", conv_b, sizeof conv_b));
    assert_memory_equal(conv_b, conv_kept, sizeof conv_b);
    assert_true(memcmp(conv_a, conv_b, sizeof conv_a) != 0); /* the seeds differ */
    char report[1024];
    ASSERT_OK(nncl_load(
        b.g, NULL, path_of("model.safetensors"),
        &(nncl_load_options){.non_strict = true, .report = report, .report_size = sizeof report}));
    assert_non_null(strstr(report, "fc1.weight"));
    ASSERT_OK(nncl_graph_param_read(b.g, "conv.weight", conv_b, sizeof conv_b));
    assert_memory_equal(conv_a, conv_b, sizeof conv_a);
    ASSERT_OK(nncl_graph_param_read(b.g, "fc2.weight", after, sizeof after));
    assert_memory_equal(before, after, sizeof before); /* skipped, untouched */
    /* A model without the optimizer state, loaded with an optimizer. */
    assert_int_equal(nncl_load(a.g, a.opt, path_of("model.safetensors"), NULL),
                     NNCL_ERROR_INVALID_ARGUMENT);
    /* Missing and unexpected tensors, both named. */
    nncl_graph *small;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &small));
    nncl_node *x = nncl_input(small, "x", NNCL_SHAPE(BATCH, 2, 6, 6));
    nncl_conv(small, x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}}, "conv");
    nncl_linear(small, nncl_flatten(small, x, NULL), 5, NULL, "extra");
    assert_int_equal(nncl_load(small, NULL, path_of("model.safetensors"), NULL), NNCL_ERROR_SHAPE);
    msg = nncl_last_error();
    if (!strstr(msg, "missing 'extra.weight'") || !strstr(msg, "unexpected 'bn.running_var'"))
        fail_msg("unexpected message: %s", msg);
    nncl_graph_destroy(small);
    destroy(&a);
    destroy(&b);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_damaged_files(void **state) {
    (void)state;
    net a = build(5, 16);
    ASSERT_OK(nncl_save(a.g, NULL, path_of("good.safetensors"), NULL, 0));
    FILE *f = fopen(path_of("good.safetensors"), "rb");
    static unsigned char bytes[1 << 16];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    write_bytes(path_of("cut.safetensors"), bytes, n - 100);
    assert_int_equal(nncl_load(a.g, NULL, path_of("cut.safetensors"), NULL),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(nncl_last_error(), "cut.safetensors"));
    assert_non_null(strstr(nncl_last_error(), "data section"));
    write_bytes(path_of("tiny.safetensors"), bytes, 5);
    assert_int_equal(nncl_load(a.g, NULL, path_of("tiny.safetensors"), NULL),
                     NNCL_ERROR_INVALID_ARGUMENT);
    bytes[8] = 'x'; /* the header's opening brace */
    write_bytes(path_of("json.safetensors"), bytes, n);
    assert_int_equal(nncl_load(a.g, NULL, path_of("json.safetensors"), NULL),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(nncl_last_error(), "near byte"));
    assert_int_equal(nncl_load(a.g, NULL, path_of("absent.safetensors"), NULL), NNCL_ERROR_IO);
    destroy(&a);
}

/* Child: save a large graph over `path` again and again until killed. */
static int save_forever(const char *path) {
    nncl_graph *g;
    if (nncl_graph_create(test_context(), NULL, &g) != NNCL_OK) return 1;
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 2048));
    nncl_linear(g, x, 2048, NULL, "big");
    for (;;)
        if (nncl_save(g, NULL, path, NULL, 0) != NNCL_OK) return 1;
}

static void test_killed_save_leaves_a_checkpoint(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 2048));
    nncl_linear(g, x, 2048, NULL, "big");
    const char *path = path_of("killed.safetensors");
    ASSERT_OK(nncl_save(g, NULL, path, NULL, 0));
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl(self, self, "--save-forever", path, (char *)NULL);
            _exit(127);
        }
        struct timespec t = {0, 150000000L + round * 70000000L};
        nanosleep(&t, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (nncl_load(g, NULL, path, NULL) != NNCL_OK)
            fail_msg("round %d: the checkpoint no longer loads: %s", round, nncl_last_error());
    }
    nncl_graph_destroy(g);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -f %s/*.tmp.*", test_dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv) {
    self = argv[0];
    if (argc == 4 && !strcmp(argv[1], "--continue")) return continue_training(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "--save-forever")) return save_forever(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_resume_equals_uninterrupted),
        cmocka_unit_test(test_strict_and_non_strict),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_killed_save_leaves_a_checkpoint),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
