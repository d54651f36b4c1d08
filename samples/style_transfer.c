/* Neural style transfer (Gatys et al. 2016): an image optimised so that
 * the deep features of a content image stay while the feature
 * correlations (Gram matrices) of a style image appear. The feature
 * extractor, three conv layers, is first trained here to tell generated
 * textures apart (or loaded with --features); then the image itself is a
 * parameter of the graph, started from the content image and updated with
 * Adam while the extractor is frozen. Both pictures are generated: a house
 * in a landscape, and swirling blue and yellow brush strokes. Writes
 * content, style and result side by side.
 *
 *   usage: style_transfer [--steps N] [--features FILE] [--quick] [--out DIR]
 *   --quick: a short run, exits 1 unless the losses fall.
 */
#include "plot.h"

#include <nncl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { S = 64, PIXELS = 3 * S * S, TEXTURES = 4, BATCH = 16, LAYERS = 3 };
static const double pi = 3.14159265358979323846;
static const float TV_WEIGHT = 0.5f;

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "style_transfer: %s: %s\n", what, nncl_last_error());
    exit(1);
}

static void check_graph(nncl_graph *g) {
    if (nncl_graph_status(g) == NNCL_OK) return;
    fprintf(stderr, "style_transfer: %s\n", nncl_graph_error(g));
    exit(1);
}

static double uniform(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xffff) / 65536.0;
}

static void put(float *img, int y, int x, double r, double g, double b) {
    img[y * S + x] = (float)r, img[S * S + y * S + x] = (float)g,
                img[2 * S * S + y * S + x] = (float)b;
}

/* A house on a green hill under a sky with a sun. */
static void content_image(float *img) {
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double t = (double)y / S, hill = 40 + 5 * sin(x * 0.09);
            double r = 0.55 + 0.4 * t, g = 0.75 + 0.2 * t, b = 0.98; /* sky */
            if ((x - 50) * (x - 50) + (y - 13) * (y - 13) < 49) r = 1, g = 0.85, b = 0.2;
            if (y > hill) r = 0.25, g = 0.6 - 0.2 * (y - hill) / S, b = 0.2;
            if (x >= 14 && x < 36 && y >= 30 && y < 48) r = 0.8, g = 0.25, b = 0.2; /* walls */
            if (y >= 17 && y < 30 && abs(x - 25) <= (y - 17) * 14 / 13)
                r = 0.35, g = 0.2, b = 0.15;                                        /* roof */
            if (x >= 28 && x < 33 && y >= 35 && y < 40) r = 0.95, g = 0.9, b = 0.6; /* window */
            if (x >= 18 && x < 23 && y >= 38 && y < 48) r = 0.3, g = 0.15, b = 0.1; /* door */
            put(img, y, x, r, g, b);
        }
}

/* Swirling strokes: bands along a warped diagonal, coloured from deep
 * blue through light blue to yellow, with a finer stroke texture. */
static void style_image(float *img) {
    static const double palette[4][3] = {
        {0.08, 0.12, 0.4}, {0.2, 0.4, 0.85}, {0.65, 0.8, 0.95}, {0.98, 0.85, 0.25}};
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double u = 0.8 * x + 0.6 * y, v = -0.6 * x + 0.8 * y;
            double t = 0.5 + 0.5 * sin(0.35 * u + 2.2 * sin(0.15 * v));
            t = fmin(fmax(t + 0.12 * sin(1.3 * v + 0.4 * u), 0), 0.999) * 3;
            int k = (int)t;
            double f = t - k, rgb[3];
            for (int c = 0; c < 3; c++)
                rgb[c] = (1 - f) * palette[k][c] + f * palette[k + 1][c];
            put(img, y, x, rgb[0], rgb[1], rgb[2]);
        }
}

/* A random texture of one of four kinds (the extractor's training task):
 * stripes at any angle, checks, dots, or smooth blobs, in random colours. */
static void texture(float *img, int kind, unsigned *rng) {
    double angle = pi * uniform(rng), period = 4 + 8 * uniform(rng), phase = 2 * pi * uniform(rng);
    double fg[3], bg[3];
    for (int c = 0; c < 3; c++)
        fg[c] = uniform(rng), bg[c] = uniform(rng);
    double ca = cos(angle), sa = sin(angle), w1 = 0.1 + 0.2 * uniform(rng),
           w2 = 0.1 + 0.2 * uniform(rng);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double u = ca * x + sa * y, v = -sa * x + ca * y, t;
            if (kind == 0)
                t = sin(2 * pi * u / period + phase) > 0;
            else if (kind == 1)
                t = (sin(2 * pi * u / period + phase) > 0) ^ (sin(2 * pi * v / period) > 0);
            else if (kind == 2) {
                double du = fmod(u + 64 * period, period) - period / 2;
                double dv = fmod(v + 64 * period, period) - period / 2;
                t = du * du + dv * dv < period * period / 10;
            } else
                t = 0.5 + 0.25 * (sin(w1 * u + phase) + sin(w2 * v));
            for (int c = 0; c < 3; c++)
                img[c * S * S + y * S + x] =
                    (float)(t * fg[c] + (1 - t) * bg[c] + 0.05 * (uniform(rng) - 0.5));
        }
}

