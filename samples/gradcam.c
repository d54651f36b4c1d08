/* Grad-CAM (Selvaraju et al. 2017): where in the image a trained
 * Fashion-MNIST CNN found the evidence for the class it predicted. The
 * gradient of the class score reaches the last convolution's feature maps
 * A_c; the map is ReLU(sum_c alpha_c A_c), alpha_c the mean of that
 * gradient over A_c's pixels, upsampled to the image. Writes one test image
 * of each class above its heat map.
 *
 *   usage: gradcam [DATA_DIR] [--model FILE] [--quick] [--out DIR]
 *   DATA_DIR defaults to data/fashion-mnist; --model loads the network the
 *   fashion_mnist sample saved (fashion_cnn.safetensors) instead of
 *   training it here for one epoch; --quick: 30 steps, exits 1 unless the
 *   loss falls.
 */
#include "plot.h"

#include <nncl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { BATCH = 64, CLASSES = 10, S = 28, F = 14, CH = 64 }; /* features: CH x F x F */
static const float MEAN = 0.2860f, STD = 0.3530f;           /* Fashion-MNIST's pixels */
static const char *const class_names[CLASSES] = {"T-shirt", "trouser", "pullover", "dress", "coat",
                                                 "sandal",  "shirt",   "sneaker",  "bag",   "boot"};

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "gradcam: %s: %s\n", what, nncl_last_error());
    exit(1);
}

static bool next_batch(nncl_loader *l, nncl_graph *g, nncl_node *x, nncl_node *y, int64_t *valid) {
    check(nncl_loader_next(l, g, x, y, valid), "loading a batch");
    return *valid > 0;
}

/* The network of the fashion_mnist sample and of nncl-train's fashion_cnn,
 * with the same names, so that their checkpoints load. *features is the
 * last convolution block's output (after ReLU, before pooling). */
static nncl_node *fashion_cnn(nncl_graph *g, nncl_node *x, nncl_node **features) {
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 32, .kernel = {3, 3}, .padding = {1, 1}},
        "conv1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"), NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool1");
    h = nncl_conv(g, h,
                  &(nncl_conv_params){.out_channels = CH, .kernel = {3, 3}, .padding = {1, 1}},
                  "conv2");
    *features = h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn2"), "features");
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool2");
    h = nncl_relu(g, nncl_linear(g, nncl_flatten(g, h, NULL), 128, NULL, "fc1"), NULL);
    return nncl_linear(g, nncl_dropout(g, h, 0.5f, "dropout"), CLASSES, NULL, "fc2");
}

/* One epoch (or `limit` steps) of AdamW with a cosine schedule; returns
 * whether the mean loss of the last 10 steps is below that of the first 10. */
static bool train(nncl_graph *g, nncl_node *x, nncl_node *y, nncl_node *loss,
                  const nncl_dataset *ds, int64_t limit) {
    nncl_loader *batches;
    check(nncl_loader_create(ds,
                             &(nncl_loader_options){.batch = BATCH,
                                                    .shuffle = true,
                                                    .seed = 1,
                                                    .drop_last = true,
                                                    .mean = MEAN,
                                                    .std = STD},
                             &batches),
          "loader");
    int64_t steps = nncl_loader_batches(batches);
    if (limit < steps) steps = limit;
    nncl_optimizer *opt;
    check(nncl_optimizer_create(
              g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAMW, .lr = 2e-3f, .weight_decay = 1e-4f},
              &opt),
          "optimizer");
    check(nncl_optimizer_set_schedule(
              opt, &(nncl_schedule){.kind = NNCL_SCHEDULE_COSINE, .t_max = steps}),
          "schedule");
    nncl_graph_set_training(g, true);
    double first = 0, last = 0;
    int64_t valid;
    for (int64_t step = 0; step < steps && next_batch(batches, g, x, y, &valid); step++) {
        float value;
        check(nncl_train_step(g, opt, loss, &value), "training step");
        nncl_optimizer_schedule_step(opt);
        if (step < 10) first += value / 10;
        if (step >= steps - 10) last += value / 10;
        if ((step + 1) % 200 == 0 || step + 1 == steps)
            printf("training: step %lld/%lld, loss %.4f\n", (long long)step + 1, (long long)steps,
                   value);
    }
    printf("mean loss over the first 10 steps %.4f, over the last 10 %.4f\n", first, last);
    nncl_optimizer_destroy(opt);
    nncl_loader_destroy(batches);
    return last < first;
}

