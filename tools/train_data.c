/* nncl-train's data (train_data.h): a directory is read by the first
 * layout whose files it holds, and every mismatch with the model is said
 * in terms of the files and the model's name. */
#define _POSIX_C_SOURCE 200809L
#include "train_data.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static bool exists(const char *dir, const char *name, bool want_dir) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

static int fail(const char *what) {
    fprintf(stderr, "nncl-train: %s: %s\n", what, nncl_last_error());
    return 1;
}

static nncl_status load_npy(const char *dir, const char *set, nncl_dataset **out) {
    char x[4096], y[4096];
    snprintf(x, sizeof x, "%s/%s_x.npy", dir, set);
    snprintf(y, sizeof y, "%s/%s_y.npy", dir, set);
    return nncl_dataset_load_npy(x, y, out);
}

static nncl_status load_folder(const char *dir, const char *set, nncl_dataset **out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, set);
    return nncl_dataset_load_image_folder(path, out);
}

int train_data_load(const char *dir, train_data *d) {
    *d = (train_data){0};
    if (exists(dir, "train-images-idx3-ubyte", false) ||
        exists(dir, "train-images-idx3-ubyte.gz", false)) {
        d->layout = "IDX";
        if (nncl_dataset_load_mnist(dir, true, &d->train) != NNCL_OK) return fail("training data");
        if (nncl_dataset_load_mnist(dir, false, &d->test) != NNCL_OK) return fail("test data");
    } else if (exists(dir, "train_x.npy", false)) {
        d->layout = ".npy";
        if (load_npy(dir, "train", &d->train) != NNCL_OK) return fail("training data");
        if (load_npy(dir, "test", &d->test) != NNCL_OK) return fail("test data");
    } else if (exists(dir, "train", true)) {
        d->layout = "image folders";
        if (load_folder(dir, "train", &d->train) != NNCL_OK) return fail("training data");
        if (load_folder(dir, "test", &d->test) != NNCL_OK) return fail("test data");
    } else {
        fprintf(stderr,
                "nncl-train: %s holds no dataset nncl-train reads: IDX files "
                "(train-images-idx3-ubyte, ...), NumPy arrays (train_x.npy, train_y.npy, "
                "test_x.npy, test_y.npy) or image folders (train/<class>/*.png, "
                "test/<class>/*.png)\n",
                dir);
        return 1;
    }
    nncl_shape a = nncl_dataset_image_shape(d->train), b = nncl_dataset_image_shape(d->test);
    if (a.rank != b.rank || memcmp(a.dims, b.dims, (size_t)a.rank * sizeof a.dims[0])) {
        fprintf(stderr, "nncl-train: %s: the training and test samples differ in shape\n", dir);
        return 1;
    }
    return 0;
}

/* The largest label (or label-map entry, ignored positions aside) of ds. */
static int64_t largest_label(const nncl_dataset *ds) {
    nncl_shape s = nncl_dataset_image_shape(ds);
    int64_t per_map = nncl_shape_numel(s) / s.dims[0], top = -1;
    for (int64_t i = 0; i < nncl_dataset_count(ds); i++) {
        const int32_t *map = nncl_dataset_label_map(ds, i);
        if (!map) {
            int64_t v = nncl_dataset_label(ds, i);
            top = v > top ? v : top;
        }
        for (int64_t p = 0; map && p < per_map; p++)
            top = map[p] > top ? map[p] : top;
    }
    return top;
}

/* The largest id in ds's float samples, or -1 when one is not a whole
 * number >= 0 (*bad: its sample). */
static int64_t largest_id(const nncl_dataset *ds, int64_t *bad) {
    int64_t size = nncl_shape_numel(nncl_dataset_image_shape(ds)), top = 0;
    for (int64_t i = 0; i < nncl_dataset_count(ds); i++) {
        const float *v = nncl_dataset_sample(ds, i);
        for (int64_t k = 0; k < size; k++) {
            if (!(v[k] >= 0 && v[k] < 16777216.0f && v[k] == (float)(int64_t)v[k])) {
                *bad = i;
                return -1;
            }
            top = (int64_t)v[k] > top ? (int64_t)v[k] : top;
        }
    }
    return top;
}

int train_data_dims(const train_data *d, const model_info *m, int64_t classes, model_dims *out) {
    nncl_shape s = nncl_dataset_image_shape(d->train);
    char shape[96];
    snprintf(shape, sizeof shape, "%lld", (long long)s.dims[0]);
    for (int32_t i = 1; i < s.rank; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "x%lld",
                 (long long)s.dims[i]);
    static const char *const kinds[] = {"", "", "signals (CxL)", "images (CxHxW)",
                                        "volumes (CxDxHxW)"};
    if (s.rank != m->input.rank) {
        fprintf(stderr, "nncl-train: %s takes %s; the %s data holds %s samples\n", m->name,
                kinds[m->input.rank], d->layout, shape);
        return 1;
    }
    bool maps = nncl_dataset_label_map(d->train, 0) != NULL;
    if (maps != m->dense || (nncl_dataset_label_map(d->test, 0) != NULL) != maps) {
        fprintf(stderr, "nncl-train: %s needs %s; the %s data %s\n", m->name,
                m->dense ? "a label map per sample (a class per position)" : "one label per sample",
                d->layout,
                maps != m->dense ? (maps ? "has label maps" : "has one label per sample")
                                 : "has label maps in one set only");
        return 1;
    }
    if (m->dense && m->input.rank == 3 && (s.dims[1] % 4 || s.dims[2] % 4)) {
        fprintf(stderr, "nncl-train: %s needs a height and width that are multiples of 4, not %s\n",
                m->name, shape);
        return 1;
    }
    int64_t top_train = largest_label(d->train), top_test = largest_label(d->test);
    out->classes = classes ? classes : (top_train > top_test ? top_train : top_test) + 1;
    if (out->classes < 2) {
        fprintf(stderr, "nncl-train: %s\n",
                classes ? "--classes must be at least 2"
                        : "the labels hold fewer than two classes");
        return 1;
    }
    out->vocab = 0;
    if (m->ids) {
        int64_t bad = -1, a, b = 0;
        if (!nncl_dataset_sample(d->train, 0)) {
            fprintf(stderr,
                    "nncl-train: %s takes token ids; 8-bit samples are read as pixel values: save "
                    "the ids as int32 or int64\n",
                    m->name);
            return 1;
        }
        if ((a = largest_id(d->train, &bad)) < 0 || (b = largest_id(d->test, &bad)) < 0) {
            fprintf(stderr,
                    "nncl-train: %s takes token ids, whole numbers from 0 to 2^24 - 1; sample %lld "
                    "of the %s set holds another value\n",
                    m->name, (long long)bad, a < 0 ? "training" : "test");
            return 1;
        }
        out->vocab = (a > b ? a : b) + 1;
    }
    return 0;
}

void train_data_release(train_data *d) {
    nncl_dataset_destroy(d->train);
    nncl_dataset_destroy(d->test);
    *d = (train_data){0};
}
