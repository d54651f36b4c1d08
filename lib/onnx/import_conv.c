/* ONNX's windowed operators: Conv, ConvTranspose, MaxPool, AveragePool and
 * the global pools, with pads (asymmetric too), auto_pad, strides,
 * dilations, group, ceil_mode, count_include_pad, output_padding and
 * output_shape as ONNX's operator documentation defines them. */
#include "importer.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

/* Whether every value is in 1 .. 2^31-1, so that window arithmetic on them
 * cannot overflow; the builders check what they mean. */
static bool in_range(const int64_t *v, int count) {
    for (int d = 0; d < count; d++)
        if (v[d] < 1 || v[d] > INT32_MAX) return false;
    return true;
}

/* Per-dim kernel (already set), stride and dilation attributes (1 where
 * absent), each in 1 .. 2^31-1. */
static nncl_status strides_dilations(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                     int spatial, const int64_t *kernel, int64_t *stride,
                                     int64_t *dilation) {
    int64_t v[3];
    for (int d = 0; d < spatial; d++)
        stride[d] = 1, dilation[d] = 1;
    if (onnx_attr_ints(n, "strides", v, 3) == spatial)
        for (int d = 0; d < spatial; d++)
            stride[d] = v[d];
    if (onnx_attr_ints(n, "dilations", v, 3) == spatial)
        for (int d = 0; d < spatial; d++)
            dilation[d] = v[d];
    if (!in_range(kernel, spatial) || !in_range(stride, spatial) || !in_range(dilation, spatial))
        return onnx_fail(im, label, "kernel_shape, strides and dilations must be in 1 .. 2^31-1%s",
                         "");
    return NNCL_OK;
}

/* Per-spatial-dim pads from ONNX's [x1_begin, x2_begin, ..., x1_end, ...]
 * or auto_pad, for a window of `kernel` (dilated) over x. */
static nncl_status window_pads(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                               nncl_shape x, int spatial, const int64_t *kernel,
                               const int64_t *stride, const int64_t *dilation, int64_t *begin,
                               int64_t *end) {
    int64_t pads[6] = {0};
    int np = onnx_attr_ints(n, "pads", pads, 6);
    if (np != 0 && np != 2 * spatial)
        return onnx_fail(im, label, "attribute 'pads' needs %s values",
                         spatial == 1   ? "2"
                         : spatial == 2 ? "4"
                                        : "6");
    char buf[32];
    const char *mode = onnx_attr_string(n, "auto_pad", "NOTSET", buf, sizeof buf);
    for (int d = 0; d < spatial; d++) {
        begin[d] = pads[d], end[d] = pads[spatial + d];
        if (begin[d] < 0 || end[d] < 0 || begin[d] > INT32_MAX || end[d] > INT32_MAX)
            return onnx_fail(im, label, "pads must be in 0 .. 2^31-1%s", "");
        if (!strcmp(mode, "NOTSET") || !strcmp(mode, "VALID")) {
            if (!strcmp(mode, "VALID")) begin[d] = end[d] = 0;
            continue;
        }
        if (strcmp(mode, "SAME_UPPER") && strcmp(mode, "SAME_LOWER"))
            return onnx_fail(im, label, "attribute 'auto_pad' is '%s'", mode);
        int64_t in = x.dims[2 + d], out = (in + stride[d] - 1) / stride[d];
        int64_t total = (out - 1) * stride[d] + (kernel[d] - 1) * dilation[d] + 1 - in;
        total = total > 0 ? total : 0;
        begin[d] = !strcmp(mode, "SAME_UPPER") ? total / 2 : total - total / 2;
        end[d] = total - begin[d];
    }
    return NNCL_OK;
}

nncl_status onnx_map_conv(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                          nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    const NnclOnnx__TensorProto *w = onnx_tensor(im, n, 1), *b = onnx_tensor(im, n, 2);
    if (!x) return onnx_fail(im, label, "input 0 must be a computed value%s", "");
    if (!w || w->n_dims < 3 || w->n_dims > 5)
        return onnx_fail(im, label, "the weight must be a constant of 3 to 5 dims%s", "");
    if (onnx_has_input(n, 2) && !b)
        return onnx_fail(im, label, "the bias must be a constant%s", "");
    int spatial = (int)w->n_dims - 2;
    nncl_conv_params p = {
        .out_channels = w->dims[0], .groups = onnx_attr_int(n, "group", 1), .no_bias = !b};
    int64_t v[3] = {0};
    for (int d = 0; d < spatial; d++)
        p.kernel[d] = w->dims[2 + d];
    int k = onnx_attr_ints(n, "kernel_shape", v, 3);
    for (int d = 0; d < k; d++)
        if (v[d] != p.kernel[d])
            return onnx_fail(im, label, "kernel_shape differs from the weight's%s", "");
    nncl_status st = strides_dilations(im, n, label, spatial, p.kernel, p.stride, p.dilation);
    if (st == NNCL_OK)
        st = window_pads(im, n, label, nncl_node_shape(x), spatial, p.kernel, p.stride, p.dilation,
                         p.pad_begin, p.pad_end);
    if (st != NNCL_OK) return st;
    nncl_node *y = nncl_conv(im->g, x, &p, n->output[0]);
    if (!y) return nncl_graph_status(im->g);
    *out = y;
    return onnx_adopt(im, y, (const NnclOnnx__TensorProto *[]){w, b}, 2, label);
}

