/* gemm_avx2.c — the GEMM skeleton (gemm_tile.h) with AVX2 + FMA: tiles of 4 rows x 16 columns, 8
 * ymm accumulators (16 registers in all: the accumulators, two of B, one broadcast). Compiled for
 * every x86-64 build through a target attribute; op_gemm calls it only where the CPU has AVX2 and
 * FMA but not AVX-512. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "gemm.h"

#define GEMM_NAME            gemm_avx2
#define GEMM_TARGET          __attribute__((target("avx2,fma")))
#define VEC                  __m256
#define VL                   8
#define MR                   4
#define NV                   2
#define VZERO()              _mm256_setzero_ps()
#define VLOAD(p)             _mm256_loadu_ps(p)
#define VSTORE(p, v)         _mm256_storeu_ps((p), (v))
#define VBCAST(p)            _mm256_broadcast_ss(p)
#define VFMA(c, x, b)        _mm256_fmadd_ps((x), (b), (c))
#define VADD(a, b)           _mm256_add_ps((a), (b))
/* lanes 0..n-1 set: n > lane index */
#define VMASK(n)             _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define VLOAD_PART(p, n)     _mm256_maskload_ps((p), VMASK(n))
#define VSTORE_PART(p, v, n) _mm256_maskstore_ps((p), VMASK(n), (v))

#include "gemm_tile.h"
#endif
