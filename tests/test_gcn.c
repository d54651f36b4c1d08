/* Graph convolution and readouts: forward and backward against a host
 * reference built from the definitions (dense A_hat from the CSR rows), a
 * 2-layer GCN with a mean readout against PyTorch (loss and every
 * gradient), and every malformed adjacency refused with its array and
 * index. */
#include "harness.h"
#include "torch_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Three graphs of 3, 4 and 3 nodes, padded to 12 nodes. */
static const int32_t row_ptr[] = {0, 2, 4, 5, 6, 8, 10, 11, 12, 13, 13};
static const int32_t col[] = {1, 2, 0, 2, 0, 4, 3, 5, 4, 6, 5, 8, 7};
static const int32_t node_graph[] = {0, 0, 0, 1, 1, 1, 1, 2, 2, 2};
enum { NODES = 10, MAX_NODES = 12, IN = 4, OUT = 3, GRAPHS = 3 };

/* Dense D^-1/2 (A + I) D^-1/2, padding rows zero. */
static void dense_a_hat(double a[MAX_NODES][MAX_NODES]) {
    double deg[MAX_NODES] = {0};
    for (int i = 0; i < MAX_NODES; i++)
        for (int j = 0; j < MAX_NODES; j++)
            a[i][j] = 0;
    for (int i = 0; i < NODES; i++) {
        a[i][i] = 1;
        for (int k = row_ptr[i]; k < row_ptr[i + 1]; k++)
            a[i][col[k]] = 1;
    }
    for (int i = 0; i < MAX_NODES; i++)
        for (int j = 0; j < MAX_NODES; j++)
            deg[i] += a[i][j];
    for (int i = 0; i < MAX_NODES; i++)
        for (int j = 0; j < MAX_NODES; j++)
            if (a[i][j] != 0) a[i][j] /= sqrt(deg[i] * deg[j]);
}

static void fill(float *v, int n, int seed) {
    for (int i = 0; i < n; i++)
        v[i] = (float)(((i + 1) * seed) % 17) / 8.0f - 1.0f;
}

static void test_graph_conv_against_reference(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *adj = nncl_input_graph(g, "adj", MAX_NODES, 16, GRAPHS);
    nncl_node *h = nncl_input(g, "h", NNCL_SHAPE(MAX_NODES, IN));
    ASSERT_OK(nncl_input_set_requires_grad(g, h, true));
    nncl_node *y = nncl_graph_conv(g, h, adj, OUT, NULL, "gc");
    assert_non_null(y);
    float hf[MAX_NODES * IN], w[OUT * IN], b[OUT], up[MAX_NODES * OUT];
    fill(hf, MAX_NODES * IN, 5);
    fill(w, OUT * IN, 7);
    fill(b, OUT, 3);
    fill(up, MAX_NODES * OUT, 11);
    ASSERT_OK(nncl_graph_param_write(g, "gc.weight", w, sizeof w));
    ASSERT_OK(nncl_graph_param_write(g, "gc.bias", b, sizeof b));
    ASSERT_OK(nncl_graph_set_adjacency(g, adj, NODES, row_ptr, col, node_graph));
    ASSERT_OK(nncl_graph_set_input(g, h, hf, sizeof hf));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_backward(g, y, up, sizeof up));
    double a[MAX_NODES][MAX_NODES], t[MAX_NODES][OUT], want[MAX_NODES * OUT];
    double dt[MAX_NODES][OUT], dh[MAX_NODES * IN] = {0}, dw[OUT * IN] = {0}, db[OUT] = {0};
    dense_a_hat(a);
    for (int i = 0; i < MAX_NODES; i++)
        for (int o = 0; o < OUT; o++) {
            t[i][o] = 0;
            for (int k = 0; k < IN; k++)
                t[i][o] += hf[i * IN + k] * w[o * IN + k];
        }
    for (int i = 0; i < MAX_NODES; i++)
        for (int o = 0; o < OUT; o++) {
            want[i * OUT + o] = b[o];
            dt[i][o] = 0;
            for (int j = 0; j < MAX_NODES; j++) {
                want[i * OUT + o] += a[i][j] * t[j][o];
                dt[i][o] += a[j][i] * up[j * OUT + o]; /* A_hat^T dY */
            }
            db[o] += up[i * OUT + o];
        }
    for (int i = 0; i < MAX_NODES; i++)
        for (int o = 0; o < OUT; o++)
            for (int k = 0; k < IN; k++) {
                dh[i * IN + k] += dt[i][o] * w[o * IN + k];
                dw[o * IN + k] += dt[i][o] * hf[i * IN + k];
            }
    float got[MAX_NODES * IN];
    ASSERT_OK(nncl_graph_read(g, y, got, MAX_NODES * OUT * sizeof(float)));
    assert_close("graph_conv output", got, want, MAX_NODES * OUT, 1e-5, 1e-5);
    ASSERT_OK(nncl_graph_read_grad(g, h, got, sizeof got));
    assert_close("graph_conv dh", got, dh, MAX_NODES * IN, 1e-5, 1e-5);
    ASSERT_OK(nncl_graph_grad_read(g, "gc.weight", got, sizeof w));
    assert_close("graph_conv dW", got, dw, OUT * IN, 1e-5, 1e-5);
    ASSERT_OK(nncl_graph_grad_read(g, "gc.bias", got, sizeof b));
    assert_close("graph_conv db", got, db, OUT, 1e-5, 1e-5);
    nncl_graph_destroy(g);
}