/* ConvTranspose: nncl's crops the same from both ends, so asymmetric pads
 * (given, from auto_pad or from output_shape) crop the smaller amount there
 * and slice off the rest. */
nncl_status onnx_map_conv_transpose(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                    nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    const NnclOnnx__TensorProto *w = onnx_tensor(im, n, 1), *b = onnx_tensor(im, n, 2);
    if (!x) return onnx_fail(im, label, "input 0 must be a computed value%s", "");
    if (!w || w->n_dims < 3 || w->n_dims > 5 || (onnx_has_input(n, 2) && !b))
        return onnx_fail(im, label, "the weight (3 to 5 dims) and bias must be constants%s", "");
    int spatial = (int)w->n_dims - 2;
    nncl_shape xs = nncl_node_shape(x);
    if (xs.rank != spatial + 2)
        return onnx_fail(im, label, "the input's rank does not match the weight's%s", "");
    int64_t group = onnx_attr_int(n, "group", 1), v[6] = {0}, begin[3] = {0}, end[3] = {0};
    nncl_conv_transpose_params p = {
        .out_channels = w->dims[1] * group, .groups = group, .no_bias = !b};
    for (int d = 0; d < spatial; d++)
        p.kernel[d] = w->dims[2 + d];
    nncl_status st = strides_dilations(im, n, label, spatial, p.kernel, p.stride, p.dilation);
    if (st != NNCL_OK) return st;
    if (onnx_attr_ints(n, "output_padding", v, 3) == spatial)
        for (int d = 0; d < spatial; d++)
            p.output_padding[d] = v[d];
    if (onnx_attr_ints(n, "pads", v, 6) == 2 * spatial)
        for (int d = 0; d < spatial; d++)
            begin[d] = v[d], end[d] = v[spatial + d];
    for (int d = 0; d < spatial; d++) /* each in 0 .. 2^31-1: no overflow below */
        if (p.output_padding[d] < 0 || p.output_padding[d] > INT32_MAX || begin[d] < 0 ||
            begin[d] > INT32_MAX || end[d] < 0 || end[d] > INT32_MAX)
            return onnx_fail(im, label, "pads and output_padding must be in 0 .. 2^31-1%s", "");
    char buf[32];
    const char *mode = onnx_attr_string(n, "auto_pad", "NOTSET", buf, sizeof buf);
    bool same = !strcmp(mode, "SAME_UPPER") || !strcmp(mode, "SAME_LOWER");
    if (!same && strcmp(mode, "NOTSET") && strcmp(mode, "VALID"))
        return onnx_fail(im, label, "attribute 'auto_pad' is '%s'", mode);
    int64_t shape[3];
    int n_shape = onnx_attr_ints(n, "output_shape", shape, 3);
    if ((n_shape > 0 && n_shape != spatial) || (n_shape > 0 && !in_range(shape, spatial)))
        return onnx_fail(im, label, "output_shape needs one value in 1 .. 2^31-1 per spatial dim%s",
                         "");
    for (int d = 0; d < spatial; d++) {
        if (!same && n_shape <= 0) continue;
        int64_t full = p.stride[d] * (xs.dims[2 + d] - 1) + p.output_padding[d] +
                       (p.kernel[d] - 1) * p.dilation[d] + 1;
        int64_t want = n_shape > 0 ? shape[d] : xs.dims[2 + d] * p.stride[d];
        int64_t total = full - want;
        begin[d] = end[d] = 0;
        if (total < 0) { /* a larger output_shape extends the end, as output_padding */
            p.output_padding[d] -= total;
            continue;
        }
        /* ONNX: the odd one at the end for SAME_UPPER, else at the start */
        begin[d] = !strcmp(mode, "SAME_UPPER") ? total / 2 : total - total / 2;
        end[d] = total - begin[d];
    }
    for (int d = 0; d < spatial; d++) {
        if (begin[d] < 0 || end[d] < 0) return onnx_fail(im, label, "pads must be >= 0%s", "");
        p.padding[d] = begin[d] < end[d] ? begin[d] : end[d];
    }
    bool symmetric = !memcmp(begin, end, sizeof begin);
    nncl_node *y = nncl_conv_transpose(im->g, x, &p, symmetric ? n->output[0] : NULL);
    if (!y) return nncl_graph_status(im->g);
    st = onnx_adopt(im, y, (const NnclOnnx__TensorProto *[]){w, b}, 2, label);
    for (int d = 0; st == NNCL_OK && !symmetric && d < spatial; d++) {
        int64_t size = nncl_node_shape(y).dims[2 + d];
        int64_t from = begin[d] - p.padding[d], to = size - (end[d] - p.padding[d]);
        y = nncl_slice(im->g, y, 2 + d, from, to, 1, d == spatial - 1 ? n->output[0] : NULL);
        if (!y) st = nncl_graph_status(im->g);
    }
    *out = y;
    return st;
}

