/* Max and average pooling in 1, 2 and 3 spatial dims (PyTorch's MaxPool /
 * AvgPool: padding, dilation, ceil_mode, count_include_pad) and global
 * pooling, which is the same op with one window covering the whole input. */
#include "ops.h"

typedef struct pool_attrs {
    nncl_window win;
    bool exclude_pad; /* average over the window's part inside the input */
} pool_attrs;

static pool_attrs *attrs_of(const nncl_node *node) {
    return node->attrs;
}

static bool is_max(nncl_op_kind op) {
    return op == NNCL_OP_MAX_POOL || op == NNCL_OP_GLOBAL_MAX_POOL;
}

static nncl_node *pool_build(nncl_graph *g, nncl_op_kind op, nncl_node *x,
                             const nncl_window_request *req, bool exclude_pad, const char *name) {
    const char *op_name = nncl_op_name(op);
    char s[128];
    if (x->is_labels)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                               "input '%s' holds labels, not features", x->name);
    nncl_window win;
    if (!nncl_window_plan(g, op_name, name, x->shape, req, &win)) return NULL;
    for (int d = 3 - win.spatial; d < 3; d++) {
        /* PyTorch's rule: padding at most half the (dilated) kernel, so every
         * window holds at least one real element. */
        int64_t half = (win.dilation[d] * (win.kernel[d] - 1) + 1) / 2;
        if (win.pad_begin[d] > half || win.pad_end[d] > half)
            return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, op_name, name,
                                   "input %s: padding %lld/%lld exceeds half the kernel (%lld)",
                                   nncl_shape_str(x->shape, s, sizeof s),
                                   (long long)win.pad_begin[d], (long long)win.pad_end[d],
                                   (long long)half);
    }
    nncl_shape y = x->shape;
    for (int i = 0; i < win.spatial; i++)
        y.dims[2 + i] = win.out[3 - win.spatial + i];
    nncl_node *node = nncl_node_add(g, op, name, &x, 1, y);
    if (!node) return NULL;
    attrs_of(node)->win = win;
    attrs_of(node)->exclude_pad = exclude_pad;
    return node;
}

static nncl_node *window_pool(nncl_graph *g, nncl_op_kind op, nncl_node *x,
                              const nncl_pool_params *p, const char *name) {
    if (!nncl_builder_ready(g, nncl_op_name(op), &x, 1)) return NULL;
    if (!p)
        return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, nncl_op_name(op), name,
                               "params are required (kernel)");
    if (op == NNCL_OP_AVG_POOL)
        for (int i = 0; i < 3; i++)
            if (p->dilation[i] > 1)
                return nncl_build_fail(g, NNCL_ERROR_INVALID_ARGUMENT, "avg_pool", name,
                                       "average pooling has no dilation");
    nncl_window_request req = {.kernel = p->kernel,
                               .stride = p->stride,
                               .padding = p->padding,
                               .pad_begin = p->pad_begin,
                               .pad_end = p->pad_end,
                               .dilation = p->dilation,
                               .ceil_mode = p->ceil_mode,
                               .default_stride_is_kernel = true};
    return pool_build(g, op, x, &req, p->exclude_pad, name);
}

nncl_node *nncl_max_pool(nncl_graph *g, nncl_node *x, const nncl_pool_params *params,
                         const char *name) {
    return window_pool(g, NNCL_OP_MAX_POOL, x, params, name);
}

nncl_node *nncl_avg_pool(nncl_graph *g, nncl_node *x, const nncl_pool_params *params,
                         const char *name) {
    return window_pool(g, NNCL_OP_AVG_POOL, x, params, name);
}

static nncl_node *global_pool(nncl_graph *g, nncl_op_kind op, nncl_node *x, const char *name) {
    if (!nncl_builder_ready(g, nncl_op_name(op), &x, 1)) return NULL;
    int64_t kernel[3] = {0, 0, 0};
    for (int i = 0; i + 2 < x->shape.rank && i < 3; i++)
        kernel[i] = x->shape.dims[2 + i];
    nncl_window_request req = {.kernel = kernel};
    return pool_build(g, op, x, &req, false, name);
}

nncl_node *nncl_global_avg_pool(nncl_graph *g, nncl_node *x, const char *name) {
    return global_pool(g, NNCL_OP_GLOBAL_AVG_POOL, x, name);
}

nncl_node *nncl_global_max_pool(nncl_graph *g, nncl_node *x, const char *name) {
    return global_pool(g, NNCL_OP_GLOBAL_MAX_POOL, x, name);
}

static nncl_status pool_plan(nncl_graph *g, nncl_node *node) {
    if (!is_max(node->op)) return NNCL_OK; /* aux[0]: argmax of each window */
    return nncl_node_aux(g, node, 0, (size_t)nncl_shape_numel(node->shape) * sizeof(cl_int));
}

/* The windows cover the input exactly once: stride = kernel (or a single
 * window, as global pooling's), no padding or dilation, every size a
 * multiple of the kernel. */
static bool tiles(const nncl_window *w) {
    for (int d = 0; d < 3; d++)
        if ((w->stride[d] != w->kernel[d] && w->out[d] != 1) || w->dilation[d] != 1 ||
            w->pad_begin[d] || w->pad_end[d] || w->out[d] * w->kernel[d] != w->in[d])
            return false;
    return true;
}

