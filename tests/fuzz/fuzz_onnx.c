/* Fuzzes the ONNX reader: the input is a model file's bytes; a model that
 * passes the checks has every tensor decoded, as an import would. */
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
    return 0;
}
