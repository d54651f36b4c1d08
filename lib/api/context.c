/* Creating and destroying the context: one device, its OpenCL context and
 * in-order queue, the kernel cache directory, the work-group sizes the ops
 * launch with, the GEMM path and the kernels' build options. The one file
 * that sets up every layer's part of the context. */
#include "../ops/conv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

nncl_status nncl_cache_dir(const nncl_context_options *options, char *buf, size_t size) {
    if (!buf || !size) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_cache_dir: no buffer");
    const char *dir = options && options->cache_dir ? options->cache_dir : getenv("NNCL_CACHE_DIR");
    int n;
    if (dir && *dir) {
        n = snprintf(buf, size, "%s", dir);
    } else if (getenv("XDG_CACHE_HOME") && *getenv("XDG_CACHE_HOME")) {
        n = snprintf(buf, size, "%s/nncl", getenv("XDG_CACHE_HOME"));
    } else if (getenv("HOME") && *getenv("HOME")) {
        n = snprintf(buf, size, "%s/.cache/nncl", getenv("HOME"));
    } else {
        snprintf(buf, size, "off");
        return NNCL_OK;
    }
    if (n < 0 || (size_t)n >= size)
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_cache_dir: buffer of %zu too small",
                         size);
    return NNCL_OK;
}

/* mkdir -p, then a writable directory at path; false (errno set) when not. */
static bool make_dirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        bool ok = mkdir(path, 0755) == 0 || errno == EEXIST;
        *p = '/';
        if (!ok) return false;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return false;
    struct stat sb;
    if (stat(path, &sb) != 0) return false;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return access(path, W_OK | X_OK) == 0;
}

/* An environment switch: set to anything but "", "0", "off" or "false". */
static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") && strcmp(v, "off") && strcmp(v, "false");
}

/* The work-group size of the element-wise kernels: asked for (option, then
 * NNCL_WORK_GROUP_SIZE), else 256 on GPUs (several warps or wavefronts
 * per group, to hide memory latency) and 64 elsewhere (PoCL runs a group's
 * items as one loop on one core), within the device's limit. */
static nncl_status pick_local_size(nncl_context *ctx, const nncl_context_options *options) {
    long asked = options && options->work_group_size ? options->work_group_size : 0;
    const char *env = getenv("NNCL_WORK_GROUP_SIZE");
    if (!asked && env && *env) asked = strtol(env, NULL, 10);
    if (asked) {
        if (asked < 1 || asked > 1024 || (asked & (asked - 1)) ||
            (uint64_t)asked > ctx->info.max_work_group_size)
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_context_create: work-group size %ld%s: use a power of two up to "
                             "%llu (the device's limit)",
                             asked,
                             options && options->work_group_size ? "" : " (NNCL_WORK_GROUP_SIZE)",
                             (unsigned long long)(ctx->info.max_work_group_size < 1024
                                                      ? ctx->info.max_work_group_size
                                                      : 1024));
        ctx->local_size = (size_t)asked;
        return NNCL_OK;
    }
    size_t local = ctx->info.type == NNCL_DEVICE_GPU ? 256 : 64;
    while (local > 1 && local > ctx->info.max_work_group_size)
        local /= 2;
    ctx->local_size = local;
    return NNCL_OK;
}

/* The vector width asked for (option, then NNCL_VECTOR_WIDTH), else the
 * device's native one rounded down to a width the kernels have. */
static nncl_status pick_vector_width(nncl_context *ctx, const nncl_context_options *options) {
    long asked = options && options->vector_width ? options->vector_width : 0;
    const char *env = getenv("NNCL_VECTOR_WIDTH");
    if (!asked && env && *env) asked = strtol(env, NULL, 10);
    if (asked) {
        if (asked != 1 && asked != 4 && asked != 8 && asked != 16)
            return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                             "nncl_context_create: vector width %ld%s: use 1, 4, 8 or 16", asked,
                             options && options->vector_width ? "" : " (NNCL_VECTOR_WIDTH)");
        ctx->vector_width = (unsigned)asked;
        return NNCL_OK;
    }
    unsigned w = ctx->info.float_vector_width;
    ctx->vector_width = w >= 16 ? 16 : w >= 8 ? 8 : w >= 4 ? 4 : 1;
    return NNCL_OK;
}

/* Reductions keep two floats per work-item in local memory. */
static size_t pick_reduce_size(const nncl_device_info *info) {
    size_t local = 128;
    while (local > 1 &&
           (local > info->max_work_group_size || local * sizeof(float) * 2 > info->local_mem_bytes))
        local /= 2;
    return local;
}

/* Work-group sizes and vector widths the kernels are compiled for, and the
 * op kinds as constants the kernels switch on. */
