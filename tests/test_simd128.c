/* test_simd128.c — the WebAssembly SIMD128 kernels (core/ops_wasm.c, core/gemm_wasm.c) run natively
 * on a portable emulation of the intrinsics (wasm_simd128_emul.h) and checked against the portable
 * reference (core/ops.c, compiled into this program without FMA contraction, the way a wasm build
 * rounds) on every tail length: n = 1..40 (every tail of the 4-, 8- and 16-wide loops, twice over)
 * and 63, 64, 65, 127, 129, 255, 256, 257. Where a kernel keeps the reference's order of operations
 * the check is bit for bit; where it sums in another order the bound is the sum of the two orders'
 * rounding error bounds, and on inputs where every partial sum is exact (small integers, eighths)
 * bit for bit again. Buffers have their exact sizes, so `make debug` catches a tail that reads or
 * writes past the end. First, the emulation's intrinsics against hand-computed values, so that a
 * wrong emulation cannot let a wrong kernel pass. Usage: test_simd128 [-v] */
#if defined(__wasm_simd128__) || !defined(COPE_SIMD128_EMULATION)
/* under -msimd128, ops.c would call the very kernels it is compared with */
#error "build natively with -DCOPE_SIMD128_EMULATION -Itests (see the Makefile)"
#endif

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cope.h"
#include "kernel_check.h"
#include "../core/ops.h"
#include "../core/simd.h"

static cope_rng g_rng;

static float *vec(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }
static float *copy(const float *x, size_t n) { return memcpy(vec(n), x, n * sizeof(float)); }
static float normal(float scale) { return scale * cope_rng_normal(&g_rng); }
/* ints: -8..8, whose products and sums of a few hundred are exact in float; else a normal */
static float draw(int ints) { return ints ? (float)(cope_rng_int(&g_rng, 17) - 8) : normal(1.0f); }

/* ---------------------------------------------------------------------------------------------
 * The emulation: the intrinsics whose WebAssembly semantics differ from the obvious C, at the
 * values where they differ */
/* lane by lane, bits (c: the expected floats; NaN matches any NaN) */
static int lanes_are(v128_t v, float c0, float c1, float c2, float c3) {
    const float c[4] = {c0, c1, c2, c3};
    for (int i = 0; i < 4; i++)
        if (isnan(c[i]) ? !isnan(v.f32[i]) : v.u32[i] != f32_bits(c[i])) return 0;
    return 1;
}
static int ilanes_are(v128_t v, int32_t c0, int32_t c1, int32_t c2, int32_t c3) {
    return v.i32[0] == c0 && v.i32[1] == c1 && v.i32[2] == c2 && v.i32[3] == c3;
}

static void test_emulation(void) {
    const float nan = NAN, inf = INFINITY;
    check(
        lanes_are(wasm_f32x4_pmax(wasm_f32x4_make(-87.0f, -87.0f, nan, 1.0f), wasm_f32x4_make(nan, 3.0f, 1.0f, -0.0f)),
                  -87.0f, 3.0f, nan, 1.0f),
        "f32x4.pmax is a < b ? b : a: pmax(-87, NaN) = -87, pmax(NaN, 1) = NaN, pmax(1, -0) = 1");
    check(lanes_are(wasm_f32x4_pmin(wasm_f32x4_make(88.0f, 88.0f, nan, 0.0f), wasm_f32x4_make(nan, 5.0f, 1.0f, -0.0f)),
                    88.0f, 5.0f, nan, 0.0f),
          "f32x4.pmin is b < a ? b : a: pmin(88, NaN) = 88, pmin(NaN, 1) = NaN, pmin(+0, -0) = +0");
    check(
        ilanes_are(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_make(nan, 3e9f, -3e9f, -1.9f)), 0, INT32_MAX, INT32_MIN, -1) &&
            ilanes_are(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_make(inf, -inf, 2.9f, -0.0f)), INT32_MAX, INT32_MIN, 2, 0),
        "i32x4.trunc_sat_f32x4_s: NaN -> 0, +-3e9 and +-inf saturate, -1.9 -> -1, 2.9 -> 2");
    v128_t a = wasm_f32x4_make(1.0f, 2.0f, 3.0f, 4.0f), b = wasm_f32x4_make(5.0f, 6.0f, 7.0f, 8.0f);
    check(lanes_are(wasm_i32x4_shuffle(a, b, 1, 2, 3, 4), 2.0f, 3.0f, 4.0f, 5.0f) &&
              lanes_are(wasm_i32x4_shuffle(a, b, 7, 0, 6, 3), 8.0f, 1.0f, 7.0f, 4.0f),
          "i32x4 shuffle: indices 0-3 take the first input's lanes, 4-7 the second's");
    v128_t f = wasm_f32x4_make(-0.5f, 0.5f, -1.0f, 2.5f);
    check(lanes_are(wasm_f32x4_floor(f), -1.0f, 0.0f, -1.0f, 2.0f) &&
              lanes_are(wasm_f32x4_ceil(f), -0.0f, 1.0f, -1.0f, 3.0f),
          "f32x4.floor and ceil lane-wise, ceil(-0.5) = -0");
    v128_t ng = wasm_f32x4_neg(wasm_f32x4_make(0.0f, -1.0f, nan, inf));
    check(lanes_are(ng, -0.0f, 1.0f, nan, -inf) && ng.u32[2] == (f32_bits(nan) ^ 0x80000000u),
          "f32x4.neg flips the sign bit (of 0 and of NaN too)");
    check(ilanes_are(wasm_i32x4_shl(wasm_i32x4_splat(1), 33), 2, 2, 2, 2) &&
              ilanes_are(wasm_i32x4_add(wasm_i32x4_splat(INT32_MAX), wasm_i32x4_splat(1)), INT32_MIN, INT32_MIN,
                         INT32_MIN, INT32_MIN),
          "i32x4.shl takes its count modulo 32, i32x4.add wraps");
    float one_half[1] = {1.5f};
    check(lanes_are(F32x4_LOAD_SPLAT(one_half), 1.5f, 1.5f, 1.5f, 1.5f), "v128.load32_splat");
    /* (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 (a tie, to even); fused, the sum would
     * keep the 2^-24. volatile: no constant folding either way. */
    volatile float x = 1.0f + 0x1p-12f, c = -(1.0f + 0x1p-11f);
    check(F32x4_GET(F32x4_FMA(F32x4_SPLAT(c), F32x4_SPLAT(x), F32x4_SPLAT(x)), 0) == 0.0f,
          "F32x4_FMA rounds the product, then the sum (no contraction: -ffp-contract=off)");
    /* (1e8 + -1e8) + (1 + 1) = 2, where left to right 1e8 + 1 would lose the 1 */
    check(f32x4_hsum(wasm_f32x4_make(1e8f, 1.0f, -1e8f, 1.0f)) == 2.0f, "f32x4_hsum sums (v0 + v2) + (v1 + v3)");
    check(f32x4_hmax(wasm_f32x4_make(1.0f, 7.0f, -3.0f, 2.0f)) == 7.0f, "f32x4_hmax");
}

