/* 1x1 convolution with stride 1 and no padding is a matrix product per
 * image: Y_n = W X_n on NCHW memory as it lies, with no im2col, no
 * permutation and, for the input gradient, no col2im (GEMM's beta adds). */
#include "conv.h"

static bool applies(const nncl_node *node, conv_direction dir) {
    (void)dir;
    const nncl_window *w = &nncl_conv_attrs(node)->win;
    for (int i = 0; i < 3; i++)
        if (w->kernel[i] != 1 || w->stride[i] != 1 || w->pad_begin[i] || w->pad_end[i])
            return false;
    return true;
}

static nncl_status run(nncl_graph *g, const nncl_node *node, conv_direction dir,
                       const conv_buffers *b) {
    conv_dims d = nncl_conv_dims(node);
    size_t len = d.spatial_out;
    nncl_status st = NNCL_OK;
    for (size_t n = 0; n < d.batch && st == NNCL_OK; n++)
        for (size_t gr = 0; gr < d.groups && st == NNCL_OK; gr++) {
            size_t x_off = (n * d.c_in + gr * d.cg_in) * len,
                   y_off = (n * d.c_out + gr * d.cg_out) * len, w_off = gr * d.cg_out * d.cg_in;
            if (dir == CONV_FORWARD)
                st = nncl_gemm(g->ctx, false, false, d.cg_out, len, d.cg_in, 1.0f, b->w, w_off,
                               d.cg_in, b->x, x_off, len, 0.0f, b->y, y_off, len);
            else if (dir == CONV_BACKWARD_DATA)
                st = nncl_gemm(g->ctx, true, false, d.cg_in, len, d.cg_out, 1.0f, b->w, w_off,
                               d.cg_in, b->y, y_off, len, b->accumulate ? 1.0f : 0.0f, b->x, x_off,
                               len);
            else
                st = nncl_gemm(g->ctx, false, true, d.cg_out, d.cg_in, len, 1.0f, b->y, y_off, len,
                               b->x, x_off, len, 1.0f, b->w, w_off, d.cg_in);
        }
    return st;
}

const conv_algorithm nncl_conv_gemm1x1 = {"gemm1x1", applies, nncl_conv_no_workspace, run};
