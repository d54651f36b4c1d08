/* ONNX import through the public API: a small CNN encoded as ONNX by the
 * test (protobuf-c, ONNX's field numbers) against the same network built
 * with the API from ONNX's operator definitions (pads order, auto_pad
 * SAME_UPPER, BatchNormalization's momentum, Gemm with transB), with the
 * same weights: equal outputs, parameters under the initializers' names,
 * inputs and outputs in the file's order. Unsupported operators and
 * attribute values, shapes that do not fit and conditions only known at
 * run time are refused naming the node. */
#include "harness.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---- a small arena of protobuf-c structs, freed at the end of a test */

static void *kept[512];
static int n_kept;

static void *keep(void *p) {
    assert_non_null(p);
    assert_true(n_kept < 512);
    return kept[n_kept++] = p;
}

static void release_all(void) {
    while (n_kept)
        free(kept[--n_kept]);
}

static NnclOnnx__TensorProto *tensor(const char *name, const int64_t *dims, size_t rank,
                                     const float *values) {
    NnclOnnx__TensorProto *t = keep(malloc(sizeof *t));
    nncl_onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = true;
    t->data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = rank;
    t->dims = keep(malloc((rank ? rank : 1) * sizeof *t->dims));
    if (rank) memcpy(t->dims, dims, rank * sizeof *dims);
    size_t n = 1;
    for (size_t i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    t->n_float_data = n;
    t->float_data = keep(malloc(n * sizeof *t->float_data));
    memcpy(t->float_data, values, n * sizeof *values);
    return t;
}

static NnclOnnx__AttributeProto *ints_attr(const char *name, const int64_t *v, size_t n) {
    NnclOnnx__AttributeProto *a = keep(malloc(sizeof *a));
    nncl_onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = true;
    a->type = NNCL_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = n;
    a->ints = keep(malloc(n * sizeof *v));
    memcpy(a->ints, v, n * sizeof *v);
    return a;
}

static NnclOnnx__AttributeProto *int_attr(const char *name, int64_t v) {
    NnclOnnx__AttributeProto *a = keep(malloc(sizeof *a));
    nncl_onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = a->has_i = true;
    a->type = NNCL_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->i = v;
    return a;
}

static NnclOnnx__AttributeProto *float_attr(const char *name, float v) {
    NnclOnnx__AttributeProto *a = keep(malloc(sizeof *a));
    nncl_onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = a->has_f = true;
    a->type = NNCL_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->f = v;
    return a;
}

static NnclOnnx__AttributeProto *string_attr(const char *name, const char *v) {
    NnclOnnx__AttributeProto *a = keep(malloc(sizeof *a));
    nncl_onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = a->has_s = true;
    a->type = NNCL_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)v;
    return a;
}

/* A node: op, inputs (NULL-terminated list), one output, attributes. */
static NnclOnnx__NodeProto *node(const char *op, const char *const *inputs, const char *output,
                                 NnclOnnx__AttributeProto **attrs, size_t n_attrs) {
    NnclOnnx__NodeProto *n = keep(malloc(sizeof *n));
    nncl_onnx__node_proto__init(n);
    n->op_type = (char *)op;
    for (n->n_input = 0; inputs[n->n_input]; n->n_input++) {
    }
    n->input = keep(malloc(n->n_input * sizeof *n->input));
    for (size_t i = 0; i < n->n_input; i++)
        n->input[i] = (char *)inputs[i];
    n->n_output = 1;
    n->output = keep(malloc(sizeof *n->output));
    n->output[0] = (char *)output;
    n->n_attribute = n_attrs;
    n->attribute = attrs;
    return n;
}

/* Packs a graph over input "x" (float, x_dims; a dim <= 0 is symbolic)
 * with the given nodes, initializers and outputs at opset 14 into
 * test_dir/file, releases the arena, and returns the path. */
static const char *write_onnx(const char *file, NnclOnnx__NodeProto **nodes, size_t n_nodes,
                              NnclOnnx__TensorProto **inits, size_t n_inits, const int64_t *x_dims,
                              int x_rank, const char *const *outputs, size_t n_outputs) {
    NnclOnnx__TensorShapeProto__Dimension dims[NNCL_MAX_RANK], *dim_ptrs[NNCL_MAX_RANK];
    for (int d = 0; d < x_rank; d++) {
        nncl_onnx__tensor_shape_proto__dimension__init(&dims[d]);
        if (x_dims[d] > 0) {
            dims[d].value_case = NNCL_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[d].dim_value = x_dims[d];
        } else {
            dims[d].value_case = NNCL_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[d].dim_param = "batch";
        }
        dim_ptrs[d] = &dims[d];
    }
    NnclOnnx__TensorShapeProto shape = NNCL_ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = (size_t)x_rank;
    shape.dim = dim_ptrs;
    NnclOnnx__TypeProto__Tensor tt = NNCL_ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = true;
    tt.elem_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt.shape = &shape;
    NnclOnnx__TypeProto type = NNCL_ONNX__TYPE_PROTO__INIT;
    type.value_case = NNCL_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type.tensor_type = &tt;
    NnclOnnx__ValueInfoProto in = NNCL_ONNX__VALUE_INFO_PROTO__INIT, out[4], *ins[] = {&in},
                             *outs[4];
    in.name = "x";
    in.type = &type;
    assert_true(n_outputs <= 4);
    for (size_t k = 0; k < n_outputs; k++) {
        nncl_onnx__value_info_proto__init(&out[k]);
        out[k].name = (char *)outputs[k];
        outs[k] = &out[k];
    }
    NnclOnnx__GraphProto g = NNCL_ONNX__GRAPH_PROTO__INIT;
    g.n_node = n_nodes, g.node = nodes, g.n_initializer = n_inits, g.initializer = inits;
    g.n_input = 1, g.input = ins, g.n_output = n_outputs, g.output = outs;
    NnclOnnx__OperatorSetIdProto opset = NNCL_ONNX__OPERATOR_SET_ID_PROTO__INIT,
                                 *opsets[] = {&opset};
    opset.has_version = true;
    opset.version = 14;
    NnclOnnx__ModelProto m = NNCL_ONNX__MODEL_PROTO__INIT;
    m.n_opset_import = 1, m.opset_import = opsets, m.graph = &g;
    size_t size = nncl_onnx__model_proto__get_packed_size(&m);
    uint8_t *bytes = malloc(size);
    assert_non_null(bytes);
    nncl_onnx__model_proto__pack(&m, bytes);
    release_all();
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", test_dir, file);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size, f), size);
    fclose(f);
    free(bytes);
    return path;
}

