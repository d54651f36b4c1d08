/* Helpers for the fuzz targets (fuzz_common.h). */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

const char *fuzz_path(const char *name) {
    static char dir[64];
    static char path[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nncl-fuzz-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

void fuzz_write(const char *path, const uint8_t *data, size_t size, int gzip) {
    if (gzip) {
        gzFile f = gzopen(path, "wb1");
        if (!f || (size && gzwrite(f, data, (unsigned)size) != (int)size) || gzclose(f) != Z_OK)
            abort();
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
}

nncl_context *fuzz_context(void) {
    static nncl_context *ctx;
    if (!ctx && nncl_context_create(&(nncl_context_options){.cache_dir = "off"}, &ctx) != NNCL_OK)
        abort();
    return ctx;
}

void fuzz_one_batch(nncl_dataset *ds) {
    nncl_shape s = nncl_dataset_image_shape(ds), x_shape = {.rank = s.rank + 1};
    int64_t count = nncl_dataset_count(ds), batch = count < 4 ? count : 4;
    if (nncl_shape_numel(s) > 4096) return; /* big samples say nothing more, slowly */
    bool maps = nncl_dataset_label(ds, 0) == -1 && nncl_dataset_count(ds) > 0;
    nncl_shape y_shape = {.rank = maps ? s.rank : 1, .dims = {batch}};
    x_shape.dims[0] = batch;
    for (int32_t i = 0; i < s.rank; i++) {
        x_shape.dims[i + 1] = s.dims[i];
        if (maps && i > 0) y_shape.dims[i] = s.dims[i];
    }
    nncl_loader *l;
    if (nncl_loader_create(
            ds,
            &(nncl_loader_options){
                .batch = batch, .shuffle = true, .shift = 1, .hflip = true, .std = 0.5f},
            &l) != NNCL_OK)
        return;
    nncl_graph *g;
    if (nncl_graph_create(fuzz_context(), NULL, &g) == NNCL_OK) {
        nncl_node *x = nncl_input(g, "x", x_shape);
        nncl_node *y = nncl_input_labels_nd(g, "y", y_shape);
        int64_t valid;
        if (x && y) nncl_loader_next(l, g, x, y, &valid);
        nncl_graph_destroy(g);
    }
    nncl_loader_destroy(l);
}

void fuzz_write_pair(const uint8_t *data, size_t size, const char *samples_name,
                     const char *labels_name, int gzip, const char **samples_path,
                     const char **labels_path) {
    const uint8_t *split = NULL;
    for (size_t i = 0; i + 6 <= size && !split; i++)
        if (!memcmp(data + i, "LABELS", 6)) split = data + i;
    size_t first = split ? (size_t)(split - data) : size;
    static char paths[2][512];
    snprintf(paths[0], sizeof paths[0], "%s", fuzz_path(samples_name));
    snprintf(paths[1], sizeof paths[1], "%s", fuzz_path(labels_name));
    fuzz_write(paths[0], data, first, gzip);
    fuzz_write(paths[1], split ? split + 6 : data, split ? size - first - 6 : 0, gzip);
    *samples_path = paths[0];
    *labels_path = paths[1];
}
