/* The IDX reader on small files the test writes (plain and gzip, and the
 * bad ones: wrong magic, unsupported type, truncated, counts that differ,
 * missing), and the loader: order, normalisation, partial batches, epochs,
 * seeded shuffling, each augmentation's effect, and seeking. */
#include "harness.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Writes an IDX file: magic bytes, big-endian dims, then data (possibly cut
 * short to `keep` bytes of payload). */
static void write_idx(const char *name, const unsigned char magic[4], const uint32_t *dims,
                      const unsigned char *data, size_t keep, bool gz) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", test_dir, name);
    unsigned char header[4 + 16];
    memcpy(header, magic, 4);
    for (int i = 0; i < magic[3]; i++) {
        header[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        header[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        header[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        header[7 + 4 * i] = (unsigned char)dims[i];
    }
    size_t hlen = 4 + 4 * (size_t)magic[3];
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        gzwrite(f, header, (unsigned)hlen);
        if (keep) gzwrite(f, data, (unsigned)keep);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(header, 1, hlen, f);
        fwrite(data, 1, keep, f);
        fclose(f);
    }
}

enum { COUNT = 10, H = 4, W = 5 };
static unsigned char pixels[COUNT * H * W], label_bytes[COUNT];

static void write_good(const char *images, const char *labels, bool gz) {
    for (int i = 0; i < COUNT * H * W; i++)
        pixels[i] = (unsigned char)((i * 37) % 256);
    for (int i = 0; i < COUNT; i++)
        label_bytes[i] = (unsigned char)(i % 3);
    write_idx(images, (unsigned char[]){0, 0, 8, 3}, (uint32_t[]){COUNT, H, W}, pixels,
              sizeof pixels, gz);
    write_idx(labels, (unsigned char[]){0, 0, 8, 1}, (uint32_t[]){COUNT}, label_bytes,
              sizeof label_bytes, gz);
}

static char *in_dir(const char *name) {
    static char path[2][128];
    static int k;
    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/%s", test_dir, name);
    return path[k];
}

static void test_idx_plain_and_gzip(void **state) {
    (void)state;
    for (int gz = 0; gz < 2; gz++) {
        write_good(gz ? "img.gz" : "img", gz ? "lab.gz" : "lab", gz);
        nncl_dataset *ds;
        ASSERT_OK(nncl_dataset_load_idx(in_dir(gz ? "img.gz" : "img"),
                                        in_dir(gz ? "lab.gz" : "lab"), &ds));
        assert_int_equal(nncl_dataset_count(ds), COUNT);
        nncl_shape s = nncl_dataset_image_shape(ds);
        assert_int_equal(s.dims[0], 1);
        assert_int_equal(s.dims[1], H);
        assert_int_equal(s.dims[2], W);
        for (int i = 0; i < COUNT; i++) {
            assert_memory_equal(nncl_dataset_image(ds, i), pixels + i * H * W, H * W);
            assert_int_equal(nncl_dataset_label(ds, i), i % 3);
        }
        nncl_dataset_destroy(ds);
    }
    /* The MNIST names, found with or without .gz. */
    write_good("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte", true);
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_load_mnist(test_dir, false, &ds));
    assert_int_equal(nncl_dataset_count(ds), COUNT);
    nncl_dataset_destroy(ds);
}

static void expect_error(const char *images, const char *labels, nncl_status want,
                         const char *part1, const char *part2) {
    nncl_dataset *ds = (nncl_dataset *)1;
    assert_int_equal(nncl_dataset_load_idx(in_dir(images), in_dir(labels), &ds), want);
    assert_null(ds);
    const char *msg = nncl_last_error();
    if (!strstr(msg, part1) || (part2 && !strstr(msg, part2)))
        fail_msg("expected \"%s\" and \"%s\" in \"%s\"", part1, part2 ? part2 : "", msg);
}

static void test_idx_bad_files(void **state) {
    (void)state;
    write_good("good-img", "good-lab", false);
    write_idx("magic", (unsigned char[]){1, 2, 8, 3}, (uint32_t[]){COUNT, H, W}, pixels,
              sizeof pixels, false);
    expect_error("magic", "good-lab", NNCL_ERROR_INVALID_ARGUMENT, "magic", "/magic");
    write_idx("floats", (unsigned char[]){0, 0, 0x0d, 3}, (uint32_t[]){COUNT, H, W}, pixels,
              sizeof pixels, false);
    expect_error("floats", "good-lab", NNCL_ERROR_INVALID_ARGUMENT, "type 0x0d", "/floats");
    write_idx("short", (unsigned char[]){0, 0, 8, 3}, (uint32_t[]){COUNT, H, W}, pixels, 150,
              false);
    expect_error("short", "good-lab", NNCL_ERROR_IO, "truncated at byte 166", "/short");
    write_idx("short.gz", (unsigned char[]){0, 0, 8, 3}, (uint32_t[]){COUNT, H, W}, pixels, 150,
              true);
    expect_error("short.gz", "good-lab", NNCL_ERROR_IO, "truncated", "/short.gz");
    write_idx("nine-labels", (unsigned char[]){0, 0, 8, 1}, (uint32_t[]){COUNT - 1}, label_bytes,
              COUNT - 1, false);
    expect_error("good-img", "nine-labels", NNCL_ERROR_INVALID_ARGUMENT, "10 images", "9 labels");
    expect_error("missing", "good-lab", NNCL_ERROR_IO, "/missing", "cannot open");
    expect_error("good-lab", "good-lab", NNCL_ERROR_INVALID_ARGUMENT, "3 or 4 dims", NULL);
}

