/* ONNX import (nncl_onnx_import): each node of a checked model (onnx_file.h)
 * becomes the nncl op with ONNX's semantics, its weights parameters named
 * as the file's initializers, so checkpoints of an imported model use the
 * exporter's names. Values written to parameters wait until every node is
 * built, so the parameters are packed once. */
#include "../graph/graph.h"
#include "onnx_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A name -> entry map (open addressing) for values and tensors. */
typedef struct slot {
    const char *name;
    nncl_node *node;                     /* a value the graph computes */
    const NnclOnnx__TensorProto *tensor; /* an initializer or Constant's value */
    bool constant;                       /* from a Constant node: never trained */
} slot;

typedef struct pending_write {
    char *param;
    float *values;
    int64_t count;
} pending_write;

typedef struct importer {
    nncl_graph *g;
    const char *file;
    const nncl_onnx_options *o;
    int64_t opset;
    slot *slots;
    size_t cap;
    pending_write *writes;
    size_t n_writes, writes_cap;
    NnclOnnx__TensorProto *owned[64]; /* value_tensor's, freed at the end */
    size_t n_owned;
} importer;

static slot *lookup(importer *im, const char *name) {
    for (size_t i = nncl_onnx_name_hash(name) & (im->cap - 1);; i = (i + 1) & (im->cap - 1))
        if (!im->slots[i].name || !strcmp(im->slots[i].name, name)) return &im->slots[i];
}

static nncl_status fail_node(importer *im, const char *label, const char *fmt, const char *detail) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "%s: %s: %s", im->file, label, msg);
}

/* ---- attributes */

static const NnclOnnx__AttributeProto *attr(const NnclOnnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const NnclOnnx__NodeProto *n, const char *name, int64_t fallback) {
    const NnclOnnx__AttributeProto *a = attr(n, name);
    return a && a->has_i ? a->i : fallback;
}

static float attr_float(const NnclOnnx__NodeProto *n, const char *name, float fallback) {
    const NnclOnnx__AttributeProto *a = attr(n, name);
    return a && a->has_f ? a->f : fallback;
}

/* Up to max ints into out; returns how many (0 when absent), -1 for more. */
static int attr_ints(const NnclOnnx__NodeProto *n, const char *name, int64_t *out, int max) {
    const NnclOnnx__AttributeProto *a = attr(n, name);
    if (!a) return 0;
    if (a->n_ints > (size_t)max) return -1;
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    return (int)a->n_ints;
}

/* The attribute's string, or fallback. */
static const char *attr_string(const NnclOnnx__NodeProto *n, const char *name, const char *fallback,
                               char *buf, size_t size) {
    const NnclOnnx__AttributeProto *a = attr(n, name);
    if (!a || !a->has_s) return fallback;
    size_t len = a->s.len < size - 1 ? a->s.len : size - 1;
    memcpy(buf, a->s.data, len);
    buf[len] = 0;
    return buf;
}

/* ---- values and parameters */

/* The node computing input k of n (a value, not a tensor), or NULL. */
static nncl_node *value_in(importer *im, const NnclOnnx__NodeProto *n, size_t k) {
    if (k >= n->n_input || !n->input[k][0]) return NULL;
    slot *s = lookup(im, n->input[k]);
    return s->name ? s->node : NULL;
}

/* The constant tensor of input k (an initializer or a Constant), or NULL. */
static const NnclOnnx__TensorProto *tensor_in(importer *im, const NnclOnnx__NodeProto *n,
                                              size_t k) {
    if (k >= n->n_input || !n->input[k][0]) return NULL;
    slot *s = lookup(im, n->input[k]);
    return s->name ? s->tensor : NULL;
}

static int64_t tensor_numel_of(const NnclOnnx__TensorProto *t) {
    int64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++)
        n *= t->dims[d]; /* checked by nncl_onnx_read */
    return n;
}

/* Remembers that parameter `param` takes tensor t's values after the build. */
static nncl_status queue_write(importer *im, const char *param, const NnclOnnx__TensorProto *t) {
    if (im->n_writes == im->writes_cap) {
        size_t cap = im->writes_cap ? 2 * im->writes_cap : 16;
        pending_write *grown = realloc(im->writes, cap * sizeof *grown);
        if (!grown) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: import", im->file);
        im->writes = grown;
        im->writes_cap = cap;
    }
    pending_write *w = &im->writes[im->n_writes];
    w->param = strdup(param);
    if (!w->param) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: import", im->file);
    nncl_status st = nncl_onnx_tensor_floats(t, &w->values, &w->count);
    if (st != NNCL_OK) {
        free(w->param);
        return st;
    }
    im->n_writes++;
    return NNCL_OK;
}

/* Renames parameter i of node to the initializer's name and queues its
 * values; the shapes must agree element for element. */
static nncl_status adopt(importer *im, nncl_node *node, size_t i, const NnclOnnx__TensorProto *t,
                         const char *label) {
    nncl_param_entry *p = nncl_node_param(im->g, node, i);
    int64_t numel = tensor_numel_of(t);
    if (!p || p->numel != numel) {
        char msg[160];
        snprintf(msg, sizeof msg, "initializer '%%s' has %lld elements where %lld are needed",
                 (long long)numel, p ? (long long)p->numel : 0LL);
        return fail_node(im, label, msg, t->name);
    }
    char *name = strdup(t->name);
    if (!name) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: import", im->file);
    free(p->name);
    p->name = name;
    return queue_write(im, t->name, t);
}

