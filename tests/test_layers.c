/* The non-spatial ops: activations, linear, flatten/reshape, add, concat,
 * softmax and cross-entropy against host references and finite
 * differences; a residual block whose input feeds two consumers (gradients
 * must add); and dropout's statistics, scaling and reproducibility. */
#include "harness.h"
#include "ref/ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t numel_of(nncl_shape s) {
    return nncl_shape_numel(s);
}

/* ---- activations */

typedef struct act_case {
    ref_act kind;
    double alpha, beta;
    nncl_shape x;
    double scale; /* inputs span [-2 scale, 2 scale] */
    double shift; /* then move by this (log, sqrt, reciprocal: into their domain) */
} act_case;

static nncl_node *build_act(nncl_graph *g, nncl_node **in, nncl_node *labels, const void *cfg) {
    (void)labels;
    const act_case *c = cfg;
    nncl_node *shifted =
        c->shift != 0 ? nncl_scale(g, in[0], 1.0f, (float)c->shift, "shift") : NULL;
    nncl_node **x = shifted ? &shifted : in;
    switch (c->kind) {
    case REF_RELU:
        return nncl_relu(g, x[0], NULL);
    case REF_LEAKY_RELU:
        return nncl_leaky_relu(g, x[0], (float)c->alpha, NULL);
    case REF_SIGMOID:
        return nncl_sigmoid(g, x[0], NULL);
    case REF_TANH:
        return nncl_tanh(g, x[0], NULL);
    case REF_GELU:
    case REF_GELU_TANH:
        return nncl_gelu(g, x[0], c->kind == REF_GELU_TANH, NULL);
    case REF_SILU:
        return nncl_silu(g, x[0], NULL);
    case REF_SOFTPLUS:
        return nncl_softplus(g, x[0], (float)c->alpha, (float)c->beta, NULL);
    case REF_RELU6:
        return nncl_relu6(g, x[0], NULL);
    case REF_HARDSIGMOID:
        return nncl_hardsigmoid(g, x[0], NULL);
    case REF_HARDSWISH:
        return nncl_hardswish(g, x[0], NULL);
    case REF_SELU:
        return nncl_selu(g, x[0], (float)c->alpha, (float)c->beta, NULL);
    case REF_CLAMP:
        return nncl_clamp(g, x[0], (float)c->alpha, (float)c->beta, NULL);
    case REF_ABS:
        return nncl_abs(g, x[0], NULL);
    case REF_NEG:
        return nncl_neg(g, x[0], NULL);
    case REF_EXP:
        return nncl_exp(g, x[0], NULL);
    case REF_LOG:
        return nncl_log(g, x[0], NULL);
    case REF_SQRT:
        return nncl_sqrt(g, x[0], NULL);
    case REF_RECIPROCAL:
        return nncl_reciprocal(g, x[0], NULL);
    case REF_ERF:
        return nncl_erf(g, x[0], NULL);
    default:
        return nncl_elu(g, x[0], (float)c->alpha, NULL);
    }
}

static void ref_act_case(const double *const *x, const double *const *params, const int32_t *labels,
                         double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const act_case *c = cfg;
    int64_t n = numel_of(c->x);
    double *shifted = malloc((size_t)n * sizeof *shifted);
    assert_non_null(shifted);
    for (int64_t i = 0; i < n; i++)
        shifted[i] = x[0][i] + c->shift;
    ref_activation(shifted, n, c->kind, c->alpha, c->beta, y);
    free(shifted);
}

