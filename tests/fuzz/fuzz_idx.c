/* Fuzzes the IDX reader and the loader behind it. The input holds an
 * images file and a labels file, separated by the bytes "LABELS"; both are
 * written plainly (fuzz_idx) or gzip-compressed (fuzz_idx_gz, built with
 * FUZZ_GZIP). A dataset that loads is then batched once through a graph. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_GZIP
#define FUZZ_GZIP 0
#endif

/* One batch of a small dataset through a graph of its image shape. */
static void one_batch(nncl_dataset *ds) {
    nncl_shape s = nncl_dataset_image_shape(ds);
    int64_t count = nncl_dataset_count(ds), batch = count < 4 ? count : 4;
    if (nncl_shape_numel(s) > 4096) return; /* big images say nothing more, slowly */
    nncl_loader *l;
    if (nncl_loader_create(
            ds,
            &(nncl_loader_options){
                .batch = batch, .shuffle = true, .shift = 1, .hflip = true, .std = 0.5f},
            &l) != NNCL_OK)
        return;
    nncl_graph *g;
    if (nncl_graph_create(fuzz_context(), NULL, &g) == NNCL_OK) {
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(batch, s.dims[0], s.dims[1], s.dims[2]));
        nncl_node *y = nncl_input_labels(g, "y", batch);
        int64_t valid;
        if (x && y) nncl_loader_next(l, g, x, y, &valid);
        nncl_graph_destroy(g);
    }
    nncl_loader_destroy(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *split = NULL;
    for (size_t i = 0; i + 6 <= size && !split; i++)
        if (!memcmp(data + i, "LABELS", 6)) split = data + i;
    size_t images = split ? (size_t)(split - data) : size;
    const char *images_path = fuzz_path("images-idx");
    fuzz_write(images_path, data, images, FUZZ_GZIP);
    char labels_path[256];
    strcpy(labels_path, fuzz_path("labels-idx"));
    fuzz_write(labels_path, split ? split + 6 : data, split ? size - images - 6 : 0, FUZZ_GZIP);
    nncl_dataset *ds;
    if (nncl_dataset_load_idx(images_path, labels_path, &ds) == NNCL_OK) {
        one_batch(ds);
        nncl_dataset_destroy(ds);
    }
    return 0;
}
