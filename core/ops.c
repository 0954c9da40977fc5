/* ops.c — layer kernels, forward/backward pairs. Scalar C written so that GCC/Clang vectorize
 * the inner loops (fixed-width register tiles, axpy forms); reductions use `omp simd reduction`
 * (enabled by -fopenmp-simd) instead of -ffast-math, so NaN checks and results stay portable.
 * OpenMP threads (optional, -fopenmp) split work so that no two threads write the same output:
 * threaded results equal single-threaded ones bit for bit. */
#include "ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

float op_dot(const float *a, const float *b, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void op_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* exp(x) for float, written so loops over it vectorize (libm's expf does not): Cody-Waite range
 * reduction x = n ln2 + r and the Cephes degree-6 polynomial for exp(r); about 1 ulp on
 * [-87, 88]. Inputs are clamped to that range (exp(-87) ~ 1.6e-38 stands in for 0), so no NaN
 * reaches the integer conversion. */
static inline float op_expf(float x) {
    x = x > -87.0f ? x : -87.0f; /* also maps NaN to -87 */
    x = x < 88.0f ? x : 88.0f;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale = {((int32_t)n + 127) << 23};
    return p * scale.f;
}

static inline float op_sigmoidf(float x) { return 1.0f / (1.0f + op_expf(-x)); }

/* ---------------------------------------------------------------------------------------------
 * GEMM: out[N,M] (+)= A[N,K] @ B[K,M]. Register tile of 4 rows x 16 columns: per k, two vector
 * loads of B, four broadcasts of A, eight multiply-adds. Threads split the rows. */
#define TILE_N 4
#define TILE_M 16

#define TILE_K 128 /* rows of B per pass, so a block of B stays in L2 while all row tiles use it */

void op_gemm_nn(float *out, const float *A, const float *B, int N, int K, int M, int acc) {
    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        int k1 = K - k0 < TILE_K ? K : k0 + TILE_K;
        int add = acc || k0 > 0;
#pragma omp parallel for schedule(static)
        for (int n0 = 0; n0 < N; n0 += TILE_N) {
            int nr = N - n0 < TILE_N ? N - n0 : TILE_N;
            const float *a[TILE_N];
            for (int r = 0; r < TILE_N; r++) /* rows past N repeat the last row; never stored */
                a[r] = A + (size_t)(n0 + (r < nr ? r : nr - 1)) * K;
            int m0 = 0;
            for (; m0 + TILE_M <= M; m0 += TILE_M) {
                float c[TILE_N][TILE_M];
                memset(c, 0, sizeof c);
                for (int k = k0; k < k1; k++) {
                    const float *b = B + (size_t)k * M + m0;
                    float x0 = a[0][k], x1 = a[1][k], x2 = a[2][k], x3 = a[3][k];
                    for (int t = 0; t < TILE_M; t++) {
                        c[0][t] += x0 * b[t];
                        c[1][t] += x1 * b[t];
                        c[2][t] += x2 * b[t];
                        c[3][t] += x3 * b[t];
                    }
                }
                for (int r = 0; r < nr; r++) {
                    float *o = out + (size_t)(n0 + r) * M + m0;
                    if (add)
                        for (int t = 0; t < TILE_M; t++) o[t] += c[r][t];
                    else
                        for (int t = 0; t < TILE_M; t++) o[t] = c[r][t];
                }
            }
            for (; m0 < M; m0++) /* leftover columns */
                for (int r = 0; r < nr; r++) {
                    float s = 0.0f;
                    for (int k = k0; k < k1; k++) s += a[r][k] * B[(size_t)k * M + m0];
                    float *o = out + (size_t)(n0 + r) * M + m0;
                    *o = add ? *o + s : s;
                }
        }
    }
}

void op_transpose(float *dst, const float *src, int R, int C) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) dst[(size_t)c * R + r] = src[(size_t)r * C + c];
}

/* ---------------------------------------------------------------------------------------------
 * Linear layer (PyTorch nn.Linear: y = x W^T + b, W [OC, C]) */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                    float *scratch, int N, int C, int OC) {
    if (N < TILE_N) { /* a few rows (incremental decoding): dot products, no transpose */
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                out[(size_t)n * OC + o] =
                    (bias ? bias[o] : 0.0f) + op_dot(inp + (size_t)n * C, w + (size_t)o * C, C);
        return;
    }
    op_transpose(scratch, w, OC, C); /* [C, OC] */
    op_gemm_nn(out, inp, scratch, N, C, OC, 0);
    if (bias)
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * OC;
            for (int k = 0; k < OC; k++) o[k] += bias[k];
        }
}

