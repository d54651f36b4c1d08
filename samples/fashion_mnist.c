/* Fashion-MNIST with a small CNN, written against the public API: load the
 * IDX files, build the network, train with AdamW for a few epochs, measure
 * test accuracy after each, then save the model and draw training.png
 * (loss and accuracy curves) and filters.png (the first layer's filters).
 *
 *   usage: fashion_mnist DATA_DIR [--epochs N] [--out DIR]
 *   (tools/fetch-fashion-mnist DATA_DIR fetches the data)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, isatty */
#include "plot.h"

#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BATCH = 64, CLASSES = 10, MAX_EPOCHS = 100 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "fashion_mnist: %s: %s\n", what, nncl_last_error());
    exit(1);
}

/* How many of the first `valid` predictions (argmax on the device) are right;
 * a final partial batch is padded, so the rest do not count. */
static int64_t count_correct(nncl_graph *g, nncl_node *predicted, nncl_node *labels,
                             int64_t valid) {
    int32_t guess[BATCH], truth[BATCH];
    check(nncl_graph_read_labels(g, predicted, guess, sizeof guess), "reading predictions");
    check(nncl_graph_read_labels(g, labels, truth, sizeof truth), "reading labels");
    int64_t right = 0;
    for (int64_t n = 0; n < valid; n++)
        right += guess[n] == truth[n];
    return right;
}

/* The next batch, or exits with the loader's message. */
static bool next_batch(nncl_loader *l, nncl_graph *g, nncl_node *x, nncl_node *y, int64_t *valid) {
    check(nncl_loader_next(l, g, x, y, valid), "loading a batch");
    return *valid > 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines appear at once in pipes and logs too */
    const char *data = NULL, *out_dir = ".";
    int epochs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_dir = argv[++i];
        else if (!data && argv[i][0] != '-')
            data = argv[i];
        else
            data = NULL, i = argc;
    }
    if (!data || epochs < 1 || epochs > MAX_EPOCHS) {
        fprintf(stderr, "usage: %s DATA_DIR [--epochs N (1-%d)] [--out DIR]\n", argv[0],
                MAX_EPOCHS);
        return 2;
    }

    nncl_dataset *train, *test;
    check(nncl_dataset_load_mnist(data, true, &train), "training data");
    check(nncl_dataset_load_mnist(data, false, &test), "test data");
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    printf("Device: %s\n", nncl_context_device(ctx)->name);

    /* The network: two conv blocks and a classifier (421,834 parameters). */
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 1}, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 1, 28, 28));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 32, .kernel = {3, 3}, .padding = {1, 1}},
        "conv1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"), NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool1");
    h = nncl_conv(g, h,
                  &(nncl_conv_params){.out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}},
                  "conv2");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn2"), NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool2");
    h = nncl_relu(g, nncl_linear(g, nncl_flatten(g, h, NULL), 128, NULL, "fc1"), NULL);
    nncl_node *logits = nncl_linear(g, nncl_dropout(g, h, 0.5f, "dropout"), CLASSES, NULL, "fc2");
    /* Label smoothing 0.1: the targets keep a little probability for every class. */
    nncl_node *loss =
        nncl_cross_entropy(g, logits, y, &(nncl_loss_params){.label_smoothing = 0.1f}, "loss");
    /* The predicted classes, computed on the device and read after each step. */
    nncl_node *predicted = nncl_argmax(g, logits, "predicted");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "fashion_mnist: %s\n", nncl_graph_error(g));
        return 1;
    }
    char *summary;
    check(nncl_graph_summary(g, &summary), "summary");
    fputs(summary, stdout);
    nncl_free(summary);

    /* AdamW, its rate annealed to zero over the whole run along a cosine. */
    nncl_optimizer *opt;
    check(nncl_optimizer_create(
              g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAMW, .lr = 2e-3f, .weight_decay = 1e-4f},
              &opt),
          "optimizer");
    /* Pixels scaled to [0, 1], then normalised with Fashion-MNIST's mean and std. */
    nncl_loader *train_batches, *test_batches;
    check(nncl_loader_create(
              train,
              &(nncl_loader_options){
                  .batch = BATCH, .shuffle = true, .seed = 1, .mean = 0.2860f, .std = 0.3530f},
              &train_batches),
          "loader");
    check(nncl_loader_create(
              test, &(nncl_loader_options){.batch = BATCH, .mean = 0.2860f, .std = 0.3530f},
              &test_batches),
          "loader");

    int64_t batches = nncl_loader_batches(train_batches), valid;
    check(nncl_optimizer_set_schedule(
              opt, &(nncl_schedule){.kind = NNCL_SCHEDULE_COSINE, .t_max = epochs * batches}),
          "schedule");
    double loss_curve[MAX_EPOCHS], train_acc[MAX_EPOCHS], test_acc[MAX_EPOCHS];
    bool tty = isatty(fileno(stdout));
    for (int epoch = 0; epoch < epochs; epoch++) {
        double start = now(), sum = 0;
        int64_t right = 0, seen = 0, step = 0; /* step counts batches */
        nncl_graph_set_training(g, true);
        while (next_batch(train_batches, g, x, y, &valid)) {
            float value;
            check(nncl_train_step(g, opt, loss, &value), "training step");
            nncl_optimizer_schedule_step(opt);
            sum += value;
            right += count_correct(g, predicted, y, valid);
            seen += valid;
            step++;
            if (tty && step % 20 == 0) {
                printf("\r  epoch %d: %lld/%lld batches, loss %.4f, %.0f images/s  ", epoch + 1,
                       (long long)step, (long long)batches, sum / (double)step,
                       (double)seen / (now() - start));
                fflush(stdout);
            }
        }
        double seconds = now() - start;
        loss_curve[epoch] = sum / (double)step;
        train_acc[epoch] = (double)right / (double)seen;

        /* Test accuracy in eval mode: batch norm's running statistics, no dropout. */
        nncl_graph_set_training(g, false);
        int64_t test_right = 0, test_seen = 0;
        while (next_batch(test_batches, g, x, y, &valid)) {
            check(nncl_graph_forward(g), "evaluation");
            test_right += count_correct(g, predicted, y, valid);
            test_seen += valid;
        }
        test_acc[epoch] = (double)test_right / (double)test_seen;
        printf("%sepoch %d: loss %.4f, train accuracy %.2f%%, test accuracy %.2f%%, %.0f images/s "
               "(%.0f s)\n",
               tty ? "\r\033[K" : "", epoch + 1, loss_curve[epoch], 100 * train_acc[epoch],
               100 * test_acc[epoch], (double)seen / seconds, seconds);
    }
    printf("Final test accuracy: %.2f%%\n", 100 * test_acc[epochs - 1]);

    char path[1024];
    snprintf(path, sizeof path, "%s/fashion_cnn.safetensors", out_dir);
    check(nncl_save(g, opt, path, NULL, 0), "saving");
    printf("Model: %s\n", path);
    snprintf(path, sizeof path, "%s/training.png", out_dir);
    if (plot_training(path, loss_curve, train_acc, test_acc, epochs) == 0)
        printf("Curves: %s\n", path);
    float filters[32 * 9];
    check(nncl_graph_param_read(g, "conv1.weight", filters, sizeof filters), "filters");
    snprintf(path, sizeof path, "%s/filters.png", out_dir);
    if (plot_filters(path, filters, 32, 1, 3, 3) == 0) printf("Filters: %s\n", path);

    nncl_loader_destroy(train_batches);
    nncl_loader_destroy(test_batches);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    nncl_dataset_destroy(train);
    nncl_dataset_destroy(test);
    return 0;
}
