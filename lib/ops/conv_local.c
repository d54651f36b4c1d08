/* Direct convolution through local memory (cl/conv_local.cl), the shape
 * GPUs want: a work-group shares the input rows and weights of 16 output
 * channels x 16 outputs. Timed only on GPUs (on a CPU local memory is
 * ordinary memory and the rows algorithm is faster); NNCL_CONV_ALGO=local
 * forces it anywhere, which is how it is tested. Forward pass, and the
 * input gradient of stride-1 layers. */
#include "conv.h"

/* As cl/conv_local.cl's LOCAL_* sizes. */
#define LOCAL_OC 16
#define LOCAL_W 16
#define LOCAL_C 4
#define LOCAL_FLOATS 4096

static bool applies(const nncl_node *node, conv_direction dir) {
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    if (nncl_conv_attrs(node)->groups != 1 || dir == CONV_BACKWARD_WEIGHTS) return false;
    bool turn = dir == CONV_BACKWARD_DATA;
    if (turn && (w->stride[0] != 1 || w->stride[1] != 1 || w->stride[2] != 1)) return false;
    int64_t taps = nncl_window_volume(w->kernel), rows = w->kernel[0] * w->kernel[1];
    int64_t span =
        (LOCAL_W - 1) * (turn ? 1 : w->stride[2]) + (w->kernel[2] - 1) * w->dilation[2] + 1;
    return LOCAL_OC * LOCAL_C * taps <= LOCAL_FLOATS && LOCAL_C * rows * span <= LOCAL_FLOATS &&
           node->graph->ctx->info.max_work_group_size >= LOCAL_OC * LOCAL_W;
}

static size_t workspace(const nncl_node *node, conv_direction dir) {
    return nncl_conv_packed_bytes(node, dir);
}

static nncl_status run(nncl_graph *g, const nncl_node *node, conv_direction dir,
                       const conv_buffers *b) {
    const nncl_window *win = &nncl_conv_attrs(node)->win;
    conv_pass p = nncl_conv_pass(node, dir, b);
    nncl_status st = nncl_conv_pack_weights(g, b->w, &p, (size_t)nncl_window_volume(win->kernel));
    if (st != NNCL_OK) return st;
    size_t groups = p.batch * (size_t)(p.to[0] * p.to[1]) *
                    (((size_t)p.to[2] + LOCAL_W - 1) / LOCAL_W) *
                    ((p.c_out + LOCAL_OC - 1) / LOCAL_OC);
    cl_int ci = (cl_int)p.c_in, co = (cl_int)p.c_out, acc = p.accumulate;
    cl_int4 in = nncl_int4(p.from), out = nncl_int4(p.to), k = nncl_int4(win->kernel),
            stride = nncl_int4(win->stride), dil = nncl_int4(win->dilation);
    return nncl_launch_groups(g->ctx, "conv_local_forward", groups, LOCAL_OC * LOCAL_W,
                              NNCL_ARGS(NNCL_ARG(p.src), NNCL_ARG(g->workspace), NNCL_ARG(p.dst),
                                        NNCL_ARG(ci), NNCL_ARG(co), NNCL_ARG(in), NNCL_ARG(out),
                                        NNCL_ARG(k), NNCL_ARG(stride), NNCL_ARG(p.pad),
                                        NNCL_ARG(dil), NNCL_ARG(acc)));
}

const conv_algorithm nncl_conv_local = {"local", applies, workspace, run};