static void test_activations(void **state) {
    (void)state;
    static const act_case cases[] = {
        {REF_RELU, 0, 0, NNCL_SHAPE(2, 3, 5), 1, 0},
        {REF_LEAKY_RELU, 0.2, 0, NNCL_SHAPE(3, 7), 1, 0},
        {REF_SIGMOID, 0, 0, NNCL_SHAPE(2, 2, 3, 3), 1, 0},
        {REF_TANH, 0, 0, NNCL_SHAPE(1, 2, 2, 3, 2), 1, 0},
        {REF_ELU, 1.0, 0, NNCL_SHAPE(4, 9), 1, 0},
        {REF_ELU, 0.5, 0, NNCL_SHAPE(2, 3, 4), 1, 0},
        {REF_GELU, 0, 0, NNCL_SHAPE(2, 3, 7), 2, 0},
        {REF_GELU_TANH, 0, 0, NNCL_SHAPE(2, 3, 7), 2, 0},
        {REF_SILU, 0, 0, NNCL_SHAPE(4, 11), 3, 0},
        {REF_SOFTPLUS, 1, 20, NNCL_SHAPE(4, 11), 3, 0},
        {REF_SOFTPLUS, 2, 2.5, NNCL_SHAPE(4, 11), 2, 0}, /* both sides of the threshold */
        {REF_RELU6, 0, 0, NNCL_SHAPE(5, 13), 4, 0},      /* both kinks */
        {REF_HARDSIGMOID, 0, 0, NNCL_SHAPE(5, 13), 2.5, 0},
        {REF_HARDSWISH, 0, 0, NNCL_SHAPE(5, 13), 2.5, 0},
        {REF_SELU, 1.6732632423543772, 1.0507009873554805, NNCL_SHAPE(4, 9), 1, 0},
        {REF_SELU, 2, 3, NNCL_SHAPE(2, 7), 1, 0},
        {REF_CLAMP, -1.2, 0.7, NNCL_SHAPE(5, 13), 1, 0},
        {REF_CLAMP, -INFINITY, 0.7, NNCL_SHAPE(3, 7), 1, 0},
        {REF_CLAMP, 0.5, -0.5, NNCL_SHAPE(3, 7), 1, 0}, /* min > max: max everywhere */
        {REF_ABS, 0, 0, NNCL_SHAPE(2, 3, 5), 1, 0},
        {REF_NEG, 0, 0, NNCL_SHAPE(2, 3, 5), 1, 0},
        {REF_EXP, 0, 0, NNCL_SHAPE(2, 3, 5), 1, 0},
        {REF_LOG, 0, 0, NNCL_SHAPE(2, 3, 5), 1, 2.5},
        {REF_SQRT, 0, 0, NNCL_SHAPE(2, 3, 5), 1, 2.5},
        {REF_RECIPROCAL, 0, 0, NNCL_SHAPE(2, 3, 5), 1, 2.5},
        {REF_ERF, 0, 0, NNCL_SHAPE(2, 3, 5), 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "activation case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_act,
                      .ref = ref_act_case,
                      .cfg = &cases[i],
                      .input_scale = cases[i].scale};
        check_op(&c);
    }
}

/* A convolution with a bias applies the activation after it in its last
 * pass (fusion): each kind, also those whose backward reads their input. */
static nncl_node *build_conv_act(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    nncl_node *h = nncl_conv(
        g, x[0], &(nncl_conv_params){.out_channels = 3, .kernel = {3}, .padding = {1}}, "conv");
    return build_act(g, &h, labels, cfg);
}

static void ref_conv_act(const double *const *x, const double *const *params, const int32_t *labels,
                         double *y, const void *cfg) {
    (void)labels;
    const act_case *c = cfg;
    ref_window w = {.spatial = 1,
                    .in = {6},
                    .kernel = {3},
                    .stride = {1},
                    .pad_begin = {1},
                    .pad_end = {1},
                    .dilation = {1}};
    assert_true(ref_window_out(&w));
    double h[2 * 3 * 6];
    ref_conv(x[0], params[0], params[1], 2, 2, 3, 1, &w, h);
    ref_activation(h, 2 * 3 * 6, c->kind, c->alpha, c->beta, y);
}

