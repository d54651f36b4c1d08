/* Convolution: hand-worked 1D cases, the output-size rule over a table,
 * parameter counts, and forward/backward against the host reference and
 * finite differences over 1D, 2D and 3D shapes with stride, dilation,
 * groups, asymmetric and 'same' padding, batch 1 and > 1, rows longer than
 * a vector; algorithm choices
 * remembered in the cache directory. */
#include "harness.h"
#include "ref/ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs conv on x and returns its output (malloc'd), checking the shape. */
static float *conv1d(const float *x, int64_t len, const float *w, int64_t k,
                     const nncl_conv_params *extra, int64_t expect_len) {
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *in = nncl_input(g, "x", NNCL_SHAPE(1, 1, len));
    nncl_conv_params p = *extra;
    p.out_channels = 1;
    p.kernel[0] = k;
    p.no_bias = true;
    nncl_node *y = nncl_conv(g, in, &p, "conv");
    assert_int_equal(nncl_graph_status(g), NNCL_OK);
    assert_int_equal(nncl_node_shape(y).dims[2], expect_len);
    ASSERT_OK(nncl_graph_param_write(g, "conv.weight", w, (size_t)k * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, in, x, (size_t)len * sizeof(float)));
    ASSERT_OK(nncl_graph_forward(g));
    float *out = malloc((size_t)expect_len * sizeof(float));
    ASSERT_OK(nncl_graph_read(g, y, out, (size_t)expect_len * sizeof(float)));
    nncl_graph_destroy(g);
    return out;
}

static void expect_values(const float *got, const float *want, int n) {
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("element %d is %g, expected %g", i, got[i], want[i]);
}

static void test_hand_worked_1d(void **state) {
    (void)state;
    const float x[] = {1, 2, 3, 2, 5, 1}, w[] = {1, 2};
    float *y = conv1d(x, 6, w, 2, &(nncl_conv_params){0}, 5);
    expect_values(y, (const float[]){5, 8, 7, 12, 7}, 5);
    free(y);
    y = conv1d(x, 6, w, 2, &(nncl_conv_params){.stride = {2}}, 3);
    expect_values(y, (const float[]){5, 7, 7}, 3);
    free(y);
    y = conv1d(x, 6, w, 2, &(nncl_conv_params){.padding = {1}}, 7);
    expect_values(y, (const float[]){2, 5, 8, 7, 12, 7, 1}, 7);
    free(y);
}

/* The lecture's vertical-edge example: a 6x6 image, left half 10, right
 * half 0, through [1 0 -1] x 3 gives four rows of 0 30 30 0. */
static void test_vertical_edge_example(void **state) {
    (void)state;
    float img[36], edge[9] = {1, 0, -1, 1, 0, -1, 1, 0, -1}, out[16];
    for (int i = 0; i < 36; i++)
        img[i] = i % 6 < 3 ? 10.0f : 0.0f;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 1, 6, 6));
    nncl_node *y = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 1, .kernel = {3, 3}, .no_bias = true}, "edge");
    ASSERT_OK(nncl_graph_param_write(g, "edge.weight", edge, sizeof edge));
    ASSERT_OK(nncl_graph_set_input(g, x, img, sizeof img));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    for (int r = 0; r < 4; r++)
        expect_values(out + 4 * r, (const float[]){0, 30, 30, 0}, 4);
    nncl_graph_destroy(g);
}

/* H_out = floor((H + 2P - D(K-1) - 1) / S) + 1 over a table of cases. */
static void test_output_size_rule(void **state) {
    (void)state;
    static const struct {
        int64_t h, k, s, p, d, expect;
    } cases[] = {
        {28, 3, 1, 1, 1, 28},   {28, 3, 2, 1, 1, 14}, {28, 5, 1, 0, 1, 24}, {32, 3, 2, 0, 1, 15},
        {7, 3, 1, 0, 2, 3},     {10, 4, 3, 2, 1, 4},  {5, 5, 1, 0, 1, 1},   {9, 3, 2, 1, 3, 3},
        {256, 3, 2, 1, 1, 128}, {1, 1, 1, 0, 1, 1},   {11, 2, 4, 3, 2, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 2, cases[i].h, cases[i].h));
        nncl_node *y = nncl_conv(g, x,
                                 &(nncl_conv_params){.out_channels = 3,
                                                     .kernel = {cases[i].k, cases[i].k},
                                                     .stride = {cases[i].s, cases[i].s},
                                                     .padding = {cases[i].p, cases[i].p},
                                                     .dilation = {cases[i].d, cases[i].d}},
                                 NULL);
        if (!y) fail_msg("case %zu: %s", i, nncl_graph_error(g));
        int64_t formula =
            (cases[i].h + 2 * cases[i].p - cases[i].d * (cases[i].k - 1) - 1) / cases[i].s + 1;
        assert_int_equal(formula, cases[i].expect);
        assert_int_equal(nncl_node_shape(y).dims[2], cases[i].expect);
        assert_int_equal(nncl_node_shape(y).dims[3], cases[i].expect);
        nncl_graph_destroy(g);
    }
}

