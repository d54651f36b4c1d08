/* Enqueueing a kernel: look it up, set its arguments, and launch it on the
 * context's in-order queue with a fixed work-group size (PoCL compiles a
 * kernel once per distinct local size, so few sizes means fast startup). */
#include "nncl_internal.h"

#include <stdio.h>

static nncl_status enqueue(nncl_context *ctx, const char *file, const char *name, size_t global,
                           size_t local, const nncl_arg *args, size_t n_args) {
    cl_kernel k;
    nncl_status st = nncl_kernel_get(ctx, file, name, &k);
    if (st != NNCL_OK) return st;
    char what[160];
    for (size_t i = 0; i < n_args; i++) {
        cl_int err = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            snprintf(what, sizeof what, "setting argument %zu of kernel %s", i, name);
            return nncl_fail_cl(err, what);
        }
    }
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, &local, 0, NULL,
                                        nncl_profile_event(ctx, false));
    if (err != CL_SUCCESS) {
        snprintf(what, sizeof what, "launching kernel %s (%zu items)", name, global);
        return nncl_fail_cl(err, what);
    }
    return NNCL_OK;
}

nncl_status nncl_launch(nncl_context *ctx, const char *file, const char *kernel, size_t items,
                        const nncl_arg *args, size_t n_args) {
    if (!items) return NNCL_OK;
    size_t local = ctx->local_size;
    size_t global = (items + local - 1) / local * local;
    return enqueue(ctx, file, kernel, global, local, args, n_args);
}

nncl_status nncl_launch_groups(nncl_context *ctx, const char *file, const char *kernel,
                               size_t groups, size_t local, const nncl_arg *args, size_t n_args) {
    if (!groups) return NNCL_OK;
    return enqueue(ctx, file, kernel, groups * local, local, args, n_args);
}
