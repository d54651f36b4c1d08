/* GEMM on CPU devices with nncl's own kernels (cl/gemm.cl): one operand
 * packed into panels two device vectors wide, then a 6-row register-tiled
 * product (6 x 16 on AVX2). On
 * PoCL this runs the convolution GEMMs at 2-3x CLBlast's tuned speed, whose
 * kernels suit GPUs. Computing C^T = B^T A^T instead chooses which operand
 * is packed. */
#include "gemm.h"

/* One operand as the kernels address it: element (i, kk) of a row-major
 * matrix, or of its transpose, at mem[off + i * s_row + kk * s_k]. */
typedef struct operand {
    cl_mem mem;
    cl_uint off;
    cl_int s_row, s_k;
} operand;

/* The register-tiled products over B already packed at packed + p_off, as
 * work-items of mc rows x np panels, one per work-group: enough of them
 * over the batch to keep every compute unit busy, each as large as that
 * allows. */
static nncl_status product(nncl_context *ctx, const nncl_gemm_batch *batch, size_t m, size_t n,
                           size_t k, float alpha, operand av, cl_mem packed, size_t p_off,
                           float beta, cl_mem c, size_t c_off, size_t ldc, cl_int c_trans) {
    size_t width = nncl_gemm_panel_width(ctx), panels = (n + width - 1) / width;
    size_t mr = NNCL_GEMM_ROWS, blocks = (m + mr - 1) / mr;
    size_t want = 8 * (size_t)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    size_t mc_blocks = blocks < 16 ? blocks : 16, np = panels < 8 ? panels : 8;
    /* k in chunks of about 512 (a 16-wide panel's chunk fills half of L2's way
     * to L1); transposed stores are scalar, so C^T is revisited less often. */
    size_t chunk = c_trans ? 2048 : 512, chunks = (k + chunk - 1) / chunk;
    size_t kc = (k + chunks - 1) / chunks;
    while (batch->count * ((blocks + mc_blocks - 1) / mc_blocks) * ((panels + np - 1) / np) <
               want &&
           (np > 1 || mc_blocks > 1)) {
        if (np > 1)
            np = (np + 1) / 2;
        else
            mc_blocks = (mc_blocks + 1) / 2;
    }
    size_t mc = mc_blocks * mr;
    size_t items = batch->count * ((m + mc - 1) / mc) * ((panels + np - 1) / np);
    cl_int mi = (cl_int)m, ni = (cl_int)n, ki = (cl_int)k, ldci = (cl_int)ldc, kci = (cl_int)kc,
           mci = (cl_int)mc, npi = (cl_int)np;
    cl_uint co = (cl_uint)c_off, po = (cl_uint)p_off, a_step = (cl_uint)batch->a_step,
            p_step = (cl_uint)batch->packed_step, c_step = (cl_uint)batch->c_step;
    return nncl_launch_groups(
        ctx, "gemm_packed", items, 1,
        NNCL_ARGS(NNCL_ARG(mi), NNCL_ARG(ni), NNCL_ARG(ki), NNCL_ARG(kci), NNCL_ARG(mci),
                  NNCL_ARG(npi), NNCL_ARG(alpha), NNCL_ARG(av.mem), NNCL_ARG(av.off),
                  NNCL_ARG(av.s_row), NNCL_ARG(av.s_k), NNCL_ARG(packed), NNCL_ARG(po),
                  NNCL_ARG(beta), NNCL_ARG(c), NNCL_ARG(co), NNCL_ARG(ldci), NNCL_ARG(c_trans),
                  NNCL_ARG(a_step), NNCL_ARG(p_step), NNCL_ARG(c_step)));
}

nncl_status nncl_gemm_packed(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n,
                             size_t k, float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b,
                             size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                             size_t ldc) {
    /* A(i, kk) and B(kk, j) (the latter as (j, kk) of B^T) as strided views. */
    operand av = {a, (cl_uint)a_off, trans_a ? 1 : (cl_int)lda, trans_a ? (cl_int)lda : 1};
    operand bt = {b, (cl_uint)b_off, trans_b ? (cl_int)ldb : 1, trans_b ? 1 : (cl_int)ldb};
    /* The unpacked operand is read a scalar per row and k: fast along its
     * rows (a cache line serves 16 k), slow across them (every k a new line,
     * with large strides aliasing in L1). So C^T = B^T A^T when that makes
     * the read operand row-contiguous, else when it packs less. */
    bool a_rows = !trans_a, bt_rows = trans_b;
    cl_int c_trans = a_rows != bt_rows ? bt_rows : n * k > m * k + m * n;
    if (c_trans) {
        operand t = av;
        av = bt;
        bt = t;
        size_t s = m;
        m = n;
        n = s;
    }
    /* bt now holds B'(kk, j) at (j, kk): pack with trans when that view
     * walks kk contiguously. */
    size_t width = nncl_gemm_panel_width(ctx), panels = (n + width - 1) / width;
    nncl_status st = nncl_gemm_scratch(ctx, panels * width * k * sizeof(float));
    if (st != NNCL_OK) return st;
    cl_int trans = bt.s_k == 1, ld = trans ? bt.s_row : bt.s_k, ki = (cl_int)k, ni = (cl_int)n;
    st = nncl_launch(ctx, "gemm_pack_b", k * panels,
                     NNCL_ARGS(NNCL_ARG(bt.mem), NNCL_ARG(bt.off), NNCL_ARG(ld), NNCL_ARG(trans),
                               NNCL_ARG(ki), NNCL_ARG(ni), NNCL_ARG(ctx->gemm->scratch)));
    if (st != NNCL_OK) return st;
    return product(ctx, &(nncl_gemm_batch){1, 0, 0, 0}, m, n, k, alpha, av, ctx->gemm->scratch, 0,
                   beta, c, c_off, ldc, c_trans);
}

size_t nncl_gemm_panel_width(const nncl_context *ctx) {
    return 2 * (size_t)ctx->gemm->vec;
}

nncl_status nncl_gemm_prepacked(nncl_context *ctx, const nncl_gemm_batch *batch, size_t m, size_t n,
                                size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                                cl_mem packed, size_t packed_off, float beta, cl_mem c,
                                size_t c_off, size_t ldc) {
    const nncl_gemm_batch one = {1, 0, 0, 0};
    if (!batch) batch = &one;
    if (!m || !n || !k || !batch->count) return NNCL_OK;
    for (size_t i = 0; i < batch->count; i++)
        nncl_gemm_record(ctx, false, false, m, n, k);
    operand av = {a, (cl_uint)a_off, (cl_int)lda, 1};
    nncl_profile_kind kind = ctx->phase;
    ctx->phase = NNCL_PROFILE_GEMM;
    nncl_status st =
        product(ctx, batch, m, n, k, alpha, av, packed, packed_off, beta, c, c_off, ldc, 0);
    ctx->phase = kind;
    return st;
}