/* A 256x256 image through conv k3 s2 p1 (128x128), then max pool k4 s1. */
static void test_conv_then_pool_size(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 3, 256, 256));
    nncl_node *h =
        nncl_conv(g, x,
                  &(nncl_conv_params){
                      .out_channels = 4, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
                  "conv");
    nncl_node *y =
        nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {4, 4}, .stride = {1, 1}}, "pool");
    assert_int_equal(nncl_graph_status(g), NNCL_OK);
    assert_int_equal(nncl_node_shape(h).dims[2], 128);
    assert_int_equal(nncl_node_shape(y).dims[2], 125);
    assert_int_equal(nncl_node_shape(y).dims[3], 125);
    nncl_graph_destroy(g);
}

/* (K0 * K1 * C_in + 1) * C_out; 10 filters 5x5x3 = 760. */
static void test_parameter_count(void **state) {
    (void)state;
    static const int64_t cases[][4] = {{5, 5, 3, 10}, {3, 3, 1, 32}, {3, 3, 32, 64}, {1, 7, 4, 2}};
    for (size_t i = 0; i < 4; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, cases[i][2], 16, 16));
        nncl_conv(
            g, x,
            &(nncl_conv_params){.out_channels = cases[i][3], .kernel = {cases[i][0], cases[i][1]}},
            "conv");
        assert_int_equal(nncl_graph_status(g), NNCL_OK);
        int64_t expect = (cases[i][0] * cases[i][1] * cases[i][2] + 1) * cases[i][3];
        assert_int_equal(nncl_graph_trainable_count(g), expect);
        if (i == 0) assert_int_equal(expect, 760);
        nncl_graph_destroy(g);
    }
}

typedef struct conv_case {
    nncl_conv_params p;
    nncl_shape x;
} conv_case;

static nncl_node *build_conv(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    return nncl_conv(g, x[0], &((const conv_case *)cfg)->p, "conv");
}

/* The reference's own reading of the parameters: no library code involved. */
static ref_window window_of(const conv_case *c) {
    ref_window w = {.spatial = c->x.rank - 2};
    for (int i = 0; i < w.spatial; i++) {
        w.in[i] = c->x.dims[2 + i];
        w.kernel[i] = c->p.kernel[i];
        w.stride[i] = c->p.stride[i] ? c->p.stride[i] : 1;
        w.dilation[i] = c->p.dilation[i] ? c->p.dilation[i] : 1;
        w.pad_begin[i] = c->p.padding[i] + c->p.pad_begin[i];
        w.pad_end[i] = c->p.padding[i] + c->p.pad_end[i];
        if (c->p.padding_same) {
            int64_t total = w.dilation[i] * (w.kernel[i] - 1);
            w.pad_begin[i] = total / 2;
            w.pad_end[i] = total - total / 2;
        }
    }
    assert_true(ref_window_out(&w));
    return w;
}

static void ref_conv_case(const double *const *x, const double *const *params,
                          const int32_t *labels, double *y, const void *cfg) {
    (void)labels;
    const conv_case *c = cfg;
    ref_window w = window_of(c);
    ref_conv(x[0], params[0], c->p.no_bias ? NULL : params[1], c->x.dims[0], c->x.dims[1],
             c->p.out_channels, c->p.groups ? c->p.groups : 1, &w, y);
}

