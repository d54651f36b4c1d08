/* Direct forward convolution with register tiles along output rows
 * (cl/conv_rows.cl): no unfolded copy of the input and no permutation of
 * the result, for layers with stride 1 along rows at least a device vector
 * long (1D signal and text convolutions above all, where unfolding costs
 * as much as the product). For layers of stride 1 the input gradient too,
 * as a forward convolution of dY (conv_packed.c; no col2im pass). The
 * weight gradient sums dY times shifted rows of x the same way, no
 * unfolded copy either. */
#include "conv.h"

/* The vectors of outputs along a row (two per work-item): the packed
 * GEMM's vector width. */
static size_t row_vector(const nncl_graph *g) {
    return nncl_gemm_panel_width(g->ctx) / 2;
}

static bool applies(const nncl_node *node, conv_direction dir) {
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    int64_t vec = (int64_t)row_vector(node->graph);
    if (nncl_conv_attrs(node)->groups != 1 || w->stride[2] != 1 || w->in[2] < vec ||
        w->out[2] < vec)
        return false;
    return dir != CONV_BACKWARD_DATA || (w->stride[0] == 1 && w->stride[1] == 1);
}

/* The weight gradient's work-items without chunks of images (kernel rows x
 * groups of 3 taps x input channels x groups of 8 output channels), and
 * the chunks: enough work-items for every core, each chunk's sums a
 * partial gradient in the workspace. */
static size_t weight_items(const nncl_node *node) {
    conv_dims d = nncl_conv_dims(node);
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    return (size_t)(w->kernel[0] * w->kernel[1] * ((w->kernel[2] + 2) / 3)) * d.c_in *
           ((d.c_out + 7) / 8);
}

static size_t weight_chunks(const nncl_node *node) {
    size_t per_chunk = weight_items(node), batch = nncl_conv_dims(node).batch;
    size_t want = (1024 + per_chunk - 1) / per_chunk, chunk = (batch + want - 1) / want;
    return (batch + chunk - 1) / chunk;
}

/* The zeros a pass's input rows get at their ends so that every vector
 * the kernel loads lies inside its row (conv_rows_forward's fast loop):
 * the left padding, and the reach of the last output's last tap past the
 * row's end. */
static void row_ends(const nncl_window *win, const conv_pass *p, cl_int *left, cl_int *right) {
    int64_t reach = p->to[2] + (win->kernel[2] - 1) * win->dilation[2] - p->pad.s[2];
    *left = p->pad.s[2] > 0 ? p->pad.s[2] : 0;
    *right = reach > p->from[2] ? (cl_int)(reach - p->from[2]) : 0;
}

/* Input rows that row_ends pads, each of from[2] values. */
static size_t padded_rows(const conv_pass *p) {
    return p->batch * p->c_in * (size_t)(p->from[0] * p->from[1]);
}

/* The weight gradient's partial sums; for the other passes, the input
 * with its rows' ends padded (the weights are read where they lie). */
static size_t workspace(const nncl_node *node, conv_direction dir) {
    conv_dims d = nncl_conv_dims(node);
    if (dir == CONV_BACKWARD_WEIGHTS)
        return weight_chunks(node) * d.c_out * d.c_in * d.kvol * sizeof(float);
    conv_pass p = nncl_conv_pass(node, dir, &(conv_buffers){0});
    cl_int left, right;
    row_ends(&nncl_conv_attrs(node)->win, &p, &left, &right);
    return left || right ? padded_rows(&p) * (size_t)(left + p.from[2] + right) * sizeof(float) : 0;
}

