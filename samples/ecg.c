/* Heartbeat classification with a 1D CNN over single-lead ECG windows. The
 * windows are generated, 2 seconds at 128 Hz: normal sinus rhythm (P wave,
 * narrow QRS, T wave at a steady rate), premature ventricular beats (an
 * early, wide beat with no P wave among normal ones) and atrial
 * fibrillation (irregular intervals, no P waves, a fibrillating baseline),
 * each with noise, baseline wander and a random heart rate. Three
 * convolution blocks (conv - batch norm - ReLU - max pool), global average
 * pooling and a linear layer classify them; a few unseen windows are drawn
 * with their true and predicted class.
 *
 *   usage: ecg [--quick] [--out DIR] [--export DIR]
 *   --quick: 30 steps, exits 1 unless the loss falls; --export DIR: writes
 *   the generated data for nncl-train (--model ecg --data DIR).
 */
#include "export.h"
#include "plot.h"

#include <nncl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { LEN = 256, BATCH = 64, CLASSES = 3, TEST_BATCHES = 8, SHOWN = 6 };
static const char *const class_names[CLASSES] = {"normal", "PVC", "AFib"};
static const double PI = 3.14159265358979;

static double uniform(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xffff) / 65536.0;
}

static double bump(double t, double at, double width) {
    double d = (t - at) / width;
    return exp(-0.5 * d * d);
}

/* One beat at time `at` (seconds): P (unless afib), QRS (wide if ectopic), T. */
static double beat(double t, double at, bool p_wave, bool wide) {
    double v = p_wave ? 0.15 * bump(t, at - 0.16, 0.025) : 0;
    double w = wide ? 0.045 : 0.012;
    v += (wide ? 1.3 : 1.0) * bump(t, at, w) - 0.15 * bump(t, at - 2.5 * w, w) -
         0.25 * bump(t, at + 2.5 * w, w);
    return v + (wide ? -0.35 : 0.3) * bump(t, at + 0.3, 0.06);
}

static void make_window(float *x, int kind, unsigned *rng) {
    double rr = 60.0 / (55 + 50 * uniform(rng)), beats[16];
    int n = 0;
    for (double at = -uniform(rng) * rr; at < 2.4 && n < 16; n++) {
        beats[n] = at;
        double next = rr;
        if (kind == 2) next = rr * (0.6 + 0.8 * uniform(rng)); /* irregular */
        at += next;
    }
    int ectopic = kind == 1 ? 1 + (int)(uniform(rng) * (n - 2)) : -1;
    if (ectopic > 0) beats[ectopic] -= 0.35 * rr; /* premature */
    double wander = 0.3 * uniform(rng), phase = 2 * PI * uniform(rng);
    for (int i = 0; i < LEN; i++) {
        double t = i / 128.0, v = 0;
        for (int b = 0; b < n; b++)
            v += beat(t, beats[b], kind != 2 && b != ectopic, b == ectopic);
        if (kind == 2) v += 0.05 * sin(2 * PI * 7 * t + phase);
        v += wander * sin(2 * PI * 0.3 * t + phase) + 0.06 * (uniform(rng) - 0.5);
        x[i] = (float)v;
    }
}

static void make_batch(float *x, int32_t *labels, unsigned *rng) {
    for (int n = 0; n < BATCH; n++) {
        labels[n] = (int32_t)(uniform(rng) * CLASSES);
        make_window(x + n * LEN, labels[n], rng);
    }
}

static void check(nncl_status st, const char *what) {
    if (st == NNCL_OK) return;
    fprintf(stderr, "ecg: %s: %s\n", what, nncl_last_error());
    exit(1);
}

/* --export DIR: 8192 training and 1024 test samples as nncl-train reads them
 * (nncl-train --model ecg --data DIR). */
