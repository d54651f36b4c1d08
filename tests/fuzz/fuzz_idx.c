/* Fuzzes the IDX reader and the loader behind it. The input holds an
 * images file and a labels file, separated by the bytes "LABELS"; both are
 * written plainly (fuzz_idx) or gzip-compressed (fuzz_idx_gz, built with
 * FUZZ_GZIP). A dataset that loads is then batched once through a graph. */
#include "fuzz_common.h"

#ifndef FUZZ_GZIP
#define FUZZ_GZIP 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *images_path, *labels_path;
    fuzz_write_pair(data, size, "images-idx", "labels-idx", FUZZ_GZIP, &images_path, &labels_path);
    nncl_dataset *ds;
    if (nncl_dataset_load_idx(images_path, labels_path, &ds) == NNCL_OK) {
        fuzz_one_batch(ds);
        nncl_dataset_destroy(ds);
    }
    return 0;
}
