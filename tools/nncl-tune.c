/* nncl-tune: tunes CLBlast's GEMM kernel for this device on the GEMM shapes
 * of the built-in models' training steps, and stores the result in the
 * cache directory, where every later nncl context on the device finds it.
 * Run it once per device (and again after a driver update). */
#include "models.h"
#include "progress.h"

#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr,
            "usage: nncl-tune [--model NAME]... [--candidates N] [--device SPEC]\n"
            "  --model NAME     tune on this model's shapes (repeatable; default: all of %s)\n"
            "  --candidates N   parameter sets to time (default 12)\n",
            model_names());
    return 2;
}

static int fail(const char *what) {
    fprintf(stderr, "nncl-tune: %s: %s\n", what, nncl_last_error());
    return 1;
}

/* One training step of model m at its benchmark batch size, so its GEMM
 * shapes are recorded on ctx. */
static int run_step(nncl_context *ctx, const model_info *m) {
    int64_t batch = strcmp(m->name, "resnet18_cifar") ? 64 : 32;
    nncl_graph *g;
    if (nncl_graph_create(ctx, &(nncl_graph_options){.seed = 1}, &g)) return fail("graph");
    nncl_node *x, *y;
    nncl_node *loss = nncl_cross_entropy(g, model_graph(g, m, batch, m->input, &m->dims, &x, &y), y,
                                         NULL, "loss");
    nncl_optimizer *opt = NULL;
    size_t n = (size_t)nncl_shape_numel(nncl_node_shape(x)),
           n_labels = (size_t)nncl_shape_numel(nncl_node_shape(y));
    float *data = calloc(n, sizeof *data); /* zeros: values, or id 0 */
    int32_t *labels = calloc(n_labels, sizeof *labels);
    int rc =
        !data || !labels || nncl_graph_status(g) != NNCL_OK ||
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_SGD, .lr = 0.01f}, &opt) ||
        nncl_graph_set_input(g, x, data, n * sizeof *data) ||
        nncl_graph_set_input(g, y, labels, n_labels * sizeof *labels) ||
        nncl_train_step(g, opt, loss, NULL);
    if (rc) fail(m->name);
    free(data);
    free(labels);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    return rc;
}

static void on_progress(void *user, int32_t done, int32_t total) {
    progress *p = user;
    (void)total;
    progress_update(p, done, "");
    if (!p->tty) fprintf(stderr, "candidate %d/%d timed\n", (int)done, (int)total);
}

int main(int argc, char **argv) {
    const char *device = NULL, *names[8];
    int n_models = 0, candidates = 12;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--model") && n_models < 8)
            names[n_models++] = argv[++i];
        else if (!strcmp(argv[i], "--candidates"))
            candidates = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device"))
            device = argv[++i];
        else
            return usage();
    }
    if (candidates < 1) return usage();
    nncl_context *ctx;
    /* The shapes are recorded and timed on the CLBlast path that is tuned. */
    if (nncl_context_create(&(nncl_context_options){.device = device, .gemm = "clblast"}, &ctx))
        return fail("device");
    printf("Tuning GEMM on %s (cache %s)\n", nncl_context_device(ctx)->name,
           nncl_context_cache_dir(ctx));
    for (size_t i = 0; n_models ? i < (size_t)n_models : model_at(i) != NULL; i++) {
        const model_info *m = n_models ? model_find(names[i]) : model_at(i);
        if (!m) return usage();
        printf("  shapes from one training step of %s\n", m->name);
        if (run_step(ctx, m)) return 1;
    }
    progress p;
    progress_start(&p, stderr, "candidates", candidates);
    nncl_gemm_tuning t;
    nncl_status st = nncl_context_tune_gemm(ctx, candidates, on_progress, &p, &t);
    progress_end(&p);
    if (st != NNCL_OK) return fail("tuning");
    printf("%d GEMM shapes, %d candidates timed (%d rejected by CLBlast)\n", (int)t.shapes,
           (int)t.tried, (int)t.failed);
    printf("weighted GEMM time per training step: %.1f ms (%.1f GFLOP/s) before, %.1f ms "
           "(%.1f GFLOP/s) after\n",
           t.before_seconds * 1e3, t.gflops_before, t.after_seconds * 1e3, t.gflops_after);
    printf("parameters: %s\n", t.parameters);
    nncl_context_destroy(ctx);
    return 0;
}
