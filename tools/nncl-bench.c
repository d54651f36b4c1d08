/* nncl-bench: training and inference speed of a built-in model (or an
 * ONNX file) on random data: first-step time (kernel builds included;
 * --cold starts from empty kernel caches), steady-state median step time,
 * images per second, peak device memory and device time per kind of
 * work from profiling events.
 * Benchmarks are programs, not tests: run them on a quiet machine. */
#define _POSIX_C_SOURCE 200809L
#include "gemm_bench.h"
#include "models.h"
#include "onnx_model.h"
#include "progress.h"

#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct options {
    const char *model, *device;
    int64_t batch, steps;
    bool json, cold, gemm;
} options;

static int usage(void) {
    fprintf(
        stderr,
        "usage: nncl-bench --model NAME|FILE.onnx [--batch N] [--steps N] [--device SPEC] [--json] "
        "[--cold] [--gemm]\n"
        "  models: %s\n"
        "  --batch N    batch size (default: 64, resnet18_cifar 32)\n"
        "  --steps N    timed training and inference steps (default 20)\n"
        "  --cold       start with empty kernel caches (nncl's and PoCL's)\n"
        "  --json       one JSON object instead of the table\n"
        "  --gemm       instead of step times: each GEMM of a training step against OpenBLAS\n"
        "               (--steps alternating rounds, default 3)\n",
        model_names());
    return 2;
}

