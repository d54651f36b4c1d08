/* Sliding-window geometry shared by convolution and pooling: defaults,
 * validation with messages that name the offending dim, per-side padding,
 * "same" padding and the output-size rule
 *   out = floor((in + pad_begin + pad_end - dilation*(kernel-1) - 1) / stride) + 1
 * (ceil for ceil_mode, as PyTorch's pooling); the spatial dims and
 * row-major strides other shape-aware ops hand their kernels; and the
 * window as ONNX attributes, for export. */
#include "../runtime/checked.h"
#include "ops.h"

#include <stdio.h>

int64_t nncl_window_volume(const int64_t v[3]) {
    return v[0] * v[1] * v[2];
}

cl_int4 nncl_int4(const int64_t v[3]) {
    cl_int4 r = {{(cl_int)v[0], (cl_int)v[1], (cl_int)v[2], 0}};
    return r;
}

cl_int4 nncl_spatial_dims(nncl_shape s) {
    cl_int4 v = {{1, 1, 1, 0}};
    int spatial = s.rank - 2;
    for (int i = 0; i < spatial; i++)
        v.s[3 - spatial + i] = (cl_int)s.dims[2 + i];
    return v;
}

void nncl_row_strides(nncl_shape s, int64_t *strides) {
    int64_t step = 1;
    for (int32_t k = s.rank - 1; k >= 0; k--) {
        strides[k] = step;
        step *= s.dims[k];
    }
}

static int64_t or_default(const int64_t *v, int i, int64_t dflt) {
    return v && v[i] ? v[i] : dflt;
}

static int64_t at(const int64_t *v, int i) {
    return v ? v[i] : 0;
}

bool nncl_window_plan(nncl_graph *g, const char *op, const char *name, nncl_shape x,
                      const nncl_window_request *req, nncl_window *win) {
    char s[128];
    if (x.rank < 3 || x.rank > 5) {
        nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name,
                        "input %s must be NCW, NCHW or NCDHW (rank 3 to 5)",
                        nncl_shape_str(x, s, sizeof s));
        return false;
    }
    int32_t spatial = x.rank - 2;
    win->spatial = spatial;
    for (int i = spatial; i < 3; i++)
        if (at(req->kernel, i) || at(req->stride, i) || at(req->padding, i) ||
            at(req->pad_begin, i) || at(req->pad_end, i) || at(req->dilation, i)) {
            nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                            "input %s has %d spatial dims but the window sets dim %d",
                            nncl_shape_str(x, s, sizeof s), (int)spatial, i);
            return false;
        }
    for (int d = 0; d < 3; d++) {
        win->in[d] = win->out[d] = win->kernel[d] = win->stride[d] = win->dilation[d] = 1;
        win->pad_begin[d] = win->pad_end[d] = 0;
    }
    for (int i = 0; i < spatial; i++) {
        int d = 3 - spatial + i; /* user dim i lands in slot d */
        int64_t in = x.dims[2 + i], k = at(req->kernel, i);
        int64_t stride = or_default(req->stride, i, req->default_stride_is_kernel ? k : 1);
        int64_t dil = or_default(req->dilation, i, 1);
        int64_t pb = at(req->padding, i) + at(req->pad_begin, i);
        int64_t pe = at(req->padding, i) + at(req->pad_end, i);
        if (k <= 0 || stride <= 0 || dil <= 0 || pb < 0 || pe < 0 || at(req->padding, i) < 0 ||
            at(req->pad_begin, i) < 0 || at(req->pad_end, i) < 0) {
            nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                            "spatial dim %d: kernel %lld, stride %lld and dilation %lld must be > "
                            "0 and padding %lld/%lld must be >= 0",
                            i, (long long)k, (long long)stride, (long long)dil, (long long)pb,
                            (long long)pe);
            return false;
        }
        /* The kernels index with 32-bit ints: every extent must fit one. */
        int64_t span, padded;
        if (k > INT32_MAX || stride > INT32_MAX || dil > INT32_MAX || pb > INT32_MAX ||
            pe > INT32_MAX || !nncl_mul_i64(dil, k - 1, &span) || span >= INT32_MAX ||
            !nncl_add_i64(in, pb + pe, &padded) || padded > INT32_MAX) {
            nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                            "spatial dim %d: kernel %lld, stride %lld, dilation %lld and padding "
                            "%lld/%lld must keep the dilated kernel and the padded input (%lld) "
                            "below 2^31",
                            i, (long long)k, (long long)stride, (long long)dil, (long long)pb,
                            (long long)pe, (long long)in);
            return false;
        }
        span += 1;
        if (req->padding_same) {
            if (stride != 1 || pb || pe) {
                nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                                "padding 'same' needs stride 1 and no explicit padding");
                return false;
            }
            pb = (span - 1) / 2;
            pe = span - 1 - pb;
        }
        padded = in + pb + pe;
        if (padded < span) {
            nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name,
                            "input %s: spatial dim %d is %lld with padding but the (dilated) "
                            "kernel spans %lld",
                            nncl_shape_str(x, s, sizeof s), i, (long long)padded, (long long)span);
            return false;
        }
        int64_t out = (padded - span) / stride + 1;
        if (req->ceil_mode) {
            out = (padded - span + stride - 1) / stride + 1;
            /* The last window must start inside the input or its begin padding. */
            if ((out - 1) * stride >= in + pb) out--;
        }
        win->in[d] = in;
        win->out[d] = out;
        win->kernel[d] = k;
        win->stride[d] = stride;
        win->dilation[d] = dil;
        win->pad_begin[d] = pb;
        win->pad_end[d] = pe;
    }
    return true;
}

void nncl_window_to_onnx(nncl_onnx_writer *w, int node, const nncl_window *win, bool dilations) {
    int n = win->spatial, first = 3 - n;
    int64_t pads[6];
    for (int i = 0; i < n; i++)
        pads[i] = win->pad_begin[first + i], pads[n + i] = win->pad_end[first + i];
    nncl_ox_ints(w, node, "kernel_shape", win->kernel + first, n);
    nncl_ox_ints(w, node, "strides", win->stride + first, n);
    nncl_ox_ints(w, node, "pads", pads, 2 * n);
    if (dilations) nncl_ox_ints(w, node, "dilations", win->dilation + first, n);
}

int nncl_ox_unary(nncl_onnx_writer *w, const char *op_type, const nncl_node *node) {
    return nncl_ox_add(w, op_type, (const char *[]){nncl_ox_value(node->inputs[0])}, 1,
                       nncl_ox_value(node));
}