static double test_accuracy(nncl_graph *g, nncl_node *x, nncl_node *y, nncl_node *predicted,
                            const nncl_dataset *ds) {
    nncl_loader *batches;
    check(nncl_loader_create(ds, &(nncl_loader_options){.batch = BATCH, .mean = MEAN, .std = STD},
                             &batches),
          "loader");
    nncl_graph_set_training(g, false);
    int64_t valid, right = 0, seen = 0;
    while (next_batch(batches, g, x, y, &valid)) {
        check(nncl_graph_forward(g), "evaluation");
        int32_t guess[BATCH], truth[BATCH];
        check(nncl_graph_read_labels(g, predicted, guess, sizeof guess), "predictions");
        check(nncl_graph_read_labels(g, y, truth, sizeof truth), "labels");
        for (int64_t n = 0; n < valid; n++)
            right += guess[n] == truth[n];
        seen += valid;
    }
    nncl_loader_destroy(batches);
    return (double)right / (double)seen;
}

/* Blue (no evidence) through cyan, yellow to red (the most), as "jet". */
static void heat_colour(double t, double rgb[3]) {
    rgb[0] = fmin(fmax(1.5 - fabs(4 * t - 3), 0), 1);
    rgb[1] = fmin(fmax(1.5 - fabs(4 * t - 2), 0), 1);
    rgb[2] = fmin(fmax(1.5 - fabs(4 * t - 1), 0), 1);
}