static const conv_case conv_cases[] = {
    /* 1D */
    {{.out_channels = 3, .kernel = {3}}, NNCL_SHAPE(2, 2, 11)},
    {{.out_channels = 4, .kernel = {4}, .stride = {3}, .padding = {2}, .dilation = {2}},
     NNCL_SHAPE(1, 3, 17)},
    {{.out_channels = 4, .kernel = {3}, .groups = 2, .pad_begin = {2}, .no_bias = true},
     NNCL_SHAPE(3, 4, 9)},
    {{.out_channels = 2, .kernel = {4}, .padding_same = true}, NNCL_SHAPE(2, 2, 8)},
    /* 2D */
    {{.out_channels = 5, .kernel = {3, 3}, .padding = {1, 1}}, NNCL_SHAPE(2, 3, 7, 9)},
    {{.out_channels = 4, .kernel = {3, 2}, .stride = {2, 3}, .dilation = {2, 1}},
     NNCL_SHAPE(1, 2, 11, 10)},
    {{.out_channels = 6, .kernel = {3, 3}, .groups = 3, .pad_begin = {1, 0}, .pad_end = {0, 2}},
     NNCL_SHAPE(2, 6, 6, 5)},
    {{.out_channels = 4, .kernel = {3, 3}, .groups = 4, .padding = {1, 1}, .stride = {2, 2}},
     NNCL_SHAPE(2, 4, 7, 7)}, /* depthwise */
    {{.out_channels = 3, .kernel = {1, 1}, .no_bias = true}, NNCL_SHAPE(3, 5, 4, 3)},
    {{.out_channels = 4, .kernel = {1, 1}, .groups = 2}, NNCL_SHAPE(2, 6, 3, 5)},
    /* Winograd tiles: uneven padding, odd sizes, a partial last tile */
    {{.out_channels = 3, .kernel = {3, 3}, .pad_begin = {2, 0}, .pad_end = {0, 1}},
     NNCL_SHAPE(2, 4, 6, 5)},
    {{.out_channels = 2, .kernel = {3, 3}}, NNCL_SHAPE(1, 3, 8, 7)},
    {{.out_channels = 2, .kernel = {2, 3}, .padding_same = true, .dilation = {2, 1}},
     NNCL_SHAPE(1, 3, 6, 5)},
    /* 3D */
    {{.out_channels = 3, .kernel = {2, 3, 3}, .padding = {0, 1, 1}}, NNCL_SHAPE(2, 2, 4, 5, 5)},
    {{.out_channels = 4,
      .kernel = {3, 2, 2},
      .stride = {2, 1, 2},
      .dilation = {1, 2, 1},
      .groups = 2,
      .pad_end = {1, 0, 1}},
     NNCL_SHAPE(1, 4, 5, 6, 5)},
    /* Rows of at least a vector (the row-tiled algorithm): padding and
     * dilation at both ends, a partial last block, channels past a group of 8 */
    {{.out_channels = 10, .kernel = {5}, .padding = {2}, .dilation = {2}}, NNCL_SHAPE(2, 3, 37)},
    {{.out_channels = 9, .kernel = {3, 3}, .stride = {2, 1}, .padding = {1, 1}},
     NNCL_SHAPE(1, 2, 5, 20)},
    {{.out_channels = 3, .kernel = {2, 1, 3}, .padding = {0, 0, 1}, .no_bias = true},
     NNCL_SHAPE(1, 2, 2, 2, 17)},
    /* Rows of more tiles than Winograd's transforms take at a time (8): a
     * full block, then a partial one, whose tiles cross the packed GEMM's
     * panels */
    {{.out_channels = 2, .kernel = {3, 3}, .padding = {1, 1}}, NNCL_SHAPE(2, 2, 5, 37)},
    /* Rows exactly a vector long (AVX-512's 16, AVX2's 8), which the
     * row-tiled algorithm takes two at a time: an odd count, a row stride */
    {{.out_channels = 3, .kernel = {3, 3}, .stride = {2, 1}, .padding = {1, 1}},
     NNCL_SHAPE(1, 2, 7, 16)},
    /* A strided row wider than a local-memory tile (16 outputs) */
    {{.out_channels = 2, .kernel = {3}, .stride = {2}, .padding = {1}}, NNCL_SHAPE(1, 2, 40)},
    /* Images of whole GEMM panels of positions (64: any panel width), whose
     * products im2col writes in place */
    {{.out_channels = 3, .kernel = {3}, .padding = {1}}, NNCL_SHAPE(2, 2, 64)},
};

static void test_conv_against_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "conv case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {conv_cases[i].x},
                      .build = build_conv,
                      .ref = ref_conv_case,
                      .cfg = &conv_cases[i]};
        check_op(&c);
    }
}