/* ---------------------------------------------------------------------------------------------
 * Reductions in another order: op_matvec and op_dot, op_softmax */
/* op_dot_wasm is op_matvec_wasm's kernel for the rows past a multiple of 4, so OC = 1..9 tests
 * both */
static void test_matvec(void) {
    tally r = {0}, z = {0};
    for (int si = 0; si < N_TAIL_SIZES; si++)
        for (int OC = 1; OC <= 9; OC++)
            for (int has_bias = 0; has_bias < 2; has_bias++)
                for (int ints = 0; ints < 2; ints++) {
                    int C = tail_sizes[si];
                    float *x = vec(C), *w = vec((size_t)OC * C), *bias = has_bias ? vec(OC) : NULL;
                    float *got = vec(OC), *ref = vec(OC);
                    for (int i = 0; i < C; i++) x[i] = draw(ints);
                    for (int i = 0; i < OC * C; i++) w[i] = draw(ints);
                    for (int o = 0; has_bias && o < OC; o++) bias[o] = draw(ints);
                    op_matvec_wasm(got, x, w, bias, C, OC);
                    op_matvec(ref, x, w, bias, C, OC);
                    char shape[64];
                    snprintf(shape, sizeof shape, "C=%d OC=%d bias=%d", C, OC, has_bias);
                    tally *t = ints ? &z : &r;
                    for (int o = 0; o < OC; o++) {
                        double abs_sum = has_bias ? fabs(bias[o]) : 0.0;
                        for (int k = 0; k < C; k++) abs_sum += fabs((double)w[(size_t)o * C + k] * x[k]);
                        tally_elem(t, shape, o, got[o], ref[o], ints ? 0.0 : sum_bound(C + 1, abs_sum));
                    }
                    t->cases++;
                    free(x);
                    free(w);
                    free(bias);
                    free(got);
                    free(ref);
                }
    tally_check(&r, "op_matvec_wasm, op_dot_wasm: random, OC 1..9, bias or not, within 2 (C+1) eps (|b| + sum|w x|)");
    tally_check(&z, "op_matvec_wasm, op_dot_wasm: integers -8..8 (every sum exact), bit-equal");
}

static void test_softmax(void) {
    tally r = {0}, e = {0};
    for (int si = 0; si < N_TAIL_SIZES; si++)
        for (int equal = 0; equal < 2; equal++) {
            int n = tail_sizes[si];
            float *a = vec(n);
            float same = normal(4.0f);
            for (int i = 0; i < n; i++) a[i] = equal ? same : normal(4.0f);
            float *got = copy(a, n), *ref = copy(a, n);
            op_softmax_wasm(got, n);
            op_softmax(ref, n);
            char shape[64];
            snprintf(shape, sizeof shape, "n=%d", n);
            /* the maximum and the exponentials are the same bits; the sum of n positive terms is
             * within 2 n eps of itself in another order, and 1/sum and the product add 2 eps */
            for (int i = 0; i < n; i++)
                tally_elem(equal ? &e : &r, shape, i, got[i], ref[i],
                           equal ? 0.0 : (2.0 * n + 4.0) * FLT_EPSILON * ref[i]);
            (equal ? &e : &r)->cases++;
            free(a);
            free(got);
            free(ref);
        }
    tally_check(&r, "op_softmax_wasm: random logits, within (2n + 4) eps |ref|");
    tally_check(&e, "op_softmax_wasm: equal logits (the sum n is exact), bit-equal");
}

