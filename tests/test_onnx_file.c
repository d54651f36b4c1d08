/* The ONNX file reader on models the test encodes with protobuf-c: a valid
 * one (graph input, initializers in raw and typed form, a Constant node,
 * nodes in order) reads and decodes; each malformed one (truncated bytes,
 * a field of the wrong wire type,
 * opsets outside 1-17, no graph, an input nothing defines, a value defined
 * twice, data of the wrong size, external data, unsupported types and
 * domains) is refused with a message naming the node, tensor or value. */
#include "harness.h"
#include "onnx/onnx_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A model under construction: protobuf-c structs on the stack, packed by
 * pack(). Two nodes: Conv(x, w, b) -> y, Relu(y) -> z. */
typedef struct model {
    NnclOnnx__ModelProto m;
    NnclOnnx__OperatorSetIdProto opset, *opsets[1];
    NnclOnnx__GraphProto g;
    NnclOnnx__ValueInfoProto in, out, *ins[1], *outs[1];
    NnclOnnx__TensorProto w, b, *inits[2];
    NnclOnnx__NodeProto conv, relu, *nodes[2];
    char *conv_in[3], *conv_out[1], *relu_in[1], *relu_out[1];
    float w_values[8];
    uint8_t b_raw[8];
    int64_t w_dims[4], b_dims[1];
} model;

static void build(model *d) {
    memset(d, 0, sizeof *d);
    nncl_onnx__model_proto__init(&d->m);
    nncl_onnx__operator_set_id_proto__init(&d->opset);
    nncl_onnx__graph_proto__init(&d->g);
    nncl_onnx__value_info_proto__init(&d->in);
    nncl_onnx__value_info_proto__init(&d->out);
    nncl_onnx__tensor_proto__init(&d->w);
    nncl_onnx__tensor_proto__init(&d->b);
    nncl_onnx__node_proto__init(&d->conv);
    nncl_onnx__node_proto__init(&d->relu);
    d->opset.has_version = true;
    d->opset.version = 13;
    d->opsets[0] = &d->opset;
    d->m.n_opset_import = 1;
    d->m.opset_import = d->opsets;
    d->m.has_ir_version = true;
    d->m.ir_version = 8;
    d->m.graph = &d->g;
    d->in.name = "x";
    d->out.name = "z";
    d->ins[0] = &d->in;
    d->outs[0] = &d->out;
    d->g.n_input = d->g.n_output = 1;
    d->g.input = d->ins;
    d->g.output = d->outs;
    /* w: float [2, 1, 2, 2] in float_data, values i - 3.5. */
    int64_t wd[4] = {2, 1, 2, 2};
    memcpy(d->w_dims, wd, sizeof wd);
    for (int i = 0; i < 8; i++)
        d->w_values[i] = (float)i - 3.5f;
    d->w.name = "w";
    d->w.has_data_type = true;
    d->w.data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    d->w.n_dims = 4;
    d->w.dims = d->w_dims;
    d->w.n_float_data = 8;
    d->w.float_data = d->w_values;
    /* b: float [2] in raw_data, 0.25 and -2 (little-endian IEEE bits). */
    d->b_dims[0] = 2;
    float bv[2] = {0.25f, -2.0f};
    for (int k = 0; k < 2; k++) {
        uint32_t u;
        memcpy(&u, &bv[k], 4);
        for (int i = 0; i < 4; i++)
            d->b_raw[4 * k + i] = (uint8_t)(u >> (8 * i));
    }
    d->b.name = "b";
    d->b.has_data_type = true;
    d->b.data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    d->b.n_dims = 1;
    d->b.dims = d->b_dims;
    d->b.has_raw_data = true;
    d->b.raw_data.len = 8;
    d->b.raw_data.data = d->b_raw;
    d->inits[0] = &d->w;
    d->inits[1] = &d->b;
    d->g.n_initializer = 2;
    d->g.initializer = d->inits;
    d->conv_in[0] = "x", d->conv_in[1] = "w", d->conv_in[2] = "b";
    d->conv_out[0] = "y";
    d->conv.op_type = "Conv";
    d->conv.name = "conv1";
    d->conv.n_input = 3;
    d->conv.input = d->conv_in;
    d->conv.n_output = 1;
    d->conv.output = d->conv_out;
    d->relu_in[0] = "y";
    d->relu_out[0] = "z";
    d->relu.op_type = "Relu";
    d->relu.n_input = 1;
    d->relu.input = d->relu_in;
    d->relu.n_output = 1;
    d->relu.output = d->relu_out;
    d->nodes[0] = &d->conv;
    d->nodes[1] = &d->relu;
    d->g.n_node = 2;
    d->g.node = d->nodes;
}

