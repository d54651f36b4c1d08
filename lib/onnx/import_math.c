/* ONNX's elementwise and matrix operators: activations and unary math,
 * Clip, the broadcasting binary operators and their variadic forms (Sum,
 * Max, Min, Mean), Gemm, MatMul, PRelu, Softmax / LogSoftmax, the
 * reductions, ArgMax, OneHot and Dropout. A constant operand becomes a parameter named
 * after it (frozen when it is a Constant). */
#include "importer.h"

#include <math.h>
#include <string.h>

static nncl_node *activation(nncl_graph *g, const char *op, nncl_node *x,
                             const NnclOnnx__NodeProto *n, const char *name) {
    if (!strcmp(op, "Relu")) return nncl_relu(g, x, name);
    if (!strcmp(op, "Sigmoid")) return nncl_sigmoid(g, x, name);
    if (!strcmp(op, "Tanh")) return nncl_tanh(g, x, name);
    if (!strcmp(op, "LeakyRelu"))
        return nncl_leaky_relu(g, x, onnx_attr_float(n, "alpha", 0.01f), name);
    if (!strcmp(op, "Elu")) return nncl_elu(g, x, onnx_attr_float(n, "alpha", 1.0f), name);
    if (!strcmp(op, "Selu"))
        return nncl_selu(g, x, onnx_attr_float(n, "alpha", 1.67326319217681884765625f),
                         onnx_attr_float(n, "gamma", 1.05070102214813232421875f), name);
    if (!strcmp(op, "Softplus")) return nncl_softplus(g, x, 1, 20, name);
    if (!strcmp(op, "HardSwish")) return nncl_hardswish(g, x, name);
    if (!strcmp(op, "Abs")) return nncl_abs(g, x, name);
    if (!strcmp(op, "Neg")) return nncl_neg(g, x, name);
    if (!strcmp(op, "Exp")) return nncl_exp(g, x, name);
    if (!strcmp(op, "Log")) return nncl_log(g, x, name);
    if (!strcmp(op, "Sqrt")) return nncl_sqrt(g, x, name);
    if (!strcmp(op, "Reciprocal")) return nncl_reciprocal(g, x, name);
    if (!strcmp(op, "Erf")) return nncl_erf(g, x, name);
    /* HardSigmoid: max(0, min(1, alpha x + beta)); PyTorch's form is nncl's own */
    float alpha = onnx_attr_float(n, "alpha", 0.2f), beta = onnx_attr_float(n, "beta", 0.5f);
    if (fabsf(alpha - 1 / 6.0f) < 1e-7f && beta == 0.5f) return nncl_hardsigmoid(g, x, name);
    return nncl_clamp(g, nncl_scale(g, x, alpha, beta, NULL), 0, 1, name);
}

