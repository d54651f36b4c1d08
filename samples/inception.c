/* A small GoogLeNet (Szegedy et al. 2015): a stem, two Inception modules
 * (parallel 1x1, 1x1-3x3, 1x1-5x5 and 3x3-max-pool-1x1 branches,
 * concatenated along the channels), global average pooling and a linear
 * layer. It prints the summary, with each layer's parameters and
 * multiply-adds, then trains on generated 32x32 textures (stripes at one of
 * four angles, with random frequency, phase and noise) and reports the
 * test accuracy.
 *
 *   usage: inception [--quick]    (--quick: 20 steps, exits 1 unless the loss falls)
 */
#include <nncl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S = 32, BATCH = 32, CLASSES = 4, TEST_BATCHES = 8 };

static double uniform(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xffff) / 65536.0;
}

static void make_batch(float *images, int32_t *labels, unsigned *rng) {
    for (int n = 0; n < BATCH; n++) {
        int c = (int)(uniform(rng) * CLASSES);
        labels[n] = c;
        double angle = c * 3.14159265 / CLASSES + 0.15 * (uniform(rng) - 0.5);
        double freq = 0.5 + 0.5 * uniform(rng), phase = 6.3 * uniform(rng);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                images[(n * S + y) * S + x] =
                    (float)(sin(freq * (x * cos(angle) + y * sin(angle)) + phase) +
                            0.8 * (uniform(rng) - 0.5));
    }
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "inception: %s: %s\n", what, nncl_last_error());
    exit(1);
}

/* conv k x k (same) - batch norm - ReLU, named "<prefix>.<name>". */
static nncl_node *conv(nncl_graph *g, nncl_node *x, int64_t width, int64_t k, const char *prefix,
                       const char *name) {
    char c[48], b[48];
    snprintf(c, sizeof c, "%s.%s.conv", prefix, name);
    snprintf(b, sizeof b, "%s.%s.bn", prefix, name);
    nncl_node *h = nncl_conv(
        g, x,
        &(nncl_conv_params){
            .out_channels = width, .kernel = {k, k}, .padding = {k / 2, k / 2}, .no_bias = true},
        c);
    return nncl_relu(g, nncl_batch_norm(g, h, NULL, b), NULL);
}

/* An Inception module: widths of the 1x1 (b1), 3x3 (b2, after a 1x1
 * reduction b2r to r3), 5x5 (b3, after b3r to r5) and pool-projection (b4)
 * branches. */
static nncl_node *inception(nncl_graph *g, nncl_node *x, int64_t w1, int64_t r3, int64_t w3,
                            int64_t r5, int64_t w5, int64_t wp, const char *name) {
    nncl_node *b[4];
    b[0] = conv(g, x, w1, 1, name, "b1");
    b[1] = conv(g, conv(g, x, r3, 1, name, "b2r"), w3, 3, name, "b2");
    b[2] = conv(g, conv(g, x, r5, 1, name, "b3r"), w5, 5, name, "b3");
    nncl_node *pooled = nncl_max_pool(
        g, x, &(nncl_pool_params){.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}, NULL);
    b[3] = conv(g, pooled, wp, 1, name, "b4");
    return nncl_concat(g, b, 4, NULL);
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    int steps = quick ? 20 : 200;
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 9}, &g), "graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(BATCH, 1, S, S));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *h = conv(g, x, 16, 3, "stem", "0");
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "stem.pool"); /* 16x16 */
    h = inception(g, h, 8, 8, 16, 4, 8, 8, "inc3a");                             /* 40 wide */
    h = inception(g, h, 16, 16, 24, 4, 12, 12, "inc3b");                         /* 64 wide */
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool");      /* 8x8 */
    nncl_node *logits = nncl_linear(g, nncl_flatten(g, nncl_global_avg_pool(g, h, "avgpool"), NULL),
                                    CLASSES, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "inception: %s\n", nncl_graph_error(g));
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
    static int32_t labels[BATCH];
    unsigned rng = 13;
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        make_batch(images, labels, &rng);
        check(nncl_graph_set_input(g, x, images, sizeof images), "images");
        check(nncl_graph_set_input(g, y, labels, sizeof labels), "labels");
        float value;
        check(nncl_train_step(g, opt, loss, &value), "training step");
        if (step < 5) first += value / 5;
        if (step >= steps - 5) last += value / 5;
        if (step % 25 == 0 || step == steps - 1) {
            printf("step %3d: loss %.4f\n", step, value);
            fflush(stdout);
        }
    }
    printf("mean loss over the first 5 steps %.4f, over the last 5 %.4f\n", first, last);
    int status = quick && !(last < first); /* --quick: the loss must fall */
    if (quick) goto done;
    int right = 0;
    rng = 3131;
    for (int t = 0; t < TEST_BATCHES; t++) {
        make_batch(images, labels, &rng);
        check(nncl_graph_set_input(g, x, images, sizeof images), "images");
        float out[BATCH * CLASSES];
        check(nncl_graph_infer(g, logits, out, sizeof out), "inference");
        for (int n = 0; n < BATCH; n++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (out[n * CLASSES + c] > out[n * CLASSES + best]) best = c;
            right += best == labels[n];
        }
    }
    printf("test accuracy on %d unseen textures: %.1f%%\n", TEST_BATCHES * BATCH,
           100.0 * right / (TEST_BATCHES * BATCH));
done:
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return status;
}