/* ---- the network */

enum { N = 2, S = 6 };
static float w1[3 * 1 * 3 * 3], b1[3], gamma_[3], beta_[3], mean_[3], var_[3], w2[4 * 3 * 2 * 2],
    fc_w[5 * 4], fc_b[5];

static void fill(float *v, int n, float scale, float shift) {
    for (int i = 0; i < n; i++)
        v[i] = scale * (float)((i * 37 + 11) % 17 - 8) / 8.0f + shift;
}

/* The model as ONNX: Conv(pads 1) - BatchNormalization - Relu - MaxPool 2
 * - Conv(2x2, stride 2, auto_pad SAME_UPPER, no bias) - GlobalAveragePool -
 * Flatten - Gemm(transB 1), opset 14, into test_dir/file. gemm_alpha 1
 * normally; extra_op replaces the Relu. */
static const char *write_model(const char *file, const char *extra_op, float gemm_alpha) {
    fill(w1, 27, 0.5f, 0), fill(b1, 3, 0.2f, 0), fill(gamma_, 3, 0.3f, 1), fill(beta_, 3, 0.1f, 0);
    fill(mean_, 3, 0.2f, 0), fill(var_, 3, 0.2f, 1), fill(w2, 48, 0.3f, 0);
    fill(fc_w, 20, 0.4f, 0), fill(fc_b, 5, 0.1f, 0);
    NnclOnnx__TensorProto *inits[] = {
        tensor("conv1.weight", (int64_t[]){3, 1, 3, 3}, 4, w1),
        tensor("conv1.bias", (int64_t[]){3}, 1, b1),
        tensor("bn.scale", (int64_t[]){3}, 1, gamma_),
        tensor("bn.B", (int64_t[]){3}, 1, beta_),
        tensor("bn.mean", (int64_t[]){3}, 1, mean_),
        tensor("bn.var", (int64_t[]){3}, 1, var_),
        tensor("onnx::Conv_7", (int64_t[]){4, 3, 2, 2}, 4, w2),
        tensor("fc.weight", (int64_t[]){5, 4}, 2, fc_w),
        tensor("fc.bias", (int64_t[]){5}, 1, fc_b),
    };
    NnclOnnx__AttributeProto **conv1_attrs = keep(malloc(2 * sizeof *conv1_attrs));
    conv1_attrs[0] = ints_attr("pads", (int64_t[]){1, 1, 1, 1}, 4);
    conv1_attrs[1] = ints_attr("kernel_shape", (int64_t[]){3, 3}, 2);
    NnclOnnx__AttributeProto **bn_attrs = keep(malloc(2 * sizeof *bn_attrs));
    bn_attrs[0] = float_attr("epsilon", 1e-3f);
    bn_attrs[1] = float_attr("momentum", 0.8f);
    NnclOnnx__AttributeProto **pool_attrs = keep(malloc(2 * sizeof *pool_attrs));
    pool_attrs[0] = ints_attr("kernel_shape", (int64_t[]){2, 2}, 2);
    pool_attrs[1] = ints_attr("strides", (int64_t[]){2, 2}, 2);
    NnclOnnx__AttributeProto **conv2_attrs = keep(malloc(2 * sizeof *conv2_attrs));
    conv2_attrs[0] = ints_attr("strides", (int64_t[]){2, 2}, 2);
    conv2_attrs[1] = string_attr("auto_pad", "SAME_UPPER");
    NnclOnnx__AttributeProto **gemm_attrs = keep(malloc(2 * sizeof *gemm_attrs));
    gemm_attrs[0] = int_attr("transB", 1);
    gemm_attrs[1] = float_attr("alpha", gemm_alpha);
    NnclOnnx__NodeProto *nodes[] = {
        node("Conv", (const char *[]){"x", "conv1.weight", "conv1.bias", NULL}, "c1", conv1_attrs,
             2),
        node("BatchNormalization",
             (const char *[]){"c1", "bn.scale", "bn.B", "bn.mean", "bn.var", NULL}, "bn1", bn_attrs,
             2),
        node(extra_op ? extra_op : "Relu", (const char *[]){"bn1", NULL}, "r1", NULL, 0),
        node("MaxPool", (const char *[]){"r1", NULL}, "p1", pool_attrs, 2),
        node("Conv", (const char *[]){"p1", "onnx::Conv_7", NULL}, "c2", conv2_attrs, 2),
        node("GlobalAveragePool", (const char *[]){"c2", NULL}, "gap", NULL, 0),
        node("Flatten", (const char *[]){"gap", NULL}, "flat", NULL, 0),
        node("Gemm", (const char *[]){"flat", "fc.weight", "fc.bias", NULL}, "logits", gemm_attrs,
             2),
    };
    nodes[0]->name = "conv1";
    return write_onnx(file, nodes, sizeof nodes / sizeof nodes[0], inits,
                      sizeof inits / sizeof inits[0], (int64_t[]){0, 1, S, S}, 4,
                      (const char *[]){"logits"}, 1); /* a symbolic batch */
}

