/* Layout and lookup ops: permute and transpose against a host reference
 * and finite differences in every rank; embedding lookup and its weight
 * gradient (ids repeated, the padding row left alone) against host sums;
 * bad arguments. */
#include "harness.h"

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
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permute_against_reference),
        cmocka_unit_test(test_embedding_lookup_and_gradient),
        cmocka_unit_test(test_embedding_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, test_context_teardown);
}
