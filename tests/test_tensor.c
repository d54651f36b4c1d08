/* Tensor primitives: permute and transpose, broadcasting arithmetic, the
 * scalar map, matmul with broadcast batches, reductions over chosen dims
 * and softmax over any dim, each against a host reference and finite
 * differences; learnable tensors; embedding lookup and its weight gradient
 * (ids repeated, the padding row left alone) against host sums; bad
 * arguments. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t numel(nncl_shape s) {
    int64_t n = 1;
    for (int32_t i = 0; i < s.rank; i++)
        n *= s.dims[i];
    return n;
}

typedef struct permute_case {
    nncl_shape x;
    int32_t dims[NNCL_MAX_RANK];
    bool transpose; /* dims[0], dims[1] are transpose's */
} permute_case;

static nncl_node *build_permute(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const permute_case *c = cfg;
    return c->transpose ? nncl_transpose(g, x[0], c->dims[0], c->dims[1], "p")
                        : nncl_permute(g, x[0], c->dims, "p");
}

static void ref_permute(const double *const *x, const double *const *params, const int32_t *labels,
                        double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const permute_case *c = cfg;
    int32_t rank = c->x.rank, perm[NNCL_MAX_RANK];
    for (int32_t k = 0; k < rank; k++)
        perm[k] = k;
    if (c->transpose) {
        int32_t a = (c->dims[0] + rank) % rank, b = (c->dims[1] + rank) % rank;
        perm[a] = b;
        perm[b] = a;
    } else {
        for (int32_t k = 0; k < rank; k++)
            perm[k] = (c->dims[k] + rank) % rank;
    }
    int64_t total = numel(c->x), out_dims[NNCL_MAX_RANK];
    for (int32_t k = 0; k < rank; k++)
        out_dims[k] = c->x.dims[perm[k]];
    for (int64_t i = 0; i < total; i++) {
        int64_t rest = i, coord[NNCL_MAX_RANK], src[NNCL_MAX_RANK], at = 0;
        for (int32_t k = rank - 1; k >= 0; k--) {
            coord[k] = rest % out_dims[k];
            rest /= out_dims[k];
        }
        for (int32_t k = 0; k < rank; k++)
            src[perm[k]] = coord[k];
        for (int32_t k = 0; k < rank; k++)
            at = at * c->x.dims[k] + src[k];
        y[i] = x[0][at];
    }
}

static void test_permute_against_reference(void **state) {
    (void)state;
    static const permute_case cases[] = {
        {NNCL_SHAPE(3, 5), {1, 0}, false},
        {NNCL_SHAPE(2, 7, 4), {0, 2, 1}, false}, /* TextCNN's [N, L, E] -> [N, E, L] */
        {NNCL_SHAPE(2, 3, 4, 5), {0, 2, 3, 1}, false},
        {NNCL_SHAPE(2, 3, 2, 4, 3), {4, 0, 3, 1, 2}, false},
        {NNCL_SHAPE(2, 3, 4), {-1, -2}, true},
        {NNCL_SHAPE(2, 3, 4, 2), {1, 3}, true},
        {NNCL_SHAPE(6), {0}, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "permute case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_permute,
                      .ref = ref_permute,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 4));
    assert_null(nncl_permute(g, x, (const int32_t[]){0, 2, 2}, "p"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_graph_error(g), "op 'permute' node 'p'");
    assert_contains(nncl_graph_error(g), "dims[2] = 2: dims must name each dim of input [2, 3, 4]");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 4));
    assert_null(nncl_transpose(g, x, 0, 3, "t"));
    assert_contains(nncl_graph_error(g), "op 'transpose' node 't'");
    assert_contains(nncl_graph_error(g), "dims 0 and 3 must be dims of input [2, 3, 4]");
    nncl_graph_destroy(g);
}

/* Coordinates of flat index i over shape s (row-major). */
static void coords_of(int64_t i, nncl_shape s, int64_t *c) {
    for (int32_t k = s.rank - 1; k >= 0; k--) {
        c[k] = i % s.dims[k];
        i /= s.dims[k];
    }
}

