/* gemm.h — internal: the one matrix product of the trainer, out[N, M] (+)= A[N, K] · B[K, M].
 * A is read through two strides, A[r * ars + k * aks], so the same kernel serves a row-major A
 * (ars = K, aks = 1) and a transposed one (ars = 1, aks = lda: dW = dout^T · inp without a
 * transpose); B and out are row-major with row strides ldb and ldo.
 *
 * The portable C reference is in ops.c; one tiling skeleton (gemm_tile.h) is instantiated per
 * instruction set: AVX2 + FMA (gemm_avx2.c), AVX-512 (gemm_avx512.c), WebAssembly SIMD128
 * (gemm_wasm.c). All sum over k the same way (blocks of GEMM_KC, in order within a block). op_gemm_call (ops.c) chooses one at run
 * time from the CPU (so one binary runs on any x86-64 and uses what the machine has), then splits
 * the rows among threads in fixed chunks, so every output element is computed by the same code
 * in the same order whatever the thread count. */
#ifndef COPE_GEMM_H
#define COPE_GEMM_H

#include <stddef.h>

typedef struct {
    float *out;     /* [N, M], row stride ldo */
    const float *A; /* A[r * ars + k * aks] */
    const float *B; /* [K, M], row stride ldb */
    size_t ldo, ars, aks, ldb;
    int N, K, M;
    int acc; /* 1: out += A·B; 0: out = A·B */
    int tri; /* a gemm_tri: which products the causal mask makes zero or unneeded */
} gemm_args;

/* Causal attention's products are triangular; kernels skip what is known to be zero or unneeded,
 * a row tile at a time (so a tile of rows n0..n0+MR-1 may still read a few zeros):
 *   GEMM_OUT_LOWER  only out[r][c] with c <= r is needed (the rest is left unspecified);
 *   GEMM_K_LOWER    A[r][k] == 0 for k > r (e.g. attention probabilities times values);
 *   GEMM_K_UPPER    A[r][k] == 0 for k < r (their transpose). */
enum gemm_tri { GEMM_FULL = 0, GEMM_OUT_LOWER, GEMM_K_LOWER, GEMM_K_UPPER };

/* The k range [*kb, *ke) and the column limit *mlim of rows n0..n0+nr-1 within the k block
 * [k0, k0+kn). */
static inline void gemm_tile_range(const gemm_args *g, int k0, int kn, int n0, int nr, int *kb, int *ke, int *mlim) {
    int b = k0, e = k0 + kn, m = g->M;
    if (g->tri == GEMM_K_LOWER && e > n0 + nr) e = n0 + nr;
    if (g->tri == GEMM_K_UPPER && b < n0) b = n0;
    if (g->tri == GEMM_OUT_LOWER && m > n0 + nr) m = n0 + nr;
    *kb = b;
    *ke = e > b ? e : b;
    *mlim = m;
}

/* Rows r0..r1 of the product (0 <= r0 <= r1 <= N). Each kernel sums over k in blocks of
 * GEMM_KC, sequentially within a block. */
typedef void (*gemm_kernel)(const gemm_args *g, int r0, int r1);

#define GEMM_KC 256

void gemm_portable(const gemm_args *g, int r0, int r1);
/* Where simd.h defines COPE_SIMD128: -msimd128 builds and the emulated test (tests/test_simd128.c) */
void gemm_wasm(const gemm_args *g, int r0, int r1);
#if defined(__x86_64__) || defined(__i386__)
void gemm_avx2(const gemm_args *g, int r0, int r1);
void gemm_avx512(const gemm_args *g, int r0, int r1);
#endif

/* The kernel this CPU runs best (what op_gemm_call uses). */
gemm_kernel gemm_best(void);
/* Its name: "avx512", "avx2", "wasm-simd128" or "portable". */
const char *gemm_best_name(void);

#endif
