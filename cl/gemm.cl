/* Matrix multiplication for CPU devices: B is first packed into panels of
 * NR = 2 * NNCL_GEMM_VEC columns stored k-major, so the product streams each
 * panel contiguously (row strides of B alias in the L1 cache), and every
 * work-item keeps a 6 x NR block of C in registers: 12 vector accumulators,
 * 6 broadcasts of A and 2 loads of B per 12 FMAs (the register tile of the
 * BLIS/OpenBLAS Haswell kernels, Van Zee & van de Geijn 2015). The host
 * sets NNCL_GEMM_VEC to the device's native float width (8 for AVX2). */

#define GEMM_CAT2(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT2(a, b)
#define floatv GEMM_CAT(float, NNCL_GEMM_VEC)
#define vloadv GEMM_CAT(vload, NNCL_GEMM_VEC)
#define vstorev GEMM_CAT(vstore, NNCL_GEMM_VEC)
#define NR (2 * NNCL_GEMM_VEC)

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
        dst[j] = col >= n ? 0.0f : trans ? src[(size_t)col * ldb + kk] : src[(size_t)kk * ldb + col];
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

/* C = alpha A B + beta C (C not read when beta is 0) with A(i, kk) at
 * a[a_off + i * sam + kk * sak] and B packed at packed + p_off; C(i, j) is c[c_off + i * ldc + j],
 * or c[c_off + j * ldc + i] with c_trans. Work-items walk down the rows of
 * one panel first, so a work-group shares its panel. */
__kernel void gemm_packed(int m, int n, int k, float alpha, __global const float *a, uint a_off,
                          int sam, int sak, __global const float *packed, uint p_off, float beta,
                          __global float *c, uint c_off, int ldc, int c_trans) {
    int mblocks = (m + 5) / 6, id = get_global_id(0);
    int m0 = id % mblocks * 6, n0 = id / mblocks * NR;
    if (n0 >= n) return;
    int last = m - 1 - m0; /* rows past the end repeat the last row, unstored */
    __global const float *a0 = a + a_off + (size_t)m0 * sam;
    __global const float *a1 = a0 + min(1, last) * sam, *a2 = a0 + min(2, last) * sam,
                         *a3 = a0 + min(3, last) * sam, *a4 = a0 + min(4, last) * sam,
                         *a5 = a0 + min(5, last) * sam;
    __global const float *bp = packed + p_off + (size_t)(n0 / NR) * k * NR;
    floatv c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f, c4 = 0.0f, c5 = 0.0f;
    floatv d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f, d4 = 0.0f, d5 = 0.0f;
    for (int kk = 0; kk < k; kk++, bp += NR) {
        floatv lo = vloadv(0, bp), hi = vloadv(1, bp);
        int at = kk * sak;
        floatv x0 = a0[at], x1 = a1[at], x2 = a2[at], x3 = a3[at], x4 = a4[at], x5 = a5[at];
        c0 = fma(x0, lo, c0);
        d0 = fma(x0, hi, d0);
        c1 = fma(x1, lo, c1);
        d1 = fma(x1, hi, d1);
        c2 = fma(x2, lo, c2);
        d2 = fma(x2, hi, d2);
        c3 = fma(x3, lo, c3);
        d3 = fma(x3, hi, d3);
        c4 = fma(x4, lo, c4);
        d4 = fma(x4, hi, d4);
        c5 = fma(x5, lo, c5);
        d5 = fma(x5, hi, d5);
    }
    size_t row_step = c_trans ? 1 : ldc;
    __global float *row = c + c_off + (c_trans ? (size_t)n0 * ldc + m0 : (size_t)m0 * ldc + n0);
    int count = n - n0;
    store_row(row, c0, d0, alpha, beta, count, c_trans, ldc);
    if (last >= 1) store_row(row + row_step, c1, d1, alpha, beta, count, c_trans, ldc);
    if (last >= 2) store_row(row + 2 * row_step, c2, d2, alpha, beta, count, c_trans, ldc);
    if (last >= 3) store_row(row + 3 * row_step, c3, d3, alpha, beta, count, c_trans, ldc);
    if (last >= 4) store_row(row + 4 * row_step, c4, d4, alpha, beta, count, c_trans, ldc);
    if (last >= 5) store_row(row + 5 * row_step, c5, d5, alpha, beta, count, c_trans, ldc);
}

/* The sources are built as one program: the names above stay in this file. */
#undef floatv
#undef vloadv
#undef vstorev
#undef NR
