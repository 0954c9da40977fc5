/* ops.c — layer kernels, forward/backward pairs: the portable reference. Scalar C written so that
 * GCC/Clang vectorize the inner loops (fixed-width register tiles, axpy forms); reductions use
 * `omp simd reduction` (enabled by -fopenmp-simd) instead of -ffast-math, so NaN checks and results
 * stay portable. OpenMP threads (optional, -fopenmp) split work so that no two threads write the
 * same output: threaded results equal single-threaded ones bit for bit.
 * Kernels with an instruction-set version choose it in one place each: the vector kernels of ops.h
 * call their WebAssembly SIMD128 version (ops_wasm.c) in a -msimd128 build, the GEMM and CoPE's
 * interpolation choose at run time (gemm_best, cope_interp). Every other build runs this file. */
#include "ops.h"

#include <math.h>
#include <string.h>

float op_dot(const float *a, const float *b, int n) {
#if defined(__wasm_simd128__)
    return op_dot_wasm(a, b, n);
#else
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
#endif
}

void op_axpy(float *y, float a, const float *x, int n) {
#if defined(__wasm_simd128__)
    op_axpy_wasm(y, a, x, n);
#else
    for (int i = 0; i < n; i++) y[i] += a * x[i];
#endif
}

/* ---------------------------------------------------------------------------------------------
 * GEMM (gemm.h): the portable reference, the dispatch and the thread split.
 * The reference keeps the vector kernels' order (k in blocks of GEMM_KC, in order within a block,
 * then added to out) in plain C: a register tile of 4 rows x 16 columns whose column loops
 * compilers vectorize for whatever the target has. Rows past the end repeat the last row and are
 * never stored. */
#define PT_MR 4
#define PT_NR 16

void gemm_portable(const gemm_args *g, int r0, int r1) {
    const int K = g->K;
    const size_t aks = g->aks, ldb = g->ldb, ldo = g->ldo;
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int kn = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        const int add = g->acc || k0 > 0;
        for (int n0 = r0; n0 < r1; n0 += PT_MR) {
            const int nr = r1 - n0 < PT_MR ? r1 - n0 : PT_MR;
            const float *a[PT_MR];
            for (int r = 0; r < PT_MR; r++) a[r] = g->A + (size_t)(n0 + (r < nr ? r : nr - 1)) * g->ars;
            int kb, ke, M;
            gemm_tile_range(g, k0, kn, n0, nr, &kb, &ke, &M);
            if (kb == ke && add) continue;
            int m0 = 0;
            for (; m0 + PT_NR <= M; m0 += PT_NR) {
                float c[PT_MR][PT_NR];
                memset(c, 0, sizeof c);
                for (int k = kb; k < ke; k++) {
                    const float *b = g->B + (size_t)k * ldb + m0;
                    float x0 = a[0][k * aks], x1 = a[1][k * aks], x2 = a[2][k * aks], x3 = a[3][k * aks];
                    for (int t = 0; t < PT_NR; t++) {
                        c[0][t] += x0 * b[t];
                        c[1][t] += x1 * b[t];
                        c[2][t] += x2 * b[t];
                        c[3][t] += x3 * b[t];
                    }
                }
                for (int r = 0; r < nr; r++) {
                    float *o = g->out + (size_t)(n0 + r) * ldo + m0;
                    for (int t = 0; t < PT_NR; t++) o[t] = add ? o[t] + c[r][t] : c[r][t];
                }
            }
            for (; m0 < M; m0++) /* leftover columns */
                for (int r = 0; r < nr; r++) {
                    float s = 0.0f;
                    for (int k = kb; k < ke; k++) s += a[r][k * aks] * g->B[(size_t)k * ldb + m0];
                    float *o = g->out + (size_t)(n0 + r) * ldo + m0;
                    *o = add ? *o + s : s;
                }
        }
    }
}

gemm_kernel gemm_best(void) {
#if defined(__wasm_simd128__)
    return gemm_wasm;
#elif (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) return gemm_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return gemm_avx2;
#endif
    return gemm_portable;
}

