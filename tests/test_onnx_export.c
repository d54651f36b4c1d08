/* ONNX export: networks built through the API, covering every op with an
 * ONNX form, with random weights and running statistics, exported and
 * imported back into a new graph give the same outputs on the same input;
 * onnx.checker (Debian's python3-onnx) accepts the files, with full shape
 * inference. What ONNX cannot say (label smoothing) is refused by name,
 * writing nothing. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every parameter and buffer of g set to random values (variances positive). */
static void randomize(nncl_graph *g, uint64_t seed) {
    for (size_t i = 0; i < nncl_graph_param_count(g); i++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(g, i, &info));
        int64_t n = nncl_shape_numel(info.shape);
        double *v = malloc((size_t)n * sizeof *v);
        assert_non_null(v);
        bool positive = strstr(info.name, "running_var") != NULL;
        random_fill(v, n, seed + i, positive ? 0.5 : -0.5, positive ? 1.5 : 0.5);
        float *f = to_float(v, n);
        ASSERT_OK(nncl_graph_param_write(g, info.name, f, (size_t)n * sizeof *f));
        free(v), free(f);
    }
}

/* A CNN through most ops, attention pooling among them: two outputs. */
static void build_cnn(nncl_graph *g, nncl_node **outputs) {
    nncl_node *x = nncl_input(g, "image", NNCL_SHAPE(2, 3, 9, 9));
    nncl_node *c1 = nncl_conv(g, x,
                              &(nncl_conv_params){.out_channels = 8,
                                                  .kernel = {3, 3},
                                                  .pad_begin = {1, 0},
                                                  .pad_end = {2, 1},
                                                  .stride = {2, 1}},
                              "conv1");
    nncl_node *h = nncl_relu(g, nncl_batch_norm(g, c1, NULL, "bn1"), "relu1");
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}, .ceil_mode = true}, "pool1");
    nncl_node *g1 = nncl_gelu(g, nncl_group_norm(g, h, 2, NULL, "gn"), false, "gelu");
    nncl_node *s1 = nncl_silu(g,
                              nncl_conv(g, h,
                                        &(nncl_conv_params){.out_channels = 8,
                                                            .kernel = {3, 3},
                                                            .padding = {1, 1},
                                                            .groups = 4,
                                                            .dilation = {1, 1}},
                                        "grouped"),
                              "silu");
    nncl_node *cat = nncl_concat(g, (nncl_node *[]){g1, s1}, 2, "cat");
    nncl_node *up = nncl_conv_transpose(g, cat,
                                        &(nncl_conv_transpose_params){.out_channels = 4,
                                                                      .kernel = {3, 3},
                                                                      .stride = {2, 2},
                                                                      .padding = {1, 1},
                                                                      .output_padding = {1, 1}},
                                        "up");
    nncl_node *a = nncl_avg_pool(
        g, nncl_hardswish(g, up, "hsw"),
        &(nncl_pool_params){.kernel = {3, 3}, .padding = {1, 1}, .exclude_pad = true}, "avg");
    nncl_node *lin = nncl_upsample(
        g, nncl_clamp(g, a, -0.5f, INFINITY, "clamp"),
        &(nncl_upsample_params){.mode = NNCL_UPSAMPLE_LINEAR, .scale = {2, 2}}, "bilinear");
    nncl_node *near = nncl_upsample(g, nncl_tanh(g, a, "tanh"),
                                    &(nncl_upsample_params){.scale = {2, 2}}, "nearest");
    nncl_node *mix =
        nncl_sub(g, nncl_mul(g, lin, near, "prod"), nncl_scale(g, lin, 0.5f, 0.25f, "half"), "mix");
    nncl_node *p = nncl_pad(g, mix, (int64_t[]){1, 2, 0, 1}, 4, NNCL_PAD_REFLECT, 0, "reflect");
    nncl_node *gp =
        nncl_flatten(g, nncl_global_avg_pool(g, nncl_elu(g, p, 0.7f, "elu"), "gap"), "flat");
    nncl_node *att = nncl_attention_pool(g, p, 2, "attention");
    nncl_node *both = nncl_concat(g, (nncl_node *[]){gp, att}, 2, "pooled");
    nncl_node *fc = nncl_linear(g, nncl_dropout(g, both, 0.3f, "drop"), 6, NULL, "fc");
    nncl_node *ln = nncl_layer_norm(g, nncl_leaky_relu(g, fc, 0.1f, "leaky"), 1, NULL, "ln");
    outputs[0] = nncl_softmax_dim(g, ln, 1, true, "log_probs");
    outputs[1] = nncl_reduce(g, nncl_slice(g, p, 3, 1, 7, 2, "every_other"), NNCL_REDUCE_MEAN,
                             (int32_t[]){2}, 1, false, "row_means");
}

