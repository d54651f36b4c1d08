/* Upsampling: nearest and linear (1D, bilinear 2D, trilinear 3D), by size
 * and by scale factor, align_corners both ways, against a host reference
 * written from PyTorch's source-index rule and finite differences; a
 * hand-worked case; every bad parameter refused. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct up_case {
    nncl_upsample_params p;
    nncl_shape x;
} up_case;

static nncl_node *build_up(nncl_graph *g, nncl_node **x, nncl_node *labels, const void *cfg) {
    (void)labels;
    return nncl_upsample(g, x[0], &((const up_case *)cfg)->p, "up");
}

/* PyTorch's rule for one dim (UpSample.h): the source indices and weight. */
static void source(const up_case *c, int dim, int64_t in, int64_t out, int64_t o, int64_t *i0,
                   int64_t *i1, double *l) {
    bool linear = c->p.mode == NNCL_UPSAMPLE_LINEAR;
    double factor = c->p.size[0] ? 0.0 : c->p.scale[dim];
    float scale = linear && c->p.align_corners ? (out > 1 ? (float)(in - 1) / (float)(out - 1) : 0)
                  : factor > 0                 ? (float)(1.0 / factor)
                                               : (float)in / (float)out;
    if (!linear) {
        int64_t s = in == out ? o : out == 2 * in ? o / 2 : (int64_t)floorf((float)o * scale);
        *i0 = *i1 = s < in - 1 ? s : in - 1;
        *l = 0;
        return;
    }
    float src = c->p.align_corners ? (float)o * scale : fmaxf(((float)o + 0.5f) * scale - 0.5f, 0);
    *i0 = (int64_t)src < in - 1 ? (int64_t)src : in - 1;
    *i1 = *i0 < in - 1 ? *i0 + 1 : *i0;
    *l = (double)src - (double)*i0;
}

static void ref_up(const double *const *x, const double *const *params, const int32_t *labels,
                   double *y, const void *cfg) {
    (void)params;
    (void)labels;
    const up_case *c = cfg;
    int spatial = c->x.rank - 2;
    int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
    for (int i = 0; i < spatial; i++) {
        in[3 - spatial + i] = c->x.dims[2 + i];
        out[3 - spatial + i] =
            c->p.size[0] ? c->p.size[i] : (int64_t)floor((double)c->x.dims[2 + i] * c->p.scale[i]);
    }
    int64_t planes = c->x.dims[0] * c->x.dims[1], ivol = in[0] * in[1] * in[2];
    int64_t ovol = out[0] * out[1] * out[2];
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t o = 0; o < ovol; o++) {
            int64_t oc[3] = {o / (out[1] * out[2]), o / out[2] % out[1], o % out[2]};
            int64_t a[3][2];
            double w[3][2];
            for (int d = 0; d < 3; d++) {
                double l = 0;
                int user = d - (3 - spatial); /* the user's dim, < 0 for padding dims */
                if (user < 0) {
                    a[d][0] = a[d][1] = 0;
                } else {
                    source(c, user, in[d], out[d], oc[d], &a[d][0], &a[d][1], &l);
                }
                w[d][0] = 1 - l;
                w[d][1] = l;
            }
            double sum = 0;
            for (int cd = 0; cd < 2; cd++)
                for (int ch = 0; ch < 2; ch++)
                    for (int cw = 0; cw < 2; cw++)
                        sum += w[0][cd] * w[1][ch] * w[2][cw] *
                               x[0][pl * ivol + (a[0][cd] * in[1] + a[1][ch]) * in[2] + a[2][cw]];
            y[pl * ovol + o] = sum;
        }
}

#define NEAREST NNCL_UPSAMPLE_NEAREST
#define LINEAR NNCL_UPSAMPLE_LINEAR
static const up_case cases[] = {
    {{.mode = NEAREST, .scale = {2}}, NNCL_SHAPE(2, 3, 5)},
    {{.mode = NEAREST, .size = {7, 4}}, NNCL_SHAPE(1, 2, 5, 6)}, /* up one dim, down the other */
    {{.mode = NEAREST, .scale = {1.5, 2.5}}, NNCL_SHAPE(2, 2, 4, 3)},
    {{.mode = NEAREST, .scale = {2, 1, 3}}, NNCL_SHAPE(1, 2, 2, 3, 2)},
    {{.mode = LINEAR, .scale = {2}}, NNCL_SHAPE(2, 2, 6)},
    {{.mode = LINEAR, .size = {9}, .align_corners = true}, NNCL_SHAPE(1, 3, 4)},
    {{.mode = LINEAR, .scale = {2, 2}}, NNCL_SHAPE(2, 3, 4, 5)}, /* U-Net's bilinear x2 */
    {{.mode = LINEAR, .scale = {2, 2}, .align_corners = true}, NNCL_SHAPE(1, 2, 3, 4)},
    {{.mode = LINEAR, .size = {7, 5}}, NNCL_SHAPE(1, 2, 3, 4)},
    {{.mode = LINEAR, .size = {5, 3}, .align_corners = true}, NNCL_SHAPE(2, 1, 3, 4)},
    {{.mode = LINEAR, .scale = {1.5, 3}}, NNCL_SHAPE(1, 2, 4, 2)},
    {{.mode = LINEAR, .size = {1, 6}, .align_corners = true}, NNCL_SHAPE(1, 1, 3, 3)},
    {{.mode = LINEAR, .scale = {2, 2, 2}}, NNCL_SHAPE(1, 2, 2, 3, 2)}, /* trilinear */
    {{.mode = LINEAR, .size = {3, 4, 5}, .align_corners = true}, NNCL_SHAPE(2, 1, 2, 2, 3)},
};

