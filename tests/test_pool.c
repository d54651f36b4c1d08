/* Pooling: max and average (count_include_pad on and off, ceil mode,
 * dilation, asymmetric padding) and global pooling, in 1D, 2D and 3D,
 * forward against the host reference and backward against finite
 * differences, also where a second pooling of the same input adds its
 * gradient onto the first's; plus a hand-worked 2D max pool and NaN and ties. */
#include "harness.h"
#include "ref/ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum pool_kind { MAX, AVG, GLOBAL_MAX, GLOBAL_AVG } pool_kind;

typedef struct pool_case {
    pool_kind kind;
    nncl_pool_params p;
    nncl_shape x;
    bool twice; /* pool(x) + pool(x): the second backward adds onto the first's gradient */
} pool_case;

static nncl_node *pool_once(nncl_graph *g, nncl_node *x, const pool_case *c, const char *name) {
    switch (c->kind) {
    case MAX:
        return nncl_max_pool(g, x, &c->p, name);
    case AVG:
        return nncl_avg_pool(g, x, &c->p, name);
    case GLOBAL_MAX:
        return nncl_global_max_pool(g, x, name);
    default:
        return nncl_global_avg_pool(g, x, name);
    }
}

static nncl_node *build_pool(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const pool_case *c = cfg;
    nncl_node *y = pool_once(g, x[0], c, "pool");
    return c->twice ? nncl_add(g, y, pool_once(g, x[0], c, "pool2"), NULL) : y;
}

static ref_window window_of(const pool_case *c) {
    ref_window w = {.spatial = c->x.rank - 2, .ceil_mode = c->p.ceil_mode};
    bool global = c->kind == GLOBAL_MAX || c->kind == GLOBAL_AVG;
    for (int i = 0; i < w.spatial; i++) {
        w.in[i] = c->x.dims[2 + i];
        w.kernel[i] = global ? w.in[i] : c->p.kernel[i];
        w.stride[i] = global ? 1 : c->p.stride[i] ? c->p.stride[i] : c->p.kernel[i];
        w.dilation[i] = c->p.dilation[i] ? c->p.dilation[i] : 1;
        w.pad_begin[i] = global ? 0 : c->p.padding[i] + c->p.pad_begin[i];
        w.pad_end[i] = global ? 0 : c->p.padding[i] + c->p.pad_end[i];
    }
    assert_true(ref_window_out(&w));
    return w;
}

static void ref_pool_case(const double *const *x, const double *const *params,
                          const int32_t *labels, double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const pool_case *c = cfg;
    ref_window w = window_of(c);
    int64_t planes = c->x.dims[0] * c->x.dims[1];
    if (c->kind == MAX || c->kind == GLOBAL_MAX)
        ref_max_pool(x[0], planes, &w, y);
    else
        ref_avg_pool(x[0], planes, &w, !c->p.exclude_pad, y);
    int64_t n = planes;
    for (int i = 0; i < w.spatial; i++)
        n *= w.out[i];
    for (int64_t i = 0; c->twice && i < n; i++)
        y[i] *= 2;
}