/* The count of real (not padding) input elements under each window, for
 * average pooling without the padded ones when nncl's pool cannot take
 * the pads itself: avg(pad0(ones)) over the same windows. */
static nncl_node *window_counts(importer *im, const char *output, nncl_shape x, const int64_t *pads,
                                int32_t n_pads, const nncl_pool_params *p) {
    nncl_shape ones = x;
    ones.dims[0] = ones.dims[1] = 1;
    char name[256];
    snprintf(name, sizeof name, "%s.window_ones", output);
    nncl_node *o = nncl_parameter(im->g, name, ones, NNCL_INIT_CONSTANT, 1.0f);
    if (!o) return NULL;
    nncl_node_param(im->g, o, 0)->frozen = true;
    o = nncl_pad(im->g, o, pads, n_pads, NNCL_PAD_CONSTANT, 0, NULL);
    return o ? nncl_avg_pool(im->g, o, p, NULL) : NULL;
}

nncl_status onnx_map_pool(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                          nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 must be a computed value%s", "");
    bool max = !strcmp(n->op_type, "MaxPool");
    if (n->n_output > 1 && n->output[1][0])
        return onnx_fail(im, label, "the Indices output is not supported%s", "");
    nncl_shape xs = nncl_node_shape(x);
    int spatial = xs.rank - 2;
    nncl_pool_params p = {.ceil_mode = onnx_attr_int(n, "ceil_mode", 0) != 0,
                          .exclude_pad = !max && !onnx_attr_int(n, "count_include_pad", 0)};
    int64_t one[3] = {1, 1, 1};
    if (spatial < 1 || onnx_attr_ints(n, "kernel_shape", p.kernel, 3) != spatial)
        return onnx_fail(im, label, "attribute 'kernel_shape' needs one value per spatial dim%s",
                         "");
    nncl_status st = strides_dilations(im, n, label, spatial, p.kernel, p.stride, p.dilation);
    if (st == NNCL_OK)
        st = window_pads(im, n, label, xs, spatial, p.kernel, p.stride, max ? p.dilation : one,
                         p.pad_begin, p.pad_end);
    if (st != NNCL_OK) return st;
    /* nncl's pools (as PyTorch's) take pads up to half the window; ONNX's
     * may be larger: then the padding is a pad op before the pool. */
    bool wide = false;
    for (int d = 0; d < spatial; d++)
        wide |= 2 * p.pad_begin[d] > p.kernel[d] || 2 * p.pad_end[d] > p.kernel[d];
    if (!wide) {
        *out = max ? nncl_max_pool(im->g, x, &p, n->output[0])
                   : nncl_avg_pool(im->g, x, &p, n->output[0]);
        return *out ? NNCL_OK : nncl_graph_status(im->g);
    }
    int64_t pads[6];
    for (int d = 0; d < spatial; d++) { /* nncl_pad lists the last dim first */
        pads[2 * (spatial - 1 - d)] = p.pad_begin[d];
        pads[2 * (spatial - 1 - d) + 1] = p.pad_end[d];
        p.pad_begin[d] = p.pad_end[d] = 0;
    }
    bool exclude = p.exclude_pad;
    p.exclude_pad = false;
    nncl_node *padded =
        nncl_pad(im->g, x, pads, 2 * spatial, NNCL_PAD_CONSTANT, max ? -FLT_MAX : 0.0f, NULL);
    if (!padded) return nncl_graph_status(im->g);
    if (max || !exclude) {
        *out = max ? nncl_max_pool(im->g, padded, &p, n->output[0])
                   : nncl_avg_pool(im->g, padded, &p, n->output[0]);
    } else {
        nncl_node *sum = nncl_avg_pool(im->g, padded, &p, NULL);
        nncl_node *counts = sum ? window_counts(im, n->output[0], xs, pads, 2 * spatial, &p) : NULL;
        *out = counts ? nncl_div(im->g, sum, counts, n->output[0]) : NULL;
    }
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}

nncl_status onnx_map_global_pool(importer *im, const NnclOnnx__NodeProto *n, const char *label,
                                 nncl_node **out) {
    nncl_node *x = onnx_value(im, n, 0);
    if (!x) return onnx_fail(im, label, "input 0 must be a computed value%s", "");
    *out = !strcmp(n->op_type, "GlobalMaxPool") ? nncl_global_max_pool(im->g, x, n->output[0])
                                                : nncl_global_avg_pool(im->g, x, n->output[0]);
    return *out ? NNCL_OK : nncl_graph_status(im->g);
}