/* The model's bytes (malloc'ed). */
static uint8_t *pack(const model *d, size_t *size) {
    *size = nncl_onnx__model_proto__get_packed_size(&d->m);
    uint8_t *bytes = malloc(*size);
    assert_non_null(bytes);
    nncl_onnx__model_proto__pack(&d->m, bytes);
    return bytes;
}

/* Parses d and expects st, with both parts in the message when it fails. */
static void expect(const model *d, nncl_status want, const char *part1, const char *part2) {
    size_t size;
    uint8_t *bytes = pack(d, &size);
    nncl_onnx_file f;
    nncl_status st = nncl_onnx_parse(bytes, size, "m.onnx", &f);
    free(bytes);
    if (st != want) fail_msg("status %d, expected %d: %s", st, want, nncl_last_error());
    if (st == NNCL_OK) {
        nncl_onnx_close(&f);
        return;
    }
    assert_contains(nncl_last_error(), "m.onnx");
    assert_contains(nncl_last_error(), part1);
    if (part2) assert_contains(nncl_last_error(), part2);
}

static void test_reads_a_valid_model(void **state) {
    (void)state;
    model d;
    build(&d);
    size_t size;
    uint8_t *bytes = pack(&d, &size);
    nncl_onnx_file f;
    ASSERT_OK(nncl_onnx_parse(bytes, size, "m.onnx", &f));
    assert_int_equal(f.opset, 13);
    assert_int_equal(f.graph->n_node, 2);
    assert_string_equal(f.graph->node[0]->op_type, "Conv");
    float *v;
    int64_t n;
    ASSERT_OK(nncl_onnx_tensor_floats(f.graph->initializer[0], &v, &n));
    assert_int_equal(n, 8);
    for (int i = 0; i < 8; i++)
        assert_float_equal(v[i], i - 3.5, 0);
    free(v);
    ASSERT_OK(nncl_onnx_tensor_floats(f.graph->initializer[1], &v, &n));
    assert_int_equal(n, 2);
    assert_float_equal(v[0], 0.25, 0);
    assert_float_equal(v[1], -2.0, 0);
    free(v);
    nncl_onnx_close(&f);
    /* Truncated: every proper prefix that protobuf-c rejects is an error,
     * never a crash; the last bytes of a nested message always are. */
    nncl_status st = nncl_onnx_parse(bytes, size - 3, "m.onnx", &f);
    assert_int_equal(st, NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "not an ONNX model");
    free(bytes);
    /* A known field with the wrong wire type: the graph (7) as a varint. */
    const uint8_t wire[] = {0x08, 0x07, 0x38, 0x05};
    assert_int_equal(nncl_onnx_parse(wire, sizeof wire, "m.onnx", &f), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "m.onnx");
    /* The same bytes from a file. */
    char path[256];
    snprintf(path, sizeof path, "%s/m.onnx", test_dir);
    bytes = pack(&d, &size);
    FILE *out = fopen(path, "wb");
    fwrite(bytes, 1, size, out);
    fclose(out);
    free(bytes);
    ASSERT_OK(nncl_onnx_read(path, &f));
    assert_int_equal(f.graph->n_initializer, 2);
    nncl_onnx_close(&f);
    snprintf(path, sizeof path, "%s/missing.onnx", test_dir);
    assert_int_equal(nncl_onnx_read(path, &f), NNCL_ERROR_IO);
    assert_contains(nncl_last_error(), "missing.onnx");
}