/* Three 3x3 conv-ReLU layers, the second and third after 2x2 average
 * pooling; their outputs are the features. Pixels in [0, 1] go in. */
static void extractor(nncl_graph *g, nncl_node *image, nncl_node *features[LAYERS]) {
    static const int64_t widths[LAYERS] = {32, 64, 128};
    nncl_node *h = nncl_scale(g, image, 4, -2, NULL); /* mean 0.5, std 0.25 */
    for (int l = 0; l < LAYERS; l++) {
        char name[32];
        snprintf(name, sizeof name, "features.conv%d", l + 1);
        if (l > 0) h = nncl_avg_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, NULL);
        h = features[l] =
            nncl_relu(g,
                      nncl_conv(g, h,
                                &(nncl_conv_params){
                                    .out_channels = widths[l], .kernel = {3, 3}, .padding = {1, 1}},
                                name),
                      NULL);
    }
}

/* The Gram matrix of [1, C, h, w] features: F F^T / (C h w), F = [C, h w]. */
static nncl_node *gram(nncl_graph *g, nncl_node *features) {
    nncl_shape s = nncl_node_shape(features);
    nncl_node *f = nncl_reshape(g, features, NNCL_SHAPE(s.dims[1], s.dims[2] * s.dims[3]), NULL);
    nncl_node *product = nncl_matmul(g, f, nncl_transpose(g, f, 0, 1, NULL), NULL);
    return nncl_scale(g, product, 1.0f / (float)(s.dims[1] * s.dims[2] * s.dims[3]), 0, NULL);
}

/* Trains the extractor (with a linear head) to name the kind of texture,
 * and saves it to path. Returns whether the loss fell. */
static bool train_extractor(nncl_context *ctx, int steps, const char *path) {
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 3}, &g), "graph");
    nncl_node *x = nncl_input(g, "texture", NNCL_SHAPE(BATCH, 3, S, S));
    nncl_node *y = nncl_input_labels(g, "kind", BATCH);
    nncl_node *features[LAYERS];
    extractor(g, x, features);
    nncl_node *pooled = nncl_flatten(g, nncl_global_avg_pool(g, features[LAYERS - 1], NULL), NULL);
    nncl_node *loss =
        nncl_cross_entropy(g, nncl_linear(g, pooled, TEXTURES, NULL, "head"), y, NULL, "loss");
    check_graph(g);
    nncl_optimizer *opt;
    check(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 2e-3f}, &opt),
        "optimizer");
    static float batch[BATCH * PIXELS];
    int32_t kinds[BATCH];
    unsigned rng = 5;
    double first = 0, last = 0;
    int window = steps < 20 ? steps / 2 : 10;
    for (int step = 0; step < steps; step++) {
        for (int n = 0; n < BATCH; n++)
            kinds[n] = n % TEXTURES, texture(batch + n * PIXELS, kinds[n], &rng);
        check(nncl_graph_set_input(g, x, batch, sizeof batch), "textures");
        check(nncl_graph_set_input(g, y, kinds, sizeof kinds), "kinds");
        float value;
        check(nncl_train_step(g, opt, loss, &value), "training step");
        if (step < window) first += value / window;
        if (step >= steps - window) last += value / window;
        if ((step + 1) % 25 == 0 || step + 1 == steps)
            printf("  extractor step %3d: loss %.4f\n", step + 1, value);
    }
    check(nncl_save(g, NULL, path, NULL, 0), "saving the extractor");
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    return last < first;
}