/* The same network through the API, from ONNX's definitions: pads [1, 1,
 * 1, 1] is 1 on each side; SAME_UPPER at stride 2 over 3x3 with a 2x2
 * kernel gives ceil(3 / 2) = 2 outputs and pads (2 - 1) * 2 + 2 - 3 = 1 in
 * all, at the end; ONNX momentum 0.8 is PyTorch's 0.2. */
static nncl_node *reference(nncl_graph *g, nncl_node *x) {
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 3, .kernel = {3, 3}, .padding = {1, 1}}, "c1");
    h = nncl_batch_norm(g, h, &(nncl_batch_norm_params){.eps = 1e-3f, .momentum = 0.2f}, "bn1");
    h = nncl_max_pool(g, nncl_relu(g, h, NULL), &(nncl_pool_params){.kernel = {2, 2}}, NULL);
    h = nncl_conv(g, h,
                  &(nncl_conv_params){.out_channels = 4,
                                      .kernel = {2, 2},
                                      .stride = {2, 2},
                                      .pad_end = {1, 1},
                                      .no_bias = true},
                  "c2");
    h = nncl_flatten(g, nncl_global_avg_pool(g, h, NULL), NULL);
    return nncl_linear(g, h, 5, NULL, "fc");
}

static void test_imported_cnn_matches_the_api(void **state) {
    (void)state;
    const char *path = write_model("cnn.onnx", NULL, 1.0f);
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_onnx_model *m;
    ASSERT_OK(nncl_onnx_import(g, path, &(nncl_onnx_options){.batch = N}, &m));
    assert_int_equal(m->n_inputs, 1);
    assert_int_equal(m->n_outputs, 1);
    assert_int_equal(m->opset, 14);
    assert_string_equal(nncl_node_name(m->inputs[0]), "x");
    assert_true(nncl_node_shape(m->inputs[0]).dims[0] == N);
    assert_ptr_equal(nncl_graph_node(g, "logits"), m->outputs[0]);
    /* Parameters carry the initializers' names and values. */
    float got[48];
    ASSERT_OK(nncl_graph_param_read(g, "onnx::Conv_7", got, sizeof w2));
    assert_memory_equal(got, w2, sizeof w2);
    ASSERT_OK(nncl_graph_param_read(g, "bn.var", got, sizeof var_));
    assert_memory_equal(got, var_, sizeof var_);

    nncl_graph *r;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &r));
    nncl_node *rx = nncl_input(r, "x", NNCL_SHAPE(N, 1, S, S));
    nncl_node *ry = reference(r, rx);
    ASSERT_OK(nncl_graph_status(r));
    const struct {
        const char *ours, *theirs;
        const float *v;
        size_t bytes;
    } params[] = {{"c1.weight", "conv1.weight", w1, sizeof w1},
                  {"c1.bias", "conv1.bias", b1, sizeof b1},
                  {"bn1.weight", "bn.scale", gamma_, sizeof gamma_},
                  {"bn1.bias", "bn.B", beta_, sizeof beta_},
                  {"bn1.running_mean", "bn.mean", mean_, sizeof mean_},
                  {"bn1.running_var", "bn.var", var_, sizeof var_},
                  {"c2.weight", "onnx::Conv_7", w2, sizeof w2},
                  {"fc.weight", "fc.weight", fc_w, sizeof fc_w},
                  {"fc.bias", "fc.bias", fc_b, sizeof fc_b}};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        ASSERT_OK(nncl_graph_param_write(r, params[i].ours, params[i].v, params[i].bytes));
    float x[N * S * S], want[N * 5], have[N * 5];
    for (int i = 0; i < N * S * S; i++)
        x[i] = (float)((i * 53) % 29 - 14) / 7.0f;
    ASSERT_OK(nncl_graph_set_input(r, rx, x, sizeof x));
    ASSERT_OK(nncl_graph_infer(r, ry, want, sizeof want));
    ASSERT_OK(nncl_graph_set_input(g, m->inputs[0], x, sizeof x));
    ASSERT_OK(nncl_graph_infer(g, m->outputs[0], have, sizeof have));
    for (int i = 0; i < N * 5; i++)
        if (!(fabsf(have[i] - want[i]) <= 1e-5f + 1e-5f * fabsf(want[i])))
            fail_msg("output %d: imported %g, API %g", i, have[i], want[i]);
    nncl_onnx_model_free(m);
    nncl_graph_destroy(g);
    nncl_graph_destroy(r);
}

/* A Constant node's value attribute. */
static NnclOnnx__NodeProto *constant(const char *output, NnclOnnx__TensorProto *t) {
    NnclOnnx__AttributeProto **a = keep(malloc(sizeof *a));
    a[0] = keep(malloc(sizeof **a));
    nncl_onnx__attribute_proto__init(a[0]);
    a[0]->name = "value";
    a[0]->has_type = true;
    a[0]->type = NNCL_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    a[0]->t = t;
    return node("Constant", (const char *[]){NULL}, output, a, 1);
}

static float proj_w[4 * 5], proj_b[5];

