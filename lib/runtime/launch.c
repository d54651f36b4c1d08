/* Enqueueing a kernel on the context's in-order queue with a fixed
 * work-group size (PoCL compiles a kernel once per distinct local size, so
 * few sizes means fast startup). Inside a graph's plan every launch site owns
 * its kernel object, whose arguments are set when first launched and later
 * only where they changed (a step counter, a learning rate). */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nncl_status set_arg(cl_kernel k, size_t i, const nncl_arg *arg, const char *name) {
    cl_int err = clSetKernelArg(k, (cl_uint)i, arg->size, arg->value);
    if (err == CL_SUCCESS) return NNCL_OK;
    char what[160];
    snprintf(what, sizeof what, "setting argument %zu of kernel %s", i, name);
    return nncl_fail_cl(err, what);
}

static size_t args_bytes(const nncl_arg *args, size_t n_args) {
    size_t bytes = 0;
    for (size_t i = 0; i < n_args; i++)
        bytes += args[i].size;
    return bytes;
}

/* The site's record for this launch, made (or remade, when the site now
 * launches another kernel) with its own kernel object and no arguments. */
static nncl_status site_record(nncl_context *ctx, cl_kernel shared, const char *name, size_t bytes,
                               nncl_launch_record **out) {
    nncl_launch_sites *site = ctx->site;
    if (ctx->site_pos == site->n) {
        if (site->n == site->cap) {
            size_t cap = site->cap ? 2 * site->cap : 8;
            nncl_launch_record *grown = realloc(site->records, cap * sizeof *grown);
            if (!grown) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "out of host memory");
            site->records = grown;
            site->cap = cap;
        }
        site->records[site->n++] = (nncl_launch_record){0};
    }
    nncl_launch_record *r = &site->records[ctx->site_pos++];
    *out = r;
    if (r->kernel && !strcmp(r->name, name) && r->bytes == bytes) return NNCL_OK;
    if (r->kernel) clReleaseKernel(r->kernel);
    free(r->values);
    *r = (nncl_launch_record){0};
    cl_program program;
    cl_int err = clGetKernelInfo(shared, CL_KERNEL_PROGRAM, sizeof program, &program, NULL);
    cl_kernel k = err == CL_SUCCESS ? clCreateKernel(program, name, &err) : NULL;
    if (!k) return nncl_fail_cl(err, "clCreateKernel for a launch site");
    r->values = malloc(bytes ? bytes : 1);
    if (!r->values) {
        clReleaseKernel(k);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "out of host memory");
    }
    r->kernel = k;
    r->name = name;
    r->bytes = bytes;
    r->complete = false;
    return NNCL_OK;
}

/* Sets the arguments of the site's kernel that differ from its last launch.
 * After any buffer was released all are set again: a new buffer can have a
 * released one's handle, equal bytes for another object (a driver may keep
 * the old object's address in the kernel). */
static nncl_status update_args(nncl_context *ctx, nncl_launch_record *r, const nncl_arg *args,
                               size_t n_args) {
    if (r->generation != ctx->buffers_released) r->complete = false;
    r->generation = ctx->buffers_released;
    size_t at = 0;
    for (size_t i = 0; i < n_args; at += args[i].size, i++) {
        if (r->complete && !memcmp(r->values + at, args[i].value, args[i].size)) continue;
        r->complete = false; /* until every argument is known to be set */
        nncl_status st = set_arg(r->kernel, i, &args[i], r->name);
        if (st != NNCL_OK) return st;
        memcpy(r->values + at, args[i].value, args[i].size);
    }
    r->complete = true;
    return NNCL_OK;
}

static nncl_status enqueue(nncl_context *ctx, const char *name, size_t global, size_t local,
                           const nncl_arg *args, size_t n_args) {
    cl_kernel k;
    nncl_status st = nncl_kernel_get(ctx, name, &k);
    if (st != NNCL_OK) return st;
    if (ctx->site) {
        nncl_launch_record *r = NULL;
        st = site_record(ctx, k, name, args_bytes(args, n_args), &r);
        if (st == NNCL_OK) st = update_args(ctx, r, args, n_args);
        if (st != NNCL_OK) return st;
        k = r->kernel;
    } else {
        for (size_t i = 0; i < n_args && st == NNCL_OK; i++)
            st = set_arg(k, i, &args[i], name);
        if (st != NNCL_OK) return st;
    }
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, &local, 0, NULL,
                                        nncl_profile_event(ctx));
    if (err != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "launching kernel %s (%zu items)", name, global);
        return nncl_fail_cl(err, what);
    }
    return NNCL_OK;
}

nncl_status nncl_launch(nncl_context *ctx, const char *kernel, size_t items, const nncl_arg *args,
                        size_t n_args) {
    if (!items) return NNCL_OK;
    size_t local = ctx->local_size;
    size_t global = (items + local - 1) / local * local;
    return enqueue(ctx, kernel, global, local, args, n_args);
}

nncl_status nncl_launch_groups(nncl_context *ctx, const char *kernel, size_t groups, size_t local,
                               const nncl_arg *args, size_t n_args) {
    if (!groups) return NNCL_OK;
    return enqueue(ctx, kernel, groups * local, local, args, n_args);
}

void nncl_launch_sites_enter(nncl_context *ctx, nncl_launch_sites *site, nncl_profile_kind kind) {
    ctx->phase = kind;
    ctx->site = site;
    ctx->site_pos = 0;
}

void nncl_launch_sites_leave(nncl_context *ctx) {
    ctx->site = NULL;
}

void nncl_launch_sites_release(nncl_launch_sites *site) {
    for (size_t i = 0; i < site->n; i++) {
        if (site->records[i].kernel) clReleaseKernel(site->records[i].kernel);
        free(site->records[i].values);
    }
    free(site->records);
    *site = (nncl_launch_sites){0};
}