/* Flat index into operand shape o of output coordinates c (rank r),
 * broadcasting. */
static int64_t broadcast_index(const int64_t *c, int32_t r, nncl_shape o) {
    int64_t at = 0;
    for (int32_t k = 0; k < o.rank; k++) {
        int64_t ck = c[k + r - o.rank];
        at = at * o.dims[k] + (o.dims[k] == 1 ? 0 : ck);
    }
    return at;
}

typedef struct binary_case {
    int op; /* 0 add, 1 sub, 2 mul, 3 div, 4 pow (of a + 3, kept positive), 5 maximum, 6 minimum */
    nncl_shape a, b, y;
} binary_case;

static nncl_node *build_binary(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    switch (((const binary_case *)cfg)->op) {
    case 0:
        return nncl_add(g, x[0], x[1], "op");
    case 1:
        return nncl_sub(g, x[0], x[1], "op");
    case 2:
        return nncl_mul(g, x[0], x[1], "op");
    case 3:
        return nncl_div(g, x[0], x[1], "op");
    case 4:
        return nncl_pow(g, nncl_scale(g, x[0], 1.0f, 3.0f, "a3"), x[1], "op");
    case 5:
        return nncl_maximum(g, x[0], x[1], "op");
    default:
        return nncl_minimum(g, x[0], x[1], "op");
    }
}

static void ref_binary(const double *const *x, const double *const *params, const int32_t *labels,
                       double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const binary_case *c = cfg;
    for (int64_t i = 0; i < numel(c->y); i++) {
        int64_t co[NNCL_MAX_RANK];
        coords_of(i, c->y, co);
        double a = x[0][broadcast_index(co, c->y.rank, c->a)];
        double b = x[1][broadcast_index(co, c->y.rank, c->b)];
        double ops[] = {a + b, a - b, a * b, a / b, pow(a + 3, b), fmax(a, b), fmin(a, b)};
        y[i] = ops[c->op];
    }
}

/* x + x, or x + (x + x): add's backward copies dY into each input's
 * gradient, the second copy into the same gradient adding to the first. */
/* Sums where one input's gradient gets several contributions. */
typedef enum self_sum { TWICE, THRICE, RELU_PLUS } self_sum;

static nncl_node *build_self_add(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    switch (*(const self_sum *)cfg) {
    case TWICE:
        return nncl_add(g, x[0], x[0], "outer");
    case THRICE:
        return nncl_add(g, x[0], nncl_add(g, x[0], x[0], "inner"), "outer");
    default: /* add's copy first, then ReLU's backward adds onto it */
        return nncl_add(g, nncl_relu(g, x[0], "relu"), x[0], "outer");
    }
}

static void ref_self_add(const double *const *x, const double *const *params, const int32_t *labels,
                         double *y, const void *cfg) {
    (void)params, (void)labels;
    self_sum how = *(const self_sum *)cfg;
    for (int i = 0; i < 15; i++)
        y[i] = how == RELU_PLUS ? (x[0][i] > 0 ? x[0][i] : 0) + x[0][i]
                                : (how == THRICE ? 3 : 2) * x[0][i];
}

static void test_gradients_add_up(void **state) {
    (void)state;
    /* 15 values: whole vectors and a tail at every vector width. */
    static const self_sum sums[] = {TWICE, THRICE, RELU_PLUS};
    static const char *const labels[] = {"x + x", "x + (x + x)", "relu(x) + x"};
    for (int i = 0; i < 3; i++) {
        op_check c = {.label = labels[i],
                      .n_inputs = 1,
                      .inputs = {NNCL_SHAPE(3, 5)},
                      .build = build_self_add,
                      .ref = ref_self_add,
                      .cfg = &sums[i]};
        check_op(&c);
    }
}

