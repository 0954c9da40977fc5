/* gemm_wasm.c — the GEMM skeleton (gemm_tile.h) with WebAssembly SIMD128: tiles of 4 rows x 8
 * columns, 8 vector accumulators, which with two loads of B and a broadcast of A stay within the 16
 * registers V8 has on x86-64. wasm SIMD has no FMA, so VFMA is a multiply then an add. Partial
 * vectors go through a small buffer (wasm SIMD has no masked loads). Empty in other builds, except
 * tests/test_simd128.c's, which runs it on an emulation of the intrinsics (simd.h). */
#include "gemm.h"
#include "simd.h"

#if defined(COPE_SIMD128)
#include <string.h>

static inline f32x4 load_part(const float *p, int n) {
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (size_t)n * sizeof(float));
    return F32x4_LOAD(t);
}

static inline void store_part(float *p, f32x4 v, int n) {
    float t[4];
    F32x4_STORE(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}

#define GEMM_NAME gemm_wasm
#define GEMM_TARGET
#define VEC                  f32x4
#define VL                   4
#define MR                   4
#define NV                   2
#define VZERO()              F32x4_ZERO()
#define VLOAD(p)             F32x4_LOAD(p)
#define VSTORE(p, v)         F32x4_STORE((p), (v))
#define VBCAST(p)            F32x4_LOAD_SPLAT(p)
#define VFMA(c, x, b)        F32x4_FMA((c), (x), (b))
#define VADD(a, b)           F32x4_ADD((a), (b))
#define VLOAD_PART(p, n)     load_part((p), (n))
#define VSTORE_PART(p, v, n) store_part((p), (v), (n))

#include "gemm_tile.h"
#endif
