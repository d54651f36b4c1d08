/* Training end to end on small synthetic data: a CNN trained through the
 * loader must bring its loss below a fixed threshold and classify held-out
 * images; and nncl-train, run on IDX files the test writes, must train,
 * log JSON lines, save, resume and reject bad options, and fine-tune and
 * export ONNX models. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NNCL_TRAIN_EXE
#error "NNCL_TRAIN_EXE must name the nncl-train program"
#endif
#ifndef NNCL_MPIEXEC
#define NNCL_MPIEXEC "" /* no MPI: no data-parallel run */
#endif
/* Open MPI refuses root without the first two, its single-copy path fails
 * in containers, and its components' allocations outlive MPI_Finalize
 * (LeakSanitizer would fail the sanitizer build's runs on them). */
#define MPI_ENV                                                                                    \
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "                                   \
    "OMPI_MCA_btl_vader_single_copy_mechanism=none ASAN_OPTIONS=detect_leaks=0"

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

/* Runs nncl-train with args in test_dir on the data in test_dir/data;
 * returns its exit status, output in out. */
static int train_on(const char *data, const char *args, char *out, size_t size) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' --data %s %s 2>&1", test_dir, NNCL_TRAIN_EXE, data,
             args);
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

static int train(const char *args, char *out, size_t size) {
    return train_on(".", args, out, size);
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

/* IDX files under test_dir: `train` stripes images of size x size, the
 * first `test` of them again as the test set; prefix "" or "dir/". */
static void write_stripes(const char *prefix, int train, int test, int size, unsigned seed) {
    uint8_t *img = malloc((size_t)train * size * size), *lab = malloc((size_t)train);
    int32_t *lab32 = malloc((size_t)train * sizeof *lab32);
    stripes(img, lab32, train, size, seed);
    for (int i = 0; i < train; i++)
        lab[i] = (uint8_t)lab32[i];
    const char *names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (int set = 0; set < 2; set++) {
        uint32_t n = (uint32_t)(set ? test : train), u = (uint32_t)size;
        char path[128];
        snprintf(path, sizeof path, "%s%s", prefix, names[2 * set]);
        write_idx(path, img, (uint32_t[]){n, u, u}, 3, (size_t)n * u * u);
        snprintf(path, sizeof path, "%s%s", prefix, names[2 * set + 1]);
        write_idx(path, lab, (uint32_t[]){n}, 1, n);
    }
    free(img);
    free(lab);
    free(lab32);
}

static void test_nncl_train_command(void **state) {
    (void)state;
    write_stripes("", 256, 64, 28, 5);
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

/* Labels outside --classes stop the run with the loader's error and a
 * non-zero status, instead of an epoch of zero steps. */
static void test_nncl_train_bad_labels(void **state) {
    (void)state;
    enum { N = 64, S = 28 };
    static uint8_t img[N * S * S];
    static int32_t lab32[N];
    uint8_t lab[N];
    stripes(img, lab32, N, S, 6);
    for (int i = 0; i < N; i++)
        lab[i] = (uint8_t)lab32[i];
    lab[N / 2] = 12; /* beyond --classes 10 */
    write_idx("train-images-idx3-ubyte", img, (uint32_t[]){N, S, S}, 3, sizeof img);
    write_idx("train-labels-idx1-ubyte", lab, (uint32_t[]){N}, 1, N);
    write_idx("t10k-images-idx3-ubyte", img, (uint32_t[]){N, S, S}, 3, sizeof img);
    write_idx("t10k-labels-idx1-ubyte", lab, (uint32_t[]){N}, 1, N);
    static char out[8192];
    int rc = train("--epochs 1 --batch 16 --no-shuffle --classes 10", out, sizeof out);
    if (rc == 0) fail_msg("nncl-train accepted label 12: %s", out);
    assert_contains(out, "label");
    assert_contains(out, "is 12");
}

static double uniform(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xffff) / 65536.0;
}

/* test_dir/dir/{train,test}_{x,y}.npy from a generator of n samples. */
typedef void (*make_fn)(float *x, int32_t *y, int n, unsigned seed);
static void write_arrays(const char *dir, const char *x_descr, nncl_shape sample, bool maps,
                         make_fn make, int n_train, int n_test) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", test_dir, dir);
    mkdir(path, 0755);
    int64_t size = nncl_shape_numel(sample), map = maps ? size / sample.dims[0] : 1;
    for (int set = 0; set < 2; set++) {
        int n = set ? n_test : n_train;
        float *x = malloc((size_t)(n * size) * sizeof *x);
        int32_t *y = malloc((size_t)(n * map) * sizeof *y);
        make(x, y, n, set ? 99u : 1u);
        nncl_shape xs = {.rank = sample.rank + 1, .dims = {n}}, ys = {.rank = 1, .dims = {n}};
        for (int32_t i = 0; i < sample.rank; i++) {
            xs.dims[i + 1] = sample.dims[i];
            if (maps && i) ys.dims[ys.rank++] = sample.dims[i];
        }
        char name[64];
        snprintf(name, sizeof name, "%s/%s_x.npy", dir, set ? "test" : "train");
        if (!strcmp(x_descr, "<i8")) { /* token ids as int64, as NumPy keeps them */
            int64_t *ids = malloc((size_t)(n * size) * sizeof *ids);
            for (int64_t i = 0; i < n * size; i++)
                ids[i] = (int64_t)x[i];
            write_npy(name, "<i8", xs, ids, (size_t)(n * size) * sizeof *ids);
            free(ids);
        } else {
            write_npy(name, "<f4", xs, x, (size_t)(n * size) * sizeof *x);
        }
        snprintf(name, sizeof name, "%s/%s_y.npy", dir, set ? "test" : "train");
        write_npy(name, "<i4", ys, y, (size_t)(n * map) * sizeof *y);
        free(x);
        free(y);
    }
}

