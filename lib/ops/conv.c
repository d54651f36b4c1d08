/* Convolution in 1, 2 and 3 spatial dims, PyTorch's Conv1d/2d/3d: stride,
 * per-side padding, dilation and groups. Images go through in chunks: one
 * im2col for the chunk, one GEMM per group (CLBlast) producing channel-major
 * results, and one permutation into NCHW. Backward computes the weight
 * gradient by GEMM against the same columns and the input gradient by GEMM
 * into columns folded back by col2im. */
#include "../nncl_internal.h"

/* Scratch per image: its columns and its channel-major output. */
#define WORKSPACE_LIMIT ((size_t)256 << 20)

/* Sizes the GEMMs need. */
typedef struct conv_dims {
    size_t batch, c_in, c_out, groups, cg_in, cg_out, kg, spatial_in, spatial_out;
    size_t chunk; /* images per pass */
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
    d.spatial_in = (size_t)nncl_window_volume(w->in);
    d.spatial_out = (size_t)nncl_window_volume(w->out);
    size_t per_image =
        (d.c_in * (size_t)nncl_window_volume(w->kernel) + d.c_out) * d.spatial_out * sizeof(float);
    d.chunk = WORKSPACE_LIMIT / per_image;
    if (d.chunk < 1) d.chunk = 1;
    if (d.chunk > d.batch) d.chunk = d.batch;
    return d;
}

/* The workspace: columns [C_in * K, nb * L], then outputs [C_out, nb * L]. */
static size_t cols_floats(const conv_dims *d) {
    return d->c_in * d->kg / d->cg_in * d->chunk * d->spatial_out;
}

static nncl_status launch_im2col(nncl_graph *g, const nncl_window *w, const conv_dims *d, cl_mem x,
                                 size_t first, size_t nb) {
    cl_uint x_off = (cl_uint)(first * d->c_in * d->spatial_in);
    cl_int total = (cl_int)(d->c_in * (size_t)nncl_window_volume(w->kernel) * nb *
                            (size_t)(w->out[0] * w->out[1])); /* rows of out[2] columns */
    cl_int batch = (cl_int)nb;
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            dil = nncl_int4(w->dilation);
    return nncl_launch(g->ctx, "conv.cl", "im2col", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(x_off), NNCL_ARG(g->workspace),
                                 NNCL_ARG(total), NNCL_ARG(batch), NNCL_ARG(in), NNCL_ARG(out),
                                 NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil)));
}

static nncl_status launch_col2im(nncl_graph *g, const nncl_window *w, const conv_dims *d, cl_mem dx,
                                 size_t first, size_t nb, bool accumulate) {
    cl_uint dx_off = (cl_uint)(first * d->c_in * d->spatial_in);
    cl_int total = (cl_int)(nb * d->c_in * (size_t)(w->in[0] * w->in[1])); /* input rows */
    cl_int channels = (cl_int)d->c_in;
    cl_int acc = accumulate;
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            dil = nncl_int4(w->dilation);
    return nncl_launch(g->ctx, "conv.cl", "col2im", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(g->workspace), NNCL_ARG(dx), NNCL_ARG(dx_off),
                                 NNCL_ARG(total), NNCL_ARG(channels), NNCL_ARG(in), NNCL_ARG(out),
                                 NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil),
                                 NNCL_ARG(acc)));
}

