/* ONNX files as the tools' models (onnx_model.h): the import, the checks
 * that it is a classifier the tools can drive, and --replace-head. */
#include "onnx_model.h"

#include <string.h>

bool onnx_model_named(const char *model) {
    size_t n = strlen(model);
    return n > 5 && !strcmp(model + n - 5, ".onnx");
}

/* Walks back from the logits through one-input ops (dropout, flatten,
 * activations, ...) to the first linear layer. */
static nncl_node *last_linear(nncl_node *y) {
    for (int steps = 0; y && steps < 16; steps++, y = nncl_node_input(y, 0)) {
        if (!strcmp(nncl_node_op(y), "linear")) return y;
        if (nncl_node_input(y, 1)) return NULL; /* a join: no single head */
    }
    return NULL;
}

int onnx_model_import(nncl_graph *g, const char *path, int64_t batch, int64_t replace_head,
                      onnx_model *m, const char *tool, FILE *err) {
    *m = (onnx_model){0};
    nncl_onnx_model *im;
    if (nncl_onnx_import(g, path, &(nncl_onnx_options){.batch = batch}, &im) != NNCL_OK) {
        fprintf(err, "%s: %s\n", tool, nncl_last_error());
        return 1;
    }
    size_t inputs = im->n_inputs, outputs = im->n_outputs;
    if (inputs == 1 && outputs == 1) m->x = im->inputs[0], m->logits = im->outputs[0];
    nncl_onnx_model_free(im);
    if (inputs != 1 || outputs != 1) {
        fprintf(err,
                "%s: %s has %zu inputs and %zu outputs; the tools train models with one "
                "input (the samples) and one output (the logits)\n",
                tool, path, inputs, outputs);
        return 1;
    }
    nncl_shape xs = nncl_node_shape(m->x);
    if (xs.dims[0] != batch || xs.rank < 2) {
        fprintf(err,
                "%s: %s's input '%s' has a fixed batch of %lld, not %lld; export it with a "
                "dynamic batch dim (dynamic_axes in torch.onnx.export) or use --batch %lld\n",
                tool, path, nncl_node_name(m->x), (long long)xs.dims[0], (long long)batch,
                (long long)xs.dims[0]);
        return 1;
    }
    if (replace_head > 0) {
        nncl_node *head = last_linear(m->logits);
        if (!head) {
            fprintf(err, "%s: --replace-head: %s has no linear layer (Gemm) before its output\n",
                    tool, path);
            return 1;
        }
        m->logits = nncl_linear(g, nncl_node_input(head, 0), replace_head, NULL, "new_head");
        if (!m->logits) {
            fprintf(err, "%s: --replace-head: %s\n", tool, nncl_graph_error(g));
            return 1;
        }
    }
    nncl_shape ys = nncl_node_shape(m->logits);
    if (ys.rank < 2 || ys.dims[0] != batch) {
        fprintf(err, "%s: %s's output '%s' is not logits [N, classes, ...]\n", tool, path,
                nncl_node_name(m->logits));
        return 1;
    }
    m->classes = ys.dims[1];
    m->info = (model_info){.name = path,
                           .summary = "an ONNX file",
                           .input = {.rank = xs.rank - 1},
                           .dims = {.classes = m->classes},
                           .dense = ys.rank > 2,
                           .ids = nncl_node_holds_ints(m->x)};
    for (int32_t d = 1; d < xs.rank; d++)
        m->info.input.dims[d - 1] = xs.dims[d];
    return 0;
}