static nncl_status launch(nncl_graph *g, const nncl_window *win, cl_mem w, const conv_pass *p) {
    size_t vec = row_vector(g), channel_groups = (p->c_out + 7) / 8;
    bool pair = (size_t)p->to[2] <= vec; /* rows of one vector, two to a work-item */
    size_t blocks = pair ? 1 : ((size_t)p->to[2] + 2 * vec - 1) / (2 * vec);
    size_t rows = pair ? ((size_t)p->to[1] + 1) / 2 : (size_t)p->to[1];
    size_t items = p->batch * (size_t)p->to[0] * rows * blocks * channel_groups;
    cl_int n = (cl_int)items, ci = (cl_int)p->c_in, co = (cl_int)p->c_out, acc = p->accumulate,
           turn = p->turn, left, right;
    cl_int4 in = nncl_int4(p->from), out = nncl_int4(p->to), k = nncl_int4(win->kernel),
            stride = nncl_int4(win->stride), dil = nncl_int4(win->dilation), pad = p->pad;
    cl_mem src = p->src;
    row_ends(win, p, &left, &right);
    if (left || right) {
        cl_int n_rows = (cl_int)padded_rows(p), len = in.s[2];
        nncl_status st =
            nncl_launch(g->ctx, "pad_row_ends", (size_t)n_rows,
                        NNCL_ARGS(NNCL_ARG(src), NNCL_ARG(g->workspace), NNCL_ARG(n_rows),
                                  NNCL_ARG(len), NNCL_ARG(left), NNCL_ARG(right)));
        if (st != NNCL_OK) return st;
        src = g->workspace;
        in.s[2] += left + right;
        pad.s[2] -= left;
    }
    return nncl_launch(g->ctx, "conv_rows_forward", items,
                       NNCL_ARGS(NNCL_ARG(src), NNCL_ARG(w), NNCL_ARG(p->dst), NNCL_ARG(n),
                                 NNCL_ARG(ci), NNCL_ARG(co), NNCL_ARG(in), NNCL_ARG(out),
                                 NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil),
                                 NNCL_ARG(acc), NNCL_ARG(turn)));
}

/* dW += the chunks' partial sums of dY x shifted x (conv_rows_weights). */
static nncl_status weight_gradient(nncl_graph *g, const nncl_node *node, const conv_buffers *b) {
    conv_dims d = nncl_conv_dims(node);
    const nncl_window *win = &nncl_conv_attrs(node)->win;
    size_t chunks = weight_chunks(node), items = chunks * weight_items(node);
    cl_int n = (cl_int)items, chunk = (cl_int)((d.batch + chunks - 1) / chunks),
           batch = (cl_int)d.batch, c_in = (cl_int)d.c_in, c_out = (cl_int)d.c_out,
           parts = (cl_int)chunks, weights = (cl_int)(d.c_out * d.c_in * d.kvol);
    cl_int4 in = nncl_int4(win->in), out = nncl_int4(win->out), k = nncl_int4(win->kernel),
            stride = nncl_int4(win->stride), pad = nncl_int4(win->pad_begin),
            dil = nncl_int4(win->dilation);
    nncl_status st = nncl_launch(
        g->ctx, "conv_rows_weights", items,
        NNCL_ARGS(NNCL_ARG(b->x), NNCL_ARG(b->y), NNCL_ARG(g->workspace), NNCL_ARG(n),
                  NNCL_ARG(chunk), NNCL_ARG(batch), NNCL_ARG(c_in), NNCL_ARG(c_out), NNCL_ARG(in),
                  NNCL_ARG(out), NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil)));
    return st != NNCL_OK ? st
                         : nncl_launch(g->ctx, "column_sum", (size_t)weights,
                                       NNCL_ARGS(NNCL_ARG(g->workspace), NNCL_ARG(b->w),
                                                 NNCL_ARG(parts), NNCL_ARG(weights)));
}

static nncl_status run(nncl_graph *g, const nncl_node *node, conv_direction dir,
                       const conv_buffers *b) {
    if (dir == CONV_BACKWARD_WEIGHTS) return weight_gradient(g, node, b);
    conv_pass p = nncl_conv_pass(node, dir, b);
    return launch(g, &nncl_conv_attrs(node)->win, b->w, &p);
}

const conv_algorithm nncl_conv_rows = {"rows", applies, workspace, run};
