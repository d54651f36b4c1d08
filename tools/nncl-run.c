/* nncl-run: runs an ONNX model on inputs stored as ONNX's test data lays
 * them out (DIR/input_0.pb, input_1.pb, ... one TensorProto per graph
 * input in graph order), writes the outputs the same way, and with
 * --compare checks them against expected output_N.pb files. Any error or
 * mismatch exits non-zero with the reason on stderr. */
#include <nncl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static double rel_tol = 1e-3, abs_tol = 1e-5;

static int usage(void) {
    fprintf(stderr,
            "usage: nncl-run MODEL.onnx --inputs DIR --outputs DIR [--compare DIR [--rtol X]\n"
            "                [--atol X]] [--device SPEC]\n"
            "Reads DIR/input_0.pb, input_1.pb, ... (TensorProto, one per graph input that is not\n"
            "an initializer, in graph order), runs the model in inference mode and writes\n"
            "output_0.pb, ... in graph output order. --compare DIR checks them against\n"
            "DIR/output_N.pb (|have - want| <= atol + rtol |want|; default rtol 1e-3, atol\n"
            "1e-5) and prints the largest differences.\n");
    return 2;
}

static int fail(const char *what) {
    fprintf(stderr, "nncl-run: %s: %s\n", what, nncl_last_error());
    return 1;
}

/* Compares output k with DIR/output_k.pb; returns 0 when within tolerance. */
static int compare(const char *dir, size_t k, const float *have, nncl_shape shape) {
    char path[4096];
    snprintf(path, sizeof path, "%s/output_%zu.pb", dir, k);
    nncl_shape want_shape;
    float *want;
    if (nncl_onnx_tensor_read(path, &want_shape, &want) != NNCL_OK) return fail("expected output");
    int64_t n = nncl_shape_numel(shape);
    if (nncl_shape_numel(want_shape) != n) {
        fprintf(stderr, "nncl-run: output %zu has %lld values, %s %lld\n", k, (long long)n, path,
                (long long)nncl_shape_numel(want_shape));
        nncl_free(want);
        return 1;
    }
    int64_t bad = 0, worst = 0;
    double worst_excess = -1;
    for (int64_t i = 0; i < n; i++) {
        double diff = fabs((double)have[i] - want[i]), allowed = abs_tol + rel_tol * fabs(want[i]);
        bool ok = diff <= allowed || (isnan(have[i]) && isnan(want[i]));
        bad += !ok;
        if (!ok && diff - allowed > worst_excess) worst_excess = diff - allowed, worst = i;
    }
    if (bad)
        fprintf(stderr,
                "nncl-run: output %zu: %lld of %lld values differ from %s beyond rtol %g atol %g; "
                "the largest at %lld: %.9g, expected %.9g\n",
                k, (long long)bad, (long long)n, path, rel_tol, abs_tol, (long long)worst,
                (double)have[worst], (double)want[worst]);
    else
        printf("output %zu: %lld values match %s\n", k, (long long)n, path);
    nncl_free(want);
    return bad ? 1 : 0;
}