static nncl_status pool_forward(nncl_graph *g, nncl_node *node) {
    const nncl_window *w = &attrs_of(node)->win;
    cl_int total = (cl_int)nncl_shape_numel(node->shape);
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            pad_end = nncl_int4(w->pad_end), dil = nncl_int4(w->dilation);
    cl_mem x = node->inputs[0]->out;
    cl_int rows = total / out.s[2]; /* output rows of out.z columns */
    if (is_max(node->op) && tiles(w))
        return nncl_launch(g->ctx, "max_pool_forward_tiled", (size_t)rows,
                           NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(node->out), NNCL_ARG(node->aux[0]),
                                     NNCL_ARG(rows), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k)));
    if (is_max(node->op))
        return nncl_launch(g->ctx, "max_pool_forward", (size_t)rows,
                           NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(node->out), NNCL_ARG(node->aux[0]),
                                     NNCL_ARG(rows), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k),
                                     NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil)));
    if (tiles(w) && out.s[0] * out.s[1] * out.s[2] == 1) { /* one window per plane */
        cl_int n = in.s[0] * in.s[1] * in.s[2];
        return nncl_launch(
            g->ctx, "avg_pool_global", (size_t)total,
            NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(node->out), NNCL_ARG(total), NNCL_ARG(n)));
    }
    cl_int exclude = attrs_of(node)->exclude_pad;
    return nncl_launch(g->ctx, "avg_pool_forward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(node->out), NNCL_ARG(total), NNCL_ARG(in),
                                 NNCL_ARG(out), NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad),
                                 NNCL_ARG(pad_end), NNCL_ARG(exclude)));
}

static nncl_status pool_backward(nncl_graph *g, nncl_node *node) {
    const nncl_window *w = &attrs_of(node)->win;
    nncl_node *x = node->inputs[0];
    cl_int total = (cl_int)nncl_shape_numel(x->shape), acc = node->accumulate[0];
    cl_int4 in = nncl_int4(w->in), out = nncl_int4(w->out), k = nncl_int4(w->kernel),
            stride = nncl_int4(w->stride), pad = nncl_int4(w->pad_begin),
            pad_end = nncl_int4(w->pad_end), dil = nncl_int4(w->dilation);
    if (is_max(node->op) && tiles(w)) {
        cl_int rows = (cl_int)nncl_shape_numel(node->shape) / out.s[2];
        return nncl_launch(g->ctx, "max_pool_backward_tiled", (size_t)rows,
                           NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]),
                                     NNCL_ARG(x->grad), NNCL_ARG(rows), NNCL_ARG(in), NNCL_ARG(out),
                                     NNCL_ARG(k), NNCL_ARG(acc)));
    }
    if (is_max(node->op))
        return nncl_launch(g->ctx, "max_pool_backward", (size_t)total,
                           NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(node->aux[0]),
                                     NNCL_ARG(x->grad), NNCL_ARG(total), NNCL_ARG(in),
                                     NNCL_ARG(out), NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad),
                                     NNCL_ARG(dil), NNCL_ARG(acc)));
    if (tiles(w)) {
        cl_int rows = (cl_int)nncl_shape_numel(node->shape) / out.s[2];
        return nncl_launch(g->ctx, "avg_pool_backward_tiled", (size_t)rows,
                           NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(rows),
                                     NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k), NNCL_ARG(acc)));
    }
    cl_int exclude = attrs_of(node)->exclude_pad;
    return nncl_launch(g->ctx, "avg_pool_backward", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(node->grad), NNCL_ARG(x->grad), NNCL_ARG(total),
                                 NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k), NNCL_ARG(stride),
                                 NNCL_ARG(pad), NNCL_ARG(pad_end), NNCL_ARG(exclude),
                                 NNCL_ARG(acc)));
}

/* ceil_mode where the window count needs it: ONNX computes the output
 * size from the attributes. */
static nncl_status pool_to_onnx(nncl_onnx_writer *w, const nncl_node *node) {
    if (node->op == NNCL_OP_GLOBAL_MAX_POOL || node->op == NNCL_OP_GLOBAL_AVG_POOL) {
        nncl_ox_unary(w, is_max(node->op) ? "GlobalMaxPool" : "GlobalAveragePool", node);
        return nncl_ox_status(w);
    }
    const pool_attrs *a = attrs_of(node);
    const nncl_window *win = &a->win;
    bool max = is_max(node->op), ceil = false;
    for (int d = 3 - win->spatial; d < 3; d++) {
        int64_t span = win->in[d] + win->pad_begin[d] + win->pad_end[d] -
                       win->dilation[d] * (win->kernel[d] - 1) - 1;
        ceil |= span / win->stride[d] + 1 < win->out[d];
    }
    int n = nncl_ox_unary(w, max ? "MaxPool" : "AveragePool", node);
    nncl_window_to_onnx(w, n, win, max);
    nncl_ox_int(w, n, "ceil_mode", ceil);
    if (!max) nncl_ox_int(w, n, "count_include_pad", !a->exclude_pad);
    return nncl_ox_status(w);
}

const nncl_op_vtable nncl_op_pool = {.attrs_size = sizeof(pool_attrs),
                                     .profile_forward = NNCL_PROFILE_POOLING,
                                     .profile_backward = NNCL_PROFILE_POOLING,
                                     .plan = pool_plan,
                                     .forward = pool_forward,
                                     .backward = pool_backward,
                                     .to_onnx = pool_to_onnx};