/* A sequence model: embedding, 1D convolution, permute, matmul, PReLU,
 * adaptive pooling, maxout, reductions and elementwise math. */
static void build_seq(nncl_graph *g, nncl_node **outputs) {
    nncl_node *ids = nncl_input_labels_nd(g, "tokens", NNCL_SHAPE(2, 7));
    nncl_node *e = nncl_embedding(g, ids, 11, 6, NULL, "embed");
    nncl_node *t = nncl_permute(g, e, (int32_t[]){0, 2, 1}, "to_ncw");
    nncl_node *c = nncl_conv(
        g, t, &(nncl_conv_params){.out_channels = 8, .kernel = {3}, .padding = {1}}, "conv");
    nncl_node *pr =
        nncl_prelu(g, nncl_instance_norm(g, c, &(nncl_instance_norm_params){.affine = true}, "in"),
                   8, 0.25f, "prelu");
    nncl_node *mo = nncl_maxout(g, pr, 2, "maxout");
    nncl_node *ap = nncl_adaptive_pool(g, mo, false, (int64_t[3]){1}, "adapt");
    nncl_node *w = nncl_parameter(g, "proj", NNCL_SHAPE(4, 5), NNCL_INIT_NORMAL, 0.5f);
    nncl_node *m = nncl_matmul(g, nncl_reshape(g, ap, NNCL_SHAPE(2, 4), "rows"), w, "project");
    nncl_node *lrn = nncl_local_response_norm(
        g, nncl_reshape(g, nncl_relu6(g, m, "relu6"), NNCL_SHAPE(2, 5, 1), "as_ncw"), 3, 1e-2f,
        0.75f, 1.0f, "lrn");
    nncl_node *pos = nncl_scale(g, nncl_abs(g, lrn, "abs"), 1, 0.5f, "positive");
    nncl_node *math = nncl_add(g, nncl_log(g, pos, "log"),
                               nncl_mul(g, nncl_sqrt(g, pos, "sqrt"),
                                        nncl_exp(g, nncl_neg(g, pos, "neg"), "exp"), "sq_exp"),
                               "math");
    nncl_node *bounded =
        nncl_maximum(g, nncl_erf(g, math, "erf"), nncl_reciprocal(g, pos, "recip"), "max");
    outputs[0] =
        nncl_reduce(g, nncl_pow(g, pos, bounded, "pow"), NNCL_REDUCE_SUM, NULL, 0, false, "total");
    outputs[1] =
        nncl_selu(g, nncl_minimum(g, math, nncl_sigmoid(g, math, "sig"), "min"), 0, 0, "selu");
}

static void run_python_checker(const char *path) {
    char cmd[600];
    if (system("/usr/bin/python3 -c 'import onnx' 2>/dev/null") != 0) {
        printf("python3-onnx is not installed: onnx.checker not run on %s\n", path);
        return;
    }
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import onnx, sys; m = onnx.load(sys.argv[1]); "
             "onnx.checker.check_model(m, full_check=True)\" %s",
             path);
    assert_int_equal(system(cmd), 0);
}