static const pool_case pool_cases[] = {
    /* 1D */
    {MAX, {.kernel = {3}, .stride = {2}}, NNCL_SHAPE(2, 3, 12), false},
    {MAX, {.kernel = {2}}, NNCL_SHAPE(2, 3, 12), false}, /* windows tile the input */
    {MAX, {.kernel = {2}}, NNCL_SHAPE(2, 3, 38), false}, /* eight windows at a time, and the rest */
    {MAX,
     {.kernel = {3}, .stride = {2}, .padding = {1}, .dilation = {2}, .ceil_mode = true},
     NNCL_SHAPE(1, 2, 10),
     false},
    {AVG, {.kernel = {4}, .stride = {3}, .padding = {2}}, NNCL_SHAPE(2, 2, 11), false},
    {AVG, {.kernel = {3}}, NNCL_SHAPE(2, 3, 12), true}, /* tiles; gradients added twice */
    {MAX, {.kernel = {2}}, NNCL_SHAPE(2, 3, 38), true},
    {AVG,
     {.kernel = {3}, .stride = {2}, .padding = {1}, .exclude_pad = true, .ceil_mode = true},
     NNCL_SHAPE(1, 3, 8),
     false},
    /* 2D */
    {MAX, {.kernel = {2, 2}}, NNCL_SHAPE(2, 3, 8, 6), false},
    {MAX, {.kernel = {2, 3}}, NNCL_SHAPE(2, 2, 4, 9), false},
    {MAX, {.kernel = {2, 2}}, NNCL_SHAPE(2, 3, 4, 18), false},
    {MAX, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}, NNCL_SHAPE(1, 2, 7, 9), false},
    {MAX,
     {.kernel = {3, 2},
      .stride = {2, 1},
      .dilation = {2, 1},
      .ceil_mode = true,
      .pad_begin = {1, 0}},
     NNCL_SHAPE(2, 2, 9, 5),
     false},
    {AVG, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}, NNCL_SHAPE(2, 2, 7, 6), false},
    {AVG,
     {.kernel = {3, 3},
      .stride = {2, 2},
      .padding = {1, 1},
      .exclude_pad = true,
      .ceil_mode = true},
     NNCL_SHAPE(1, 3, 6, 8),
     false},
    {AVG, {.kernel = {2, 3}, .stride = {1, 2}, .pad_end = {1, 1}}, NNCL_SHAPE(1, 2, 5, 7), false},
    {AVG, {.kernel = {2, 2}}, NNCL_SHAPE(2, 3, 8, 6), false},
    {AVG, {.kernel = {2, 3}}, NNCL_SHAPE(1, 2, 4, 9), true},
    /* 3D */
    {MAX, {.kernel = {2, 2, 2}}, NNCL_SHAPE(1, 2, 4, 6, 4), false},
    {MAX, {.kernel = {2, 2, 2}}, NNCL_SHAPE(1, 2, 2, 4, 20), false},
    {MAX,
     {.kernel = {3, 3, 2}, .stride = {2, 2, 1}, .padding = {1, 1, 0}, .ceil_mode = true},
     NNCL_SHAPE(2, 1, 5, 5, 4),
     false},
    {AVG,
     {.kernel = {2, 3, 3}, .stride = {1, 2, 2}, .padding = {1, 1, 1}},
     NNCL_SHAPE(1, 2, 3, 6, 5),
     false},
    {AVG,
     {.kernel = {2, 2, 2}, .padding = {1, 1, 1}, .exclude_pad = true},
     NNCL_SHAPE(1, 2, 3, 3, 4),
     false},
    {AVG, {.kernel = {2, 2, 2}}, NNCL_SHAPE(1, 2, 4, 6, 4), true},
    /* global */
    {.kind = GLOBAL_MAX, .x = NNCL_SHAPE(2, 3, 7)},
    {.kind = GLOBAL_AVG, .x = NNCL_SHAPE(2, 3, 5, 6)},
    {.kind = GLOBAL_MAX, .x = NNCL_SHAPE(1, 4, 3, 4, 5)},
    {.kind = GLOBAL_AVG, .x = NNCL_SHAPE(2, 2, 3, 2, 4)},
    {.kind = GLOBAL_AVG, .x = NNCL_SHAPE(2, 3, 7), .twice = true},
};

static void test_pool_against_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "pool case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {pool_cases[i].x},
                      .build = build_pool,
                      .ref = ref_pool_case,
                      .cfg = &pool_cases[i]};
        check_op(&c);
    }
}

/* 4x4 max pool k2: the maxima and where the gradient goes. */
typedef struct adaptive_case {
    bool max;
    nncl_shape x;
    int64_t out[3];
} adaptive_case;

static nncl_node *build_adaptive(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const adaptive_case *c = cfg;
    return nncl_adaptive_pool(g, x[0], c->max, c->out, "ap");
}

/* PyTorch's windows, [floor(o in / out), ceil((o + 1) in / out)), per dim. */
static void ref_adaptive(const double *const *x, const double *const *params, const int32_t *labels,
                         double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const adaptive_case *c = cfg;
    int spatial = c->x.rank - 2;
    int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
    for (int i = 0; i < spatial; i++) {
        in[i] = c->x.dims[2 + i];
        out[i] = c->out[i] ? c->out[i] : in[i];
    }
    int64_t planes = c->x.dims[0] * c->x.dims[1], ivol = in[0] * in[1] * in[2];
    int64_t ovol = out[0] * out[1] * out[2];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o = 0; o < ovol; o++) {
            int64_t oc[3] = {o / (out[1] * out[2]), o / out[2] % out[1], o % out[2]}, lo[3], hi[3];
            for (int d = 0; d < 3; d++) {
                lo[d] = oc[d] * in[d] / out[d];
                hi[d] = ((oc[d] + 1) * in[d] + out[d] - 1) / out[d];
            }
            double acc = c->max ? -1e300 : 0;
            for (int64_t a = lo[0]; a < hi[0]; a++)
                for (int64_t b = lo[1]; b < hi[1]; b++)
                    for (int64_t e = lo[2]; e < hi[2]; e++) {
                        double v = x[0][p * ivol + (a * in[1] + b) * in[2] + e];
                        acc = c->max ? (v > acc ? v : acc) : acc + v;
                    }
            if (!c->max) acc /= (double)((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]));
            y[p * ovol + o] = acc;
        }
}