/* Sum, mean and max per graph, and their gradients (padding nodes none). */
static void test_readouts_against_reference(void **state) {
    (void)state;
    for (int mode = 0; mode < 3; mode++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *adj = nncl_input_graph(g, "adj", MAX_NODES, 16, GRAPHS);
        nncl_node *h = nncl_input(g, "h", NNCL_SHAPE(MAX_NODES, IN));
        ASSERT_OK(nncl_input_set_requires_grad(g, h, true));
        nncl_node *y = nncl_graph_readout(g, h, adj, (nncl_readout)mode, "readout");
        float hf[MAX_NODES * IN], up[GRAPHS * IN], got[MAX_NODES * IN];
        for (int i = 0; i < MAX_NODES * IN; i++)
            hf[i] = (float)((i * 7) % 23) - 11.0f; /* distinct within each column */
        fill(up, GRAPHS * IN, 13);
        ASSERT_OK(nncl_graph_set_adjacency(g, adj, NODES, row_ptr, col, node_graph));
        ASSERT_OK(nncl_graph_set_input(g, h, hf, sizeof hf));
        ASSERT_OK(nncl_graph_forward(g));
        ASSERT_OK(nncl_graph_backward(g, y, up, sizeof up));
        double want[GRAPHS * IN], dh[MAX_NODES * IN] = {0};
        for (int gr = 0; gr < GRAPHS; gr++)
            for (int f = 0; f < IN; f++) {
                double acc = mode == 2 ? -INFINITY : 0;
                int count = 0, best = -1;
                for (int i = 0; i < NODES; i++) {
                    if (node_graph[i] != gr) continue;
                    count++;
                    if (mode == 2 && hf[i * IN + f] > acc) best = i;
                    acc = mode == 2 ? fmax(acc, hf[i * IN + f]) : acc + hf[i * IN + f];
                }
                want[gr * IN + f] = mode == 1 ? acc / count : acc;
                for (int i = 0; i < NODES; i++)
                    if (node_graph[i] == gr && (mode != 2 || i == best))
                        dh[i * IN + f] = up[gr * IN + f] / (mode == 1 ? count : 1);
            }
        ASSERT_OK(nncl_graph_read(g, y, got, sizeof up));
        assert_close("readout", got, want, GRAPHS * IN, 1e-6, 1e-6);
        ASSERT_OK(nncl_graph_read_grad(g, h, got, sizeof got));
        assert_close("readout gradient", got, dh, MAX_NODES * IN, 1e-6, 1e-6);
        nncl_graph_destroy(g);
    }
}

/* The PyTorch 2-layer GCN with a mean readout (gen-torch-reference.py). */
static void test_gcn_matches_pytorch(void **state) {
    (void)state;
    const tensor *xt = need("gcn", "x"), *lt = need("gcn", "labels");
    int32_t *rp = labels_of(need("gcn", "row_ptr")), *cl = labels_of(need("gcn", "col"));
    int32_t *ng = labels_of(need("gcn", "node_graph")), *l = labels_of(lt);
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *adj = nncl_input_graph(g, "adj", xt->shape.dims[0], 20, 3);
    nncl_node *x = nncl_input(g, "x", xt->shape);
    nncl_node *labels = nncl_input_labels(g, "labels", 3);
    nncl_node *h = nncl_relu(g, nncl_graph_conv(g, x, adj, 8, NULL, "gc1"), NULL);
    h = nncl_relu(g, nncl_graph_conv(g, h, adj, 8, NULL, "gc2"), NULL);
    h = nncl_linear(g, nncl_graph_readout(g, h, adj, NNCL_READOUT_MEAN, NULL), 3, NULL, "fc");
    nncl_node *loss = nncl_cross_entropy(g, h, labels, NULL, "loss");
    if (!loss) fail_msg("%s", nncl_graph_error(g));
    load_params(g, "gcn", true);
    float *xf = to_float(xt->v, xt->n);
    ASSERT_OK(nncl_graph_set_adjacency(g, adj, 10, rp, cl, ng));
    ASSERT_OK(nncl_graph_set_input(g, x, xf, (size_t)xt->n * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, labels, l, 3 * sizeof(int32_t)));
    ASSERT_OK(nncl_graph_forward(g));
    compare(g, OUTPUT, loss, NULL, "gcn", "y");
    ASSERT_OK(nncl_graph_backward(g, loss, NULL, 0));
    assert_int_equal(nncl_graph_param_count(g), 6);
    compare_param_grads(g, "gcn");
    free(xf);
    free(rp);
    free(cl);
    free(ng);
    free(l);
    nncl_graph_destroy(g);
}

