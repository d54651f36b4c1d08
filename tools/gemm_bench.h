/* nncl-bench --gemm (gemm_bench.c): GEMM efficiency per shape against a
 * host BLAS. */
#ifndef NNCL_TOOLS_GEMM_BENCH_H
#define NNCL_TOOLS_GEMM_BENCH_H

#include <nncl.h>

/* Before anything else in a --gemm run: makes OpenBLAS use the kernels the
 * CPU supports when its release does not know the CPU (may re-execute the
 * program with OPENBLAS_CORETYPE set). */
void gemm_bench_prepare(char **argv);

/* Measures the n calls (calls[i].calls = runs per training step) and prints
 * a table (or one JSON line); returns 0, or 1 after printing the error. */
int gemm_bench(nncl_context *ctx, const nncl_gemm_call *calls, size_t n, int rounds, bool json);

#endif
