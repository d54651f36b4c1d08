/* Convolution in 1, 2 and 3 spatial dims, PyTorch's Conv1d/2d/3d: stride,
 * per-side padding, dilation and groups. Per image: im2col into the graph
 * workspace, then one GEMM per group (CLBlast). Backward computes the weight
 * gradient by GEMM against the same columns and the input gradient by GEMM
 * into columns folded back by col2im. */
#include "../nncl_internal.h"

static nncl_status launch_im2col(nncl_graph *g, const nncl_window *w, cl_mem x, size_t image,
                                 int64_t channels) {
    cl_uint x_off = (cl_uint)(image * (size_t)(channels * nncl_window_volume(w->in)));
    cl_int total = (cl_int)(channels * nncl_window_volume(w->kernel) * nncl_window_volume(w->out));
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            dil = nncl_int4(w->dilation);
    return nncl_launch(g->ctx, "conv.cl", "im2col", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(x_off), NNCL_ARG(g->workspace),
                                 NNCL_ARG(total), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k),
                                 NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil)));
}

static nncl_status launch_col2im(nncl_graph *g, const nncl_window *w, cl_mem dx, size_t image,
                                 int64_t channels, bool accumulate) {
    cl_uint dx_off = (cl_uint)(image * (size_t)(channels * nncl_window_volume(w->in)));
    cl_int total = (cl_int)(channels * nncl_window_volume(w->in)), acc = accumulate;
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            dil = nncl_int4(w->dilation);
    return nncl_launch(g->ctx, "conv.cl", "col2im", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(g->workspace), NNCL_ARG(dx), NNCL_ARG(dx_off),
                                 NNCL_ARG(total), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k),
                                 NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil), NNCL_ARG(acc)));
}

nncl_node *nncl_conv(nncl_graph *g, nncl_node *x, const nncl_conv_params *params,
                     const char *name) {
    if (!nncl_builder_ready(g, "conv", &x, 1)) return NULL;
    char s[128];
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
    if (c_out <= 0 || groups <= 0)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "conv", name,
                               "out_channels %lld and groups %lld must be > 0", (long long)c_out,
                               (long long)groups);
    if (c_in % groups || c_out % groups)
        return nncl_build_fail(g, NNCL_ERROR_SHAPE, "conv", name,
                               "input %s: in_channels %lld and out_channels %lld must both be "
                               "divisible by groups %lld",
                               nncl_shape_str(x->shape, s, sizeof s), (long long)c_in,
                               (long long)c_out, (long long)groups);
    nncl_shape y = x->shape;
    y.dims[1] = c_out;
    nncl_shape w = {.rank = x->shape.rank, .dims = {c_out, c_in / groups}};
    for (int i = 0; i < win.spatial; i++) {
        y.dims[2 + i] = win.out[3 - win.spatial + i];
        w.dims[2 + i] = win.kernel[3 - win.spatial + i];
    }
    nncl_node *node = nncl_node_add(g, NNCL_OP_CONV, name, &x, 1, y);
    if (!node) return NULL;
    node->attrs.conv.win = win;
    node->attrs.conv.groups = groups;
    node->attrs.conv.bias = !params->no_bias;
    int64_t k = nncl_window_volume(win.kernel);
    nncl_fill fill = {params->init, params->init_value, c_in / groups * k, c_out * k};
    if (!nncl_param_add(g, node, "weight", w, true, fill)) return NULL;
    if (!params->no_bias &&
        !nncl_param_add(g, node, "bias", NNCL_SHAPE(c_out), true, NNCL_FILL_CONSTANT(0.0f)))
        return NULL;
    return node;
}

/* Sizes every per-image GEMM needs. */
typedef struct conv_dims {
    size_t batch, c_in, c_out, groups, cg_in, cg_out, kg, spatial_out;
} conv_dims;

static conv_dims dims_of(const nncl_node *node) {
    const nncl_window *w = &node->attrs.conv.win;
    conv_dims d;
    d.batch = (size_t)node->shape.dims[0];
    d.c_in = (size_t)node->inputs[0]->shape.dims[1];
    d.c_out = (size_t)node->shape.dims[1];
    d.groups = (size_t)node->attrs.conv.groups;
    d.cg_in = d.c_in / d.groups;
    d.cg_out = d.c_out / d.groups;
    d.kg = d.cg_in * (size_t)nncl_window_volume(w->kernel);
    d.spatial_out = (size_t)nncl_window_volume(w->out);
    return d;
}