/* y = conv(x) + x: x's gradient gets the convolution's input gradient
 * added to the sum's (accumulation into a gradient already written), on
 * rows longer than a vector (a block and a half, a partial vector) and
 * rows of one vector. */
static nncl_node *build_conv_plus_input(nncl_graph *g, nncl_node **x, nncl_node *labels,
                                        const void *cfg) {
    return nncl_add(g, build_conv(g, x, labels, cfg), x[0], "sum");
}

static void ref_conv_plus_input(const double *const *x, const double *const *params,
                                const int32_t *labels, double *y, const void *cfg) {
    ref_conv_case(x, params, labels, y, cfg);
    const conv_case *c = cfg;
    for (int64_t i = 0; i < nncl_shape_numel(c->x); i++)
        y[i] += x[0][i];
}

static void test_conv_gradient_adds_to_input_gradient(void **state) {
    (void)state;
    static const conv_case cases[] = {
        {{.out_channels = 2, .kernel = {5}, .padding_same = true, .dilation = {2}},
         NNCL_SHAPE(1, 2, 37)},
        {{.out_channels = 2, .kernel = {3, 3}, .padding = {1, 1}}, NNCL_SHAPE(1, 2, 3, 37)},
        {{.out_channels = 2, .kernel = {3, 3, 3}, .padding = {1, 1, 1}, .no_bias = true},
         NNCL_SHAPE(1, 2, 2, 3, 17)},
        {{.out_channels = 2, .kernel = {3, 3}, .padding = {1, 1}}, NNCL_SHAPE(1, 2, 3, 16)},
        {{.out_channels = 2, .kernel = {3, 3}, .padding = {1, 1}}, NNCL_SHAPE(1, 2, 3, 8)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "conv + input case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_conv_plus_input,
                      .ref = ref_conv_plus_input,
                      .cfg = &cases[i]};
        check_op(&c);
    }
}

typedef struct transpose_case {
    nncl_conv_transpose_params p;
    nncl_shape x;
} transpose_case;

static nncl_node *build_transpose(nncl_graph *g, nncl_node **x, nncl_node *labels,
                                  const void *cfg) {
    (void)labels;
    return nncl_conv_transpose(g, x[0], &((const transpose_case *)cfg)->p, "up");
}

static void ref_transpose_case(const double *const *x, const double *const *params,
                               const int32_t *labels, double *y, const void *cfg) {
    (void)labels;
    const transpose_case *c = cfg;
    ref_window w = {.spatial = c->x.rank - 2};
    for (int i = 0; i < w.spatial; i++) {
        w.in[i] = c->x.dims[2 + i];
        w.kernel[i] = c->p.kernel[i];
        w.stride[i] = c->p.stride[i] ? c->p.stride[i] : 1;
        w.dilation[i] = c->p.dilation[i] ? c->p.dilation[i] : 1;
        w.pad_begin[i] = c->p.padding[i];
        w.out[i] = (w.in[i] - 1) * w.stride[i] - 2 * c->p.padding[i] +
                   w.dilation[i] * (w.kernel[i] - 1) + c->p.output_padding[i] + 1;
    }
    ref_conv_transpose(x[0], params[0], c->p.no_bias ? NULL : params[1], c->x.dims[0], c->x.dims[1],
                       c->p.out_channels, c->p.groups ? c->p.groups : 1, &w, y);
}