static void test_fused_activations(void **state) {
    (void)state;
    static const act_case cases[] = {
        {REF_GELU, 0, 0, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_GELU_TANH, 0, 0, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_SILU, 0, 0, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_SOFTPLUS, 1, 20, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_RELU6, 0, 0, NNCL_SHAPE(2, 2, 6), 3, 0},
        {REF_HARDSIGMOID, 0, 0, NNCL_SHAPE(2, 2, 6), 3, 0},
        {REF_HARDSWISH, 0, 0, NNCL_SHAPE(2, 2, 6), 3, 0},
        {REF_ELU, -0.5, 0, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_SELU, 1.6732632423543772, 1.0507009873554805, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_CLAMP, -0.3, 0.4, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_ABS, 0, 0, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_EXP, 0, 0, NNCL_SHAPE(2, 2, 6), 1, 0},
        {REF_ERF, 0, 0, NNCL_SHAPE(2, 2, 6), 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "conv + activation case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_conv_act,
                      .ref = ref_conv_act,
                      .cfg = &cases[i],
                      .input_scale = cases[i].scale};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    assert_null(nncl_softplus(g, nncl_input(g, "x", NNCL_SHAPE(2, 3)), -1.0f, 0.0f, "sp"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_graph_error(g), "op 'softplus' node 'sp'");
    assert_contains(nncl_graph_error(g), "beta -1 and threshold 0 must be >= 0");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    assert_null(nncl_clamp(g, nncl_input(g, "x", NNCL_SHAPE(2, 3)), NAN, 1.0f, "c"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_graph_error(g), "op 'clamp' node 'c'");
    assert_contains(nncl_graph_error(g), "constants nan and 1 must be numbers");
    nncl_graph_destroy(g);
}

/* ---- PReLU and maxout */

typedef struct prelu_case {
    nncl_shape x;
    int64_t slopes;
} prelu_case;

static nncl_node *build_prelu(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    return nncl_prelu(g, x[0], ((const prelu_case *)cfg)->slopes, 0.25f, "act");
}

static void ref_prelu_case(const double *const *x, const double *const *params,
                           const int32_t *labels, double *y, const void *cfg) {
    (void)labels;
    const prelu_case *c = cfg;
    int64_t n = numel_of(c->x),
            inner = c->x.rank > 2 ? numel_of(c->x) / c->x.dims[0] / c->x.dims[1] : 1;
    for (int64_t i = 0; i < n; i++) {
        double a = params[0][c->slopes == 1 ? 0 : (i / inner) % c->x.dims[1]];
        y[i] = x[0][i] > 0 ? x[0][i] : a * x[0][i];
    }
}

static void test_prelu(void **state) {
    (void)state;
    static const prelu_case cases[] = {
        {NNCL_SHAPE(2, 3, 5), 3},
        {NNCL_SHAPE(3, 4, 2, 3), 1},
        {NNCL_SHAPE(5, 6), 6},
        {NNCL_SHAPE(2, 2, 2, 2, 3), 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "prelu case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_prelu,
                      .ref = ref_prelu_case,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 4, 3));
    nncl_node *a = nncl_prelu(g, x, 0, 0.1f, "a");
    float slope;
    ASSERT_OK(nncl_graph_param_read(g, "a.weight", &slope, sizeof slope));
    assert_true(slope == 0.1f && nncl_graph_trainable_count(g) == 1);
    assert_null(nncl_prelu(g, a, 3, 0.25f, "b"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "op 'prelu' node 'b'");
    assert_contains(nncl_graph_error(g), "num_parameters 3 must be 1 or the channels (dim 1) of "
                                         "input [2, 4, 3]");
    nncl_graph_destroy(g);
}

typedef struct maxout_case {
    nncl_shape x;
    int64_t k;
} maxout_case;

static nncl_node *build_maxout(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    return nncl_maxout(g, x[0], ((const maxout_case *)cfg)->k, "mo");
}

static void ref_maxout_case(const double *const *x, const double *const *params,
                            const int32_t *labels, double *y, const void *cfg) {
    (void)labels;
    (void)params;
    const maxout_case *c = cfg;
    int64_t n = c->x.dims[0], ch = c->x.dims[1], inner = numel_of(c->x) / n / ch;
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < ch / c->k; j++)
            for (int64_t p = 0; p < inner; p++) {
                double best = -1e300;
                for (int64_t i = 0; i < c->k; i++) {
                    double v = x[0][(s * ch + j * c->k + i) * inner + p];
                    if (v > best) best = v;
                }
                y[(s * (ch / c->k) + j) * inner + p] = best;
            }
}

static void test_maxout(void **state) {
    (void)state;
    static const maxout_case cases[] = {
        {NNCL_SHAPE(2, 6, 5), 3},
        {NNCL_SHAPE(3, 8), 2}, /* maxout after a linear layer */
        {NNCL_SHAPE(2, 4, 3, 3), 4},
        {NNCL_SHAPE(1, 6, 2, 2, 3), 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "maxout case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_maxout,
                      .ref = ref_maxout_case,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 6, 3));
    assert_null(nncl_maxout(g, x, 4, "m4"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g),
                    "op 'maxout' node 'm4' (node 1): input [2, 6, 3]: channels 6 must be a "
                    "multiple of k 4");
    nncl_graph_destroy(g);
}

/* ---- linear */

typedef struct linear_case {
    nncl_shape x;
    int64_t out;
    bool no_bias;
} linear_case;

static nncl_node *build_linear(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const linear_case *c = cfg;
    return nncl_linear(g, x[0], c->out, &(nncl_linear_params){.no_bias = c->no_bias}, "fc");
}

static void ref_linear_case(const double *const *x, const double *const *params,
                            const int32_t *labels, double *y, const void *cfg) {
    (void)labels;
    const linear_case *c = cfg;
    int64_t in = c->x.dims[c->x.rank - 1];
    ref_linear(x[0], params[0], c->no_bias ? NULL : params[1], numel_of(c->x) / in, in, c->out, y);
}

static void test_linear(void **state) {
    (void)state;
    static const linear_case cases[] = {
        {NNCL_SHAPE(4, 7), 5, false},
        {NNCL_SHAPE(1, 12), 3, true},
        {NNCL_SHAPE(2, 3, 6), 4, false},
        /* Past the packed GEMM's 6 x 16 tiles, both ways round (C or C^T). */
        {NNCL_SHAPE(9, 20), 18, false},
        {NNCL_SHAPE(3, 17), 35, false},
        {NNCL_SHAPE(20, 60), 40, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "linear case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_linear,
                      .ref = ref_linear_case,
                      .cfg = &cases[i]};
        check_op(&c);
    }
}

/* ---- shape ops, add, concat: their references are plain copies. */

static void ref_identity(const double *const *x, const double *const *params, const int32_t *labels,
                         double *y, const void *cfg) {
    (void)params;
    (void)labels;
    memcpy(y, x[0], (size_t)numel_of(*(const nncl_shape *)cfg) * sizeof(double));
}

static nncl_node *build_flatten_relu(nncl_graph *g, nncl_node **x, nncl_node *labels,
                                     const void *cfg) {
    (void)labels;
    (void)cfg;
    return nncl_flatten(g, x[0], NULL);
}

static nncl_node *build_reshape(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    (void)cfg;
    return nncl_reshape(g, x[0], NNCL_SHAPE(3, -1, 2), NULL);
}

static void test_flatten_and_reshape(void **state) {
    (void)state;
    nncl_shape s = NNCL_SHAPE(2, 3, 4, 2);
    op_check c = {.label = "flatten",
                  .n_inputs = 1,
                  .inputs = {s},
                  .build = build_flatten_relu,
                  .ref = ref_identity,
                  .cfg = &s};
    check_op(&c);
    c.label = "reshape";
    c.build = build_reshape;
    check_op(&c);

    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", s);
    assert_int_equal(nncl_node_shape(nncl_flatten(g, x, NULL)).dims[1], 24);
    nncl_shape r = nncl_node_shape(nncl_reshape(g, x, NNCL_SHAPE(-1, 8), NULL));
    assert_int_equal(r.rank, 2);
    assert_int_equal(r.dims[0], 6);
    nncl_graph_destroy(g);
}

static nncl_node *build_add(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    (void)cfg;
    return nncl_add(g, x[0], x[1], NULL);
}

static void ref_add(const double *const *x, const double *const *params, const int32_t *labels,
                    double *y, const void *cfg) {
    (void)params;
    (void)labels;
    int64_t n = numel_of(*(const nncl_shape *)cfg);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[0][i] + x[1][i];
}

typedef struct concat_case {
    nncl_shape x[3];
    int count;
} concat_case;

static nncl_node *build_concat(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    return nncl_concat(g, x, ((const concat_case *)cfg)->count, "cat");
}

static void ref_concat(const double *const *x, const double *const *params, const int32_t *labels,
                       double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const concat_case *c = cfg;
    int64_t batch = c->x[0].dims[0], row = 0;
    for (int k = 0; k < c->count; k++)
        row += numel_of(c->x[k]) / batch;
    for (int64_t n = 0; n < batch; n++) {
        int64_t at = n * row;
        for (int k = 0; k < c->count; k++) {
            int64_t cols = numel_of(c->x[k]) / batch;
            memcpy(y + at, x[k] + n * cols, (size_t)cols * sizeof(double));
            at += cols;
        }
    }
}

static void test_add_and_concat(void **state) {
    (void)state;
    nncl_shape s = NNCL_SHAPE(2, 3, 4);
    op_check c = {.label = "add",
                  .n_inputs = 2,
                  .inputs = {s, s},
                  .build = build_add,
                  .ref = ref_add,
                  .cfg = &s};
    check_op(&c);
    static const concat_case cases[] = {
        {{NNCL_SHAPE(2, 3, 4), NNCL_SHAPE(2, 1, 4), NNCL_SHAPE(2, 2, 4)}, 3},
        {{NNCL_SHAPE(1, 2, 3, 3), NNCL_SHAPE(1, 4, 3, 3)}, 2},
        {{NNCL_SHAPE(3, 2, 2, 2, 2), NNCL_SHAPE(3, 1, 2, 2, 2)}, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "concat case %zu", i);
        op_check cc = {.label = label,
                       .n_inputs = cases[i].count,
                       .build = build_concat,
                       .ref = ref_concat,
                       .cfg = &cases[i]};
        for (int k = 0; k < cases[i].count; k++)
            cc.inputs[k] = cases[i].x[k];
        check_op(&cc);
    }
}

/* y = relu(bn(conv(x))) + x, then tanh(y) * 1 and y both reach the output
 * through a second add: x and y each feed two consumers, so their gradients
 * are sums. Checked against finite differences of the composed reference. */
static nncl_node *build_residual(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    (void)cfg;
    nncl_node *h =
        nncl_conv(g, x[0],
                  &(nncl_conv_params){
                      .out_channels = 2, .kernel = {3, 3}, .padding = {1, 1}, .no_bias = true},
                  "conv");
    nncl_node *y = nncl_add(g, nncl_relu(g, h, NULL), x[0], NULL);
    return nncl_add(g, nncl_tanh(g, y, NULL), y, NULL);
}

static void ref_residual(const double *const *x, const double *const *params, const int32_t *labels,
                         double *y, const void *cfg) {
    (void)labels;
    (void)cfg;
    ref_window w = {.spatial = 2,
                    .in = {4, 5},
                    .kernel = {3, 3},
                    .stride = {1, 1},
                    .pad_begin = {1, 1},
                    .pad_end = {1, 1},
                    .dilation = {1, 1}};
    assert_true(ref_window_out(&w));
    double h[80], r[80], t[80];
    ref_conv(x[0], params[0], NULL, 2, 2, 2, 1, &w, h);
    ref_activation(h, 80, REF_RELU, 0, 0, r);
    for (int i = 0; i < 80; i++)
        r[i] += x[0][i];
    ref_activation(r, 80, REF_TANH, 0, 0, t);
    for (int i = 0; i < 80; i++)
        y[i] = t[i] + r[i];
}

static void test_residual_gradients_add_up(void **state) {
    (void)state;
    op_check c = {.label = "residual",
                  .n_inputs = 1,
                  .inputs = {NNCL_SHAPE(2, 2, 4, 5)},
                  .build = build_residual,
                  .ref = ref_residual};
    check_op(&c);
}

/* ---- softmax and cross-entropy */

static nncl_node *build_softmax(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    (void)cfg;
    return nncl_softmax(g, x[0], NULL);
}

static void ref_softmax_case(const double *const *x, const double *const *params,
                             const int32_t *labels, double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const nncl_shape *s = cfg;
    ref_softmax(x[0], s->dims[0], s->dims[1], numel_of(*s) / (s->dims[0] * s->dims[1]), y);
}

static nncl_node *build_ce(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)cfg;
    return nncl_cross_entropy(g, x[0], labels, NULL, "loss");
}

static void ref_ce_case(const double *const *x, const double *const *params, const int32_t *labels,
                        double *y, const void *cfg) {
    (void)params;
    const nncl_shape *s = cfg;
    y[0] = ref_cross_entropy(x[0], labels, s->dims[0], s->dims[1]);
}

static void test_softmax_and_cross_entropy(void **state) {
    (void)state;
    static const nncl_shape shapes[] = {NNCL_SHAPE(4, 10), NNCL_SHAPE(2, 5, 3),
                                        NNCL_SHAPE(1, 3, 2, 2)};
    for (size_t i = 0; i < 3; i++) {
        op_check c = {.label = "softmax",
                      .n_inputs = 1,
                      .inputs = {shapes[i]},
                      .build = build_softmax,
                      .ref = ref_softmax_case,
                      .cfg = &shapes[i]};
        check_op(&c);
    }
    static const int32_t labels[5] = {3, 0, 9, 9, 4};
    static const nncl_shape logits = NNCL_SHAPE(5, 10);
    op_check c = {.label = "cross_entropy",
                  .n_inputs = 1,
                  .inputs = {logits},
                  .labels_batch = 5,
                  .labels = labels,
                  .build = build_ce,
                  .ref = ref_ce_case,
                  .cfg = &logits};
    check_op(&c);
}

/* ---- dropout */

static void run_dropout(nncl_graph *g, nncl_node *x, nncl_node *y, const float *in, float *out,
                        size_t n) {
    ASSERT_OK(nncl_graph_set_input(g, x, in, n * sizeof(float)));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, y, out, n * sizeof(float)));
}

