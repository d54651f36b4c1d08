/* ResNet-18 (He et al. 2016) as CIFAR-10 models use it: a 3x3 stem, four
 * stages of two basic blocks with projection shortcuts where the shape
 * changes, global average pooling and a linear layer (11,173,962
 * parameters). Trained on Fashion-MNIST made into 3x32x32 colour images
 * (padded by 2, each image tinted a random colour); writes test images with
 * their predicted classes.
 *
 *   usage: resnet [DATA_DIR] [--train N] [--quick] [--out DIR]
 *   DATA_DIR defaults to data/fashion-mnist (tools/fetch-fashion-mnist
 *   fetches it); --train: training images (default 6400, one epoch);
 *   --quick: 12 steps, exits 1 unless the loss falls.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "plot.h"

#include <nncl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { BATCH = 32, CLASSES = 10, S = 32, PIXELS = 3 * S * S, TEST = 2000, SHOWN = 16 };
static const char *const class_names[CLASSES] = {"T-shirt", "trouser", "pullover", "dress", "coat",
                                                 "sandal",  "shirt",   "sneaker",  "bag",   "boot"};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "resnet: %s: %s\n", what, nncl_last_error());
    exit(1);
}

/* The next batch, or exits with the loader's message. */
static bool next_batch(nncl_loader *l, nncl_graph *g, nncl_node *x, nncl_node *y, int64_t *valid) {
    check(nncl_loader_next(l, g, x, y, valid), "loading a batch");
    return *valid > 0;
}

static double uniform(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xffff) / 65536.0;
}

/* The first count images of a 28x28 grey dataset as 3x32x32 colour ones:
 * centred on black and multiplied by a random colour of at least 40% per
 * channel, so that colour says nothing about the class. */
static nncl_dataset *tinted(const nncl_dataset *grey, int64_t count, unsigned seed) {
    uint8_t *rgb = calloc((size_t)count * PIXELS, 1);
    int32_t *labels = malloc((size_t)count * sizeof *labels);
    if (!rgb || !labels) {
        fprintf(stderr, "resnet: out of memory\n");
        exit(1);
    }
    for (int64_t n = 0; n < count; n++) {
        const uint8_t *src = nncl_dataset_image(grey, n);
        labels[n] = nncl_dataset_label(grey, n);
        for (int c = 0; c < 3; c++) {
            double tint = 0.4 + 0.6 * uniform(&seed);
            uint8_t *dst = rgb + n * PIXELS + c * S * S;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    dst[(y + 2) * S + x + 2] = (uint8_t)lround(src[y * 28 + x] * tint);
        }
    }
    nncl_dataset *out;
    check(nncl_dataset_create(rgb, labels, count, 3, S, S, &out), "dataset");
    free(rgb);
    free(labels);
    return out;
}

static nncl_node *conv_bn(nncl_graph *g, nncl_node *x, int64_t width, int64_t k, int64_t stride,
                          const char *conv, const char *bn, bool relu) {
    nncl_node *h = nncl_conv(g, x,
                             &(nncl_conv_params){.out_channels = width,
                                                 .kernel = {k, k},
                                                 .stride = {stride, stride},
                                                 .padding = {k / 2, k / 2},
                                                 .no_bias = true},
                             conv);
    h = nncl_batch_norm(g, h, NULL, bn);
    return relu ? nncl_relu(g, h, NULL) : h;
}

/* The basic block: two 3x3 conv-BN, added to the input or, where the
 * stride or width changes, to its 1x1 conv-BN projection; then ReLU.
 * Names follow torchvision (layer2.0.conv1, layer2.0.downsample.0), so
 * the weights line up with a PyTorch state_dict. */
