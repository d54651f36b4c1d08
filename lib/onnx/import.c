/* ONNX import (nncl_onnx_import): each node of a checked model (onnx_file.h)
 * becomes nncl ops with ONNX's semantics (import_*.c), its weights
 * parameters named as the file's initializers, so checkpoints of an
 * imported model use the exporter's names. Values written to parameters
 * wait until every node is built, so the parameters are packed once. */
#include "importer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each operator with the oldest opset whose definition its mapper follows
 * (later versions up to NNCL_ONNX_MAX_OPSET included; where they differ
 * the mapper reads im->opset). */
static const struct {
    const char *op;
    int since;
    onnx_mapper map;
} mappers[] = {
    {"Conv", 1, onnx_map_conv},
    {"ConvTranspose", 1, onnx_map_conv_transpose},
    {"MaxPool", 1, onnx_map_pool},
    {"AveragePool", 1, onnx_map_pool},
    {"GlobalAveragePool", 1, onnx_map_global_pool},
    {"GlobalMaxPool", 1, onnx_map_global_pool},
    {"BatchNormalization", 7, onnx_map_batch_norm},
    {"InstanceNormalization", 6, onnx_map_instance_norm},
    {"LayerNormalization", 17, onnx_map_layer_norm},
    {"LRN", 1, onnx_map_lrn},
    {"Relu", 6, onnx_map_unary},
    {"LeakyRelu", 6, onnx_map_unary},
    {"Elu", 6, onnx_map_unary},
    {"Selu", 6, onnx_map_unary},
    {"Sigmoid", 6, onnx_map_unary},
    {"HardSigmoid", 6, onnx_map_unary},
    {"HardSwish", 14, onnx_map_unary},
    {"Tanh", 6, onnx_map_unary},
    {"Softplus", 1, onnx_map_unary},
    {"Abs", 6, onnx_map_unary},
    {"Neg", 6, onnx_map_unary},
    {"Exp", 6, onnx_map_unary},
    {"Log", 6, onnx_map_unary},
    {"Sqrt", 6, onnx_map_unary},
    {"Reciprocal", 6, onnx_map_unary},
    {"Erf", 9, onnx_map_unary},
    {"Identity", 1, onnx_map_unary},
    {"Clip", 6, onnx_map_clip},
    {"PRelu", 7, onnx_map_prelu},
    {"Add", 7, onnx_map_binary},
    {"Sub", 7, onnx_map_binary},
    {"Mul", 7, onnx_map_binary},
    {"Div", 7, onnx_map_binary},
    {"Pow", 7, onnx_map_binary},
    {"MatMul", 1, onnx_map_binary},
    {"Sum", 6, onnx_map_variadic},
    {"Max", 6, onnx_map_variadic},
    {"Min", 6, onnx_map_variadic},
    {"Mean", 6, onnx_map_variadic},
    {"Gemm", 7, onnx_map_gemm},
    {"Softmax", 1, onnx_map_softmax},
    {"LogSoftmax", 1, onnx_map_softmax},
    {"ReduceMean", 1, onnx_map_reduce},
    {"ReduceSum", 1, onnx_map_reduce},
    {"ReduceMax", 1, onnx_map_reduce},
    {"ReduceMin", 1, onnx_map_reduce},
    {"ArgMax", 1, onnx_map_argmax},
    {"OneHot", 9, onnx_map_one_hot},
    {"Dropout", 7, onnx_map_dropout},
    {"Concat", 4, onnx_map_concat},
    {"Split", 2, onnx_map_split},
    {"Reshape", 5, onnx_map_reshape},
    {"Flatten", 1, onnx_map_flatten},
    {"Transpose", 1, onnx_map_transpose},
    {"Squeeze", 1, onnx_map_squeeze},
    {"Unsqueeze", 1, onnx_map_squeeze},
    {"Pad", 2, onnx_map_pad},
    {"Slice", 1, onnx_map_slice},
    {"Gather", 1, onnx_map_gather},
    {"Resize", 10, onnx_map_resize},
    {"Upsample", 9, onnx_map_resize},
    {"SoftmaxCrossEntropyLoss", 12, onnx_map_class_loss},
    {"NegativeLogLikelihoodLoss", 12, onnx_map_class_loss},
};

