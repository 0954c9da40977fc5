/* wasm_simd128_emul.h — portable C for exactly the wasm_simd128.h intrinsics that the SIMD128
 * kernels use (core/simd.h, core/ops_wasm.c, core/gemm_wasm.c), each with its WebAssembly
 * semantics, so that tests/test_simd128.c runs those kernels natively. core/simd.h includes it
 * instead of <wasm_simd128.h> when COPE_SIMD128_EMULATION is defined (the test adds -Itests).
 * Compile with -ffp-contract=off: wasm has no fused multiply-add, so a multiply then an add must
 * round twice here too. A v128_t is 16 bytes seen as 4 float or 4 int32 lanes; intrinsics that
 * work on bits (loads, stores, splats of memory, shuffles, neg) copy bits, never convert. */
#ifndef COPE_WASM_SIMD128_EMUL_H
#define COPE_WASM_SIMD128_EMUL_H

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef union {
    float f32[4];
    int32_t i32[4];
    uint32_t u32[4];
} v128_t;

/* ---- memory (unaligned, as wasm's v128.load/store) ---- */
static inline v128_t wasm_v128_load(const void *mem) {
    v128_t v;
    memcpy(&v, mem, sizeof v);
    return v;
}
static inline void wasm_v128_store(void *mem, v128_t a) { memcpy(mem, &a, sizeof a); }
static inline v128_t wasm_v128_load32_splat(const void *mem) { /* v128.load32_splat: 4 bytes in every lane */
    v128_t v;
    for (int i = 0; i < 4; i++) memcpy(&v.u32[i], mem, 4);
    return v;
}

/* ---- construction and lanes (the real ones want constant lanes; checked here at run time) ---- */
static inline v128_t wasm_f32x4_make(float c0, float c1, float c2, float c3) {
    v128_t v = {.f32 = {c0, c1, c2, c3}};
    return v;
}
static inline v128_t wasm_f32x4_splat(float x) { return wasm_f32x4_make(x, x, x, x); }
static inline v128_t wasm_f32x4_const_splat(float x) { return wasm_f32x4_splat(x); }
static inline v128_t wasm_i32x4_splat(int32_t x) {
    v128_t v = {.i32 = {x, x, x, x}};
    return v;
}
static inline float wasm_f32x4_extract_lane(v128_t a, int lane) {
    assert(lane >= 0 && lane < 4);
    return a.f32[lane];
}
static inline int32_t wasm_i32x4_extract_lane(v128_t a, int lane) {
    assert(lane >= 0 && lane < 4);
    return a.i32[lane];
}
/* i8x16.shuffle on 32-bit lanes: index c < 4 takes a's lane c, 4 <= c < 8 takes b's lane c - 4 */
static inline v128_t wasm_i32x4_shuffle(v128_t a, v128_t b, int c0, int c1, int c2, int c3) {
    const int c[4] = {c0, c1, c2, c3};
    v128_t r;
    for (int i = 0; i < 4; i++) {
        assert(c[i] >= 0 && c[i] < 8);
        r.u32[i] = c[i] < 4 ? a.u32[c[i]] : b.u32[c[i] - 4];
    }
    return r;
}

/* ---- f32x4 arithmetic, lane-wise IEEE single precision ---- */
static inline v128_t wasm_f32x4_add(v128_t a, v128_t b) {
    v128_t r;
    for (int i = 0; i < 4; i++) r.f32[i] = a.f32[i] + b.f32[i];
    return r;
}
static inline v128_t wasm_f32x4_sub(v128_t a, v128_t b) {
    v128_t r;
    for (int i = 0; i < 4; i++) r.f32[i] = a.f32[i] - b.f32[i];
    return r;
}
static inline v128_t wasm_f32x4_mul(v128_t a, v128_t b) {
    v128_t r;
    for (int i = 0; i < 4; i++) r.f32[i] = a.f32[i] * b.f32[i];
    return r;
}
static inline v128_t wasm_f32x4_div(v128_t a, v128_t b) {
    v128_t r;
    for (int i = 0; i < 4; i++) r.f32[i] = a.f32[i] / b.f32[i];
    return r;
}
static inline v128_t wasm_f32x4_neg(v128_t a) { /* f32.neg flips the sign bit, NaN included */
    v128_t r;
    for (int i = 0; i < 4; i++) r.u32[i] = a.u32[i] ^ 0x80000000u;
    return r;
}
/* The pseudo-minimum and -maximum: C's ternaries, so a NaN in b is never chosen (unlike f32x4.min) */
static inline v128_t wasm_f32x4_pmin(v128_t a, v128_t b) { /* b < a ? b : a */
    v128_t r;
    for (int i = 0; i < 4; i++) r.u32[i] = b.f32[i] < a.f32[i] ? b.u32[i] : a.u32[i];
    return r;
}
static inline v128_t wasm_f32x4_pmax(v128_t a, v128_t b) { /* a < b ? b : a */
    v128_t r;
    for (int i = 0; i < 4; i++) r.u32[i] = a.f32[i] < b.f32[i] ? b.u32[i] : a.u32[i];
    return r;
}
static inline v128_t wasm_f32x4_floor(v128_t a) {
    v128_t r;
    for (int i = 0; i < 4; i++) r.f32[i] = floorf(a.f32[i]);
    return r;
}
static inline v128_t wasm_f32x4_ceil(v128_t a) {
    v128_t r;
    for (int i = 0; i < 4; i++) r.f32[i] = ceilf(a.f32[i]);
    return r;
}

/* ---- i32x4 ---- */
static inline v128_t wasm_i32x4_add(v128_t a, v128_t b) { /* wraps modulo 2^32 */
    v128_t r;
    for (int i = 0; i < 4; i++) r.u32[i] = a.u32[i] + b.u32[i];
    return r;
}
static inline v128_t wasm_i32x4_shl(v128_t a, uint32_t b) { /* the count is taken modulo 32 */
    v128_t r;
    for (int i = 0; i < 4; i++) r.u32[i] = a.u32[i] << (b & 31);
    return r;
}
/* i32x4.trunc_sat_f32x4_s: toward zero, NaN -> 0, out of range -> INT32_MIN or INT32_MAX */
static inline v128_t wasm_i32x4_trunc_sat_f32x4(v128_t a) {
    v128_t r;
    for (int i = 0; i < 4; i++) {
        float x = a.f32[i];
        r.i32[i] = isnan(x) ? 0 : x <= -2147483648.0f ? INT32_MIN : x >= 2147483648.0f ? INT32_MAX : (int32_t)x;
    }
    return r;
}

#endif
