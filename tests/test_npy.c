/* The .npy reader on files NumPy wrote (tools/gen-npy-fixtures.py: float32
 * signals, uint8 images in format version 2, float64 volumes with label
 * maps, labels of several integer widths), their values recomputed here,
 * and on the files it must refuse: NumPy's Fortran order, big-endian and
 * float labels, and damaged copies the test writes (magic, header,
 * truncation, shapes, NaN, labels beyond int32). */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fixture(const char *name) {
    static char path[8][512]; /* a few may be live at once */
    static int which;
    which = (which + 1) % 8;
    snprintf(path[which], sizeof path[which], "%s/npy/%s", NNCL_TEST_DATA, name);
    return path[which];
}

/* The loader's first batch (all `count` samples) and their labels. */
static void load_all(nncl_dataset *ds, float *x, int32_t *labels, bool maps) {
    nncl_shape s = nncl_dataset_image_shape(ds), batch = {.rank = s.rank + 1};
    int64_t count = nncl_dataset_count(ds);
    batch.dims[0] = count;
    for (int32_t i = 0; i < s.rank; i++)
        batch.dims[i + 1] = s.dims[i];
    nncl_shape label_shape = {.rank = maps ? s.rank : 1, .dims = {count}};
    for (int32_t i = 1; maps && i < s.rank; i++)
        label_shape.dims[i] = s.dims[i];
    nncl_loader *l;
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = count}, &l));
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *xn = nncl_input(g, "x", batch);
    nncl_node *yn =
        maps ? nncl_input_labels_nd(g, "y", label_shape) : nncl_input_labels(g, "y", count);
    int64_t valid;
    ASSERT_OK(nncl_loader_next(l, g, xn, yn, &valid));
    assert_int_equal(valid, count);
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, xn, x, (size_t)nncl_shape_numel(batch) * sizeof(float)));
    ASSERT_OK(nncl_graph_read_labels(g, yn, labels,
                                     (size_t)nncl_shape_numel(label_shape) * sizeof(int32_t)));
    nncl_graph_destroy(g);
    nncl_loader_destroy(l);
}

static bool same_shape(nncl_shape a, nncl_shape b) {
    return a.rank == b.rank && !memcmp(a.dims, b.dims, (size_t)a.rank * sizeof a.dims[0]);
}

static void test_numpy_files(void **state) {
    (void)state;
    nncl_dataset *ds;
    float x[32];
    int32_t y[16];
    /* float32 signals [3, 2, 5] with int64 labels. */
    ASSERT_OK(nncl_dataset_load_npy(fixture("signals_f32.npy"), fixture("labels_i64.npy"), &ds));
    nncl_shape s = nncl_dataset_image_shape(ds);
    assert_true(same_shape(s, NNCL_SHAPE(2, 5)) && nncl_dataset_count(ds) == 3);
    load_all(ds, x, y, false);
    for (int i = 0; i < 30; i++)
        assert_float_equal(x[i], i * 0.5 - 1, 0);
    assert_true(y[0] == 2 && y[1] == 0 && y[2] == 1);
    assert_float_equal(nncl_dataset_sample(ds, 1)[3], 13 * 0.5 - 1, 0); /* the accessor */
    assert_null(nncl_dataset_label_map(ds, 0));
    nncl_dataset_destroy(ds);
    /* int16 labels, sign-extended. */
    ASSERT_OK(nncl_dataset_load_npy(fixture("signals_f32.npy"), fixture("labels_i16.npy"), &ds));
    assert_true(nncl_dataset_label(ds, 0) == -100 && nncl_dataset_label(ds, 1) == 7 &&
                nncl_dataset_label(ds, 2) == -1);
    nncl_dataset_destroy(ds);
    /* uint8 images [2, 1, 3, 4] (format 2.0): bytes, scaled to [0, 1]. */
    ASSERT_OK(nncl_dataset_load_npy(fixture("images_u8.npy"), fixture("labels_u8.npy"), &ds));
    assert_true(same_shape(nncl_dataset_image_shape(ds), NNCL_SHAPE(1, 3, 4)));
    assert_int_equal(nncl_dataset_image(ds, 1)[2], (14 * 10) % 256);
    assert_null(nncl_dataset_sample(ds, 0));
    load_all(ds, x, y, false);
    for (int i = 0; i < 24; i++)
        assert_float_equal(x[i], ((i * 10) % 256) / 255.0, 1e-6);
    assert_true(y[0] == 1 && y[1] == 1);
    nncl_dataset_destroy(ds);
    /* float64 volumes [2, 1, 2, 2, 2] with int32 label maps [2, 2, 2, 2]. */
    ASSERT_OK(nncl_dataset_load_npy(fixture("volumes_f64.npy"), fixture("maps_i32.npy"), &ds));
    assert_true(same_shape(nncl_dataset_image_shape(ds), NNCL_SHAPE(1, 2, 2, 2)));
    assert_int_equal(nncl_dataset_label(ds, 0), -1); /* maps, not one label */
    assert_int_equal(nncl_dataset_label_map(ds, 1)[5], (13 * 7) % 3);
    load_all(ds, x, y, true);
    for (int i = 0; i < 16; i++) {
        assert_float_equal(x[i], i / 8.0 - 0.75, 0);
        assert_int_equal(y[i], (i * 7) % 3);
    }
    nncl_dataset_destroy(ds);
}