/* ---------------------------------------------------------------------------------------------
 * The same order of operations: op_axpy, op_vecmat, op_sigmoid, gelu_forward, bit for bit */
static void test_axpy(void) {
    tally t = {0};
    for (int si = 0; si < N_TAIL_SIZES; si++) {
        int n = tail_sizes[si];
        float *x = vec(n), *y = vec(n), alpha = normal(1.0f);
        for (int i = 0; i < n; i++) x[i] = normal(1.0f), y[i] = normal(1.0f);
        float *got = copy(y, n), *ref = copy(y, n);
        op_axpy_wasm(got, alpha, x, n);
        op_axpy(ref, alpha, x, n);
        char shape[64];
        snprintf(shape, sizeof shape, "n=%d", n);
        for (int i = 0; i < n; i++) tally_elem(&t, shape, i, got[i], ref[i], 0.0);
        t.cases++;
        free(x);
        free(y);
        free(got);
        free(ref);
    }
    tally_check(&t, "op_axpy_wasm: bit-equal to the reference");
}

static void test_vecmat(void) {
    static const int Ks[] = {1, 2, 3, 5, 8, 16, 33};
    tally t = {0};
    for (int si = 0; si < N_TAIL_SIZES; si++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (int pad = 0; pad <= 3; pad += 3) {
                int M = tail_sizes[si], K = Ks[ki];
                size_t ld = (size_t)M + pad, nw = (size_t)(K - 1) * ld + M;
                float *x = vec(K), *W = vec(nw), *got = vec(M), *ref = vec(M);
                for (int k = 0; k < K; k++) x[k] = normal(1.0f);
                for (size_t i = 0; i < nw; i++) W[i] = normal(1.0f);
                op_vecmat_wasm(got, x, W, ld, K, M);
                op_vecmat(ref, x, W, ld, K, M);
                char shape[64];
                snprintf(shape, sizeof shape, "K=%d M=%d ld=%zu", K, M, ld);
                for (int m = 0; m < M; m++) tally_elem(&t, shape, m, got[m], ref[m], 0.0);
                t.cases++;
                free(x);
                free(W);
                free(got);
                free(ref);
            }
    tally_check(&t, "op_vecmat_wasm: K 1..33, rows of stride M and M+3, bit-equal");
}

/* Inputs for the elementwise kernels: normals of scale 30 (past both of op_expf's clamps), or the
 * special values in turn, starting at a different one for each n so that each lands in every
 * lane and in the leftovers. */
static void elementwise_inputs(float *x, int n, int special) {
    static const float sv[] = {NAN,   INFINITY, -INFINITY, 0.0f,   -0.0f,   -87.0f, -87.5f, 87.0f, 88.0f,
                               88.5f, -100.0f,  100.0f,    1e-30f, -1e-30f, 3.0f,   -3.0f,  0.5f};
    const int nsv = (int)(sizeof sv / sizeof *sv);
    for (int i = 0; i < n; i++) x[i] = special ? sv[(i + n) % nsv] : normal(30.0f);
}

static void test_sigmoid_gelu(void) {
    tally ts = {0}, tg = {0};
    for (int si = 0; si < N_TAIL_SIZES; si++)
        for (int special = 0; special < 2; special++) {
            int n = tail_sizes[si];
            float *x = vec(n);
            elementwise_inputs(x, n, special);
            char shape[64];
            snprintf(shape, sizeof shape, "n=%d special=%d", n, special);
            float *got = copy(x, n), *ref = copy(x, n);
            op_sigmoid_wasm(got, n);
            op_sigmoid(ref, n);
            for (int i = 0; i < n; i++) tally_elem(&ts, shape, i, got[i], ref[i], 0.0);
            ts.cases++;
            gelu_forward_wasm(got, x, (size_t)n);
            gelu_forward(ref, x, (size_t)n);
            for (int i = 0; i < n; i++) tally_elem(&tg, shape, i, got[i], ref[i], 0.0);
            tg.cases++;
            free(x);
            free(got);
            free(ref);
        }
    tally_check(&ts, "op_sigmoid_wasm (f32x4_expf): normals of scale 30 and special values, bit-equal");
    tally_check(&tg, "gelu_forward_wasm: normals of scale 30 and special values, bit-equal");
}

int main(int argc, char **argv) {
    g_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    cope_rng_seed(&g_rng, 128);
    test_emulation();
    test_matvec();
    test_softmax();
    test_axpy();
    test_vecmat();
    test_sigmoid_gelu();
    check_cope_interp_kernel("cope_interp_wasm", cope_interp_wasm, 1, &g_rng);
    /* the wasm GEMM sums in gemm_portable's order: the same bits too */
    const gemm_variant wasm = {"wasm-simd128 (emulated)", gemm_wasm, gemm_portable};
    check_gemm_kernels(&wasm, 1, &g_rng);
    return check_summary();
}