/* Input k of n as a node: a computed value, or a tensor (initializer or
 * Constant) as a parameter named after it, made once and holding its
 * values; a scalar becomes [1], which broadcasts the same. */
static nncl_node *operand(importer *im, const NnclOnnx__NodeProto *n, size_t k) {
    if (k >= n->n_input || !n->input[k][0]) return NULL;
    slot *s = lookup(im, n->input[k]);
    if (!s->name) return NULL;
    if (s->node) return s->node;
    const NnclOnnx__TensorProto *t = s->tensor;
    nncl_shape shape = {.rank = t->n_dims ? (int32_t)t->n_dims : 1, .dims = {1}};
    if (t->n_dims > NNCL_MAX_RANK) return NULL;
    for (size_t d = 0; d < t->n_dims; d++)
        shape.dims[d] = t->dims[d];
    nncl_node *p = nncl_parameter(im->g, s->name, shape, NNCL_INIT_ZEROS, 0);
    if (!p || queue_write(im, s->name, t) != NNCL_OK) return NULL;
    /* A Constant stays what it is: frozen (a graph still being built plans
     * afterwards, so the flag alone is enough). */
    if (s->constant) nncl_node_param(im->g, p, 0)->frozen = true;
    s->node = p;
    return p;
}

/* An int list from input k (a constant tensor) or, when absent, from the
 * attribute `name` (older opsets); *n -1 when neither is there, -2 when
 * the input is there but not constant. At most max values. */
static nncl_status ints_from(importer *im, const NnclOnnx__NodeProto *n, size_t k, const char *name,
                             int64_t *out, int max, int *count, const char *label) {
    *count = -1;
    if (k < n->n_input && n->input[k][0]) {
        const NnclOnnx__TensorProto *t = tensor_in(im, n, k);
        if (!t) return fail_node(im, label, "input '%s' must be a constant", n->input[k]);
        int64_t *v, c;
        nncl_status st = nncl_onnx_tensor_ints(t, &v, &c);
        if (st != NNCL_OK) return st;
        if (c > max) {
            free(v);
            return fail_node(im, label, "input '%s' holds too many values", n->input[k]);
        }
        memcpy(out, v, (size_t)c * sizeof *v);
        free(v);
        *count = (int)c;
        return NNCL_OK;
    }
    int got = attr_ints(n, name, out, max);
    if (got < 0) return fail_node(im, label, "attribute '%s' holds too many values", name);
    if (attr(n, name)) *count = got;
    return NNCL_OK;
}

/* A float from input k (a one-element constant) or attribute `name`. */
static nncl_status float_from(importer *im, const NnclOnnx__NodeProto *n, size_t k,
                              const char *name, float fallback, float *out, const char *label) {
    *out = attr_float(n, name, fallback);
    if (k >= n->n_input || !n->input[k][0]) return NNCL_OK;
    const NnclOnnx__TensorProto *t = tensor_in(im, n, k);
    float *v;
    int64_t c;
    if (!t) return fail_node(im, label, "input '%s' must be a constant", n->input[k]);
    nncl_status st = nncl_onnx_tensor_floats(t, &v, &c);
    if (st != NNCL_OK) return st;
    if (c == 1) *out = v[0];
    free(v);
    return c == 1 ? NNCL_OK : fail_node(im, label, "input '%s' must hold one value", n->input[k]);
}

/* ---- operators */

typedef nncl_status (*mapper)(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                              nncl_node **out);

/* Per-spatial-dim pads from ONNX's [x1_begin, x2_begin, ..., x1_end, ...]
 * or auto_pad, for a window of `kernel` (dilated) over x. */
static nncl_status window_pads(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                               nncl_shape x, int spatial, const int64_t *kernel,
                               const int64_t *stride, const int64_t *dilation, int64_t *begin,
                               int64_t *end) {
    int64_t pads[6] = {0};
    int np = attr_ints(n, "pads", pads, 6);
    if (np != 0 && np != 2 * spatial)
        return fail_node(im, label, "attribute 'pads' needs %s values",
                         spatial == 1   ? "2"
                         : spatial == 2 ? "4"
                                        : "6");
    char buf[32];
    const char *mode = attr_string(n, "auto_pad", "NOTSET", buf, sizeof buf);
    for (int d = 0; d < spatial; d++) {
        begin[d] = pads[d], end[d] = pads[spatial + d];
        if (!strcmp(mode, "NOTSET") || !strcmp(mode, "VALID")) {
            if (!strcmp(mode, "VALID")) begin[d] = end[d] = 0;
            continue;
        }
        if (strcmp(mode, "SAME_UPPER") && strcmp(mode, "SAME_LOWER"))
            return fail_node(im, label, "attribute 'auto_pad' is '%s'", mode);
        int64_t in = x.dims[2 + d], out = (in + stride[d] - 1) / stride[d];
        int64_t total = (out - 1) * stride[d] + (kernel[d] - 1) * dilation[d] + 1 - in;
        total = total > 0 ? total : 0;
        begin[d] = !strcmp(mode, "SAME_UPPER") ? total / 2 : total - total / 2;
        end[d] = total - begin[d];
    }
    return NNCL_OK;
}