const char *gemm_best_name(void) {
    gemm_kernel k = gemm_best();
#if defined(__wasm_simd128__)
    if (k == gemm_wasm) return "wasm-simd128";
#elif defined(__x86_64__) || defined(__i386__)
    if (k == gemm_avx512) return "avx512";
    if (k == gemm_avx2) return "avx2";
#endif
    return k == gemm_portable ? "portable" : "?";
}

/* Rows go to threads in chunks of GEMM_CHUNK (a multiple of every kernel's MR), the same chunks
 * whatever the thread count, so results do not depend on it. */
#define GEMM_CHUNK 16

static void op_gemm(const gemm_args *g) {
    gemm_kernel kernel = gemm_best();
    int chunks = (g->N + GEMM_CHUNK - 1) / GEMM_CHUNK;
#pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < chunks; c++) {
        int r0 = c * GEMM_CHUNK, r1 = r0 + GEMM_CHUNK < g->N ? r0 + GEMM_CHUNK : g->N;
        kernel(g, r0, r1);
    }
}

void op_transpose(float *dst, const float *src, int R, int C) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) dst[(size_t)c * R + r] = src[(size_t)r * C + c];
}

void op_gemm_call(int par, float *out, size_t ldo, const float *A, size_t ars, size_t aks, const float *B, size_t ldb,
                  int N, int K, int M, int acc, int tri) {
    gemm_args g = {.out = out,
                   .A = A,
                   .B = B,
                   .ldo = ldo,
                   .ars = ars,
                   .aks = aks,
                   .ldb = ldb,
                   .N = N,
                   .K = K,
                   .M = M,
                   .acc = acc,
                   .tri = tri};
    if (par)
        op_gemm(&g);
    else
        gemm_best()(&g, 0, N);
}

/* Elementwise and per-row ops split among threads only when there is enough work to pay for it;
 * each output is computed by one thread the same way, so results do not depend on the count. */
#define PAR_MIN 32768

/* ---------------------------------------------------------------------------------------------
 * Linear layer (PyTorch nn.Linear: y = x W^T + b, W [OC, C]) */
void op_matvec(float *out, const float *x, const float *w, const float *bias, int C, int OC) {
#if defined(__wasm_simd128__)
    op_matvec_wasm(out, x, w, bias, C, OC);
#else
    for (int o = 0; o < OC; o++) out[o] = (bias ? bias[o] : 0.0f) + op_dot(x, w + (size_t)o * C, C);
#endif
}

void matmul_forward(float *out, const float *inp, const float *w, const float *bias, float *scratch, int N, int C,
                    int OC) {
    if (N < 4) { /* a few rows (incremental decoding): dot products, no transpose */
        for (int n = 0; n < N; n++) op_matvec(out + (size_t)n * OC, inp + (size_t)n * C, w, bias, C, OC);
        return;
    }
    op_transpose(scratch, w, OC, C); /* [C, OC] */
    op_gemm_call(1, out, (size_t)OC, inp, (size_t)C, 1, scratch, (size_t)OC, N, C, OC, 0, GEMM_FULL);
    if (bias)
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * OC;
            for (int k = 0; k < OC; k++) o[k] += bias[k];
        }
}