static const transpose_case transpose_cases[] = {
    /* 1D */
    {{.out_channels = 3, .kernel = {3}}, NNCL_SHAPE(2, 2, 7)},
    {{.out_channels = 4, .kernel = {4}, .stride = {3}, .padding = {1}, .output_padding = {2}},
     NNCL_SHAPE(1, 3, 5)},
    {{.out_channels = 4, .kernel = {3}, .groups = 2, .dilation = {2}, .no_bias = true},
     NNCL_SHAPE(3, 4, 6)},
    /* 2D: U-Net's 2x2 stride-2 up-convolution, odd sizes, groups */
    {{.out_channels = 3, .kernel = {2, 2}, .stride = {2, 2}}, NNCL_SHAPE(2, 4, 3, 5)},
    {{.out_channels = 4,
      .kernel = {3, 3},
      .stride = {2, 2},
      .padding = {1, 1},
      .output_padding = {1, 0}},
     NNCL_SHAPE(2, 2, 4, 3)},
    {{.out_channels = 6, .kernel = {3, 2}, .stride = {1, 2}, .dilation = {2, 1}, .groups = 3},
     NNCL_SHAPE(1, 3, 4, 4)},
    {{.out_channels = 2, .kernel = {3, 3}, .padding = {1, 1}}, NNCL_SHAPE(2, 3, 5, 6)},
    {{.out_channels = 5, .kernel = {1, 1}, .no_bias = true}, NNCL_SHAPE(2, 3, 3, 4)},
    /* output_padding below the dilation but not the stride */
    {{.out_channels = 2, .kernel = {3, 3}, .dilation = {3, 1}, .output_padding = {2, 0}},
     NNCL_SHAPE(1, 2, 3, 3)},
    /* 3D */
    {{.out_channels = 2, .kernel = {2, 2, 2}, .stride = {2, 2, 2}}, NNCL_SHAPE(2, 3, 2, 3, 2)},
    {{.out_channels = 4,
      .kernel = {3, 2, 3},
      .stride = {2, 1, 2},
      .padding = {1, 0, 1},
      .output_padding = {1, 0, 0},
      .groups = 2},
     NNCL_SHAPE(1, 2, 3, 3, 4)},
};

static void test_conv_transpose_against_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof transpose_cases / sizeof transpose_cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "conv_transpose case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {transpose_cases[i].x},
                      .build = build_transpose,
                      .ref = ref_transpose_case,
                      .cfg = &transpose_cases[i]};
        check_op(&c);
    }
}

/* Two transposed convolutions read one input: the second adds its input
 * gradient to the first's. y = up_a(x) + up_b(x) against the reference. */
static nncl_node *build_two_ups(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const transpose_case *c = cfg;
    nncl_node *a = nncl_conv_transpose(g, x[0], &c->p, "a");
    nncl_node *b = nncl_conv_transpose(g, x[0], &c->p, "b");
    return nncl_add(g, a, b, "sum");
}

static void ref_two_ups(const double *const *x, const double *const *params, const int32_t *labels,
                        double *y, const void *cfg) {
    const transpose_case *c = cfg;
    int64_t n = 2 * 3 * 9 * 11;
    double *other = malloc((size_t)n * sizeof(double));
    ref_transpose_case(x, params, labels, y, cfg);
    ref_transpose_case(x, params + 2, labels, other, cfg);
    for (int64_t i = 0; i < n; i++)
        y[i] += other[i];
    free(other);
    (void)c;
}

static void test_conv_transpose_shared_input(void **state) {
    (void)state;
    static const transpose_case c = {
        {.out_channels = 3, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
        NNCL_SHAPE(2, 2, 5, 6)}; /* output [2, 3, 9, 11] */
    op_check check = {.label = "two transposed convolutions of one input",
                      .n_inputs = 1,
                      .inputs = {c.x},
                      .build = build_two_ups,
                      .ref = ref_two_ups,
                      .cfg = &c};
    check_op(&check);
}

/* The output-size formula over a table, and a hand-worked 1D case:
 * x = [1, 2], w = [1, 10, 100], stride 2 -> [1, 10, 102, 20, 200]. */
static void test_conv_transpose_sizes(void **state) {
    (void)state;
    static const struct {
        int64_t h, k, s, p, op, d, expect;
    } cases[] = {
        {4, 2, 2, 0, 0, 1, 8},  {4, 3, 2, 1, 1, 1, 8}, {4, 3, 2, 1, 0, 1, 7},
        {5, 4, 2, 1, 0, 1, 10}, {3, 3, 1, 0, 0, 2, 7}, {1, 1, 1, 0, 0, 1, 1},
        {7, 5, 3, 2, 2, 1, 21},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 2, cases[i].h, 3));
        nncl_node *y =
            nncl_conv_transpose(g, x,
                                &(nncl_conv_transpose_params){.out_channels = 3,
                                                              .kernel = {cases[i].k, 1},
                                                              .stride = {cases[i].s, 1},
                                                              .padding = {cases[i].p, 0},
                                                              .output_padding = {cases[i].op, 0},
                                                              .dilation = {cases[i].d, 1}},
                                "up");
        if (!y) fail_msg("case %zu: %s", i, nncl_graph_error(g));
        assert_int_equal(nncl_node_shape(y).dims[2], cases[i].expect);
        assert_int_equal(nncl_node_shape(y).dims[3], 3);
        nncl_graph_destroy(g);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 1, 2));
    nncl_node *y =
        nncl_conv_transpose(g, x,
                            &(nncl_conv_transpose_params){
                                .out_channels = 1, .kernel = {3}, .stride = {2}, .no_bias = true},
                            "up");
    float out[5];
    ASSERT_OK(
        nncl_graph_param_write(g, "up.weight", (const float[]){1, 10, 100}, 3 * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, x, (const float[]){1, 2}, 2 * sizeof(float)));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    expect_values(out, (const float[]){1, 10, 102, 20, 200}, 5);
    nncl_graph_destroy(g);
}

