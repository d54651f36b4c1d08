/* Transfer learning as courses teach it: learn features on one task,
 * reuse them for another that has few labels. A CNN learns Fashion-MNIST's
 * classes 0-4 (tops, trousers, dresses, coats) from 30,000 images; its
 * features are saved, loaded into a new network with a fresh head for
 * classes 5-9 (sandals, shirts, sneakers, bags, boots), frozen (weights and
 * batch-norm statistics), and the head learns from a few labelled images
 * per class. The same network trained from scratch on the same few images
 * is the baseline. Writes both test-accuracy curves. With --onnx the
 * features travel as an ONNX model instead of a checkpoint: the source
 * network is exported and the new one built from the file.
 *
 *   usage: transfer [DATA_DIR] [--labels N] [--onnx] [--quick] [--out DIR]
 *   DATA_DIR defaults to data/fashion-mnist; --labels: labelled images per
 *   new class (default 5); --quick: a short run, exits 1 unless the
 *   losses fall.
 */
#include "plot.h"

#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { BATCH = 25, S = 28, CLASSES = 5, EPOCHS = 30, CURVE_TEST = 1000 };
static const float MEAN = 0.2860f, STD = 0.3530f;

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "transfer: %s: %s\n", what, nncl_last_error());
    exit(1);
}

static bool next_batch(nncl_loader *l, nncl_graph *g, nncl_node *x, nncl_node *y, int64_t *valid) {
    check(nncl_loader_next(l, g, x, y, valid), "loading a batch");
    return *valid > 0;
}

/* The images of `ds` whose label lies in [first, first + CLASSES), at most
 * per_class of each (0: all, up to limit in all), relabelled from 0. */
static nncl_dataset *subset(const nncl_dataset *ds, int first, int64_t per_class, int64_t limit) {
    int64_t count = nncl_dataset_count(ds), taken[CLASSES] = {0}, n = 0;
    uint8_t *images = malloc((size_t)count * S * S);
    int32_t *labels = malloc((size_t)count * sizeof *labels);
    if (!images || !labels) {
        fprintf(stderr, "transfer: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < count && n < limit; i++) {
        int32_t c = nncl_dataset_label(ds, i) - first;
        if (c < 0 || c >= CLASSES || (per_class && taken[c] >= per_class)) continue;
        taken[c]++;
        memcpy(images + n * S * S, nncl_dataset_image(ds, i), S * S);
        labels[n++] = c;
    }
    nncl_dataset *out;
    check(nncl_dataset_create(images, labels, n, 1, S, S, &out), "subset");
    free(images);
    free(labels);
    return out;
}

typedef struct model {
    nncl_graph *g;
    nncl_node *x, *y, *logits, *loss, *predicted;
} model;

/* The classifier head under head_name (a hidden layer and a linear
 * layer) on features [N, F], the loss and the prediction. */
static void add_head(model *m, nncl_node *features, const char *head_name) {
    nncl_graph *g = m->g;
    char fc1[32], fc2[32];
    snprintf(fc1, sizeof fc1, "%s.fc1", head_name);
    snprintf(fc2, sizeof fc2, "%s.fc2", head_name);
    nncl_node *h = nncl_relu(g, nncl_linear(g, features, 128, NULL, fc1), NULL);
    m->logits = nncl_linear(g, nncl_dropout(g, h, 0.3f, NULL), CLASSES, NULL, fc2);
    m->loss = nncl_cross_entropy(g, m->logits, m->y, NULL, "loss");
    m->predicted = nncl_argmax(g, m->logits, "predicted");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "transfer: %s\n", nncl_graph_error(g));
        exit(1);
    }
}

/* Two conv blocks under "features." ending in "features.flat", then the
 * head. */
static model build(nncl_context *ctx, const char *head_name, uint64_t seed) {
    model m;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = seed}, &m.g), "graph");
    nncl_graph *g = m.g;
    m.x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 1, S, S));
    m.y = nncl_input_labels(g, "label", BATCH);
    nncl_node *h = m.x;
    for (int block = 1; block <= 2; block++) {
        char conv[32], bn[32];
        snprintf(conv, sizeof conv, "features.conv%d", block);
        snprintf(bn, sizeof bn, "features.bn%d", block);
        h = nncl_conv(
            g, h,
            &(nncl_conv_params){.out_channels = 32 * block, .kernel = {3, 3}, .padding = {1, 1}},
            conv);
        h = nncl_relu(g, nncl_batch_norm(g, h, NULL, bn), NULL);
        h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, NULL);
    }
    add_head(&m, nncl_flatten(g, h, "features.flat"), head_name);
    return m;
}