/* A dataset of `count` 1x3x3 images whose pixels all equal their index
 * (times 10), labels = index % 4. */
static nncl_dataset *indexed(int64_t count) {
    uint8_t *img = malloc((size_t)count * 9);
    int32_t *lab = malloc((size_t)count * sizeof *lab);
    for (int64_t i = 0; i < count; i++) {
        memset(img + i * 9, (int)(i * 10), 9);
        lab[i] = (int32_t)(i % 4);
    }
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_create(img, lab, count, 1, 3, 3, &ds));
    free(img);
    free(lab);
    return ds;
}

typedef struct fixture {
    nncl_graph *g;
    nncl_node *x, *y;
} fixture;

static fixture graph_for(int64_t batch, int64_t c, int64_t h, int64_t w) {
    fixture f;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &f.g));
    f.x = nncl_input(f.g, "x", NNCL_SHAPE(batch, c, h, w));
    f.y = nncl_input_labels(f.g, "y", batch);
    return f;
}

/* Reads the batch the loader just queued: per sample, its first pixel. */
static void read_batch(fixture *f, int64_t batch, int64_t size, float *x, int32_t *labels) {
    float *all = malloc((size_t)(batch * size) * sizeof *all);
    ASSERT_OK(nncl_graph_forward(f->g));
    ASSERT_OK(nncl_graph_read(f->g, f->x, all, (size_t)(batch * size) * sizeof *all));
    /* labels come back through the float read as raw int32 bits */
    float raw[64];
    ASSERT_OK(nncl_graph_read(f->g, f->y, raw, (size_t)batch * sizeof(int32_t)));
    memcpy(labels, raw, (size_t)batch * sizeof(int32_t));
    for (int64_t k = 0; k < batch; k++)
        x[k] = all[k * size];
    free(all);
}

static void test_loader_order_and_epochs(void **state) {
    (void)state;
    nncl_dataset *ds = indexed(10);
    fixture f = graph_for(4, 1, 3, 3);
    nncl_loader *l;
    ASSERT_OK(
        nncl_loader_create(ds, &(nncl_loader_options){.batch = 4, .mean = 0.5f, .std = 0.25f}, &l));
    assert_int_equal(nncl_loader_batches(l), 3);
    float x[4];
    int32_t y[4];
    int64_t valid;
    for (int epoch = 0; epoch < 2; epoch++) {
        for (int b = 0; b < 3; b++) {
            ASSERT_OK(nncl_loader_next(l, f.g, f.x, f.y, &valid));
            assert_int_equal(valid, b < 2 ? 4 : 2);
            read_batch(&f, 4, 9, x, y);
            for (int k = 0; k < 4; k++) {
                int idx = (b * 4 + k) % 10; /* the short batch repeats the start */
                assert_float_equal(x[k], ((float)(idx * 10) / 255.0f - 0.5f) / 0.25f, 1e-5);
                assert_int_equal(y[k], idx % 4);
            }
        }
        ASSERT_OK(nncl_loader_next(l, f.g, f.x, f.y, &valid));
        assert_int_equal(valid, 0);
        assert_int_equal(nncl_loader_epoch(l), epoch + 1);
    }
    nncl_loader_destroy(l);
    /* drop_last skips the short batch. */
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = 4, .drop_last = true}, &l));
    assert_int_equal(nncl_loader_batches(l), 2);
    nncl_loader_destroy(l);
    /* A graph of another shape is refused. */
    fixture wrong = graph_for(3, 1, 3, 3);
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = 4}, &l));
    assert_int_equal(nncl_loader_next(l, wrong.g, wrong.x, wrong.y, &valid), NNCL_ERROR_SHAPE);
    assert_non_null(strstr(nncl_last_error(), "[4, 1, 3, 3]"));
    nncl_loader_destroy(l);
    nncl_graph_destroy(wrong.g);
    nncl_graph_destroy(f.g);
    nncl_dataset_destroy(ds);
}