static void test_broadcasting_arithmetic(void **state) {
    (void)state;
    static const binary_case cases[] = {
        {0, NNCL_SHAPE(2, 3, 4), NNCL_SHAPE(3, 1), NNCL_SHAPE(2, 3, 4)},
        {1, NNCL_SHAPE(2, 1, 4), NNCL_SHAPE(2, 3, 1), NNCL_SHAPE(2, 3, 4)},
        {2, NNCL_SHAPE(2, 4, 3, 3), NNCL_SHAPE(1, 4, 1, 1), NNCL_SHAPE(2, 4, 3, 3)}, /* gating */
        {2, NNCL_SHAPE(3, 5), NNCL_SHAPE(3, 5), NNCL_SHAPE(3, 5)},
        {3, NNCL_SHAPE(2, 3, 4), NNCL_SHAPE(4), NNCL_SHAPE(2, 3, 4)},
        {3, NNCL_SHAPE(1), NNCL_SHAPE(2, 3), NNCL_SHAPE(2, 3)},
        {1, NNCL_SHAPE(2, 2, 1, 3, 1), NNCL_SHAPE(2, 1, 4), NNCL_SHAPE(2, 2, 2, 3, 4)},
        {4, NNCL_SHAPE(2, 3, 4), NNCL_SHAPE(3, 1), NNCL_SHAPE(2, 3, 4)},
        {4, NNCL_SHAPE(3, 5), NNCL_SHAPE(3, 5), NNCL_SHAPE(3, 5)},
        {5, NNCL_SHAPE(2, 3, 4), NNCL_SHAPE(4), NNCL_SHAPE(2, 3, 4)},
        {5, NNCL_SHAPE(3, 5), NNCL_SHAPE(3, 5), NNCL_SHAPE(3, 5)},
        {6, NNCL_SHAPE(2, 1, 4), NNCL_SHAPE(2, 3, 1), NNCL_SHAPE(2, 3, 4)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "broadcast case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 2,
                      .inputs = {cases[i].a, cases[i].b},
                      .build = build_binary,
                      .ref = ref_binary,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *a = nncl_input(g, "a", NNCL_SHAPE(2, 3)), *b = nncl_input(g, "b", NNCL_SHAPE(4, 3));
    assert_null(nncl_mul(g, a, b, "m"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "op 'mul' node 'm'");
    assert_contains(nncl_graph_error(g), "inputs 'a' [2, 3] and 'b' [4, 3] must be features whose "
                                         "shapes broadcast");
    nncl_graph_destroy(g);
}

static nncl_node *build_scale(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    (void)cfg;
    return nncl_scale(g, x[0], -1.5f, 0.25f, "s");
}

static void ref_scale(const double *const *x, const double *const *params, const int32_t *labels,
                      double *y, const void *cfg) {
    (void)params;
    (void)labels;
    (void)cfg;
    for (int i = 0; i < 24; i++)
        y[i] = x[0][i] * -1.5 + 0.25;
}

/* A learnable tensor gated into x: y = x * p, p a parameter [3, 1]. */
static nncl_node *build_param(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    (void)cfg;
    nncl_node *p = nncl_parameter(g, "gate", NNCL_SHAPE(3, 1), NNCL_INIT_CONSTANT, 0.5f);
    return nncl_mul(g, x[0], p, "y");
}

static void ref_param(const double *const *x, const double *const *params, const int32_t *labels,
                      double *y, const void *cfg) {
    (void)labels;
    (void)cfg;
    for (int i = 0; i < 24; i++)
        y[i] = x[0][i] * params[0][(i / 4) % 3];
}

static void test_scale_and_parameter(void **state) {
    (void)state;
    op_check c = {.label = "scale",
                  .n_inputs = 1,
                  .inputs = {NNCL_SHAPE(2, 3, 4)},
                  .build = build_scale,
                  .ref = ref_scale};
    check_op(&c);
    op_check p = {.label = "parameter",
                  .n_inputs = 1,
                  .inputs = {NNCL_SHAPE(2, 3, 4)},
                  .build = build_param,
                  .ref = ref_param};
    check_op(&p);
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *q = nncl_parameter(g, "query", NNCL_SHAPE(2, 5), NNCL_INIT_CONSTANT, 0.5f);
    assert_non_null(q);
    nncl_param_info info;
    ASSERT_OK(nncl_graph_param_info(g, 0, &info));
    assert_string_equal(info.name, "query");
    assert_true(info.trainable);
    assert_null(nncl_parameter(g, "", NNCL_SHAPE(2), NNCL_INIT_ZEROS, 0));
    assert_contains(nncl_graph_error(g), "a parameter needs a name");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    assert_null(nncl_scale(g, nncl_input(g, "x", NNCL_SHAPE(2)), INFINITY, 0, "s"));
    assert_contains(nncl_graph_error(g), "op 'scale' node 's'");
    assert_contains(nncl_graph_error(g), "mul inf, add 0 finite");
    nncl_graph_destroy(g);
}

typedef struct matmul_case {
    nncl_shape a, b, y;
} matmul_case;

static nncl_node *build_matmul(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    (void)cfg;
    return nncl_matmul(g, x[0], x[1], "mm");
}

static void ref_matmul(const double *const *x, const double *const *params, const int32_t *labels,
                       double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const matmul_case *c = cfg;
    int64_t m = c->a.dims[c->a.rank - 2], k = c->a.dims[c->a.rank - 1];
    int64_t n = c->b.dims[c->b.rank - 1];
    nncl_shape batch = c->y, ab = c->a, bb = c->b;
    batch.rank -= 2;
    ab.rank -= 2;
    bb.rank -= 2;
    for (int64_t t = 0; t < numel(batch); t++) {
        int64_t co[NNCL_MAX_RANK];
        coords_of(t, batch, co);
        int64_t ia = batch.rank ? broadcast_index(co, batch.rank, ab) : 0;
        int64_t ib = batch.rank ? broadcast_index(co, batch.rank, bb) : 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t q = 0; q < k; q++)
                    s += x[0][(ia * m + i) * k + q] * x[1][(ib * k + q) * n + j];
                y[(t * m + i) * n + j] = s;
            }
    }
}

static void test_matmul(void **state) {
    (void)state;
    static const matmul_case cases[] = {
        {NNCL_SHAPE(3, 4), NNCL_SHAPE(4, 5), NNCL_SHAPE(3, 5)},
        {NNCL_SHAPE(2, 3, 4), NNCL_SHAPE(2, 4, 2), NNCL_SHAPE(2, 3, 2)},
        {NNCL_SHAPE(2, 3, 4), NNCL_SHAPE(4, 2), NNCL_SHAPE(2, 3, 2)}, /* b shared by the batch */
        {NNCL_SHAPE(2, 1, 3, 4), NNCL_SHAPE(3, 4, 2), NNCL_SHAPE(2, 3, 3, 2)},
        {NNCL_SHAPE(7, 20), NNCL_SHAPE(20, 18), NNCL_SHAPE(7, 18)}, /* past the packed tiles */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "matmul case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 2,
                      .inputs = {cases[i].a, cases[i].b},
                      .build = build_matmul,
                      .ref = ref_matmul,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *a = nncl_input(g, "a", NNCL_SHAPE(2, 3, 4)),
              *b = nncl_input(g, "b", NNCL_SHAPE(3, 2));
    assert_null(nncl_matmul(g, a, b, "mm"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "op 'matmul' node 'mm'");
    assert_contains(nncl_graph_error(g), "'a' [2, 3, 4] and 'b' [3, 2] must be [..., M, K] and "
                                         "[..., K, N]");
    nncl_graph_destroy(g);
}

typedef struct reduce_case {
    nncl_reduce_op op;
    nncl_shape x;
    int32_t dims[NNCL_MAX_RANK], n;
    bool keepdim;
} reduce_case;

static nncl_node *build_reduce(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const reduce_case *c = cfg;
    return nncl_reduce(g, x[0], c->op, c->dims, c->n, c->keepdim, "r");
}

static void ref_reduce(const double *const *x, const double *const *params, const int32_t *labels,
                       double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const reduce_case *c = cfg;
    bool gone[NNCL_MAX_RANK] = {false};
    for (int32_t i = 0; i < c->n; i++)
        gone[(c->dims[i] + c->x.rank) % c->x.rank] = true;
    if (c->n == 0)
        for (int32_t k = 0; k < c->x.rank; k++)
            gone[k] = true;
    nncl_shape kept = {.rank = 0};
    int64_t count = 1;
    for (int32_t k = 0; k < c->x.rank; k++)
        if (!gone[k])
            kept.dims[kept.rank++] = c->x.dims[k];
        else
            count *= c->x.dims[k];
    int64_t outs = numel(c->x) / count;
    for (int64_t o = 0; o < outs; o++)
        y[o] = c->op == NNCL_REDUCE_MAX ? -1e300 : 0;
    for (int64_t i = 0; i < numel(c->x); i++) {
        int64_t co[NNCL_MAX_RANK], o = 0;
        coords_of(i, c->x, co);
        for (int32_t k = 0; k < c->x.rank; k++)
            if (!gone[k]) o = o * c->x.dims[k] + co[k];
        if (c->op == NNCL_REDUCE_MAX)
            y[o] = x[0][i] > y[o] ? x[0][i] : y[o];
        else
            y[o] += x[0][i] / (c->op == NNCL_REDUCE_MEAN ? (double)count : 1.0);
    }
}

static void test_reductions(void **state) {
    (void)state;
    static const reduce_case cases[] = {
        {NNCL_REDUCE_SUM, NNCL_SHAPE(2, 3, 4), {1}, 1, false},
        {NNCL_REDUCE_MEAN, NNCL_SHAPE(2, 3, 4, 5), {2, 3}, 2, true}, /* global average */
        {NNCL_REDUCE_MAX, NNCL_SHAPE(3, 7, 4), {1}, 1, false},       /* max over time */
        {NNCL_REDUCE_SUM, NNCL_SHAPE(2, 3, 4), {0}, 0, false},       /* everything -> [1] */
        {NNCL_REDUCE_MEAN, NNCL_SHAPE(2, 3, 2, 2, 3), {-1, 0}, 2, false},
        {NNCL_REDUCE_MAX, NNCL_SHAPE(2, 5, 3), {0, 2}, 2, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "reduce case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_reduce,
                      .ref = ref_reduce,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 3, 4));
    assert_null(nncl_reduce(g, x, NNCL_REDUCE_SUM, (const int32_t[]){1, -2}, 2, false, "r"));
    assert_int_equal(nncl_graph_status(g), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_graph_error(g), "op 'sum' node 'r'");
    assert_contains(nncl_graph_error(g), "dims[1] = -2: each must be a distinct dim of input "
                                         "[2, 3, 4]");
    nncl_graph_destroy(g);
}

typedef struct softmax_case {
    nncl_shape x;
    int32_t dim;
    bool log;
} softmax_case;

static nncl_node *build_softmax(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const softmax_case *c = cfg;
    return nncl_softmax_dim(g, x[0], c->dim, c->log, "sm");
}

static void ref_softmax_dim(const double *const *x, const double *const *params,
                            const int32_t *labels, double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const softmax_case *c = cfg;
    int32_t d = (c->dim + c->x.rank) % c->x.rank;
    int64_t inner = 1, len = c->x.dims[d];
    for (int32_t k = d + 1; k < c->x.rank; k++)
        inner *= c->x.dims[k];
    for (int64_t r = 0; r < numel(c->x) / len; r++) {
        int64_t base = r / inner * len * inner + r % inner;
        double sum = 0;
        for (int64_t j = 0; j < len; j++)
            sum += exp(x[0][base + j * inner]);
        for (int64_t j = 0; j < len; j++) {
            double v = x[0][base + j * inner];
            y[base + j * inner] = c->log ? v - log(sum) : exp(v) / sum;
        }
    }
}

static void test_softmax_over_any_dim(void **state) {
    (void)state;
    static const softmax_case cases[] = {
        {NNCL_SHAPE(2, 3, 5), -1, false},
        {NNCL_SHAPE(2, 3, 5), 0, true},
        {NNCL_SHAPE(7), 0, false},
        {NNCL_SHAPE(2, 3, 2, 4), 2, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "softmax case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_softmax,
                      .ref = ref_softmax_dim,
                      .cfg = &cases[i]};
        check_op(&c);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    assert_null(nncl_softmax_dim(g, nncl_input(g, "x", NNCL_SHAPE(2, 3)), 2, false, "sm"));
    assert_contains(nncl_graph_error(g), "op 'softmax' node 'sm'");
    assert_contains(nncl_graph_error(g), "input [2, 3] must be features with a dim 2");
    nncl_graph_destroy(g);
}

typedef struct slice_case {
    nncl_shape x;
    int32_t dim;
    int64_t start, end, step;
} slice_case;

static nncl_node *build_slice(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const slice_case *c = cfg;
    return nncl_slice(g, x[0], c->dim, c->start, c->end, c->step, "sl");
}

static void ref_slice(const double *const *x, const double *const *params, const int32_t *labels,
                      double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const slice_case *c = cfg;
    int32_t d = (c->dim + c->x.rank) % c->x.rank;
    int64_t size = c->x.dims[d], lo = c->start < 0 ? c->start + size : c->start;
    int64_t hi = c->end < 0 ? c->end + size : c->end > size ? size : c->end, n = 0;
    for (int64_t i = 0; i < numel(c->x); i++) {
        int64_t co[NNCL_MAX_RANK];
        coords_of(i, c->x, co);
        if (co[d] >= lo && co[d] < hi && (co[d] - lo) % c->step == 0) y[n++] = x[0][i];
    }
}

typedef struct pad_case {
    nncl_shape x;
    int64_t pads[6];
    int32_t n;
    nncl_pad_mode mode;
} pad_case;

static nncl_node *build_pad(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    const pad_case *c = cfg;
    return nncl_pad(g, x[0], c->pads, c->n, c->mode, 0.75f, "pad");
}

static void ref_pad(const double *const *x, const double *const *params, const int32_t *labels,
                    double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const pad_case *c = cfg;
    nncl_shape out = c->x;
    int64_t before[NNCL_MAX_RANK] = {0};
    for (int32_t i = 0; i < c->n / 2; i++) {
        int32_t d = c->x.rank - 1 - i;
        before[d] = c->pads[2 * i];
        out.dims[d] += c->pads[2 * i] + c->pads[2 * i + 1];
    }
    for (int64_t o = 0; o < numel(out); o++) {
        int64_t co[NNCL_MAX_RANK], at = 0;
        bool constant = false;
        coords_of(o, out, co);
        for (int32_t k = 0; k < c->x.rank; k++) {
            int64_t v = co[k] - before[k], size = c->x.dims[k];
            if (v < 0 || v >= size) {
                if (c->mode == NNCL_PAD_CONSTANT)
                    constant = true;
                else if (c->mode == NNCL_PAD_REPLICATE)
                    v = v < 0 ? 0 : size - 1;
                else
                    v = v < 0 ? -v : 2 * (size - 1) - v;
            }
            at = at * size + v;
        }
        y[o] = constant ? 0.75 : x[0][at];
    }
}

static void test_slice_split_and_pad(void **state) {
    (void)state;
    static const slice_case slices[] = {
        {NNCL_SHAPE(2, 7, 3), 1, 2, 6, 1},
        {NNCL_SHAPE(2, 7, 3), -2, -5, 100, 2},
        {NNCL_SHAPE(4, 5), 0, 1, 4, 2},
        {NNCL_SHAPE(2, 2, 3, 4, 5), 4, 0, 5, 3},
    };
    for (size_t i = 0; i < sizeof slices / sizeof slices[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "slice case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {slices[i].x},
                      .build = build_slice,
                      .ref = ref_slice,
                      .cfg = &slices[i]};
        check_op(&c);
    }
    static const pad_case pads[] = {
        {NNCL_SHAPE(2, 3, 5), {2, 1}, 2, NNCL_PAD_CONSTANT},
        {NNCL_SHAPE(2, 3, 5), {2, 3}, 2, NNCL_PAD_REFLECT},
        {NNCL_SHAPE(2, 3, 5), {3, 0}, 2, NNCL_PAD_REPLICATE},
        {NNCL_SHAPE(1, 2, 4, 5), {1, 2, 3, 1}, 4, NNCL_PAD_REFLECT},
        {NNCL_SHAPE(1, 2, 3, 4), {2, 2, 1, 3}, 4, NNCL_PAD_REPLICATE},
        {NNCL_SHAPE(1, 1, 3, 3, 4), {1, 1, 2, 0, 1, 2}, 6, NNCL_PAD_REFLECT},
        {NNCL_SHAPE(2, 1, 2, 2, 3), {0, 2, 1, 1, 2, 1}, 6, NNCL_PAD_REPLICATE},
        {NNCL_SHAPE(2, 3, 4), {1, 0, 0, 2, 1, 1}, 6, NNCL_PAD_CONSTANT},
    };
    for (size_t i = 0; i < sizeof pads / sizeof pads[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "pad case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {pads[i].x},
                      .build = build_pad,
                      .ref = ref_pad,
                      .cfg = &pads[i]};
        check_op(&c);
    }
    /* split: the parts, named, cover the dim */
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(2, 6)), *parts[3];
    ASSERT_OK(nncl_split(g, x, 1, (const int64_t[]){1, 3, 2}, 3, parts, "part"));
    assert_int_equal(nncl_node_shape(parts[1]).dims[1], 3);
    float in[12], got[4];
    for (int i = 0; i < 12; i++)
        in[i] = (float)i;
    ASSERT_OK(nncl_graph_set_input(g, x, in, sizeof in));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, parts[2], got, 4 * sizeof(float)));
    assert_true(got[0] == 4 && got[1] == 5 && got[2] == 10 && got[3] == 11);
    assert_int_equal(nncl_split(g, x, 1, (const int64_t[]){2, 3}, 2, parts, "bad"),
                     NNCL_ERROR_SHAPE);
    assert_contains(nncl_graph_error(g), "2 sizes (each > 0) must add up to dim 1's extent");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 6));
    assert_null(nncl_slice(g, x, 1, 4, 2, 1, "sl"));
    assert_contains(nncl_graph_error(g), "op 'slice' node 'sl'");
    assert_contains(nncl_graph_error(g), "[4:2:1] along dim 1 is empty");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    x = nncl_input(g, "x", NNCL_SHAPE(2, 3));
    assert_null(nncl_pad(g, x, (const int64_t[]){3, 0}, 2, NNCL_PAD_REFLECT, 0, "p"));
    assert_contains(nncl_graph_error(g), "op 'pad' node 'p'");
    assert_contains(nncl_graph_error(g), "pads 3 and 0 of dim 1 (size 3) must be >= 0 and below "
                                         "the size (reflect)");
    nncl_graph_destroy(g);
}

