/* Fuzzes the TensorProto file reader nncl-run uses for its inputs and the
 * expected outputs: the input is the file's bytes. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path("tensor.pb");
    fuzz_write(path, data, size, 0);
    nncl_shape shape;
    float *values;
    if (nncl_onnx_tensor_read(path, &shape, &values) == NNCL_OK) nncl_free(values);
    return 0;
}