static void load_extractor(nncl_graph *g, const char *path) {
    char report[256];
    check(nncl_load(g, NULL, path,
                    &(nncl_load_options){
                        .non_strict = true, .report = report, .report_size = sizeof report}),
          "loading the extractor");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *out_dir = "out", *features_path = NULL;
    int steps = 300;
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--features") && i + 1 < argc)
            features_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_dir = argv[++i];
        else
            steps = 0, i = argc;
    }
    if (steps < 2 || steps > 100000) {
        fprintf(stderr, "usage: style_transfer [--steps N (2-100000)] [--features FILE] [--quick] "
                        "[--out DIR]\n");
        return 2;
    }
    if (quick) steps = 20;
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    mkdir(out_dir, 0755);
    char trained[1024];
    bool falls = true;
    if (!features_path) {
        snprintf(trained, sizeof trained, "%s/style_features.safetensors", out_dir);
        printf("Training the feature extractor on generated textures\n");
        falls = train_extractor(ctx, quick ? 20 : 150, trained);
        features_path = trained;
    }

    /* The targets: the style image's Gram matrices, the content image's
     * deepest features, from a graph that only extracts. */
    static float content[PIXELS], style[PIXELS], result[PIXELS];
    content_image(content);
    style_image(style);
    nncl_graph *e;
    check(nncl_graph_create(ctx, NULL, &e), "graph");
    nncl_node *pixels = nncl_input(e, "image", NNCL_SHAPE(1, 3, S, S));
    nncl_node *features[LAYERS], *grams[LAYERS];
    extractor(e, pixels, features);
    for (int l = 0; l < LAYERS; l++)
        check(nncl_graph_keep(e, grams[l] = gram(e, features[l])), "keeping a Gram matrix");
    check(nncl_graph_keep(e, features[LAYERS - 1]), "keeping the features");
    check_graph(e);
    load_extractor(e, features_path);
    float *targets[LAYERS + 1];
    size_t target_bytes[LAYERS + 1];
    check(nncl_graph_set_input(e, pixels, style, sizeof style), "style image");
    check(nncl_graph_forward(e), "style features");
    for (int l = 0; l <= LAYERS; l++) {
        nncl_node *node = l < LAYERS ? grams[l] : features[LAYERS - 1];
        if (l == LAYERS) {
            check(nncl_graph_set_input(e, pixels, content, sizeof content), "content image");
            check(nncl_graph_forward(e), "content features");
        }
        target_bytes[l] = (size_t)nncl_shape_numel(nncl_node_shape(node)) * sizeof(float);
        targets[l] = malloc(target_bytes[l]);
        if (!targets[l]) return 1;
        check(nncl_graph_read(e, node, targets[l], target_bytes[l]), "targets");
    }

    /* The image as the graph's one trainable parameter. Each loss is
     * relative to its target's mean square, so that layers weigh alike. */
    nncl_graph *g;
    check(nncl_graph_create(ctx, NULL, &g), "graph");
    nncl_node *image = nncl_parameter(g, "image", NNCL_SHAPE(1, 3, S, S), NNCL_INIT_ZEROS, 0);
    extractor(g, image, features);
    nncl_node *target_nodes[LAYERS + 1], *total = NULL;
    for (int l = 0; l <= LAYERS; l++) {
        nncl_node *value = l < LAYERS ? gram(g, features[l]) : features[LAYERS - 1];
        char name[32];
        snprintf(name, sizeof name, l < LAYERS ? "style_target%d" : "content_target", l + 1);
        target_nodes[l] = nncl_input(g, name, nncl_node_shape(value));
        double sq = 0;
        size_t n = target_bytes[l] / sizeof(float);
        for (size_t i = 0; i < n; i++)
            sq += (double)targets[l][i] * targets[l][i] / (double)n;
        float weight = (float)((l < LAYERS ? 1.0 : 0.1) / (sq + 1e-12));
        nncl_node *term =
            nncl_scale(g, nncl_mse_loss(g, value, target_nodes[l], NULL, NULL), weight, 0, NULL);
        total = total ? nncl_add(g, total, term, NULL) : term;
    }
    /* Total variation, the mean squared difference of neighbouring pixels,
     * keeps the optimised image from turning to speckle. */
    for (int dim = 2; dim <= 3; dim++) {
        nncl_node *d = nncl_sub(g, nncl_slice(g, image, dim, 1, S, 1, NULL),
                                nncl_slice(g, image, dim, 0, S - 1, 1, NULL), NULL);
        nncl_node *tv =
            nncl_reduce(g, nncl_mul(g, d, d, NULL), NNCL_REDUCE_MEAN, NULL, 0, false, NULL);
        total = nncl_add(g, total, nncl_scale(g, tv, TV_WEIGHT, 0, NULL), NULL);
    }
    check_graph(g);
    load_extractor(g, features_path);
    check(nncl_graph_freeze(g, "features.", true), "freezing the extractor");
    for (int l = 0; l <= LAYERS; l++)
        check(nncl_graph_set_input(g, target_nodes[l], targets[l], target_bytes[l]), "targets");
    check(nncl_graph_param_write(g, "image", content, sizeof content), "start image");
    nncl_optimizer *opt;
    check(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.02f}, &opt),
        "optimizer");
    printf("Optimising the image for %d steps\n", steps);
    float first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        float value;
        check(nncl_train_step(g, opt, total, &value), "step");
        if (step == 0) first = value;
        last = value;
        if ((step + 1) % 50 == 0 || step + 1 == steps)
            printf("  step %4d: loss %.4f\n", step + 1, value);
    }
    falls &= last < first;
    int status = quick && !falls;
    check(nncl_graph_param_read(g, "image", result, sizeof result), "result");
    static float panels[3 * PIXELS];
    memcpy(panels, content, sizeof content);
    memcpy(panels + PIXELS, style, sizeof style);
    memcpy(panels + 2 * PIXELS, result, sizeof result);
    char path[1024];
    snprintf(path, sizeof path, "%s/style_transfer.png", out_dir);
    if (!quick && plot_rgb_images(path, panels, 3, 3, S, S,
                                  (const char *const[]){"content", "style", "result"}) == 0)
        printf("Images: %s\n", path);

    for (int l = 0; l <= LAYERS; l++)
        free(targets[l]);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_graph_destroy(e);
    nncl_context_destroy(ctx);
    return status;
}
