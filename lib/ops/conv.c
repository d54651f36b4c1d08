/* Convolution in 1, 2 and 3 spatial dims, PyTorch's Conv1d/2d/3d: stride,
 * per-side padding, dilation and groups. The builder and the op's passes;
 * each pass runs the algorithm chosen for the layer and direction
 * (conv_choice.c), then the op adds the bias. */
#include "conv.h"

#include <string.h>

conv_dims nncl_conv_dims(const nncl_node *node) {
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    conv_dims d;
    /* A transposed convolution is the backward-data pass of the convolution
     * from its output space to its input space: that convolution's input
     * channels are the node's output channels. */
    bool transposed = node->op == NNCL_OP_CONV_TRANSPOSE;
    const nncl_node *x = node->inputs[0];
    d.batch = (size_t)node->shape.dims[0];
    d.c_in = (size_t)(transposed ? node->shape : x->shape).dims[1];
    d.c_out = (size_t)(transposed ? x->shape : node->shape).dims[1];
    d.groups = (size_t)nncl_conv_attrs(node)->groups;
    d.cg_in = d.c_in / d.groups;
    d.cg_out = d.c_out / d.groups;
    d.kvol = (size_t)nncl_window_volume(w->kernel);
    d.kg = d.cg_in * d.kvol;
    d.spatial_in = (size_t)nncl_window_volume(w->in);
    d.spatial_out = (size_t)nncl_window_volume(w->out);
    return d;
}

nncl_status nncl_swap_outer(nncl_graph *g, cl_mem src, size_t src_off, cl_mem dst, size_t dst_off,
                            size_t a, size_t b, size_t len) {
    cl_uint so = (cl_uint)src_off, doff = (cl_uint)dst_off;
    cl_int ca = (cl_int)a, cb = (cl_int)b, cl = (cl_int)len, rows = (cl_int)(a * b);
    return nncl_launch(g->ctx, "swap_outer", (size_t)rows,
                       NNCL_ARGS(NNCL_ARG(src), NNCL_ARG(so), NNCL_ARG(dst), NNCL_ARG(doff),
                                 NNCL_ARG(ca), NNCL_ARG(cb), NNCL_ARG(cl), NNCL_ARG(rows)));
}

bool nncl_conv_check_channels(nncl_graph *g, const char *op, const char *name, nncl_shape x,
                              int64_t c_out, int64_t groups) {
    char s[128];
    if (c_out <= 0 || groups <= 0) {
        nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op, name,
                        "out_channels %lld and groups %lld must be > 0", (long long)c_out,
                        (long long)groups);
        return false;
    }
    if (x.dims[1] % groups || c_out % groups) {
        nncl_build_fail(g, NNCL_ERROR_SHAPE, op, name,
                        "input %s: in_channels %lld and out_channels %lld must both be divisible "
                        "by groups %lld",
                        nncl_shape_str(x, s, sizeof s), (long long)x.dims[1], (long long)c_out,
                        (long long)groups);
        return false;
    }
    return true;
}

nncl_node *nncl_conv(nncl_graph *g, nncl_node *x, const nncl_conv_params *params,
                     const char *name) {
    if (!nncl_builder_ready(g, "conv", &x, 1)) return NULL;
    if (!params)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "conv", name,
                               "params are required (out_channels and kernel)");
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "conv", name,
                               "input '%s' holds labels, not features", x->name);
    nncl_window win;
    nncl_window_request req = {.kernel = params->kernel,
                               .stride = params->stride,
                               .padding = params->padding,
                               .pad_begin = params->pad_begin,
                               .pad_end = params->pad_end,
                               .dilation = params->dilation,
                               .padding_same = params->padding_same};
    if (!nncl_window_plan(g, "conv", name, x->shape, &req, &win)) return NULL;
    int64_t c_in = x->shape.dims[1], c_out = params->out_channels;
    int64_t groups = params->groups ? params->groups : 1;
    if (!nncl_conv_check_channels(g, "conv", name, x->shape, c_out, groups)) return NULL;
    nncl_shape y = x->shape;
    y.dims[1] = c_out;
    nncl_shape w = {.rank = x->shape.rank, .dims = {c_out, c_in / groups}};
    for (int i = 0; i < win.spatial; i++) {
        y.dims[2 + i] = win.out[3 - win.spatial + i];
        w.dims[2 + i] = win.kernel[3 - win.spatial + i];
    }
    nncl_node *node = nncl_node_add(g, NNCL_OP_CONV, name, &x, 1, y);
    if (!node) return NULL;
    nncl_conv_attrs(node)->win = win;
    nncl_conv_attrs(node)->groups = groups;
    nncl_conv_attrs(node)->bias = !params->no_bias;
    memset(nncl_conv_attrs(node)->algorithm, -1, sizeof nncl_conv_attrs(node)->algorithm);
    int64_t k = nncl_window_volume(win.kernel);
    nncl_fill fill = {params->init, params->init_value, c_in / groups * k, c_out * k};
    if (!nncl_param_add(g, node, "weight", w, true, fill)) return NULL;
    if (!params->no_bias &&
        !nncl_param_add(g, node, "bias", NNCL_SHAPE(c_out), true, NNCL_FILL_CONSTANT(0.0f)))
        return NULL;
    return node;
}

