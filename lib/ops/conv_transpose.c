/* Transposed convolution in 1, 2 and 3 spatial dims, PyTorch's
 * ConvTranspose1d/2d/3d. It is the backward-data pass of the convolution
 * that maps its output space back to its input space, so it runs on the
 * convolution algorithms with the directions exchanged: forward is that
 * convolution's backward-data pass (GEMM + col2im, or the direct kernel),
 * backward-data its forward pass, and the weight gradient its
 * backward-weights pass with the two spaces swapped. PyTorch's weight
 * layout [C_in, C_out/groups, k...] is that convolution's own. */
#include "../runtime/checked.h"
#include "conv.h"

#include <string.h>

/* Output size per spatial dim (PyTorch's ConvTranspose formula); false when
 * it is not positive or does not fit a 32-bit index. */
static bool output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                        int64_t out_pad, int64_t *out) {
    int64_t grown, span;
    if (!nncl_mul_i64(in - 1, stride, &grown) || !nncl_mul_i64(dil, k - 1, &span)) return false;
    *out = grown - 2 * pad + span + out_pad + 1;
    return *out > 0 && *out <= INT32_MAX;
}

static int64_t or_one(int64_t v) {
    return v ? v : 1;
}

/* Checks one spatial dim's parameters and gives its output size. */
static bool check_dim(nncl_graph *g, const char *name, const nncl_conv_transpose_params *p, int i,
                      int64_t in, int64_t *out) {
    int64_t k = p->kernel[i], s = or_one(p->stride[i]), d = or_one(p->dilation[i]);
    int64_t pad = p->padding[i], op = p->output_padding[i];
    if (k <= 0 || s <= 0 || d <= 0 || pad < 0 || op < 0 || k > INT32_MAX || s > INT32_MAX ||
        d > INT32_MAX || pad > INT32_MAX) {
        nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "conv_transpose", name,
                        "spatial dim %d: kernel %lld, stride %lld and dilation %lld must be in "
                        "1..2^31-1, padding %lld and output_padding %lld >= 0",
                        i, (long long)k, (long long)s, (long long)d, (long long)pad, (long long)op);
        return false;
    }
    if (op >= s && op >= d) {
        nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "conv_transpose", name,
                        "spatial dim %d: output_padding %lld must be smaller than stride %lld or "
                        "dilation %lld",
                        i, (long long)op, (long long)s, (long long)d);
        return false;
    }
    if (!output_size(in, k, s, pad, d, op, out)) {
        nncl_build_fail(g, NNCL_ERROR_SHAPE, "conv_transpose", name,
                        "spatial dim %d: input %lld, kernel %lld, stride %lld, padding %lld and "
                        "dilation %lld give no output between 1 and 2^31-1",
                        i, (long long)in, (long long)k, (long long)s, (long long)pad, (long long)d);
        return false;
    }
    return true;
}

nncl_node *nncl_conv_transpose(nncl_graph *g, nncl_node *x, const nncl_conv_transpose_params *p,
                               const char *name) {
    if (!nncl_builder_ready(g, "conv_transpose", &x, 1)) return NULL;
    char s[128];
    if (!p)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "conv_transpose", name,
                               "params are required (out_channels and kernel)");
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "conv_transpose", name,
                               "input '%s' holds labels, not features", x->name);
    if (x->shape.rank < 3 || x->shape.rank > 5)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "conv_transpose", name,
                               "input %s must be NCW, NCHW or NCDHW (rank 3 to 5)",
                               nncl_shape_str(x->shape, s, sizeof s));
    int spatial = x->shape.rank - 2;
    for (int i = spatial; i < 3; i++)
        if (p->kernel[i] || p->stride[i] || p->padding[i] || p->output_padding[i] || p->dilation[i])
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "conv_transpose", name,
                                   "input %s has %d spatial dims but the parameters set dim %d",
                                   nncl_shape_str(x->shape, s, sizeof s), spatial, i);
    int64_t c_in = x->shape.dims[1], c_out = p->out_channels, groups = or_one(p->groups);
    if (!nncl_conv_check_channels(g, "conv_transpose", name, x->shape, c_out, groups)) return NULL;
    nncl_shape y = x->shape;
    y.dims[1] = c_out;
    nncl_shape w = {.rank = x->shape.rank, .dims = {c_in, c_out / groups}};
    for (int i = 0; i < spatial; i++) {
        if (!check_dim(g, name, p, i, x->shape.dims[2 + i], &y.dims[2 + i])) return NULL;
        w.dims[2 + i] = p->kernel[i];
    }
    /* The convolution from y's space to x's: its window on y must land on
     * x's size, give or take the output padding past its last window. */
    nncl_window win;
    nncl_window_request req = {
        .kernel = p->kernel, .stride = p->stride, .padding = p->padding, .dilation = p->dilation};
    if (!nncl_window_plan(g, "conv_transpose", name, y, &req, &win)) return NULL;
    for (int i = 0; i < spatial; i++)
        win.out[3 - spatial + i] = x->shape.dims[2 + i];
    nncl_node *node = nncl_node_add(g, NNCL_OP_CONV_TRANSPOSE, name, &x, 1, y);
    if (!node) return NULL;
    conv_attrs *a = nncl_conv_attrs(node);
    a->win = win;
    a->groups = groups;
    a->bias = !p->no_bias;
    memset(a->algorithm, -1, sizeof a->algorithm);
    /* PyTorch's fans for this weight layout: dim 1 (C_out/groups) is fan-in. */
    int64_t k = nncl_window_volume(win.kernel);
    nncl_fill fill = {p->init, p->init_value, c_out / groups * k, c_in * k};
    if (!nncl_param_add(g, node, "weight", w, true, fill)) return NULL;
    if (!p->no_bias &&
        !nncl_param_add(g, node, "bias", NNCL_SHAPE(c_out), true, NNCL_FILL_CONSTANT(0.0f)))
        return NULL;
    return node;
}

