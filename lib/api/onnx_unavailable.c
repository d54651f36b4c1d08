/* The ONNX calls in a library built without protobuf-c (the build's
 * choice when the package is missing): the call exists and says why it
 * cannot work, so programs link the same either way. */
#include "../runtime/runtime.h"

nncl_status nncl_onnx_import(nncl_graph *g, const char *path, const nncl_onnx_options *options,
                             nncl_onnx_model **model) {
    (void)g, (void)options;
    if (model) *model = NULL;
    return nncl_fail(NNCL_ERROR_STATE,
                     "%s: this nncl was built without protobuf-c, so it reads no ONNX files "
                     "(install libprotobuf-c-dev and protobuf-c-compiler and rebuild)",
                     path ? path : "(NULL)");
}

void nncl_onnx_model_free(nncl_onnx_model *model) {
    (void)model;
}

nncl_status nncl_onnx_tensor_read(const char *path, nncl_shape *shape, float **values) {
    (void)shape;
    if (values) *values = NULL;
    return nncl_fail(NNCL_ERROR_STATE, "%s: this nncl was built without protobuf-c",
                     path ? path : "(NULL)");
}

nncl_status nncl_onnx_tensor_write(const char *path, const char *name, nncl_shape shape,
                                   const float *values) {
    (void)name, (void)shape, (void)values;
    return nncl_fail(NNCL_ERROR_STATE, "%s: this nncl was built without protobuf-c",
                     path ? path : "(NULL)");
}

nncl_status nncl_onnx_export(nncl_graph *g, const char *path, nncl_node *const *outputs,
                             size_t n_outputs) {
    (void)g, (void)outputs, (void)n_outputs;
    return nncl_fail(NNCL_ERROR_STATE, "%s: this nncl was built without protobuf-c",
                     path ? path : "(NULL)");
}