/* Host argmax over dim 1 of [n, c, inner], first maximum, NaN largest. */
static int32_t host_argmax(const float *x, int c, int inner, int n, int s) {
    int32_t best = 0;
    for (int k = 1; k < c; k++) {
        float v = x[(n * c + k) * inner + s], b = x[(n * c + best) * inner + s];
        if (v > b || (isnan(v) && !isnan(b))) best = k;
    }
    return best;
}

/* Argmax and accuracy against a host reference, for class rows (with a tie
 * and a NaN) and for dense [N, C, H, W] maps; and no gradient through them:
 * a linear layer's gradient is the same with and without metrics on it. */
static void test_argmax_and_accuracy(void **state) {
    (void)state;
    static const struct {
        nncl_shape x, labels;
    } cases[] = {{{2, {5, 4}}, {1, {5}}}, {{4, {2, 3, 2, 2}}, {3, {2, 2, 2}}}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int n = (int)cases[t].x.dims[0], c = (int)cases[t].x.dims[1];
        int total = (int)nncl_shape_numel(cases[t].x), inner = total / (n * c);
        float x[40];
        int32_t labels[10], got[10];
        double xd[40];
        random_fill(xd, total, 17 + t, -1, 1);
        for (int i = 0; i < total; i++)
            x[i] = (float)xd[i];
        if (t == 0) {
            x[4] = x[5] = x[6] = x[7] = 0.5f; /* a tie: the first index wins */
            x[9] = NAN;                       /* NaN is the largest */
        }
        for (int i = 0; i < n * inner; i++)
            labels[i] = (i * 7) % c;
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *in = nncl_input(g, "x", cases[t].x);
        nncl_node *y = nncl_input_labels(g, "y", n);
        if (t == 1) { /* dense labels: an input of the label shape, as labels */
            nncl_graph_destroy(g);
            ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
            in = nncl_input(g, "x", cases[t].x);
            y = nncl_argmax(g, nncl_input(g, "ref", cases[t].x), "y");
        }
        nncl_node *am = nncl_argmax(g, in, "am");
        nncl_node *acc = nncl_accuracy(g, in, y, "acc");
        assert_non_null(acc);
        ASSERT_OK(nncl_graph_set_input(g, in, x, (size_t)total * sizeof(float)));
        float ref[40];
        int32_t want[10];
        int right = 0;
        if (t == 0) {
            ASSERT_OK(nncl_graph_set_input(g, y, labels, (size_t)n * sizeof(int32_t)));
        } else { /* labels from the argmax of another map */
            double rd[40];
            random_fill(rd, total, 99, -1, 1);
            for (int i = 0; i < total; i++)
                ref[i] = (float)rd[i];
            ASSERT_OK(nncl_graph_set_input(g, nncl_graph_node(g, "ref"), ref,
                                           (size_t)total * sizeof(float)));
            for (int s = 0; s < n * inner; s++)
                labels[s] = host_argmax(ref, c, inner, s / inner, s % inner);
        }
        ASSERT_OK(nncl_graph_forward(g));
        ASSERT_OK(nncl_graph_read_labels(g, am, got, (size_t)(n * inner) * sizeof(int32_t)));
        for (int s = 0; s < n * inner; s++) {
            want[s] = host_argmax(x, c, inner, s / inner, s % inner);
            right += want[s] == labels[s];
            if (got[s] != want[s])
                fail_msg("case %zu position %d: argmax %d, want %d", t, s, got[s], want[s]);
        }
        if (t == 0) assert_int_equal(got[1], 0);
        if (t == 0) assert_int_equal(got[2], 1);
        float a;
        ASSERT_OK(nncl_graph_read(g, acc, &a, sizeof a));
        assert_float_equal(a, (float)right / (float)(n * inner), 1e-6);
        nncl_graph_destroy(g);
    }
    /* No gradient through the metrics. */
    float grads[2][12];
    for (int with = 0; with < 2; with++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 4}, &g));
        nncl_node *in = nncl_input(g, "x", NNCL_SHAPE(2, 4));
        nncl_node *y = nncl_input_labels(g, "y", 2);
        nncl_node *logits = nncl_linear(g, in, 3, NULL, "fc");
        if (with) assert_non_null(nncl_accuracy(g, logits, y, "acc"));
        nncl_node *loss = nncl_cross_entropy(g, logits, y, NULL, "loss");
        if (with) assert_non_null(nncl_argmax(g, logits, "am"));
        float x[8] = {1, -2, 3, 0.5f, -1, 2, 0, 1};
        int32_t l[2] = {2, 0};
        ASSERT_OK(nncl_graph_set_input(g, in, x, sizeof x));
        ASSERT_OK(nncl_graph_set_input(g, y, l, sizeof l));
        ASSERT_OK(nncl_graph_zero_grad(g));
        ASSERT_OK(nncl_graph_forward(g));
        ASSERT_OK(nncl_graph_backward(g, loss, NULL, 0));
        ASSERT_OK(nncl_graph_grad_read(g, "fc.weight", grads[with], sizeof grads[with]));
        nncl_graph_destroy(g);
    }
    assert_memory_equal(grads[0], grads[1], sizeof grads[0]);
}