/* Builds with `build`, randomises, exports, imports back, and compares the
 * outputs on random inputs (ids for int inputs). */
static void round_trip(void (*build)(nncl_graph *, nncl_node **), const char *file, uint64_t seed) {
    nncl_graph *g, *back;
    nncl_node *out[2];
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    build(g, out);
    ASSERT_OK(nncl_graph_status(g));
    randomize(g, seed);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", test_dir, file);
    ASSERT_OK(nncl_onnx_export(g, path, out, 2));
    run_python_checker(path);

    ASSERT_OK(nncl_graph_create(test_context(), NULL, &back));
    nncl_onnx_model *m;
    ASSERT_OK(
        nncl_onnx_import(back, path, &(nncl_onnx_options){.batch = 2}, &m)); /* dim 0 is "N" */
    assert_int_equal(m->n_outputs, 2);
    nncl_node *x = nncl_graph_node(g, nncl_node_name(m->inputs[0]));
    assert_non_null(x);
    nncl_shape xs = nncl_node_shape(x);
    int64_t n = nncl_shape_numel(xs);
    double *v = malloc((size_t)n * sizeof *v);
    float *f = malloc((size_t)n * sizeof *f);
    assert_non_null(v), assert_non_null(f);
    random_fill(v, n, seed * 7, 0, 11);
    for (int64_t i = 0; i < n; i++) {
        if (nncl_node_holds_ints(x)) {
            int32_t id = (int32_t)v[i];
            memcpy(&f[i], &id, sizeof id);
        } else {
            f[i] = (float)(v[i] / 5.5 - 1);
        }
    }
    ASSERT_OK(nncl_graph_set_input(g, x, f, (size_t)n * 4));
    ASSERT_OK(nncl_graph_set_input(back, m->inputs[0], f, (size_t)n * 4));
    for (int k = 0; k < 2; k++) {
        nncl_shape s = nncl_node_shape(out[k]);
        assert_int_equal(nncl_shape_numel(nncl_node_shape(m->outputs[k])), nncl_shape_numel(s));
        size_t bytes = (size_t)nncl_shape_numel(s) * sizeof(float);
        float *want = malloc(bytes), *have = malloc(bytes);
        assert_non_null(want), assert_non_null(have);
        ASSERT_OK(nncl_graph_infer(g, out[k], want, bytes));
        ASSERT_OK(nncl_graph_infer(back, m->outputs[k], have, bytes));
        for (size_t i = 0; i < bytes / sizeof(float); i++)
            if (!(fabsf(have[i] - want[i]) <= 1e-4f + 1e-4f * fabsf(want[i])))
                fail_msg("%s output %d element %zu: %.7g after the round trip, %.7g before", file,
                         k, i, (double)have[i], (double)want[i]);
        free(want), free(have);
    }
    free(v), free(f);
    nncl_onnx_model_free(m);
    nncl_graph_destroy(back);
    nncl_graph_destroy(g);
}

static void test_cnn_round_trip(void **state) {
    (void)state;
    round_trip(build_cnn, "cnn.onnx", 3);
}

static void test_sequence_round_trip(void **state) {
    (void)state;
    round_trip(build_seq, "seq.onnx", 5);
}

/* A training graph's losses and metrics: cross-entropy per pixel with
 * class weights and an ignored label, NLL over log-softmax, Dice with and
 * without an ignored class, accuracy, one-hot labels and the argmax,
 * exported with their labels input and imported back: the same values. */
