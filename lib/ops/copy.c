/* Block copies for the ops that move data without computing: see copy.h. */
#include "copy.h"

nncl_status nncl_copy_rows(nncl_graph *g, cl_mem src, size_t src_off, size_t src_stride, cl_mem dst,
                           size_t dst_off, size_t dst_stride, size_t rows, size_t cols,
                           bool accumulate) {
    if (rows == 1 || (src_stride == cols && dst_stride == cols)) {
        size_t n = rows * cols, width = nncl_stream_width(g->ctx);
        cl_int so = (cl_int)src_off, doff = (cl_int)dst_off, ni = (cl_int)n, acc = accumulate;
        return nncl_launch(g->ctx, "copy_span", (n + width - 1) / width,
                           NNCL_ARGS(NNCL_ARG(src), NNCL_ARG(so), NNCL_ARG(dst), NNCL_ARG(doff),
                                     NNCL_ARG(ni), NNCL_ARG(acc)));
    }
    cl_int so = (cl_int)src_off, ss = (cl_int)src_stride, doff = (cl_int)dst_off,
           ds = (cl_int)dst_stride, c = (cl_int)cols, total = (cl_int)(rows * cols),
           acc = accumulate;
    return nncl_launch(g->ctx, "copy_rows", rows * cols,
                       NNCL_ARGS(NNCL_ARG(src), NNCL_ARG(so), NNCL_ARG(ss), NNCL_ARG(dst),
                                 NNCL_ARG(doff), NNCL_ARG(ds), NNCL_ARG(c), NNCL_ARG(total),
                                 NNCL_ARG(acc)));
}