nncl_status onnx_map_unary(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                           nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    if (!strcmp(n->op_type, "Identity")) {
        *out = x;
        return NNCL_OK;
    }
    *out = activation(im->g, n->op_type, x, n, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Clip: bounds from inputs 1 and 2 (opset 11) or attributes min / max. */
nncl_status onnx_map_clip(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                          nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    float lo, hi;
    nncl_status st = onnx_float_from(im, n, 1, "min", -INFINITY, &lo, label);
    if (st == NNCL_OK) st = onnx_float_from(im, n, 2, "max", INFINITY, &hi, label);
    if (st != NNCL_OK) return st;
    *out = nncl_clamp(im->g, x, lo, hi, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

static nncl_node *binary(nncl_graph *g, const char *op, nncl_node *a, nncl_node *b,
                         const char *name) {
    if (!strcmp(op, "Add") || !strcmp(op, "Sum") || !strcmp(op, "Mean"))
        return nncl_add(g, a, b, name);
    if (!strcmp(op, "Sub")) return nncl_sub(g, a, b, name);
    if (!strcmp(op, "Mul")) return nncl_mul(g, a, b, name);
    if (!strcmp(op, "Div")) return nncl_div(g, a, b, name);
    if (!strcmp(op, "Pow")) return nncl_pow(g, a, b, name);
    if (!strcmp(op, "Max")) return nncl_maximum(g, a, b, name);
    if (!strcmp(op, "Min")) return nncl_minimum(g, a, b, name);
    return nncl_matmul(g, a, b, name);
}

/* Add, Sub, Mul, Div, Pow (numpy broadcasting) and MatMul. */
nncl_status onnx_map_binary(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    nncl_node *a = onnx_operand(im, n, 0), *b = onnx_operand(im, n, 1);
    if (!a || !b) {
        nncl_status st = nncl_graph_status(im->g);
        return st != NNCL_OK ? st
                             : onnx_fail(im, label, "needs two inputs of at most 5 dims%s", "");
    }
    *out = binary(im->g, n->op_type, a, b, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Sum, Max, Min and Mean over any number of inputs, pairwise. */
nncl_status onnx_map_variadic(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                              nncl_node **out) {
    if (!n->n_input) return onnx_fail(im, label, "needs at least one input%s", "");
    bool mean = !strcmp(n->op_type, "Mean");
    nncl_node *y = onnx_operand(im, n, 0);
    for (size_t k = 1; y && k < n->n_input; k++) {
        nncl_node *b = onnx_operand(im, n, k);
        bool last = k + 1 == n->n_input && !mean;
        y = b ? binary(im->g, n->op_type, y, b, last ? n->output[0] : NULL) : NULL;
    }
    if (y && mean)
        y = nncl_scale(im->g, y, 1.0f / (float)n->n_input, 0, n->output[0]);
    else if (y && n->n_input == 1)
        y = nncl_scale(im->g, y, 1, 0, n->output[0]); /* a copy under the output's name */
    if (!y) {
        nncl_status st = nncl_graph_status(im->g);
        return st != NNCL_OK ? st : onnx_fail(im, label, "an input is missing%s", "");
    }
    *out = y;
    return NNCL_OK;
}

/* Gemm: alpha A' B' + beta C. The linear layer's form (B a constant
 * [N, K] with transB, C a constant [N] or absent, alpha = beta = 1)
 * becomes nncl_linear; every other form a matmul of the operands. */
nncl_status onnx_map_gemm(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                          nncl_node **out) {
    nncl_graph *g = im->g;
    const NnclOnnx__TensorProto *b = onnx_tensor(im, n, 1), *c = onnx_tensor(im, n, 2);
    nncl_node *a = onnx_operand(im, n, 0);
    float alpha = onnx_attr_float(n, "alpha", 1), beta = onnx_attr_float(n, "beta", 1);
    bool trans_a = onnx_attr_int(n, "transA", 0), trans_b = onnx_attr_int(n, "transB", 0);
    if (!a || nncl_node_shape(a).rank != 2)
        return onnx_fail(im, label, "input A must be a 2-dim value%s", "");
    bool linear = !onnx_value(im, n, 1) && b && b->n_dims == 2 && trans_b && !trans_a &&
                  alpha == 1 && (!onnx_has_input(n, 2) || beta == 1) &&
                  (!onnx_has_input(n, 2) ||
                   (c && !onnx_value(im, n, 2) && c->n_dims == 1 && c->dims[0] == b->dims[0]));
    if (linear) {
        nncl_node *y =
            nncl_linear(g, a, b->dims[0], &(nncl_linear_params){.no_bias = !c}, n->output[0]);
        if (!y) return nncl_graph_status(g);
        *out = y;
        return onnx_adopt(im, y, (const NnclOnnx__TensorProto *[]){b, c}, 2, label);
    }
    nncl_node *bn = onnx_operand(im, n, 1);
    if (!bn || nncl_node_shape(bn).rank != 2)
        return onnx_fail(im, label, "input B must be 2-dim%s", "");
    if (trans_a) a = nncl_transpose(g, a, 0, 1, NULL);
    if (trans_b) bn = nncl_transpose(g, bn, 0, 1, NULL);
    bool has_c = onnx_has_input(n, 2) && beta != 0;
    nncl_node *y =
        a && bn ? nncl_matmul(g, a, bn, !has_c && alpha == 1 ? n->output[0] : NULL) : NULL;
    if (y && alpha != 1) y = nncl_scale(g, y, alpha, 0, has_c ? NULL : n->output[0]);
    if (y && has_c) {
        nncl_node *cn = onnx_operand(im, n, 2);
        if (cn && beta != 1) cn = nncl_scale(g, cn, beta, 0, NULL);
        y = cn ? nncl_add(g, y, cn, n->output[0]) : NULL;
    }
    *out = y;
    return y ? NNCL_OK : nncl_graph_status(g);
}

/* PRelu: nncl's op for one slope or one per channel ([C] or [C, 1, ...]);
 * other slope shapes broadcast as relu(x) + slope * min(x, 0). */
nncl_status onnx_map_prelu(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                           nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    const NnclOnnx__TensorProto *slope = onnx_tensor(im, n, 1);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    nncl_shape xs = nncl_node_shape(x);
    int64_t count = slope ? onnx_numel(slope) : 0;
    bool per_channel = slope && !onnx_value(im, n, 1) && xs.rank >= 2 && slope->n_dims >= 1 &&
                       (int32_t)slope->n_dims <= xs.rank - 1 && slope->dims[0] == xs.dims[1] &&
                       count == xs.dims[1] && (int32_t)slope->n_dims == xs.rank - 1;
    if (per_channel || (slope && !onnx_value(im, n, 1) && count == 1)) {
        nncl_node *y = nncl_prelu(im->g, x, count, 0.25f, n->output[0]);
        if (!y) return nncl_graph_status(im->g);
        *out = y;
        return onnx_adopt(im, y, &slope, 1, label);
    }
    nncl_node *s = onnx_operand(im, n, 1);
    if (!s) return onnx_fail(im, label, "the slope is missing%s", "");
    nncl_graph *g = im->g;
    nncl_node *neg = nncl_neg(g, nncl_relu(g, nncl_neg(g, x, NULL), NULL), NULL); /* min(x, 0) */
    *out = nncl_add(g, nncl_relu(g, x, NULL), nncl_mul(g, s, neg, NULL), n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(g);
}

/* Softmax and LogSoftmax: over one axis from opset 13 (default -1); before,
 * over all dims from axis on (default 1), taken here when that is the last. */
nncl_status onnx_map_softmax(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    int32_t rank = nncl_node_shape(x).rank;
    int32_t axis = onnx_axis(onnx_attr_int(n, "axis", im->opset >= 13 ? -1 : 1), rank);
    if (axis < 0) return onnx_fail(im, label, "attribute 'axis' is not a dim of the input%s", "");
    if (im->opset < 13 && axis != rank - 1)
        return onnx_fail(im, label,
                         "before opset 13 only an axis that is the last dim is supported (it "
                         "flattens the dims from axis on)%s",
                         "");
    *out = nncl_softmax_dim(im->g, x, axis, !strcmp(n->op_type, "LogSoftmax"), n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* ReduceMean, ReduceSum, ReduceMax, ReduceMin (as -max(-x)). */
nncl_status onnx_map_reduce(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    int64_t axes[NNCL_MAX_RANK];
    int na;
    /* ReduceSum takes axes as an input from opset 13, the others from 18. */
    size_t axes_input = !strcmp(n->op_type, "ReduceSum") && im->opset >= 13 ? 1 : 99;
    nncl_status st = onnx_ints_from(im, n, axes_input, "axes", axes, NNCL_MAX_RANK, &na, label);
    if (st != NNCL_OK) return st;
    bool keep = onnx_attr_int(n, "keepdims", 1) != 0;
    nncl_graph *g = im->g;
    if (na <= 0 && onnx_attr_int(n, "noop_with_empty_axes", 0)) {
        *out = nncl_scale(g, x, 1, 0, n->output[0]); /* the input, under the output's name */
        return *out ? NNCL_OK : nncl_graph_status(g);
    }
    int32_t dims[NNCL_MAX_RANK];
    for (int i = 0; i < na; i++)
        dims[i] = (int32_t)axes[i];
    const char *op = n->op_type;
    bool min = !strcmp(op, "ReduceMin");
    nncl_reduce_op r = !strcmp(op, "ReduceSum")    ? NNCL_REDUCE_SUM
                       : !strcmp(op, "ReduceMean") ? NNCL_REDUCE_MEAN
                                                   : NNCL_REDUCE_MAX;
    if (min) x = nncl_neg(g, x, NULL);
    nncl_node *y =
        x ? nncl_reduce(g, x, r, dims, na > 0 ? na : 0, keep, min ? NULL : n->output[0]) : NULL;
    if (y && min) y = nncl_neg(g, y, n->output[0]);
    *out = y;
    return y ? NNCL_OK : nncl_graph_status(g);
}

/* ArgMax over the class dim without keepdims (what torch.argmax(x, 1)
 * exports): nncl's argmax, int labels. */
nncl_status onnx_map_argmax(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                            nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    if (onnx_axis(onnx_attr_int(n, "axis", 0), nncl_node_shape(x).rank) != 1 ||
        onnx_attr_int(n, "keepdims", 1) || onnx_attr_int(n, "select_last_index", 0))
        return onnx_fail(im, label,
                         "only axis 1 with keepdims 0 and the first index of ties is supported%s",
                         "");
    *out = nncl_argmax(im->g, x, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* OneHot over dim 1 with values [0, 1] (a label outside [0, depth) gives
 * zeros, as nncl_one_hot): int labels to features. */
nncl_status onnx_map_one_hot(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *ids = onnx_value(im, n, 0);
    const NnclOnnx__TensorProto *depth = onnx_tensor(im, n, 1), *values = onnx_tensor(im, n, 2);
    if (!ids || !nncl_node_holds_ints(ids) || !depth || onnx_numel(depth) != 1 || !values ||
        onnx_numel(values) != 2)
        return onnx_fail(im, label,
                         "needs computed int indices, a constant depth and constant values%s", "");
    int64_t *d, count;
    float *v;
    nncl_status st = nncl_onnx_tensor_ints(depth, &d, &count);
    if (st != NNCL_OK) return st;
    int64_t classes = d[0];
    free(d);
    if ((st = nncl_onnx_tensor_floats(values, &v, &count)) != NNCL_OK) return st;
    bool zero_one = v[0] == 0 && v[1] == 1;
    free(v);
    int32_t rank = nncl_node_shape(ids).rank + 1;
    if (!zero_one || onnx_axis(onnx_attr_int(n, "axis", -1), rank) != 1)
        return onnx_fail(im, label, "only values [0, 1] and axis 1 (the class dim) are supported%s",
                         "");
    *out = nncl_one_hot(im->g, ids, classes, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

/* Dropout: the ratio from input 1 (opset 12) or the attribute; whether it
 * drops follows the graph's training mode, not the file's training_mode.
 * The mask output is not made (a node reading it finds it missing). */
nncl_status onnx_map_dropout(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                             nncl_node **out) {
    nncl_node *x = onnx_operand(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 is missing%s", "");
    float ratio;
    nncl_status st = onnx_float_from(im, n, 1, "ratio", 0.5f, &ratio, label);
    if (st != NNCL_OK) return st;
    *out = nncl_dropout(im->g, x, ratio, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}