/* One reference epoch of 23 samples in global batches of 6 (its order and
 * valid counts), against 3 shards of batch 2 with the same seed: in every
 * batch the shards' real samples, in shard order, are the reference's;
 * the final 5 split 2 / 2 / 1; padding repeats the epoch's first samples;
 * every sample once per epoch over the shards. */
static void test_loader_shards(void **state) {
    (void)state;
    nncl_dataset *ds = indexed(23);
    fixture ref = graph_for(6, 1, 3, 3), part = graph_for(2, 1, 3, 3);
    nncl_loader *whole, *shard[3];
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = 6, .shuffle = true, .seed = 5},
                                 &whole));
    for (int s = 0; s < 3; s++)
        ASSERT_OK(nncl_loader_create(
            ds,
            &(nncl_loader_options){.batch = 2, .shuffle = true, .seed = 5, .shard = s, .shards = 3},
            &shard[s]));
    assert_int_equal(nncl_loader_batches(shard[0]), 4);
    int seen[23] = {0}, first[6] = {0};
    for (int b = 0; b < 4; b++) {
        float x[6], xs[2];
        int32_t y[6], ys[2];
        int64_t valid, got = 0;
        ASSERT_OK(nncl_loader_next(whole, ref.g, ref.x, ref.y, &valid));
        read_batch(&ref, 6, 9, x, y);
        for (int k = 0; b == 0 && k < 6; k++)
            first[k] = (int)lroundf(x[k] * 255.0f / 10.0f);
        for (int s = 0; s < 3; s++) {
            int64_t v;
            ASSERT_OK(nncl_loader_next(shard[s], part.g, part.x, part.y, &v));
            assert_int_equal(v, b < 3 ? 2 : (s < 2 ? 2 : 1));
            read_batch(&part, 2, 9, xs, ys);
            for (int k = 0; k < 2; k++) {
                int idx = (int)lroundf(xs[k] * 255.0f / 10.0f);
                assert_int_equal(idx,
                                 k < v ? (int)lroundf(x[got + k] * 255.0f / 10.0f) : first[k - v]);
                assert_int_equal(ys[k], idx % 4);
                if (k < v) seen[idx]++;
            }
            got += v;
        }
        assert_int_equal(got, valid);
    }
    for (int i = 0; i < 23; i++)
        assert_int_equal(seen[i], 1);
    for (int s = 0; s < 3; s++) {
        int64_t v;
        ASSERT_OK(nncl_loader_next(shard[s], part.g, part.x, part.y, &v));
        assert_int_equal(v, 0);
        nncl_loader_destroy(shard[s]);
    }
    nncl_loader_destroy(whole);
    nncl_graph_destroy(ref.g);
    nncl_graph_destroy(part.g);
    nncl_dataset_destroy(ds);
}

/* Every sample once per epoch; the same seed gives the same order; the
 * next epoch another. Returns the epoch's order in `seen`. */
static void shuffled_epoch(nncl_loader *l, fixture *f, int *seen) {
    float x[5];
    int32_t y[5];
    int64_t valid;
    for (int b = 0; b < 4; b++) {
        ASSERT_OK(nncl_loader_next(l, f->g, f->x, f->y, &valid));
        assert_int_equal(valid, 5);
        read_batch(f, 5, 9, x, y);
        for (int k = 0; k < 5; k++)
            seen[b * 5 + k] = (int)lroundf(x[k] * 255.0f / 10.0f);
    }
    ASSERT_OK(nncl_loader_next(l, f->g, f->x, f->y, &valid));
    assert_int_equal(valid, 0);
}

static void test_loader_shuffle_and_seek(void **state) {
    (void)state;
    nncl_dataset *ds = indexed(20);
    fixture f = graph_for(5, 1, 3, 3);
    nncl_loader_options o = {.batch = 5, .shuffle = true, .seed = 11};
    int a0[20], a1[20], b0[20];
    nncl_loader *l;
    ASSERT_OK(nncl_loader_create(ds, &o, &l));
    shuffled_epoch(l, &f, a0);
    shuffled_epoch(l, &f, a1);
    nncl_loader_destroy(l);
    ASSERT_OK(nncl_loader_create(ds, &o, &l));
    shuffled_epoch(l, &f, b0);
    int count[20] = {0}, same_position = 0;
    for (int i = 0; i < 20; i++) {
        count[a0[i]]++;
        same_position += a0[i] == a1[i];
    }
    for (int i = 0; i < 20; i++)
        assert_int_equal(count[i], 1);
    assert_memory_equal(a0, b0, sizeof a0);
    assert_true(same_position < 20);
    /* Seeking to epoch 1, batch 2 gives that epoch's third batch. */
    ASSERT_OK(nncl_loader_seek(l, 1, 2));
    float x[5];
    int32_t y[5];
    int64_t valid;
    ASSERT_OK(nncl_loader_next(l, f.g, f.x, f.y, &valid));
    read_batch(&f, 5, 9, x, y);
    for (int k = 0; k < 5; k++)
        assert_int_equal((int)lroundf(x[k] * 255.0f / 10.0f), a1[10 + k]);
    nncl_loader_destroy(l);
    nncl_graph_destroy(f.g);
    nncl_dataset_destroy(ds);
}