static void expect_error(const char *samples, const char *labels, nncl_status want,
                         const char *part1, const char *part2) {
    nncl_dataset *ds = (nncl_dataset *)1;
    assert_int_equal(nncl_dataset_load_npy(samples, labels, &ds), want);
    assert_null(ds);
    const char *msg = nncl_last_error();
    if (!strstr(msg, part1) || (part2 && !strstr(msg, part2)))
        fail_msg("expected \"%s\" and \"%s\" in \"%s\"", part1, part2 ? part2 : "", msg);
}

static const char *const GOOD = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 5), }";

/* What NumPy writes but nncl does not take, and files that do not fit
 * together. */
static void test_refused_files(void **state) {
    (void)state;
    const char *labels = fixture("labels_i64.npy"), *signals = fixture("signals_f32.npy");
    expect_error(fixture("fortran_f32.npy"), labels, NNCL_ERROR_INVALID_ARGUMENT, "fortran_order",
                 "C-order");
    expect_error(fixture("big_endian.npy"), labels, NNCL_ERROR_INVALID_ARGUMENT, "'>f4'",
                 "little-endian");
    expect_error(signals, fixture("labels_f32.npy"), NNCL_ERROR_INVALID_ARGUMENT, "labels_f32",
                 "integers");
    expect_error(signals, fixture("labels_u8.npy"), NNCL_ERROR_INVALID_ARGUMENT, "3 samples",
                 "2 labels");
    expect_error(signals, fixture("missing.npy"), NNCL_ERROR_IO, "missing.npy", "cannot open");
    expect_error(labels, labels, NNCL_ERROR_INVALID_ARGUMENT, "3 to 5 dims", NULL);
}

/* Damaged files the test writes, each refused naming what and where. */
static void test_damaged_files(void **state) {
    (void)state;
    const char *labels = fixture("labels_i64.npy");
    expect_error(write_npy_raw("short.npy", GOOD, NULL, 100), labels, NNCL_ERROR_IO, "truncated",
                 "from byte 128 needs 120 bytes");
    const char *magic = write_npy_raw("magic.npy", GOOD, NULL, 120);
    FILE *f = fopen(magic, "r+b");
    fputc('X', f);
    fclose(f);
    expect_error(magic, labels, NNCL_ERROR_INVALID_ARGUMENT, "not a .npy file", "magic.npy");
    const char *bad[][3] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 5) 'x'", "expected ',' or '}'",
         "byte 70"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (3, 2, 5), }", "'<c8'", "byte 20"},
        {"{'descr': '<f4x', 'fortran_order': False, 'shape': (3, 2, 5), }", "'<f4x'", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0, 5), }", "dim 1", "is 0"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 5), }",
         "at most 2^63-1", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 5), 'x': 1}", "'x'",
         "unknown or repeated"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 5), }",
         "unknown or repeated", NULL},
        {"{'descr': '<f4', 'shape': (3, 2, 5), }", "lacks 'fortran_order'", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "scalar", NULL},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,2,3,4,5,6), }", "more than 5", NULL},
        {"{'descr: '<f4'}", "expected ':'", NULL},
        {"{'descr': '<f4", "closing quote", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(write_npy_raw("bad.npy", bad[i][0], NULL, 4096), labels,
                     NNCL_ERROR_INVALID_ARGUMENT, bad[i][1], bad[i][2]);
}

