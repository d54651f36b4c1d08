/* The GEMM layer: row-major matrix products on the context's device, by
 * nncl's packed kernels (CPU devices) or by CLBlast (elsewhere), the
 * scratch both share, and CLBlast's tuning. Above the runtime; the ops'
 * convolution and linear layers are its users. */
#ifndef NNCL_GEMM_H
#define NNCL_GEMM_H

#include "../runtime/runtime.h"

/* A GEMM shape run so far, with its call count, for tuning. */
typedef struct nncl_gemm_shape {
    bool trans_a, trans_b;
    size_t m, n, k;
    uint64_t calls;
} nncl_gemm_shape;

struct nncl_gemm_state {
    bool packed;    /* by nncl's packed kernels, else by CLBlast */
    unsigned vec;   /* floats per vector in the packed GEMM; panels are two wide */
    unsigned rows;  /* rows of C in its register tile (state.c) */
    cl_mem scratch; /* packed panels, or CLBlast's padded copies */
    size_t scratch_bytes;
    nncl_gemm_shape shapes[128];
    size_t n_shapes;
};

/* Sets up the context's GEMM: `choice` "packed", "clblast", or NULL / ""
 * for the device's default (packed on CPU devices); an unknown name fails
 * naming the known ones (state.c). */
nncl_status nncl_gemm_open(nncl_context *ctx, const char *choice);
void nncl_gemm_close(nncl_context *ctx);
/* Whether GEMMs go through the packed kernels. */
bool nncl_gemm_is_packed(const nncl_context *ctx);

/* Row-major C[m x n] = alpha * op(A) * op(B) + beta * C, offsets and leading
 * dimensions in elements (clblast.c, which hands packed contexts on). */
nncl_status nncl_gemm(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);

/* The packed kernels' path of nncl_gemm (packed.c), and the scratch buffer
 * both paths share, grown to at least `bytes`. */
nncl_status nncl_gemm_packed(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n,
                             size_t k, float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b,
                             size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                             size_t ldc);
nncl_status nncl_gemm_scratch(nncl_context *ctx, size_t bytes);
/* The widest panel any device gets (two float16 vectors): room for whole
 * panels of any device's layout. */
#define NNCL_GEMM_MAX_PANEL 32
/* Columns per panel of the packed layout: B(kk, j) of a k x n matrix at
 * ((j / width) * k + kk) * width + j % width, zero past column n. */
size_t nncl_gemm_panel_width(const nncl_context *ctx);
/* Products of one shape, each operand `*_step` floats after the previous
 * product's: one launch for all of them. */
typedef struct nncl_gemm_batch {
    size_t count, a_step, packed_step, c_step;
} nncl_gemm_batch;
/* Row-major C[m x n] = alpha * A * B + beta * C on the packed path, for B
 * its producer already wrote in the packed layout at packed + packed_off;
 * for each product of the batch (NULL: one). */
nncl_status nncl_gemm_prepacked(nncl_context *ctx, const nncl_gemm_batch *batch, size_t m, size_t n,
                                size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                                cl_mem packed, size_t packed_off, float beta, cl_mem c,
                                size_t c_off, size_t ldc);

/* Counts a call of this shape (measure.c), and the monotonic clock in
 * seconds the GEMM timers share. */
void nncl_gemm_record(nncl_context *ctx, bool trans_a, bool trans_b, size_t m, size_t n, size_t k);
double nncl_gemm_now(void);

/* Drops CLBlast's compiled programs (clblast.c): it would release those of
 * a destroyed context at exit, after the context is gone. */
void nncl_gemm_forget_programs(void);

/* Gives CLBlast the GEMM kernel parameters tuned for the context's device:
 * those nncl-tune stored in the cache directory, else the ones nncl ships
 * (PoCL's CPU device), else CLBlast's own. */
void nncl_gemm_configure(nncl_context *ctx);

/* The Xgemm parameters CLBlast takes, in its order, and applying a set. */
#define NNCL_XGEMM_PARAMS 16
extern const char *const nncl_xgemm_names[NNCL_XGEMM_PARAMS];
bool nncl_gemm_apply(nncl_context *ctx, const size_t *xgemm);
/* The parameters nncl ships for the device, or NULL. */
const size_t *nncl_gemm_shipped(const nncl_context *ctx);
/* "<cache>/gemm-tuning.txt" and this device's key in it. */
void nncl_gemm_tuning_path(const nncl_context *ctx, char *path, size_t size);
void nncl_gemm_device_key(const nncl_context *ctx, char *key, size_t size);

#endif