/* One 1x8x8 image with a bright left column, through each augmentation. */
static void test_augmentations(void **state) {
    (void)state;
    enum { B = 16, S = 8 };
    uint8_t img[S * S];
    for (int i = 0; i < S * S; i++)
        img[i] = i % S == 0 ? 255 : 0;
    int32_t label = 1;
    nncl_dataset *ds;
    uint8_t many[B * S * S];
    int32_t labels[B];
    for (int k = 0; k < B; k++) {
        memcpy(many + k * S * S, img, sizeof img);
        labels[k] = label;
    }
    ASSERT_OK(nncl_dataset_create(many, labels, B, 1, S, S, &ds));
    fixture f = graph_for(B, 1, S, S);
    float *out = malloc(B * S * S * sizeof *out);
    int64_t valid;

    /* Mirror: each image is the original or has its bright column at the right; both occur. */
    nncl_loader *l;
    ASSERT_OK(
        nncl_loader_create(ds, &(nncl_loader_options){.batch = B, .hflip = true, .seed = 3}, &l));
    ASSERT_OK(nncl_loader_next(l, f.g, f.x, f.y, &valid));
    ASSERT_OK(nncl_graph_forward(f.g));
    ASSERT_OK(nncl_graph_read(f.g, f.x, out, B * S * S * sizeof *out));
    int flipped = 0;
    for (int k = 0; k < B; k++) {
        float left = out[k * S * S], right = out[k * S * S + S - 1];
        assert_true((left == 1.0f && right == 0.0f) || (left == 0.0f && right == 1.0f));
        flipped += right == 1.0f;
    }
    assert_true(flipped > 0 && flipped < B);
    nncl_loader_destroy(l);

    /* Shift: the bright column moves by at most 2 and every pixel is 0 or 1. */
    ASSERT_OK(
        nncl_loader_create(ds, &(nncl_loader_options){.batch = B, .shift = 2, .seed = 3}, &l));
    ASSERT_OK(nncl_loader_next(l, f.g, f.x, f.y, &valid));
    ASSERT_OK(nncl_graph_forward(f.g));
    ASSERT_OK(nncl_graph_read(f.g, f.x, out, B * S * S * sizeof *out));
    int moved = 0;
    for (int k = 0; k < B; k++) {
        int col = -1;
        for (int x = 0; x < S; x++)
            if (out[k * S * S + 3 * S + x] == 1.0f) col = x;
        assert_true(col <= 2); /* -1: shifted out to the left */
        moved += col != 0;
        for (int i = 0; i < S * S; i++)
            assert_true(out[k * S * S + i] == 0.0f || out[k * S * S + i] == 1.0f);
    }
    assert_true(moved > 0);
    nncl_loader_destroy(l);

    /* Rotation of a constant image keeps the centre at 1 (bilinear of a constant). */
    memset(many, 255, sizeof many);
    nncl_dataset *flat;
    ASSERT_OK(nncl_dataset_create(many, labels, B, 1, S, S, &flat));
    ASSERT_OK(nncl_loader_create(
        flat, &(nncl_loader_options){.batch = B, .rotate_degrees = 15, .seed = 3}, &l));
    ASSERT_OK(nncl_loader_next(l, f.g, f.x, f.y, &valid));
    ASSERT_OK(nncl_graph_forward(f.g));
    ASSERT_OK(nncl_graph_read(f.g, f.x, out, B * S * S * sizeof *out));
    int corners_dimmed = 0;
    for (int k = 0; k < B; k++) {
        for (int y = 2; y < 6; y++)
            for (int x = 2; x < 6; x++)
                assert_float_equal(out[k * S * S + y * S + x], 1.0f, 1e-5);
        corners_dimmed += out[k * S * S] < 1.0f;
    }
    assert_true(corners_dimmed > 0);
    nncl_loader_destroy(l);

    /* Noise: mean ~1 and std ~0.1 over the batch of a constant image. */
    ASSERT_OK(nncl_loader_create(
        flat, &(nncl_loader_options){.batch = B, .noise_std = 0.1f, .seed = 3}, &l));
    ASSERT_OK(nncl_loader_next(l, f.g, f.x, f.y, &valid));
    ASSERT_OK(nncl_graph_forward(f.g));
    ASSERT_OK(nncl_graph_read(f.g, f.x, out, B * S * S * sizeof *out));
    double sum = 0, sq = 0;
    for (int i = 0; i < B * S * S; i++) {
        sum += out[i];
        sq += (double)out[i] * out[i];
    }
    double mean = sum / (B * S * S), std = sqrt(sq / (B * S * S) - mean * mean);
    assert_true(fabs(mean - 1.0) < 0.02 && fabs(std - 0.1) < 0.015);
    nncl_loader_destroy(l);

    free(out);
    nncl_graph_destroy(f.g);
    nncl_dataset_destroy(ds);
    nncl_dataset_destroy(flat);
}