static void test_losses_round_trip(void **state) {
    (void)state;
    nncl_graph *g, *back;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "scores", NNCL_SHAPE(2, 3, 4));
    nncl_node *y = nncl_input_labels_nd(g, "labels", NNCL_SHAPE(2, 4));
    const float weights[3] = {0.5f, 2.0f, 1.0f};
    nncl_loss_params weighted = {.class_weights = weights,
                                 .n_class_weights = 3,
                                 .has_ignore_index = true,
                                 .ignore_index = 2,
                                 .smooth = 1};
    nncl_node *out[] = {nncl_cross_entropy(g, x, y, &weighted, "ce"),
                        nncl_nll_loss(g, nncl_log_softmax(g, x, "log_probs"), y,
                                      &(nncl_loss_params){.reduction = NNCL_REDUCTION_NONE}, "nll"),
                        nncl_dice_loss(g, x, y, &weighted, "dice_ignoring_2"),
                        nncl_dice_loss(g, x, y, NULL, "dice"),
                        nncl_accuracy(g, x, y, "accuracy"),
                        nncl_one_hot(g, y, 3, "one_hot"),
                        nncl_argmax(g, x, "predicted")};
    enum { OUTPUTS = sizeof out / sizeof out[0] };
    char path[256];
    snprintf(path, sizeof path, "%s/losses.onnx", test_dir);
    ASSERT_OK(nncl_onnx_export(g, path, out, OUTPUTS));
    run_python_checker(path);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &back));
    nncl_onnx_model *m;
    ASSERT_OK(nncl_onnx_import(back, path, &(nncl_onnx_options){.batch = 2}, &m));
    assert_int_equal(m->n_inputs, 2);
    assert_true(nncl_node_holds_ints(m->inputs[1]));
    double v[24];
    random_fill(v, 24, 11, -2, 2);
    float *scores = to_float(v, 24);
    int32_t labels[8] = {0, 1, 2, 1, 2, 0, 0, 1};
    ASSERT_OK(nncl_graph_set_input(g, x, scores, 24 * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, y, labels, sizeof labels));
    ASSERT_OK(nncl_graph_set_input(back, m->inputs[0], scores, 24 * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(back, m->inputs[1], labels, sizeof labels));
    for (int k = 0; k < OUTPUTS - 1; k++) {
        float want[24], have[24];
        size_t bytes = (size_t)nncl_shape_numel(nncl_node_shape(out[k])) * sizeof(float);
        ASSERT_OK(nncl_graph_infer(g, out[k], want, bytes));
        ASSERT_OK(nncl_graph_infer(back, m->outputs[k], have, bytes));
        for (size_t i = 0; i < bytes / sizeof(float); i++)
            if (!(fabsf(have[i] - want[i]) <= 1e-6f + 1e-5f * fabsf(want[i])))
                fail_msg("%s element %zu: %.7g after the round trip, %.7g before",
                         nncl_node_name(out[k]), i, (double)have[i], (double)want[i]);
    }
    int32_t predicted[8], again[8];
    ASSERT_OK(nncl_graph_read_labels(g, out[OUTPUTS - 1], predicted, sizeof predicted));
    ASSERT_OK(nncl_graph_read_labels(back, m->outputs[OUTPUTS - 1], again, sizeof again));
    assert_memory_equal(predicted, again, sizeof again);
    free(scores);
    nncl_onnx_model_free(m);
    nncl_graph_destroy(back);
    nncl_graph_destroy(g);
}

/* The elementwise losses with each reduction, written out in ONNX
 * operators, against nncl's own after the round trip. */
