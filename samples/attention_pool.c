/* A CNN with a multi-head attention-pooling head: convolutions find
 * features everywhere, then each head scores every position, takes a
 * softmax over the positions and pools the features by those weights.
 * The images are generated, 32x32 and noisy: one small plus, ring or X
 * (the class) somewhere among bright distractor dots. Writes, for a few
 * unseen images, the image and each head's attention over it.
 *
 *   usage: attention_pool [--quick] [--out DIR]   (--quick: 30 steps, exits 1 unless the loss
 * falls)
 */
#include "plot.h"

#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { S = 32, F = 16, BATCH = 32, CLASSES = 3, HEADS = 2, TEST_BATCHES = 8, SHOWN = 4 };
static const char *const class_names[CLASSES] = {"plus", "ring", "X"};

static unsigned rnd(unsigned *state, unsigned n) {
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) % n;
}

static bool on_shape(int kind, int dy, int dx) { /* dy, dx in -2..2 */
    if (kind == 0) return dy == 0 || dx == 0;
    if (kind == 1) return dy == -2 || dy == 2 || dx == -2 || dx == 2;
    return dy == dx || dy == -dx;
}

static void make_image(float *img, int kind, unsigned *rng) {
    for (int i = 0; i < S * S; i++)
        img[i] = (float)rnd(rng, 1000) / 2500.0f;
    for (int d = 0; d < 4; d++) { /* distractors: 2x2 dots */
        int y = (int)rnd(rng, S - 1), x = (int)rnd(rng, S - 1);
        img[y * S + x] = img[y * S + x + 1] = img[(y + 1) * S + x] = img[(y + 1) * S + x + 1] = 1;
    }
    int cy = 2 + (int)rnd(rng, S - 4), cx = 2 + (int)rnd(rng, S - 4);
    for (int dy = -2; dy <= 2; dy++)
        for (int dx = -2; dx <= 2; dx++)
            if (on_shape(kind, dy, dx)) img[(cy + dy) * S + cx + dx] = 1;
}

static void make_batch(float *images, int32_t *labels, unsigned *rng) {
    for (int n = 0; n < BATCH; n++) {
        labels[n] = (int32_t)rnd(rng, CLASSES);
        make_image(images + n * S * S, labels[n], rng);
    }
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "attention_pool: %s: %s\n", what, nncl_last_error());
    exit(1);
}

int main(int argc, char **argv) {
    bool quick = false;
    const char *out_dir = "out";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_dir = argv[++i];
        else {
            fprintf(stderr, "usage: attention_pool [--quick] [--out DIR]\n");
            return 2;
        }
    }
    int steps = quick ? 30 : 400;
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 12}, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 1, S, S));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *h = nncl_relu(
        g,
        nncl_conv(g, x,
                  &(nncl_conv_params){.out_channels = 16, .kernel = {3, 3}, .padding = {1, 1}},
                  "conv1"),
        NULL);
    h = nncl_relu(
        g,
        nncl_conv(g, h,
                  &(nncl_conv_params){.out_channels = 32, .kernel = {3, 3}, .padding = {1, 1}},
                  "conv2"),
        NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool"); /* 16x16 */
    nncl_node *attn = nncl_attention_pool(g, h, HEADS, "attn");
    nncl_node *logits = nncl_linear(g, attn, CLASSES, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "attention_pool: %s\n", nncl_graph_error(g));
        return 1;
    }
    nncl_optimizer *opt;
    check(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.003f}, &opt),
        "optimizer");

    static float images[BATCH * S * S];
    static int32_t labels[BATCH];
    unsigned rng = 41;
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        make_batch(images, labels, &rng);
        check(nncl_graph_set_input(g, x, images, sizeof images), "images");
        check(nncl_graph_set_input(g, y, labels, sizeof labels), "labels");
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

    int right = 0;
    static float weights[BATCH * HEADS * F * F], panels[SHOWN * (1 + HEADS) * S * S];
    static char text[SHOWN * (1 + HEADS)][48];
    const char *captions[SHOWN * (1 + HEADS)];
    rng = 6060;
    for (int t = 0; t < TEST_BATCHES; t++) {
        make_batch(images, labels, &rng);
        check(nncl_graph_set_input(g, x, images, sizeof images), "images");
        float out[BATCH * CLASSES];
        check(nncl_graph_infer(g, logits, out, sizeof out), "inference");
        if (t == 0) check(nncl_attention_pool_weights(g, attn, weights, sizeof weights), "weights");
        for (int n = 0; n < BATCH; n++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (out[n * CLASSES + c] > out[n * CLASSES + best]) best = c;
            right += best == labels[n];
            if (t != 0 || n >= SHOWN) continue;
            float *panel = panels + n * (1 + HEADS) * S * S;
            memcpy(panel, images + n * S * S, S * S * sizeof(float));
            snprintf(text[n * 3], sizeof text[0], "%s -> %s", class_names[labels[n]],
                     class_names[best]);
            captions[n * 3] = text[n * 3];
            for (int hd = 0; hd < HEADS; hd++) { /* 16x16 weights over the 32x32 image */
                const float *a = weights + (n * HEADS + hd) * F * F;
                float top = 0;
                for (int i = 0; i < F * F; i++)
                    top = a[i] > top ? a[i] : top;
                for (int i = 0; i < S * S; i++)
                    panel[(1 + hd) * S * S + i] = a[(i / S / 2) * F + (i % S) / 2] / top;
                snprintf(text[n * 3 + 1 + hd], sizeof text[0], "head %d", hd + 1);
                captions[n * 3 + 1 + hd] = text[n * 3 + 1 + hd];
            }
        }
    }
    printf("test accuracy on %d unseen images: %.1f%%\n", TEST_BATCHES * BATCH,
           100.0 * right / (TEST_BATCHES * BATCH));
    char path[1024];
    mkdir(out_dir, 0755);
    snprintf(path, sizeof path, "%s/attention.png", out_dir);
    if (plot_images(path, panels, SHOWN * (1 + HEADS), 1 + HEADS, S, S, captions) == 0)
        printf("Attention: %s\n", path);
done:
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return status;
}