void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, float *scratch, int N, int C, int OC) {
    if (dinp) op_gemm_nn(dinp, dout, w, N, OC, C, 1);  /* dinp[N,C] += dout[N,OC] @ w[OC,C] */
    op_transpose(scratch, dout, N, OC);                /* [OC, N] */
    op_gemm_nn(dw, scratch, inp, OC, N, C, 1);         /* dw[OC,C] += dout^T @ inp */
    if (dbias)
        for (int n = 0; n < N; n++) op_axpy(dbias, 1.0f, dout + (size_t)n * OC, OC);
}

/* ---------------------------------------------------------------------------------------------
 * LayerNorm: y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + 1e-5), biased variance */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C) {
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

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
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
            db[i] += dy[i];
            dw[i] += norm * dy[i];
            dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * GELU (tanh): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). Uses the identity
 * 0.5 (1 + tanh(u)) = sigmoid(2u), so the loop vectorizes with op_expf. */
#define GELU_K 0.7978845608028654f

void gelu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = x * op_sigmoidf(2.0f * GELU_K * (x + 0.044715f * x * x * x));
    }
}

void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + 0.044715f * x * x * x);
        float t = 2.0f * op_sigmoidf(2.0f * u) - 1.0f; /* tanh(u) */
        float sech2 = 1.0f - t * t;
        float grad = 0.5f * (1.0f + t) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += grad * dout[i];
    }
}

/* ---------------------------------------------------------------------------------------------
 * RoPE, rotate-half: (x[t], x[t+d/2]) -> (x[t] cos - x[t+d/2] sin, x[t+d/2] cos + x[t] sin) */
