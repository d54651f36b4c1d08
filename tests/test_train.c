/* Training end to end on small synthetic data: a CNN trained through the
 * loader must bring its loss below a fixed threshold and classify held-out
 * images; and nncl-train, run on IDX files the test writes, must train,
 * log JSON lines, save, resume and reject bad options. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NNCL_TRAIN_EXE
#error "NNCL_TRAIN_EXE must name the nncl-train program"
#endif

/* Class 0: horizontal stripes, class 1: vertical, at a random phase, with
 * noise: count images of size x size. */
static void stripes(uint8_t *img, int32_t *labels, int count, int size, unsigned seed) {
    for (int n = 0; n < count; n++) {
        seed = seed * 1103515245u + 12345u;
        int cls = (int)(seed >> 16) % 2, phase = (int)(seed >> 20) % 4;
        labels[n] = cls;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                seed = seed * 1103515245u + 12345u;
                int t = cls ? x : y;
                int v = ((t + phase) / 2) % 2 ? 200 : 40;
                img[(n * size + y) * size + x] = (uint8_t)(v + (int)(seed >> 24) % 40);
            }
    }
}

static void test_loss_falls_on_synthetic_data(void **state) {
    (void)state;
    enum { N = 512, S = 8, B = 32 };
    static uint8_t img[N * S * S];
    static int32_t lab[N];
    stripes(img, lab, N, S, 1);
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_create(img, lab, N, 1, S, S, &ds));
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 2}, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(B, 1, S, S));
    nncl_node *y = nncl_input_labels(g, "y", B);
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 8, .kernel = {3, 3}, .padding = {1, 1}}, "c1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn"), NULL);
    h = nncl_global_avg_pool(g, nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "p"),
                             "gap");
    nncl_node *logits = nncl_linear(g, nncl_flatten(g, h, NULL), 2, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    assert_non_null(loss);
    nncl_optimizer *opt;
    ASSERT_OK(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.02f}, &opt));
    nncl_loader *l;
    ASSERT_OK(nncl_loader_create(
        ds,
        &(nncl_loader_options){.batch = B, .shuffle = true, .seed = 4, .mean = 0.5f, .std = 0.3f},
        &l));
    float first = 0, last = 0;
    int64_t valid, steps = 0;
    for (int epoch = 0; epoch < 4; epoch++)
        while (nncl_loader_next(l, g, x, y, &valid) == NNCL_OK && valid) {
            ASSERT_OK(nncl_train_step(g, opt, loss, &last));
            if (steps++ == 0) first = last;
        }
    if (!(last < 0.1f && first > 0.5f))
        fail_msg("loss went from %g to %g; expected from above 0.5 to below 0.1", first, last);
    /* Held-out images, in eval mode. */
    static uint8_t test_img[B * S * S];
    static int32_t test_lab[B];
    stripes(test_img, test_lab, B, S, 99);
    float xs[B * S * S], out[B * 2];
    for (int i = 0; i < B * S * S; i++)
        xs[i] = (test_img[i] / 255.0f - 0.5f) / 0.3f;
    ASSERT_OK(nncl_graph_set_input(g, x, xs, sizeof xs));
    ASSERT_OK(nncl_graph_infer(g, logits, out, sizeof out));
    int right = 0;
    for (int n = 0; n < B; n++)
        right += (out[2 * n + 1] > out[2 * n]) == (test_lab[n] == 1);
    assert_true(right >= B - 1);
    nncl_loader_destroy(l);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_dataset_destroy(ds);
}

static void write_idx(const char *name, const uint8_t *data, const uint32_t *dims, int rank,
                      size_t bytes) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", test_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char head[4] = {0, 0, 8, (unsigned char)rank};
    fwrite(head, 1, 4, f);
    for (int i = 0; i < rank; i++) {
        unsigned char d[4] = {(unsigned char)(dims[i] >> 24), (unsigned char)(dims[i] >> 16),
                              (unsigned char)(dims[i] >> 8), (unsigned char)dims[i]};
        fwrite(d, 1, 4, f);
    }
    fwrite(data, 1, bytes, f);
    fclose(f);
}

