/* Classifying volumes with a small 3D ResNet, the way CT and MRI scans are
 * classified: generated 16x16x16 volumes hold a sphere, a cube or a torus
 * of random size, position and brightness in noise. A 3D stem, two
 * residual blocks of Conv3d and BatchNorm3d (the second downsampling, with
 * a projection shortcut), global average pooling and a linear layer. Writes
 * a montage of the slices of three unseen volumes.
 *
 *   usage: volume3d [--quick] [--out DIR] [--export DIR]
 *   --quick: 20 steps, exits 1 unless the loss falls; --export DIR: writes
 *   the generated data for nncl-train (--model volume3d --data DIR).
 */
#include "export.h"
#include "plot.h"

#include <nncl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { S = 16, VOX = S * S * S, BATCH = 16, CLASSES = 3, TEST_BATCHES = 8 };
static const char *const class_names[CLASSES] = {"sphere", "cube", "torus"};

static double uniform(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xffff) / 65536.0;
}

static void make_volume(float *v, int kind, unsigned *rng) {
    double r = 3.5 + 2.5 * uniform(rng), level = 0.6 + 0.6 * uniform(rng);
    double c[3];
    for (int k = 0; k < 3; k++)
        c[k] = r + 0.5 + (S - 1 - 2 * r) * uniform(rng);
    for (int z = 0; z < S; z++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double dz = z - c[0], dy = y - c[1], dx = x - c[2];
                bool in;
                if (kind == 0)
                    in = dz * dz + dy * dy + dx * dx <= r * r;
                else if (kind == 1)
                    in = fabs(dz) <= r * 0.8 && fabs(dy) <= r * 0.8 && fabs(dx) <= r * 0.8;
                else { /* ring of radius r * 0.7 around z, tube 0.35 r */
                    double ring = sqrt(dy * dy + dx * dx) - r * 0.7;
                    in = ring * ring + dz * dz <= (0.35 * r) * (0.35 * r);
                }
                v[(z * S + y) * S + x] = (float)((in ? level : 0.0) + 0.4 * (uniform(rng) - 0.5));
            }
}

static void make_batch(float *v, int32_t *labels, unsigned *rng) {
    for (int n = 0; n < BATCH; n++) {
        labels[n] = (int32_t)(uniform(rng) * CLASSES);
        make_volume(v + n * VOX, labels[n], rng);
    }
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "volume3d: %s: %s\n", what, nncl_last_error());
    exit(1);
}

static nncl_node *conv_bn(nncl_graph *g, nncl_node *x, int64_t width, int64_t k, int64_t stride,
                          const char *name, bool relu) {
    char conv[32], bn[32];
    snprintf(conv, sizeof conv, "%s.conv", name);
    snprintf(bn, sizeof bn, "%s.bn", name);
    nncl_node *h = nncl_conv(g, x,
                             &(nncl_conv_params){.out_channels = width,
                                                 .kernel = {k, k, k},
                                                 .stride = {stride, stride, stride},
                                                 .padding = {k / 2, k / 2, k / 2},
                                                 .no_bias = true},
                             conv);
    h = nncl_batch_norm(g, h, NULL, bn);
    return relu ? nncl_relu(g, h, NULL) : h;
}

/* Two 3x3x3 conv-BN, added to the input (or its 1x1x1 projection). */
static nncl_node *block(nncl_graph *g, nncl_node *x, int64_t width, int64_t stride,
                        const char *name) {
    char a[32], b[32], p[32];
    snprintf(a, sizeof a, "%s.1", name);
    snprintf(b, sizeof b, "%s.2", name);
    snprintf(p, sizeof p, "%s.proj", name);
    nncl_node *h = conv_bn(g, conv_bn(g, x, width, 3, stride, a, true), width, 3, 1, b, false);
    nncl_node *shortcut = stride == 1 ? x : conv_bn(g, x, width, 1, stride, p, false);
    return nncl_relu(g, nncl_add(g, h, shortcut, NULL), NULL);
}

/* --export DIR: 2048 training and 256 test samples as nncl-train reads them
 * (nncl-train --model volume3d --data DIR). */
static int export_data(const char *dir) {
    return export_generated(dir, BATCH, (const int[2]){128, 16}, NNCL_SHAPE(1, S, S, S), false,
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
            fprintf(stderr, "usage: volume3d [--quick] [--out DIR] [--export DIR]\n");
            return 2;
        }
    }
    int steps = quick ? 20 : 200;
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 6}, &g), "graph");
    nncl_node *x = nncl_input(g, "volume", NNCL_SHAPE(BATCH, 1, S, S, S));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *h = conv_bn(g, x, 8, 3, 1, "stem", true);
    h = block(g, h, 8, 1, "layer1");
    h = block(g, h, 16, 2, "layer2");
    nncl_node *logits = nncl_linear(g, nncl_flatten(g, nncl_global_avg_pool(g, h, NULL), NULL),
                                    CLASSES, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "volume3d: %s\n", nncl_graph_error(g));
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

    static float volumes[BATCH * VOX];
    static int32_t labels[BATCH];
    unsigned rng = 31;
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        make_batch(volumes, labels, &rng);
        check(nncl_graph_set_input(g, x, volumes, sizeof volumes), "volumes");
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

    int right = 0, row_of_class[CLASSES] = {-1, -1, -1}, rows = 0;
    static float montage[3 * 8 * S * S];
    static char text[3 * 8][48];
    const char *captions[3 * 8];
    rng = 8080;
    for (int t = 0; t < TEST_BATCHES; t++) {
        make_batch(volumes, labels, &rng);
        check(nncl_graph_set_input(g, x, volumes, sizeof volumes), "volumes");
        float out[BATCH * CLASSES];
        check(nncl_graph_infer(g, logits, out, sizeof out), "inference");
        for (int n = 0; n < BATCH; n++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (out[n * CLASSES + c] > out[n * CLASSES + best]) best = c;
            right += best == labels[n];
            if (row_of_class[labels[n]] >= 0) continue;
            int r = row_of_class[labels[n]] = rows++; /* the first volume of each class */
            for (int k = 0; k < 8; k++) {             /* every other slice */
                memcpy(montage + (r * 8 + k) * S * S, volumes + n * VOX + 2 * k * S * S,
                       S * S * sizeof(float));
                if (k == 0)
                    snprintf(text[r * 8], sizeof text[0], "%s -> %s", class_names[labels[n]],
                             class_names[best]);
                else
                    snprintf(text[r * 8 + k], sizeof text[0], "z = %d", 2 * k);
                captions[r * 8 + k] = text[r * 8 + k];
            }
        }
    }
    printf("test accuracy on %d unseen volumes: %.1f%%\n", TEST_BATCHES * BATCH,
           100.0 * right / (TEST_BATCHES * BATCH));
    char path[1024];
    mkdir(out_dir, 0755);
    snprintf(path, sizeof path, "%s/volume3d.png", out_dir);
    if (plot_images(path, montage, rows * 8, 8, S, S, captions) == 0) printf("Slices: %s\n", path);
done:
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return status;
}