static void test_bad_adjacency_refused(void **state) {
    (void)state;
    static const struct {
        int64_t nodes;
        int32_t row_ptr[5], col[6];
        int32_t node_graph[4];
        const char *message;
    } cases[] = {
        {4, {1, 2, 3, 4, 4}, {1, 0, 3, 2}, {0, 0, 1, 1}, "row_ptr[0] is 1, not 0"},
        {4, {0, 2, 1, 3, 4}, {1, 0, 3, 2}, {0, 0, 1, 1}, "row_ptr[2] = 1 is below row_ptr[1] = 2"},
        {4, {0, 1, 2, 3, 4}, {1, 0, 9, 2}, {0, 0, 1, 1}, "col[2] = 9 is outside [0, 4)"},
        {4,
         {0, 1, 2, 3, 4},
         {1, 2, 3, 2},
         {0, 0, 1, 1},
         "edge 1 -> 2 (col[1]) joins graph 0 and "
         "graph 1"},
        {4, {0, 2, 3, 4, 5}, {1, 1, 0, 3, 2}, {0, 0, 1, 1}, "edge 0 -> 1 is listed twice (col[1])"},
        {4, {0, 1, 2, 3, 4}, {1, 0, 3, 2}, {0, 0, 1, 2}, "node_graph[3] = 2 is outside [0, 2)"},
        {4,
         {0, 2, 4, 6, 7},
         {1, 1, 0, 0, 3, 3},
         {0, 0, 1, 1},
         "7 edges (row_ptr[4]) exceed "
         "max_edges 6"},
        {5, {0, 1, 2, 3, 4}, {1, 0, 3, 2}, {0, 0, 1, 1}, "nodes 5 must be in 0..4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nncl_graph *g;
        ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
        nncl_node *adj = nncl_input_graph(g, "adj", 4, 6, 2);
        nncl_graph_conv(g, nncl_input(g, "h", NNCL_SHAPE(4, 2)), adj, 2, NULL, "gc");
        assert_int_equal(nncl_graph_set_adjacency(g, adj, cases[i].nodes, cases[i].row_ptr,
                                                  cases[i].col, cases[i].node_graph),
                         NNCL_ERROR_INVALID_ARGUMENT);
        assert_contains(nncl_last_error(), cases[i].message);
        nncl_graph_destroy(g);
    }
    /* Builders refuse features that do not match the graph, and other inputs. */
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *adj = nncl_input_graph(g, "adj", 4, 6, 2);
    nncl_node *h = nncl_input(g, "h", NNCL_SHAPE(5, 2));
    assert_null(nncl_graph_conv(g, h, adj, 2, NULL, "gc"));
    assert_contains(nncl_graph_error(g), "op 'graph_conv' node 'gc'");
    assert_contains(nncl_graph_error(g), "node features 'h' [5, 2] must be [4, features]");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    h = nncl_input(g, "h", NNCL_SHAPE(4, 2));
    assert_null(nncl_graph_readout(g, h, h, NNCL_READOUT_SUM, "r"));
    assert_contains(nncl_graph_error(g), "'h' is not a graph input");
    nncl_graph_destroy(g);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    assert_null(nncl_input_graph(g, "adj", 4, 6, 5));
    assert_contains(nncl_graph_error(g), "graphs 5 (1 to max_nodes)");
    nncl_graph_destroy(g);
    /* A graph input is set by its own call, and must be before a forward pass. */
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    adj = nncl_input_graph(g, "adj", 4, 6, 1);
    h = nncl_input(g, "h", NNCL_SHAPE(4, 2));
    nncl_graph_conv(g, h, adj, 2, NULL, "gc");
    int32_t ids[4] = {0};
    assert_int_equal(nncl_graph_set_input(g, adj, ids, sizeof ids), NNCL_ERROR_INVALID_ARGUMENT);
    float hf[8] = {0};
    ASSERT_OK(nncl_graph_set_input(g, h, hf, sizeof hf));
    assert_int_equal(nncl_graph_forward(g), NNCL_ERROR_STATE);
    assert_contains(nncl_last_error(), "graph input 'adj' was never set");
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_conv_against_reference),
        cmocka_unit_test(test_readouts_against_reference),
        cmocka_unit_test(test_gcn_matches_pytorch),
        cmocka_unit_test(test_bad_adjacency_refused),
    };
    return cmocka_run_group_tests(tests, torch_data_load, torch_data_unload);
}
