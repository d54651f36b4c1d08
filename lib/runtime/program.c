/* The kernel program: the cl/ sources embedded at build time, built as one
 * program per context on first use, its binary cached on disk under a key of
 * device, driver, build options and sources, so that a second process skips
 * the compiler. A cache entry that is corrupt or rejected is rebuilt. */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAGIC "NNCLBIN2"

typedef struct kernel_entry {
    char *name;
    cl_kernel kernel;
} kernel_entry;

/* The context's one program: every embedded source built together, since a
 * compiler invocation has a fixed cost (about 0.15 s on PoCL) that eleven
 * separate programs paid eleven times. */
struct nncl_program {
    cl_program program;
    kernel_entry *kernels;
    size_t n_kernels;
};

/* FNV-1a, 64 bit: a fingerprint for cache keys and a checksum for entries. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t hash_str(uint64_t h, const char *s) {
    return fnv1a(h, s, strlen(s) + 1);
}

uint64_t nncl_kernels_fingerprint(const char *build_options) {
    uint64_t h = hash_str(0xcbf29ce484222325ULL, build_options);
    for (cl_uint f = 0; f < nncl_kernel_source_count; f++)
        h = fnv1a(h, nncl_kernel_texts[f], nncl_kernel_lengths[f]);
    return h;
}

static void cache_path(const nncl_context *ctx, char *buf, size_t size) {
    uint64_t key[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    for (int i = 0; i < 2; i++) {
        key[i] = hash_str(key[i], ctx->info.platform_name);
        key[i] = hash_str(key[i], ctx->info.platform_version);
        key[i] = hash_str(key[i], ctx->info.name);
        key[i] = hash_str(key[i], ctx->info.driver_version);
        key[i] = fnv1a(key[i], &ctx->kernels_fingerprint, sizeof ctx->kernels_fingerprint);
    }
    snprintf(buf, size, "%s/kernels-%016llx%016llx.bin", ctx->cache_dir, (unsigned long long)key[0],
             (unsigned long long)key[1]);
}

/* Reads a cache entry: magic, length, checksum, binary. NULL if absent or bad. */
static unsigned char *cache_read(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char magic[8];
    uint64_t len = 0, sum = 0;
    unsigned char *bin = NULL;
    if (fread(magic, 1, 8, f) == 8 && !memcmp(magic, CACHE_MAGIC, 8) &&
        fread(&len, sizeof len, 1, f) == 1 && fread(&sum, sizeof sum, 1, f) == 1 && len > 0 &&
        len < (1ULL << 31) && (bin = malloc(len))) {
        if (fread(bin, 1, len, f) != len || fnv1a(0xcbf29ce484222325ULL, bin, len) != sum) {
            free(bin);
            bin = NULL;
        }
    }
    fclose(f);
    *size = len;
    return bin;
}

/* Writes an entry under a temporary name and renames it into place, so a
 * reader never sees half an entry. Failures only cost the next process. */
static void cache_write(const char *path, const unsigned char *bin, size_t size) {
    char tmp[1280];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    uint64_t len = size, sum = fnv1a(0xcbf29ce484222325ULL, bin, size);
    bool ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&len, sizeof len, 1, f) == 1 &&
              fwrite(&sum, sizeof sum, 1, f) == 1 && fwrite(bin, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
}

static cl_program from_cache(nncl_context *ctx, const char *path) {
    size_t size = 0;
    unsigned char *bin = cache_read(path, &size);
    if (!bin) return NULL;
    cl_int err, bin_status;
    const unsigned char *bins[1] = {bin};
    cl_program p =
        clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &size, bins, &bin_status, &err);
    free(bin);
    if (p && (err != CL_SUCCESS || bin_status != CL_SUCCESS ||
              clBuildProgram(p, 1, &ctx->device, ctx->build_options, NULL, NULL) != CL_SUCCESS)) {
        clReleaseProgram(p);
        p = NULL;
    }
    return p;
}

static void to_cache(cl_program p, const char *path) {
    size_t size = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        !size)
        return;
    unsigned char *bin = malloc(size);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
        cache_write(path, bin, size);
    free(bin);
}