/* Every bad parameter is refused with a message naming op, node and the
 * offending value or shape. */
static void test_conv_transpose_refuses_bad_parameters(void **state) {
    (void)state;
    static const struct {
        nncl_conv_transpose_params p;
        nncl_shape x;
        nncl_status status;
        const char *message;
    } cases[] = {
        {{.out_channels = 0, .kernel = {3, 3}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "out_channels 0"},
        {{.out_channels = 4, .kernel = {3, 3}, .groups = -1},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "groups -1"},
        {{.out_channels = 3, .kernel = {3, 3}, .groups = 2},
         NNCL_SHAPE(1, 4, 4, 4),
         NNCL_ERROR_SHAPE,
         "divisible by groups 2"},
        {{.out_channels = 4, .kernel = {0, 3}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "spatial dim 0: kernel 0"},
        {{.out_channels = 4, .kernel = {3, 3}, .stride = {1, -2}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "stride -2"},
        {{.out_channels = 4, .kernel = {3, 3}, .dilation = {-1, 1}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "dilation -1"},
        {{.out_channels = 4, .kernel = {3, 3}, .padding = {0, -1}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "padding -1"},
        {{.out_channels = 4, .kernel = {3, 3}, .stride = {2, 2}, .output_padding = {0, 2}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "output_padding 2 must be smaller than stride 2"},
        {{.out_channels = 4, .kernel = {3, 3}, .padding = {3, 0}},
         NNCL_SHAPE(1, 2, 1, 4),
         NNCL_ERROR_SHAPE,
         "give no output"},
        {{.out_channels = 4, .kernel = {3, 3, 3}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "set dim 2"},
        {{.out_channels = 4, .kernel = {3}, .stride = {INT64_MAX / 2}},
         NNCL_SHAPE(1, 2, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "stride"},
        {{.out_channels = 4, .kernel = {3, 3}},
         NNCL_SHAPE(2, 8),
         NNCL_ERROR_SHAPE,
         "must be NCW, NCHW or NCDHW"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *x = nncl_input(g, "x", cases[i].x);
        assert_null(nncl_conv_transpose(g, x, &cases[i].p, "up3"));
        assert_int_equal(nncl_graph_status(g), cases[i].status);
        assert_contains(nncl_graph_error(g), "conv_transpose");
        assert_contains(nncl_graph_error(g), "'up3'");
        assert_contains(nncl_graph_error(g), cases[i].message);
        nncl_graph_destroy(g);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    assert_null(nncl_conv_transpose(g, nncl_input(g, "x", NNCL_SHAPE(1, 2, 4)), NULL, "up3"));
    assert_contains(nncl_graph_error(g), "params are required");
    nncl_graph_destroy(g);
}

/* The summary's mult-adds: a convolution's N * C_out * out_positions *
 * C_in/groups * prod(kernel), a transposed one's counted over its input. */
static void test_summary_counts_multiply_adds(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 8, 8));
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}, .padding = {1, 1}}, "c");
    h = nncl_conv_transpose(
        g, h, &(nncl_conv_transpose_params){.out_channels = 2, .kernel = {2, 2}, .stride = {2, 2}},
        "up");
    nncl_relu(g, h, "act");
    char *text;
    ASSERT_OK(nncl_graph_summary(g, &text));
    /* conv: 2*4*64 * 3*9 = 13,824; up: 2*4*64 (inputs) * 2*4 = 4,096 */
    assert_contains(text, "13,824");
    assert_contains(text, "4,096");
    assert_contains(text, "Mult-adds (forward): 17,920");
    assert_contains(text, "Mult-adds");
    nncl_free(text);
    nncl_graph_destroy(g);
}

/* He normal: weights have mean ~0 and std sqrt(2 / fan_in); bias is zero;
 * the same seed gives the same weights. */
static void test_he_initialisation(void **state) {
    (void)state;
    float *w[2];
    for (int run = 0; run < 2; run++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 42}, &g));
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 16, 8, 8));
        nncl_conv(g, x, &(nncl_conv_params){.out_channels = 64, .kernel = {3, 3}}, "c");
        w[run] = malloc(64 * 16 * 9 * sizeof(float));
        float bias[64];
        ASSERT_OK(nncl_graph_param_read(g, "c.weight", w[run], 64 * 16 * 9 * sizeof(float)));
        ASSERT_OK(nncl_graph_param_read(g, "c.bias", bias, sizeof bias));
        for (int i = 0; i < 64; i++)
            assert_true(bias[i] == 0.0f);
        nncl_graph_destroy(g);
    }
    assert_memory_equal(w[0], w[1], 64 * 16 * 9 * sizeof(float));
    double sum = 0, sq = 0;
    int n = 64 * 16 * 9;
    for (int i = 0; i < n; i++) {
        sum += w[0][i];
        sq += (double)w[0][i] * w[0][i];
    }
    double mean = sum / n, std = sqrt(sq / n - mean * mean), want = sqrt(2.0 / (16 * 9));
    assert_true(fabs(mean) < 0.01);
    assert_true(fabs(std - want) / want < 0.03);
    free(w[0]);
    free(w[1]);
}