static void test_adaptive_pool_against_reference(void **state) {
    (void)state;
    static const adaptive_case cases[] = {
        {false, NNCL_SHAPE(2, 3, 10), {4}},           {true, NNCL_SHAPE(2, 3, 10), {4}},
        {false, NNCL_SHAPE(2, 2, 7, 5), {3, 2}},      {true, NNCL_SHAPE(2, 2, 7, 5), {3, 2}},
        {false, NNCL_SHAPE(1, 2, 5, 6), {7, 0}}, /* more windows than rows; one dim kept */
        {true, NNCL_SHAPE(1, 2, 3, 3), {5, 4}},       {false, NNCL_SHAPE(1, 2, 4, 5, 3), {2, 3, 1}},
        {true, NNCL_SHAPE(1, 2, 4, 5, 3), {3, 2, 2}}, {false, NNCL_SHAPE(2, 3, 6, 6), {1, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "adaptive pool case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_adaptive,
                      .ref = ref_adaptive,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 8, 8));
    assert_null(nncl_adaptive_pool(g, x, true, (const int64_t[3]){2, -1, 0}, "ap"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_graph_error(g), "op 'adaptive_max_pool' node 'ap'");
    assert_contains(nncl_graph_error(g), "output_size -1 in dim 1");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 8, 8));
    assert_null(nncl_adaptive_pool(g, x, false, (const int64_t[3]){2, 2, 2}, "ap"));
    assert_contains(nncl_graph_error(g), "op 'adaptive_avg_pool' node 'ap'");
    assert_contains(nncl_graph_error(g), "2 spatial dims but output_size sets dim 2");
    nncl_graph_destroy(g);
}

static void test_max_pool_hand_worked(void **state) {
    (void)state;
    const float x[16] = {1, 3, 2, 0, 4, 2, 1, 5, 0, 1, 7, 2, 6, 3, 1, 1};
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *in = nncl_input(g, "x", NNCL_SHAPE(1, 1, 4, 4));
    ASSERT_OK(nncl_input_set_requires_grad(g, in, true));
    nncl_node *y = nncl_max_pool(g, in, &(nncl_pool_params){.kernel = {2, 2}}, NULL);
    ASSERT_OK(nncl_graph_set_input(g, in, x, sizeof x));
    ASSERT_OK(nncl_graph_forward(g));
    float out[4], dx[16];
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    const float want[4] = {4, 5, 6, 7};
    assert_memory_equal(out, want, sizeof want);
    ASSERT_OK(nncl_graph_backward(g, y, (const float[]){10, 20, 30, 40}, 4 * sizeof(float)));
    ASSERT_OK(nncl_graph_read_grad(g, in, dx, sizeof dx));
    const float want_dx[16] = {0, 0, 0, 0, 10, 0, 0, 20, 0, 0, 40, 0, 30, 0, 0, 0};
    assert_memory_equal(dx, want_dx, sizeof want_dx);
    nncl_graph_destroy(g);
}

/* NaN wins a window and takes its gradient, as in PyTorch; ties go to the
 * first element. Two rows of 20 (ten windows of 2x2 per row pair: eight
 * handled together and two alone), NaN in both parts. */
