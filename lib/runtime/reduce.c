/* Whole-tensor sums on the device in two fixed-order passes (per-group
 * trees, then one item over the group results; one pass when a single
 * group covers the tensor, a batch's losses): loss reductions and gradient
 * norms, the same on every run. */
#include "runtime.h"

#define MAX_GROUPS 64

nncl_status nncl_sum(nncl_context *ctx, cl_mem x, size_t n, bool square, float scale, cl_mem out,
                     size_t out_index) {
    if (!ctx->partials) {
        nncl_status st = nncl_buffer_create(ctx, MAX_GROUPS * sizeof(float), &ctx->partials);
        if (st != NNCL_OK) return st;
    }
    size_t groups = (n + ctx->reduce_size - 1) / ctx->reduce_size;
    if (groups > MAX_GROUPS) groups = MAX_GROUPS;
    if (!groups) groups = 1;
    cl_int count = (cl_int)n, sq = square, n_groups = (cl_int)groups, at = (cl_int)out_index;
    cl_float s = scale;
    nncl_status st = nncl_launch_groups(ctx, "partial_sums", groups, ctx->reduce_size,
                                        NNCL_ARGS(NNCL_ARG(x), NNCL_ARG(count), NNCL_ARG(sq),
                                                  NNCL_ARG(ctx->partials), NNCL_ARG(s),
                                                  NNCL_ARG(out), NNCL_ARG(at)));
    if (st != NNCL_OK || groups == 1) return st;
    return nncl_launch(ctx, "finish_sum", 1,
                       NNCL_ARGS(NNCL_ARG(ctx->partials), NNCL_ARG(n_groups), NNCL_ARG(s),
                                 NNCL_ARG(out), NNCL_ARG(at)));
}
