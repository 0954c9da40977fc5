/* ops_wasm.c — the WebAssembly SIMD128 versions of ops.h's vector kernels (op_*_wasm, 4 lanes, the
 * macros of simd.h), each taking over its portable reference in ops.c in -msimd128 builds.
 * wasm SIMD has no FMA, so F32x4_FMA is a multiply then an add, as the reference rounds it; where a
 * kernel keeps the reference's order of operations it gives the same bits (ops.h says which).
 * Leftover elements use ops.h's scalar helpers. The GEMM stays in gemm_wasm.c: like gemm_avx2.c and
 * gemm_avx512.c it only instantiates gemm_tile.h, one file per instruction set for the GEMM too.
 * Empty in every other build, except tests/test_simd128.c's, which runs it on an emulation. */
#include "ops.h"
#include "simd.h"

#if defined(COPE_SIMD128)
float op_dot_wasm(const float *a, const float *b, int n) {
    int k = 0;
    f32x4 s0 = F32x4_ZERO(), s1 = F32x4_ZERO();
    for (; k + 8 <= n; k += 8) {
        s0 = F32x4_FMA(s0, F32x4_LOAD(a + k), F32x4_LOAD(b + k));
        s1 = F32x4_FMA(s1, F32x4_LOAD(a + k + 4), F32x4_LOAD(b + k + 4));
    }
    for (; k + 4 <= n; k += 4) s0 = F32x4_FMA(s0, F32x4_LOAD(a + k), F32x4_LOAD(b + k));
    float r = f32x4_hsum(F32x4_ADD(s0, s1));
    for (; k < n; k++) r += a[k] * b[k];
    return r;
}

