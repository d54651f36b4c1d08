/* Direct convolution: one kernel per direction computing each result on
 * its own, with no scratch memory and no GEMM. It serves any layer and is
 * the quick one for depthwise and other small, heavily grouped layers,
 * where GEMMs are too small to be efficient. */
#include "conv.h"

static nncl_status run(nncl_graph *g, const nncl_node *node, conv_direction dir,
                       const conv_buffers *b) {
    conv_dims d = nncl_conv_dims(node);
    const nncl_window *win = &nncl_conv_attrs(node)->win;
    cl_int c_out = (cl_int)d.c_out, groups = (cl_int)d.groups, cg_in = (cl_int)d.cg_in;
    cl_int batch = (cl_int)d.batch, acc = b->accumulate;
    cl_int4 in = nncl_int4(win->in), out = nncl_int4(win->out), k = nncl_int4(win->kernel),
            stride = nncl_int4(win->stride), pad = nncl_int4(win->pad_begin),
            dil = nncl_int4(win->dilation);
    if (dir == CONV_FORWARD) {
        cl_int total = (cl_int)(d.batch * d.c_out * d.spatial_out);
        return nncl_launch(g->ctx, "direct_forward", (size_t)total,
                           NNCL_ARGS(NNCL_ARG(b->x), NNCL_ARG(b->w), NNCL_ARG(b->y),
                                     NNCL_ARG(total), NNCL_ARG(c_out), NNCL_ARG(groups),
                                     NNCL_ARG(cg_in), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k),
                                     NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil)));
    }
    if (dir == CONV_BACKWARD_DATA) {
        cl_int total = (cl_int)(d.batch * d.c_in * d.spatial_in);
        return nncl_launch(g->ctx, "direct_backward_data", (size_t)total,
                           NNCL_ARGS(NNCL_ARG(b->y), NNCL_ARG(b->w), NNCL_ARG(b->x),
                                     NNCL_ARG(total), NNCL_ARG(c_out), NNCL_ARG(groups),
                                     NNCL_ARG(cg_in), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k),
                                     NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil),
                                     NNCL_ARG(acc)));
    }
    cl_int total = (cl_int)(d.c_out * d.kg);
    return nncl_launch(g->ctx, "direct_backward_weights", (size_t)total,
                       NNCL_ARGS(NNCL_ARG(b->x), NNCL_ARG(b->y), NNCL_ARG(b->w), NNCL_ARG(total),
                                 NNCL_ARG(batch), NNCL_ARG(c_out), NNCL_ARG(groups),
                                 NNCL_ARG(cg_in), NNCL_ARG(in), NNCL_ARG(out), NNCL_ARG(k),
                                 NNCL_ARG(stride), NNCL_ARG(pad), NNCL_ARG(dil)));
}

const conv_algorithm nncl_conv_direct = {"direct", nncl_conv_any_layer, nncl_conv_no_workspace,
                                         run};
