/* Matrix multiplication through CLBlast. This is the only file that knows
 * CLBlast: it maps our row-major call onto CLBlastSgemm and CLBlast's
 * status codes onto ours, and gives CLBlast tuned kernel parameters for
 * devices its own database lacks. */
#include "nncl_internal.h"

#include <clblast_c.h>
#include <string.h>

nncl_status nncl_gemm(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc) {
    if (!m || !n || !k) return NNCL_OK;
    CLBlastStatusCode s = CLBlastSgemm(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off, lda, b, b_off,
        ldb, beta, c, c_off, ldc, &ctx->queue, nncl_profile_event(ctx, true));
    if (s == CLBlastSuccess) return NNCL_OK;
    if (s > -1000)
        return nncl_fail(NNCL_ERROR_GEMM, "CLBlast SGEMM %zux%zux%zu failed: %s (%d)", m, n, k,
                         nncl_cl_error_name((cl_int)s), (int)s);
    return nncl_fail(NNCL_ERROR_GEMM, "CLBlast SGEMM %zux%zux%zu failed with CLBlast status %d", m,
                     n, k, (int)s);
}

/* PoCL's CPU device has no entry in CLBlast's database and its generic
 * defaults reach ~13 GFLOP/s on two AVX2 cores. These Xgemm parameters come
 * from CLBlast's clblast_tuner_xgemm on such a machine (512^3), and the
 * routine threshold sends every GEMM of 128^3 and up to that kernel instead
 * of the untuned direct one: a 64x12544x288 convolution GEMM goes from 13
 * to 93 GFLOP/s. */
static const char *const xgemm_names[] = {"GEMMK", "KREG",  "KWG",   "KWI", "MDIMA", "MDIMC",
                                          "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                          "STRM",  "STRN",  "VWM",   "VWN"};
static const size_t xgemm_pocl_cpu[] = {1, 2, 1, 1, 2, 2, 16, 2, 2, 16, 0, 0, 0, 0, 8, 1};
static const char *const routine_names[] = {"XGEMM_MIN_INDIRECT_SIZE"};
static const size_t routine_pocl_cpu[] = {128};

void nncl_gemm_configure(nncl_context *ctx) {
    if (ctx->info.type != NNCL_DEVICE_CPU || !strstr(ctx->info.platform_name, "Portable")) return;
    CLBlastOverrideParameters(ctx->device, "Xgemm", CLBlastPrecisionSingle, 16,
                              (const char **)xgemm_names, xgemm_pocl_cpu);
    CLBlastOverrideParameters(ctx->device, "GemmRoutine", CLBlastPrecisionSingle, 1,
                              (const char **)routine_names, routine_pocl_cpu);
}
