/* Device memory: creating zero-filled buffers (counted, for the current
 * and peak figures) and copying between host and device. Reads block (they are the only host
 * synchronisation points); writes and fills are queued in order with the kernels around them. */
#include "runtime.h"

#include <stdio.h>

nncl_status nncl_buffer_create(nncl_context *ctx, size_t bytes, cl_mem *out) {
    if (bytes < sizeof(float)) bytes = sizeof(float);
    if (bytes > ctx->info.max_alloc_bytes)
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY,
                         "a buffer of %zu bytes exceeds the device's largest allocation (%llu)",
                         bytes, (unsigned long long)ctx->info.max_alloc_bytes);
    cl_int err;
    cl_mem mem = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!mem) {
        char what[96];
        snprintf(what, sizeof what, "allocating %zu bytes on the device", bytes);
        return nncl_fail_cl(err, what);
    }
    nncl_status st = nncl_buffer_fill(ctx, mem, 0.0f, bytes / sizeof(float));
    if (st != NNCL_OK) {
        clReleaseMemObject(mem);
        return st;
    }
    *out = mem;
    ctx->mem_current += bytes;
    if (ctx->mem_current > ctx->mem_peak) ctx->mem_peak = ctx->mem_current;
    return NNCL_OK;
}

void nncl_buffer_release(nncl_context *ctx, cl_mem mem) {
    if (!mem) return;
    size_t bytes = 0;
    cl_mem parent = NULL; /* a sub-buffer's memory is counted with its parent */
    clGetMemObjectInfo(mem, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, NULL);
    if (!parent) clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    ctx->mem_current -= bytes < ctx->mem_current ? bytes : ctx->mem_current;
    ctx->buffers_released++;
    clReleaseMemObject(mem);
}

void nncl_context_memory(const nncl_context *ctx, uint64_t *current, uint64_t *peak) {
    if (current) *current = ctx ? ctx->mem_current : 0;
    if (peak) *peak = ctx ? ctx->mem_peak : 0;
}

nncl_status nncl_buffer_write(nncl_context *ctx, cl_mem mem, size_t offset, const void *src,
                              size_t bytes) {
    /* Blocking, so the caller's buffer may be reused at once. */
    cl_int err = clEnqueueWriteBuffer(ctx->queue, mem, CL_TRUE, offset, bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? NNCL_OK : nncl_fail_cl(err, "clEnqueueWriteBuffer");
}

nncl_status nncl_buffer_read(nncl_context *ctx, cl_mem mem, size_t offset, void *dst,
                             size_t bytes) {
    cl_int err = clEnqueueReadBuffer(ctx->queue, mem, CL_TRUE, offset, bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? NNCL_OK : nncl_fail_cl(err, "clEnqueueReadBuffer");
}

nncl_status nncl_buffer_read_async(nncl_context *ctx, cl_mem mem, size_t offset, void *dst,
                                   size_t bytes, cl_event *done) {
    cl_int err = clEnqueueReadBuffer(ctx->queue, mem, CL_FALSE, offset, bytes, dst, 0, NULL, done);
    return err == CL_SUCCESS ? NNCL_OK : nncl_fail_cl(err, "clEnqueueReadBuffer");
}

nncl_status nncl_buffer_write_async(nncl_context *ctx, cl_mem mem, size_t offset, const void *src,
                                    size_t bytes, cl_event *done) {
    cl_int err = clEnqueueWriteBuffer(ctx->queue, mem, CL_FALSE, offset, bytes, src, 0, NULL, done);
    return err == CL_SUCCESS ? NNCL_OK : nncl_fail_cl(err, "clEnqueueWriteBuffer");
}

nncl_status nncl_buffer_fill(nncl_context *ctx, cl_mem mem, float value, size_t count) {
    if (!count) return NNCL_OK;
    size_t width = nncl_stream_width(ctx);
    cl_long n = (cl_long)count;
    return nncl_launch(ctx, "fill_span", (count + width - 1) / width,
                       NNCL_ARGS(NNCL_ARG(mem), NNCL_ARG(value), NNCL_ARG(n)));
}

nncl_status nncl_sub_buffer(cl_mem parent, size_t first, size_t count, cl_mem *out) {
    cl_buffer_region region = {first * sizeof(float), count * sizeof(float)};
    cl_int err;
    *out =
        clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    return *out ? NNCL_OK : nncl_fail_cl(err, "clCreateSubBuffer");
}
