/* Semantic segmentation with a U-Net (Ronneberger et al. 2015): a
 * contracting path (convolutions, batch norm, max pooling), an expanding
 * path (transposed convolutions), skip connections by concatenation and a
 * 1x1 head giving a class per pixel, trained with per-pixel cross-entropy
 * plus a soft Dice loss. The images are generated: 32x32, noisy, with two
 * to four overlapping disks and squares of one brightness, so only their
 * shape tells a disk's pixels from a square's. Reports pixel accuracy and
 * mean IoU on unseen images and draws input / prediction / truth.
 *
 *   usage: unet [--quick] [--out DIR] [--export DIR]
 *   --quick: 30 steps, exits 1 unless the loss falls; --export DIR: writes
 *   the generated data for nncl-train (--model unet --data DIR).
 */
#include "export.h"
#include "plot.h"

#include <nncl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { S = 32, BATCH = 16, CLASSES = 3, TEST_BATCHES = 4, SHOWN = 6 };
static const char *const class_names[CLASSES] = {"background", "disk", "square"};

static unsigned rnd(unsigned *state, unsigned n) {
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) % n;
}

static float noise(unsigned *state) {
    return ((float)rnd(state, 1000) / 1000.0f - 0.5f) * 0.6f;
}

/* One image and its mask: shapes drawn in turn, a later one on top. */
static void draw(float *img, int32_t *mask, unsigned *rng) {
    for (int i = 0; i < S * S; i++)
        mask[i] = 0;
    int shapes = 2 + (int)rnd(rng, 3);
    for (int k = 0; k < shapes; k++) {
        int kind = 1 + (int)rnd(rng, 2), r = 3 + (int)rnd(rng, 5);
        int cy = r + (int)rnd(rng, (unsigned)(S - 2 * r)),
            cx = r + (int)rnd(rng, (unsigned)(S - 2 * r));
        for (int y = cy - r; y <= cy + r; y++)
            for (int x = cx - r; x <= cx + r; x++) {
                int dy = y - cy, dx = x - cx;
                if (kind == 1 && dy * dy + dx * dx > r * r) continue;
                mask[y * S + x] = kind;
            }
    }
    for (int i = 0; i < S * S; i++)
        img[i] = (mask[i] ? 1.0f : 0.0f) + noise(rng);
}

static void make_batch(float *images, int32_t *masks, unsigned *rng) {
    for (int n = 0; n < BATCH; n++)
        draw(images + n * S * S, masks + n * S * S, rng);
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "unet: %s: %s\n", what, nncl_last_error());
    exit(1);
}

/* conv 3x3 (same) - batch norm - ReLU. */
static nncl_node *conv_bn_relu(nncl_graph *g, nncl_node *x, int64_t width, const char *name) {
    char conv[32], bn[32];
    snprintf(conv, sizeof conv, "%s.conv", name);
    snprintf(bn, sizeof bn, "%s.bn", name);
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = width, .kernel = {3, 3}, .padding = {1, 1}},
        conv);
    return nncl_relu(g, nncl_batch_norm(g, h, NULL, bn), NULL);
}

/* Transposed convolution 2x2, stride 2: twice the size, half the width. */
static nncl_node *up(nncl_graph *g, nncl_node *x, int64_t width, const char *name) {
    return nncl_conv_transpose(
        g, x,
        &(nncl_conv_transpose_params){.out_channels = width, .kernel = {2, 2}, .stride = {2, 2}},
        name);
}

static nncl_node *unet(nncl_graph *g, nncl_node *x) {
    nncl_pool_params pool = {.kernel = {2, 2}};
    nncl_node *e1 = conv_bn_relu(g, x, 16, "enc1");
    nncl_node *e2 = conv_bn_relu(g, nncl_max_pool(g, e1, &pool, "pool1"), 32, "enc2");
    nncl_node *b = conv_bn_relu(g, nncl_max_pool(g, e2, &pool, "pool2"), 64, "bottom");
    nncl_node *d2 = conv_bn_relu(
        g, nncl_concat(g, (nncl_node *[]){up(g, b, 32, "up2"), e2}, 2, "skip2"), 32, "dec2");
    nncl_node *d1 = conv_bn_relu(
        g, nncl_concat(g, (nncl_node *[]){up(g, d2, 16, "up1"), e1}, 2, "skip1"), 16, "dec1");
    return nncl_conv(g, d1, &(nncl_conv_params){.out_channels = CLASSES, .kernel = {1, 1}}, "head");
}