static void test_max_pool_nan_and_ties(void **state) {
    (void)state;
    float x[40];
    for (int i = 0; i < 40; i++)
        x[i] = (float)(i % 7);
    x[5] = NAN;                        /* top row, window 2 */
    x[21] = 9;                         /* bottom row, window 0: beats the top row */
    x[38] = NAN;                       /* bottom row, window 9 (a window handled alone) */
    x[12] = x[13] = x[32] = x[33] = 8; /* window 6: four equal, the first wins */
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *in = nncl_input(g, "x", NNCL_SHAPE(1, 1, 2, 20));
    ASSERT_OK(nncl_input_set_requires_grad(g, in, true));
    nncl_node *y = nncl_max_pool(g, in, &(nncl_pool_params){.kernel = {2, 2}}, NULL);
    ASSERT_OK(nncl_graph_set_input(g, in, x, sizeof x));
    ASSERT_OK(nncl_graph_forward(g));
    float out[10], dx[40], up[10];
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    int want_at[10];
    for (int w = 0; w < 10; w++) {
        const int at[4] = {2 * w, 2 * w + 1, 20 + 2 * w, 21 + 2 * w};
        int best = at[0];
        for (int j = 1; j < 4; j++)
            if (x[at[j]] > x[best] || isnan(x[at[j]])) best = at[j];
        want_at[w] = best;
        up[w] = (float)(w + 1);
        if (isnan(x[best]))
            assert_true(isnan(out[w]));
        else
            assert_true(out[w] == x[best]);
    }
    assert_int_equal(want_at[2], 5);
    assert_int_equal(want_at[0], 21);
    assert_int_equal(want_at[9], 38);
    assert_int_equal(want_at[6], 12);
    ASSERT_OK(nncl_graph_backward(g, y, up, sizeof up));
    ASSERT_OK(nncl_graph_read_grad(g, in, dx, sizeof dx));
    for (int i = 0; i < 40; i++) {
        float want = 0.0f;
        for (int w = 0; w < 10; w++)
            if (want_at[w] == i) want = up[w];
        if (dx[i] != want) fail_msg("dx[%d] = %g, expected %g", i, dx[i], want);
    }
    nncl_graph_destroy(g);
}

/* Global max pooling over planes longer than a vector: ties and NaNs in
 * different lanes and in the tail give the sequential rule's answer (the
 * first of the largest values; the last NaN), and the gradient goes there. */
static void test_global_max_pool_nan_and_ties(void **state) {
    (void)state;
    enum { PLANES = 4, LEN = 37 };
    float x[PLANES * LEN];
    for (int i = 0; i < PLANES * LEN; i++)
        x[i] = (float)(i % 5);
    x[3] = x[6] = x[12] = 7;                /* plane 0: ties across lanes, the first wins */
    x[LEN + 2] = x[LEN + 9] = NAN;          /* plane 1: NaNs in two lanes, the later wins */
    x[LEN + 17] = NAN;                      /* ... and a later one still */
    x[2 * LEN + 5] = x[2 * LEN + 35] = NAN; /* plane 2: a NaN in the tail wins */
    x[3 * LEN + 36] = 9;                    /* plane 3: the largest in the tail */
    x[3 * LEN + 9] = x[3 * LEN + 10] = 8;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *in = nncl_input(g, "x", NNCL_SHAPE(1, PLANES, LEN));
    ASSERT_OK(nncl_input_set_requires_grad(g, in, true));
    nncl_node *y = nncl_global_max_pool(g, in, NULL);
    ASSERT_OK(nncl_graph_set_input(g, in, x, sizeof x));
    ASSERT_OK(nncl_graph_forward(g));
    float out[PLANES], up[PLANES], dx[PLANES * LEN];
    int want_at[PLANES];
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    for (int p = 0; p < PLANES; p++) {
        int best = p * LEN;
        for (int i = best + 1; i < (p + 1) * LEN; i++)
            if (x[i] > x[best] || isnan(x[i])) best = i;
        want_at[p] = best;
        up[p] = (float)(p + 1);
        if (isnan(x[best]) ? !isnan(out[p]) : out[p] != x[best])
            fail_msg("plane %d: %g, expected %g", p, out[p], x[best]);
    }
    assert_int_equal(want_at[0], 3);
    assert_int_equal(want_at[1], LEN + 17);
    assert_int_equal(want_at[2], 2 * LEN + 35);
    assert_int_equal(want_at[3], 3 * LEN + 36);
    ASSERT_OK(nncl_graph_backward(g, y, up, sizeof up));
    ASSERT_OK(nncl_graph_read_grad(g, in, dx, sizeof dx));
    for (int i = 0; i < PLANES * LEN; i++) {
        float want = want_at[i / LEN] == i ? up[i / LEN] : 0.0f;
        if (dx[i] != want) fail_msg("dx[%d] = %g, expected %g", i, dx[i], want);
    }
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_pool_hand_worked),
        cmocka_unit_test(test_max_pool_nan_and_ties),
        cmocka_unit_test(test_global_max_pool_nan_and_ties),
        cmocka_unit_test(test_pool_against_reference),
        cmocka_unit_test(test_adaptive_pool_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