/* Runs nncl-train with args in test_dir; returns its exit status, output in out. */
static int train(const char *args, char *out, size_t size) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' --data . %s 2>&1", test_dir, NNCL_TRAIN_EXE, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    char rest[4096]; /* drain whatever did not fit, so the program never blocks */
    while (fread(rest, 1, sizeof rest, p) > 0) {
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The bytes of test_dir/name. */
static unsigned char *read_file(const char *name, size_t *size) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", test_dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc(*size);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, *size, f), *size);
    fclose(f);
    return bytes;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void test_nncl_train_command(void **state) {
    (void)state;
    enum { TRAIN = 256, TEST = 64, S = 28 };
    static uint8_t img[TRAIN * S * S];
    static int32_t lab32[TRAIN];
    uint8_t lab[TRAIN];
    stripes(img, lab32, TRAIN, S, 5);
    for (int i = 0; i < TRAIN; i++)
        lab[i] = (uint8_t)lab32[i];
    write_idx("train-images-idx3-ubyte", img, (uint32_t[]){TRAIN, S, S}, 3, sizeof img);
    write_idx("train-labels-idx1-ubyte", lab, (uint32_t[]){TRAIN}, 1, TRAIN);
    write_idx("t10k-images-idx3-ubyte", img, (uint32_t[]){TEST, S, S}, 3, (size_t)TEST * S * S);
    write_idx("t10k-labels-idx1-ubyte", lab, (uint32_t[]){TEST}, 1, TEST);
    static char out[8192];
    /* Two epochs of 8 batches, with SGD, a schedule and augmentation. */
    int rc = train("--epochs 2 --batch 32 --optimizer sgd --lr 0.05 --schedule step --step-size 1 "
                   "--hflip --shift 1 --log-json log.json --save ckpt.safetensors",
                   out, sizeof out);
    if (rc != 0) fail_msg("nncl-train failed (%d): %s", rc, out);
    assert_non_null(strstr(out, "epoch 2/2"));
    assert_non_null(strstr(out, "test acc"));
    char path[128];
    snprintf(path, sizeof path, "%s/log.json", test_dir);
    assert_int_equal(count_lines(path), 2);
    FILE *f = fopen(path, "r");
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    const char *keys[] = {"\"epoch\": 1", "\"loss\":", "\"train_accuracy\":", "\"test_accuracy\":",
                          "\"images_per_s\":"};
    for (int i = 0; i < 5; i++)
        if (!strstr(line, keys[i])) fail_msg("no %s in %s", keys[i], line);
    /* Resume to a third epoch: one more JSON line, from epoch 3. */
    rc = train("--epochs 3 --batch 32 --optimizer sgd --lr 0.05 --schedule step --step-size 1 "
               "--resume ckpt.safetensors --log-json log.json",
               out, sizeof out);
    if (rc != 0) fail_msg("resuming failed (%d): %s", rc, out);
    assert_non_null(strstr(out, "Resuming"));
    assert_null(strstr(out, "epoch 1/3"));
    assert_non_null(strstr(out, "epoch 3/3"));
    assert_int_equal(count_lines(path), 3);
    /* Bad options are refused with a message. */
    assert_int_equal(train("--epochs two", out, sizeof out), 2);
    assert_non_null(strstr(out, "--epochs takes a number"));
    assert_int_equal(train("--optimizer lion", out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown optimizer"));
    assert_int_equal(train("--model resnet1000", out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown model"));
    rc = train("--resume missing.safetensors", out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "missing.safetensors"));
    /* A checkpoint already at --epochs leaves nothing to train: an error, not exit 0. */
    rc = train("--epochs 2 --batch 32 --optimizer sgd --resume ckpt.safetensors", out, sizeof out);
    assert_int_equal(rc, 1);
    assert_contains(out, "nothing to train");
    /* A directory is not a checkpoint. */
    assert_int_equal(train("--resume .", out, sizeof out), 1);
    assert_contains(out, "is a directory");
    /* Numbers that would train to NaN or silently fall back to a default. */
    const char *refused[][2] = {{"--lr nan", "finite"},
                                {"--lr inf", "finite"},
                                {"--lr -1", "--lr must be >= 0"},
                                {"--lr 0", "--lr must be > 0"},
                                {"--weight-decay nan", "finite"},
                                {"--momentum -0.5", "must be >= 0"},
                                {"--milestones a,b", "--milestones"},
                                {"--milestones 2,", "--milestones"},
                                {"--epochs 1.5", "whole number"},
                                {"--batch 1e30", "whole number"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        rc = train(refused[i][0], out, sizeof out);
        if (rc != 2) fail_msg("'%s' gave exit %d: %s", refused[i][0], rc, out);
        assert_contains(out, refused[i][1]);
    }
    /* A diverging run stops with a non-zero status, naming the op with
     * --check-numerics, and leaves the last checkpoint as it was. */
    rc = train("--epochs 1 --batch 32 --save div.safetensors", out, sizeof out);
    if (rc != 0) fail_msg("nncl-train failed (%d): %s", rc, out);
    size_t saved_size;
    unsigned char *saved = read_file("div.safetensors", &saved_size);
    rc = train("--epochs 3 --batch 32 --lr 1e30 --resume div.safetensors --save div.safetensors",
               out, sizeof out);
    assert_int_equal(rc, 1);
    assert_contains(out, "training diverged");
    assert_contains(out, "the last checkpoint is left as it was");
    rc = train("--epochs 3 --batch 32 --lr 1e30 --check-numerics --resume div.safetensors", out,
               sizeof out);
    assert_int_equal(rc, 1);
    assert_contains(out, "are not finite");
    assert_contains(out, "op '");
    size_t now_size;
    unsigned char *now = read_file("div.safetensors", &now_size);
    assert_int_equal(now_size, saved_size);
    assert_memory_equal(now, saved, saved_size);
    free(saved);
    free(now);
    /* A batch larger than the 1024 labels a fixed buffer once held trains. */
    rc = train("--epochs 1 --batch 2000", out, sizeof out);
    if (rc != 0) fail_msg("--batch 2000 failed (%d): %s", rc, out);
    assert_contains(out, "epoch 1/1");
}

/* Labels outside the model's classes stop the run with the loader's error
 * and a non-zero status, instead of an epoch of zero steps. */
static void test_nncl_train_bad_labels(void **state) {
    (void)state;
    enum { N = 64, S = 28 };
    static uint8_t img[N * S * S];
    static int32_t lab32[N];
    uint8_t lab[N];
    stripes(img, lab32, N, S, 6);
    for (int i = 0; i < N; i++)
        lab[i] = (uint8_t)lab32[i];
    lab[N / 2] = 12; /* fashion_cnn has 10 classes */
    write_idx("train-images-idx3-ubyte", img, (uint32_t[]){N, S, S}, 3, sizeof img);
    write_idx("train-labels-idx1-ubyte", lab, (uint32_t[]){N}, 1, N);
    write_idx("t10k-images-idx3-ubyte", img, (uint32_t[]){N, S, S}, 3, sizeof img);
    write_idx("t10k-labels-idx1-ubyte", lab, (uint32_t[]){N}, 1, N);
    static char out[8192];
    int rc = train("--epochs 1 --batch 16 --no-shuffle", out, sizeof out);
    if (rc == 0) fail_msg("nncl-train accepted label 12: %s", out);
    assert_contains(out, "label");
    assert_contains(out, "is 12");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_falls_on_synthetic_data),
        cmocka_unit_test(test_nncl_train_command),
        cmocka_unit_test(test_nncl_train_bad_labels),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