/* --export DIR: 2048 training and 256 test samples as nncl-train reads them
 * (nncl-train --model unet --data DIR). */
static int export_data(const char *dir) {
    return export_generated(dir, BATCH, (const int[2]){128, 16}, NNCL_SHAPE(1, S, S), true,
                            make_batch);
}

int main(int argc, char **argv) {
    bool quick = false;
    const char *out_dir = "out";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_dir = argv[++i];
        else if (!strcmp(argv[i], "--export") && i + 1 < argc)
            return export_data(argv[++i]);
        else {
            fprintf(stderr, "usage: unet [--quick] [--out DIR] [--export DIR]\n");
            return 2;
        }
    }
    int steps = quick ? 30 : 400;
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 4}, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 1, S, S));
    nncl_node *y = nncl_input_labels_nd(g, "mask", NNCL_SHAPE(BATCH, S, S));
    nncl_node *logits = unet(g, x);
    nncl_node *loss =
        nncl_add(g, nncl_cross_entropy(g, logits, y, NULL, "ce"),
                 nncl_dice_loss(g, logits, y, &(nncl_loss_params){.smooth = 1}, "dice"), "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "unet: %s\n", nncl_graph_error(g));
        return 1;
    }
    char *summary;
    check(nncl_graph_summary(g, &summary), "summary");
    fputs(summary, stdout);
    nncl_free(summary);
    nncl_optimizer *opt;
    check(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.003f}, &opt),
        "optimizer");

    static float images[BATCH * S * S];
    static int32_t masks[BATCH * S * S];
    unsigned rng = 21;
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        make_batch(images, masks, &rng);
        check(nncl_graph_set_input(g, x, images, sizeof images), "images");
        check(nncl_graph_set_input(g, y, masks, sizeof masks), "masks");
        float value;
        check(nncl_train_step(g, opt, loss, &value), "training step");
        if (step < 5) first += value / 5;
        if (step >= steps - 5) last += value / 5;
        if (step % 50 == 0 || step == steps - 1) {
            printf("step %3d: loss %.4f\n", step, value);
            fflush(stdout);
        }
    }
    printf("mean loss over the first 5 steps %.4f, over the last 5 %.4f\n", first, last);
    int status = quick && !(last < first); /* --quick: the loss must fall */
    if (quick) goto done;

    /* Unseen images: pixel accuracy and IoU per class. */
    static float out[BATCH * CLASSES * S * S], shown_img[SHOWN * S * S];
    static int shown_pred[SHOWN * S * S], shown_true[SHOWN * S * S];
    long inter[CLASSES] = {0}, uni[CLASSES] = {0}, right = 0, pixels = 0;
    rng = 9090;
    for (int t = 0; t < TEST_BATCHES; t++) {
        make_batch(images, masks, &rng);
        check(nncl_graph_set_input(g, x, images, sizeof images), "images");
        check(nncl_graph_infer(g, logits, out, sizeof out), "inference");
        for (int n = 0; n < BATCH; n++)
            for (int i = 0; i < S * S; i++) {
                int best = 0;
                for (int c = 1; c < CLASSES; c++)
                    if (out[(n * CLASSES + c) * S * S + i] > out[(n * CLASSES + best) * S * S + i])
                        best = c;
                int truth = masks[n * S * S + i];
                right += best == truth;
                pixels++;
                for (int c = 0; c < CLASSES; c++) {
                    inter[c] += best == c && truth == c;
                    uni[c] += best == c || truth == c;
                }
                if (t == 0 && n < SHOWN) {
                    shown_img[n * S * S + i] = images[n * S * S + i];
                    shown_pred[n * S * S + i] = best;
                    shown_true[n * S * S + i] = truth;
                }
            }
    }
    double miou = 0;
    for (int c = 0; c < CLASSES; c++) {
        double iou = uni[c] ? (double)inter[c] / (double)uni[c] : 1.0;
        printf("IoU %-10s %.3f\n", class_names[c], iou);
        miou += iou / CLASSES;
    }
    printf("pixel accuracy on %d unseen images: %.1f%%, mean IoU %.3f\n", TEST_BATCHES * BATCH,
           100.0 * (double)right / (double)pixels, miou);
    char path[1024];
    mkdir(out_dir, 0755);
    snprintf(path, sizeof path, "%s/unet.png", out_dir);
    if (plot_segmentation(path, shown_img, shown_pred, shown_true, SHOWN, S, S) == 0)
        printf("Predictions: %s\n", path);
done:
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return status;
}
