/* The context's GEMM state: which path runs the products, the packed
 * kernels' vector width (the context's, normally the device's native
 * float width: AVX2 float8, AVX-512 float16, at least float4) and register
 * tile, and the scratch both paths share. */
#include "gemm.h"

#include <stdlib.h>
#include <string.h>

nncl_status nncl_gemm_open(nncl_context *ctx, const char *choice) {
    if (choice && *choice && strcmp(choice, "packed") && strcmp(choice, "clblast"))
        return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT,
                         "nncl_context_create: unknown GEMM '%s' (known: packed, clblast)", choice);
    struct nncl_gemm_state *s = calloc(1, sizeof *s);
    if (!s) return nncl_fail(NNCL_ERROR_OUT_OF_MEMORY, "nncl_context_create: out of memory");
    s->packed = choice && *choice ? !strcmp(choice, "packed") : ctx->info.type == NNCL_DEVICE_CPU;
    unsigned w = ctx->vector_width;
    s->vec = w >= 16 ? 16 : w >= 8 ? 8 : 4;
    /* Two vectors per row of the tile: 6 rows are 12 accumulators, which
     * leave room in AVX2's 16 registers; AVX-512's 32 hold 8 rows (16
     * accumulators and a row pointer each: 10 rows ran 5-8% slower, 12 spilled
     * to half speed; 8 ran 7-12% faster than 6 on resnet18_cifar's shapes). */
    s->rows = s->vec >= 16 ? 8 : 6;
    ctx->gemm = s;
    return NNCL_OK;
}

void nncl_gemm_close(nncl_context *ctx) {
    if (!ctx->gemm) return;
    nncl_buffer_release(ctx, ctx->gemm->scratch);
    nncl_gemm_forget_programs();
    free(ctx->gemm);
    ctx->gemm = NULL;
}

bool nncl_gemm_is_packed(const nncl_context *ctx) {
    return ctx->gemm->packed;
}

nncl_status nncl_gemm_scratch(nncl_context *ctx, size_t bytes) {
    struct nncl_gemm_state *s = ctx->gemm;
    if (bytes <= s->scratch_bytes) return NNCL_OK;
    /* Queued GEMMs may still read the old scratch: a driver may free a
     * released buffer at once, so wait for them (growth is rare). */
    cl_int err = s->scratch ? clFinish(ctx->queue) : CL_SUCCESS;
    if (err != CL_SUCCESS) return nncl_fail_cl(err, "clFinish before growing the GEMM scratch");
    nncl_buffer_release(ctx, s->scratch);
    s->scratch = NULL;
    s->scratch_bytes = 0;
    nncl_status st = nncl_buffer_create(ctx, bytes, &s->scratch);
    if (st == NNCL_OK) s->scratch_bytes = bytes;
    return st;
}