static nncl_status map_conv(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    const NnclOnnx__TensorProto *w = tensor_in(im, n, 1), *b = tensor_in(im, n, 2);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    if (!w || w->n_dims < 3 || w->n_dims > 5)
        return fail_node(im, label, "the weight must be an initializer of 3 to 5 dims%s", "");
    if (n->n_input > 2 && n->input[2][0] && !b)
        return fail_node(im, label, "the bias must be an initializer%s", "");
    int spatial = (int)w->n_dims - 2;
    nncl_conv_params p = {
        .out_channels = w->dims[0], .groups = attr_int(n, "group", 1), .no_bias = !b};
    int64_t v[3] = {0};
    for (int d = 0; d < spatial; d++)
        p.kernel[d] = w->dims[2 + d], p.stride[d] = 1, p.dilation[d] = 1;
    int k = attr_ints(n, "kernel_shape", v, 3);
    for (int d = 0; d < k; d++)
        if (v[d] != p.kernel[d])
            return fail_node(im, label, "kernel_shape differs from the weight's%s", "");
    if ((k = attr_ints(n, "strides", v, 3)) == spatial)
        for (int d = 0; d < spatial; d++)
            p.stride[d] = v[d];
    if ((k = attr_ints(n, "dilations", v, 3)) == spatial)
        for (int d = 0; d < spatial; d++)
            p.dilation[d] = v[d];
    nncl_status st = window_pads(im, n, label, nncl_node_shape(x), spatial, p.kernel, p.stride,
                                 p.dilation, p.pad_begin, p.pad_end);
    if (st != NNCL_OK) return st;
    nncl_node *y = nncl_conv(im->g, x, &p, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    st = adopt(im, y, 0, w, label);
    if (st == NNCL_OK && b) st = adopt(im, y, 1, b, label);
    *out = y;
    return st;
}

static nncl_status map_pool(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    bool max = !strcmp(n->op_type, "MaxPool");
    if (n->n_output > 1 && n->output[1][0])
        return fail_node(im, label, "the Indices output is not supported%s", "");
    int spatial = nncl_node_shape(x).rank - 2;
    nncl_pool_params p = {.ceil_mode = attr_int(n, "ceil_mode", 0) != 0,
                          .exclude_pad = !max && !attr_int(n, "count_include_pad", 0)};
    int64_t v[3], one[3] = {1, 1, 1};
    if (attr_ints(n, "kernel_shape", p.kernel, 3) != spatial)
        return fail_node(im, label, "attribute 'kernel_shape' needs one value per spatial dim%s",
                         "");
    for (int d = 0; d < spatial; d++)
        p.stride[d] = 1, p.dilation[d] = 1;
    if (attr_ints(n, "strides", v, 3) == spatial)
        for (int d = 0; d < spatial; d++)
            p.stride[d] = v[d];
    if (attr_ints(n, "dilations", v, 3) == spatial)
        for (int d = 0; d < spatial; d++)
            p.dilation[d] = v[d];
    nncl_status st = window_pads(im, n, label, nncl_node_shape(x), spatial, p.kernel, p.stride,
                                 max ? p.dilation : one, p.pad_begin, p.pad_end);
    if (st != NNCL_OK) return st;
    *out =
        max ? nncl_max_pool(im->g, x, &p, n->output[0]) : nncl_avg_pool(im->g, x, &p, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

static nncl_status map_batch_norm(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                  nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    const NnclOnnx__TensorProto *t[4];
    for (int k = 0; k < 4; k++)
        if (!(t[k] = tensor_in(im, n, (size_t)k + 1)))
            return fail_node(im, label, "scale, B, mean and var must be initializers%s", "");
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    /* ONNX's momentum weighs the old statistics (0.9); PyTorch's the new (0.1). */
    nncl_batch_norm_params p = {.eps = attr_float(n, "epsilon", 1e-5f),
                                .momentum = 1 - attr_float(n, "momentum", 0.9f)};
    nncl_node *y = nncl_batch_norm(im->g, x, &p, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    nncl_status st = NNCL_OK;
    for (size_t k = 0; st == NNCL_OK && k < 4; k++) /* weight, bias, running_mean, running_var */
        st = adopt(im, y, k, t[k], label);
    *out = y;
    return st;
}

static nncl_status map_gemm(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    nncl_node *a = value_in(im, n, 0);
    const NnclOnnx__TensorProto *b = tensor_in(im, n, 1), *c = tensor_in(im, n, 2);
    if (!a || nncl_node_shape(a).rank != 2)
        return fail_node(im, label, "input A must be a computed 2-dim value%s", "");
    if (!b || b->n_dims != 2 || (n->n_input > 2 && n->input[2][0] && !c))
        return fail_node(im, label, "B (2 dims) and C must be initializers%s", "");
    if (attr_float(n, "alpha", 1) != 1 || attr_float(n, "beta", 1) != 1 ||
        attr_int(n, "transA", 0) || !attr_int(n, "transB", 0))
        return fail_node(im, label,
                         "only alpha 1, beta 1, transA 0 and transB 1 are supported (a linear "
                         "layer)%s",
                         "");
    int64_t outputs = b->dims[0];
    if (c && !(c->n_dims == 1 && c->dims[0] == outputs))
        return fail_node(im, label, "C must hold one value per output%s", "");
    nncl_node *y =
        nncl_linear(im->g, a, outputs, &(nncl_linear_params){.no_bias = !c}, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    nncl_status st = adopt(im, y, 0, b, label);
    if (st == NNCL_OK && c) st = adopt(im, y, 1, c, label);
    *out = y;
    return st;
}

static nncl_status map_unary(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    const char *op = n->op_type, *name = n->output[0];
    nncl_graph *g = im->g;
    if (!strcmp(op, "Relu"))
        *out = nncl_relu(g, x, name);
    else if (!strcmp(op, "Sigmoid"))
        *out = nncl_sigmoid(g, x, name);
    else if (!strcmp(op, "Tanh"))
        *out = nncl_tanh(g, x, name);
    else if (!strcmp(op, "LeakyRelu"))
        *out = nncl_leaky_relu(g, x, attr_float(n, "alpha", 0.01f), name);
    else if (!strcmp(op, "Elu"))
        *out = nncl_elu(g, x, attr_float(n, "alpha", 1.0f), name);
    else if (!strcmp(op, "Softplus"))
        *out = nncl_softplus(g, x, 1, 20, name);
    else if (!strcmp(op, "HardSwish"))
        *out = nncl_hardswish(g, x, name);
    else if (!strcmp(op, "HardSigmoid")) {
        /* nncl's is PyTorch's, relu6(x + 3) / 6: ONNX's with alpha 1/6, beta 1/2 */
        if (fabsf(attr_float(n, "alpha", 0.2f) - 1 / 6.0f) > 1e-6f ||
            attr_float(n, "beta", 0.5f) != 0.5f)
            return fail_node(im, label, "only alpha 1/6 and beta 0.5 (PyTorch's) are supported%s",
                             "");
        *out = nncl_hardsigmoid(g, x, name);
    } else if (!strcmp(op, "GlobalAveragePool"))
        *out = nncl_global_avg_pool(g, x, name);
    else if (!strcmp(op, "GlobalMaxPool"))
        *out = nncl_global_max_pool(g, x, name);
    else if (!strcmp(op, "Flatten")) {
        int64_t axis = attr_int(n, "axis", 1);
        if (axis != 1) return fail_node(im, label, "attribute 'axis' must be 1%s", "");
        *out = nncl_flatten(g, x, name);
    } else if (!strcmp(op, "Dropout")) {
        /* The ratio from input 1 (opset 12) or the attribute; whether it
         * drops follows the graph's training mode, not the file's flag, and
         * the mask output is not made (a node reading it is refused). */
        float ratio;
        nncl_status st = float_from(im, n, 1, "ratio", 0.5f, &ratio, label);
        if (st != NNCL_OK) return st;
        *out = nncl_dropout(g, x, ratio, name);
    } else { /* Identity */
        *out = x;
        return NNCL_OK;
    }
    return *out ? NNCL_OK : nncl_graph_status(g);
}

/* Add, Sub, Mul, Div (numpy broadcasting) and MatMul. */
static nncl_status map_binary(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                              nncl_node **out) {
    nncl_node *a = operand(im, n, 0), *b = operand(im, n, 1);
    if (!a || !b) {
        nncl_status st = nncl_graph_status(im->g);
        return st != NNCL_OK ? st
                             : fail_node(im, label, "needs two inputs of at most 5 dims%s", "");
    }
    const char *op = n->op_type, *name = n->output[0];
    if (!strcmp(op, "Add"))
        *out = nncl_add(im->g, a, b, name);
    else if (!strcmp(op, "Sub"))
        *out = nncl_sub(im->g, a, b, name);
    else if (!strcmp(op, "Mul"))
        *out = nncl_mul(im->g, a, b, name);
    else if (!strcmp(op, "Div"))
        *out = nncl_div(im->g, a, b, name);
    else
        *out = nncl_matmul(im->g, a, b, name);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

static nncl_status map_concat(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                              nncl_node **out) {
    nncl_node *parts[64];
    if (!n->n_input || n->n_input > 64) return fail_node(im, label, "takes 1 to 64 inputs%s", "");
    for (size_t k = 0; k < n->n_input; k++)
        if (!(parts[k] = operand(im, n, k)))
            return fail_node(im, label, "an input is missing%s", "");
    int64_t rank = nncl_node_shape(parts[0]).rank, axis = attr_int(n, "axis", 1);
    if (axis < 0) axis += rank;
    if (axis != 1) return fail_node(im, label, "attribute 'axis' must be 1 (channels)%s", "");
    *out = nncl_concat(im->g, parts, (int32_t)n->n_input, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Reshape to a constant shape: 0 copies the input's dim, -1 is inferred. */
static nncl_status map_reshape(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                               nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    const NnclOnnx__TensorProto *t = tensor_in(im, n, 1);
    if (!x || !t) return fail_node(im, label, "needs a computed input and a constant shape%s", "");
    if (attr_int(n, "allowzero", 0))
        return fail_node(im, label, "attribute 'allowzero' 1 is not supported%s", "");
    int64_t *dims, count;
    nncl_status st = nncl_onnx_tensor_ints(t, &dims, &count);
    if (st != NNCL_OK) return st;
    nncl_shape in = nncl_node_shape(x), shape = {.rank = (int32_t)count};
    if (count < 1 || count > NNCL_MAX_RANK) {
        free(dims);
        return fail_node(im, label, "the shape needs 1 to 5 dims%s", "");
    }
    for (int64_t d = 0; d < count; d++)
        shape.dims[d] = dims[d] == 0 && d < in.rank ? in.dims[d] : dims[d];
    free(dims);
    *out = nncl_reshape(im->g, x, shape, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

static nncl_status map_transpose(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                 nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    int32_t rank = nncl_node_shape(x).rank, dims[NNCL_MAX_RANK];
    int64_t perm[NNCL_MAX_RANK];
    int np = attr_ints(n, "perm", perm, NNCL_MAX_RANK);
    if (np != 0 && np != rank)
        return fail_node(im, label, "attribute 'perm' needs one entry per dim%s", "");
    for (int32_t d = 0; d < rank; d++) /* no perm: the dims reversed */
        dims[d] = np ? (int32_t)perm[d] : rank - 1 - d;
    *out = nncl_permute(im->g, x, dims, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Softmax and LogSoftmax: over one axis from opset 13 (default -1); before,
 * over all dims from axis on (default 1), taken here when that is the last. */
static nncl_status map_softmax(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                               nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    int64_t rank = nncl_node_shape(x).rank, axis = attr_int(n, "axis", im->opset >= 13 ? -1 : 1);
    if (axis < 0) axis += rank;
    if (im->opset < 13 && axis != rank - 1)
        return fail_node(im, label,
                         "before opset 13 only an axis that is the last dim is supported (it "
                         "flattens the dims from axis on)%s",
                         "");
    *out =
        nncl_softmax_dim(im->g, x, (int32_t)axis, !strcmp(n->op_type, "LogSoftmax"), n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

static nncl_status map_conv_transpose(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                      nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    const NnclOnnx__TensorProto *w = tensor_in(im, n, 1), *b = tensor_in(im, n, 2);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    if (!w || w->n_dims < 3 || w->n_dims > 5 || (n->n_input > 2 && n->input[2][0] && !b))
        return fail_node(im, label, "the weight (3 to 5 dims) and bias must be initializers%s", "");
    if (attr(n, "output_shape"))
        return fail_node(im, label, "attribute 'output_shape' is not supported; give pads%s", "");
    int spatial = (int)w->n_dims - 2;
    int64_t group = attr_int(n, "group", 1), v[6] = {0};
    nncl_conv_transpose_params p = {
        .out_channels = w->dims[1] * group, .groups = group, .no_bias = !b};
    for (int d = 0; d < spatial; d++)
        p.kernel[d] = w->dims[2 + d], p.stride[d] = 1, p.dilation[d] = 1;
    if (attr_ints(n, "strides", v, 3) == spatial)
        for (int d = 0; d < spatial; d++)
            p.stride[d] = v[d];
    if (attr_ints(n, "dilations", v, 3) == spatial)
        for (int d = 0; d < spatial; d++)
            p.dilation[d] = v[d];
    if (attr_ints(n, "output_padding", v, 3) == spatial)
        for (int d = 0; d < spatial; d++)
            p.output_padding[d] = v[d];
    char buf[32];
    if (strcmp(attr_string(n, "auto_pad", "NOTSET", buf, sizeof buf), "NOTSET"))
        return fail_node(im, label, "attribute 'auto_pad' must be NOTSET%s", "");
    int np = attr_ints(n, "pads", v, 6);
    for (int d = 0; np == 2 * spatial && d < spatial; d++) {
        if (v[d] != v[spatial + d])
            return fail_node(im, label, "asymmetric pads are not supported%s", "");
        p.padding[d] = v[d];
    }
    nncl_node *y = nncl_conv_transpose(im->g, x, &p, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    nncl_status st = adopt(im, y, 0, w, label);
    if (st == NNCL_OK && b) st = adopt(im, y, 1, b, label);
    *out = y;
    return st;
}

/* Pad: ONNX's [x1_begin, x2_begin, ..., x1_end, ...] over every dim. */
static nncl_status map_pad(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                           nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    int32_t rank = nncl_node_shape(x).rank;
    int64_t pads[2 * NNCL_MAX_RANK], ours[2 * NNCL_MAX_RANK];
    int count;
    nncl_status st = ints_from(im, n, 1, "pads", pads, 2 * NNCL_MAX_RANK, &count, label);
    if (st != NNCL_OK) return st;
    if (count != 2 * rank) return fail_node(im, label, "needs two pads per dim%s", "");
    if (n->n_input > 3 && n->input[3][0])
        return fail_node(im, label, "the axes input is not supported%s", "");
    float value;
    if ((st = float_from(im, n, 2, "value", 0, &value, label)) != NNCL_OK) return st;
    for (int32_t d = 0; d < rank; d++) { /* ours: the last dim first */
        if (pads[d] < 0 || pads[rank + d] < 0)
            return fail_node(im, label, "negative pads (cropping) are not supported%s", "");
        ours[2 * (rank - 1 - d)] = pads[d];
        ours[2 * (rank - 1 - d) + 1] = pads[rank + d];
    }
    char buf[32];
    const char *mode = attr_string(n, "mode", "constant", buf, sizeof buf);
    nncl_pad_mode m = !strcmp(mode, "reflect") ? NNCL_PAD_REFLECT
                      : !strcmp(mode, "edge")  ? NNCL_PAD_REPLICATE
                                               : NNCL_PAD_CONSTANT;
    if (m == NNCL_PAD_CONSTANT && strcmp(mode, "constant"))
        return fail_node(im, label, "attribute 'mode' is '%s'", mode);
    *out = nncl_pad(im->g, x, ours, 2 * rank, m, value, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Slice: one nncl slice per axis, the last named as the output. */
static nncl_status map_slice(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    int32_t rank = nncl_node_shape(x).rank;
    int64_t starts[NNCL_MAX_RANK], ends[NNCL_MAX_RANK], axes[NNCL_MAX_RANK], steps[NNCL_MAX_RANK];
    int ns, ne, na, nt;
    nncl_status st = ints_from(im, n, 1, "starts", starts, NNCL_MAX_RANK, &ns, label);
    if (st == NNCL_OK) st = ints_from(im, n, 2, "ends", ends, NNCL_MAX_RANK, &ne, label);
    if (st == NNCL_OK) st = ints_from(im, n, 3, "axes", axes, NNCL_MAX_RANK, &na, label);
    if (st == NNCL_OK) st = ints_from(im, n, 4, "steps", steps, NNCL_MAX_RANK, &nt, label);
    if (st != NNCL_OK) return st;
    if (ns < 1 || ne != ns || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
        return fail_node(im, label,
                         "starts, ends, axes and steps must have one value each per "
                         "sliced axis%s",
                         "");
    nncl_node *y = x;
    for (int i = 0; i < ns; i++) {
        int64_t axis = na >= 0 ? axes[i] : i, step = nt >= 0 ? steps[i] : 1;
        if (axis < 0) axis += rank;
        if (axis < 0 || axis >= rank || step < 1)
            return fail_node(im, label, "axes must name dims and steps be positive%s", "");
        y = nncl_slice(im->g, y, (int32_t)axis, starts[i], ends[i], step,
                       i == ns - 1 ? n->output[0] : NULL);
        if (!y) return nncl_graph_status(im->g);
    }
    *out = y;
    return NNCL_OK;
}

/* Squeeze and Unsqueeze as reshapes (axes from the attribute, or from
 * opset 13 the input; Squeeze without axes drops every 1). */
static nncl_status map_squeeze(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                               nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    bool squeeze = !strcmp(n->op_type, "Squeeze");
    nncl_shape in = nncl_node_shape(x), shape = {0};
    int64_t axes[NNCL_MAX_RANK];
    int na;
    nncl_status st = ints_from(im, n, 1, "axes", axes, NNCL_MAX_RANK, &na, label);
    if (st != NNCL_OK) return st;
    int32_t rank = squeeze ? in.rank : in.rank + (na > 0 ? na : 0);
    bool marked[2 * NNCL_MAX_RANK] = {false};
    if (!squeeze && na < 1) return fail_node(im, label, "needs axes%s", "");
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a < 0 || a >= rank || marked[a] || (squeeze && in.dims[a] != 1))
            return fail_node(im, label, "axes must name distinct dims (of size 1 to squeeze)%s",
                             "");
        marked[a] = true;
    }
    for (int32_t d = 0, k = 0; d < rank; d++) {
        if (squeeze && (na > 0 ? marked[d] : in.dims[d] == 1)) continue;
        if (shape.rank == NNCL_MAX_RANK) return fail_node(im, label, "more than 5 dims%s", "");
        shape.dims[shape.rank++] = !squeeze && marked[d] ? 1 : in.dims[squeeze ? d : k++];
    }
    if (!shape.rank) shape.dims[shape.rank++] = 1; /* a scalar stays [1] */
    *out = nncl_reshape(im->g, x, shape, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

static nncl_status map_reduce(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                              nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    int64_t axes[NNCL_MAX_RANK];
    int na;
    /* ReduceSum takes axes as an input from opset 13, the others from 18. */
    size_t axes_input = !strcmp(n->op_type, "ReduceSum") ? 1 : 99;
    nncl_status st = ints_from(im, n, axes_input, "axes", axes, NNCL_MAX_RANK, &na, label);
    if (st != NNCL_OK) return st;
    if (na <= 0 && attr_int(n, "noop_with_empty_axes", 0))
        return fail_node(im, label, "noop_with_empty_axes is not supported%s", "");
    int32_t dims[NNCL_MAX_RANK];
    for (int i = 0; i < na; i++)
        dims[i] = (int32_t)axes[i];
    nncl_reduce_op op = !strcmp(n->op_type, "ReduceSum")    ? NNCL_REDUCE_SUM
                        : !strcmp(n->op_type, "ReduceMean") ? NNCL_REDUCE_MEAN
                                                            : NNCL_REDUCE_MAX;
    *out = nncl_reduce(im->g, x, op, dims, na > 0 ? na : 0, attr_int(n, "keepdims", 1) != 0,
                       n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Resize (and opset 9's Upsample) where it is PyTorch's interpolate:
 * nearest with asymmetric coordinates rounding down, or linear with
 * half_pixel / pytorch_half_pixel / align_corners; scales or sizes over
 * the spatial dims only. */
static nncl_status map_resize(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                              nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    if (!x) return fail_node(im, label, "input 0 must be a computed value%s", "");
    nncl_shape in = nncl_node_shape(x);
    int spatial = in.rank - 2;
    char buf[40], cbuf[40], nbuf[40];
    const char *mode = attr_string(n, "mode", "nearest", buf, sizeof buf);
    const char *coord =
        attr_string(n, "coordinate_transformation_mode", "half_pixel", cbuf, sizeof cbuf);
    const char *nearest = attr_string(n, "nearest_mode", "round_prefer_floor", nbuf, sizeof nbuf);
    bool upsample = !strcmp(n->op_type, "Upsample") || im->opset < 11;
    nncl_upsample_params p = {0};
    if (!strcmp(mode, "nearest")) {
        if (!upsample && (strcmp(coord, "asymmetric") || strcmp(nearest, "floor")))
            return fail_node(im, label,
                             "nearest needs coordinate_transformation_mode 'asymmetric' and "
                             "nearest_mode 'floor' (PyTorch's nearest), not '%s'",
                             coord);
        p.mode = NNCL_UPSAMPLE_NEAREST;
    } else if (!strcmp(mode, "linear")) {
        if (upsample) /* asymmetric coordinates, which PyTorch's linear never uses */
            return fail_node(im, label, "linear before opset 11 is not supported%s", "");
        p.mode = NNCL_UPSAMPLE_LINEAR;
        p.align_corners = !upsample && !strcmp(coord, "align_corners");
        if (!upsample && !p.align_corners && strcmp(coord, "half_pixel") &&
            strcmp(coord, "pytorch_half_pixel"))
            return fail_node(im, label, "linear with coordinate_transformation_mode '%s'", coord);
    } else {
        return fail_node(im, label, "attribute 'mode' is '%s'", mode);
    }
    /* scales: Upsample's input 1, Resize's input 1 (opset 10) or 2; sizes: Resize's input 3 */
    size_t scales_at = upsample || im->opset < 11 ? 1 : 2;
    const NnclOnnx__TensorProto *scales = tensor_in(im, n, scales_at), *sizes = tensor_in(im, n, 3);
    float *sv = NULL;
    int64_t count = 0, *zv = NULL;
    nncl_status st = NNCL_OK;
    if (scales && tensor_numel_of(scales) > 0)
        st = nncl_onnx_tensor_floats(scales, &sv, &count);
    else if (sizes)
        st = nncl_onnx_tensor_ints(sizes, &zv, &count);
    else
        st = fail_node(im, label, "needs constant scales or sizes%s", "");
    if (st == NNCL_OK && count != in.rank)
        st = fail_node(im, label, "scales or sizes need one value per dim%s", "");
    for (int d = 0; st == NNCL_OK && d < 2; d++)
        if (sv ? sv[d] != 1 : zv[d] != in.dims[d])
            st = fail_node(im, label, "the batch and channel dims must keep their size%s", "");
    for (int d = 0; st == NNCL_OK && d < spatial; d++) {
        if (sv)
            p.scale[d] = sv[2 + d];
        else
            p.size[d] = zv[2 + d];
    }
    free(sv);
    free(zv);
    if (st != NNCL_OK) return st;
    *out = nncl_upsample(im->g, x, &p, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

static nncl_status map_prelu(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *x = value_in(im, n, 0);
    const NnclOnnx__TensorProto *slope = tensor_in(im, n, 1);
    if (!x || !slope)
        return fail_node(im, label, "needs a computed input and constant slopes%s", "");
    int64_t count = tensor_numel_of(slope);
    nncl_node *y = nncl_prelu(im->g, x, count, 0.25f, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    *out = y;
    return adopt(im, y, 0, slope, label);
}

static const struct {
    const char *op;
    mapper map;
} mappers[] = {
    {"Conv", map_conv},
    {"MaxPool", map_pool},
    {"AveragePool", map_pool},
    {"BatchNormalization", map_batch_norm},
    {"Gemm", map_gemm},
    {"Relu", map_unary},
    {"Sigmoid", map_unary},
    {"Tanh", map_unary},
    {"LeakyRelu", map_unary},
    {"Elu", map_unary},
    {"GlobalAveragePool", map_unary},
    {"GlobalMaxPool", map_unary},
    {"Flatten", map_unary},
    {"Identity", map_unary},
    {"Dropout", map_unary},
    {"Add", map_binary},
    {"Sub", map_binary},
    {"Mul", map_binary},
    {"Div", map_binary},
    {"MatMul", map_binary},
    {"Concat", map_concat},
    {"Reshape", map_reshape},
    {"Transpose", map_transpose},
    {"Softmax", map_softmax},
    {"LogSoftmax", map_softmax},
    {"ConvTranspose", map_conv_transpose},
    {"Pad", map_pad},
    {"Slice", map_slice},
    {"Squeeze", map_squeeze},
    {"Unsqueeze", map_squeeze},
    {"ReduceMean", map_reduce},
    {"ReduceSum", map_reduce},
    {"ReduceMax", map_reduce},
    {"Resize", map_resize},
    {"Upsample", map_resize},
    {"PRelu", map_prelu},
    {"HardSigmoid", map_unary},
    {"HardSwish", map_unary},
    {"Softplus", map_unary},
};

/* ---- the model */

/* A TensorProto over a caller's float values (not copied), for a graph
 * input whose value the options give; freed with the importer. */
static NnclOnnx__TensorProto *value_tensor(importer *im, const char *name,
                                           const nncl_onnx_input_value *v) {
    NnclOnnx__TensorProto *t = calloc(1, sizeof *t);
    int64_t *dims = calloc((size_t)v->shape.rank + 1, sizeof *dims);
    if (!t || !dims || im->n_owned == sizeof im->owned / sizeof im->owned[0]) {
        free(t), free(dims);
        return NULL;
    }
    nncl_onnx__tensor_proto__init(t);
    memcpy(dims, v->shape.dims, (size_t)v->shape.rank * sizeof *dims);
    t->name = (char *)name;
    t->has_data_type = true;
    t->data_type = NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = (size_t)v->shape.rank;
    t->dims = dims;
    t->n_float_data = (size_t)nncl_shape_numel(v->shape);
    t->float_data = (float *)v->values;
    im->owned[im->n_owned++] = t;
    return t;
}

/* Graph inputs that are not initializers become float inputs; with a value
 * in the options its shape is the value's, and operators that need a
 * constant there (a weight, pads, a shape) may read the value. */
static nncl_status add_inputs(importer *im, const NnclOnnx__GraphProto *gr, nncl_onnx_model *m) {
    size_t given = im->o && im->o->input_values ? im->o->n_input_values : 0;
    for (size_t i = 0; i < gr->n_input; i++) {
        const NnclOnnx__ValueInfoProto *v = gr->input[i];
        slot *s = lookup(im, v->name);
        if (s->name) continue; /* an initializer listed as an input too */
        const nncl_onnx_input_value *value =
            m->n_inputs < given ? &im->o->input_values[m->n_inputs] : NULL;
        const NnclOnnx__TypeProto__Tensor *t = v->type ? v->type->tensor_type : NULL;
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
            if (t->elem_type != NNCL_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
                return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                                 "%s: graph input '%s' has element type %d; nncl takes float "
                                 "inputs",
                                 im->file, v->name, (int)t->elem_type);
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
        nncl_node *x = nncl_input(im->g, v->name, shape);
        if (!x) return nncl_graph_status(im->g);
        const NnclOnnx__TensorProto *constant = value ? value_tensor(im, v->name, value) : NULL;
        if (value && !constant) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "%s: import", im->file);
        *s = (slot){.name = v->name, .node = x, .tensor = constant};
        m->inputs[m->n_inputs++] = x;
    }
    return NNCL_OK;
}

static nncl_status build(importer *im, const nncl_onnx_file *f, nncl_onnx_model *m) {
    const NnclOnnx__GraphProto *gr = f->graph;
    for (size_t i = 0; i < gr->n_initializer; i++)
        *lookup(im, gr->initializer[i]->name) =
            (slot){.name = gr->initializer[i]->name, .tensor = gr->initializer[i]};
    nncl_status st = add_inputs(im, gr, m);
    for (size_t i = 0; st == NNCL_OK && i < gr->n_node; i++) {
        const NnclOnnx__NodeProto *n = gr->node[i];
        char label[160];
        if (n->name && n->name[0])
            snprintf(label, sizeof label, "node '%s' (%s)", n->name, n->op_type);
        else
            snprintf(label, sizeof label, "node %zu (%s)", i, n->op_type);
        if (!n->n_output || !n->output[0][0]) {
            st = fail_node(im, label, "has no output%s", "");
            break;
        }
        if (!strcmp(n->op_type, "Constant")) {
            const NnclOnnx__AttributeProto *v = attr(n, "value");
            if (!v || !v->t) {
                st = fail_node(im, label, "only the 'value' tensor form is supported%s", "");
                break;
            }
            *lookup(im, n->output[0]) =
                (slot){.name = n->output[0], .tensor = v->t, .constant = true};
            continue;
        }
        mapper map = NULL;
        for (size_t k = 0; k < sizeof mappers / sizeof mappers[0]; k++)
            if (!strcmp(mappers[k].op, n->op_type)) map = mappers[k].map;
        if (!map) {
            st = fail_node(im, label, "the operator %s is not supported", n->op_type);
            break;
        }
        nncl_node *y = NULL;
        st = map(im, n, label, &y);
        if (st == NNCL_OK) *lookup(im, n->output[0]) = (slot){.name = n->output[0], .node = y};
    }
    for (size_t i = 0; st == NNCL_OK && i < gr->n_output; i++) {
        slot *s = lookup(im, gr->output[i]->name);
        if (!s->node)
            st = nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                           "%s: graph output '%s' is a constant; nncl outputs computed values",
                           im->file, gr->output[i]->name);
        else
            m->outputs[m->n_outputs++] = s->node;
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
    size_t names = gr->n_input + gr->n_initializer;
    for (size_t i = 0; i < gr->n_node; i++)
        names += gr->node[i]->n_output;
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
    for (size_t i = 0; i < im.n_owned; i++)
        free(im.owned[i]->dims), free(im.owned[i]);
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
