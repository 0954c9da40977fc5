/* simd.h — internal: a few 4-lane float operations for the WebAssembly SIMD128 kernels
 * (ops_wasm.c, gemm_wasm.c; ggml style) on wasm_simd128.h. It defines COPE_SIMD128 where those
 * kernels are compiled: under -msimd128, and in the native test of the kernels, which defines
 * COPE_SIMD128_EMULATION and puts tests/ on the include path for its portable C emulation of
 * the intrinsics (tests/wasm_simd128_emul.h; the core itself never reaches into tests/). Every
 * other build gets nothing from here and runs the portable code.
 * wasm SIMD has no fused multiply-add, so F32x4_FMA is a multiply then an add: the same rounding
 * as the scalar code, which is what lets the SIMD and scalar wasm builds agree closely. */
#ifndef COPE_SIMD_H
#define COPE_SIMD_H

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define COPE_SIMD128 1
#elif defined(COPE_SIMD128_EMULATION)
#include "wasm_simd128_emul.h"
#define COPE_SIMD128 1
#endif

#if defined(COPE_SIMD128)
typedef v128_t f32x4;
#define F32x4_ZERO()         wasm_f32x4_const_splat(0.0f)
#define F32x4_SPLAT(x)       wasm_f32x4_splat(x)
#define F32x4_LOAD_SPLAT(p)  wasm_v128_load32_splat(p) /* one float from memory, in every lane */
#define F32x4_LOAD(p)        wasm_v128_load(p)         /* unaligned loads and stores are fine */
#define F32x4_STORE(p, v)    wasm_v128_store((p), (v))
#define F32x4_ADD(a, b)      wasm_f32x4_add((a), (b))
#define F32x4_SUB(a, b)      wasm_f32x4_sub((a), (b))
#define F32x4_MUL(a, b)      wasm_f32x4_mul((a), (b))
#define F32x4_FMA(acc, a, b) wasm_f32x4_add((acc), wasm_f32x4_mul((a), (b))) /* acc + a*b */
#define F32x4_MAX(a, b)      wasm_f32x4_pmax((a), (b))                       /* b > a ? b : a, like the scalar loops */
#define F32x4_GET(v, lane)   wasm_f32x4_extract_lane((v), (lane))

/* (v0 + v2) + (v1 + v3) */
static inline float f32x4_hsum(f32x4 v) {
    f32x4 s = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    return wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1);
}
static inline float f32x4_hmax(f32x4 v) {
    f32x4 s = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    float a = wasm_f32x4_extract_lane(s, 0), b = wasm_f32x4_extract_lane(s, 1);
    return b > a ? b : a;
}

#endif
#endif