static nncl_status build_options(nncl_context *ctx) {
    int n = snprintf(ctx->build_options, sizeof ctx->build_options,
                     "-cl-std=CL1.2 -DNNCL_REDUCE_WG=%zu -DNNCL_VEC=%u -DNNCL_GEMM_VEC=%u "
                     "-DNNCL_GEMM_ROWS=%u",
                     ctx->reduce_size, nncl_stream_width(ctx), ctx->gemm->vec, ctx->gemm->rows);
    if (n < 0 || (size_t)n >= sizeof ctx->build_options ||
        !nncl_ops_kernel_defines(ctx->build_options + n, sizeof ctx->build_options - (size_t)n))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_context_create: the kernels' build options exceed %zu bytes",
                         sizeof ctx->build_options);
    ctx->kernels_fingerprint = nncl_kernels_fingerprint(ctx->build_options);
    return NNCL_OK;
}

nncl_status nncl_context_create(const nncl_context_options *options, nncl_context **out) {
    if (!out) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_context_create: out is NULL");
    *out = NULL;
    int conv_algorithm;
    const char *algo =
        options && options->conv_algorithm ? options->conv_algorithm : getenv("NNCL_CONV_ALGO");
    if (nncl_conv_algorithm_parse(algo, &conv_algorithm) != NNCL_OK)
        return NNCL_ERROR_INVALID_ARGUMENT;
    nncl_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_context_create: out of memory");
    ctx->conv_algorithm = conv_algorithm;
    const char *spec = options && options->device ? options->device : getenv("NNCL_DEVICE");
    nncl_status st = nncl_device_select(spec, &ctx->platform, &ctx->device, &ctx->info);
    if (st != NNCL_OK) {
        free(ctx);
        return st;
    }
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->cl = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (!ctx->cl) {
        free(ctx);
        return nncl_fail_cl(err, "clCreateContext");
    }
    ctx->profile = options && options->profile;
    ctx->check_numerics = (options && options->check_numerics) || env_flag("NNCL_CHECK_NUMERICS");
    ctx->deterministic = (options && options->deterministic) || env_flag("NNCL_DETERMINISTIC");
    ctx->queue = clCreateCommandQueue(ctx->cl, ctx->device,
                                      ctx->profile ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (!ctx->queue) {
        clReleaseContext(ctx->cl);
        free(ctx);
        return nncl_fail_cl(err, "clCreateCommandQueue");
    }
    cl_uint align_bits = 0;
    clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits,
                    NULL);
    ctx->base_align = align_bits >= 8 ? align_bits / 8 : 0;
    ctx->reduce_size = pick_reduce_size(&ctx->info);
    if ((st = pick_local_size(ctx, options)) != NNCL_OK ||
        (st = pick_vector_width(ctx, options)) != NNCL_OK) {
        nncl_context_destroy(ctx);
        return st;
    }
    const char *gemm = options && options->gemm ? options->gemm : getenv("NNCL_GEMM");
    if ((st = nncl_gemm_open(ctx, gemm)) != NNCL_OK || (st = build_options(ctx)) != NNCL_OK) {
        nncl_context_destroy(ctx);
        return st;
    }
    char dir[sizeof ctx->cache_dir];
    st = nncl_cache_dir(options, dir, sizeof dir);
    if (st != NNCL_OK) {
        nncl_context_destroy(ctx);
        return st;
    }
    /* A cache directory the caller named must work; the default one is
     * off when it cannot be made (a read-only home, say). */
    bool named = (options && options->cache_dir && *options->cache_dir) ||
                 (getenv("NNCL_CACHE_DIR") && *getenv("NNCL_CACHE_DIR"));
    if (strcmp(dir, "off") != 0) {
        if (make_dirs(dir)) {
            memcpy(ctx->cache_dir, dir, sizeof dir);
        } else if (named) {
            int err = errno;
            nncl_context_destroy(ctx);
            return nncl_fail(NNCL_ERROR_IO,
                             "nncl_context_create: the kernel cache directory %s cannot be used: "
                             "%s (set NNCL_CACHE_DIR=off to run without a cache)",
                             dir, strerror(err));
        }
    }
    nncl_gemm_configure(ctx); /* reads tuning stored in the cache */
    *out = ctx;
    return NNCL_OK;
}

void nncl_context_destroy(nncl_context *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    nncl_dependents_orphan_all(&ctx->graphs); /* graphs still alive let go of the device */
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    nncl_buffer_release(ctx, ctx->partials);
    nncl_gemm_close(ctx);
    nncl_profile_release(ctx);
    nncl_program_release(ctx);
    if (ctx->cl) clReleaseContext(ctx->cl);
    free(ctx);
}

const nncl_device_info *nncl_context_device(const nncl_context *ctx) {
    return ctx ? &ctx->info : NULL;
}

const char *nncl_context_cache_dir(const nncl_context *ctx) {
    return ctx && ctx->cache_dir[0] ? ctx->cache_dir : "off";
}

nncl_status nncl_context_warm_up(nncl_context *ctx) {
    if (!ctx) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_context_warm_up: ctx is NULL");
    return nncl_program_build(ctx);
}