/* Tensor algebra, opset 14: y1 = Softmax(Reshape((x @ W + b) * 0.5, [0, -1]))
 * and y2 = Concat(t, t - t / 2) on axis 1, t = Transpose(x, [0, 2, 1]);
 * x [2, 3, 4]. The scalars and the shape come from Constant nodes. */
static const char *write_algebra(void) {
    fill(proj_w, 20, 0.6f, 0), fill(proj_b, 5, 0.3f, 0.1f);
    float half = 0.5f, two = 2.0f;
    NnclOnnx__TensorProto *shape = tensor("shape_t", (int64_t[]){2}, 1, (float[]){0, 0});
    shape->data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    shape->n_float_data = 0;
    shape->n_int64_data = 2;
    shape->int64_data = keep(malloc(2 * sizeof *shape->int64_data));
    shape->int64_data[0] = 0, shape->int64_data[1] = -1;
    NnclOnnx__TensorProto *inits[] = {tensor("proj.weight", (int64_t[]){4, 5}, 2, proj_w),
                                      tensor("proj.bias", (int64_t[]){5}, 1, proj_b)};
    NnclOnnx__AttributeProto **perm = keep(malloc(sizeof *perm)),
                             **axis = keep(malloc(sizeof *axis));
    perm[0] = ints_attr("perm", (int64_t[]){0, 2, 1}, 3);
    axis[0] = int_attr("axis", 1);
    NnclOnnx__NodeProto *nodes[] = {
        constant("half", tensor("half_t", NULL, 0, &half)),
        constant("two", tensor("two_t", NULL, 0, &two)),
        constant("shape", shape),
        node("MatMul", (const char *[]){"x", "proj.weight", NULL}, "mm", NULL, 0),
        node("Add", (const char *[]){"mm", "proj.bias", NULL}, "a", NULL, 0),
        node("Mul", (const char *[]){"a", "half", NULL}, "m", NULL, 0),
        node("Reshape", (const char *[]){"m", "shape", NULL}, "r", NULL, 0),
        node("Softmax", (const char *[]){"r", NULL}, "y1", NULL, 0),
        node("Transpose", (const char *[]){"x", NULL}, "t", perm, 1),
        node("Div", (const char *[]){"t", "two", NULL}, "d", NULL, 0),
        node("Sub", (const char *[]){"t", "d", NULL}, "s", NULL, 0),
        node("Concat", (const char *[]){"t", "s", NULL}, "y2", axis, 1),
    };
    return write_onnx("algebra.onnx", nodes, sizeof nodes / sizeof nodes[0], inits, 2,
                      (int64_t[]){2, 3, 4}, 3, (const char *[]){"y1", "y2"}, 2);
}

/* The same computed on the host, in double. */
static void test_tensor_algebra_against_the_host(void **state) {
    (void)state;
    const char *path = write_algebra();
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_onnx_model *m;
    ASSERT_OK(nncl_onnx_import(g, path, NULL, &m));
    assert_int_equal(m->n_outputs, 2);
    /* The projection trains; the Constants' scalars are frozen. */
    assert_int_equal(nncl_graph_trainable_count(g), 20 + 5 + 1 + 1);
    assert_int_equal(nncl_graph_frozen_count(g), 2);
    float x[2 * 3 * 4], y1[2 * 15], y2[2 * 8 * 3];
    for (int i = 0; i < 24; i++)
        x[i] = (float)((i * 7) % 11 - 5) / 4.0f;
    ASSERT_OK(nncl_graph_set_input(g, m->inputs[0], x, sizeof x));
    nncl_graph_set_training(g, false);
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_read(g, m->outputs[0], y1, sizeof y1));
    ASSERT_OK(nncl_graph_read(g, m->outputs[1], y2, sizeof y2));
    for (int n = 0; n < 2; n++) {
        double r[15], peak = -1e300, sum = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++) {
                double v = proj_b[j];
                for (int k = 0; k < 4; k++)
                    v += (double)x[(n * 3 + i) * 4 + k] * proj_w[k * 5 + j];
                r[i * 5 + j] = 0.5 * v;
                peak = r[i * 5 + j] > peak ? r[i * 5 + j] : peak;
            }
        for (int k = 0; k < 15; k++)
            sum += exp(r[k] - peak);
        for (int k = 0; k < 15; k++) {
            double want = exp(r[k] - peak) / sum;
            if (fabs(y1[n * 15 + k] - want) > 1e-6 + 1e-5 * want)
                fail_msg("y1[%d][%d] = %g, host %g", n, k, y1[n * 15 + k], want);
        }
        for (int c = 0; c < 8; c++)
            for (int i = 0; i < 3; i++) {
                double t = x[(n * 3 + i) * 4 + c % 4], want = c < 4 ? t : t - t / 2;
                if (fabs(y2[(n * 8 + c) * 3 + i] - want) > 1e-6)
                    fail_msg("y2[%d][%d][%d] = %g, host %g", n, c, i, y2[(n * 8 + c) * 3 + i],
                             want);
            }
    }
    nncl_onnx_model_free(m);
    nncl_graph_destroy(g);
}

static NnclOnnx__TensorProto *int_tensor(const char *name, const int64_t *v, int64_t n) {
    NnclOnnx__TensorProto *t = tensor(name, (int64_t[]){n}, 1, (float[8]){0});
    t->data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_float_data = 0;
    t->n_int64_data = (size_t)n;
    t->int64_data = keep(malloc((size_t)n * sizeof *v));
    memcpy(t->int64_data, v, (size_t)n * sizeof *v);
    return t;
}

static float ct_w[2 * 3 * 3 * 3], ct_b[3], slopes[2];