/* The source model from its ONNX file (any runtime could have made it):
 * its value "features.flat" under a new head. Its own head stays in the
 * graph, frozen, but nothing reads it. */
static model build_from_onnx(nncl_context *ctx, const char *path, const char *head_name,
                             uint64_t seed) {
    model m;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = seed}, &m.g), "graph");
    nncl_onnx_model *file;
    check(nncl_onnx_import(m.g, path, &(nncl_onnx_options){.batch = BATCH}, &file), path);
    m.x = file->inputs[0];
    nncl_onnx_model_free(file);
    nncl_node *features = nncl_graph_node(m.g, "features.flat");
    check(features ? NNCL_OK : NNCL_ERROR_NOT_FOUND, "the features in the ONNX file");
    check(nncl_graph_freeze(m.g, "source_head.", true), "freezing the file's head");
    m.y = nncl_input_labels(m.g, "label", BATCH);
    add_head(&m, features, head_name);
    return m;
}

static double accuracy(model *m, const nncl_dataset *ds) {
    nncl_loader *batches;
    check(nncl_loader_create(ds, &(nncl_loader_options){.batch = BATCH, .mean = MEAN, .std = STD},
                             &batches),
          "loader");
    nncl_graph_set_training(m->g, false);
    int64_t valid, right = 0, seen = 0;
    while (next_batch(batches, m->g, m->x, m->y, &valid)) {
        check(nncl_graph_forward(m->g), "evaluation");
        int32_t guess[BATCH], truth[BATCH];
        check(nncl_graph_read_labels(m->g, m->predicted, guess, sizeof guess), "predictions");
        check(nncl_graph_read_labels(m->g, m->y, truth, sizeof truth), "labels");
        for (int64_t n = 0; n < valid; n++)
            right += guess[n] == truth[n];
        seen += valid;
    }
    nncl_loader_destroy(batches);
    return (double)right / (double)seen;
}

/* Trains m on ds for `epochs` (AdamW, cosine schedule), recording the
 * accuracy on `test` after each in curve (may be NULL). Returns whether
 * the loss of the last steps is below that of the first. */
