/* ops.h — internal: the layer kernels as forward/backward pairs over flat float buffers
 * (llm.c style: outputs first, sizes last; backward accumulates into d* buffers). */
#ifndef COPE_OPS_H
#define COPE_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "gemm.h"

/* ---------------------------------------------------------------------------------------------
 * Scalar helpers shared by the portable reference (ops.c) and the vector kernels' leftover
 * elements (ops_wasm.c): one definition, so both round the same way. */

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
    union {
        int32_t i;
        float f;
    } scale = {((int32_t)n + 127) << 23};
    return p * scale.f;
}

static inline float op_sigmoidf(float x) { return 1.0f / (1.0f + op_expf(-x)); }

/* GELU (tanh) is x * op_gelu_gate(x): 0.5 (1 + tanh(u)) = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3),
 * which vectorizes through op_expf where tanhf does not. */
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
static inline float op_gelu_gate(float x) { return op_sigmoidf(2.0f * GELU_K * (x + 0.044715f * x * x * x)); }

/* ---------------------------------------------------------------------------------------------
 * Vector kernels: each op_* here is the portable reference (ops.c) and the one place that chooses
 * its kernel: a -msimd128 build calls the op_*_wasm version (ops_wasm.c) instead, which takes the
 * same arguments and gives the same bits where it keeps the reference's order of operations
 * ("exact" below), else the same sum in another order. tests/test_simd128.c checks each pair on
 * every tail. The _wasm kernels exist only where core/simd.h defines COPE_SIMD128: -msimd128
 * builds, and that test, which runs them on an emulation of the intrinsics. */

/* sum_i a[i] b[i]; wasm: two 4-lane partial sums, then the leftovers */
float op_dot(const float *a, const float *b, int n);
float op_dot_wasm(const float *a, const float *b, int n);
/* y[n] += a x[n]; wasm: exact */
void op_axpy(float *y, float a, const float *x, int n);
void op_axpy_wasm(float *y, float a, const float *x, int n);
/* out[OC] = w[OC, C] x[C] (+ bias[OC], may be NULL): dot products of the rows of w;
 * wasm: four rows at a time, each row's sum in another order */
void op_matvec(float *out, const float *x, const float *w, const float *bias, int C, int OC);
void op_matvec_wasm(float *out, const float *x, const float *w, const float *bias, int C, int OC);
/* y[M] = x[K] W[K, M], W's rows of stride ld: sum_k x[k] W[k * ld + 0..M), k in order;
 * wasm: exact (16, then 4, then 1 entries of y in registers across all k) */
void op_vecmat(float *y, const float *x, const float *W, size_t ld, int K, int M);
void op_vecmat_wasm(float *y, const float *x, const float *W, size_t ld, int K, int M);
/* a[n] = softmax(a[n]) in place; wasm: only the sum of the exponentials changes order */
void op_softmax(float *a, int n);
void op_softmax_wasm(float *a, int n);
/* x[n] = sigmoid(x[n]) in place (op_sigmoidf); wasm: exact */
void op_sigmoid(float *x, int n);
void op_sigmoid_wasm(float *x, int n);

/* The matrix product of gemm.h, out (+)= A·B, with the kernel this CPU runs best: rows split among
 * threads in fixed chunks (par), or all run by the calling thread (per-head products in attention,
 * whose heads already run on separate threads). */
void op_gemm_call(int par, float *out, size_t ldo, const float *A, size_t ars, size_t aks, const float *B, size_t ldb,
                  int N, int K, int M, int acc, int tri);
/* dst[C,R] = src[R,C]^T */
void op_transpose(float *dst, const float *src, int R, int C);

/* out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC] (bias may be NULL). scratch: C*OC floats (w
 * transposed; unused when N < 4, where rows are dot products: incremental decoding). */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias, float *scratch, int N, int C,
                    int OC);
/* dinp[N,C] = dout @ w, or += with acc (dinp may be NULL); dw[OC,C] += dout^T @ inp;
 * dbias[OC] += sum_n dout (dbias may be NULL). Writing dinp saves zeroing it first. */
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp, const float *w, int N,
                     int C, int OC, int acc);

/* LayerNorm, eps 1e-5: out[N,C], mean[N], rstd[N] */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N,
                       int C);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int N, int C);