/* Shape ops, opset 14, x [1, 2, 4, 4]:
 *   u  = Resize(Slice(Pad(x, reflect 1 on H and W), W from 1 step 2), nearest x2)
 *   sq = Squeeze(Unsqueeze(HardSwish(ReduceMean(ConvTranspose(x), [2, 3], keepdims 0)), 2), 2)
 *   pr = PRelu(x, slopes [2, 1, 1])
 * ConvTranspose: 2 -> 3 channels, 3x3, stride 2, pads 1, output_padding 1. */
static const char *write_shapes(void) {
    fill(ct_w, 54, 0.5f, 0), fill(ct_b, 3, 0.2f, 0), fill(slopes, 2, 0.5f, 0.1f);
    NnclOnnx__TensorProto *inits[] = {
        tensor("up.weight", (int64_t[]){2, 3, 3, 3}, 4, ct_w),
        tensor("up.bias", (int64_t[]){3}, 1, ct_b),
        tensor("act.weight", (int64_t[]){2, 1, 1}, 3, slopes),
        int_tensor("pads", (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1}, 8),
        int_tensor("starts", (int64_t[]){1}, 1),
        int_tensor("ends", (int64_t[]){INT64_MAX}, 1),
        int_tensor("axes", (int64_t[]){3}, 1),
        int_tensor("steps", (int64_t[]){2}, 1),
        tensor("scales", (int64_t[]){4}, 1, (float[]){1, 1, 2, 2}),
        int_tensor("axis2", (int64_t[]){2}, 1),
    };
    NnclOnnx__AttributeProto **pad_mode = keep(malloc(sizeof *pad_mode)),
                             **resize = keep(malloc(3 * sizeof *resize)),
                             **ct = keep(malloc(3 * sizeof *ct)),
                             **mean = keep(malloc(2 * sizeof *mean));
    pad_mode[0] = string_attr("mode", "reflect");
    resize[0] = string_attr("mode", "nearest");
    resize[1] = string_attr("coordinate_transformation_mode", "asymmetric");
    resize[2] = string_attr("nearest_mode", "floor");
    ct[0] = ints_attr("strides", (int64_t[]){2, 2}, 2);
    ct[1] = ints_attr("pads", (int64_t[]){1, 1, 1, 1}, 4);
    ct[2] = ints_attr("output_padding", (int64_t[]){1, 1}, 2);
    mean[0] = ints_attr("axes", (int64_t[]){2, 3}, 2);
    mean[1] = int_attr("keepdims", 0);
    NnclOnnx__NodeProto *nodes[] = {
        node("Pad", (const char *[]){"x", "pads", NULL}, "p", pad_mode, 1),
        node("Slice", (const char *[]){"p", "starts", "ends", "axes", "steps", NULL}, "s", NULL, 0),
        node("Resize", (const char *[]){"s", "", "scales", NULL}, "u", resize, 3),
        node("ConvTranspose", (const char *[]){"x", "up.weight", "up.bias", NULL}, "ct", ct, 3),
        node("ReduceMean", (const char *[]){"ct", NULL}, "r", mean, 2),
        node("HardSwish", (const char *[]){"r", NULL}, "hs", NULL, 0),
        node("Unsqueeze", (const char *[]){"hs", "axis2", NULL}, "un", NULL, 0),
        node("Squeeze", (const char *[]){"un", "axis2", NULL}, "sq", NULL, 0),
        node("PRelu", (const char *[]){"x", "act.weight", NULL}, "pr", NULL, 0),
    };
    return write_onnx("shapes.onnx", nodes, sizeof nodes / sizeof nodes[0], inits,
                      sizeof inits / sizeof inits[0], (int64_t[]){1, 2, 4, 4}, 4,
                      (const char *[]){"u", "sq", "pr"}, 3);
}

static void check_near(const char *what, int i, double have, double want) {
    if (fabs(have - want) > 1e-5 + 1e-5 * fabs(want))
        fail_msg("%s[%d] = %g, host %g", what, i, have, want);
}

static void test_shape_ops_against_the_host(void **state) {
    (void)state;
    const char *path = write_shapes();
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_onnx_model *m;
    ASSERT_OK(nncl_onnx_import(g, path, NULL, &m));
    float x[32], u[2 * 12 * 6], sq[3], pr[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)((i * 13) % 17 - 8) / 5.0f;
    ASSERT_OK(nncl_graph_set_input(g, m->inputs[0], x, sizeof x));
    nncl_graph_set_training(g, false);
    ASSERT_OK(nncl_graph_forward(g));
    assert_int_equal(nncl_node_shape(m->outputs[0]).dims[2], 12);
    ASSERT_OK(nncl_graph_read(g, m->outputs[0], u, sizeof u));
    ASSERT_OK(nncl_graph_read(g, m->outputs[1], sq, sizeof sq));
    ASSERT_OK(nncl_graph_read(g, m->outputs[2], pr, sizeof pr));
    /* u: reflect-pad to 6x6, keep columns 1, 3, 5, repeat every pixel 2x2. */
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 12; y++)
            for (int xx = 0; xx < 6; xx++) {
                int py = y / 2, px = 1 + 2 * (xx / 2);    /* in the padded 6x6 */
                int sy = py - 1, sx = px - 1;             /* in x, before reflection */
                sy = sy < 0 ? -sy : sy > 3 ? 6 - sy : sy; /* reflect without the edge */
                sx = sx < 0 ? -sx : sx > 3 ? 6 - sx : sx;
                int k = (c * 12 + y) * 6 + xx;
                check_near("u", k, u[k], x[(c * 4 + sy) * 4 + sx]);
            }
    /* sq: the transposed convolution's spatial means, then hard-swish. */
    for (int co = 0; co < 3; co++) {
        double sum = 0;
        for (int oy = 0; oy < 8; oy++)
            for (int ox = 0; ox < 8; ox++) {
                double v = ct_b[co];
                for (int ci = 0; ci < 2; ci++)
                    for (int iy = 0; iy < 4; iy++)
                        for (int ix = 0; ix < 4; ix++) {
                            int ky = oy + 1 - 2 * iy, kx = ox + 1 - 2 * ix; /* pad 1, stride 2 */
                            if (ky < 0 || ky > 2 || kx < 0 || kx > 2) continue;
                            v += (double)x[(ci * 4 + iy) * 4 + ix] *
                                 ct_w[((ci * 3 + co) * 3 + ky) * 3 + kx];
                        }
                sum += v;
            }
        double mean = sum / 64, r6 = fmin(fmax(mean + 3, 0), 6);
        check_near("sq", co, sq[co], mean * r6 / 6);
    }
    for (int i = 0; i < 32; i++)
        check_near("pr", i, pr[i], x[i] > 0 ? x[i] : slopes[i / 16] * x[i]);
    nncl_onnx_model_free(m);
    nncl_graph_destroy(g);
}

