/* GEMM on CPU devices with nncl's own kernels (cl/gemm.cl): one operand
 * read as panels two device vectors wide (in place, or packed), the other
 * by rows, in a register-tiled product (6 x 16 on AVX2, 8 x 32 on
 * AVX-512). On PoCL this runs the convolution GEMMs at 2-3x CLBlast's tuned
 * speed, whose kernels suit GPUs. Computing C^T = B^T A^T instead chooses
 * which operand is which, by the copies each choice needs. */
#include "gemm.h"
#include <stdint.h>

/* One operand as the kernels address it: element (i, kk) of a row-major
 * matrix, or of its transpose, at mem[off + i * s_row + kk * s_k]. */
typedef struct operand {
    cl_mem mem;
    cl_uint off;
    cl_int s_row, s_k;
} operand;

/* B's panels for the product: panel p at mem + off + p * step, its row kk
 * at + kk * k_step. */
typedef struct panel_view {
    cl_mem mem;
    cl_uint off, step;
    cl_int k_step;
} panel_view;

/* How a product is split into work-items of mc_blocks row blocks x np
 * panels: at least `want` of them over the batch where the shape allows
 * (the caps keep an item's rows and panels in its core's L2), and of those
 * the split that streams the least, since every item reads its rows and its
 * panels whole: m x (panel groups) + n x (row ranges) floats per k. Many
 * small items would balance better, but on small-m or long-k products
 * re-reading B per row range costs more than an idle core. */
static void split(size_t count, size_t m, size_t n, size_t blocks, size_t max_blocks, size_t panels,
                  size_t want, size_t *mc_blocks, size_t *np) {
    size_t best_cost = SIZE_MAX, best_items = 0;
    bool best_enough = false;
    for (size_t p = panels < 8 ? panels : 8;; p = (p + 1) / 2) {
        for (size_t b = blocks < max_blocks ? blocks : max_blocks;; b = (b + 1) / 2) {
            size_t ranges = (blocks + b - 1) / b, groups = (panels + p - 1) / p;
            size_t items = count * ranges * groups, cost = m * groups + n * ranges;
            bool enough = items >= want;
            if (enough != best_enough ? enough : enough ? cost < best_cost : items > best_items) {
                best_enough = enough, best_cost = cost, best_items = items;
                *mc_blocks = b, *np = p;
            }
            if (b == 1) break;
        }
        if (p == 1) break;
    }
}

/* The register-tiled products over B's panels, one work-item per
 * work-group, split as above: two per compute unit where the shape allows. */
static nncl_status product(nncl_context *ctx, const nncl_gemm_batch *batch, size_t m, size_t n,
                           size_t k, float alpha, operand av, panel_view bv, float beta, cl_mem c,
                           size_t c_off, size_t ldc, cl_int c_trans) {
    size_t width = nncl_gemm_panel_width(ctx), panels = (n + width - 1) / width;
    size_t mr = ctx->gemm->rows, blocks = (m + mr - 1) / mr, mc_blocks = 1, np = 1;
    size_t want = 2 * (size_t)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    split(batch->count, m, n, blocks, 96 / mr, panels, want, &mc_blocks, &np);
    /* k in chunks of about 512 (a block of rows' chunk, up to 8 x 512 floats,
     * stays in L1 beside the panels streaming past); transposed stores are
     * scalar, so C^T is revisited less often. */
    size_t chunk = c_trans ? 2048 : 512, chunks = (k + chunk - 1) / chunk;
    size_t kc = (k + chunks - 1) / chunks;
    size_t mc = mc_blocks * mr;
    size_t items = batch->count * ((m + mc - 1) / mc) * ((panels + np - 1) / np);
    cl_int mi = (cl_int)m, ni = (cl_int)n, ki = (cl_int)k, ldci = (cl_int)ldc, kci = (cl_int)kc,
           mci = (cl_int)mc, npi = (cl_int)np;
    cl_uint co = (cl_uint)c_off, a_step = (cl_uint)batch->a_step,
            p_step = (cl_uint)batch->packed_step, c_step = (cl_uint)batch->c_step;
    return nncl_launch_groups(
        ctx, "gemm_packed", items, 1,
        NNCL_ARGS(NNCL_ARG(mi), NNCL_ARG(ni), NNCL_ARG(ki), NNCL_ARG(kci), NNCL_ARG(mci),
                  NNCL_ARG(npi), NNCL_ARG(alpha), NNCL_ARG(av.mem), NNCL_ARG(av.off),
                  NNCL_ARG(av.s_row), NNCL_ARG(av.s_k), NNCL_ARG(bv.mem), NNCL_ARG(bv.off),
                  NNCL_ARG(bv.step), NNCL_ARG(bv.k_step), NNCL_ARG(beta), NNCL_ARG(c), NNCL_ARG(co),
                  NNCL_ARG(ldci), NNCL_ARG(c_trans), NNCL_ARG(a_step), NNCL_ARG(p_step),
                  NNCL_ARG(c_step)));
}

