/* Matrix multiplication through CLBlast. With tune.c, the only code that
 * knows CLBlast: it maps our row-major call onto CLBlastSgemm and CLBlast's
 * status codes onto ours, records the shapes it sees, and gives CLBlast
 * tuned kernel parameters for the device. */
#include "gemm.h"

#include <clblast_c.h>
#include <stdio.h>
#include <string.h>

/* Floats from a matrix's first element to its last. */
static size_t extent(size_t rows, size_t cols, size_t ld) {
    return (rows - 1) * ld + cols;
}

/* CLBlast's fast kernel copies every operand that does not start at offset 0
 * of its buffer into a padded temporary and back (Xgemm::NoTempBuffer): one
 * more pass over each matrix, whose time its event does not even show. An
 * operand at an offset the device can start a sub-buffer at is handed over
 * as that sub-buffer, read and written in place. */
static cl_mem in_place(nncl_context *ctx, cl_mem mem, size_t *off, size_t floats, cl_mem *made) {
    *made = NULL;
    size_t origin = *off * sizeof(float);
    if (!origin || !ctx->base_align || origin % ctx->base_align) return mem;
    cl_mem parent = NULL;
    clGetMemObjectInfo(mem, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, NULL);
    if (parent) { /* there are no sub-buffers of sub-buffers: start from the parent */
        size_t base = 0;
        clGetMemObjectInfo(mem, CL_MEM_OFFSET, sizeof base, &base, NULL);
        origin += base;
        mem = parent;
    }
    cl_buffer_region region = {origin, floats * sizeof(float)};
    cl_int err;
    cl_mem sub =
        clCreateSubBuffer(mem, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (!sub) return mem; /* CLBlast's copy still works */
    *off = 0;
    *made = sub;
    return sub;
}

/* The temporary CLBlast pads into, kept on the context and grown when a call
 * needs more, instead of a fresh allocation (and page faults) per call.
 * *temp stays NULL when the call needs none. */
static nncl_status temp_buffer(nncl_context *ctx, CLBlastTranspose ta, CLBlastTranspose tb,
                               size_t m, size_t n, size_t k, size_t a_off, size_t lda, size_t b_off,
                               size_t ldb, size_t c_off, size_t ldc, cl_mem *temp) {
    *temp = NULL;
    size_t bytes = 0;
    if (CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, m, n, k, a_off, lda, b_off, ldb,
                                   c_off, ldc, &ctx->queue, &bytes) != CLBlastSuccess ||
        !bytes)
        return NNCL_OK;
    nncl_status st = nncl_gemm_scratch(ctx, bytes);
    if (st == NNCL_OK) *temp = ctx->gemm->scratch;
    return st;
}

static nncl_status clblast_gemm(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n,
                                size_t k, float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b,
                                size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                                size_t ldc) {
    CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    cl_mem subs[3];
    a = in_place(ctx, a, &a_off, extent(trans_a ? k : m, trans_a ? m : k, lda), &subs[0]);
    b = in_place(ctx, b, &b_off, extent(trans_b ? n : k, trans_b ? k : n, ldb), &subs[1]);
    c = in_place(ctx, c, &c_off, extent(m, n, ldc), &subs[2]);
    cl_mem temp;
    nncl_status st = temp_buffer(ctx, ta, tb, m, n, k, a_off, lda, b_off, ldb, c_off, ldc, &temp);
    CLBlastStatusCode s = CLBlastSuccess;
    if (st == NNCL_OK && temp)
        s = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a, a_off, lda,
                                       b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue,
                                       nncl_profile_event(ctx), temp);
    else if (st == NNCL_OK)
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off,
                         ldb, beta, c, c_off, ldc, &ctx->queue, nncl_profile_event(ctx));
    for (int i = 0; i < 3; i++) /* the queue holds what its commands still use */
        if (subs[i]) clReleaseMemObject(subs[i]);
    if (st != NNCL_OK || s == CLBlastSuccess) return st;
    if (s > -1000)
        return nncl_fail(NNCL_ERROR_GEMM, "CLBlast SGEMM %zux%zux%zu failed: %s (%d)", m, n, k,
                         nncl_cl_error_name((cl_int)s), (int)s);
    return nncl_fail(NNCL_ERROR_GEMM, "CLBlast SGEMM %zux%zux%zu failed with CLBlast status %d", m,
                     n, k, (int)s);
}