static bool int_elem_type(int32_t type) {
    switch (type) {
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        return true;
    default:
        return false;
    }
}

/* Whether a node reads value `name` as ids or labels: Gather's indices,
 * the class losses' labels, OneHot's indices. */
static bool read_as_ids(const NnclOnnx__GraphProto *gr, const char *name) {
    for (size_t i = 0; i < gr->n_node; i++) {
        const NnclOnnx__NodeProto *n = gr->node[i];
        bool ids = !strcmp(n->op_type, "Gather") ||
                   !strcmp(n->op_type, "SoftmaxCrossEntropyLoss") ||
                   !strcmp(n->op_type, "NegativeLogLikelihoodLoss");
        if (ids && n->n_input > 1 && !strcmp(n->input[1], name)) return true;
        if (!strcmp(n->op_type, "OneHot") && n->n_input > 0 && !strcmp(n->input[0], name))
            return true;
    }
    return false;
}

/* Graph inputs that are not initializers become inputs: int32 ones where
 * integers are read as ids or labels, float ones otherwise (nncl computes
 * in float32, so double and integer data elsewhere are converted). With a value in the options
 * the shape is the value's, and operators that need a constant there (a
 * weight, pads, a shape) may read the value. */
static nncl_status add_inputs(importer *im, const NnclOnnx__GraphProto *gr, nncl_onnx_model *m) {
    size_t given = im->o && im->o->input_values ? im->o->n_input_values : 0;
    for (size_t i = 0; i < gr->n_input; i++) {
        const NnclOnnx__ValueInfoProto *v = gr->input[i];
        slot *s = onnx_lookup(im, v->name);
        if (s->name) continue; /* an initializer listed as an input too */
        const nncl_onnx_input_value *value =
            m->n_inputs < given ? &im->o->input_values[m->n_inputs] : NULL;
        const NnclOnnx__TypeProto__Tensor *t = v->type ? v->type->tensor_type : NULL;
        bool number = t && (t->elem_type == NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                            t->elem_type == NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
                            int_elem_type(t->elem_type));
        if ((!t && !value) || (t && !number))
            return nncl_fail(
                NNCL_ERROR_INVALID_ARGUMENT,
                "%s: graph input '%s' has element type %d; nncl takes float, double and "
                "integer tensors",
                im->file, v->name, t ? (int)t->elem_type : -1);
        nncl_shape shape = {0};
        if (value) {
            if (value->shape.rank < 1 || value->shape.rank > NNCL_MAX_RANK || !value->values)
                return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                 "%s: the value given for graph input '%s' needs 1 to %d dims",
                                 im->file, v->name, NNCL_MAX_RANK);
            shape = value->shape;
        } else {
            if (!t || !t->shape || !t->shape->n_dim || t->shape->n_dim > NNCL_MAX_RANK)
                return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                 "%s: graph input '%s' needs a tensor type with 1 to %d dims",
                                 im->file, v->name, NNCL_MAX_RANK);
            shape.rank = (int32_t)t->shape->n_dim;
            for (size_t d = 0; d < t->shape->n_dim; d++) {
                const NnclOnnx__TensorShapeProto__Dimension *dim = t->shape->dim[d];
                bool known =
                    dim->value_case == NNCL_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                    dim->dim_value > 0;
                shape.dims[d] = known                       ? dim->dim_value
                                : im->o && im->o->batch > 0 ? im->o->batch
                                                            : 1;
            }
        }
        bool ints = t && int_elem_type(t->elem_type) && read_as_ids(gr, v->name);
        nncl_node *x =
            ints ? nncl_input_labels_nd(im->g, v->name, shape) : nncl_input(im->g, v->name, shape);
        if (!x) return nncl_graph_status(im->g);
        const NnclOnnx__TensorProto *constant = NULL;
        if (value) {
            int64_t n = nncl_shape_numel(shape), *as_ints = NULL;
            if (ints && !(as_ints = malloc((size_t)n * sizeof *as_ints))) return onnx_no_memory(im);
            for (int64_t k = 0; ints && k < n; k++)
                as_ints[k] = (int64_t)value->values[k];
            constant = onnx_make_tensor(im, v->name, shape.dims, shape.rank, as_ints,
                                        ints ? NULL : value->values);
            free(as_ints);
            if (!constant) return onnx_no_memory(im);
        }
        *s = (slot){.name = v->name, .node = x, .tensor = constant};
        m->inputs[m->n_inputs++] = x;
    }
    return NNCL_OK;
}

