/* ONNX export (nncl_onnx_export): the plain model ops describe
 * (graph/onnx_writer.h) as protobuf-c messages over its own memory, packed
 * and written atomically. Opset 17, weights as raw float32 initializers. */
#include "../graph/onnx_writer.h"
#include "../io/atomic.h"
#include "onnx_file.h"

#include <stdlib.h>
#include <string.h>

enum { EXPORT_OPSET = 17, EXPORT_IR_VERSION = 8 };

/* Every message the conversion allocates, freed together. */
typedef struct arena {
    void **blocks;
    size_t n, cap;
    bool failed;
} arena;

static void *alloc(arena *a, size_t bytes) {
    if (a->failed) return NULL;
    void *p = calloc(1, bytes ? bytes : 1);
    if (p && a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        void **grown = realloc(a->blocks, cap * sizeof *grown);
        if (!grown)
            free(p), p = NULL;
        else
            a->blocks = grown, a->cap = cap;
    }
    if (!p) return a->failed = true, NULL;
    return a->blocks[a->n++] = p;
}

static NnclOnnx__ValueInfoProto *value_info(arena *a, const nncl_ox_io *v) {
    NnclOnnx__ValueInfoProto *vi = alloc(a, sizeof *vi);
    NnclOnnx__TypeProto *type = alloc(a, sizeof *type);
    NnclOnnx__TypeProto__Tensor *tensor = alloc(a, sizeof *tensor);
    NnclOnnx__TensorShapeProto *shape = alloc(a, sizeof *shape);
    NnclOnnx__TensorShapeProto__Dimension **dims = alloc(a, (size_t)v->shape.rank * sizeof *dims);
    if (!vi || !type || !tensor || !shape || !dims) return NULL;
    nncl_onnx__value_info_proto__init(vi);
    nncl_onnx__type_proto__init(type);
    nncl_onnx__type_proto__tensor__init(tensor);
    nncl_onnx__tensor_shape_proto__init(shape);
    for (int32_t d = 0; d < v->shape.rank; d++) {
        if (!(dims[d] = alloc(a, sizeof *dims[d]))) return NULL;
        nncl_onnx__tensor_shape_proto__dimension__init(dims[d]);
        if (d == 0 && v->batch) {
            dims[d]->value_case = NNCL_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[d]->dim_param = "N";
        } else {
            dims[d]->value_case = NNCL_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[d]->dim_value = v->shape.dims[d];
        }
    }
    shape->n_dim = (size_t)v->shape.rank;
    shape->dim = dims;
    tensor->has_elem_type = true;
    tensor->elem_type = v->ints ? NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64
                                : NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tensor->shape = shape;
    type->value_case = NNCL_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    vi->name = (char *)v->name;
    vi->type = type;
    return vi;
}

static NnclOnnx__TensorProto *initializer(arena *a, const nncl_ox_tensor *t) {
    NnclOnnx__TensorProto *p = alloc(a, sizeof *p);
    if (!p) return NULL;
    nncl_onnx__tensor_proto__init(p);
    p->name = (char *)t->name;
    p->n_dims = (size_t)t->rank;
    p->dims = (int64_t *)t->dims;
    p->has_data_type = true;
    p->has_raw_data = true;
    if (t->ints) {
        p->data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        p->raw_data = (ProtobufCBinaryData){(size_t)t->numel * 8, (uint8_t *)t->ints};
    } else {
        p->data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        p->raw_data = (ProtobufCBinaryData){(size_t)t->numel * 4, (uint8_t *)t->floats};
    }
    return p;
}