/* nncl-run in test_dir; returns its exit status, output in out. */
static int run(const char *args, char *out, size_t size) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>&1", test_dir, NNCL_RUN_EXE, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* nncl-run on the algebra model: its output files hold what the import
 * computes in process, --compare accepts them and refuses a changed one. */
static void test_nncl_run(void **state) {
    (void)state;
    write_algebra();
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s/in", test_dir);
    mkdir(dir, 0755);
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)((i * 5) % 13 - 6) / 3.0f;
    snprintf(path, sizeof path, "%s/input_0.pb", dir);
    ASSERT_OK(nncl_onnx_tensor_write(path, "x", NNCL_SHAPE(2, 3, 4), x));
    static char out[8192];
    int rc = run("algebra.onnx --inputs in --outputs out", out, sizeof out);
    if (rc) fail_msg("nncl-run failed (%d): %s", rc, out);
    /* The same model in process. */
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_onnx_model *m;
    snprintf(path, sizeof path, "%s/algebra.onnx", test_dir);
    ASSERT_OK(nncl_onnx_import(g, path, NULL, &m));
    ASSERT_OK(nncl_graph_set_input(g, m->inputs[0], x, sizeof x));
    nncl_graph_set_training(g, false);
    ASSERT_OK(nncl_graph_forward(g));
    for (size_t k = 0; k < 2; k++) {
        nncl_shape shape, want_shape = nncl_node_shape(m->outputs[k]);
        float *have, want[48];
        snprintf(path, sizeof path, "%s/out/output_%zu.pb", test_dir, k);
        ASSERT_OK(nncl_onnx_tensor_read(path, &shape, &have));
        assert_int_equal(shape.rank, want_shape.rank);
        assert_memory_equal(shape.dims, want_shape.dims, (size_t)shape.rank * sizeof shape.dims[0]);
        size_t bytes = (size_t)nncl_shape_numel(shape) * sizeof(float);
        ASSERT_OK(nncl_graph_read(g, m->outputs[k], want, bytes));
        assert_memory_equal(have, want, bytes);
        nncl_free(have);
    }
    rc = run("algebra.onnx --inputs in --outputs out2 --compare out", out, sizeof out);
    if (rc) fail_msg("--compare with its own outputs failed (%d): %s", rc, out);
    assert_contains(out, "output 1: 48 values match");
    /* One value changed beyond the tolerance. */
    float changed[30];
    ASSERT_OK(nncl_graph_read(g, m->outputs[0], changed, sizeof changed));
    changed[7] += 0.01f;
    snprintf(path, sizeof path, "%s/out/output_0.pb", test_dir);
    ASSERT_OK(nncl_onnx_tensor_write(path, "y1", NNCL_SHAPE(2, 15), changed));
    rc = run("algebra.onnx --inputs in --outputs out2 --compare out", out, sizeof out);
    assert_int_equal(rc, 1);
    assert_contains(out, "output 0: 1 of 30 values differ");
    assert_contains(out, "the largest at 7");
    /* No inputs where the model needs one; a model that is not there. */
    assert_int_equal(run("algebra.onnx --inputs nowhere --outputs o", out, sizeof out), 1);
    assert_contains(out, "takes 1 inputs");
    assert_int_equal(run("missing.onnx --inputs in --outputs o", out, sizeof out), 1);
    assert_contains(out, "missing.onnx");
    assert_int_equal(run("--inputs in", out, sizeof out), 2);
    nncl_onnx_model_free(m);
    nncl_graph_destroy(g);
}

/* A tensor file of the PyTorch-exported classifier (tools/gen-onnx-models.py). */
static float *classifier_file(const char *name, int64_t want) {
    char path[512];
    snprintf(path, sizeof path, "%s/onnx/classifier/%s.pb", NNCL_TEST_DATA, name);
    nncl_shape shape;
    float *v;
    ASSERT_OK(nncl_onnx_tensor_read(path, &shape, &v));
    assert_int_equal(nncl_shape_numel(shape), want);
    return v;
}

/* Fine-tuning an imported model: the cross-entropy of PyTorch's exported
 * classifier on fixed labels, and the gradients of its first convolution
 * and its head, equal PyTorch's (batch norm, padding, pooling, grouped
 * convolution, dropout and Gemm all on the way back). */
