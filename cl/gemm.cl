/* Matrix multiplication for CPU devices: B is read in panels of NR = 2 *
 * NNCL_GEMM_VEC columns, packed k-major where its row stride would alias in
 * the caches (or it is stored transposed), A by rows along k (copied so
 * first when stored transposed), and the product keeps MR x NR blocks of C
 * in registers: 2 MR vector accumulators, MR broadcasts of A and 2 loads of
 * B per 2 MR FMAs (with MR = 6, the register tile of the BLIS/OpenBLAS
 * Haswell kernels, Van Zee & van de Geijn 2015). The host sets
 * NNCL_GEMM_VEC to the device's native float width (8 for AVX2) and
 * NNCL_GEMM_ROWS to what its registers hold (6 for AVX2, 8 for AVX-512). */

#define GEMM_CAT2(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT2(a, b)
#define floatv GEMM_CAT(float, NNCL_GEMM_VEC)
#define vloadv GEMM_CAT(vload, NNCL_GEMM_VEC)
#define vstorev GEMM_CAT(vstore, NNCL_GEMM_VEC)
#define NR (2 * NNCL_GEMM_VEC)
#define MR NNCL_GEMM_ROWS

/* packed[p][kk][j] = B(kk, NR p + j) for B(kk, j) at b[kk * ldb + j], zero
 * past column n: one work-item per (kk, panel), neighbours reading
 * neighbouring memory, a panel's row copied as two vectors where it lies
 * inside B. */
__kernel void gemm_pack_rows(__global const float *b, uint b_off, int ldb, int k, int n,
                             __global float *packed) {
    int panels = (n + NR - 1) / NR, id = get_global_id(0);
    if (id >= k * panels) return;
    int kk = id / panels, p = id % panels;
    __global const float *src = b + b_off + (size_t)kk * ldb + p * NR;
    __global float *dst = packed + ((size_t)p * k + kk) * NR;
    if (p * NR + NR <= n) {
        vstorev(vloadv(0, src), 0, dst);
        vstorev(vloadv(1, src), 1, dst);
        return;
    }
    for (int j = 0; j < NR; j++)
        dst[j] = p * NR + j < n ? src[j] : 0.0f;
}

/* D(c, r) = S(r, c) for S(r, c) at s[s_off + r * lds + c], r < rows and
 * c < cols, in 8 x 8 blocks (a work-item each: eight vector loads, eight
 * vector stores). D(c, r) lies at d[d_off + c * rows + r] (panel 0), or in
 * panels of `panel` values of r, d[d_off + ((r / panel) * cols + c) * panel
 * + r % panel], the last panel's r past rows zero: the row-major copy of a
 * column-major operand, or the packed layout of B read from B^T. */
__kernel void gemm_transpose(__global const float *s, uint s_off, int lds, int rows, int cols,
                             int panel, __global float *d, uint d_off) {
    int padded = panel ? (rows + panel - 1) / panel * panel : rows;
    int col_blocks = (cols + 7) / 8, id = get_global_id(0);
    if (id >= (padded + 7) / 8 * col_blocks) return;
    int r0 = id / col_blocks * 8, c0 = id % col_blocks * 8;
    s += s_off;
    d += d_off;
    size_t at =
        panel ? ((size_t)(r0 / panel) * cols + c0) * panel + r0 % panel : (size_t)c0 * rows + r0;
    size_t step = panel ? (size_t)panel : (size_t)rows; /* from D(c, .) to D(c + 1, .) */
    if (r0 + 8 <= rows && c0 + 8 <= cols) {
        __global const float *src = s + (size_t)r0 * lds + c0;
        float8 x0 = vload8(0, src), x1 = vload8(0, src + lds), x2 = vload8(0, src + 2 * lds),
               x3 = vload8(0, src + 3 * lds), x4 = vload8(0, src + 4 * lds),
               x5 = vload8(0, src + 5 * lds), x6 = vload8(0, src + 6 * lds),
               x7 = vload8(0, src + 7 * lds);
#define GEMM_COLUMN(j, sj)                                                                         \
    vstore8((float8)(x0.sj, x1.sj, x2.sj, x3.sj, x4.sj, x5.sj, x6.sj, x7.sj), 0, d + at + j * step)
        GEMM_COLUMN(0, s0);
        GEMM_COLUMN(1, s1);
        GEMM_COLUMN(2, s2);
        GEMM_COLUMN(3, s3);
        GEMM_COLUMN(4, s4);
        GEMM_COLUMN(5, s5);
        GEMM_COLUMN(6, s6);
        GEMM_COLUMN(7, s7);
#undef GEMM_COLUMN
        return;
    }
    for (int j = 0; j < 8 && c0 + j < cols; j++)
        for (int i = 0; i < 8 && r0 + i < padded; i++)
            d[at + j * step + i] = r0 + i < rows ? s[(size_t)(r0 + i) * lds + c0 + j] : 0.0f;
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
 * panel (its row kk at bp + kk * bk) over kn steps of k: the accumulators
 * stay in registers, then C = alpha * acc + beta * C. */
static inline void tile(int rows, int count, int kn, float alpha, float beta,
                        __global const float *a, int sam, int sak, __global const float *bp, int bk,
                        __global float *c, int ldc, int c_trans) {
    __global const float *ar[MR];
    floatv lo[MR], hi[MR];
#pragma unroll
    for (int r = 0; r < MR; r++) {
        ar[r] = a + min(r, rows - 1) * sam;
        lo[r] = 0.0f;
        hi[r] = 0.0f;
    }
    for (int kk = 0; kk < kn; kk++, bp += bk) {
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
 * a[a_off + i * sam + kk * sak] and B's panel p at packed + p_off + p * pp,
 * its row kk bk floats after row kk - 1 (packed: pp = k * NR, bk = NR; a
 * row-major B whose width is whole panels serves as it is: pp = NR, bk its
 * leading dimension); C(i, j) is
 * c[c_off + i * ldc + j], or c[c_off + j * ldc + i] with c_trans. Each
 * work-item owns mc rows of np panels and walks k in chunks of kc, BLIS's
 * loop order (Van Zee & van de Geijn 2015): a block of rows' chunk (MR x kc,
 * the operand BLIS broadcasts) stays in L1 while the panels' chunks (np x kc
 * x NR) stream past it from L2. A batch of products of one shape (Winograd's
 * planes) runs as one launch, product b's operands a_step, p_step and
 * c_step floats after product b - 1's. */
__kernel void gemm_packed(int m, int n, int k, int kc, int mc, int np, float alpha,
                          __global const float *a, uint a_off, int sam, int sak,
                          __global const float *packed, uint p_off, uint pp, int bk, float beta,
                          __global float *c, uint c_off, int ldc, int c_trans, uint a_step,
                          uint p_step, uint c_step) {
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
        for (int m0 = m_begin; m0 < m_end; m0 += MR) {
            for (int p = p_begin; p < p_end; p++) {
                __global const float *bp = packed + (size_t)p * pp + (size_t)k0 * bk;
                __global float *at =
                    c + (c_trans ? (size_t)p * NR * ldc + m0 : (size_t)m0 * ldc + (size_t)p * NR);
                tile(min(MR, m_end - m0), n - p * NR, kn, alpha, b_now,
                     a + (size_t)m0 * sam + (size_t)k0 * sak, sam, sak, bp, bk, at, ldc, c_trans);
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