static NnclOnnx__NodeProto *node_proto(arena *a, const nncl_ox_node *n) {
    NnclOnnx__NodeProto *p = alloc(a, sizeof *p);
    NnclOnnx__AttributeProto **attrs = alloc(a, (size_t)n->n_attrs * sizeof *attrs);
    char **outputs = alloc(a, sizeof *outputs);
    if (!p || !attrs || !outputs) return NULL;
    nncl_onnx__node_proto__init(p);
    p->op_type = (char *)n->op_type;
    p->name = (char *)n->output;
    p->n_input = (size_t)n->n_inputs;
    p->input = (char **)n->inputs;
    outputs[0] = (char *)n->output;
    p->n_output = 1;
    p->output = outputs;
    for (int k = 0; k < n->n_attrs; k++) {
        const nncl_ox_attr *s = &n->attrs[k];
        NnclOnnx__AttributeProto *at = attrs[k] = alloc(a, sizeof *at);
        if (!at) return NULL;
        nncl_onnx__attribute_proto__init(at);
        at->name = (char *)s->name;
        at->has_type = true;
        at->type = (NnclOnnx__AttributeProto__AttributeType)s->type;
        if (s->type == NNCL_OX_INT) at->has_i = true, at->i = s->i;
        if (s->type == NNCL_OX_FLOAT) at->has_f = true, at->f = s->f;
        if (s->type == NNCL_OX_STRING)
            at->has_s = true, at->s = (ProtobufCBinaryData){strlen(s->s), (uint8_t *)s->s};
        if (s->type == NNCL_OX_INTS) at->n_ints = (size_t)s->count, at->ints = s->ints;
    }
    p->n_attribute = (size_t)n->n_attrs;
    p->attribute = attrs;
    return p;
}

static NnclOnnx__ModelProto *model_proto(arena *a, const nncl_onnx_writer *w) {
    NnclOnnx__ModelProto *m = alloc(a, sizeof *m);
    NnclOnnx__GraphProto *g = alloc(a, sizeof *g);
    NnclOnnx__OperatorSetIdProto *opset = alloc(a, sizeof *opset),
                                 **opsets = alloc(a, sizeof *opsets);
    NnclOnnx__NodeProto **nodes = alloc(a, w->n_nodes * sizeof *nodes);
    NnclOnnx__TensorProto **inits = alloc(a, w->n_tensors * sizeof *inits);
    NnclOnnx__ValueInfoProto **ins = alloc(a, w->n_inputs * sizeof *ins),
                             **outs = alloc(a, w->n_outputs * sizeof *outs);
    if (!m || !g || !opset || !opsets || !nodes || !inits || !ins || !outs) return NULL;
    for (size_t i = 0; i < w->n_nodes; i++)
        if (!(nodes[i] = node_proto(a, &w->nodes[i]))) return NULL;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!(inits[i] = initializer(a, &w->tensors[i]))) return NULL;
    for (size_t i = 0; i < w->n_inputs; i++)
        if (!(ins[i] = value_info(a, &w->inputs[i]))) return NULL;
    for (size_t i = 0; i < w->n_outputs; i++)
        if (!(outs[i] = value_info(a, &w->outputs[i]))) return NULL;
    nncl_onnx__graph_proto__init(g);
    g->name = "nncl";
    g->n_node = w->n_nodes, g->node = nodes;
    g->n_initializer = w->n_tensors, g->initializer = inits;
    g->n_input = w->n_inputs, g->input = ins;
    g->n_output = w->n_outputs, g->output = outs;
    nncl_onnx__operator_set_id_proto__init(opset);
    opset->domain = "";
    opset->has_version = true;
    opset->version = EXPORT_OPSET;
    opsets[0] = opset;
    nncl_onnx__model_proto__init(m);
    m->has_ir_version = true;
    m->ir_version = EXPORT_IR_VERSION;
    m->producer_name = "nncl";
    m->n_opset_import = 1;
    m->opset_import = opsets;
    m->graph = g;
    return m;
}

nncl_status nncl_onnx_export(nncl_graph *g, const char *path, nncl_node *const *outputs,
                             size_t n_outputs) {
    if (!g || !path)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_onnx_export: NULL argument");
    nncl_onnx_writer w;
    nncl_status st = nncl_onnx_writer_build(g, outputs, n_outputs, &w);
    arena a = {0};
    NnclOnnx__ModelProto *m = st == NNCL_OK ? model_proto(&a, &w) : NULL;
    if (st == NNCL_OK && !m) st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: ONNX export", path);
    uint8_t *bytes = NULL;
    size_t size = 0;
    if (st == NNCL_OK) {
        size = nncl_onnx__model_proto__get_packed_size(m);
        if (!(bytes = malloc(size + 1)))
            st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: ONNX export", path);
        else
            nncl_onnx__model_proto__pack(m, bytes);
    }
    if (st == NNCL_OK) st = nncl_write_atomic(path, &(nncl_chunk){bytes, size}, 1);
    free(bytes);
    for (size_t i = 0; i < a.n; i++)
        free(a.blocks[i]);
    free(a.blocks);
    nncl_onnx_writer_free(&w);
    return st;
}