static void test_imported_model_trains_as_pytorch(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/onnx/classifier/model.onnx", NNCL_TEST_DATA);
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_onnx_model *m;
    ASSERT_OK(nncl_onnx_import(g, path, &(nncl_onnx_options){.batch = 2}, &m));
    nncl_node *labels = nncl_input_labels(g, "labels", 2);
    nncl_node *loss = nncl_cross_entropy(g, m->outputs[0], labels, NULL, "loss");
    ASSERT_OK(nncl_graph_status(g));
    float *x = classifier_file("input_0", 2 * 3 * 16 * 16), *y = classifier_file("labels", 2);
    int32_t ids[2] = {(int32_t)y[0], (int32_t)y[1]};
    ASSERT_OK(nncl_graph_set_input(g, m->inputs[0], x, 2 * 3 * 16 * 16 * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, labels, ids, sizeof ids));
    nncl_graph_set_training(g, false); /* PyTorch's reference is in eval mode */
    ASSERT_OK(nncl_graph_zero_grad(g));
    ASSERT_OK(nncl_graph_forward(g));
    ASSERT_OK(nncl_graph_backward(g, loss, NULL, 0));
    float have_loss, *want_loss = classifier_file("loss", 1);
    ASSERT_OK(nncl_graph_read(g, loss, &have_loss, sizeof have_loss));
    check_near("loss", 0, have_loss, want_loss[0]);
    const struct {
        const char *param;
        int64_t count;
    } grads[] = {
        {"features.0.weight", 8 * 3 * 3 * 3}, {"head.2.weight", 10 * 16}, {"head.2.bias", 10}};
    for (size_t k = 0; k < sizeof grads / sizeof grads[0]; k++) {
        char name[64];
        snprintf(name, sizeof name, "grad.%s", grads[k].param);
        float *want = classifier_file(name, grads[k].count), have[256];
        ASSERT_OK(
            nncl_graph_grad_read(g, grads[k].param, have, (size_t)grads[k].count * sizeof(float)));
        for (int64_t i = 0; i < grads[k].count; i++)
            if (fabs(have[i] - want[i]) > 1e-6 + 1e-4 * fabs(want[i]))
                fail_msg("%s[%lld] = %g, PyTorch %g", name, (long long)i, have[i], want[i]);
        nncl_free(want);
    }
    nncl_free(x), nncl_free(y), nncl_free(want_loss);
    nncl_onnx_model_free(m);
    nncl_graph_destroy(g);
}

/* Conv(x, w) with both as graph inputs (ONNX's test cases pass weights
 * so): with their values given to the import, w becomes the weight and
 * x's symbolic dims take the given shape. */
static void test_weights_given_as_inputs(void **state) {
    (void)state;
    NnclOnnx__AttributeProto **pads = keep(malloc(sizeof *pads));
    pads[0] = ints_attr("pads", (int64_t[]){1, 1, 1, 1}, 4);
    NnclOnnx__NodeProto *nodes[] = {node("Conv", (const char *[]){"x", "w", NULL}, "y", pads, 1)};
    NnclOnnx__ValueInfoProto in[2], out = NNCL_ONNX__VALUE_INFO_PROTO__INIT;
    NnclOnnx__ValueInfoProto *ins[] = {&in[0], &in[1]}, *outs[] = {&out};
    for (int k = 0; k < 2; k++)
        nncl_onnx__value_info_proto__init(&in[k]);
    in[0].name = "x", in[1].name = "w", out.name = "y"; /* no types: the values give shapes */
    NnclOnnx__GraphProto g = NNCL_ONNX__GRAPH_PROTO__INIT;
    g.n_node = 1, g.node = nodes, g.n_input = 2, g.input = ins, g.n_output = 1, g.output = outs;
    NnclOnnx__OperatorSetIdProto opset = NNCL_ONNX__OPERATOR_SET_ID_PROTO__INIT,
                                 *opsets[] = {&opset};
    opset.has_version = true, opset.version = 11;
    NnclOnnx__ModelProto m = NNCL_ONNX__MODEL_PROTO__INIT;
    m.n_opset_import = 1, m.opset_import = opsets, m.graph = &g;
    size_t size = nncl_onnx__model_proto__get_packed_size(&m);
    uint8_t *bytes = malloc(size);
    nncl_onnx__model_proto__pack(&m, bytes);
    release_all();
    char path[256];
    snprintf(path, sizeof path, "%s/inputs.onnx", test_dir);
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, size, f);
    fclose(f);
    free(bytes);

    float x[16], w[9], y[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i % 5) - 2;
    for (int i = 0; i < 9; i++)
        w[i] = (float)(i % 4) * 0.5f - 0.7f;
    nncl_onnx_input_value values[] = {{NNCL_SHAPE(1, 1, 4, 4), x}, {NNCL_SHAPE(1, 1, 3, 3), w}};
    nncl_graph *gr;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &gr));
    nncl_onnx_model *model;
    ASSERT_OK(nncl_onnx_import(
        gr, path, &(nncl_onnx_options){.input_values = values, .n_input_values = 2}, &model));
    assert_int_equal(model->n_inputs, 2);
    ASSERT_OK(nncl_graph_set_input(gr, model->inputs[0], x, sizeof x));
    ASSERT_OK(nncl_graph_set_input(gr, model->inputs[1], w, sizeof w));
    ASSERT_OK(nncl_graph_infer(gr, model->outputs[0], y, sizeof y));
    for (int oy = 0; oy < 4; oy++)
        for (int ox = 0; ox < 4; ox++) {
            double v = 0;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    int iy = oy + ky - 1, ix = ox + kx - 1;
                    if (iy >= 0 && iy < 4 && ix >= 0 && ix < 4)
                        v += x[iy * 4 + ix] * w[ky * 3 + kx];
                }
            check_near("y", oy * 4 + ox, y[oy * 4 + ox], v);
        }
    nncl_onnx_model_free(model);
    nncl_graph_destroy(gr);
}