/* Values that a dtype holds but a dataset cannot: NaN samples, labels
 * beyond int32; and label maps of the wrong shape. */
static void test_unrepresentable_values(void **state) {
    (void)state;
    const float nan_pair[2] = {1.0f, NAN};
    const int64_t zero = 0, big = (int64_t)1 << 40;
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }";
    char nan_path[256], zero_path[256];
    strcpy(nan_path, write_npy_raw("nan.npy", h, nan_pair, sizeof nan_pair));
    strcpy(zero_path,
           write_npy_raw("zero.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                         &zero, sizeof zero));
    expect_error(nan_path, zero_path, NNCL_ERROR_INVALID_ARGUMENT, "value 1 is nan", "finite");
    const char *big_path = write_npy_raw(
        "big.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", &big, sizeof big);
    expect_error(fixture("signals_f32.npy"), big_path, NNCL_ERROR_INVALID_ARGUMENT, "3 samples",
                 "1 labels");
    const float ones[2] = {1, 1};
    strcpy(nan_path, write_npy_raw("ones.npy", h, ones, sizeof ones));
    expect_error(nan_path, big_path, NNCL_ERROR_INVALID_ARGUMENT, "label 0 is 1.09951e+12",
                 "int32");
    expect_error(fixture("volumes_f64.npy"), fixture("images_u8.npy"), NNCL_ERROR_SHAPE,
                 "label maps", "spatial dims");
}

static unsigned char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    unsigned char *bytes = malloc(*size);
    assert_int_equal(fread(bytes, 1, *size, f), *size);
    fclose(f);
    return bytes;
}

static void assert_same_file(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    if (na != nb || memcmp(x, y, na)) fail_msg("%s and %s differ", a, b);
    free(x);
    free(y);
}

/* Saved datasets are the files NumPy writes for the same arrays, byte for
 * byte, and load back. */
static void test_save_as_numpy_does(void **state) {
    (void)state;
    const char *cases[][6] = {
        {"signals_f32.npy", "labels_i64.npy", "signals_f32.npy", "labels_i32.npy"},
        {"images_u8.npy", "labels_u8.npy", "images_u8_v1.npy", "labels_u8_as_i32.npy"},
        {"volumes_f64.npy", "maps_i32.npy", "volumes_f32.npy", "maps_i32.npy"},
    };
    char x[256], y[256];
    snprintf(x, sizeof x, "%s/x.npy", test_dir);
    snprintf(y, sizeof y, "%s/y.npy", test_dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nncl_dataset *ds, *again;
        ASSERT_OK(nncl_dataset_load_npy(fixture(cases[i][0]), fixture(cases[i][1]), &ds));
        ASSERT_OK(nncl_dataset_save_npy(ds, x, y));
        assert_same_file(x, fixture(cases[i][2]));
        assert_same_file(y, fixture(cases[i][3]));
        ASSERT_OK(nncl_dataset_load_npy(x, y, &again));
        assert_int_equal(nncl_dataset_count(again), nncl_dataset_count(ds));
        nncl_dataset_destroy(again);
        nncl_dataset_destroy(ds);
    }
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_load_npy(fixture("signals_f32.npy"), fixture("labels_i64.npy"), &ds));
    assert_int_equal(nncl_dataset_save_npy(ds, "/nonexistent/x.npy", y), NNCL_ERROR_IO);
    assert_contains(nncl_last_error(), "/nonexistent/x.npy");
    nncl_dataset_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numpy_files),        cmocka_unit_test(test_refused_files),
        cmocka_unit_test(test_damaged_files),      cmocka_unit_test(test_unrepresentable_values),
        cmocka_unit_test(test_save_as_numpy_does),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
