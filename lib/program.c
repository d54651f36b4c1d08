/* Kernel programs: the cl/ sources embedded at build time, built once per
 * context on first use, and their binaries cached on disk under a key of
 * device, driver, build options and source, so that a second process skips
 * the compiler. A cache entry that is corrupt or rejected is rebuilt. */
#include "nncl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAGIC "NNCLBIN1"

typedef struct kernel_entry {
    char *name;
    cl_kernel kernel;
} kernel_entry;

struct nncl_program_entry {
    const nncl_kernel_source *source;
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

static void cache_path(const nncl_context *ctx, const nncl_kernel_source *src, char *buf,
                       size_t size) {
    uint64_t key[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    for (int i = 0; i < 2; i++) {
        key[i] = hash_str(key[i], ctx->info.platform_name);
        key[i] = hash_str(key[i], ctx->info.platform_version);
        key[i] = hash_str(key[i], ctx->info.name);
        key[i] = hash_str(key[i], ctx->info.driver_version);
        key[i] = hash_str(key[i], ctx->build_options);
        key[i] = fnv1a(key[i], src->text, src->length);
    }
    snprintf(buf, size, "%s/%s-%016llx%016llx.bin", ctx->cache_dir, src->name,
             (unsigned long long)key[0], (unsigned long long)key[1]);
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

static void to_cache(nncl_context *ctx, cl_program p, const char *path) {
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
    (void)ctx;
}

static nncl_status build_failure(nncl_context *ctx, cl_program p, const nncl_kernel_source *src,
                                 cl_int err) {
    size_t size = 0;
    clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size);
    char *log = malloc(size + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, size, log, NULL);
        log[size] = '\0';
    }
    nncl_status st =
        nncl_fail(NNCL_ERROR_BUILD, "building %s for %s failed: %s (%d)\n%s", src->name,
                  ctx->info.name, nncl_cl_error_name(err), (int)err, log ? log : "(no build log)");
    free(log);
    return st;
}

static nncl_status build_program(nncl_context *ctx, const nncl_kernel_source *src,
                                 cl_program *out) {
    char path[1200];
    if (ctx->cache_dir[0]) {
        cache_path(ctx, src, path, sizeof path);
        if ((*out = from_cache(ctx, path))) return NNCL_OK;
    }
    cl_int err;
    const char *text = src->text;
    cl_program p = clCreateProgramWithSource(ctx->cl, 1, &text, &src->length, &err);
    if (!p) return nncl_fail_cl(err, "clCreateProgramWithSource");
    err = clBuildProgram(p, 1, &ctx->device, ctx->build_options, NULL, NULL);
    if (err != CL_SUCCESS) {
        nncl_status st = build_failure(ctx, p, src, err);
        clReleaseProgram(p);
        return st;
    }
    if (ctx->cache_dir[0]) to_cache(ctx, p, path);
    *out = p;
    return NNCL_OK;
}

static nncl_status program_entry(nncl_context *ctx, const char *file, nncl_program_entry **out) {
    for (size_t i = 0; i < ctx->n_programs; i++)
        if (!strcmp(ctx->programs[i].source->name, file)) {
            *out = &ctx->programs[i];
            return NNCL_OK;
        }
    const nncl_kernel_source *src = NULL;
    for (size_t i = 0; i < nncl_kernel_source_count; i++)
        if (!strcmp(nncl_kernel_sources[i].name, file)) src = &nncl_kernel_sources[i];
    if (!src) return nncl_fail(NNCL_ERROR_NOT_FOUND, "no embedded kernel file %s", file);
    if (!ctx->programs) {
        ctx->programs = calloc(nncl_kernel_source_count, sizeof *ctx->programs);
        if (!ctx->programs) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "out of host memory");
    }
    cl_program program;
    nncl_status st = build_program(ctx, src, &program);
    if (st != NNCL_OK) return st;
    nncl_program_entry *e = &ctx->programs[ctx->n_programs++];
    e->source = src;
    e->program = program;
    *out = e;
    return NNCL_OK;
}

nncl_status nncl_kernel_get(nncl_context *ctx, const char *file, const char *name, cl_kernel *out) {
    nncl_program_entry *e;
    nncl_status st = program_entry(ctx, file, &e);
    if (st != NNCL_OK) return st;
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
        snprintf(what, sizeof what, "clCreateKernel %s in %s", name, file);
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

nncl_status nncl_program_build_all(nncl_context *ctx) {
    for (size_t i = 0; i < nncl_kernel_source_count; i++) {
        nncl_program_entry *e;
        nncl_status st = program_entry(ctx, nncl_kernel_sources[i].name, &e);
        if (st != NNCL_OK) return st;
    }
    return NNCL_OK;
}

void nncl_programs_release(nncl_context *ctx) {
    for (size_t i = 0; i < ctx->n_programs; i++) {
        for (size_t k = 0; k < ctx->programs[i].n_kernels; k++) {
            clReleaseKernel(ctx->programs[i].kernels[k].kernel);
            free(ctx->programs[i].kernels[k].name);
        }
        free(ctx->programs[i].kernels);
        clReleaseProgram(ctx->programs[i].program);
    }
    free(ctx->programs);
    ctx->programs = NULL;
    ctx->n_programs = 0;
}