static void test_integer_tensors_exactly(void **state) {
    (void)state;
    model d;
    build(&d);
    int64_t big[3] = {INT64_MAX, -7, INT64_MIN + 1}, dims[1] = {3};
    NnclOnnx__TensorProto t = d.w;
    t.data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t.n_float_data = 0;
    t.n_dims = 1;
    t.dims = dims;
    t.n_int64_data = 3;
    t.int64_data = big;
    int64_t *v, n;
    ASSERT_OK(nncl_onnx_tensor_ints(&t, &v, &n));
    assert_true(n == 3 && v[0] == INT64_MAX && v[1] == -7 && v[2] == INT64_MIN + 1);
    free(v);
    uint8_t raw[24];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 8; i++)
            raw[8 * k + i] = (uint8_t)((uint64_t)big[k] >> (8 * i));
    t.n_int64_data = 0;
    t.has_raw_data = true;
    t.raw_data.len = sizeof raw;
    t.raw_data.data = raw;
    ASSERT_OK(nncl_onnx_tensor_ints(&t, &v, &n));
    assert_true(n == 3 && v[0] == INT64_MAX && v[1] == -7 && v[2] == INT64_MIN + 1);
    free(v);
    /* Floats where whole numbers are needed. */
    assert_int_equal(nncl_onnx_tensor_ints(&d.w, &v, &n), NNCL_ERROR_INVALID_ARGUMENT);
    assert_contains(nncl_last_error(), "element 0 is -3.5");
}

static void test_refuses_malformed_models(void **state) {
    (void)state;
    model d;
    build(&d);
    expect(&d, NNCL_OK, NULL, NULL);
    d.opset.version = 0;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "opset 0", "1 to 17");
    d.opset.version = 18;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "opset 18", NULL);
    d.opset.version = 13;
    d.opset.domain = "com.microsoft";
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "no opset of the default ONNX domain", NULL);
    build(&d);
    d.m.graph = NULL;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "no graph", NULL);
    build(&d);
    d.conv_in[0] = "image";
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "node 'conv1' (Conv) reads 'image' (input 0)",
           "topological order");
    build(&d);
    d.nodes[0] = &d.relu, d.nodes[1] = &d.conv; /* out of order */
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "node 0 (Relu) reads 'y'", NULL);
    build(&d);
    d.relu_out[0] = "w";
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "node 1 (Relu) writes 'w' (output 0)",
           "already defined");
    build(&d);
    d.out.name = "nowhere";
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "graph output 0 ('nowhere')", NULL);
    build(&d);
    d.w.n_float_data = 7;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "tensor 'w' holds 7 values for 8 elements", NULL);
    build(&d);
    d.b.raw_data.len = 6;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "tensor 'b' holds 6 raw bytes", NULL);
    build(&d);
    d.w_dims[0] = -2;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "tensor 'w'", "negative");
    build(&d);
    d.w.data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "tensor 'w' has data type 8", NULL);
    build(&d);
    d.b.has_data_location = true;
    d.b.data_location = NNCL_ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "tensor 'b' keeps its data in an external file", NULL);
    build(&d);
    d.b.name = "w";
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "initializer 1 is named again", NULL);
    build(&d);
    d.relu.domain = "com.example";
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "node 1 (Relu) is from domain 'com.example'", NULL);
    build(&d);
    d.conv.op_type = "";
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "node 'conv1' (", "no op type");
    build(&d);
    d.g.n_output = 0;
    expect(&d, NNCL_ERROR_INVALID_ARGUMENT, "no outputs", NULL);
}

/* A model encoded field by field by tests/fuzz/make_seeds.py (a second
 * encoder, independent of protobuf-c) reads the same: the seed the fuzzer
 * starts from is a valid model. */
static void test_reads_a_hand_encoded_model(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/fuzz_onnx/constant", NNCL_FUZZ_CORPUS);
    nncl_onnx_file f;
    ASSERT_OK(nncl_onnx_read(path, &f));
    assert_int_equal(f.graph->n_node, 3);
    const NnclOnnx__AttributeProto *k = f.graph->node[0]->attribute[0];
    assert_string_equal(k->name, "kernel_shape");
    assert_true(k->n_ints == 2 && k->ints[0] == 2 && k->ints[1] == 2);
    int64_t *v, n;
    ASSERT_OK(nncl_onnx_tensor_ints(f.graph->node[2]->attribute[0]->t, &v, &n));
    assert_true(n == 3 && v[0] == 1 && v[1] == 2 && v[2] == 3);
    free(v);
    float *w;
    ASSERT_OK(nncl_onnx_tensor_floats(f.graph->initializer[1], &w, &n));
    assert_true(n == 2 && w[0] == 0.25f && w[1] == -2.0f);
    free(w);
    nncl_onnx_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_a_valid_model),
        cmocka_unit_test(test_integer_tensors_exactly),
        cmocka_unit_test(test_refuses_malformed_models),
        cmocka_unit_test(test_reads_a_hand_encoded_model),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
