/* gemm_avx512.c — the GEMM skeleton (gemm_tile.h) with AVX-512: tiles of 8 rows x 32 columns, 16
 * zmm accumulators; per k two loads of B and eight broadcasts of A feed sixteen FMAs. Compiled for
 * every x86-64 build through a target attribute; op_gemm calls it only where the CPU has
 * AVX-512F. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "gemm.h"

#define GEMM_NAME            gemm_avx512
#define GEMM_TARGET          __attribute__((target("avx512f,fma")))
#define VEC                  __m512
#define VL                   16
#define MR                   8
#define NV                   2
#define VZERO()              _mm512_setzero_ps()
#define VLOAD(p)             _mm512_loadu_ps(p)
#define VSTORE(p, v)         _mm512_storeu_ps((p), (v))
#define VBCAST(p)            _mm512_set1_ps(*(p))
#define VFMA(c, x, b)        _mm512_fmadd_ps((x), (b), (c))
#define VADD(a, b)           _mm512_add_ps((a), (b))
#define VMASK(n)             ((__mmask16)((1u << (n)) - 1u))
#define VLOAD_PART(p, n)     _mm512_maskz_loadu_ps(VMASK(n), (p))
#define VSTORE_PART(p, v, n) _mm512_mask_storeu_ps((p), VMASK(n), (v))

#include "gemm_tile.h"
#endif