static int export_data(const char *dir) {
    return export_generated(dir, BATCH, (const int[2]){128, 16}, NNCL_SHAPE(1, LEN), false,
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
            fprintf(stderr, "usage: ecg [--quick] [--out DIR] [--export DIR]\n");
            return 2;
        }
    }
    int steps = quick ? 30 : 300;
    nncl_context *ctx;
    check(nncl_context_create(NULL, &ctx), "device");
    nncl_graph *g;
    check(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 8}, &g), "graph");
    nncl_node *x = nncl_input(g, "ecg", NNCL_SHAPE(BATCH, 1, LEN));
    nncl_node *y = nncl_input_labels(g, "label", BATCH);
    nncl_node *h = x;
    static const int64_t widths[3] = {16, 32, 64}, kernels[3] = {9, 7, 5};
    for (int b = 0; b < 3; b++) {
        char conv[16], bn[16];
        snprintf(conv, sizeof conv, "conv%d", b + 1);
        snprintf(bn, sizeof bn, "bn%d", b + 1);
        h = nncl_conv(g, h,
                      &(nncl_conv_params){.out_channels = widths[b],
                                          .kernel = {kernels[b]},
                                          .padding = {kernels[b] / 2}},
                      conv);
        h = nncl_relu(g, nncl_batch_norm(g, h, NULL, bn), NULL);
        h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2}}, NULL);
    }
    nncl_node *logits = nncl_linear(g, nncl_flatten(g, nncl_global_avg_pool(g, h, NULL), NULL),
                                    CLASSES, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "ecg: %s\n", nncl_graph_error(g));
        return 1;
    }
    nncl_optimizer *opt;
    check(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_ADAM, .lr = 0.003f}, &opt),
        "optimizer");

    static float signals[BATCH * LEN];
    static int32_t labels[BATCH];
    unsigned rng = 17;
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        make_batch(signals, labels, &rng);
        check(nncl_graph_set_input(g, x, signals, sizeof signals), "signals");
        check(nncl_graph_set_input(g, y, labels, sizeof labels), "labels");
        float value;
        check(nncl_train_step(g, opt, loss, &value), "training step");
        if (step < 5) first += value / 5;
        if (step >= steps - 5) last += value / 5;
        if (step % 50 == 0 || step == steps - 1) printf("step %3d: loss %.4f\n", step, value);
    }
    printf("mean loss over the first 5 steps %.4f, over the last 5 %.4f\n", first, last);
    int status = quick && !(last < first); /* --quick: the loss must fall */
    if (quick) goto done;

    int confusion[CLASSES][CLASSES] = {{0}}, right = 0;
    static float shown[SHOWN * LEN];
    static char text[SHOWN][64];
    const char *captions[SHOWN];
    rng = 5151;
    for (int t = 0; t < TEST_BATCHES; t++) {
        make_batch(signals, labels, &rng);
        check(nncl_graph_set_input(g, x, signals, sizeof signals), "signals");
        float out[BATCH * CLASSES];
        check(nncl_graph_infer(g, logits, out, sizeof out), "inference");
        for (int n = 0; n < BATCH; n++) {
            int best = 0;
            for (int c = 1; c < CLASSES; c++)
                if (out[n * CLASSES + c] > out[n * CLASSES + best]) best = c;
            confusion[labels[n]][best]++;
            right += best == labels[n];
            if (t == 0 && n < SHOWN) {
                memcpy(shown + n * LEN, signals + n * LEN, LEN * sizeof(float));
                snprintf(text[n], sizeof text[n], "true: %s, predicted: %s", class_names[labels[n]],
                         class_names[best]);
                captions[n] = text[n];
            }
        }
    }
    printf("confusion (rows: true, columns: predicted %s / %s / %s):\n", class_names[0],
           class_names[1], class_names[2]);
    for (int a = 0; a < CLASSES; a++)
        printf("  %-7s %4d %4d %4d\n", class_names[a], confusion[a][0], confusion[a][1],
               confusion[a][2]);
    printf("test accuracy on %d unseen windows: %.1f%%\n", TEST_BATCHES * BATCH,
           100.0 * right / (TEST_BATCHES * BATCH));
    char path[1024];
    mkdir(out_dir, 0755);
    snprintf(path, sizeof path, "%s/ecg.png", out_dir);
    if (plot_signals(path, shown, SHOWN, LEN, captions) == 0) printf("Windows: %s\n", path);
done:
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return status;
}