static size_t output_spatial(const nncl_node *node) {
    return (size_t)nncl_shape_inner(node->shape, 2);
}

static nncl_status transpose_forward(nncl_graph *g, nncl_node *node) {
    const conv_algorithm *a;
    nncl_status st = nncl_conv_pick(g, node, CONV_BACKWARD_DATA, &a);
    conv_buffers b = {node->out, nncl_node_param(g, node, 0)->value, node->inputs[0]->out, false,
                      false};
    if (st == NNCL_OK) st = a->run(g, node, CONV_BACKWARD_DATA, &b);
    if (st != NNCL_OK || !nncl_conv_attrs(node)->bias || node->bias_into) return st;
    size_t batch = (size_t)node->shape.dims[0], channels = (size_t)node->shape.dims[1];
    return nncl_bias_epilogue(g, node, nncl_node_param(g, node, 1)->value, channels,
                              output_spatial(node), batch * channels);
}

/* The input gradient is the convolution's forward pass, which writes its
 * output: a gradient another consumer already wrote is added afterwards
 * from a buffer of the node's own. */
static nncl_status input_gradient(nncl_graph *g, nncl_node *node, const conv_algorithm *a) {
    nncl_node *x = node->inputs[0];
    conv_buffers b = {node->grad, nncl_node_param(g, node, 0)->value, x->grad, false, false};
    if (!node->accumulate[0]) return a->run(g, node, CONV_FORWARD, &b);
    nncl_status st = nncl_node_aux(g, node, 0, nncl_node_bytes(x));
    if (st != NNCL_OK) return st;
    b.y = node->aux[0];
    if ((st = a->run(g, node, CONV_FORWARD, &b)) != NNCL_OK) return st;
    cl_int total = (cl_int)nncl_shape_numel(x->shape), relu = 0;
    return nncl_launch(g->ctx, "add2", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(x->grad), NNCL_ARG(node->aux[0]), NNCL_ARG(x->grad),
                                 NNCL_ARG(total), NNCL_ARG(relu)));
}

static nncl_status transpose_backward(nncl_graph *g, nncl_node *node) {
    nncl_param_entry *w = nncl_node_param(g, node, 0);
    nncl_node *x = node->inputs[0];
    nncl_status st = NNCL_OK;
    if (nncl_conv_attrs(node)->bias)
        st = nncl_conv_bias_backward(g, node, (size_t)node->shape.dims[0],
                                     (size_t)node->shape.dims[1], output_spatial(node));
    const conv_algorithm *a;
    if (st == NNCL_OK && nncl_param_learns(w)) {
        g->ctx->phase = NNCL_PROFILE_CONV_BACKWARD_WEIGHTS;
        conv_buffers b = {node->grad, w->grad, x->out, false, false};
        if ((st = nncl_conv_pick(g, node, CONV_BACKWARD_WEIGHTS, &a)) == NNCL_OK)
            st = a->run(g, node, CONV_BACKWARD_WEIGHTS, &b);
    }
    if (st == NNCL_OK && x->requires_grad) {
        g->ctx->phase = NNCL_PROFILE_CONV_BACKWARD_DATA;
        if ((st = nncl_conv_pick(g, node, CONV_FORWARD, &a)) == NNCL_OK)
            st = input_gradient(g, node, a);
    }
    return st;
}

/* The weight gradient needs the input. */
static uint32_t transpose_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

/* The window is the convolution from y's space to x's: its pads are the
 * transposed op's, and what y has beyond them is output_padding. */
static nncl_status transpose_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const conv_attrs *a = nncl_conv_attrs(node);
    const nncl_window *win = &a->win;
    const char *in[3] = {nncl_ox_value(node->inputs[0]), nncl_ox_param(w, node, 0),
                         a->bias ? nncl_ox_param(w, node, 1) : NULL};
    int n = nncl_ox_add(w, "ConvTranspose", in, a->bias ? 3 : 2, nncl_ox_value(node));
    nncl_window_to_onnx(w, n, win, true);
    int64_t extra[3];
    for (int i = 0, first = 3 - win->spatial; i < win->spatial; i++) {
        int64_t d = first + i, x = node->inputs[0]->shape.dims[2 + i];
        extra[i] = node->shape.dims[2 + i] -
                   ((x - 1) * win->stride[d] - win->pad_begin[d] - win->pad_end[d] +
                    win->dilation[d] * (win->kernel[d] - 1) + 1);
    }
    nncl_ox_ints(w, n, "output_padding", extra, win->spatial);
    nncl_ox_int(w, n, "group", a->groups);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_conv_transpose = {.attrs_size = sizeof(conv_attrs),
                                               .profile_forward = NNCL_PROFILE_CONV_FORWARD,
                                               .profile_backward = NNCL_PROFILE_CONV_BACKWARD_DATA,
                                               .plan = nncl_conv_plan,
                                               .forward = transpose_forward,
                                               .backward = transpose_backward,
                                               .saves = transpose_saves,
                                               .absorbs = nncl_conv_absorbs,
                                               .leaves_bias = nncl_conv_leaves_bias,
                                               .macs = nncl_conv_macs,
                                               .to_onnx = transpose_to_onnx};