/* GELU, tanh approximation (PyTorch approximate='tanh'): out[n] = inp * op_gelu_gate(inp);
 * wasm (forward): exact */
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_forward_wasm(float *out, const float *inp, size_t n);
/* dinp[i] = gelu'(inp[i]) dout[i] (written, not accumulated: its one caller has a fresh buffer) */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* RoPE, rotate-half, in place on x[N rows of stride `stride`], token index of row n is
 * row0 + n % T; H heads of dim d starting at column 0. cs: [n_ctx, d/2, 2] cos/sin.
 * sign = +1 rotates by +theta (forward), -1 by -theta (the transpose, used by backward). */
void rope_apply(float *x, int N, int T, int H, int d, size_t stride, const float *cs, int sign, int row0);

/* Token embedding (+ learned position embedding when wpe is non-NULL): out[N, D] with
 * out[n] = wte[ids[n]] + wpe[pos0 + n % T]. */
void encoder_forward(float *out, const int *ids, const float *wte, const float *wpe, int N, int T, int pos0, int D);
/* dwte[ids[n]] += dout[n]; dwpe[n % T] += dout[n] (dwpe may be NULL). */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *ids, int N, int T, int D);

/* Residual connection: out[n] = a[n] + b[n] (out may be a). Its backward is the identity on both
 * inputs, which the model's backward gets by accumulating into one d-residual buffer. */
void residual_forward(float *out, const float *a, const float *b, size_t n);

/* Softmax cross-entropy, computed once in float and shared by forward and backward: for rows
 * with mask[n] != 0 (mask NULL: every row), probs[n] = softmax(logits[n]) and
 * losses[n] = log(sum_v exp(logits[n,v] - max)) + max - logits[n, targets[n]].
 * Rows with mask 0 are not touched. */
void crossentropy_forward(float *losses, float *probs, const float *logits, const int *targets, const float *mask,
                          int N, int V);
/* dlogits[n] = (probs[n] - onehot(targets[n])) * mask[n] / mask_sum (written, not accumulated). */
void crossentropy_backward(float *dlogits, const float *probs, const int *targets, const float *mask, float mask_sum,
                           int N, int V);

/* CoPE's positions and interpolated logits of one row, keys j = i down to 0:
 *   p_j = min(sum_{t=j..i} g_t, cap),  c_j = z[floor p_j] + (p_j - floor p_j)(z[ceil p_j] - z[floor p_j]),
 *   a_j += c_j; c_out_j = c_j and P_out_j += c_j when given.
 * The portable reference (ops.c), the AVX-512 kernel (attn_avx512.c, chosen at run time) and the
 * WebAssembly SIMD128 one (ops_wasm.c, in -msimd128 builds). The kernels sum 16 or 4 keys at a
 * time, so p differs from the reference in the last bits. */
typedef struct {
    int i;
    const float *g, *z;   /* [i+1] gates, [npos] z */
    float cap;            /* npos - 1 */
    float *p, *a;         /* out [i+1] positions; [i+1] logits, added to */
    float *c_out, *P_out; /* optional [i+1] */
} cope_interp_args;
void cope_interp_portable(const cope_interp_args *x);
/* The reference's loop from key j down to 0, acc being the sum of the gates after j: where the
 * wasm kernel hands over its last keys (the AVX-512 one masks its last block). */
void cope_interp_from(const cope_interp_args *x, int j, float acc);
#if defined(__x86_64__) || defined(__i386__)
void cope_interp_avx512(const cope_interp_args *x);
#endif
void cope_interp_wasm(const cope_interp_args *x);

/* The backward of cope_interp for one row, keys j = 0..i, given dl_j = d loss / d logit_j:
 *   dz[n] = sum_j dl_j max(0, 1 - |p_j - n|)   (dz [npos] is written, not accumulated)
 *   dgl_t = scale g_t (1 - g_t) sum_{j<=t} dl_j (z[ceil p_j] - z[floor p_j])   (d loss / d (q.kg_t))
 * dgl may be dl (in place). The portable reference (ops.c) and the AVX-512 kernel (attn_avx512.c),
 * chosen at run time; the kernel sums in another order, so results differ in the last bits. */
typedef struct {
    int i;
    const float *dl, *g, *p, *z; /* [i+1] logit gradients, gates, positions; [npos] z */
    int npos;
    float scale;
    float *dz, *dgl; /* out [npos], [i+1] */
    float *work;     /* scratch: COPE_BWD_WORK(i+1) floats (vector kernels) */
} cope_interp_bwd_args;
#define COPE_BWD_WORK(n) (4 * ((size_t)(n) + 16))
void cope_interp_backward_portable(const cope_interp_bwd_args *x);
/* One run of keys whose positions share the floor fl: lo = sum dl (1-w) and hi = sum dl w. */
static inline void cope_dz_flush(float *dz, int npos, int fl, float lo, float hi) {
    dz[fl] += lo;
    if (fl + 1 < npos) dz[fl + 1] += hi; /* fl = npos-1 only at the clamp, where w = 0 */
}
#if defined(__x86_64__) || defined(__i386__)
void cope_interp_backward_avx512(const cope_interp_bwd_args *x);
#endif

