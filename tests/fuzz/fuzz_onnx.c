/* Fuzzes the ONNX reader and importer: the input is a model file's bytes;
 * a model that passes the checks has every tensor decoded and is imported
 * into a graph, as nncl_onnx_import does with a file. */
#include "fuzz_common.h"
#include "onnx/onnx_file.h"

#include <stdlib.h>

static void decode(const NnclOnnx__TensorProto *t) {
    float *f;
    int64_t *i, n;
    if (nncl_onnx_tensor_floats(t, &f, &n) == NNCL_OK) free(f);
    if (nncl_onnx_tensor_ints(t, &i, &n) == NNCL_OK) free(i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nncl_onnx_file f;
    if (nncl_onnx_parse(data, size, "fuzz.onnx", &f) != NNCL_OK) return 0;
    for (size_t k = 0; k < f.graph->n_initializer; k++)
        decode(f.graph->initializer[k]);
    for (size_t k = 0; k < f.graph->n_node; k++)
        for (size_t a = 0; a < f.graph->node[k]->n_attribute; a++)
            if (f.graph->node[k]->attribute[a]->t) decode(f.graph->node[k]->attribute[a]->t);
    nncl_onnx_close(&f);
    const char *path = fuzz_path("model.onnx");
    fuzz_write(path, data, size, 0);
    nncl_graph *g;
    if (nncl_graph_create(fuzz_context(), NULL, &g) != NNCL_OK) return 0;
    nncl_onnx_model *m;
    if (nncl_onnx_import(g, path, &(nncl_onnx_options){.batch = 2}, &m) == NNCL_OK)
        nncl_onnx_model_free(m);
    nncl_graph_destroy(g);
    return 0;
}