static nncl_node *basic_block(nncl_graph *g, nncl_node *x, int64_t width, int64_t stride,
                              const char *name) {
    char a[48], b[48], c[48], d[48];
    snprintf(a, sizeof a, "%s.conv1", name);
    snprintf(b, sizeof b, "%s.bn1", name);
    nncl_node *h = conv_bn(g, x, width, 3, stride, a, b, true);
    snprintf(a, sizeof a, "%s.conv2", name);
    snprintf(b, sizeof b, "%s.bn2", name);
    h = conv_bn(g, h, width, 3, 1, a, b, false);
    nncl_node *shortcut = x;
    if (stride != 1 || nncl_node_shape(x).dims[1] != width) {
        snprintf(c, sizeof c, "%s.downsample.0", name);
        snprintf(d, sizeof d, "%s.downsample.1", name);
        shortcut = conv_bn(g, x, width, 1, stride, c, d, false);
    }
    return nncl_relu(g, nncl_add(g, h, shortcut, NULL), NULL);
}

static nncl_node *resnet18(nncl_graph *g, nncl_node *x) {
    nncl_node *h = conv_bn(g, x, 64, 3, 1, "conv1", "bn1", true);
    static const int64_t widths[4] = {64, 128, 256, 512};
    for (int stage = 0; stage < 4; stage++)
        for (int block = 0; block < 2; block++) {
            char name[16];
            snprintf(name, sizeof name, "layer%d.%d", stage + 1, block);
            h = basic_block(g, h, widths[stage], stage > 0 && block == 0 ? 2 : 1, name);
        }
    h = nncl_flatten(g, nncl_global_avg_pool(g, h, "avgpool"), NULL);
    return nncl_linear(g, h, CLASSES, NULL, "fc");
}