/* One attention row: query i against keys j = 0..i of one head, as the paper's appendix code
 * listing computes it (the formulas are in README.md, "The model"). */
typedef struct {
    int d, npos, rel_max;
    int has_cope, has_rel, sep_keys;
    float scale; /* 1/sqrt(d) */
} attn_dims;

/* Forward of one row (incremental decoding: one new query against the cached keys): inputs,
 * outputs (written for j = 0..i) and scratch. */
typedef struct {
    const float *q;        /* [d] the query */
    const float *Kt, *Kgt; /* this head's keys transposed, Kt[t * ldk + j]; Kgt: sep keys only */
    size_t ldk;
    const float *V; /* value rows V[j * ldv + t] */
    size_t ldv;
    const float *e;       /* CoPE table [d, npos] of this head (CoPE only) */
    const float *r;       /* rel table [d, R] of this head (rel only) */
    float *a;             /* out [i+1] attention probabilities */
    float *g, *p;         /* out [i+1] gates and positions (CoPE only) */
    float *z;             /* out [npos] z[n] = q . e[:, n] (CoPE only) */
    float *relz;          /* scratch [R] (rel only) */
    float *y;             /* out [d] sum_j a_j v_j */
    float *s_out, *c_out; /* optional out [i+1]: content logits, CoPE logits */
    float *P_out;         /* optional out [i+1]: position-only logits (CoPE + rel terms) */
    const float *gforce;  /* optional [i+1]: a forced gate per key, NaN where none (CoPE only) */
} attn_row_fwd;
void attn_row_forward(const attn_dims *dm, int i, const attn_row_fwd *x);

/* One head of a sequence (a batch element), all T queries at once: the dot products are GEMMs
 * (gemm.h), the rest of each row (gates, their suffix sums, the interpolated position logits, rel,
 * softmax) one pass over the row. Rows of Q, K, Kg, V, Y and their gradients have stride ld. */
typedef struct {
    int T;
    const float *Q;        /* [T, d] queries */
    const float *Kt, *Kgt; /* [d, T] keys (and sep gate keys) transposed */
    const float *V;        /* [T, d] values */
    size_t ld;
    const float *e, *r;           /* this head's CoPE table [d, npos], rel table [d, R] */
    float *att, *gate, *pos;      /* out [T, T]: probabilities (0 for j > i), gates, positions (CoPE) */
    float *z;                     /* out [T, npos] q_i . e (CoPE) */
    float *relz;                  /* scratch [T, R] (rel) */
    float *Y;                     /* out [T, d] */
    float *S_out, *C_out, *P_out; /* optional out [T, T]: the trace's content, CoPE, position-only logits */
    const float *gforce;          /* optional [T]: a forced gate per key, NaN where none (CoPE only) */
} attn_head_fwd;
void attn_head_forward(const attn_dims *dm, const attn_head_fwd *x);

typedef struct {
    int T;
    const float *Q, *K, *Kg; /* [T, d] rows (Kg: sep keys) */
    const float *Vt;         /* [d, T] values transposed */
    size_t ld;
    const float *e, *r;
    const float *att, *gate, *pos, *z; /* the forward's */
    const float *dY;                   /* [T, d] */
    float *dQ, *dK, *dKg, *dV;         /* out [T, d] (written) */
    float *dz, *drelz;   /* out [T, npos], [T, R]: gradients of z and relz (the caller reduces them into the tables) */
    float *coef, *coefg; /* scratch [T, T] each (coefg: sep keys) */
    float *tab_t;        /* scratch [max(npos, R), d]: a table transposed */
    float *scratch;      /* [ATTN_BWD_SCRATCH(T)] */
} attn_head_bwd;
void attn_head_backward(const attn_dims *dm, const attn_head_bwd *x);
#define ATTN_BWD_SCRATCH(T) ((size_t)(T) + COPE_BWD_WORK(T))

/* Figure 4's position-only attention row, in place: P[j] = exp(P[j] - max P[0..i]). */
void pos_attn_row(float *P, int i);

#endif