static void test_pointwise_losses_round_trip(void **state) {
    (void)state;
    nncl_graph *g, *back;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "prediction", NNCL_SHAPE(2, 6));
    nncl_node *t = nncl_input(g, "target", NNCL_SHAPE(2, 6));
    nncl_loss_params sum = {.reduction = NNCL_REDUCTION_SUM},
                     none = {.reduction = NNCL_REDUCTION_NONE};
    nncl_node *out[] = {
        nncl_mse_loss(g, x, t, NULL, "mse"),
        nncl_l1_loss(g, x, t, &sum, "l1"),
        nncl_smooth_l1_loss(g, x, t,
                            &(nncl_loss_params){.reduction = NNCL_REDUCTION_NONE, .beta = 0.5f},
                            "smooth_l1"),
        nncl_huber_loss(g, x, t, &(nncl_loss_params){.beta = 0.7f}, "huber"),
        nncl_bce_with_logits(g, x, t, &none, "bce"),
        nncl_kl_div(g, nncl_log_softmax(g, x, "log_p"), nncl_softmax(g, t, "q"),
                    &(nncl_loss_params){.reduction = NNCL_REDUCTION_BATCHMEAN}, "kl"),
        nncl_smooth_l1_loss(g, x, t, &sum, "smooth_l1_beta0"),
    };
    enum { OUTPUTS = sizeof out / sizeof out[0] };
    char path[256];
    snprintf(path, sizeof path, "%s/pointwise.onnx", test_dir);
    ASSERT_OK(nncl_onnx_export(g, path, out, OUTPUTS));
    run_python_checker(path);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &back));
    nncl_onnx_model *m;
    ASSERT_OK(nncl_onnx_import(back, path, &(nncl_onnx_options){.batch = 2}, &m));
    double v[24];
    random_fill(v, 24, 13, -1.5, 1.5);
    for (int i = 12; i < 24; i++) /* targets in [0, 1] for the BCE */
        v[i] = (v[i] + 1.5) / 3;
    float *f = to_float(v, 24);
    ASSERT_OK(nncl_graph_set_input(g, x, f, 12 * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, t, f + 12, 12 * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(back, m->inputs[0], f, 12 * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(back, m->inputs[1], f + 12, 12 * sizeof(float)));
    for (int k = 0; k < OUTPUTS; k++) {
        float want[12], have[12];
        size_t bytes = (size_t)nncl_shape_numel(nncl_node_shape(out[k])) * sizeof(float);
        ASSERT_OK(nncl_graph_infer(g, out[k], want, bytes));
        ASSERT_OK(nncl_graph_infer(back, m->outputs[k], have, bytes));
        for (size_t i = 0; i < bytes / sizeof(float); i++)
            if (!(fabsf(have[i] - want[i]) <= 1e-5f + 1e-4f * fabsf(want[i])))
                fail_msg("%s element %zu: %.7g after the round trip, %.7g before",
                         nncl_node_name(out[k]), i, (double)have[i], (double)want[i]);
    }
    free(f);
    nncl_onnx_model_free(m);
    nncl_graph_destroy(back);
    nncl_graph_destroy(g);
}

/* A graph network: its CSR graph input becomes the dense normalised
 * adjacency and membership inputs (computed here on the host, Kipf &
 * Welling's A_hat), graph convolutions matrix products, the readouts
 * products and masked maxima: the same outputs as nncl's sparse ops. */
static void test_graph_network_round_trip(void **state) {
    (void)state;
    enum { NODES = 6, USED = 5, GRAPHS = 2, F = 3 };
    nncl_graph *g, *back;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *adj = nncl_input_graph(g, "graph", NODES, 10, GRAPHS);
    nncl_node *h = nncl_input(g, "h", NNCL_SHAPE(NODES, F));
    nncl_node *h1 = nncl_relu(g, nncl_graph_conv(g, h, adj, 4, NULL, "gcn1"), "r1");
    nncl_node *h2 = nncl_graph_conv(g, h1, adj, 4, &(nncl_linear_params){.no_bias = true}, "gcn2");
    nncl_node *out[3] = {nncl_graph_readout(g, h2, adj, NNCL_READOUT_MAX, "max"),
                         nncl_graph_readout(g, h2, adj, NNCL_READOUT_MEAN, "mean"),
                         nncl_graph_readout(g, h1, adj, NNCL_READOUT_SUM, "sum")};
    ASSERT_OK(nncl_graph_status(g));
    randomize(g, 17);
    /* graph 0: the path 0-1-2; graph 1: the edge 3-4; node 5 padding */
    const int32_t row_ptr[USED + 1] = {0, 1, 3, 4, 5, 6}, col[6] = {1, 0, 2, 1, 4, 3},
                                 member[USED] = {0, 0, 0, 1, 1};
    ASSERT_OK(nncl_graph_set_adjacency(g, adj, USED, row_ptr, col, member));
    char path[256];
    snprintf(path, sizeof path, "%s/gcn.onnx", test_dir);
    ASSERT_OK(nncl_onnx_export(g, path, out, 3));
    run_python_checker(path);
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &back));
    nncl_onnx_model *m;
    ASSERT_OK(nncl_onnx_import(back, path, &(nncl_onnx_options){.batch = NODES}, &m));
    assert_int_equal(m->n_inputs, 3);
    float a_hat[NODES * NODES] = {0}, members[GRAPHS * NODES] = {0};
    for (int i = 0; i < USED; i++) {
        double di = row_ptr[i + 1] - row_ptr[i] + 1;
        a_hat[i * NODES + i] = (float)(1 / di);
        for (int k = row_ptr[i]; k < row_ptr[i + 1]; k++) {
            int j = col[k];
            double dj = row_ptr[j + 1] - row_ptr[j] + 1;
            a_hat[i * NODES + j] = (float)(1 / sqrt(di * dj));
        }
        members[member[i] * NODES + i] = 1;
    }
    double v[NODES * F];
    random_fill(v, NODES * F, 19, -1, 1);
    float *features = to_float(v, NODES * F);
    ASSERT_OK(nncl_graph_set_input(g, h, features, sizeof(float) * NODES * F));
    for (size_t k = 0; k < m->n_inputs; k++) {
        const char *name = nncl_node_name(m->inputs[k]);
        const float *value = !strcmp(name, "graph") ? a_hat
                             : !strcmp(name, "h")   ? features
                                                    : members;
        ASSERT_OK(
            nncl_graph_set_input(back, m->inputs[k], value,
                                 (size_t)nncl_shape_numel(nncl_node_shape(m->inputs[k])) * 4));
    }
    for (int k = 0; k < 3; k++) {
        float want[GRAPHS * 4], have[GRAPHS * 4];
        ASSERT_OK(nncl_graph_infer(g, out[k], want, sizeof want));
        ASSERT_OK(nncl_graph_infer(back, m->outputs[k], have, sizeof have));
        for (int i = 0; i < GRAPHS * 4; i++)
            if (!(fabsf(have[i] - want[i]) <= 1e-5f + 1e-4f * fabsf(want[i])))
                fail_msg("%s element %d: %.7g after the round trip, %.7g before",
                         nncl_node_name(out[k]), i, (double)have[i], (double)want[i]);
    }
    free(features);
    nncl_onnx_model_free(m);
    nncl_graph_destroy(back);
    nncl_graph_destroy(g);
}

static void test_refusals(void **state) {
    (void)state;
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "scores", NNCL_SHAPE(4, 3));
    nncl_node *y = nncl_input_labels(g, "labels", 4);
    nncl_node *smoothed =
        nncl_cross_entropy(g, x, y, &(nncl_loss_params){.label_smoothing = 0.1f}, "smoothed");
    char path[256];
    snprintf(path, sizeof path, "%s/smoothed.onnx", test_dir);
    assert_int_equal(nncl_onnx_export(g, path, &smoothed, 1), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(),
                    "op 'cross_entropy' (node 'smoothed'): ONNX's losses have no label smoothing");
    FILE *f = fopen(path, "rb");
    assert_null(f); /* nothing written */
    assert_int_equal(nncl_onnx_export(g, path, NULL, 0), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "give 1 to 64 output nodes");
    nncl_graph *other;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &other));
    assert_int_equal(nncl_onnx_export(other, path, &x, 1), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "output 0 is not a node of this graph");
    nncl_graph_destroy(other);
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_round_trip),
        cmocka_unit_test(test_sequence_round_trip),
        cmocka_unit_test(test_losses_round_trip),
        cmocka_unit_test(test_pointwise_losses_round_trip),
        cmocka_unit_test(test_graph_network_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