static nncl_status conv_plan(nncl_graph *g, nncl_node *node) {
    (void)g;
    conv_dims d = dims_of(node);
    node->workspace_bytes = d.c_in * (size_t)nncl_window_volume(node->attrs.conv.win.kernel) *
                            d.spatial_out * sizeof(float);
    return NNCL_OK;
}

static nncl_status conv_forward(nncl_graph *g, nncl_node *node) {
    conv_dims d = dims_of(node);
    cl_mem w = nncl_node_param(g, node, 0)->value;
    nncl_status st = NNCL_OK;
    for (size_t n = 0; n < d.batch && st == NNCL_OK; n++) {
        st = launch_im2col(g, &node->attrs.conv.win, node->inputs[0]->out, n, (int64_t)d.c_in);
        for (size_t gr = 0; gr < d.groups && st == NNCL_OK; gr++)
            st = nncl_gemm(g->ctx, false, false, d.cg_out, d.spatial_out, d.kg, 1.0f, w,
                           gr * d.cg_out * d.kg, d.kg, g->workspace, gr * d.kg * d.spatial_out,
                           d.spatial_out, 0.0f, node->out,
                           (n * d.c_out + gr * d.cg_out) * d.spatial_out, d.spatial_out);
    }
    if (st == NNCL_OK && node->attrs.conv.bias) {
        cl_mem b = nncl_node_param(g, node, 1)->value;
        cl_int channels = (cl_int)d.c_out, inner = (cl_int)d.spatial_out,
               total = (cl_int)(d.batch * d.c_out * d.spatial_out);
        st = nncl_launch(g->ctx, "tensor.cl", "add_bias", (size_t)total,
                         NNCL_ARGS(NNCL_ARG(node->out), NNCL_ARG(b), NNCL_ARG(channels),
                                   NNCL_ARG(inner), NNCL_ARG(total)));
    }
    return st;
}

static nncl_status conv_backward(nncl_graph *g, nncl_node *node) {
    conv_dims d = dims_of(node);
    const nncl_window *win = &node->attrs.conv.win;
    nncl_param_entry *w = nncl_node_param(g, node, 0);
    nncl_node *x = node->inputs[0];
    nncl_status st = NNCL_OK;
    bool learn_w = nncl_param_learns(w);
    if (node->attrs.conv.bias && nncl_param_learns(nncl_node_param(g, node, 1))) {
        cl_int batch = (cl_int)d.batch, channels = (cl_int)d.c_out, inner = (cl_int)d.spatial_out;
        st =
            nncl_launch(g->ctx, "tensor.cl", "channel_sum", d.c_out,
                        NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(nncl_node_param(g, node, 1)->grad),
                                  NNCL_ARG(batch), NNCL_ARG(channels), NNCL_ARG(inner)));
    }
    for (size_t n = 0; n < d.batch && st == NNCL_OK; n++) {
        size_t dy_off = n * d.c_out * d.spatial_out;
        /* dW_g += dY_g [cg_out x L] * cols_g^T [L x kg] */
        if (learn_w) st = launch_im2col(g, win, x->out, n, (int64_t)d.c_in);
        for (size_t gr = 0; learn_w && gr < d.groups && st == NNCL_OK; gr++)
            st = nncl_gemm(g->ctx, false, true, d.cg_out, d.kg, d.spatial_out, 1.0f, node->grad,
                           dy_off + gr * d.cg_out * d.spatial_out, d.spatial_out, g->workspace,
                           gr * d.kg * d.spatial_out, d.spatial_out, 1.0f, w->grad,
                           gr * d.cg_out * d.kg, d.kg);
        if (!x->requires_grad) continue;
        /* cols_g = W_g^T [kg x cg_out] * dY_g [cg_out x L], then fold onto dX. */
        for (size_t gr = 0; gr < d.groups && st == NNCL_OK; gr++)
            st = nncl_gemm(g->ctx, true, false, d.kg, d.spatial_out, d.cg_out, 1.0f, w->value,
                           gr * d.cg_out * d.kg, d.kg, node->grad,
                           dy_off + gr * d.cg_out * d.spatial_out, d.spatial_out, 0.0f,
                           g->workspace, gr * d.kg * d.spatial_out, d.spatial_out);
        if (st == NNCL_OK)
            st = launch_col2im(g, win, x->grad, n, (int64_t)d.c_in, node->accumulate[0]);
    }
    return st;
}

const nncl_op_vtable nncl_op_conv = {conv_plan, conv_forward, conv_backward};