/* Bad datasets and loader options are refused with a status and a message. */
/* One batch from a loader into a graph input of `shape`, read back whole. */
static void load_one(nncl_loader *l, nncl_shape shape, float *out) {
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", shape), *y = nncl_input_labels(g, "y", shape.dims[0]);
    int64_t valid;
    ASSERT_OK(nncl_loader_next(l, g, x, y, &valid));
    assert_true(valid > 0);
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, x, out, (size_t)nncl_shape_numel(shape) * sizeof(float)));
    nncl_graph_destroy(g);
}

/* RGB bytes normalised per channel, against the formula on the host. */
static void test_per_channel_normalisation(void **state) {
    (void)state;
    enum { N = 2, C = 3, P = 4 };
    uint8_t img[N * C * P];
    int32_t lab[N] = {0, 1};
    for (int i = 0; i < N * C * P; i++)
        img[i] = (uint8_t)(i * 37 % 256);
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_create(img, lab, N, C, 2, 2, &ds));
    const float mean[C] = {0.485f, 0.456f, 0.406f}, std[C] = {0.229f, 0.224f, 0.225f};
    nncl_loader *l;
    ASSERT_OK(nncl_loader_create(
        ds, &(nncl_loader_options){.batch = N, .channel_mean = mean, .channel_std = std}, &l));
    float out[N * C * P];
    load_one(l, NNCL_SHAPE(N, C, 2, 2), out);
    for (int i = 0; i < N * C * P; i++) {
        int c = i / P % C;
        double want = ((double)img[i] / 255.0 - mean[c]) / std[c];
        if (fabs(out[i] - want) > 1e-5) fail_msg("value %d: %g, want %g", i, (double)out[i], want);
    }
    const float bad_std[C] = {0.2f, 0.0f, 0.2f};
    assert_int_equal(
        nncl_loader_create(
            ds, &(nncl_loader_options){.batch = N, .channel_mean = mean, .channel_std = bad_std},
            &l),
        NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "channel 1");
    assert_int_equal(
        nncl_loader_create(ds, &(nncl_loader_options){.batch = N, .channel_mean = mean}, &l),
        NNCL_ERROR_INVALID_ARGUMENT);
    nncl_loader_destroy(l);
    nncl_dataset_destroy(ds);
}

/* Float signals [2, 8]: taken as they are; a flip reverses the last dim, a
 * shift moves it with zero fill; rotation is refused for them and for
 * volumes, whose shifts work; NaN samples are refused. */