static nncl_status build_failure(nncl_context *ctx, cl_program p, cl_int err) {
    size_t size = 0;
    clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size);
    char *log = malloc(size + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, size, log, NULL);
        log[size] = '\0';
    }
    nncl_status st =
        nncl_fail(NNCL_ERROR_BUILD, "building the kernels for %s failed: %s (%d)\n%s",
                  ctx->info.name, nncl_cl_error_name(err), (int)err, log ? log : "(no build log)");
    free(log);
    return st;
}

/* PoCL keeps its own cache of compiled kernels (unless POCL_KERNEL_CACHE=0),
 * and asking it for a program binary makes it generate code for every kernel
 * up front, seconds that were most of a cold first step. There the driver's
 * cache does the job and ours stays out of the way. */
static bool driver_caches_builds(const nncl_context *ctx) {
    const char *pocl_cache = getenv("POCL_KERNEL_CACHE");
    return strstr(ctx->info.platform_name, "Portable Computing Language") &&
           !(pocl_cache && !strcmp(pocl_cache, "0"));
}

static nncl_status build_program(nncl_context *ctx, cl_program *out) {
    char path[1200];
    bool own_cache = ctx->cache_dir[0] && !driver_caches_builds(ctx);
    if (own_cache) {
        cache_path(ctx, path, sizeof path);
        if ((*out = from_cache(ctx, path))) return NNCL_OK;
    }
    cl_int err;
    cl_program p =
        clCreateProgramWithSource(ctx->cl, nncl_kernel_source_count,
                                  (const char **)nncl_kernel_texts, nncl_kernel_lengths, &err);
    if (!p) return nncl_fail_cl(err, "clCreateProgramWithSource");
    err = clBuildProgram(p, 1, &ctx->device, ctx->build_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        nncl_status st = build_failure(ctx, p, err);
        clReleaseProgram(p);
        return st;
    }
    if (own_cache) to_cache(p, path);
    *out = p;
    return NNCL_OK;
}

/* Builds the context's program unless it exists. */
static nncl_status ensure_program(nncl_context *ctx) {
    if (ctx->program) return NNCL_OK;
    nncl_program *prog = calloc(1, sizeof *prog);
    if (!prog) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "out of host memory");
    nncl_status st = build_program(ctx, &prog->program);
    if (st != NNCL_OK) {
        free(prog);
        return st;
    }
    ctx->program = prog;
    return NNCL_OK;
}

nncl_status nncl_kernel_get(nncl_context *ctx, const char *name, cl_kernel *out) {
    nncl_status st = ensure_program(ctx);
    if (st != NNCL_OK) return st;
    nncl_program *e = ctx->program;
    for (size_t i = 0; i < e->n_kernels; i++)
        if (!strcmp(e->kernels[i].name, name)) {
            *out = e->kernels[i].kernel;
            return NNCL_OK;
        }
    kernel_entry *grown = realloc(e->kernels, (e->n_kernels + 1) * sizeof *grown);
    if (!grown) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "out of host memory");
    e->kernels = grown;
    cl_int err;
    cl_kernel k = clCreateKernel(e->program, name, &err);
    if (!k) {
        char what[256];
        snprintf(what, sizeof what, "clCreateKernel %s", name);
        return nncl_fail_cl(err, what);
    }
    char *copy = malloc(strlen(name) + 1);
    if (!copy) {
        clReleaseKernel(k);
        return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "out of host memory");
    }
    e->kernels[e->n_kernels].name = strcpy(copy, name);
    e->kernels[e->n_kernels].kernel = k;
    e->n_kernels++;
    *out = k;
    return NNCL_OK;
}

nncl_status nncl_program_build(nncl_context *ctx) {
    return ensure_program(ctx);
}

void nncl_program_release(nncl_context *ctx) {
    nncl_program *e = ctx->program;
    if (!e) return;
    for (size_t k = 0; k < e->n_kernels; k++) {
        clReleaseKernel(e->kernels[k].kernel);
        free(e->kernels[k].name);
    }
    free(e->kernels);
    clReleaseProgram(e->program);
    free(e);
    ctx->program = NULL;
}