/* The eval forward of x [3, 5, 13, 18] through a 3x3 layer (Winograd's
 * tiles: more than a GEMM panel, a partial last one) against the reference
 * on the weights and bias the graph holds now. */
static void expect_eval_forward(nncl_graph *g, nncl_node *y, const double *xd, const char *when) {
    enum { N = 3, CI = 5, CO = 4, H = 13, W = 18 };
    float w[CO * CI * 9], b[CO], got[N * CO * H * W];
    double wd[CO * CI * 9], bd[CO], want[N * CO * H * W];
    ASSERT_OK(nncl_graph_param_read(g, "conv.weight", w, sizeof w));
    ASSERT_OK(nncl_graph_param_read(g, "conv.bias", b, sizeof b));
    for (int i = 0; i < CO * CI * 9; i++)
        wd[i] = w[i];
    for (int i = 0; i < CO; i++)
        bd[i] = b[i];
    ref_window win = {.spatial = 2,
                      .in = {H, W},
                      .kernel = {3, 3},
                      .stride = {1, 1},
                      .dilation = {1, 1},
                      .pad_begin = {1, 1},
                      .pad_end = {1, 1}};
    assert_true(ref_window_out(&win));
    ref_conv(xd, wd, bd, N, CI, CO, 1, &win, want);
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, y, got, sizeof got));
    assert_close(when, got, want, N * CO * H * W, 1e-4, 1e-4);
}

/* An eval forward may keep its weights transformed between calls: every
 * way the weights change (a parameter write, an optimizer step, a
 * checkpoint load) shows in the next one. */
static void test_eval_forward_follows_weight_changes(void **state) {
    (void)state;
    enum { N = 3, CI = 5, CO = 4, H = 13, W = 18 };
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 5}, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(N, CI, H, W));
    nncl_node *y = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = CO, .kernel = {3, 3}, .padding = {1, 1}}, "conv");
    static double xd[N * CI * H * W], wd[CO * CI * 9];
    random_fill(xd, N * CI * H * W, 1, -1.0, 1.0);
    float *xf = to_float(xd, N * CI * H * W);
    ASSERT_OK(nncl_graph_set_input(g, x, xf, sizeof(float) * N * CI * H * W));
    nncl_graph_set_training(g, false);
    expect_eval_forward(g, y, xd, "initial weights");
    expect_eval_forward(g, y, xd, "initial weights, again");
    char path[] = "/tmp/nncl-eval-weights-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    ASSERT_OK(nncl_save(g, NULL, path, NULL, 0));

    random_fill(wd, CO * CI * 9, 2, -0.5, 0.5);
    float *wf = to_float(wd, CO * CI * 9);
    ASSERT_OK(nncl_graph_param_write(g, "conv.weight", wf, sizeof(float) * CO * CI * 9));
    expect_eval_forward(g, y, xd, "after nncl_graph_param_write");

    nncl_optimizer *opt;
    ASSERT_OK(
        nncl_optimizer_create(g, &(nncl_optim_params){.kind = NNCL_OPTIM_SGD, .lr = 0.1f}, &opt));
    static float up[N * CO * H * W];
    for (int i = 0; i < N * CO * H * W; i++)
        up[i] = (float)(i % 7) - 3.0f;
    nncl_graph_set_training(g, true);
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_backward(g, y, up, sizeof up));
    ASSERT_OK(nncl_optimizer_step(opt));
    nncl_graph_set_training(g, false);
    expect_eval_forward(g, y, xd, "after nncl_optimizer_step");

    ASSERT_OK(nncl_load(g, NULL, path, NULL));
    expect_eval_forward(g, y, xd, "after nncl_load");
    float w0[CO * CI * 9];
    ASSERT_OK(nncl_graph_param_read(g, "conv.weight", w0, sizeof w0));
    assert_true(w0[0] != wf[0]); /* the load brought the first weights back */
    unlink(path);
    free(wf);
    free(xf);
    nncl_optimizer_destroy(opt);
    nncl_graph_destroy(g);
}

