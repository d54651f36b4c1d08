/* Matrix multiplication for CPU devices: B is first packed into panels of
 * NR = 2 * NNCL_GEMM_VEC columns stored k-major, so the product streams each
 * panel contiguously (row strides of B alias in the L1 cache), and the
 * product keeps 6 x NR blocks of C in registers: 12 vector accumulators,
 * 6 broadcasts of A and 2 loads of B per 12 FMAs (the register tile of the
 * BLIS/OpenBLAS Haswell kernels, Van Zee & van de Geijn 2015). The host
 * sets NNCL_GEMM_VEC to the device's native float width (8 for AVX2) and
 * NNCL_GEMM_ROWS to 6. */

#define GEMM_CAT2(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT2(a, b)
#define floatv GEMM_CAT(float, NNCL_GEMM_VEC)
#define vloadv GEMM_CAT(vload, NNCL_GEMM_VEC)
#define vstorev GEMM_CAT(vstore, NNCL_GEMM_VEC)
#define NR (2 * NNCL_GEMM_VEC)
#define MR NNCL_GEMM_ROWS

/* packed[p][kk][j] = B(kk, NR p + j), zero past column n. B(kk, j) is
 * b[kk * ldb + j], or b[j * ldb + kk] when trans. One work-item per
 * (kk, panel), ordered so neighbours read neighbouring memory. */
__kernel void gemm_pack_b(__global const float *b, uint b_off, int ldb, int trans, int k, int n,
                          __global float *packed) {
    int panels = (n + NR - 1) / NR, id = get_global_id(0);
    if (id >= k * panels) return;
    int kk = trans ? id % k : id / panels, p = trans ? id / k : id % panels;
    __global const float *src = b + b_off;
    __global float *dst = packed + ((size_t)p * k + kk) * NR;
    for (int j = 0; j < NR; j++) {
        int col = p * NR + j;
        dst[j] = col >= n ? 0.0f
                 : trans  ? src[(size_t)col * ldb + kk]
                          : src[(size_t)kk * ldb + col];
    }
}

/* Row i of the block, the vectors lo and hi: NR (or count) consecutive
 * floats of C, or with c_trans one float in each of as many rows of C (C^T
 * is what is computed). */
static inline void store_row(__global float *c, floatv lo, floatv hi, float alpha, float beta,
                             int count, int c_trans, int ldc) {
    lo *= alpha;
    hi *= alpha;
    if (!c_trans && count >= NR) {
        if (beta != 0.0f) {
            lo += beta * vloadv(0, c);
            hi += beta * vloadv(1, c);
        }
        vstorev(lo, 0, c);
        vstorev(hi, 1, c);
        return;
    }
    float r[NR];
    vstorev(lo, 0, r);
    vstorev(hi, 1, r);
    size_t step = c_trans ? (size_t)ldc : 1;
    for (int j = 0; j < min(count, NR); j++) {
        __global float *at = c + j * step;
        *at = beta != 0.0f ? r[j] + beta * *at : r[j];
    }
}

/* Rows m0.. (rows of them real; the rest repeat the last, unstored) of one
 * panel over kn steps of k: the accumulators stay in registers, then
 * C = alpha * acc + beta * C. */
static inline void tile(int rows, int count, int kn, float alpha, float beta,
                        __global const float *a, int sam, int sak, __global const float *bp,
                        __global float *c, int ldc, int c_trans) {
    __global const float *ar[MR];
    floatv lo[MR], hi[MR];
#pragma unroll
    for (int r = 0; r < MR; r++) {
        ar[r] = a + min(r, rows - 1) * sam;
        lo[r] = 0.0f;
        hi[r] = 0.0f;
    }
    for (int kk = 0; kk < kn; kk++, bp += NR) {
        floatv bl = vloadv(0, bp), bh = vloadv(1, bp);
        int at = kk * sak;
#pragma unroll
        for (int r = 0; r < MR; r++) {
            floatv x = ar[r][at];
            lo[r] = fma(x, bl, lo[r]);
            hi[r] = fma(x, bh, hi[r]);
        }
    }
    size_t row_step = c_trans ? 1 : ldc;
#pragma unroll
    for (int r = 0; r < MR; r++)
        if (r < rows) store_row(c + r * row_step, lo[r], hi[r], alpha, beta, count, c_trans, ldc);
}

/* C = alpha A B + beta C (C not read when beta is 0) with A(i, kk) at
 * a[a_off + i * sam + kk * sak] and B packed at packed + p_off; C(i, j) is
 * c[c_off + i * ldc + j], or c[c_off + j * ldc + i] with c_trans. Each
 * work-item owns mc rows of np panels and walks k in chunks of kc, BLIS's
 * loop order (Van Zee & van de Geijn 2015): a panel's chunk (kc x NR) stays
 * in L1 while the rows pass over it, the rows' chunk (mc x kc) in L2 while
 * the panels pass over it. A batch of products of one shape (Winograd's
 * planes) runs as one launch, product b's operands a_step, p_step and
 * c_step floats after product b - 1's. */
__kernel void gemm_packed(int m, int n, int k, int kc, int mc, int np, float alpha,
                          __global const float *a, uint a_off, int sam, int sak,
                          __global const float *packed, uint p_off, float beta, __global float *c,
                          uint c_off, int ldc, int c_trans, uint a_step, uint p_step, uint c_step) {
    int ranges = (m + mc - 1) / mc, panels = (n + NR - 1) / NR;
    int per_product = ranges * ((panels + np - 1) / np);
    int b = get_global_id(0) / per_product, id = get_global_id(0) % per_product;
    a += a_off + (size_t)b * a_step;
    packed += p_off + (size_t)b * p_step;
    c += c_off + (size_t)b * c_step;
    int m_begin = id % ranges * mc, p_begin = id / ranges * np;
    if (p_begin >= panels) return;
    int m_end = min(m, m_begin + mc), p_end = min(panels, p_begin + np);
    for (int k0 = 0; k0 < k; k0 += kc) {
        int kn = min(kc, k - k0);
        float b_now = k0 ? 1.0f : beta; /* later chunks add to the first */
        for (int p = p_begin; p < p_end; p++) {
            __global const float *bp = packed + ((size_t)p * k + k0) * NR;
            for (int m0 = m_begin; m0 < m_end; m0 += MR) {
                __global float *at =
                    c + (c_trans ? (size_t)p * NR * ldc + m0 : (size_t)m0 * ldc + (size_t)p * NR);
                tile(min(MR, m_end - m0), n - p * NR, kn, alpha, b_now,
                     a + (size_t)m0 * sam + (size_t)k0 * sak, sam, sak, bp, at, ldc, c_trans);
            }
        }
    }
}

/* The sources are built as one program: the names above stay in this file. */
#undef floatv
#undef vloadv
#undef vstorev
#undef NR
#undef MR