void rope_apply(float *x, int N, int T, int H, int d, size_t stride, const float *cs, int sign,
                int row0) {
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
 * Attention row with CoPE (cope-paper.md §2), query i, keys j <= i:
 *   s_ij = q_i.k_j / sqrt(d)      g_ij = sigmoid(q_i.kg_j / sqrt(d))
 *   p_ij = min(sum_{t=j..i} g_it, npos-1)     z_i[n] = q_i . e[n]
 *   c_ij = z[floor p] + (p - floor p)(z[ceil p] - z[floor p])
 *   rel: + q_i . r[min(i-j, R-1)] / sqrt(d)      a_ij = softmax_j(s + rel + c)     y_i = sum a v
 * Keys arrive transposed (Kt[t * ldk + j]) so that the scores of a row are axpy loops over j
 * that vectorize, instead of i+1 short dot products. */

/* out[0..n) = scale * sum_t q[t] Xt[t * ld + 0..n) */
static void scores_row(float *out, const float *q, const float *Xt, size_t ld, int d, int n, float scale) {
    memset(out, 0, (size_t)n * sizeof(float));
    for (int t = 0; t < d; t++) op_axpy(out, q[t], Xt + (size_t)t * ld, n);
    for (int j = 0; j < n; j++) out[j] *= scale;
}

/* z[n] = sum_t q[t] tab[t, n] for a table [d, n_cols] */
static void table_project(float *z, const float *q, const float *tab, int d, int n_cols) {
    memset(z, 0, (size_t)n_cols * sizeof(float));
    for (int t = 0; t < d; t++) op_axpy(z, q[t], tab + (size_t)t * n_cols, n_cols);
}

void attn_row_forward(const attn_dims *dm, int i, const float *q, const float *Kt, const float *Kgt,
                      size_t ldk, const float *V, size_t ldv, const float *e, const float *r, float *a,
                      float *g, float *p, float *z, float *relz, float *y, float *s_out,
                      float *c_out, float *P_out) {
    const int d = dm->d, R = dm->rel_max, n = i + 1;
    scores_row(a, q, Kt, ldk, d, n, dm->scale);
    if (s_out) memcpy(s_out, a, (size_t)n * sizeof(float));
    if (P_out) memset(P_out, 0, (size_t)n * sizeof(float));
    if (dm->has_cope) {
        if (dm->sep_keys) scores_row(g, q, Kgt, ldk, d, n, dm->scale);
        else memcpy(g, a, (size_t)n * sizeof(float));
        for (int j = 0; j < n; j++) g[j] = op_sigmoidf(g[j]);
    }
    if (dm->has_rel) {
        table_project(relz, q, r, d, R);
        for (int j = 0; j < n; j++) {
            float P = relz[i - j < R - 1 ? i - j : R - 1] * dm->scale;
            a[j] += P;
            if (P_out) P_out[j] = P;
        }
    }
    if (dm->has_cope) {
        table_project(z, q, e, d, dm->npos);
        const float cap = (float)(dm->npos - 1);
        float acc = 0.0f;
        for (int j = i; j >= 0; j--) {
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
    float mx = a[0];
    for (int j = 1; j < n; j++) mx = a[j] > mx ? a[j] : mx;
    float sum = 0.0f;
    for (int j = 0; j < n; j++) a[j] = op_expf(a[j] - mx);
    for (int j = 0; j < n; j++) sum += a[j];
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) a[j] *= inv;
    memset(y, 0, (size_t)d * sizeof(float));
    for (int j = 0; j < n; j++) op_axpy(y, a[j], V + (size_t)j * ldv, d);
}

void attn_row_backward(const attn_dims *dm, int i, const float *q, const float *K, const float *Kg,
                       size_t ldk, const float *Vt, size_t ldvt, const float *e, const float *r,
                       const float *a, const float *g, const float *p, const float *z,
                       const float *dy, float *dq, float *dK, float *dKg, float *dV, float *dz,
                       float *drelz, float *scratch) {
    const int d = dm->d, R = dm->rel_max, npos = dm->npos, n = i + 1;
    const float scale = dm->scale;
    float *dl = scratch;          /* d loss / d logit_ij */
    float *dk_coef = scratch + n; /* coefficient of q_i on k_j (content + shared gates) */
    /* y = sum_j a_j v_j: da_j = dy . v_j, dv_j += a_j dy;  softmax: dl_j = a_j (da_j - sum a da) */
    scores_row(dl, dy, Vt, ldvt, d, n, 1.0f);
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        sum += a[j] * dl[j];
        op_axpy(dV + (size_t)j * ldk, a[j], dy, d);
    }
    for (int j = 0; j < n; j++) {
        dl[j] = a[j] * (dl[j] - sum);
        dk_coef[j] = dl[j] * scale;
    }
    if (dm->has_rel) {
        memset(drelz, 0, (size_t)R * sizeof(float));
        for (int j = 0; j < n; j++) drelz[i - j < R - 1 ? i - j : R - 1] += dl[j] * scale;
        for (int t = 0; t < d; t++) dq[t] += op_dot(drelz, r + (size_t)t * R, R);
    }
    if (dm->has_cope) {
        /* c = z[fl](1-w) + z[ce] w: dz gets dl(1-w) and dl w; dp = dl (z[ce]-z[fl]) (0 at an
         * integer p and past the clamp, where ceil == floor). floor/ceil carry no gradient. */
        memset(dz, 0, (size_t)npos * sizeof(float));
        float *dp = dl; /* dl[j] is consumed here; dk_coef keeps the content part */
        for (int j = 0; j < n; j++) {
            int fl = (int)floorf(p[j]), ce = (int)ceilf(p[j]);
            float w = p[j] - (float)fl, dlj = dl[j];
            dz[fl] += dlj * (1.0f - w);
            dz[ce] += dlj * w;
            dp[j] = dlj * (z[ce] - z[fl]);
        }
        for (int t = 0; t < d; t++) dq[t] += op_dot(dz, e + (size_t)t * npos, npos);
        /* p_ij = sum_{t=j..i} g_it  =>  dg_it = sum_{j<=t} dp_ij; then through the sigmoid */
        float acc = 0.0f;
        for (int t = 0; t < n; t++) {
            acc += dp[t];
            dp[t] = acc * g[t] * (1.0f - g[t]) * scale; /* d loss / d (q.kg_t) */
        }
        if (dm->sep_keys) {
            for (int t = 0; t < n; t++) {
                op_axpy(dq, dp[t], Kg + (size_t)t * ldk, d);
                op_axpy(dKg + (size_t)t * ldk, dp[t], q, d);
            }
        } else {
            for (int t = 0; t < n; t++) dk_coef[t] += dp[t];
        }
    }
    for (int j = 0; j < n; j++) {
        op_axpy(dq, dk_coef[j], K + (size_t)j * ldk, d);
        op_axpy(dK + (size_t)j * ldk, dk_coef[j], q, d);
    }
}