/* Waves of 2 (class 0) or 6 (class 1) periods per 64 steps, noisy. */
static void waves(float *x, int32_t *y, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(uniform(&seed) * 2);
        double phase = 6.28 * uniform(&seed);
        for (int t = 0; t < 64; t++)
            x[i * 64 + t] = (float)(sin(6.2832 * (y[i] ? 6 : 2) * t / 64 + phase) +
                                    0.3 * (uniform(&seed) - 0.5));
    }
}

/* 16x16 noise with a bright square of side 4 to 8; its pixels are class 1. */
static void squares(float *x, int32_t *y, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        int side = 4 + (int)(uniform(&seed) * 5), top = (int)(uniform(&seed) * (17 - side)),
            left = (int)(uniform(&seed) * (17 - side));
        for (int p = 0; p < 256; p++) {
            bool in =
                p / 16 >= top && p / 16 < top + side && p % 16 >= left && p % 16 < left + side;
            y[i * 256 + p] = in;
            x[i * 256 + p] = (float)(in * 0.8 + 0.4 * uniform(&seed));
        }
    }
}

/* 12 token ids from 1-19 but 7; class 1 sentences hold one 7 somewhere. */
static void sentences(float *x, int32_t *y, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(uniform(&seed) * 2);
        for (int t = 0; t < 12; t++) {
            int id = 1 + (int)(uniform(&seed) * 18);
            x[i * 12 + t] = (float)(id >= 7 ? id + 1 : id);
        }
        if (y[i]) x[i * 12 + (int)(uniform(&seed) * 12)] = 7;
    }
}

/* 8x8x8 noise volumes, class 1 holding a bright 4x4x4 cube. */
static void cubes(float *x, int32_t *y, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(uniform(&seed) * 2);
        int at = (int)(uniform(&seed) * 5);
        for (int v = 0; v < 512; v++) {
            int z = v / 64, r = v / 8 % 8, c = v % 8;
            bool in = y[i] && z >= at && z < at + 4 && r >= at && r < at + 4 && c >= 2 && c < 6;
            x[i * 512 + v] = (float)(in * 1.0 + 0.5 * uniform(&seed));
        }
    }
}

