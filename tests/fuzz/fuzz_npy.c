/* Fuzzes the .npy reader and the loader behind it. The input holds a
 * samples file and a labels file, separated by the bytes "LABELS"; a
 * dataset that loads (class labels or label maps) is batched once. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *samples_path, *labels_path;
    fuzz_write_pair(data, size, "samples.npy", "labels.npy", 0, &samples_path, &labels_path);
    nncl_dataset *ds;
    if (nncl_dataset_load_npy(samples_path, labels_path, &ds) == NNCL_OK) {
        fuzz_one_batch(ds);
        nncl_dataset_destroy(ds);
    }
    return 0;
}
