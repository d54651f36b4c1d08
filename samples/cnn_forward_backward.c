/* A small CNN for 28x28 grey images built through the public API: its
 * summary, then the time of the first forward and backward passes (which
 * include building kernels, or loading them from the cache) and of the
 * steady state that follows.
 *
 *   usage: cnn_forward_backward [--batch N] [--iters N]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char *what) {
    fprintf(stderr, "cnn_forward_backward: %s: %s\n", what, nncl_last_error());
    return 1;
}

int main(int argc, char **argv) {
    int batch = 64, iters = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--batch N] [--iters N]\n", argv[0]);
            return 2;
        }
    }
    if (batch < 2 || iters < 1) {
        fprintf(stderr, "cnn_forward_backward: need --batch >= 2 and --iters >= 1\n");
        return 2;
    }

    double t0 = now();
    nncl_context *ctx;
    if (nncl_context_create(NULL, &ctx) != NNCL_OK) return fail("context");
    double t_context = now() - t0;
    printf("Device: %s (%s)\n\n", nncl_context_device(ctx)->name,
           nncl_context_device(ctx)->platform_name);

    nncl_graph *g;
    if (nncl_graph_create(ctx, &(nncl_graph_options){.seed = 1}, &g) != NNCL_OK)
        return fail("graph");
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(batch, 1, 28, 28));
    nncl_node *labels = nncl_input_labels(g, "label", batch);
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 32, .kernel = {3, 3}, .padding = {1, 1}},
        "conv1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"));
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool1");
    h = nncl_conv(g, h,
                  &(nncl_conv_params){.out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}},
                  "conv2");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn2"));
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool2");
    h = nncl_relu(g, nncl_linear(g, nncl_flatten(g, h), 128, NULL, "fc1"));
    h = nncl_linear(g, nncl_dropout(g, h, 0.5f, "drop"), 10, NULL, "fc2");
    nncl_node *loss = nncl_cross_entropy(g, h, labels, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "cnn_forward_backward: %s\n", nncl_graph_error(g));
        return 1;
    }
    char *summary;
    if (nncl_graph_summary(g, &summary) != NNCL_OK) return fail("summary");
    fputs(summary, stdout);
    nncl_free(summary);

    /* Random images and labels: timing does not depend on the data. */
    size_t pixels = (size_t)batch * 28 * 28;
    float *images = malloc(pixels * sizeof *images);
    int32_t *classes = malloc((size_t)batch * sizeof *classes);
    if (!images || !classes) return 1;
    srand(1);
    for (size_t i = 0; i < pixels; i++)
        images[i] = (float)rand() / (float)RAND_MAX;
    for (int i = 0; i < batch; i++)
        classes[i] = rand() % 10;
    if (nncl_graph_set_input(g, x, images, pixels * sizeof *images) != NNCL_OK ||
        nncl_graph_set_input(g, labels, classes, (size_t)batch * sizeof *classes) != NNCL_OK)
        return fail("inputs");

    float value = 0.0f;
    t0 = now();
    if (nncl_graph_forward(g) != NNCL_OK || nncl_graph_read(g, loss, &value, sizeof value))
        return fail("forward");
    double t_first_forward = now() - t0;
    t0 = now();
    if (nncl_graph_backward(g, loss, NULL, 0) != NNCL_OK || nncl_graph_finish(g) != NNCL_OK)
        return fail("backward");
    double t_first_backward = now() - t0;
    printf("\nLoss on random data: %.4f (a uniform guess over 10 classes gives ln 10 = 2.3026)\n",
           value);

    double t_forward = 0, t_backward = 0;
    for (int i = 0; i < iters; i++) {
        t0 = now();
        if (nncl_graph_forward(g) != NNCL_OK || nncl_graph_finish(g) != NNCL_OK)
            return fail("forward");
        double t1 = now();
        if (nncl_graph_backward(g, loss, NULL, 0) != NNCL_OK || nncl_graph_finish(g) != NNCL_OK)
            return fail("backward");
        t_forward += t1 - t0;
        t_backward += now() - t1;
    }
    printf("\nTimings (batch %d)\n", batch);
    printf("  context creation          %8.1f ms\n", t_context * 1e3);
    printf("  first forward             %8.1f ms  (includes building or loading kernels)\n",
           t_first_forward * 1e3);
    printf("  first backward            %8.1f ms\n", t_first_backward * 1e3);
    printf("  forward, mean of %-3d      %8.1f ms  (%.0f images/s)\n", iters,
           t_forward / iters * 1e3, batch * iters / t_forward);
    printf("  backward, mean of %-3d     %8.1f ms\n", iters, t_backward / iters * 1e3);
    printf("  forward + backward        %8.1f ms  (%.0f images/s)\n",
           (t_forward + t_backward) / iters * 1e3, batch * iters / (t_forward + t_backward));
    printf("Kernel cache: %s\n", nncl_context_cache_dir(ctx));

    free(images);
    free(classes);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return 0;
}