/* [a, b, L] at src + src_off -> [b, a, L] at dst + dst_off. */
static nncl_status swap_outer(nncl_graph *g, cl_mem src, size_t src_off, cl_mem dst, size_t dst_off,
                              size_t a, size_t b, size_t len) {
    cl_uint so = (cl_uint)src_off, doff = (cl_uint)dst_off;
    cl_int ca = (cl_int)a, cb = (cl_int)b, cl = (cl_int)len, rows = (cl_int)(a * b);
    return nncl_launch(g->ctx, "tensor.cl", "swap_outer", (size_t)rows,
                       NNCL_ARGS(NNCL_ARG(src), NNCL_ARG(so), NNCL_ARG(dst), NNCL_ARG(doff),
                                 NNCL_ARG(ca), NNCL_ARG(cb), NNCL_ARG(cl), NNCL_ARG(rows)));
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

static nncl_status conv_plan(nncl_graph *g, nncl_node *node) {
    (void)g;
    conv_dims d = dims_of(node);
    node->workspace_bytes = (cols_floats(&d) + d.c_out * d.chunk * d.spatial_out) * sizeof(float);
    return NNCL_OK;
}

static nncl_status conv_forward(nncl_graph *g, nncl_node *node) {
    conv_dims d = dims_of(node);
    cl_mem w = nncl_node_param(g, node, 0)->value;
    size_t outs = cols_floats(&d); /* where the channel-major outputs start */
    nncl_status st = NNCL_OK;
    for (size_t first = 0; first < d.batch && st == NNCL_OK; first += d.chunk) {
        size_t nb = d.batch - first < d.chunk ? d.batch - first : d.chunk,
               cols = nb * d.spatial_out;
        st = launch_im2col(g, &node->attrs.conv.win, &d, node->inputs[0]->out, first, nb);
        for (size_t gr = 0; gr < d.groups && st == NNCL_OK; gr++)
            st = nncl_gemm(g->ctx, false, false, d.cg_out, cols, d.kg, 1.0f, w,
                           gr * d.cg_out * d.kg, d.kg, g->workspace, gr * d.kg * cols, cols, 0.0f,
                           g->workspace, outs + gr * d.cg_out * cols, cols);
        if (st == NNCL_OK)
            st = swap_outer(g, g->workspace, outs, node->out, first * d.c_out * d.spatial_out,
                            d.c_out, nb, d.spatial_out);
    }
    if (st == NNCL_OK && node->attrs.conv.bias) {
        cl_mem b = nncl_node_param(g, node, 1)->value;
        cl_int channels = (cl_int)d.c_out, inner = (cl_int)d.spatial_out,
               total = (cl_int)(d.batch * d.c_out); /* rows */
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
    size_t dys = cols_floats(&d); /* where the channel-major output gradient goes */
    for (size_t first = 0; first < d.batch && st == NNCL_OK; first += d.chunk) {
        size_t nb = d.batch - first < d.chunk ? d.batch - first : d.chunk,
               cols = nb * d.spatial_out;
        st = swap_outer(g, node->grad, first * d.c_out * d.spatial_out, g->workspace, dys, nb,
                        d.c_out, d.spatial_out);
        /* dW_g += dY_g [cg_out x cols] * columns_g^T [cols x kg] */
        g->ctx->phase = NNCL_PHASE_CONV_BACKWARD_WEIGHTS;
        if (st == NNCL_OK && learn_w) st = launch_im2col(g, win, &d, x->out, first, nb);
        for (size_t gr = 0; learn_w && gr < d.groups && st == NNCL_OK; gr++)
            st = nncl_gemm(g->ctx, false, true, d.cg_out, d.kg, cols, 1.0f, g->workspace,
                           dys + gr * d.cg_out * cols, cols, g->workspace, gr * d.kg * cols, cols,
                           1.0f, w->grad, gr * d.cg_out * d.kg, d.kg);
        if (!x->requires_grad) continue;
        /* columns_g = W_g^T [kg x cg_out] * dY_g [cg_out x cols], folded onto dX. */
        g->ctx->phase = NNCL_PHASE_CONV_BACKWARD_DATA;
        for (size_t gr = 0; gr < d.groups && st == NNCL_OK; gr++)
            st = nncl_gemm(g->ctx, true, false, d.kg, cols, d.cg_out, 1.0f, w->value,
                           gr * d.cg_out * d.kg, d.kg, g->workspace, dys + gr * d.cg_out * cols,
                           cols, 0.0f, g->workspace, gr * d.kg * cols, cols);
        if (st == NNCL_OK) st = launch_col2im(g, win, &d, x->grad, first, nb, node->accumulate[0]);
    }
    return st;
}

/* The weight gradient needs the input. */
static uint32_t conv_saves(const nncl_node *node) {
    (void)node;
    return NNCL_SAVES_INPUT(0);
}

const nncl_op_vtable nncl_op_conv = {
    .plan = conv_plan, .forward = conv_forward, .backward = conv_backward, .saves = conv_saves};