/* mkdir -p. */
static void make_dirs(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

/* What a run holds, released on every path. */
typedef struct run {
    float *values[64];
    nncl_shape shapes[64];
    size_t n_files;
    nncl_context *ctx;
    nncl_graph *g;
    nncl_onnx_model *m;
    float *out;
} run;

static void release(run *r) {
    for (size_t k = 0; k < r->n_files; k++)
        nncl_free(r->values[k]);
    free(r->out);
    nncl_onnx_model_free(r->m);
    nncl_graph_destroy(r->g);
    nncl_context_destroy(r->ctx);
}

/* An output as float32: int outputs (labels, argmax) read and converted in
 * place. Returns 0 or 1. */
static int read_output(nncl_graph *g, nncl_node *node, float *out, size_t bytes) {
    if (!nncl_node_holds_ints(node)) return nncl_graph_read(g, node, out, bytes) != NNCL_OK;
    if (nncl_graph_read_labels(g, node, (int32_t *)(void *)out, bytes) != NNCL_OK) return 1;
    for (size_t i = 0; i < bytes / sizeof(float); i++) {
        int32_t v;
        memcpy(&v, &out[i], sizeof v);
        out[i] = (float)v;
    }
    return 0;
}

static int execute(run *r, const char *model, const char *inputs, const char *outputs,
                   const char *expected, const char *device) {
    /* The inputs first: the first one's leading dim sizes symbolic dims. */
    for (; r->n_files < 64; r->n_files++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/input_%zu.pb", inputs, r->n_files);
        if (stat(path, &st) != 0) break;
        if (nncl_onnx_tensor_read(path, &r->shapes[r->n_files], &r->values[r->n_files]) != NNCL_OK)
            return fail("input");
    }
    if (nncl_context_create(&(nncl_context_options){.device = device}, &r->ctx) != NNCL_OK)
        return fail("device");
    if (nncl_graph_create(r->ctx, NULL, &r->g) != NNCL_OK) return fail("graph");
    /* Every input's value goes to the import: it fixes symbolic dims, and
     * where the model needs a constant (weights given as inputs) it is one. */
    nncl_onnx_input_value given[64];
    for (size_t k = 0; k < r->n_files; k++)
        given[k] = (nncl_onnx_input_value){r->shapes[k], r->values[k]};
    nncl_onnx_options o = {.batch = r->n_files ? r->shapes[0].dims[0] : 1,
                           .input_values = given,
                           .n_input_values = r->n_files};
    if (nncl_onnx_import(r->g, model, &o, &r->m) != NNCL_OK) return fail("import");
    if (r->m->n_inputs != r->n_files) {
        fprintf(stderr, "nncl-run: %s takes %zu inputs; %s holds %zu (input_0.pb, ...)\n", model,
                r->m->n_inputs, inputs, r->n_files);
        return 1;
    }
    for (size_t k = 0; k < r->n_files; k++) {
        int64_t n = nncl_shape_numel(r->shapes[k]);
        if (nncl_node_holds_ints(r->m->inputs[k])) /* ids, labels: int32 in place */
            for (int64_t i = 0; i < n; i++) {
                int32_t id = (int32_t)r->values[k][i];
                memcpy(&r->values[k][i], &id, sizeof id);
            }
        if (nncl_graph_set_input(r->g, r->m->inputs[k], r->values[k], (size_t)n * 4) != NNCL_OK)
            return fail(nncl_node_name(r->m->inputs[k]));
    }
    for (size_t k = 0; k < r->m->n_outputs; k++) /* outputs other nodes read too */
        if (nncl_graph_keep(r->g, r->m->outputs[k]) != NNCL_OK) return fail("output");
    nncl_graph_set_training(r->g, false);
    if (nncl_graph_forward(r->g) != NNCL_OK) return fail("running");
    make_dirs(outputs);
    int status = 0;
    for (size_t k = 0; k < r->m->n_outputs; k++) {
        nncl_shape shape = nncl_node_shape(r->m->outputs[k]);
        size_t bytes = (size_t)nncl_shape_numel(shape) * sizeof(float);
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%zu.pb", outputs, k);
        free(r->out);
        if (!(r->out = malloc(bytes)) || read_output(r->g, r->m->outputs[k], r->out, bytes) ||
            nncl_onnx_tensor_write(path, nncl_node_name(r->m->outputs[k]), shape, r->out) !=
                NNCL_OK)
            return fail("output");
        if (expected) status |= compare(expected, k, r->out, shape);
    }
    printf("%s: %zu inputs, %zu outputs written to %s\n", model, r->m->n_inputs, r->m->n_outputs,
           outputs);
    return status;
}

int main(int argc, char **argv) {
    const char *model = NULL, *inputs = NULL, *outputs = NULL, *expected = NULL, *device = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--inputs") && v)
            inputs = v, i++;
        else if (!strcmp(a, "--outputs") && v)
            outputs = v, i++;
        else if (!strcmp(a, "--compare") && v)
            expected = v, i++;
        else if (!strcmp(a, "--device") && v)
            device = v, i++;
        else if ((!strcmp(a, "--rtol") || !strcmp(a, "--atol")) && v) {
            char *end;
            double x = strtod(v, &end);
            if (*end || !(x >= 0) || !isfinite(x)) return usage();
            *(a[2] == 'r' ? &rel_tol : &abs_tol) = x;
            i++;
        } else if (a[0] != '-' && !model)
            model = a;
        else
            return usage();
    }
    if (!model || !inputs || !outputs) return usage();
    run r = {0};
    int status = execute(&r, model, inputs, outputs, expected, device);
    release(&r);
    return status;
}