static bool train(model *m, const nncl_dataset *ds, int epochs, float lr, const nncl_dataset *test,
                  double *curve, const char *what) {
    nncl_loader *batches;
    check(nncl_loader_create(
              ds,
              &(nncl_loader_options){
                  .batch = BATCH, .shuffle = true, .seed = 7, .mean = MEAN, .std = STD, .shift = 2},
              &batches),
          "loader");
    nncl_optimizer *opt;
    check(nncl_optimizer_create(
              m->g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAMW, .lr = lr, .weight_decay = 1e-4f},
              &opt),
          "optimizer");
    check(nncl_optimizer_set_schedule(
              opt, &(nncl_schedule){.kind = NNCL_SCHEDULE_COSINE,
                                    .t_max = epochs * nncl_loader_batches(batches)}),
          "schedule");
    /* Losses of the first and the last few steps, averaged. */
    int64_t total = epochs * nncl_loader_batches(batches), window = total < 20 ? total / 2 : 10;
    int64_t step = 0;
    double first = 0, last = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        nncl_graph_set_training(m->g, true);
        double sum = 0;
        int64_t valid, steps = 0;
        while (next_batch(batches, m->g, m->x, m->y, &valid)) {
            float value;
            check(nncl_train_step(m->g, opt, m->loss, &value), "training step");
            nncl_optimizer_schedule_step(opt);
            if (step < window) first += value / (double)window;
            if (step >= total - window) last += value / (double)window;
            sum += value, steps++, step++;
        }
        if (curve) curve[epoch] = accuracy(m, test);
        if (epoch == 0 || (epoch + 1) % 10 == 0 || epoch + 1 == epochs) {
            printf("  %s, epoch %2d: loss %.4f", what, epoch + 1, sum / (double)steps);
            if (curve) printf(", test accuracy %.2f%%", 100 * curve[epoch]);
            printf("\n");
        }
    }
    nncl_optimizer_destroy(opt);
    nncl_loader_destroy(batches);
    return last < first;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *data = "data/fashion-mnist", *out_dir = "out";
    int64_t per_class = 5;
    bool quick = false, via_onnx = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--onnx"))
            via_onnx = true;
        else if (!strcmp(argv[i], "--labels") && i + 1 < argc)
            per_class = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_dir = argv[++i];
        else if (argv[i][0] != '-')
            data = argv[i];
        else
            per_class = 0, i = argc;
    }
    if (per_class < 1 || per_class > 6000) {
        fprintf(
            stderr,
            "usage: transfer [DATA_DIR] [--labels N (1-6000)] [--onnx] [--quick] [--out DIR]\n");
        return 2;
    }
    nncl_dataset *train_set, *test_set;
    if (nncl_dataset_load_mnist(data, true, &train_set) != NNCL_OK ||
        nncl_dataset_load_mnist(data, false, &test_set) != NNCL_OK) {
        fprintf(stderr, "transfer: %s\n(tools/fetch-fashion-mnist %s fetches Fashion-MNIST)\n",
                nncl_last_error(), data);
        return 1;
    }
    int epochs = quick ? 10 : EPOCHS;
    nncl_dataset *source = subset(train_set, 0, 0, quick ? 40 * BATCH : INT64_MAX);
    nncl_dataset *source_test = subset(test_set, 0, 0, INT64_MAX);
    nncl_dataset *few = subset(train_set, 5, per_class, INT64_MAX);
    nncl_dataset *target_test = subset(test_set, 5, 0, INT64_MAX);
    nncl_dataset *curve_test = subset(test_set, 5, 0, CURVE_TEST);
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    char features[1024];
    mkdir(out_dir, 0755);
    snprintf(features, sizeof features, "%s/transfer_features.%s", out_dir,
             via_onnx ? "onnx" : "safetensors");

    /* 1. The source task: classes 0-4, every training image, one epoch. */
    printf("Source task: classes 0-4, %lld images\n", (long long)nncl_dataset_count(source));
    model source_model = build(ctx, "source_head", 1);
    bool falls = train(&source_model, source, 1, 2e-3f, NULL, NULL, "source");
    if (!quick)
        printf("  test accuracy on classes 0-4: %.2f%%\n",
               100 * accuracy(&source_model, source_test));
    if (via_onnx)
        check(nncl_onnx_export(source_model.g, features, &source_model.logits, 1),
              "exporting the source model");
    else
        check(nncl_save(source_model.g, NULL, features, NULL, 0), "saving the features");
    nncl_graph_destroy(source_model.g);

    /* 2. The target task with few labels: the saved features, frozen, and a
     * new head (the old one is not in this graph, so loading skips it). */
    printf("Target task: classes 5-9, %lld labelled images\n", (long long)nncl_dataset_count(few));
    model tuned;
    if (via_onnx) {
        tuned = build_from_onnx(ctx, features, "target_head", 2);
        printf("  built from %s\n", features);
    } else {
        tuned = build(ctx, "target_head", 2);
        char report[512] = "";
        check(nncl_load(tuned.g, NULL, features,
                        &(nncl_load_options){
                            .non_strict = true, .report = report, .report_size = sizeof report}),
              "loading the features");
        printf("  loaded %s; %s\n", features, report);
    }
    check(nncl_graph_freeze(tuned.g, "features.", true), "freezing");
    check(nncl_graph_set_layer_eval(tuned.g, "features.", true), "fixing batch norm");
    printf("  trainable %lld of %lld parameters\n",
           (long long)(nncl_graph_trainable_count(tuned.g) - nncl_graph_frozen_count(tuned.g)),
           (long long)nncl_graph_trainable_count(tuned.g));
    static double tuned_curve[EPOCHS], scratch_curve[EPOCHS];
    falls &= train(&tuned, few, epochs, 2e-3f, curve_test, tuned_curve, "pretrained features");

    /* 3. The baseline: the same network from scratch on the same images. */
    model scratch = build(ctx, "target_head", 2);
    falls &= train(&scratch, few, epochs, 2e-3f, curve_test, scratch_curve, "from scratch");
    int status = quick && !falls;
    if (!quick) {
        double a = accuracy(&tuned, target_test), b = accuracy(&scratch, target_test);
        printf("Test accuracy on classes 5-9 (%lld images) after learning from %lld per class:\n"
               "  pretrained features %.2f%%, from scratch %.2f%%\n",
               (long long)nncl_dataset_count(target_test), (long long)per_class, 100 * a, 100 * b);
        char path[1024], title[96];
        snprintf(path, sizeof path, "%s/transfer.png", out_dir);
        snprintf(title, sizeof title, "Classes 5-9 from %lld images each: test accuracy",
                 (long long)per_class);
        if (plot_comparison(path, title, tuned_curve, "pretrained features, frozen", scratch_curve,
                            "from scratch", epochs) == 0)
            printf("Curves: %s\n", path);
    }
    nncl_graph_destroy(tuned.g);
    nncl_graph_destroy(scratch.g);
    nncl_context_destroy(ctx);
    nncl_dataset *all[] = {train_set, test_set, source, source_test, few, target_test, curve_test};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        nncl_dataset_destroy(all[i]);
    return status;
}