/* Bilinear F x F -> S x S (pixel centres aligned, as align_corners=False). */
static double upsampled(const float *map, int y, int x) {
    double sy = fmax((y + 0.5) * F / S - 0.5, 0), sx = fmax((x + 0.5) * F / S - 0.5, 0);
    int y0 = (int)sy, x0 = (int)sx, y1 = y0 + (y0 < F - 1), x1 = x0 + (x0 < F - 1);
    double fy = sy - y0, fx = sx - x0;
    return (1 - fy) * ((1 - fx) * map[y0 * F + x0] + fx * map[y0 * F + x1]) +
           fy * ((1 - fx) * map[y1 * F + x0] + fx * map[y1 * F + x1]);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *data = "data/fashion-mnist", *model = NULL, *out_dir = "out";
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_dir = argv[++i];
        else if (argv[i][0] != '-')
            data = argv[i];
        else {
            fprintf(stderr, "usage: gradcam [DATA_DIR] [--model FILE] [--quick] [--out DIR]\n");
            return 2;
        }
    }
    nncl_dataset *train_set, *test_set;
    if (nncl_dataset_load_mnist(data, true, &train_set) != NNCL_OK ||
        nncl_dataset_load_mnist(data, false, &test_set) != NNCL_OK) {
        fprintf(stderr, "gradcam: %s\n(tools/fetch-fashion-mnist %s fetches Fashion-MNIST)\n",
                nncl_last_error(), data);
        return 1;
    }
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 1}, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 1, S, S));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *features;
    nncl_node *logits = fashion_cnn(g, x, &features);
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    nncl_node *predicted = nncl_argmax(g, logits, "predicted");
    check(nncl_graph_keep(g, features), "keeping the features"); /* read after backward */
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "gradcam: %s\n", nncl_graph_error(g));
        return 1;
    }

    int status = 0;
    if (model) {
        check(nncl_load(g, NULL, model, NULL), "loading the model");
        printf("loaded %s\n", model);
    } else {
        status = !train(g, x, y, loss, train_set, quick ? 30 : INT64_MAX) && quick;
    }
    if (!quick)
        printf("test accuracy: %.2f%%\n", 100 * test_accuracy(g, x, y, predicted, test_set));

    /* A batch holding the first test image of each class. */
    static float images[BATCH * S * S];
    int32_t labels[BATCH] = {0}, chosen[CLASSES];
    int found = 0;
    for (int64_t i = 0; i < nncl_dataset_count(test_set) && found < CLASSES; i++) {
        int32_t label = nncl_dataset_label(test_set, i);
        bool seen = false;
        for (int k = 0; k < found; k++)
            seen |= labels[k] == label;
        if (seen) continue;
        const uint8_t *img = nncl_dataset_image(test_set, i);
        for (int p = 0; p < S * S; p++)
            images[found * S * S + p] = (img[p] / 255.0f - MEAN) / STD;
        chosen[found] = (int32_t)i;
        labels[found++] = label;
    }
    nncl_graph_set_training(g, false);
    check(nncl_graph_set_input(g, x, images, sizeof images), "images");
    check(nncl_graph_set_input(g, y, labels, sizeof labels), "labels");
    check(nncl_graph_forward(g), "forward");
    int32_t guess[BATCH];
    check(nncl_graph_read_labels(g, predicted, guess, sizeof guess), "predictions");
    /* The predicted class's score, differentiated: a one-hot upstream gradient. */
    static float upstream[BATCH * CLASSES], a[BATCH * CH * F * F], da[BATCH * CH * F * F];
    for (int n = 0; n < BATCH; n++)
        upstream[n * CLASSES + guess[n]] = 1;
    check(nncl_graph_backward(g, logits, upstream, sizeof upstream), "backward");
    check(nncl_graph_read(g, features, a, sizeof a), "features");
    check(nncl_graph_read_grad(g, features, da, sizeof da), "their gradient");

    /* Panels: the images in the first row, their heat maps over them below. */
    static float panels[2 * CLASSES * 3 * S * S];
    static char text[2 * CLASSES][40];
    const char *captions[2 * CLASSES];
    for (int n = 0; n < found; n++) {
        float cam[F * F] = {0}, peak = 0;
        for (int c = 0; c < CH; c++) {
            const float *ac = a + (size_t)(n * CH + c) * F * F,
                        *dac = da + (size_t)(n * CH + c) * F * F;
            double alpha = 0;
            for (int p = 0; p < F * F; p++)
                alpha += dac[p] / (F * F);
            for (int p = 0; p < F * F; p++)
                cam[p] += (float)(alpha * ac[p]);
        }
        for (int p = 0; p < F * F; p++)
            cam[p] = fmaxf(cam[p], 0), peak = fmaxf(peak, cam[p]);
        const uint8_t *img = nncl_dataset_image(test_set, chosen[n]);
        float *top = panels + (size_t)n * 3 * S * S, *bottom = top + (size_t)CLASSES * 3 * S * S;
        for (int yy = 0; yy < S; yy++)
            for (int xx = 0; xx < S; xx++) {
                double grey = img[yy * S + xx] / 255.0, rgb[3];
                heat_colour(peak > 0 ? upsampled(cam, yy, xx) / peak : 0, rgb);
                for (int c = 0; c < 3; c++) {
                    top[c * S * S + yy * S + xx] = (float)grey;
                    bottom[c * S * S + yy * S + xx] = (float)(0.45 * grey + 0.55 * rgb[c]);
                }
            }
        snprintf(text[n], sizeof text[n], "%s", class_names[labels[n]]);
        snprintf(text[CLASSES + n], sizeof text[0], "-> %s", class_names[guess[n]]);
        captions[n] = text[n], captions[CLASSES + n] = text[CLASSES + n];
    }
    char path[1024];
    mkdir(out_dir, 0755);
    snprintf(path, sizeof path, "%s/gradcam.png", out_dir);
    if (plot_rgb_images(path, panels, 2 * CLASSES, CLASSES, S, S, captions) == 0)
        printf("Grad-CAM: %s\n", path);

    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    nncl_dataset_destroy(train_set);
    nncl_dataset_destroy(test_set);
    return status;
}