/* Relu(x) -> r, If(r) with both branches one graph: returning x when
 * with_output, nothing otherwise. */
static const char *write_if(bool with_output) {
    NnclOnnx__GraphProto *branch = keep(malloc(sizeof *branch));
    nncl_onnx__graph_proto__init(branch);
    NnclOnnx__ValueInfoProto *branch_out = keep(malloc(sizeof *branch_out));
    nncl_onnx__value_info_proto__init(branch_out);
    branch_out->name = "x"; /* the enclosing graph's input */
    branch->n_output = with_output;
    branch->output = keep(malloc(sizeof *branch->output));
    branch->output[0] = branch_out;
    NnclOnnx__AttributeProto **branches = keep(malloc(2 * sizeof *branches));
    for (int k = 0; k < 2; k++) {
        branches[k] = keep(malloc(sizeof **branches));
        nncl_onnx__attribute_proto__init(branches[k]);
        branches[k]->name = k ? "else_branch" : "then_branch";
        branches[k]->has_type = true;
        branches[k]->type = NNCL_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
        branches[k]->g = branch;
    }
    NnclOnnx__NodeProto *nodes[] = {node("Relu", (const char *[]){"x", NULL}, "r", NULL, 0),
                                    node("If", (const char *[]){"r", NULL}, "y", branches, 2)};
    return write_onnx("if.onnx", nodes, 2, NULL, 0, (int64_t[]){1}, 1, (const char *[]){"r"}, 1);
}

static void expect_refusal(const char *path, const char *part1, const char *part2) {
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_onnx_model *m = (nncl_onnx_model *)1;
    nncl_status st = nncl_onnx_import(g, path, NULL, &m);
    if (st == NNCL_OK) fail_msg("%s imported; expected \"%s\"", path, part1);
    assert_null(m);
    assert_contains(nncl_last_error(), part1);
    if (part2) assert_contains(nncl_last_error(), part2);
    nncl_graph_destroy(g);
}

static void test_refusals_name_the_node(void **state) {
    (void)state;
    expect_refusal(write_model("einsum.onnx", "Einsum", 1.0f), "node 2 (Einsum)",
                   "the operator Einsum is not supported");
    expect_refusal(write_model("lrn.onnx", "LRN", 1.0f), "node 2 (LRN)",
                   "attribute 'size' must be odd");
    /* Shapes that do not fit: the builder's message, naming the node. */
    static float wide[4 * 3];
    NnclOnnx__NodeProto *mismatch[] = {
        node("Add", (const char *[]){"x", "c", NULL}, "sum", NULL, 0)};
    NnclOnnx__TensorProto *c[] = {tensor("c", (int64_t[]){4, 3}, 2, wide)};
    expect_refusal(write_onnx("mismatch.onnx", mismatch, 1, c, 1, (int64_t[]){2, 5}, 2,
                              (const char *[]){"sum"}, 1),
                   "op 'add' node 'sum'", "[2, 5] and 'c' [4, 3] must be features whose shapes");
    /* An If whose condition is computed: nncl builds one branch only; a
     * branch without outputs is refused by the reader. */
    expect_refusal(write_if(true), "node 1 (If)", "the condition must be a constant");
    expect_refusal(write_if(false), "node 1 (If), subgraph 'then_branch'",
                   "the graph has no outputs");
    char path[256];
    snprintf(path, sizeof path, "%s/missing.onnx", test_dir);
    expect_refusal(path, "missing.onnx", "cannot open");
    /* Not ONNX at all. */
    snprintf(path, sizeof path, "%s/text.onnx", test_dir);
    FILE *f = fopen(path, "w");
    fputs("hello", f);
    fclose(f);
    expect_refusal(path, "text.onnx", "not an ONNX model");
}

/* Tensor files that are not: refused naming the file, nothing returned. */
static void test_bad_tensor_files(void **state) {
    (void)state;
    char path[256];
    nncl_shape shape;
    float *v = (float *)1;
    snprintf(path, sizeof path, "%s/missing.pb", test_dir);
    assert_int_equal(nncl_onnx_tensor_read(path, &shape, &v), NNCL_ERROR_IO);
    assert_null(v);
    assert_contains(nncl_last_error(), "missing.pb");
    snprintf(path, sizeof path, "%s/garbage.pb", test_dir);
    FILE *f = fopen(path, "wb");
    fputs("\xff\xff\xff", f);
    fclose(f);
    v = (float *)1;
    assert_int_equal(nncl_onnx_tensor_read(path, &shape, &v), NNCL_ERROR_INVALID_ARGUMENT);
    assert_null(v);
    assert_contains(nncl_last_error(), "not an ONNX TensorProto");
    float one = 1;
    assert_int_equal(nncl_onnx_tensor_write(path, "x", (nncl_shape){.rank = 0}, &one),
                     NNCL_ERROR_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imported_cnn_matches_the_api),
        cmocka_unit_test(test_tensor_algebra_against_the_host),
        cmocka_unit_test(test_shape_ops_against_the_host),
        cmocka_unit_test(test_refusals_name_the_node),
        cmocka_unit_test(test_nncl_run),
        cmocka_unit_test(test_imported_model_trains_as_pytorch),
        cmocka_unit_test(test_weights_given_as_inputs),
        cmocka_unit_test(test_bad_tensor_files),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