static void test_upsample_against_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "upsample case %zu", i);
        op_check c = {.label = label,
                      .n_inputs = 1,
                      .inputs = {cases[i].x},
                      .build = build_up,
                      .ref = ref_up,
                      .cfg = &cases[i]};
        check_op(&c);
    }
}

/* [1, 2, 3] by 2: nearest [1 1 2 2 3 3]; linear [1 1.25 1.75 2.25 2.75 3];
 * aligned to 5: [1 1.5 2 2.5 3]. */
static void test_upsample_hand_worked(void **state) {
    (void)state;
    static const struct {
        nncl_upsample_params p;
        int n;
        float want[6];
    } cases[] = {
        {{.mode = NEAREST, .scale = {2}}, 6, {1, 1, 2, 2, 3, 3}},
        {{.mode = LINEAR, .scale = {2}}, 6, {1, 1.25f, 1.75f, 2.25f, 2.75f, 3}},
        {{.mode = LINEAR, .size = {5}, .align_corners = true}, 5, {1, 1.5f, 2, 2.5f, 3}},
    };
    for (size_t i = 0; i < 3; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *x = nncl_input(g, "x", NNCL_SHAPE(1, 1, 3));
        nncl_node *y = nncl_upsample(g, x, &cases[i].p, "up");
        assert_non_null(y);
        assert_int_equal(nncl_node_shape(y).dims[2], cases[i].n);
        float out[6];
        ASSERT_OK(nncl_graph_set_input(g, x, (const float[]){1, 2, 3}, 3 * sizeof(float)));
        ASSERT_OK(nncl_graph_forward(g));
        ASSERT_OK(nncl_graph_read(g, y, out, (size_t)cases[i].n * sizeof(float)));
        for (int k = 0; k < cases[i].n; k++)
            if (fabsf(out[k] - cases[i].want[k]) > 1e-6f)
                fail_msg("case %zu element %d: %g, expected %g", i, k, out[k], cases[i].want[k]);
        nncl_graph_destroy(g);
    }
}

static void test_upsample_refuses_bad_parameters(void **state) {
    (void)state;
    static const struct {
        nncl_upsample_params p;
        nncl_shape x;
        nncl_status status;
        const char *message;
    } cases[] = {
        {{.mode = 7, .scale = {2, 2}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "mode 7"},
        {{.mode = NEAREST, .scale = {2, 2}, .align_corners = true},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "align_corners applies to linear modes only"},
        {{.mode = LINEAR, .scale = {2, -1}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "dim 1: scale factor -1"},
        {{.mode = LINEAR, .scale = {2, NAN}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "dim 1: scale factor nan"},
        {{.mode = LINEAR, .scale = {1e12, 1}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "output below 2^31"},
        {{.mode = LINEAR, .scale = {0.1, 1}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_SHAPE,
         "dim 0 output size 0"},
        {{.mode = LINEAR, .size = {8, 0}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_SHAPE,
         "dim 1 output size 0"},
        {{.mode = LINEAR, .size = {8}, .scale = {0, 2}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "either sizes or scale factors"},
        {{.mode = LINEAR, .scale = {2, 2, 2}},
         NNCL_SHAPE(1, 2, 4, 4),
         NNCL_ERROR_INVALID_ARGUMENT,
         "2 spatial dims but dim 2 is set"},
        {{.mode = LINEAR, .scale = {2}},
         NNCL_SHAPE(4, 6),
         NNCL_ERROR_SHAPE,
         "must be NCW, NCHW or NCDHW"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *x = nncl_input(g, "x", cases[i].x);
        assert_null(nncl_upsample(g, x, &cases[i].p, "up2"));
        assert_int_equal(nncl_graph_status(g), cases[i].status);
        assert_contains(nncl_graph_error(g), "op 'upsample' node 'up2'");
        assert_contains(nncl_graph_error(g), cases[i].message);
        nncl_graph_destroy(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsample_hand_worked),
        cmocka_unit_test(test_upsample_against_reference),
        cmocka_unit_test(test_upsample_refuses_bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