/* The test accuracy of the last epoch line in out. */
static double last_test_acc(const char *out) {
    const char *p = NULL, *q = out;
    while ((q = strstr(q, "test acc ")))
        p = q++;
    return p ? atof(p + 9) : -1;
}

/* nncl-train's other models on NumPy arrays: each learns its task (test
 * accuracy above what guessing gets), and mismatched data is refused. */
static void test_nncl_train_on_arrays(void **state) {
    (void)state;
    static char out[16384];
    write_arrays("signals", "<f4", NNCL_SHAPE(1, 64), false, waves, 128, 64);
    write_arrays("masks", "<f4", NNCL_SHAPE(1, 16, 16), true, squares, 64, 16);
    write_arrays("text", "<i8", NNCL_SHAPE(1, 12), false, sentences, 256, 64);
    write_arrays("volumes", "<f4", NNCL_SHAPE(1, 8, 8, 8), false, cubes, 64, 32);
    const struct {
        const char *data, *args, *expect;
        double accuracy; /* at least, in % */
    } runs[] = {
        {"signals", "--model ecg --epochs 4 --batch 16", "ecg1d (", 90},
        {"masks", "--model unet --epochs 6 --batch 8 --log-json unet.json", "per position", 95},
        {"text", "--model textcnn --epochs 8 --batch 16 --lr 0.005", "textcnn (", 90},
        {"volumes", "--model volume3d --epochs 4 --batch 8", "volume3d (", 90},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        int rc = train_on(runs[i].data, runs[i].args, out, sizeof out);
        if (rc != 0) fail_msg("%s failed (%d): %s", runs[i].args, rc, out);
        assert_contains(out, runs[i].expect);
        assert_contains(out, "2 classes");
        double acc = last_test_acc(out);
        if (acc < runs[i].accuracy)
            fail_msg("%s: test accuracy %.2f%% < %.0f%%: %s", runs[i].args, acc, runs[i].accuracy,
                     out);
    }
    /* U-Net: the mean IoU too, logged. */
    size_t size;
    char *log = (char *)read_file("unet.json", &size);
    log = realloc(log, size + 1);
    log[size] = 0;
    const char *miou = NULL; /* the last epoch's */
    for (const char *q = log; (q = strstr(q, "\"test_miou\": ")); q++)
        miou = q;
    assert_non_null(miou);
    if (atof(miou + 13) < 0.8) fail_msg("U-Net's mean IoU is low: %s", log);
    free(log);
    const char *refused[][3] = {
        {"signals", "--model unet", "unet takes images (CxHxW); the .npy data holds 1x64 samples"},
        {"signals", "--model textcnn", "sample 0 of the training set holds another value"},
        {"masks", "--model fashion_cnn", "one label per sample; the .npy data has label maps"},
        {"text", "--model volume3d", "volume3d takes volumes"},
        {"volumes", "--model resnet18", "takes images"},
        {"empty", "--model ecg", "holds no dataset"},
    };
    char empty[256];
    snprintf(empty, sizeof empty, "%s/empty", test_dir);
    mkdir(empty, 0755);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int rc = train_on(refused[i][0], refused[i][1], out, sizeof out);
        if (rc != 1) fail_msg("%s on %s gave %d: %s", refused[i][1], refused[i][0], rc, out);
        assert_contains(out, refused[i][2]);
    }
}

/* 3x16x16 noise with the first (class 0) or second (class 1) channel
 * brighter. */
static void tints(float *x, int32_t *y, int n, unsigned seed) {
    for (int i = 0; i < n; i++) {
        y[i] = (int32_t)(uniform(&seed) * 2);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 256; p++)
                x[(i * 3 + c) * 256 + p] = (float)(uniform(&seed) - 0.5 + (c == y[i] ? 0.4 : 0));
    }
}

/* Parameter `name` of the ONNX file at `file` (relative: in test_dir),
 * imported at batch 16. */