/* Ids [2, 5] with repeats and the padding id 0 into a table of 7 rows of 3:
 * the output is the rows; after backward with upstream u, row v's gradient
 * is the sum of u over the positions holding v (none for row 0). */
static void test_embedding_lookup_and_gradient(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *ids = nncl_input_labels_nd(g, "ids", NNCL_SHAPE(2, 5));
    nncl_node *y = nncl_embedding(
        g, ids, 7, 3, &(nncl_embedding_params){.has_padding_idx = true, .padding_idx = 0}, "emb");
    assert_non_null(y);
    nncl_shape ys = nncl_node_shape(y);
    assert_true(ys.rank == 3 && ys.dims[0] == 2 && ys.dims[1] == 5 && ys.dims[2] == 3);
    float table[21];
    ASSERT_OK(nncl_graph_param_read(g, "emb.weight", table, sizeof table));
    assert_true(table[0] == 0 && table[1] == 0 && table[2] == 0); /* the padding row */
    assert_true(table[3] != 0 && table[20] != 0);
    for (int i = 0; i < 21; i++)
        table[i] = (float)i * 0.5f - 3.0f;
    ASSERT_OK(nncl_graph_param_write(g, "emb.weight", table, sizeof table));
    const int32_t id[10] = {3, 1, 3, 0, 6, 2, 2, 3, 0, 5};
    ASSERT_OK(nncl_graph_set_input(g, ids, id, sizeof id));
    ASSERT_OK(nncl_graph_forward(g));
    float out[30], up[30], grad[21];
    ASSERT_OK(nncl_graph_read(g, y, out, sizeof out));
    for (int p = 0; p < 10; p++)
        for (int e = 0; e < 3; e++)
            assert_true(out[p * 3 + e] == table[id[p] * 3 + e]);
    double want[21] = {0};
    for (int i = 0; i < 30; i++)
        up[i] = (float)((i * 7) % 11) - 5.0f;
    for (int p = 0; p < 10; p++)
        for (int e = 0; e < 3 && id[p] != 0; e++)
            want[id[p] * 3 + e] += up[p * 3 + e];
    ASSERT_OK(nncl_graph_zero_grad(g));
    ASSERT_OK(nncl_graph_backward(g, y, up, sizeof up));
    ASSERT_OK(nncl_graph_grad_read(g, "emb.weight", grad, sizeof grad));
    assert_close("embedding weight gradient", grad, want, 21, 0, 1e-6);
    /* An id outside the table is refused when set. */
    int32_t bad[10] = {0, 1, 2, 3, 4, 5, 6, 7, 1, 1};
    assert_int_equal(nncl_graph_set_input(g, ids, bad, sizeof bad), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "id 7 of input 'ids' is 7, outside [0, 7) for embedding "
                                       "'emb'");
    nncl_graph_destroy(g);
}