/* Whether B'(kk, j), at (j, kk) of `bt`, serves as panels where it lies:
 * row-major with whole panels, its rows a stride apart that the hardware
 * prefetchers follow (up to 2 KiB; strides of 4 KiB and more alias in the
 * caches) or few of them. Packing costs more than the product on small-m
 * shapes. */
static bool reads_in_place(operand bt, size_t n, size_t k, size_t width) {
    return bt.s_row == 1 && n % width == 0 && (bt.s_k <= 512 || k <= 64);
}

/* Floats copied before the product with `av` read by rows (a row-major
 * copy unless it is one) and `bt` read as panels (packed unless it can be
 * read in place). */
static size_t copies(operand av, operand bt, size_t m, size_t n, size_t k, size_t width) {
    return (av.s_k == 1 ? 0 : m * k) + (reads_in_place(bt, n, k, width) ? 0 : k * n);
}

/* D = the transpose of the rows x cols matrix at s (row stride lds), into
 * d at d_off: row-major (panel 0) or in the packed layout (gemm.cl). */
static nncl_status transpose(nncl_context *ctx, cl_mem s, cl_uint s_off, cl_int lds, size_t rows,
                             size_t cols, size_t panel, cl_mem d, size_t d_off) {
    size_t padded = panel ? (rows + panel - 1) / panel * panel : rows;
    cl_int r = (cl_int)rows, cn = (cl_int)cols, pw = (cl_int)panel;
    cl_uint off = (cl_uint)d_off;
    return nncl_launch(ctx, "gemm_transpose", (padded + 7) / 8 * ((cols + 7) / 8),
                       NNCL_ARGS(NNCL_ARG(s), NNCL_ARG(s_off), NNCL_ARG(lds), NNCL_ARG(r),
                                 NNCL_ARG(cn), NNCL_ARG(pw), NNCL_ARG(d), NNCL_ARG(off)));
}

nncl_status nncl_gemm_packed(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n,
                             size_t k, float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b,
                             size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                             size_t ldc) {
    /* A(i, kk) and B(kk, j) (the latter as (j, kk) of B^T) as strided views. */
    operand av = {a, (cl_uint)a_off, trans_a ? 1 : (cl_int)lda, trans_a ? (cl_int)lda : 1};
    operand bt = {b, (cl_uint)b_off, trans_b ? (cl_int)ldb : 1, trans_b ? 1 : (cl_int)ldb};
    /* The read operand is read a scalar per row and k, so it must run along
     * k in memory (a cache line serves 16 k; across rows every k is a new
     * line): a column-major one is copied row-major first. C^T = B^T A^T
     * when that copies less, counting its scalar stores of C as a copy. */
    size_t width = nncl_gemm_panel_width(ctx);
    cl_int c_trans = copies(bt, av, n, m, k, width) + m * n < copies(av, bt, m, n, k, width);
    if (c_trans) {
        operand t = av;
        av = bt;
        bt = t;
        size_t s = m;
        m = n;
        n = s;
    }
    const nncl_gemm_batch one = {1, 0, 0, 0};
    bool in_place = reads_in_place(bt, n, k, width);
    size_t n_panels = (n + width - 1) / width, packed = in_place ? 0 : n_panels * width * k;
    size_t rows_copy = av.s_k == 1 ? 0 : m * k;
    if (packed + rows_copy) {
        nncl_status st = nncl_gemm_scratch(ctx, (packed + rows_copy) * sizeof(float));
        if (st != NNCL_OK) return st;
    }
    cl_mem scratch = ctx->gemm->scratch;
    nncl_status st;
    if (rows_copy) {
        st = transpose(ctx, av.mem, av.off, av.s_k, k, m, 0, scratch, packed);
        if (st != NNCL_OK) return st;
        av = (operand){scratch, (cl_uint)packed, (cl_int)k, 1};
    }
    if (in_place)
        return product(ctx, &one, m, n, k, alpha, av,
                       (panel_view){bt.mem, bt.off, (cl_uint)width, bt.s_k}, beta, c, c_off, ldc,
                       c_trans);
    if (bt.s_k == 1) { /* B' stored as its transpose */
        st = transpose(ctx, bt.mem, bt.off, bt.s_row, n, k, width, scratch, 0);
    } else {
        cl_int ld = bt.s_k, ki = (cl_int)k, ni = (cl_int)n;
        st = nncl_launch(ctx, "gemm_pack_rows", k * n_panels,
                         NNCL_ARGS(NNCL_ARG(bt.mem), NNCL_ARG(bt.off), NNCL_ARG(ld), NNCL_ARG(ki),
                                   NNCL_ARG(ni), NNCL_ARG(scratch)));
    }
    if (st != NNCL_OK) return st;
    return product(ctx, &one, m, n, k, alpha, av,
                   (panel_view){scratch, 0, (cl_uint)(k * width), (cl_int)width}, beta, c, c_off,
                   ldc, c_trans);
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
    size_t width = nncl_gemm_panel_width(ctx);
    nncl_status st =
        product(ctx, batch, m, n, k, alpha, av,
                (panel_view){packed, (cl_uint)packed_off, (cl_uint)(k * width), (cl_int)width},
                beta, c, c_off, ldc, 0);
    ctx->phase = kind;
    return st;
}