int64_t nncl_conv_macs(const nncl_node *node) {
    conv_dims d = nncl_conv_dims(node);
    return (int64_t)(d.batch * d.c_out * d.spatial_out * d.kg);
}

void nncl_conv_space(const nncl_node *node, cl_mem *x_side, cl_mem *y_side) {
    bool transposed = node->op == NNCL_OP_CONV_TRANSPOSE;
    *x_side = transposed ? node->grad : node->inputs[0]->out;
    *y_side = transposed ? node->inputs[0]->out : node->grad;
}

nncl_status nncl_conv_plan(nncl_graph *g, nncl_node *node) {
    node->workspace_bytes = nncl_conv_workspace(g, node);
    return NNCL_OK;
}

nncl_status nncl_conv_bias_backward(nncl_graph *g, nncl_node *node, size_t batch, size_t channels,
                                    size_t inner) {
    nncl_param_entry *bias = nncl_node_param(g, node, 1);
    if (!nncl_param_learns(bias)) return NNCL_OK;
    cl_int n = (cl_int)batch, c = (cl_int)channels, len = (cl_int)inner;
    return nncl_launch_groups(g->ctx, "channel_sum", channels, g->ctx->reduce_size,
                              NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(bias->grad), NNCL_ARG(n),
                                        NNCL_ARG(c), NNCL_ARG(len)));
}

static nncl_status conv_forward(nncl_graph *g, nncl_node *node) {
    const conv_algorithm *a;
    nncl_status st = nncl_conv_pick(g, node, CONV_FORWARD, &a);
    conv_buffers b = {node->inputs[0]->out, nncl_node_param(g, node, 0)->value, node->out, false,
                      !node->ran_training};
    if (st == NNCL_OK) st = a->run(g, node, CONV_FORWARD, &b);
    if (st != NNCL_OK || !nncl_conv_attrs(node)->bias || node->bias_into) return st;
    conv_dims d = nncl_conv_dims(node);
    return nncl_bias_epilogue(g, node, nncl_node_param(g, node, 1)->value, d.c_out, d.spatial_out,
                              d.batch * d.c_out);
}

static nncl_status conv_backward(nncl_graph *g, nncl_node *node) {
    conv_dims d = nncl_conv_dims(node);
    nncl_param_entry *w = nncl_node_param(g, node, 0);
    nncl_node *x = node->inputs[0];
    nncl_status st = NNCL_OK;
    if (nncl_conv_attrs(node)->bias)
        st = nncl_conv_bias_backward(g, node, d.batch, d.c_out, d.spatial_out);
    const conv_algorithm *a;
    if (st == NNCL_OK && nncl_param_learns(w)) {
        g->ctx->phase = NNCL_PROFILE_CONV_BACKWARD_WEIGHTS;
        conv_buffers b = {x->out, w->grad, node->grad, false, false};
        if ((st = nncl_conv_pick(g, node, CONV_BACKWARD_WEIGHTS, &a)) == NNCL_OK)
            st = a->run(g, node, CONV_BACKWARD_WEIGHTS, &b);
    }
    if (st == NNCL_OK && x->requires_grad) {
        g->ctx->phase = NNCL_PROFILE_CONV_BACKWARD_DATA;
        conv_buffers b = {x->grad, w->value, node->grad, node->accumulate[0], false};
        if ((st = nncl_conv_pick(g, node, CONV_BACKWARD_DATA, &a)) == NNCL_OK)
            st = a->run(g, node, CONV_BACKWARD_DATA, &b);
    }
    return st;
}

/* The weight gradient needs the input. */
static uint32_t conv_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

nncl_fusion nncl_conv_absorbs(const nncl_node *producer, const nncl_node *act) {
    (void)act;
    return nncl_bias_absorbs(nncl_conv_attrs(producer)->bias);
}

bool nncl_conv_leaves_bias(const nncl_node *node) {
    return nncl_conv_attrs(node)->bias;
}

static nncl_status conv_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    const conv_attrs *a = nncl_conv_attrs(node);
    const char *in[3] = {nncl_ox_value(node->inputs[0]), nncl_ox_param(w, node, 0),
                         a->bias ? nncl_ox_param(w, node, 1) : NULL};
    int n = nncl_ox_add(w, "Conv", in, a->bias ? 3 : 2, nncl_ox_value(node));
    nncl_window_to_onnx(w, n, &a->win, true);
    nncl_ox_int(w, n, "group", a->groups);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_conv = {.attrs_size = sizeof(conv_attrs),
                                     .profile_forward = NNCL_PROFILE_CONV_FORWARD,
                                     .profile_backward = NNCL_PROFILE_CONV_BACKWARD_DATA,
                                     .plan = nncl_conv_plan,
                                     .forward = conv_forward,
                                     .backward = conv_backward,
                                     .saves = conv_saves,
                                     .absorbs = nncl_conv_absorbs,
                                     .leaves_bias = nncl_conv_leaves_bias,
                                     .macs = nncl_conv_macs,
                                     .to_onnx = conv_to_onnx};