/* Lines in the algorithm-choice file. */
static int choice_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int lines = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        lines += ch == '\n';
    fclose(f);
    return lines;
}

/* One training pass of a 3x3 conv (several algorithms apply) on a context
 * whose choices live in dir; returns the output's first value. */
static float conv_pass(const char *dir) {
    nncl_context *ctx;
    ASSERT_OK(nncl_context_create(
        &(nncl_context_options){.cache_dir = dir, .conv_algorithm = "auto"}, &ctx));
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(ctx, &(nncl_graph_options){.seed = 3}, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 4, 8, 8));
    ASSERT_OK(nncl_input_set_requires_grad(g, x, true));
    nncl_node *y = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 6, .kernel = {3, 3}, .padding = {1, 1}}, "c");
    float in[2 * 4 * 64], up[2 * 6 * 64], out[2 * 6 * 64];
    for (int i = 0; i < 2 * 4 * 64; i++)
        in[i] = (float)(i % 13) - 6.0f;
    for (int i = 0; i < 2 * 6 * 64; i++)
        up[i] = (float)(i % 5) - 2.0f;
    ASSERT_OK(nncl_graph_set_input(g, x, in, sizeof in));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    ASSERT_OK(nncl_graph_backward(g, y, up, sizeof up));
    nncl_graph_destroy(g);
    nncl_context_destroy(ctx);
    return out[0];
}

/* Choices are timed once per layer and direction and remembered; a
 * context reading them times nothing, and choices made with other kernels
 * (another fingerprint in the key) are timed again. */
static void test_algorithm_choices_remembered(void **state) {
    (void)state;
    char dir[] = "/tmp/nncl-choice-test-XXXXXX", path[256], cmd[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/conv-algorithms.txt", dir);
    float first = conv_pass(dir);
    assert_int_equal(choice_lines(path), 3); /* forward, backward-data, backward-weights */
    assert_true(conv_pass(dir) == first);
    assert_int_equal(choice_lines(path), 3);
    /* The fingerprint is the fourth field of each key. */
    snprintf(cmd, sizeof cmd, "sed -i 's/^\\([^|]*|[^|]*|[^|]*|\\)[0-9a-f]*|/\\10000|/' '%s'",
             path);
    assert_int_equal(system(cmd), 0);
    conv_pass(dir);
    assert_int_equal(choice_lines(path), 6);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_algorithm_choices_remembered),
        cmocka_unit_test(test_hand_worked_1d),
        cmocka_unit_test(test_vertical_edge_example),
        cmocka_unit_test(test_output_size_rule),
        cmocka_unit_test(test_conv_then_pool_size),
        cmocka_unit_test(test_parameter_count),
        cmocka_unit_test(test_conv_against_reference),
        cmocka_unit_test(test_conv_gradient_adds_to_input_gradient),
        cmocka_unit_test(test_eval_forward_follows_weight_changes),
        cmocka_unit_test(test_he_initialisation),
        cmocka_unit_test(test_conv_transpose_against_reference),
        cmocka_unit_test(test_conv_transpose_shared_input),
        cmocka_unit_test(test_conv_transpose_sizes),
        cmocka_unit_test(test_conv_transpose_refuses_bad_parameters),
        cmocka_unit_test(test_summary_counts_multiply_adds),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
