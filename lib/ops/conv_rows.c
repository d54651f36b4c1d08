/* Direct forward convolution with register tiles along output rows
 * (cl/conv_rows.cl): no unfolded copy of the input and no permutation of
 * the result, for layers with stride 1 along rows at least a device vector
 * long (1D signal and text convolutions above all, where unfolding costs
 * as much as the product). */
#include "conv.h"

/* The vectors of outputs along a row (two per work-item): the packed
 * GEMM's vector width. */
static size_t row_vector(const nncl_graph *g) {
    return nncl_gemm_panel_width(g->ctx) / 2;
}

static bool applies(const nncl_node *node, conv_direction dir) {
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    size_t vec = row_vector(node->graph);
    return dir == CONV_FORWARD && nncl_conv_attrs(node)->groups == 1 && w->stride[2] == 1 &&
           w->in[2] >= (int64_t)vec && w->out[2] >= (int64_t)vec;
}

static nncl_status run(nncl_graph *g, const nncl_node *node, conv_direction dir,
                       const conv_buffers *b) {
    (void)dir;
    conv_dims d = nncl_conv_dims(node);
    const nncl_window *win = &nncl_conv_attrs(node)->win;
    size_t vec = row_vector(g), channel_groups = (d.c_out + 7) / 8;
    size_t blocks = ((size_t)win->out[2] + 2 * vec - 1) / (2 * vec);
    size_t items = d.batch * (size_t)(win->out[0] * win->out[1]) * blocks * channel_groups;
    cl_int n = (cl_int)items, c_in = (cl_int)d.c_in, c_out = (cl_int)d.c_out;
    cl_int4 in = nncl_int4(win->in), out = nncl_int4(win->out), k = nncl_int4(win->kernel),
            stride = nncl_int4(win->stride), pad = nncl_int4(win->pad_begin),
            dil = nncl_int4(win->dilation);
    return nncl_launch(g->ctx, "conv_rows_forward", items,
                       NNCL_ARGS(NNCL_ARG(b->x), NNCL_ARG(b->w), NNCL_ARG(b->y), NNCL_ARG(n),
                                 NNCL_ARG(c_in), NNCL_ARG(c_out), NNCL_ARG(in), NNCL_ARG(out),
                                 NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil)));
}

const conv_algorithm nncl_conv_rows = {"rows", applies, nncl_conv_no_workspace, run};