void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp, const float *w, int N,
                     int C, int OC, int acc) {
    if (dinp)
        op_gemm_call(1, dinp, (size_t)C, dout, (size_t)OC, 1, w, (size_t)C, N, OC, C, acc, GEMM_FULL); /* dout @ w */
    /* dw[OC,C] += dout^T @ inp: A = dout read down its columns, no transpose */
    op_gemm_call(1, dw, (size_t)C, dout, 1, (size_t)OC, inp, (size_t)C, OC, N, C, 1, GEMM_FULL);
    if (!dbias) return;
    /* columns in blocks among threads, each summed over the rows in order */
    const int nb = (OC + 15) / 16;
#pragma omp parallel for schedule(static) if ((size_t)N * OC > PAR_MIN)
    for (int cb = 0; cb < nb; cb++) {
        const int c0 = cb * 16, nc = OC - c0 < 16 ? OC - c0 : 16;
        for (int n = 0; n < N; n++) op_axpy(dbias + c0, 1.0f, dout + (size_t)n * OC + c0, nc);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Embedding, residual, cross-entropy */
void encoder_forward(float *out, const int *ids, const float *wte, const float *wpe, int N, int T, int pos0, int D) {
    for (int n = 0; n < N; n++) {
        float *x = out + (size_t)n * D;
        memcpy(x, wte + (size_t)ids[n] * D, (size_t)D * sizeof(float));
        if (wpe) {
            const float *pe = wpe + (size_t)(pos0 + n % T) * D;
            for (int i = 0; i < D; i++) x[i] += pe[i];
        }
    }
}

void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *ids, int N, int T, int D) {
    for (int n = 0; n < N; n++) {
        const float *dx = dout + (size_t)n * D;
        op_axpy(dwte + (size_t)ids[n] * D, 1.0f, dx, D);
        if (dwpe) op_axpy(dwpe + (size_t)(n % T) * D, 1.0f, dx, D);
    }
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void crossentropy_forward(float *losses, float *probs, const float *logits, const int *targets, const float *mask,
                          int N, int V) {
#pragma omp parallel for schedule(static) if ((size_t)N * V > PAR_MIN)
    for (int n = 0; n < N; n++) {
        if (mask && mask[n] == 0.0f) continue;
        const float *lg = logits + (size_t)n * V;
        float *pr = probs + (size_t)n * V;
        float mx = lg[0];
        for (int v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        float s = 0.0f;
        for (int v = 0; v < V; v++) {
            pr[v] = expf(lg[v] - mx);
            s += pr[v];
        }
        for (int v = 0; v < V; v++) pr[v] = pr[v] / s;
        losses[n] = (logf(s) + mx) - lg[targets[n]];
    }
}

void crossentropy_backward(float *dlogits, const float *probs, const int *targets, const float *mask, float mask_sum,
                           int N, int V) {
#pragma omp parallel for schedule(static) if ((size_t)N * V > PAR_MIN)
    for (int n = 0; n < N; n++) {
        float *dl = dlogits + (size_t)n * V;
        float mk = (mask ? mask[n] : 1.0f) / mask_sum;
        if (mk == 0.0f) {
            memset(dl, 0, (size_t)V * sizeof(float));
            continue;
        }
        const float *pr = probs + (size_t)n * V;
        for (int v = 0; v < V; v++) dl[v] = pr[v] * mk;
        dl[targets[n]] -= mk;
    }
}

/* ---------------------------------------------------------------------------------------------
 * LayerNorm: y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + 1e-5), biased variance */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N,
                       int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m = 0.0f;
        for (int i = 0; i < C; i++) m += x[i];
        m /= (float)C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
        v /= (float)C;
        float s = 1.0f / sqrtf(v + 1e-5f);
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * s * w[i] + b[i];
        mean[n] = m;
        rstd[n] = s;
    }
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int N, int C) {
    /* dx row by row (threads split the rows); dw and db column by column, summed over the rows in
     * order (threads split the columns), so no sum depends on the thread count */
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s, dnorm = w[i] * dy[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s, dnorm = w[i] * dy[i];
            dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
    const int cb = 16, nblk = (C + cb - 1) / cb;
#pragma omp parallel for schedule(static) if ((size_t)N * C > PAR_MIN)
    for (int b = 0; b < nblk; b++) {
        const int i0 = b * cb, nc = C - i0 < cb ? C - i0 : cb;
        float sw[16] = {0}, sb[16] = {0}; /* in registers: dw and db may alias nothing, but the compiler cannot know */
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C + i0, *dy = dout + (size_t)n * C + i0;
            float m = mean[n], s = rstd[n];
            for (int i = 0; i < nc; i++) {
                sb[i] += dy[i];
                sw[i] += (x[i] - m) * s * dy[i];
            }
        }
        for (int i = 0; i < nc; i++) {
            db[i0 + i] += sb[i];
            dw[i0 + i] += sw[i];
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * GELU (tanh): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as
 * x sigmoid(2u) (op_gelu_gate in ops.h) so the loop vectorizes with op_expf. */
void gelu_forward(float *out, const float *inp, size_t n) {
#if defined(__wasm_simd128__)
    gelu_forward_wasm(out, inp, n);
#else
    /* In blocks: the gate first, then the product with x. Written as one expression, GCC
     * if-converts op_expf's clamps into a product of every x with the sigmoid at the clamp (a
     * subnormal constant), and subnormal arithmetic on every element made this 6x slower. */
    const size_t blk = 256, nb = (n + blk - 1) / blk;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * blk, hi = lo + blk < n ? lo + blk : n;
        for (size_t i = lo; i < hi; i++) out[i] = op_gelu_gate(inp[i]);
        for (size_t i = lo; i < hi; i++) out[i] *= inp[i];
    }
#endif
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + 0.044715f * x * x * x);
        float t = 2.0f * op_sigmoidf(2.0f * u) - 1.0f; /* tanh(u) */
        float sech2 = 1.0f - t * t;
        float grad = 0.5f * (1.0f + t) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = grad * dout[i];
    }
}

/* ---------------------------------------------------------------------------------------------
 * RoPE, rotate-half: (x[t], x[t+d/2]) -> (x[t] cos - x[t+d/2] sin, x[t+d/2] cos + x[t] sin) */
void rope_apply(float *x, int N, int T, int H, int d, size_t stride, const float *cs, int sign, int row0) {
    int half = d / 2;
    for (int n = 0; n < N; n++) {
        int pos = row0 + n % T;
        const float *c = cs + (size_t)pos * half * 2;
        float *row = x + (size_t)n * stride;
        for (int h = 0; h < H; h++) {
            float *v = row + (size_t)h * d;
            for (int t = 0; t < half; t++) {
                float co = c[2 * t], si = sign * c[2 * t + 1];
                float x1 = v[t], x2 = v[t + half];
                v[t] = x1 * co - x2 * si;
                v[t + half] = x2 * co + x1 * si;
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Attention row with CoPE (the paper's appendix listing; README.md "The model"), query i, keys
 * j <= i:
 *   s_ij = q_i.k_j / sqrt(d)      g_ij = sigmoid(q_i.kg_j / sqrt(d))
 *   p_ij = min(sum_{t=j..i} g_it, npos-1)     z_i[n] = q_i . e[n]
 *   c_ij = z[floor p] + (p - floor p)(z[ceil p] - z[floor p])
 *   rel: + q_i . r[min(i-j, R-1)] / sqrt(d)      a_ij = softmax_j(s + rel + c)     y_i = sum a v
 * Keys arrive transposed (Kt[t * ldk + j]) so that the scores of a row are axpy loops over j
 * that vectorize, instead of i+1 short dot products: op_vecmat, which also gives z, relz and
 * y = sum_j a_j v_j. */
void op_vecmat(float *y, const float *x, const float *W, size_t ld, int K, int M) {
#if defined(__wasm_simd128__)
    op_vecmat_wasm(y, x, W, ld, K, M);
#else
    memset(y, 0, (size_t)M * sizeof(float));
    for (int k = 0; k < K; k++) op_axpy(y, x[k], W + (size_t)k * ld, M);
#endif
}

void op_softmax(float *a, int n) {
#if defined(__wasm_simd128__)
    op_softmax_wasm(a, n);
#else
    float mx = a[0];
#pragma omp simd reduction(max : mx) /* exact in any order; from j = 0 so the vector loads stay aligned with the row */
    for (int j = 0; j < n; j++) mx = a[j] > mx ? a[j] : mx;
    float sum = 0.0f;
    for (int j = 0; j < n; j++) a[j] = op_expf(a[j] - mx);
#pragma omp simd reduction(+ : sum)  /* vector partial sums: the order differs from a plain loop */
    for (int j = 0; j < n; j++) sum += a[j];
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) a[j] *= inv;
#endif
}

void op_sigmoid(float *x, int n) {
#if defined(__wasm_simd128__)
    op_sigmoid_wasm(x, n);
#else
    for (int j = 0; j < n; j++) x[j] = op_sigmoidf(x[j]);
#endif
}

/* CoPE's positions and interpolated logits for keys j = i down to 0 (cope_interp_args in ops.h):
 * the portable reference, sequential suffix sums. */
void cope_interp_from(const cope_interp_args *x, int j, float acc) {
    const float *g = x->g, *z = x->z, cap = x->cap;
    float *p = x->p, *a = x->a, *c_out = x->c_out, *P_out = x->P_out;
    for (; j >= 0; j--) {
        acc += g[j];
        float pj = acc < cap ? acc : cap;
        p[j] = pj;
        int fl = (int)floorf(pj), ce = (int)ceilf(pj);
        float c = z[fl] + (pj - (float)fl) * (z[ce] - z[fl]);
        a[j] += c;
        if (c_out) c_out[j] = c;
        if (P_out) P_out[j] += c;
    }
}

void cope_interp_portable(const cope_interp_args *x) { cope_interp_from(x, x->i, 0.0f); }

/* The backward of cope_interp for one row (cope_interp_bwd_args in ops.h), keys j = 0 up to i.
 * c_j = z[fl](1-w) + z[ce] w with w = p_j - fl: dz[fl] gets dl_j (1-w) and dz[ce] dl_j w;
 * dp_j = dl_j (z[ce] - z[fl]) (0 at an integer p and past the clamp, where ceil == floor; floor
 * and ceil carry no gradient). p_j = sum_{t=j..i} g_t, so dg_t = sum_{j<=t} dp_j, then through the
 * sigmoid. The positions fall as j rises, so keys sharing a floor come in runs: each run's two
 * sums are kept in registers and added to dz once (correct for any order of floors; runs only
 * make it fast). */
void cope_interp_backward_portable(const cope_interp_bwd_args *x) {
    const float *dl = x->dl, *g = x->g, *p = x->p, *z = x->z;
    float *dz = x->dz, *dgl = x->dgl, acc = 0.0f, lo = 0.0f, hi = 0.0f;
    memset(dz, 0, (size_t)x->npos * sizeof(float));
    int run = -1;
    for (int j = 0; j <= x->i; j++) {
        float pj = p[j], dlj = dl[j];
        int fl = (int)floorf(pj), ce = (int)ceilf(pj);
        float w = pj - (float)fl;
        if (fl != run) {
            if (run >= 0) cope_dz_flush(dz, x->npos, run, lo, hi);
            run = fl, lo = hi = 0.0f;
        }
        lo += dlj * (1.0f - w);
        hi += dlj * w;
        acc += dlj * (z[ce] - z[fl]);
        dgl[j] = acc * g[j] * (1.0f - g[j]) * x->scale;
    }
    if (run >= 0) cope_dz_flush(dz, x->npos, run, lo, hi);
}

/* The kernel this build and CPU run best */
static void cope_interp(const cope_interp_args *x) {
#if defined(__wasm_simd128__)
    cope_interp_wasm(x);
#elif (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f"))
        cope_interp_avx512(x);
    else
        cope_interp_portable(x);
#else
    cope_interp_portable(x);
#endif
}

static void cope_interp_backward(const cope_interp_bwd_args *x) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) {
        cope_interp_backward_avx512(x);
        return;
    }
#endif
    cope_interp_backward_portable(x); /* wasm: no vector version yet */
}

/* The rest of a row once its dot products are known: on entry a[0..i] holds q.k_j, with sep keys
 * g[0..i] holds q.kg_j, z (CoPE) q.e[:, n] and relz (rel) q.r[:, m], all unscaled. Leaves the
 * probabilities in a[0..i], the gates and positions in g and p, and fills the optional trace
 * rows. */
static void attn_row_finish(const attn_dims *dm, int i, float *a, float *g, float *p, const float *z, const float *relz,
                            const float *gforce, float *s_out, float *c_out, float *P_out) {
    const int R = dm->rel_max, n = i + 1;
    for (int j = 0; j < n; j++) a[j] *= dm->scale;
    if (s_out) memcpy(s_out, a, (size_t)n * sizeof(float));
    if (P_out) memset(P_out, 0, (size_t)n * sizeof(float));
    if (dm->has_cope) {
        if (dm->sep_keys)
            for (int j = 0; j < n; j++) g[j] *= dm->scale;
        else
            memcpy(g, a, (size_t)n * sizeof(float));
        op_sigmoid(g, n);
        if (gforce) /* interventions: this key does (1) or does not (0) count, whatever q and k say */
            for (int j = 0; j < n; j++)
                if (gforce[j] == gforce[j]) g[j] = gforce[j];
    }
    if (dm->has_rel) {
        for (int j = 0; j < n; j++) {
            float P = relz[i - j < R - 1 ? i - j : R - 1] * dm->scale;
            a[j] += P;
            if (P_out) P_out[j] = P;
        }
    }
    if (dm->has_cope) {
        cope_interp_args ci = {
            .i = i, .g = g, .z = z, .cap = (float)(dm->npos - 1), .p = p, .a = a, .c_out = c_out, .P_out = P_out};
        cope_interp(&ci);
    }
    op_softmax(a, n);
}

void attn_row_forward(const attn_dims *dm, int i, const attn_row_fwd *x) {
    const int d = dm->d, n = i + 1;
    op_vecmat(x->a, x->q, x->Kt, x->ldk, d, n); /* q . k_j, the keys transposed */
    if (dm->has_cope && dm->sep_keys) op_vecmat(x->g, x->q, x->Kgt, x->ldk, d, n);
    if (dm->has_rel) op_vecmat(x->relz, x->q, x->r, (size_t)dm->rel_max, d, dm->rel_max); /* q . r[:, m] */
    if (dm->has_cope) op_vecmat(x->z, x->q, x->e, (size_t)dm->npos, d, dm->npos);         /* q . e[:, n] */
    attn_row_finish(dm, i, x->a, x->g, x->p, x->z, x->relz, x->gforce, x->s_out, x->c_out, x->P_out);
    op_vecmat(x->y, x->a, x->V, x->ldv, n, d); /* sum_j a_j v_j */
}

void attn_head_forward(const attn_dims *dm, const attn_head_fwd *x) {
    const int T = x->T, d = dm->d, np = dm->npos, R = dm->rel_max;
    const size_t ld = x->ld, TT = (size_t)T;
    op_gemm_call(0, x->att, TT, x->Q, ld, 1, x->Kt, TT, T, d, T, 0, GEMM_OUT_LOWER); /* q_i . k_j for every pair */
    if (dm->has_cope && dm->sep_keys) op_gemm_call(0, x->gate, TT, x->Q, ld, 1, x->Kgt, TT, T, d, T, 0, GEMM_OUT_LOWER);
    if (dm->has_cope) op_gemm_call(0, x->z, (size_t)np, x->Q, ld, 1, x->e, (size_t)np, T, d, np, 0, GEMM_FULL);
    if (dm->has_rel) op_gemm_call(0, x->relz, (size_t)R, x->Q, ld, 1, x->r, (size_t)R, T, d, R, 0, GEMM_FULL);
    for (int i = 0; i < T; i++) {
        size_t row = (size_t)i * TT;
        float *a = x->att + row;
        attn_row_finish(dm, i, a, dm->has_cope ? x->gate + row : NULL, dm->has_cope ? x->pos + row : NULL,
                        dm->has_cope ? x->z + (size_t)i * np : NULL, dm->has_rel ? x->relz + (size_t)i * R : NULL,
                        dm->has_cope ? x->gforce : NULL, x->S_out ? x->S_out + row : NULL,
                        x->C_out ? x->C_out + row : NULL, x->P_out ? x->P_out + row : NULL);
        memset(a + i + 1, 0, (size_t)(T - i - 1) * sizeof(float)); /* the future: weight 0 */
    }
    op_gemm_call(0, x->Y, ld, x->att, TT, 1, x->V, ld, T, T, d, 0, GEMM_K_LOWER); /* y_i = sum_j a_ij v_j */
}

/* One row's backward. On entry kc[0..i] holds da_j = dy_i . v_j. On return kc[0..i] holds
 * d loss / d (q_i . k_j) (the content logit and, with shared keys, the gate) and kc[i+1..T) is 0;
 * with sep keys gc[0..T) likewise for q_i . kg_j. Writes dz and drelz (the gradients of z_i and
 * relz_i; the caller turns them into the query's and the tables' terms). scratch: ATTN_BWD_SCRATCH(T). */
static void attn_row_backward(const attn_dims *dm, int i, int T, const float *a, const float *g, const float *p,
                              const float *z, float *kc, float *gc, float *dz, float *drelz, float *scratch) {
    const int R = dm->rel_max, npos = dm->npos, n = i + 1;
    const float scale = dm->scale;
    float *dl = scratch; /* d loss / d logit_ij */
    /* softmax: dl_j = a_j (da_j - sum_j' a_j' da_j') */
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) sum += a[j] * kc[j];
    for (int j = 0; j < n; j++) {
        dl[j] = a[j] * (kc[j] - sum);
        kc[j] = dl[j] * scale;
    }
    memset(kc + n, 0, (size_t)(T - n) * sizeof(float));
    if (dm->has_rel) {
        memset(drelz, 0, (size_t)R * sizeof(float));
        for (int j = 0; j < n; j++) drelz[i - j < R - 1 ? i - j : R - 1] += dl[j] * scale;
    }
    if (!dm->has_cope) return;
    float *dp = dl; /* in place: d loss / d (q.kg_t) */
    cope_interp_bwd_args cb = {
        .i = i, .dl = dl, .g = g, .p = p, .z = z, .npos = npos, .scale = scale, .dz = dz, .dgl = dp, .work = dl + T};
    cope_interp_backward(&cb);
    if (dm->sep_keys) {
        memcpy(gc, dp, (size_t)n * sizeof(float));
        memset(gc + n, 0, (size_t)(T - n) * sizeof(float));
    } else {
        for (int t = 0; t < n; t++) kc[t] += dp[t];
    }
}

void attn_head_backward(const attn_dims *dm, const attn_head_bwd *x) {
    const int T = x->T, d = dm->d, np = dm->npos, R = dm->rel_max;
    const size_t ld = x->ld, TT = (size_t)T;
    float *kc = x->coef, *gc = x->coefg;
    op_gemm_call(0, kc, TT, x->dY, ld, 1, x->Vt, TT, T, d, T, 0, GEMM_OUT_LOWER); /* da_ij = dy_i . v_j */
    for (int i = 0; i < T; i++) {
        size_t row = (size_t)i * TT;
        attn_row_backward(dm, i, T, x->att + row, dm->has_cope ? x->gate + row : NULL,
                          dm->has_cope ? x->pos + row : NULL, dm->has_cope ? x->z + (size_t)i * np : NULL, kc + row,
                          gc ? gc + row : NULL, dm->has_cope ? x->dz + (size_t)i * np : NULL,
                          dm->has_rel ? x->drelz + (size_t)i * R : NULL, x->scratch);
    }
    /* each gradient's first product writes it (acc 0), the rest add */
    op_gemm_call(0, x->dV, ld, x->att, 1, TT, x->dY, ld, T, T, d, 0, GEMM_K_UPPER); /* dv_j = sum_i a_ij dy_i */
    op_gemm_call(0, x->dQ, ld, kc, TT, 1, x->K, ld, T, T, d, 0, GEMM_K_LOWER);      /* dq_i = sum_j kc_ij k_j */
    op_gemm_call(0, x->dK, ld, kc, 1, TT, x->Q, ld, T, T, d, 0, GEMM_K_UPPER);      /* dk_j = sum_i kc_ij q_i */
    if (dm->has_cope && dm->sep_keys) {
        op_gemm_call(0, x->dQ, ld, gc, TT, 1, x->Kg, ld, T, T, d, 1, GEMM_K_LOWER);
        op_gemm_call(0, x->dKg, ld, gc, 1, TT, x->Q, ld, T, T, d, 0, GEMM_K_UPPER);
    }
    /* the tables' terms: dq_i += sum_n dz_in e[:, n] (and the same for rel), the table transposed */
    if (dm->has_cope) {
        op_transpose(x->tab_t, x->e, d, np);
        op_gemm_call(0, x->dQ, ld, x->dz, (size_t)np, 1, x->tab_t, (size_t)d, T, np, d, 1, GEMM_FULL);
    }
    if (dm->has_rel) {
        op_transpose(x->tab_t, x->r, d, R);
        op_gemm_call(0, x->dQ, ld, x->drelz, (size_t)R, 1, x->tab_t, (size_t)d, T, R, d, 1, GEMM_FULL);
    }
}

/* Figure 4's attention from position alone, in place on the position-only logits P[0..i]:
 * exp(P_ij - max_j' P_ij'), so the row's maximum is 1. */
void pos_attn_row(float *P, int i) {
    float mx = P[0];
    for (int j = 1; j <= i; j++) mx = P[j] > mx ? P[j] : mx;
    for (int j = 0; j <= i; j++) P[j] = op_expf(P[j] - mx);
}