static void test_float_signals_and_volumes(void **state) {
    (void)state;
    enum { N = 4, C = 2, L = 8 };
    float x[N * C * L];
    int32_t lab[N] = {3, 1, 2, 0};
    for (int i = 0; i < N * C * L; i++)
        x[i] = 0.25f * (float)i - 3.0f;
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_create_f32(x, lab, N, NNCL_SHAPE(C, L), &ds));
    nncl_shape s = nncl_dataset_image_shape(ds);
    assert_int_equal(s.rank, 2);
    assert_null(nncl_dataset_image(ds, 0));
    nncl_loader *l;
    float out[N * C * L];
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = N}, &l));
    load_one(l, NNCL_SHAPE(N, C, L), out);
    assert_memory_equal(out, x, sizeof x);
    nncl_loader_destroy(l);
    ASSERT_OK(
        nncl_loader_create(ds, &(nncl_loader_options){.batch = N, .hflip = true, .seed = 3}, &l));
    load_one(l, NNCL_SHAPE(N, C, L), out);
    int flipped = 0;
    for (int n = 0; n < N; n++) {
        bool same = !memcmp(out + n * C * L, x + n * C * L, C * L * sizeof(float)), rev = true;
        for (int i = 0; i < C * L; i++)
            rev = rev && out[n * C * L + i] == x[n * C * L + i / L * L + (L - 1 - i % L)];
        assert_true(same || rev);
        flipped += !same;
    }
    assert_true(flipped > 0 && flipped < N); /* seed 3 flips some, not all */
    nncl_loader_destroy(l);
    ASSERT_OK(
        nncl_loader_create(ds, &(nncl_loader_options){.batch = N, .shift = 1, .seed = 5}, &l));
    load_one(l, NNCL_SHAPE(N, C, L), out);
    for (int n = 0; n < N; n++) {
        bool any = false;
        for (int d = -1; d <= 1 && !any; d++) {
            bool match = true;
            for (int i = 0; i < C * L && match; i++) {
                int j = i % L + d;
                float want = j < 0 || j >= L ? 0.0f : x[n * C * L + i / L * L + j];
                match = out[n * C * L + i] == want;
            }
            any = match;
        }
        assert_true(any);
    }
    nncl_loader_destroy(l);
    assert_int_equal(
        nncl_loader_create(ds, &(nncl_loader_options){.batch = N, .rotate_degrees = 10}, &l),
        NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "2D images");
    nncl_dataset_destroy(ds);

    float vol[2 * 1 * 2 * 3 * 4];
    for (size_t i = 0; i < sizeof vol / sizeof vol[0]; i++)
        vol[i] = (float)i;
    ASSERT_OK(nncl_dataset_create_f32(vol, lab, 2, NNCL_SHAPE(1, 2, 3, 4), &ds));
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = 2, .shift = 1}, &l));
    float vout[48];
    load_one(l, NNCL_SHAPE(2, 1, 2, 3, 4), vout);
    nncl_loader_destroy(l);
    nncl_dataset_destroy(ds);
    vol[7] = NAN;
    assert_int_equal(nncl_dataset_create_f32(vol, lab, 2, NNCL_SHAPE(1, 2, 3, 4), &ds),
                     NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "value 7");
}

/* wrap_epochs: every call gives a batch, the epochs advancing by themselves. */
/* Token ids through an int32 input: whole values arrive as int32, a
 * fractional one is refused naming sample and position. */
static void test_ids_into_int_input(void **state) {
    (void)state;
    enum { N = 3, L = 5 };
    float ids[N * L];
    int32_t lab[N] = {0, 1, 0}, got[N * L], y[N];
    for (int i = 0; i < N * L; i++)
        ids[i] = (float)(i * 37 % 101);
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_create_f32(ids, lab, N, NNCL_SHAPE(1, L), &ds));
    nncl_loader *l;
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = N}, &l));
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input_labels_nd(g, "tokens", NNCL_SHAPE(N, 1, L));
    nncl_node *yn = nncl_input_labels(g, "y", N);
    int64_t valid;
    ASSERT_OK(nncl_loader_next(l, g, x, yn, &valid));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read_labels(g, x, got, sizeof got));
    ASSERT_OK(nncl_graph_read_labels(g, yn, y, sizeof y));
    for (int i = 0; i < N * L; i++)
        assert_int_equal(got[i], i * 37 % 101);
    assert_memory_equal(y, lab, sizeof y);
    nncl_loader_destroy(l);
    nncl_dataset_destroy(ds);
    ids[7] = 2.5f;
    ASSERT_OK(nncl_dataset_create_f32(ids, lab, N, NNCL_SHAPE(1, L), &ds));
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = N}, &l));
    assert_int_equal(nncl_loader_next(l, g, x, yn, &valid), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "sample 1 of the batch holds 2.5 at position 2");
    nncl_loader_destroy(l);
    nncl_dataset_destroy(ds);
    nncl_graph_destroy(g);
}

static void test_wrap_epochs(void **state) {
    (void)state;
    nncl_dataset *ds = indexed(5);
    fixture f = graph_for(2, 1, 3, 3);
    nncl_loader *l;
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = 2, .wrap_epochs = true}, &l));
    int64_t valid, total = 0;
    for (int i = 0; i < 7; i++) {
        ASSERT_OK(nncl_loader_next(l, f.g, f.x, f.y, &valid));
        assert_true(valid > 0);
        total += valid;
    }
    assert_int_equal(total, 5 + 5 + 2); /* two epochs of 2 + 2 + 1, then one batch */
    assert_int_equal(nncl_loader_epoch(l), 2);
    nncl_loader_destroy(l);
    nncl_graph_destroy(f.g);
    nncl_dataset_destroy(ds);
}

/* Label maps move with their samples: every image value encodes its label
 * plus one, so after any flip and shift each position's label must be the
 * value minus one, or -100 where the shift brought in zeros. */