/* Per-channel mean and standard deviation of a dataset's pixels in [0, 1]. */
static void channel_stats(const nncl_dataset *ds, float mean[3], float std[3]) {
    int64_t count = nncl_dataset_count(ds);
    for (int c = 0; c < 3; c++) {
        double sum = 0, sq = 0;
        for (int64_t n = 0; n < count; n++) {
            const uint8_t *p = nncl_dataset_image(ds, n) + c * S * S;
            for (int i = 0; i < S * S; i++)
                sum += p[i] / 255.0, sq += (p[i] / 255.0) * (p[i] / 255.0);
        }
        double m = sum / ((double)count * S * S);
        mean[c] = (float)m;
        std[c] = (float)sqrt(sq / ((double)count * S * S) - m * m);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *data = "data/fashion-mnist", *out_dir = "out";
    int64_t train_count = 6400;
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--train") && i + 1 < argc)
            train_count = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_dir = argv[++i];
        else if (argv[i][0] != '-')
            data = argv[i];
        else
            train_count = 0, i = argc;
    }
    if (train_count < BATCH || train_count > 60000) {
        fprintf(stderr, "usage: resnet [DATA_DIR] [--train N (%d-60000)] [--quick] [--out DIR]\n",
                BATCH);
        return 2;
    }
    if (quick) train_count = 12 * BATCH;

    nncl_dataset *grey_train, *grey_test;
    if (nncl_dataset_load_mnist(data, true, &grey_train) != NNCL_OK ||
        nncl_dataset_load_mnist(data, false, &grey_test) != NNCL_OK) {
        fprintf(stderr, "resnet: %s\n(tools/fetch-fashion-mnist %s fetches Fashion-MNIST)\n",
                nncl_last_error(), data);
        return 1;
    }
    nncl_dataset *train = tinted(grey_train, train_count, 1);
    nncl_dataset *test = tinted(grey_test, TEST, 2);
    nncl_dataset_destroy(grey_train);
    nncl_dataset_destroy(grey_test);
    float mean[3], std[3];
    channel_stats(train, mean, std);

    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    printf("Device: %s\n", nncl_context_device(ctx)->name);
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 18}, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 3, S, S));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *logits = resnet18(g, x);
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    nncl_node *predicted = nncl_argmax(g, logits, "predicted");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "resnet: %s\n", nncl_graph_error(g));
        return 1;
    }
    char *summary;
    check(nncl_graph_summary(g, &summary), "summary");
    fputs(summary, stdout);
    nncl_free(summary);

    nncl_loader *train_batches, *test_batches;
    check(nncl_loader_create(train,
                             &(nncl_loader_options){.batch = BATCH,
                                                    .shuffle = true,
                                                    .seed = 1,
                                                    .hflip = true,
                                                    .channel_mean = mean,
                                                    .channel_std = std},
                             &train_batches),
          "loader");
    check(nncl_loader_create(
              test,
              &(nncl_loader_options){.batch = BATCH, .channel_mean = mean, .channel_std = std},
              &test_batches),
          "loader");
    /* AdamW with a short warm-up, then a cosine down to zero over the run. */
    int64_t steps = nncl_loader_batches(train_batches);
    nncl_optimizer *opt;
    check(nncl_optimizer_create(
              g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAMW, .lr = 2e-3f, .weight_decay = 5e-4f},
              &opt),
          "optimizer");
    check(nncl_optimizer_set_schedule(
              opt,
              &(nncl_schedule){.kind = NNCL_SCHEDULE_COSINE, .t_max = steps, .warmup = steps / 10}),
          "schedule");

    nncl_graph_set_training(g, true);
    double start = now(), first = 0, last = 0, sum = 0;
    int64_t valid, step = 0;
    int window = quick ? 4 : 20, since = 0; /* steps averaged for "first" and "last" */
    while (next_batch(train_batches, g, x, y, &valid)) {
        float value;
        check(nncl_train_step(g, opt, loss, &value), "training step");
        nncl_optimizer_schedule_step(opt);
        if (step < window) first += value / window;
        if (step >= steps - window) last += value / window;
        sum += value, since++, step++;
        if (step % 20 == 0 || step == steps) {
            printf("step %3lld/%lld: loss %.4f, %.1f images/s\n", (long long)step, (long long)steps,
                   sum / since, (double)(step * BATCH) / (now() - start));
            sum = 0, since = 0;
        }
    }
    printf("mean loss over the first %d steps %.4f, over the last %d %.4f (%.0f s)\n", window,
           first, window, last, now() - start);
    int status = quick && !(last < first); /* --quick: the loss must fall */
    if (quick) goto done;

    /* Test accuracy in eval mode (batch norm's running statistics). */
    nncl_graph_set_training(g, false);
    int64_t right = 0, seen = 0;
    static float shown[SHOWN * PIXELS];
    static char text[SHOWN][40];
    const char *captions[SHOWN];
    while (next_batch(test_batches, g, x, y, &valid)) {
        check(nncl_graph_forward(g), "evaluation");
        int32_t guess[BATCH], truth[BATCH];
        check(nncl_graph_read_labels(g, predicted, guess, sizeof guess), "predictions");
        check(nncl_graph_read_labels(g, y, truth, sizeof truth), "labels");
        for (int64_t n = 0; n < valid; n++) {
            int64_t i = seen + n;
            right += guess[n] == truth[n];
            if (i >= SHOWN) continue;
            const uint8_t *img = nncl_dataset_image(test, i);
            for (int p = 0; p < PIXELS; p++)
                shown[i * PIXELS + p] = img[p] / 255.0f;
            if (guess[n] == truth[n])
                snprintf(text[i], sizeof text[i], "%s", class_names[guess[n]]);
            else
                snprintf(text[i], sizeof text[i], "%s (is %s)", class_names[guess[n]],
                         class_names[truth[n]]);
            captions[i] = text[i];
        }
        seen += valid;
    }
    printf("test accuracy on %lld unseen images: %.2f%%\n", (long long)seen,
           100.0 * (double)right / (double)seen);
    char path[1024];
    mkdir(out_dir, 0755);
    snprintf(path, sizeof path, "%s/resnet.png", out_dir);
    if (plot_rgb_images(path, shown, SHOWN, 8, S, S, captions) == 0)
        printf("Predictions: %s\n", path);
done:
    nncl_loader_destroy(train_batches);
    nncl_loader_destroy(test_batches);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    nncl_dataset_destroy(train);
    nncl_dataset_destroy(test);
    return status;
}