/* One-hot labels [N, C, ...] against the host; labels outside [0, C) give
 * zeros; features or a zero class count are refused. */
static void test_one_hot(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *y = nncl_input_labels_nd(g, "y", NNCL_SHAPE(2, 3));
    nncl_node *oh = nncl_one_hot(g, y, 4, "one_hot");
    assert_non_null(oh);
    nncl_shape s = nncl_node_shape(oh);
    assert_int_equal(s.rank, 3);
    assert_true(s.dims[0] == 2 && s.dims[1] == 4 && s.dims[2] == 3);
    int32_t labels[6] = {0, 3, -1, 2, 4, 1};
    ASSERT_OK(nncl_graph_set_input(g, y, labels, sizeof labels));
    float have[24];
    ASSERT_OK(nncl_graph_infer(g, oh, have, sizeof have));
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 4; c++)
            for (int p = 0; p < 3; p++)
                assert_float_equal(have[(n * 4 + c) * 3 + p], labels[n * 3 + p] == c ? 1 : 0, 0);
    assert_null(nncl_one_hot(g, nncl_input(g, "x", NNCL_SHAPE(2, 3)), 4, "bad"));
    assert_contains(nncl_graph_error(g), "op 'one_hot' node 'bad'");
    assert_contains(nncl_graph_error(g), "must be labels");
    nncl_graph_destroy(g);
}