static int fail(const char *what) {
    fprintf(stderr, "nncl-bench: %s: %s\n", what, nncl_last_error());
    return 1;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int64_t n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The GEMMs of one more training step (the calls counted before and after
 * it), each measured against OpenBLAS. */
static int gemm_of_step(nncl_context *ctx, nncl_graph *g, nncl_optimizer *opt, nncl_node *loss,
                        int rounds, bool json) {
    enum { MAX_CALLS = 256 };
    nncl_gemm_call before[MAX_CALLS], after[MAX_CALLS];
    size_t n_before, n_after;
    if (nncl_context_gemm_calls(ctx, before, MAX_CALLS, &n_before) ||
        nncl_train_step(g, opt, loss, NULL) ||
        nncl_context_gemm_calls(ctx, after, MAX_CALLS, &n_after))
        return fail("GEMM calls");
    size_t n = 0;
    for (size_t i = 0; i < n_after && i < MAX_CALLS; i++) {
        int64_t earlier = i < n_before ? before[i].calls : 0;
        if (after[i].calls > earlier) {
            after[n] = after[i];
            after[n++].calls -= earlier;
        }
    }
    if (!n) {
        fprintf(stderr, "nncl-bench: the model's training step runs no GEMM\n");
        return 1;
    }
    return gemm_bench(ctx, after, n, rounds, json);
}

/* Points both kernel caches at a new empty directory (before any OpenCL call). */
static int cold_caches(char *dir, size_t size) {
    snprintf(dir, size, "/tmp/nncl-bench-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char sub[600];
    snprintf(sub, sizeof sub, "%s/pocl", dir);
    setenv("POCL_CACHE_DIR", sub, 1);
    snprintf(sub, sizeof sub, "%s/nncl", dir);
    setenv("NNCL_CACHE_DIR", sub, 1);
    return 0;
}

/* Device time per step by kind of work, with each kind's share and launches. */
static void print_profile(const char *what, const nncl_profile_entry *profile, size_t kinds,
                          int64_t steps, double step) {
    double profiled = 0;
    for (size_t k = 0; k < kinds; k++)
        profiled += profile[k].seconds;
    printf("  device time per %s step, by kind (%.1f ms of %.1f ms):\n", what,
           profiled / (double)steps * 1e3, step * 1e3);
    for (size_t k = 0; k < kinds; k++)
        if (profile[k].launches)
            printf("    %-22s %8.2f ms  %5.1f%%  (%lld launches)\n", profile[k].kind,
                   profile[k].seconds / (double)steps * 1e3, 100 * profile[k].seconds / profiled,
                   (long long)(profile[k].launches / steps));
}

static void json_profile(const nncl_profile_entry *profile, size_t kinds, int64_t steps) {
    for (size_t k = 0; k < kinds; k++)
        printf("%s\"%s\": %.3f", k ? ", " : "", profile[k].kind,
               profile[k].seconds / (double)steps * 1e3);
}

/* The timed training and inference steps after the warm-up, and the
 * report: step times, memory, device time by kind for each. */
static int time_steps(nncl_context *ctx, nncl_graph *g, nncl_optimizer *opt, nncl_node *loss,
                      nncl_node *logits, const options *opts, float *out, size_t n_out,
                      double first) {
    options o = *opts;
    float value;
    double *times = malloc((size_t)o.steps * sizeof *times);
    if (!times) return fail("memory");
    size_t kinds;
    nncl_profile_entry profile[NNCL_PROFILE_KINDS];
    nncl_context_profile(ctx, profile, NNCL_PROFILE_KINDS, &kinds, true);
    for (int64_t s = 0; s < o.steps; s++) {
        double t = progress_now();
        if (nncl_train_step(g, opt, loss, &value)) return free(times), fail("step");
        times[s] = progress_now() - t;
    }
    nncl_context_profile(ctx, profile, NNCL_PROFILE_KINDS, &kinds, true);
    double train_step = median(times, o.steps);
    if (nncl_graph_infer(g, logits, out, n_out * sizeof *out))
        return free(times), fail("inference");
    nncl_profile_entry infer_profile[NNCL_PROFILE_KINDS];
    nncl_context_profile(ctx, infer_profile, NNCL_PROFILE_KINDS, &kinds, true);
    for (int64_t s = 0; s < o.steps; s++) {
        double t = progress_now();
        if (nncl_graph_infer(g, logits, out, n_out * sizeof *out))
            return free(times), fail("inference");
        times[s] = progress_now() - t;
    }
    nncl_context_profile(ctx, infer_profile, NNCL_PROFILE_KINDS, &kinds, true);
    double infer_step = median(times, o.steps);
    uint64_t peak;
    nncl_context_memory(ctx, NULL, &peak);
    nncl_graph_memory_info mem;
    if (nncl_graph_memory(g, &mem)) return free(times), fail("memory plan");
    int64_t params = nncl_graph_trainable_count(g);

    if (o.json) {
        printf("{\"model\": \"%s\", \"params\": %lld, \"batch\": %lld, \"train_img_per_s\": %.2f, "
               "\"infer_img_per_s\": %.2f, \"first_step_s\": %.3f, \"peak_mem_bytes\": %llu, "
               "\"activation_bytes_no_reuse\": %llu, \"activation_bytes_planned\": %llu, "
               "\"workspace_bytes\": %llu, \"train_step_ms\": %.3f, \"infer_step_ms\": "
               "%.3f, \"cold\": %s, \"device\": \"%s\", "
               "\"profile_ms_per_step\": {",
               o.model, (long long)params, (long long)o.batch, (double)o.batch / train_step,
               (double)o.batch / infer_step, first, (unsigned long long)peak,
               (unsigned long long)mem.values_unshared, (unsigned long long)mem.values_planned,
               (unsigned long long)mem.workspace, train_step * 1e3, infer_step * 1e3,
               o.cold ? "true" : "false", nncl_context_device(ctx)->name);
        json_profile(profile, kinds, o.steps);
        printf("}, \"infer_profile_ms_per_step\": {");
        json_profile(infer_profile, kinds, o.steps);
        printf("}}\n");
    } else {
        printf("model %s: %lld parameters, batch %lld, on %s\n", o.model, (long long)params,
               (long long)o.batch, nncl_context_device(ctx)->name);
        printf("  first training step    %8.2f s   (%s kernel caches)\n", first,
               o.cold ? "empty" : "existing");
        printf("  training step, median  %8.1f ms  %8.1f images/s\n", train_step * 1e3,
               (double)o.batch / train_step);
        printf("  inference, median      %8.1f ms  %8.1f images/s\n", infer_step * 1e3,
               (double)o.batch / infer_step);
        printf("  peak device memory     %8.1f MiB\n", (double)peak / 1048576.0);
        printf("    activations + gradients %.1f MiB shared (%.1f MiB without reuse), "
               "parameters + gradients %.1f MiB, workspace %.1f MiB\n",
               (double)mem.values_planned / 1048576.0, (double)mem.values_unshared / 1048576.0,
               (double)mem.parameters / 1048576.0, (double)mem.workspace / 1048576.0);
        print_profile("training", profile, kinds, o.steps, train_step);
        print_profile("inference", infer_profile, kinds, o.steps, infer_step);
    }
    free(times);
    return 0;
}

int main(int argc, char **argv) {
    options o = {.steps = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json"))
            o.json = true;
        else if (!strcmp(a, "--cold"))
            o.cold = true;
        else if (!strcmp(a, "--gemm"))
            o.gemm = true;
        else if (!v)
            return usage();
        else if (!strcmp(a, "--model"))
            o.model = argv[++i];
        else if (!strcmp(a, "--device"))
            o.device = argv[++i];
        else if (!strcmp(a, "--batch"))
            o.batch = atoll(argv[++i]);
        else if (!strcmp(a, "--steps"))
            o.steps = atoll(argv[++i]);
        else
            return usage();
    }
    if (o.gemm) gemm_bench_prepare(argv);
    bool from_file = o.model && onnx_model_named(o.model);
    const model_info *m = o.model && !from_file ? model_find(o.model) : NULL;
    if (!m && !from_file) return usage();
    if (!o.batch) o.batch = m && !strcmp(m->name, "resnet18_cifar") ? 32 : 64;
    if (!o.steps) o.steps = o.gemm ? 3 : 20;
    if (o.batch < 2 || o.steps < 1) return usage();
    char cache[512] = "";
    if (o.cold && cold_caches(cache, sizeof cache)) return fail("cold caches");

    double t0 = progress_now();
    nncl_context *ctx;
    if (nncl_context_create(&(nncl_context_options){.device = o.device, .profile = true}, &ctx))
        return fail("device");
    nncl_graph *g;
    nncl_graph_create(ctx, &(nncl_graph_options){.seed = 1}, &g);
    nncl_node *x, *y, *logits;
    onnx_model file;
    if (from_file) { /* labels for its logits: a class per sample, or per position */
        if (onnx_model_import(g, o.model, o.batch, 0, &file, "nncl-bench", stderr)) return 1;
        m = &file.info;
        file.info.dims.vocab = 1; /* ids all 0: valid for any table */
        nncl_shape labels = nncl_node_shape(file.logits);
        for (int32_t d = 2; d < labels.rank; d++)
            labels.dims[d - 1] = labels.dims[d];
        labels.rank = m->dense ? labels.rank - 1 : 1;
        x = file.x, logits = file.logits;
        y = nncl_input_labels_nd(g, "label", labels);
    } else {
        logits = model_graph(g, m, o.batch, m->input, &m->dims, &x, &y);
    }
    nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
    if (nncl_graph_status(g) != NNCL_OK) {
        fprintf(stderr, "nncl-bench: %s\n", nncl_graph_error(g));
        return 1;
    }
    nncl_optimizer *opt;
    if (nncl_optimizer_create(
            g, &(nncl_optim_params){.kind = NNCL_OPTIM_SGD, .lr = 0.01f, .momentum = 0.9f}, &opt))
        return fail("optimizer");
    /* Random values in [-1, 1] (or ids), random classes (per position for dense models). */
    size_t n = (size_t)nncl_shape_numel(nncl_node_shape(x)),
           n_labels = (size_t)nncl_shape_numel(nncl_node_shape(y)),
           n_out = (size_t)nncl_shape_numel(nncl_node_shape(logits));
    float *data = malloc(n * sizeof *data);
    int32_t *labels = malloc(n_labels * sizeof *labels);
    float *out = malloc(n_out * sizeof *out);
    srand(1);
    for (size_t i = 0; i < n; i++)
        if (m->ids)
            ((int32_t *)data)[i] = rand() % (int)m->dims.vocab;
        else
            data[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
    for (size_t i = 0; i < n_labels; i++)
        labels[i] = rand() % (int)m->dims.classes;
    float value;
    if (nncl_graph_set_input(g, x, data, n * sizeof *data) ||
        nncl_graph_set_input(g, y, labels, n_labels * sizeof *labels) ||
        nncl_train_step(g, opt, loss, &value))
        return fail("first step");
    double first = progress_now() - t0;

    /* One more step so every kernel variant has run, then the timed ones. */
    int rc = nncl_train_step(g, opt, loss, &value) ? fail("step")
             : o.gemm ? gemm_of_step(ctx, g, opt, loss, (int)o.steps, o.json)
                      : time_steps(ctx, g, opt, loss, logits, &o, out, n_out, first);
    free(data);
    free(labels);
    free(out);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    if (o.cold) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
        if (system(cmd) != 0) fprintf(stderr, "nncl-bench: could not remove %s\n", cache);
    }
    return rc;
}
