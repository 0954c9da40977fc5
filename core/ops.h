/* ops.h — internal: the layer kernels as forward/backward pairs over flat float buffers
 * (llm.c style: outputs first, sizes last; backward accumulates into d* buffers). */
#ifndef COPE_OPS_H
#define COPE_OPS_H

#include <stddef.h>

float op_dot(const float *a, const float *b, int n);

/* out[N,M] (+)= A[N,K] @ B[K,M], all row-major. acc = 0 overwrites out. */
void op_gemm_nn(float *out, const float *A, const float *B, int N, int K, int M, int acc);
/* dst[C,R] = src[R,C]^T */
void op_transpose(float *dst, const float *src, int R, int C);

/* out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC] (bias may be NULL). scratch: C*OC floats. */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                    float *scratch, int N, int C, int OC);
/* dinp[N,C] += dout @ w; dw[OC,C] += dout^T @ inp; dbias[OC] += sum_n dout (dbias may be NULL).
 * scratch: N*OC floats. */
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, float *scratch, int N, int C, int OC);

/* LayerNorm, eps 1e-5: out[N,C], mean[N], rstd[N] */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* GELU, tanh approximation (PyTorch approximate='tanh') */
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* RoPE, rotate-half, in place on x[N rows of stride `stride`], token index of row n is pos[n]
 * (or n % T when pos is NULL); H heads of dim d starting at column 0. cs: [n_ctx, d/2, 2] cos/sin.
 * sign = +1 rotates by +theta (forward), -1 by -theta (the transpose, used by backward). */
void rope_apply(float *x, int N, int T, int H, int d, size_t stride, const float *cs, int sign,
                int row0);

/* One attention row: query i against keys j = 0..i of one head (see cope-paper.md §2). */
typedef struct {
    int d, npos, rel_max;
    int has_cope, has_rel, sep_keys;
    float scale; /* 1/sqrt(d) */
} attn_dims;

/* Forward of one row. q: [d]; Kt, Kgt: this head's keys transposed, Kt[t * ldk + j] (Kgt only
 * with sep keys); V: value rows V[j * ldv + t]; e: this head's CoPE table [d, npos]; r: rel table
 * [d, R]. Writes a[0..i] (probabilities), with CoPE g[0..i], p[0..i] and z[npos], and
 * y[d] = sum_j a_j v_j. relz: scratch [R]. Optional (may be NULL): s_out content logits, c_out
 * CoPE logits, P_out the position-only logits (CoPE + rel terms). */
void attn_row_forward(const attn_dims *dm, int i, const float *q, const float *Kt, const float *Kgt,
                      size_t ldk, const float *V, size_t ldv, const float *e, const float *r, float *a,
                      float *g, float *p, float *z, float *relz, float *y, float *s_out,
                      float *c_out, float *P_out);
/* Backward of one row. K, Kg (rows, stride ldk; Kg only with sep keys), Vt: values transposed
 * (Vt[t * ldvt + j]). Accumulates dq[d] and the rows of dK, dKg, dV (stride ldk); writes dz[npos]
 * and drelz[R] (gradients w.r.t. z_i and relz_i; the caller reduces them into the tables).
 * scratch: 2*(i+1) floats. */
void attn_row_backward(const attn_dims *dm, int i, const float *q, const float *K, const float *Kg,
                       size_t ldk, const float *Vt, size_t ldvt, const float *e, const float *r,
                       const float *a, const float *g, const float *p, const float *z,
                       const float *dy, float *dq, float *dK, float *dKg, float *dV, float *dz,
                       float *drelz, float *scratch);

/* Figure 4's position-only attention row, in place: P[j] = exp(P[j] - max P[0..i]). */
void pos_attn_row(float *P, int i);

#endif