static void test_dropout(void **state) {
    (void)state;
    enum { N = 20000 };
    const float p = 0.3f;
    float *in = malloc(N * sizeof(float)), *a = malloc(N * sizeof(float)),
          *b = malloc(N * sizeof(float)), *dx = malloc(N * sizeof(float)),
          *dy = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        in[i] = 1.0f + (float)(i % 7);
        dy[i] = (float)(i % 5) - 2.0f;
    }
    float *runs[2] = {a, b};
    for (int run = 0; run < 2; run++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), &(nncl_graph_options){.seed = 9}, &g));
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(4, N / 4));
        ASSERT_OK(nncl_input_set_requires_grad(g, x, true));
        nncl_node *y = nncl_dropout(g, x, p, "drop");
        run_dropout(g, x, y, in, runs[run], N);
        if (run == 0) {
            /* Each element is dropped or scaled by 1 / (1 - p); about p dropped. */
            int dropped = 0;
            for (int i = 0; i < N; i++) {
                if (a[i] == 0.0f)
                    dropped++;
                else
                    assert_float_equal(a[i], in[i] / (1.0f - p), 1e-5);
            }
            double frac = (double)dropped / N;
            assert_true(fabs(frac - p) < 0.015);
            /* Backward uses the same mask. */
            ASSERT_OK(nncl_graph_backward(g, y, dy, N * sizeof(float)));
            ASSERT_OK(nncl_graph_read_grad(g, x, dx, N * sizeof(float)));
            for (int i = 0; i < N; i++)
                assert_float_equal(dx[i], a[i] == 0.0f ? 0.0f : dy[i] / (1.0f - p), 1e-5);
            /* A second step draws a new mask. */
            float *c = malloc(N * sizeof(float));
            run_dropout(g, x, y, in, c, N);
            assert_true(memcmp(a, c, N * sizeof(float)) != 0);
            free(c);
            /* Eval mode is the identity. */
            nncl_graph_set_training(g, false);
            float *e = malloc(N * sizeof(float));
            run_dropout(g, x, y, in, e, N);
            assert_memory_equal(e, in, N * sizeof(float));
            free(e);
        }
        nncl_graph_destroy(g);
    }
    /* Same seed, same first mask. */
    assert_memory_equal(a, b, N * sizeof(float));
    free(in);
    free(a);
    free(b);
    free(dx);
    free(dy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_fused_activations),
        cmocka_unit_test(test_prelu),
        cmocka_unit_test(test_maxout),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_flatten_and_reshape),
        cmocka_unit_test(test_add_and_concat),
        cmocka_unit_test(test_residual_gradients_add_up),
        cmocka_unit_test(test_softmax_and_cross_entropy),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_argmax_and_accuracy),
        cmocka_unit_test(test_one_hot),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