static nncl_status map_node(importer *im, const NnclOnnx__NodeProto *n, const char *label);

/* If with a constant condition (exporters write them around shape checks):
 * the branch taken is built in place, its outputs bound to the If's. */
static nncl_status map_if(importer *im, const NnclOnnx__NodeProto *n, const char *label) {
    const NnclOnnx__TensorProto *cond = onnx_has_input(n, 0) ? onnx_tensor(im, n, 0) : NULL;
    if (!cond || onnx_value(im, n, 0) || onnx_numel(cond) != 1)
        return onnx_fail(im, label, "the condition must be a constant of one value%s", "");
    int64_t *v, count;
    nncl_status st = nncl_onnx_tensor_ints(cond, &v, &count);
    if (st != NNCL_OK) return st;
    bool taken = v[0] != 0;
    free(v);
    const NnclOnnx__AttributeProto *branch = onnx_attr(n, taken ? "then_branch" : "else_branch");
    if (!branch || !branch->g || branch->g->n_output != n->n_output)
        return onnx_fail(im, label, "the branch taken must have one output per output of the If%s",
                         "");
    const NnclOnnx__GraphProto *g = branch->g;
    for (size_t i = 0; st == NNCL_OK && i < g->n_node; i++) {
        char inner[192];
        snprintf(inner, sizeof inner, "%s, %s node %zu (%s)", label,
                 taken ? "then_branch" : "else_branch", i, g->node[i]->op_type);
        st = map_node(im, g->node[i], inner);
    }
    for (size_t k = 0; st == NNCL_OK && k < n->n_output; k++) {
        slot *from = onnx_lookup(im, g->output[k]->name);
        if (!from->name)
            return onnx_fail(im, label, "branch output '%s' is not computed", g->output[k]->name);
        slot bound = *from;
        bound.name = n->output[k];
        *onnx_lookup(im, n->output[k]) = bound;
    }
    return st;
}

static nncl_status map_node(importer *im, const NnclOnnx__NodeProto *n, const char *label) {
    if (!n->n_output || !n->output[0][0]) return onnx_fail(im, label, "has no output%s", "");
    if (!strcmp(n->op_type, "Constant")) {
        const NnclOnnx__AttributeProto *v = onnx_attr(n, "value");
        if (!v || !v->t)
            return onnx_fail(im, label, "only the 'value' tensor form is supported%s", "");
        *onnx_lookup(im, n->output[0]) =
            (slot){.name = n->output[0], .tensor = v->t, .constant = true};
        return NNCL_OK;
    }
    if (!strcmp(n->op_type, "If")) return map_if(im, n, label);
    bool folded;
    nncl_status st = onnx_fold(im, n, label, &folded);
    if (st != NNCL_OK || folded) return st;
    for (size_t k = 0; k < sizeof mappers / sizeof mappers[0]; k++) {
        if (strcmp(mappers[k].op, n->op_type)) continue;
        if (im->opset < mappers[k].since) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "opset %lld defines an older %%s than nncl maps (opset %d and later)",
                     (long long)im->opset, mappers[k].since);
            return onnx_fail(im, label, msg, n->op_type);
        }
        nncl_node *y = NULL;
        st = mappers[k].map(im, n, label, &y);
        if (st == NNCL_OK) *onnx_lookup(im, n->output[0]) = (slot){.name = n->output[0], .node = y};
        return st;
    }
    return onnx_fail(im, label, "the operator %s is not supported", n->op_type);
}