static float *onnx_param(const char *file, const char *name, int64_t count) {
    char path[512];
    snprintf(path, sizeof path, "%s%s%s", file[0] == '/' ? "" : test_dir, file[0] == '/' ? "" : "/",
             file);
    nncl_graph *g;
    nncl_onnx_model *m;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    ASSERT_OK(nncl_onnx_import(g, path, &(nncl_onnx_options){.batch = 16}, &m));
    float *v = malloc((size_t)count * sizeof *v);
    assert_non_null(v);
    ASSERT_OK(nncl_graph_param_read(g, name, v, (size_t)count * sizeof *v));
    nncl_onnx_model_free(m);
    nncl_graph_destroy(g);
    return v;
}

/* Transfer learning through ONNX: a model nncl-train exported trains again
 * from the file; --freeze keeps the named layers' weights exactly,
 * --replace-head gives it a fresh last layer that learns the task, and the
 * re-exported model holds it. */
static void test_nncl_train_onnx_models(void **state) {
    (void)state;
    if (!NNCL_TEST_ONNX) skip(); /* a library built without protobuf-c reads no ONNX */
    static char out[16384];
    write_arrays("signals", "<f4", NNCL_SHAPE(1, 64), false, waves, 128, 64);
    int rc =
        train_on("signals", "--model ecg --epochs 2 --batch 16 --export ecg.onnx", out, sizeof out);
    if (rc != 0) fail_msg("exporting failed (%d): %s", rc, out);
    assert_contains(out, "ONNX model: ecg.onnx");
    rc = train_on(
        "signals",
        "--model ecg.onnx --epochs 4 --batch 16 --freeze conv1 --freeze bn1 --freeze conv2 "
        "--replace-head 2 --export tuned.onnx",
        out, sizeof out);
    if (rc != 0) fail_msg("fine-tuning failed (%d): %s", rc, out);
    assert_contains(out, "Training ecg.onnx (");
    if (last_test_acc(out) < 90) fail_msg("the fine-tuned model learns too little: %s", out);
    float *before = onnx_param("ecg.onnx", "conv2.weight", 32 * 16 * 5),
          *after = onnx_param("tuned.onnx", "conv2.weight", 32 * 16 * 5);
    assert_memory_equal(before, after, 32 * 16 * 5 * sizeof(float));
    free(before), free(after);
    before = onnx_param("ecg.onnx", "conv3.weight", 64 * 32 * 3);
    after = onnx_param("tuned.onnx", "conv3.weight", 64 * 32 * 3);
    assert_memory_not_equal(before, after, 64 * 32 * 3 * sizeof(float)); /* not frozen: trained */
    free(before), free(after);
    free(onnx_param("tuned.onnx", "new_head.weight", 2 * 64));
    /* A model PyTorch exported (VGG-style, 10 classes, 3x16x16 images):
     * its features (random: it was never trained) frozen, a new head for 2
     * classes, which learns slowly on them, hence the larger rate. */
    write_arrays("tints", "<f4", NNCL_SHAPE(3, 16, 16), false, tints, 256, 64);
    char args[1024], torch[512];
    snprintf(torch, sizeof torch, "%s/onnx/classifier/model.onnx", NNCL_TEST_DATA);
    snprintf(
        args, sizeof args,
        "--model %s --epochs 8 --lr 0.01 --batch 16 --replace-head 2 --freeze features. --export "
        "torch_tuned.onnx",
        torch);
    rc = train_on("tints", args, out, sizeof out);
    if (rc != 0) fail_msg("fine-tuning PyTorch's model failed (%d): %s", rc, out);
    if (last_test_acc(out) < 90) fail_msg("PyTorch's model fine-tuned learns too little: %s", out);
    before = onnx_param(torch, "features.4.weight", 16 * 8 * 9);
    after = onnx_param("torch_tuned.onnx", "features.4.weight", 16 * 8 * 9);
    assert_memory_equal(before, after, 16 * 8 * 9 * sizeof(float));
    free(before), free(after);
    const char *refused[][2] = {
        {"--model ecg --replace-head 3", "--replace-head applies to ONNX models"},
        {"--model missing.onnx", "missing.onnx: cannot open"},
        {"--model ecg.onnx --freeze nothing_named_so", "--freeze"},
        {"--model ecg.onnx --batch 16 --classes 9", "outputs 2 classes; the data has 9"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        rc = train_on("signals", refused[i][0], out, sizeof out);
        if (rc == 0) fail_msg("%s succeeded: %s", refused[i][0], out);
        assert_contains(out, refused[i][1]);
    }
}

/* nncl-train under mpirun with two processes: one global batch of twice
 * --batch, figures and files from rank 0 only; its checkpoints resume in
 * one process, at the end of an epoch and mid-epoch (the position kept in
 * samples, so a global batch of another size finds it). */
static void test_nncl_train_data_parallel(void **state) {
    (void)state;
    if (!*NNCL_MPIEXEC) skip(); /* a library built without MPI trains in one process */
    char path[256];
    snprintf(path, sizeof path, "%s/dp", test_dir);
    assert_int_equal(mkdir(path, 0755), 0);
    write_stripes("dp/", 256, 64, 16, 9);
    static char out[16384];
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && " MPI_ENV " '%s' -n 2 --oversubscribe '%s' "
             "--data dp --epochs 1 --batch 16 --optimizer sgd --lr 0.05 --save dp.safetensors "
             "--log-json dp.json 2>&1",
             test_dir, NNCL_MPIEXEC, NNCL_TRAIN_EXE);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) fail_msg("mpirun nncl-train failed: %s", out);
    assert_contains(out, "Data-parallel over 2 processes: global batch 32 (16 each)");
    assert_contains(out, "img/s over all of them");
    assert_contains(out, "scaling efficiency");
    snprintf(path, sizeof path, "%s/dp.json", test_dir);
    assert_int_equal(count_lines(path), 1); /* rank 0 alone writes the log */
    /* 8 global batches of 32: a full epoch; one process goes on with epoch 2. */
    int rc = train_on("dp", "--epochs 2 --batch 32 --optimizer sgd --resume dp.safetensors", out,
                      sizeof out);
    if (rc != 0) fail_msg("resuming in one process failed (%d): %s", rc, out);
    assert_contains(out, "Resuming dp.safetensors at epoch 2, batch 0 (8 steps done)");
    assert_contains(out, "epoch 2/2");
    /* Stopped after 3 global batches (96 samples): batch 3 of 32, and with
     * a batch of 40, batch 2, repeating 16 samples. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && " MPI_ENV " '%s' -n 2 --oversubscribe '%s' "
             "--data dp --steps 3 --batch 16 --save mid.safetensors > /dev/null 2>&1",
             test_dir, NNCL_MPIEXEC, NNCL_TRAIN_EXE);
    assert_int_equal(system(cmd), 0);
    rc = train_on("dp", "--epochs 1 --batch 32 --resume mid.safetensors", out, sizeof out);
    if (rc != 0) fail_msg("resuming mid-epoch failed (%d): %s", rc, out);
    assert_contains(out, "at epoch 1, batch 3 (3 steps done)");
    rc = train_on("dp", "--epochs 1 --batch 40 --resume mid.safetensors", out, sizeof out);
    if (rc != 0) fail_msg("resuming mid-epoch failed (%d): %s", rc, out);
    assert_contains(out, "repeats the last 16 of them");
    assert_contains(out, "at epoch 1, batch 2 (3 steps done)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_falls_on_synthetic_data),
        cmocka_unit_test(test_nncl_train_command),
        cmocka_unit_test(test_nncl_train_bad_labels),
        cmocka_unit_test(test_nncl_train_on_arrays),
        cmocka_unit_test(test_nncl_train_onnx_models),
        cmocka_unit_test(test_nncl_train_data_parallel),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