nncl_status nncl_gemm(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc) {
    if (!m || !n || !k) return NNCL_OK;
    nncl_gemm_record(ctx, trans_a, trans_b, m, n, k);
    nncl_profile_kind kind = ctx->phase;
    ctx->phase = NNCL_PROFILE_GEMM;
    nncl_status st = ctx->gemm->packed
                         ? nncl_gemm_packed(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b,
                                            b_off, ldb, beta, c, c_off, ldc)
                         : clblast_gemm(ctx, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b,
                                        b_off, ldb, beta, c, c_off, ldc);
    ctx->phase = kind;
    return st;
}

const char *const nncl_xgemm_names[NNCL_XGEMM_PARAMS] = {
    "GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
    "NDIMC", "NWG",  "SA",  "SB",  "STRM",  "STRN",  "VWM", "VWN"};

/* PoCL's CPU device has no entry in CLBlast's database and its generic
 * defaults reach ~13 GFLOP/s on two AVX2 cores. These Xgemm parameters come
 * from CLBlast's clblast_tuner_xgemm on such a machine (512^3), and the
 * routine threshold sends every GEMM of 128^3 and up to that kernel instead
 * of the untuned direct one: a 64x12544x288 convolution GEMM goes from 13
 * to 93 GFLOP/s. */
static const size_t xgemm_pocl_cpu[NNCL_XGEMM_PARAMS] = {1, 2,  1, 1, 2, 2, 16, 2,
                                                         2, 16, 0, 0, 0, 0, 8,  1};
static const char *const routine_names[] = {"XGEMM_MIN_INDIRECT_SIZE"};
static const size_t routine_pocl_cpu[] = {128};

bool nncl_gemm_apply(nncl_context *ctx, const size_t *xgemm) {
    return CLBlastOverrideParameters(ctx->device, "Xgemm", CLBlastPrecisionSingle,
                                     NNCL_XGEMM_PARAMS, (const char **)nncl_xgemm_names,
                                     xgemm) == CLBlastSuccess;
}

void nncl_gemm_tuning_path(const nncl_context *ctx, char *path, size_t size) {
    snprintf(path, size, "%s/gemm-tuning.txt", ctx->cache_dir);
}

void nncl_gemm_device_key(const nncl_context *ctx, char *key, size_t size) {
    snprintf(key, size, "%s|%s|%s", ctx->info.platform_name, ctx->info.name,
             ctx->info.driver_version);
    for (char *c = key; *c; c++)
        if (*c == ' ' || *c == '\n') *c = '_';
}

/* The stored parameters for this device: a line "<key> v0 v1 ... v15". */
static bool stored_tuning(const nncl_context *ctx, size_t *xgemm) {
    if (!ctx->cache_dir[0]) return false;
    char path[1100], key[600], line[1024];
    nncl_gemm_tuning_path(ctx, path, sizeof path);
    nncl_gemm_device_key(ctx, key, sizeof key);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool found = false;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, n) || line[n] != ' ') continue;
        size_t v[NNCL_XGEMM_PARAMS];
        int used = 0, got = 0;
        const char *p = line + n;
        while (got < NNCL_XGEMM_PARAMS && sscanf(p, "%zu%n", &v[got], &used) == 1)
            got++, p += used;
        if (got == NNCL_XGEMM_PARAMS) { /* the last complete line wins */
            memcpy(xgemm, v, sizeof v);
            found = true;
        }
    }
    fclose(f);
    return found;
}

void nncl_gemm_configure(nncl_context *ctx) {
    bool pocl_cpu =
        ctx->info.type == NNCL_DEVICE_CPU && strstr(ctx->info.platform_name, "Portable");
    if (pocl_cpu)
        CLBlastOverrideParameters(ctx->device, "GemmRoutine", CLBlastPrecisionSingle, 1,
                                  (const char **)routine_names, routine_pocl_cpu);
    size_t xgemm[NNCL_XGEMM_PARAMS];
    /* Stored tuning came from timing: deterministic contexts do without. */
    if (!ctx->deterministic && stored_tuning(ctx, xgemm) && nncl_gemm_apply(ctx, xgemm)) return;
    if (pocl_cpu) nncl_gemm_apply(ctx, xgemm_pocl_cpu);
}

const size_t *nncl_gemm_shipped(const nncl_context *ctx) {
    bool pocl_cpu =
        ctx->info.type == NNCL_DEVICE_CPU && strstr(ctx->info.platform_name, "Portable");
    return pocl_cpu ? xgemm_pocl_cpu : NULL;
}

/* CLBlast's cache is global: other contexts only rebuild their GEMM kernels
 * on next use (a use after free otherwise, which Oclgrind's runtime aborts
 * on). */
void nncl_gemm_forget_programs(void) {
    CLBlastClearCache();
}