static nncl_status build(importer *im, const nncl_onnx_file *f, nncl_onnx_model *m) {
    const NnclOnnx__GraphProto *gr = f->graph;
    for (size_t i = 0; i < gr->n_initializer; i++)
        *onnx_lookup(im, gr->initializer[i]->name) =
            (slot){.name = gr->initializer[i]->name, .tensor = gr->initializer[i]};
    nncl_status st = add_inputs(im, gr, m);
    for (size_t i = 0; st == NNCL_OK && i < gr->n_node; i++) {
        const NnclOnnx__NodeProto *n = gr->node[i];
        char label[160];
        if (n->name && n->name[0])
            snprintf(label, sizeof label, "node '%s' (%s)", n->name, n->op_type);
        else
            snprintf(label, sizeof label, "node %zu (%s)", i, n->op_type);
        st = map_node(im, n, label);
    }
    /* A constant output (folded, or a Constant) is a frozen parameter. */
    for (size_t i = 0; st == NNCL_OK && i < gr->n_output; i++) {
        slot *s = onnx_lookup(im, gr->output[i]->name);
        if (s->name && !s->node) s->constant = true;
        nncl_node *y = onnx_slot_node(im, s);
        if (!y)
            st = nncl_graph_status(im->g) != NNCL_OK
                     ? nncl_graph_status(im->g)
                     : nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                 "%s: graph output '%s' is not computed by any node", im->file,
                                 gr->output[i]->name);
        else
            m->outputs[m->n_outputs++] = y;
    }
    for (size_t i = 0; st == NNCL_OK && i < im->n_writes; i++)
        st = nncl_graph_param_write(im->g, im->writes[i].param, im->writes[i].values,
                                    (size_t)im->writes[i].count * sizeof(float));
    return st;
}

nncl_status nncl_onnx_import(nncl_graph *g, const char *path, const nncl_onnx_options *options,
                             nncl_onnx_model **out) {
    if (!g || !path || !out)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_onnx_import: NULL argument");
    *out = NULL;
    nncl_onnx_file f;
    nncl_status st = nncl_onnx_read(path, &f);
    if (st != NNCL_OK) return st;
    const NnclOnnx__GraphProto *gr = f.graph;
    size_t names = nncl_onnx_value_count(gr);
    importer im = {.g = g, .file = path, .o = options, .opset = f.opset, .cap = 16};
    while (im.cap < 2 * names)
        im.cap *= 2;
    im.slots = calloc(im.cap, sizeof *im.slots);
    nncl_onnx_model *m = calloc(1, sizeof *m);
    if (m) {
        m->inputs = calloc(gr->n_input + 1, sizeof *m->inputs);
        m->outputs = calloc(gr->n_output + 1, sizeof *m->outputs);
        m->opset = f.opset;
    }
    if (!im.slots || !m || !m->inputs || !m->outputs)
        st = nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: import", path);
    else
        st = build(&im, &f, m);
    for (size_t i = 0; i < im.n_writes; i++)
        free(im.writes[i].param), free(im.writes[i].values);
    free(im.writes);
    free(im.slots);
    for (size_t i = 0; i < im.n_made; i++) {
        free(im.made[i]->dims), free(im.made[i]->int64_data), free(im.made[i]->float_data);
        free(im.made[i]);
    }
    free(im.made);
    nncl_onnx_close(&f);
    if (st != NNCL_OK) {
        nncl_onnx_model_free(m);
        return st;
    }
    *out = m;
    return NNCL_OK;
}

void nncl_onnx_model_free(nncl_onnx_model *m) {
    if (!m) return;
    free(m->inputs);
    free(m->outputs);
    free(m);
}