static void test_label_maps_follow_augmentation(void **state) {
    (void)state;
    enum { N = 4, H = 3, W = 5 };
    float x[N * H * W];
    int32_t maps[N * H * W], per_sample[N] = {0, 0, 0, 0};
    for (int i = 0; i < N * H * W; i++) {
        maps[i] = (i * 7) % 4;
        x[i] = (float)(maps[i] + 1);
    }
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_create_f32(x, per_sample, N, NNCL_SHAPE(1, H, W), &ds));
    assert_int_equal(nncl_dataset_set_label_maps(ds, maps, NNCL_SHAPE(W, H)), NNCL_ERROR_SHAPE);
    ASSERT_OK(nncl_dataset_set_label_maps(ds, maps, NNCL_SHAPE(H, W)));
    assert_int_equal(nncl_dataset_label(ds, 0), -1);
    nncl_loader *l;
    assert_int_equal(
        nncl_loader_create(ds, &(nncl_loader_options){.batch = N, .rotate_degrees = 5}, &l),
        NNCL_ERROR_INVALID_ARGUMENT);
    ASSERT_OK(nncl_loader_create(
        ds, &(nncl_loader_options){.batch = N, .hflip = true, .shift = 1, .seed = 7}, &l));
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *in = nncl_input(g, "x", NNCL_SHAPE(N, 1, H, W));
    nncl_node *wrong = nncl_input_labels(g, "y1", N);
    nncl_node *y = nncl_input_labels_nd(g, "y", NNCL_SHAPE(N, H, W));
    int64_t valid;
    assert_int_equal(nncl_loader_next(l, g, in, wrong, &valid), NNCL_ERROR_SHAPE);
    assert_contains(nncl_last_error(), "labels [4, 3, 5]");
    ASSERT_OK(nncl_loader_next(l, g, in, y, &valid));
    int32_t zero[N] = {0};
    ASSERT_OK(nncl_graph_set_input(g, wrong, zero, sizeof zero));
    ASSERT_OK(nncl_graph_forward(g));
    float got[N * H * W];
    int32_t labels[N * H * W];
    ASSERT_OK(nncl_graph_read(g, in, got, sizeof got));
    ASSERT_OK(nncl_graph_read_labels(g, y, labels, sizeof labels));
    int moved = 0, outside = 0;
    for (int i = 0; i < N * H * W; i++) {
        int32_t want = got[i] == 0.0f ? -100 : (int32_t)got[i] - 1;
        if (labels[i] != want)
            fail_msg("position %d: label %d, image %g", i, labels[i], (double)got[i]);
        moved += got[i] != x[i];
        outside += labels[i] == -100;
    }
    assert_true(moved > 0 && outside > 0); /* the augmentation did move things */
    nncl_graph_destroy(g);
    nncl_loader_destroy(l);
    nncl_dataset_destroy(ds);
}

static void write_png(const char *path, int w, int h, bool color, int seed) {
    png_image png = {.version = PNG_IMAGE_VERSION,
                     .width = (png_uint_32)w,
                     .height = (png_uint_32)h,
                     .format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY};
    uint8_t px[3 * 64];
    for (int i = 0; i < w * h * (color ? 3 : 1); i++)
        px[i] = (uint8_t)(seed * 31 + i * 7);
    assert_true(png_image_write_to_file(&png, path, 0, px, 0, NULL));
}

/* The ImageFolder layout: classes by folder in name order, planes from
 * interleaved RGB, and clear errors for corrupt and mismatched files. */
