/* Telling X from O: 9x9 images of +1 (ink) and -1 (paper), a 3x3
 * convolution, ReLU, max pooling and a linear layer. It trains on the two
 * clean letters and their shifted and slightly deformed copies, then is
 * checked on copies it has not seen. Exits 0 when every image is right.
 *
 *   usage: xo
 */
#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S = 9, FILTERS = 4, BATCH = 64, STEPS = 150 };

static const char *const letters[2][S] = {
    {"#.......#", ".#.....#.", "..#...#..", "...#.#...", "....#....", "...#.#...", "..#...#..",
     ".#.....#.", "#.......#"},
    {"..#####..", ".#.....#.", "#.......#", "#.......#", "#.......#", "#.......#", "#.......#",
     ".#.....#.", "..#####.."},
};

static unsigned next(unsigned *state) {
    return *state = *state * 1103515245u + 12345u;
}

/* Letter `which`, shifted by (dy, dx), with `flips` random pixels flipped. */
static void draw(float *img, int which, int dy, int dx, int flips, unsigned *rng) {
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int sy = y - dy, sx = x - dx;
            bool ink = sy >= 0 && sy < S && sx >= 0 && sx < S && letters[which][sy][sx] == '#';
            img[y * S + x] = ink ? 1.0f : -1.0f;
        }
    for (int i = 0; i < flips; i++) {
        int at = (int)(next(rng) >> 8) % (S * S);
        img[at] = -img[at];
    }
}

/* A batch of random letters, shifts of up to one pixel and up to 2 flips. */
static void make_batch(float *images, int32_t *labels, unsigned *rng) {
    for (int n = 0; n < BATCH; n++) {
        labels[n] = (int32_t)((next(rng) >> 8) % 2);
        int dy = (int)((next(rng) >> 8) % 3) - 1, dx = (int)((next(rng) >> 8) % 3) - 1;
        draw(images + n * S * S, labels[n], dy, dx, (int)((next(rng) >> 8) % 3), rng);
    }
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "xo: %s: %s\n", what, nncl_last_error());
    exit(1);
}

int main(void) {
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 3}, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 1, S, S));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *h =
        nncl_conv(g, x, &(nncl_conv_params){.out_channels = FILTERS, .kernel = {3, 3}}, "conv");
    h = nncl_max_pool(g, nncl_relu(g, h, NULL), &(nncl_pool_params){.kernel = {2, 2}}, "pool");
    nncl_node *logits = nncl_linear(g, nncl_flatten(g, h, NULL), 2, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "xo: %s\n", nncl_graph_error(g));
        return 1;
    }
    nncl_optimizer *opt;
    check(nncl_optimizer_create(
              g, &(nncl_optim_params){.kind = NNCL_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f}, &opt),
          "optimizer");

    static float images[BATCH * S * S];
    static int32_t labels[BATCH];
    unsigned rng = 7;
    float value = 0;
    for (int step = 0; step < STEPS; step++) {
        make_batch(images, labels, &rng);
        check(nncl_graph_set_input(g, x, images, sizeof images), "images");
        check(nncl_graph_set_input(g, y, labels, sizeof labels), "labels");
        check(nncl_train_step(g, opt, loss, &value), "training step");
        if (step % 30 == 0) printf("step %3d: loss %.4f\n", step, value);
    }
    printf("step %3d: loss %.4f\n", STEPS, value);

    /* Fresh images: the clean letters and new shifted, deformed copies. */
    rng = 12345;
    make_batch(images, labels, &rng);
    draw(images, 0, 0, 0, 0, &rng);
    draw(images + S * S, 1, 0, 0, 0, &rng);
    labels[0] = 0;
    labels[1] = 1;
    check(nncl_graph_set_input(g, x, images, sizeof images), "images");
    check(nncl_graph_set_input(g, y, labels, sizeof labels), "labels");
    float out[BATCH * 2];
    check(nncl_graph_infer(g, logits, out, sizeof out), "inference");
    int right = 0;
    for (int n = 0; n < BATCH; n++)
        right += (out[2 * n + 1] > out[2 * n]) == (labels[n] == 1);
    printf("unseen images right: %d of %d (%s)\n", right, BATCH,
           right == BATCH ? "all" : "not all");

    float w[FILTERS * 9];
    check(nncl_graph_param_read(g, "conv.weight", w, sizeof w), "filters");
    printf("learned 3x3 filters:\n");
    for (int row = 0; row < 3; row++) {
        for (int f = 0; f < FILTERS; f++)
            printf("  % .2f % .2f % .2f  ", w[f * 9 + row * 3], w[f * 9 + row * 3 + 1],
                   w[f * 9 + row * 3 + 2]);
        printf("\n");
    }
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return right == BATCH ? 0 : 1;
}
