/* export.h: the arrays through a dataset, which nncl_dataset_save_npy
 * writes as np.save would, so NumPy and nncl-train read the same files. */
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* mkdir -p. */
static void make_dirs(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

int export_arrays(const char *dir, const char *set, const float *x, const int32_t *labels,
                  int64_t count, nncl_shape sample, bool maps) {
    make_dirs(dir);
    int32_t *none = maps ? calloc((size_t)count, sizeof *none) : NULL; /* maps replace these */
    if (maps && !none) {
        fprintf(stderr, "export: out of memory\n");
        return 1;
    }
    nncl_dataset *ds = NULL;
    nncl_shape map = {.rank = sample.rank - 1};
    for (int32_t i = 1; i < sample.rank; i++)
        map.dims[i - 1] = sample.dims[i];
    char xs[1024], ys[1024];
    snprintf(xs, sizeof xs, "%s/%s_x.npy", dir, set);
    snprintf(ys, sizeof ys, "%s/%s_y.npy", dir, set);
    nncl_status st = nncl_dataset_create_f32(x, maps ? none : labels, count, sample, &ds);
    if (st == NNCL_OK && maps) st = nncl_dataset_set_label_maps(ds, labels, map);
    if (st == NNCL_OK) st = nncl_dataset_save_npy(ds, xs, ys);
    nncl_dataset_destroy(ds);
    free(none);
    if (st != NNCL_OK) {
        fprintf(stderr, "export: %s\n", nncl_last_error());
        return 1;
    }
    printf("wrote %lld samples to %s and %s\n", (long long)count, xs, ys);
    return 0;
}

int export_generated(const char *dir, int batch, const int batches[2], nncl_shape sample, bool maps,
                     export_maker make) {
    int64_t size = nncl_shape_numel(sample), map = maps ? size / sample.dims[0] : 1;
    unsigned rng = 2024; /* one stream: the test samples follow the training ones */
    for (int set = 0; set < 2; set++) {
        int64_t n = (int64_t)batches[set] * batch;
        float *x = malloc((size_t)(n * size) * sizeof *x);
        int32_t *y = malloc((size_t)(n * map) * sizeof *y);
        int rc = !x || !y;
        for (int b = 0; !rc && b < batches[set]; b++)
            make(x + (size_t)(b * batch * size), y + (size_t)(b * batch * map), &rng);
        if (rc)
            fprintf(stderr, "export: out of memory\n");
        else
            rc = export_arrays(dir, set ? "test" : "train", x, y, n, sample, maps);
        free(x);
        free(y);
        if (rc) return rc;
    }
    return 0;
}
