/* Matrix multiplication through CLBlast. This is the only file that knows
 * CLBlast: it maps our row-major call onto CLBlastSgemm and CLBlast's
 * status codes onto ours. */
#include "nncl_internal.h"

#include <clblast_c.h>

nncl_status nncl_gemm(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc) {
    if (!m || !n || !k) return NNCL_OK;
    CLBlastStatusCode s =
        CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                     trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off,
                     lda, b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue, NULL);
    if (s == CLBlastSuccess) return NNCL_OK;
    if (s > -1000)
        return nncl_fail(NNCL_ERROR_GEMM, "CLBlast SGEMM %zux%zux%zu failed: %s (%d)", m, n, k,
                         nncl_cl_error_name((cl_int)s), (int)s);
    return nncl_fail(NNCL_ERROR_GEMM, "CLBlast SGEMM %zux%zux%zu failed with CLBlast status %d", m,
                     n, k, (int)s);
}