static void test_image_folder(void **state) {
    (void)state;
    char root[128], path[256];
    snprintf(root, sizeof root, "%s/images", test_dir);
    for (const char *d = "images\0images/cat\0images/dog\0images/.hidden\0"; *d;
         d += strlen(d) + 1) {
        snprintf(path, sizeof path, "%s/%s", test_dir, d);
        assert_int_equal(mkdir(path, 0755), 0);
    }
    snprintf(path, sizeof path, "%s/cat/b.png", root);
    write_png(path, 4, 3, true, 2);
    snprintf(path, sizeof path, "%s/cat/a.png", root);
    write_png(path, 4, 3, true, 1);
    snprintf(path, sizeof path, "%s/dog/z.PNG", root);
    write_png(path, 4, 3, true, 3);
    snprintf(path, sizeof path, "%s/dog/notes.txt", root);
    fclose(fopen(path, "w"));
    nncl_dataset *ds;
    ASSERT_OK(nncl_dataset_load_image_folder(root, &ds));
    assert_int_equal(nncl_dataset_count(ds), 3);
    nncl_shape s = nncl_dataset_image_shape(ds);
    assert_int_equal(s.rank, 3);
    assert_int_equal(s.dims[0], 3);
    assert_int_equal(s.dims[1], 3);
    assert_int_equal(s.dims[2], 4);
    assert_int_equal(nncl_dataset_label(ds, 0), 0);
    assert_int_equal(nncl_dataset_label(ds, 2), 1);
    assert_string_equal(nncl_dataset_class_name(ds, 1), "dog");
    const uint8_t *a = nncl_dataset_image(ds, 0); /* cat/a.png, seed 1: planes of R, G, B */
    for (int p = 0; p < 12; p++)
        for (int c = 0; c < 3; c++)
            assert_int_equal(a[c * 12 + p], (uint8_t)(1 * 31 + (p * 3 + c) * 7));
    nncl_dataset_destroy(ds);
    /* A truncated PNG, a text file named .png, a size that differs. */
    snprintf(path, sizeof path, "%s/cat/a.png", root);
    FILE *f = fopen(path, "r+b");
    assert_int_equal(ftruncate(fileno(f), 40), 0);
    fclose(f);
    assert_int_equal(nncl_dataset_load_image_folder(root, &ds), NNCL_ERROR_IO);
    assert_contains(nncl_last_error(), "cat/a.png");
    f = fopen(path, "w");
    fputs("not a picture", f);
    fclose(f);
    assert_int_equal(nncl_dataset_load_image_folder(root, &ds), NNCL_ERROR_IO);
    assert_contains(nncl_last_error(), "cat/a.png: not a readable PNG");
    write_png(path, 5, 3, false, 1);
    assert_int_equal(nncl_dataset_load_image_folder(root, &ds), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "one size");
    /* A header claiming 30000x30000 pixels in a 57-byte file: refused
     * before 900 MB are allocated for it. */
    unsigned char head[57] = {0x89, 'P', 'N',  'G',  '\r', '\n', 0x1a, '\n', 0,    0,
                              0,    13,  'I',  'H',  'D',  'R',  0,    0,    0x75, 0x30,
                              0,    0,   0x75, 0x30, 8,    0,    0,    0,    0};
    uLong crc = crc32(0, head + 12, 17);
    for (int i = 0; i < 4; i++)
        head[29 + i] = (unsigned char)(crc >> (24 - 8 * i));
    const unsigned char idat_iend[] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e,
                                       0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    memcpy(head + 33, idat_iend, sizeof idat_iend);
    snprintf(path, sizeof path, "%s/cat/a.png", root);
    f = fopen(path, "wb");
    fwrite(head, 1, sizeof head, f);
    fclose(f);
    assert_int_equal(nncl_dataset_load_image_folder(root, &ds), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "claims 30000x30000 pixels");
    snprintf(path, sizeof path, "%s/cat", root);
    assert_int_equal(nncl_dataset_load_image_folder(path, &ds), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "no class folders");
}

static void test_bad_dataset_and_loader_options(void **state) {
    (void)state;
    uint8_t img[9] = {0};
    int32_t lab[1] = {0};
    nncl_dataset *ds = NULL;
    assert_int_equal(nncl_dataset_create(img, lab, 0, 1, 3, 3, &ds), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_dataset_create(NULL, lab, 1, 1, 3, 3, &ds), NNCL_ERROR_INVALID_ARGUMENT);
    assert_null(ds);
    ds = indexed(4);
    static const nncl_loader_options bad[] = {
        {.batch = 0},
        {.batch = 8, .drop_last = true}, /* more than the 4 samples */
        {.batch = 2, .shift = -1},
        {.batch = 2, .rotate_degrees = -5},
        {.batch = 2, .noise_std = -0.1f},
        {.batch = 2, .shard = 2, .shards = 2},
        {.batch = 2, .shards = -1},
        {.batch = 1, .shards = 5}, /* a shard without a sample */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nncl_loader *l = (nncl_loader *)1;
        assert_int_equal(nncl_loader_create(ds, &bad[i], &l), NNCL_ERROR_INVALID_ARGUMENT);
        assert_null(l);
        assert_contains(nncl_last_error(), "nncl_loader_create");
    }
    nncl_loader *l;
    ASSERT_OK(nncl_loader_create(ds, &(nncl_loader_options){.batch = 2}, &l));
    assert_int_equal(nncl_loader_seek(l, 0, 3), NNCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(nncl_loader_seek(l, -1, 0), NNCL_ERROR_INVALID_ARGUMENT);
    nncl_loader_destroy(l);
    nncl_dataset_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_plain_and_gzip),
        cmocka_unit_test(test_idx_bad_files),
        cmocka_unit_test(test_loader_order_and_epochs),
        cmocka_unit_test(test_loader_shuffle_and_seek),
        cmocka_unit_test(test_loader_shards),
        cmocka_unit_test(test_augmentations),
        cmocka_unit_test(test_bad_dataset_and_loader_options),
        cmocka_unit_test(test_per_channel_normalisation),
        cmocka_unit_test(test_float_signals_and_volumes),
        cmocka_unit_test(test_wrap_epochs),
        cmocka_unit_test(test_ids_into_int_input),
        cmocka_unit_test(test_image_folder),
        cmocka_unit_test(test_label_maps_follow_augmentation),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
