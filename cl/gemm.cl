/* Matrix multiplication for CPU devices: B is first packed into panels of
 * 16 columns stored k-major, so the product streams each panel
 * contiguously (row strides of B alias in the L1 cache), and every work-item
 * keeps a 6 x 16 block of C in registers: 12 AVX2 accumulators, 6 broadcasts
 * of A and 2 loads of B per 12 FMAs (the register tile of the BLIS/OpenBLAS
 * Haswell kernels, Van Zee & van de Geijn 2015). */

/* packed[p][kk][j] = B(kk, 16p + j), zero past column n. B(kk, j) is
 * b[kk * ldb + j], or b[j * ldb + kk] when trans. One work-item per
 * (kk, panel), ordered so neighbours read neighbouring memory. */
__kernel void gemm_pack_b(__global const float *b, uint b_off, int ldb, int trans, int k, int n,
                          __global float *packed) {
    int panels = (n + 15) / 16, id = get_global_id(0);
    if (id >= k * panels) return;
    int kk = trans ? id % k : id / panels, p = trans ? id / k : id % panels;
    __global const float *src = b + b_off;
    __global float *dst = packed + ((size_t)p * k + kk) * 16;
    for (int j = 0; j < 16; j++) {
        int col = p * 16 + j;
        dst[j] = col >= n ? 0.0f : trans ? src[(size_t)col * ldb + kk] : src[(size_t)kk * ldb + col];
    }
}

/* Row i of the block: 16 (or count) consecutive floats of C, or with
 * c_trans one float in each of as many rows of C (C^T is what is computed). */
static void store_row(__global float *c, float16 v, float alpha, float beta, int count,
                      int c_trans, int ldc) {
    if (c_trans) {
        float r[16];
        vstore16(v * alpha, 0, r);
        for (int j = 0; j < min(count, 16); j++) {
            __global float *at = c + (size_t)j * ldc;
            *at = beta != 0.0f ? r[j] + beta * *at : r[j];
        }
        return;
    }
    v *= alpha;
    if (count >= 16) {
        if (beta != 0.0f) v += beta * vload16(0, c);
        vstore16(v, 0, c);
        return;
    }
    float r[16];
    vstore16(v, 0, r);
    for (int j = 0; j < count; j++)
        c[j] = beta != 0.0f ? r[j] + beta * c[j] : r[j];
}

/* C = alpha A B + beta C (C not read when beta is 0) with A(i, kk) at
 * a[a_off + i * sam + kk * sak] and B packed; C(i, j) is c[c_off + i * ldc + j],
 * or c[c_off + j * ldc + i] with c_trans. Work-items walk down the rows of
 * one panel first, so a work-group shares its panel. */
__kernel void gemm_packed(int m, int n, int k, float alpha, __global const float *a, uint a_off,
                          int sam, int sak, __global const float *packed, float beta,
                          __global float *c, uint c_off, int ldc, int c_trans) {
    int mblocks = (m + 5) / 6, id = get_global_id(0);
    int m0 = id % mblocks * 6, n0 = id / mblocks * 16;
    if (n0 >= n) return;
    int last = m - 1 - m0; /* rows past the end repeat the last row, unstored */
    __global const float *a0 = a + a_off + (size_t)m0 * sam;
    __global const float *a1 = a0 + min(1, last) * sam, *a2 = a0 + min(2, last) * sam,
                         *a3 = a0 + min(3, last) * sam, *a4 = a0 + min(4, last) * sam,
                         *a5 = a0 + min(5, last) * sam;
    __global const float *bp = packed + (size_t)(n0 / 16) * k * 16;
    float16 c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f, c4 = 0.0f, c5 = 0.0f;
    for (int kk = 0; kk < k; kk++, bp += 16) {
        float16 bv = vload16(0, bp);
        int at = kk * sak;
        c0 = fma((float16)a0[at], bv, c0);
        c1 = fma((float16)a1[at], bv, c1);
        c2 = fma((float16)a2[at], bv, c2);
        c3 = fma((float16)a3[at], bv, c3);
        c4 = fma((float16)a4[at], bv, c4);
        c5 = fma((float16)a5[at], bv, c5);
    }
    size_t row_step = c_trans ? 1 : ldc;
    __global float *row = c + c_off + (c_trans ? (size_t)n0 * ldc + m0 : (size_t)m0 * ldc + n0);
    int count = n - n0;
    store_row(row, c0, alpha, beta, count, c_trans, ldc);
    if (last >= 1) store_row(row + row_step, c1, alpha, beta, count, c_trans, ldc);
    if (last >= 2) store_row(row + 2 * row_step, c2, alpha, beta, count, c_trans, ldc);
    if (last >= 3) store_row(row + 3 * row_step, c3, alpha, beta, count, c_trans, ldc);
    if (last >= 4) store_row(row + 4 * row_step, c4, alpha, beta, count, c_trans, ldc);
    if (last >= 5) store_row(row + 5 * row_step, c5, alpha, beta, count, c_trans, ldc);
}