static void test_embedding_refuses_bad_arguments(void **state) {
    (void)state;
    static const struct {
        int64_t num, dim, padding;
        bool has_padding, float_input;
        const char *message;
    } cases[] = {
        {0, 4, 0, false, false, "num_embeddings 0 and embedding_dim 4 must be > 0"},
        {10, -1, 0, false, false, "embedding_dim -1"},
        {1 << 20, 1 << 12, 0, false, false, "below 2^31"},
        {10, 4, 10, true, false, "padding_idx 10 is outside [-10, 10)"},
        {10, 4, -11, true, false, "padding_idx -11"},
        {10, 4, 0, false, true, "must hold int32 ids"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *ids = cases[i].float_input ? nncl_input(g, "x", NNCL_SHAPE(2, 3))
                                              : nncl_input_labels_nd(g, "ids", NNCL_SHAPE(2, 3));
        nncl_embedding_params p = {.has_padding_idx = cases[i].has_padding,
                                   .padding_idx = cases[i].padding};
        assert_null(nncl_embedding(g, ids, cases[i].num, cases[i].dim, &p, "emb"));
        assert_contains(nncl_graph_error(g), "op 'embedding' node 'emb'");
        assert_contains(nncl_graph_error(g), cases[i].message);
        nncl_graph_destroy(g);
    }
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *ids = nncl_input_labels_nd(g, "ids", NNCL_SHAPE(2, 3));
    assert_null(nncl_embedding(g, ids, 10, 4, &(nncl_embedding_params){.max_norm = -1.0f}, "emb"));
    assert_contains(nncl_graph_error(g), "max_norm -1 and norm_type 0 must be finite and >= 0");
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permute_against_reference),
        cmocka_unit_test(test_broadcasting_arithmetic),
        cmocka_unit_test(test_gradients_add_up),
        cmocka_unit_test(test_scale_and_parameter),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_softmax_over_any_dim),
        cmocka_unit_test(test_slice_split_and_pad),
        cmocka_unit_test(test_embedding_lookup_and_gradient),
        cmocka_unit_test(test_embedding_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
