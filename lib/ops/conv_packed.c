/* What the direct algorithms (rows, local) share: the input gradient of a
 * stride-1 layer as a forward convolution of dY with the kernels turned
 * and channels swapped, padded by dilation * (kernel - 1) - pad; and for
 * the local-memory kernel, weights packed 8 output channels to a tap
 * (pack_row_weights, cl/conv_local.cl). */
#include "conv.h"

conv_pass nncl_conv_pass(const nncl_node *node, conv_direction dir, const conv_buffers *b) {
    conv_dims d = nncl_conv_dims(node);
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    if (dir == CONV_FORWARD)
        return (conv_pass){b->x,    b->y,  d.batch, d.c_in,
                           d.c_out, w->in, w->out,  nncl_int4(w->pad_begin),
                           false,   false};
    cl_int4 pad = {{0}};
    for (int i = 0; i < 3; i++)
        pad.s[i] = (cl_int)(w->dilation[i] * (w->kernel[i] - 1) - w->pad_begin[i]);
    return (conv_pass){b->y,   b->x,  d.batch, d.c_out, d.c_in,
                       w->out, w->in, pad,     true,    b->accumulate};
}

size_t nncl_conv_packed_bytes(const nncl_node *node, conv_direction dir) {
    conv_dims d = nncl_conv_dims(node);
    bool turn = dir == CONV_BACKWARD_DATA;
    size_t outs = turn ? d.c_in : d.c_out, ins = turn ? d.c_out : d.c_in;
    return (outs + 7) / 8 * 8 * ins * d.kvol * sizeof(float);
}

nncl_status nncl_conv_pack_weights(nncl_graph *g, cl_mem w, const conv_pass *p, size_t taps) {
    cl_int ci = (cl_int)p->c_in, co = (cl_int)p->c_out, t = (cl_int)taps, turn = p->turn;
    return nncl_launch(g->ctx, "pack_row_weights", (p->c_out + 7) / 8 * 8 * p->c_in * taps,
                       NNCL_ARGS(NNCL_ARG(w), NNCL_ARG(g->workspace), NNCL_ARG(co), NNCL_ARG(ci),
                                 NNCL_ARG(t), NNCL_ARG(turn)));
}