void op_axpy_wasm(float *y, float a, const float *x, int n) {
    int i = 0;
    f32x4 va = F32x4_SPLAT(a);
    for (; i + 4 <= n; i += 4) F32x4_STORE(y + i, F32x4_FMA(F32x4_LOAD(y + i), va, F32x4_LOAD(x + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* op_expf on 4 lanes, operation for operation (no FMA in wasm), so it gives the same bits. */
static inline f32x4 f32x4_expf(f32x4 x) {
    x = wasm_f32x4_pmax(F32x4_SPLAT(-87.0f), x); /* -87 < x ? x : -87, NaN -> -87 */
    x = wasm_f32x4_pmin(F32x4_SPLAT(88.0f), x);  /* x < 88 ? x : 88 */
    f32x4 n = wasm_f32x4_floor(F32x4_ADD(F32x4_MUL(x, F32x4_SPLAT(1.44269504088896341f)), F32x4_SPLAT(0.5f)));
    f32x4 r =
        F32x4_ADD(F32x4_SUB(x, F32x4_MUL(n, F32x4_SPLAT(0.693359375f))), F32x4_MUL(n, F32x4_SPLAT(2.12194440e-4f)));
    f32x4 p = F32x4_SPLAT(1.9875691500e-4f);
    p = F32x4_FMA(F32x4_SPLAT(1.3981999507e-3f), p, r);
    p = F32x4_FMA(F32x4_SPLAT(8.3334519073e-3f), p, r);
    p = F32x4_FMA(F32x4_SPLAT(4.1665795894e-2f), p, r);
    p = F32x4_FMA(F32x4_SPLAT(1.6666665459e-1f), p, r);
    p = F32x4_FMA(F32x4_SPLAT(5.0000001201e-1f), p, r);
    p = F32x4_ADD(F32x4_ADD(F32x4_MUL(F32x4_MUL(p, r), r), r), F32x4_SPLAT(1.0f));
    v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
    return F32x4_MUL(p, scale);
}

static inline f32x4 f32x4_sigmoidf(f32x4 x) {
    f32x4 one = F32x4_SPLAT(1.0f);
    return wasm_f32x4_div(one, F32x4_ADD(one, f32x4_expf(wasm_f32x4_neg(x))));
}

/* Four rows of w at a time with two accumulators each, so each load of x serves four rows and
 * eight independent add chains hide the add latency. */
void op_matvec_wasm(float *out, const float *x, const float *w, const float *bias, int C, int OC) {
    int o = 0;
    for (; o + 4 <= OC; o += 4) {
        const float *w0 = w + (size_t)o * C, *w1 = w0 + C, *w2 = w1 + C, *w3 = w2 + C;
        f32x4 a0 = F32x4_ZERO(), a1 = F32x4_ZERO(), a2 = F32x4_ZERO(), a3 = F32x4_ZERO();
        f32x4 b0 = F32x4_ZERO(), b1 = F32x4_ZERO(), b2 = F32x4_ZERO(), b3 = F32x4_ZERO();
        int k = 0;
        for (; k + 8 <= C; k += 8) {
            f32x4 x0 = F32x4_LOAD(x + k), x1 = F32x4_LOAD(x + k + 4);
            a0 = F32x4_FMA(a0, x0, F32x4_LOAD(w0 + k));
            b0 = F32x4_FMA(b0, x1, F32x4_LOAD(w0 + k + 4));
            a1 = F32x4_FMA(a1, x0, F32x4_LOAD(w1 + k));
            b1 = F32x4_FMA(b1, x1, F32x4_LOAD(w1 + k + 4));
            a2 = F32x4_FMA(a2, x0, F32x4_LOAD(w2 + k));
            b2 = F32x4_FMA(b2, x1, F32x4_LOAD(w2 + k + 4));
            a3 = F32x4_FMA(a3, x0, F32x4_LOAD(w3 + k));
            b3 = F32x4_FMA(b3, x1, F32x4_LOAD(w3 + k + 4));
        }
        float r[4] = {f32x4_hsum(F32x4_ADD(a0, b0)), f32x4_hsum(F32x4_ADD(a1, b1)), f32x4_hsum(F32x4_ADD(a2, b2)),
                      f32x4_hsum(F32x4_ADD(a3, b3))};
        for (; k < C; k++) {
            r[0] += w0[k] * x[k];
            r[1] += w1[k] * x[k];
            r[2] += w2[k] * x[k];
            r[3] += w3[k] * x[k];
        }
        for (int t = 0; t < 4; t++) out[o + t] = (bias ? bias[o + t] : 0.0f) + r[t];
    }
    for (; o < OC; o++) out[o] = (bias ? bias[o] : 0.0f) + op_dot_wasm(x, w + (size_t)o * C, C);
}

/* 16 entries of y in 4 accumulators across all k, then 4 and 1; each sums over k from zero in
 * order, as the reference's axpy loops do. */
void op_vecmat_wasm(float *y, const float *x, const float *W, size_t ld, int K, int M) {
    int m = 0;
    for (; m + 16 <= M; m += 16) {
        f32x4 c0 = F32x4_ZERO(), c1 = F32x4_ZERO(), c2 = F32x4_ZERO(), c3 = F32x4_ZERO();
        const float *w = W + m;
        for (int k = 0; k < K; k++, w += ld) {
            f32x4 xk = F32x4_LOAD_SPLAT(x + k);
            c0 = F32x4_FMA(c0, xk, F32x4_LOAD(w));
            c1 = F32x4_FMA(c1, xk, F32x4_LOAD(w + 4));
            c2 = F32x4_FMA(c2, xk, F32x4_LOAD(w + 8));
            c3 = F32x4_FMA(c3, xk, F32x4_LOAD(w + 12));
        }
        F32x4_STORE(y + m, c0);
        F32x4_STORE(y + m + 4, c1);
        F32x4_STORE(y + m + 8, c2);
        F32x4_STORE(y + m + 12, c3);
    }
    for (; m + 4 <= M; m += 4) {
        f32x4 c0 = F32x4_ZERO();
        for (int k = 0; k < K; k++) c0 = F32x4_FMA(c0, F32x4_LOAD_SPLAT(x + k), F32x4_LOAD(W + (size_t)k * ld + m));
        F32x4_STORE(y + m, c0);
    }
    for (; m < M; m++) {
        float c = 0.0f;
        for (int k = 0; k < K; k++) c += x[k] * W[(size_t)k * ld + m];
        y[m] = c;
    }
}

/* The maximum and the exponentials are the reference's; only their sum changes order. */
void op_softmax_wasm(float *a, int n) {
    int j = 0;
    f32x4 vm = F32x4_SPLAT(a[0]);
    for (; j + 4 <= n; j += 4) vm = F32x4_MAX(vm, F32x4_LOAD(a + j));
    float mx = f32x4_hmax(vm);
    for (; j < n; j++) mx = a[j] > mx ? a[j] : mx;
    f32x4 vs = F32x4_ZERO(), m4 = F32x4_SPLAT(mx);
    for (j = 0; j + 4 <= n; j += 4) {
        f32x4 e = f32x4_expf(F32x4_SUB(F32x4_LOAD(a + j), m4));
        F32x4_STORE(a + j, e);
        vs = F32x4_ADD(vs, e);
    }
    float sum = f32x4_hsum(vs);
    for (; j < n; j++) sum += (a[j] = op_expf(a[j] - mx));
    float inv = 1.0f / sum;
    f32x4 vi = F32x4_SPLAT(inv);
    for (j = 0; j + 4 <= n; j += 4) F32x4_STORE(a + j, F32x4_MUL(F32x4_LOAD(a + j), vi));
    for (; j < n; j++) a[j] *= inv;
}

void op_sigmoid_wasm(float *x, int n) {
    int j = 0;
    for (; j + 4 <= n; j += 4) F32x4_STORE(x + j, f32x4_sigmoidf(F32x4_LOAD(x + j)));
    for (; j < n; j++) x[j] = op_sigmoidf(x[j]);
}

/* x * op_gelu_gate(x), lane for lane in op_gelu_gate's order */
void gelu_forward_wasm(float *out, const float *inp, size_t n) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        f32x4 x = F32x4_LOAD(inp + i);
        f32x4 u = F32x4_ADD(x, F32x4_MUL(F32x4_MUL(F32x4_MUL(F32x4_SPLAT(0.044715f), x), x), x));
        F32x4_STORE(out + i, F32x4_MUL(x, f32x4_sigmoidf(F32x4_MUL(F32x4_SPLAT(2.0f * GELU_K), u))));
    }
    for (; i < n; i++) out[i] = inp[i] * op_gelu_gate(inp[i]);
}

/* Four keys j-3..j at a time: their suffix sums of g in-register (another summation order than
 * the sequential loop, so p differs in the last bits), interpolation with the z entries gathered
 * lane by lane; the last keys as the reference does them. */
void cope_interp_wasm(const cope_interp_args *x) {
    const float *g = x->g, *z = x->z, cap = x->cap;
    float *p = x->p, *a = x->a, *c_out = x->c_out, *P_out = x->P_out;
    float acc = 0.0f;
    int j = x->i;
    const f32x4 vcap = F32x4_SPLAT(cap), zero = F32x4_ZERO();
    for (; j >= 3; j -= 4) {
        f32x4 v = F32x4_LOAD(g + j - 3);
        v = F32x4_ADD(v, wasm_i32x4_shuffle(v, zero, 1, 2, 3, 4)); /* + next lane */
        v = F32x4_ADD(v, wasm_i32x4_shuffle(v, zero, 2, 3, 4, 5)); /* + two lanes on */
        v = F32x4_ADD(v, F32x4_SPLAT(acc));
        acc = F32x4_GET(v, 0);
        f32x4 pj = wasm_f32x4_pmin(vcap, v); /* v < cap ? v : cap */
        f32x4 fl = wasm_f32x4_floor(pj), ce = wasm_f32x4_ceil(pj);
        v128_t fi = wasm_i32x4_trunc_sat_f32x4(fl), ci = wasm_i32x4_trunc_sat_f32x4(ce);
        f32x4 zf = wasm_f32x4_make(z[wasm_i32x4_extract_lane(fi, 0)], z[wasm_i32x4_extract_lane(fi, 1)],
                                   z[wasm_i32x4_extract_lane(fi, 2)], z[wasm_i32x4_extract_lane(fi, 3)]);
        f32x4 zc = wasm_f32x4_make(z[wasm_i32x4_extract_lane(ci, 0)], z[wasm_i32x4_extract_lane(ci, 1)],
                                   z[wasm_i32x4_extract_lane(ci, 2)], z[wasm_i32x4_extract_lane(ci, 3)]);
        f32x4 c = F32x4_FMA(zf, F32x4_SUB(pj, fl), F32x4_SUB(zc, zf));
        F32x4_STORE(p + j - 3, pj);
        F32x4_STORE(a + j - 3, F32x4_ADD(F32x4_LOAD(a + j - 3), c));
        if (c_out) F32x4_STORE(c_out + j - 3, c);
        if (P_out) F32x4_STORE(P_out + j - 3, F32x4_ADD(F32x4_LOAD(P_out + j - 3), c));
    }
    cope_interp_from(x, j, acc);
}
#endif
