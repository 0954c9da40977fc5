/* kernel_check.h — the tests of the kernels that have one version per instruction set (the GEMM,
 * CoPE's interpolation), shared by test_core.c (the reference and the x86 kernels) and
 * test_simd128.c (the wasm kernels on emulated intrinsics). Include after check.h. */
#ifndef COPE_KERNEL_CHECK_H
#define COPE_KERNEL_CHECK_H

#include "cope.h"
#include "../core/gemm.h"
#include "../core/ops.h"

/* ---------------------------------------------------------------------------------------------
 * GEMM: each kernel against a double-precision reference on every tail (rows 1..2*MR+odd, columns
 * 1..2*NR+odd, K across a GEMM_KC block), both A layouts, = and +=, the triangular modes and
 * strides wider than the matrices, called over a row split as the threads call it. */

typedef struct {
    const char *name;
    gemm_kernel k;
    gemm_kernel same_as; /* NULL, or a kernel that sums in the same order: then the bits must match */
} gemm_variant;

static void check_gemm_kernels(const gemm_variant *vs, int nv, cope_rng *rng) {
    const int Ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 33},
              Ms[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 65};
    const int Ks[] = {1, 5, 16, GEMM_KC + 3};
    size_t cap = 64 * 80 * 2 + (GEMM_KC + 3) * 80 * 2;
    float *A = malloc(cap * 4), *B = malloc(cap * 4), *out = malloc(cap * 4), *init = malloc(cap * 4);
    float *Az = malloc(cap * 4), *out2 = malloc(cap * 4);
    double *ref = malloc(cap * 8);
    for (size_t i = 0; i < cap; i++) A[i] = cope_rng_normal(rng);
    for (size_t i = 0; i < cap; i++) B[i] = cope_rng_normal(rng);
    for (size_t i = 0; i < cap; i++) init[i] = cope_rng_normal(rng);
    for (int vi = 0; vi < nv; vi++) {
        double worst = 0.0;
        long cases = 0, bad_pad = 0, differ = 0;
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
            for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
                for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
                    for (int trans = 0; trans < 2; trans++)
                        for (int acc = 0; acc < 2; acc++)
                            for (int tri = 0; tri < 4; tri++) {
                                int N = Ns[ni], M = Ms[mi], K = Ks[ki];
                                if (tri && (acc != (tri != GEMM_OUT_LOWER) || K > 16)) continue; /* the uses */
                                size_t ldo = (size_t)M + 3, ldb = (size_t)M + 5, lda = (size_t)(trans ? N : K) + 2;
                                size_t ars = trans ? 1 : lda, aks = trans ? lda : 1;
                                /* the triangle the mode declares zero is zero */
                                for (int r = 0; r < N; r++)
                                    for (int k = 0; k < K; k++) {
                                        size_t o = (size_t)r * ars + (size_t)k * aks;
                                        Az[o] = (tri == GEMM_K_LOWER && k > r) || (tri == GEMM_K_UPPER && k < r) ? 0.0f
                                                                                                                 : A[o];
                                    }
                                gemm_args g = {.out = out,
                                               .tri = tri,
                                               .A = Az,
                                               .B = B,
                                               .ldo = ldo,
                                               .ldb = ldb,
                                               .N = N,
                                               .K = K,
                                               .M = M,
                                               .acc = acc,
                                               .ars = ars,
                                               .aks = aks};
                                memcpy(out, init, (size_t)N * ldo * 4);
                                for (int r = 0; r < N; r++)
                                    for (int c = 0; c < M; c++) {
                                        double s = acc ? init[(size_t)r * ldo + c] : 0.0;
                                        for (int k = 0; k < K; k++)
                                            s += (double)Az[(size_t)r * ars + (size_t)k * aks] * B[(size_t)k * ldb + c];
                                        ref[(size_t)r * ldo + c] = s;
                                    }
                                /* two calls over a row split, as the threads make them */
                                int split = N / 2;
                                vs[vi].k(&g, 0, split);
                                vs[vi].k(&g, split, N);
                                if (vs[vi].same_as) {
                                    gemm_args g2 = g;
                                    g2.out = out2;
                                    memcpy(out2, init, (size_t)N * ldo * 4);
                                    vs[vi].same_as(&g2, 0, split);
                                    vs[vi].same_as(&g2, split, N);
                                }
                                for (int r = 0; r < N; r++)
                                    for (size_t c = 0; c < ldo; c++) {
                                        size_t o = (size_t)r * ldo + c;
                                        if ((int)c >= M) {
                                            bad_pad += out[o] != init[o];
                                            continue;
                                        }
                                        if (tri == GEMM_OUT_LOWER && (int)c > r) continue; /* not needed */
                                        double e = fabs(out[o] - ref[o]) / (1e-5 + 1e-5 * fabs(ref[o]) + 2e-7 * K);
                                        worst = e > worst ? e : worst;
                                        if (vs[vi].same_as) differ += memcmp(&out[o], &out2[o], sizeof(float)) != 0;
                                    }
                                cases++;
                            }
        char same[96] = "";
        if (vs[vi].same_as)
            snprintf(same, sizeof same, "; %ld elements not bit-equal to its same-order kernel", differ);
        check(worst <= 1.0 && !bad_pad && !differ,
              "gemm %s: %ld shapes (every row and column tail, both A layouts, = and +=, the triangular modes) "
              "within 1e-5 + 1e-5|ref| + 2e-7 K of double, worst/tol %.3f; %ld writes outside the matrix%s",
              vs[vi].name, cases, worst, bad_pad, same);
    }
    free(A);
    free(Az);
    free(B);
    free(out);
    free(out2);
    free(init);
    free(ref);
}

/* ---------------------------------------------------------------------------------------------
 * CoPE's positions and interpolation (cope_interp_args), a kernel against cope_interp_portable:
 * rows of every tail size; caps that clamp early, late and never (npos 4, 64 and 301: the AVX-512
 * kernel keeps z in registers up to 64 entries and gathers beyond); with and without the trace rows.
 * Random gates: p within the bound of two summation orders (of positive terms), c within twice
 * that (the slope |z[ce] - z[fl]| <= 2) plus the interpolation's own roundings, 8 eps (|z| <= 1);
 * a and P add 2 eps of their own. Gates in eighths: every suffix sum is exact, so p is bit-equal,
 * and so are c, a and P where the kernel rounds as the reference (same_rounding; not with FMA). */
static void check_cope_interp_kernel(const char *name, void (*kernel)(const cope_interp_args *), int same_rounding,
                                     cope_rng *rng) {
    static const int caps[] = {3, 63, 300};
    tally r = {0}, x8 = {0};
    for (int si = 0; si < N_TAIL_SIZES; si++)
        for (size_t ci = 0; ci < sizeof caps / sizeof *caps; ci++)
            for (int outs = 0; outs < 2; outs++)
                for (int eighths = 0; eighths < 2; eighths++) {
                    const int n = tail_sizes[si], npos = caps[ci] + 1;
                    const size_t fn = (size_t)n * sizeof(float);
                    float *g = malloc(fn), *z = malloc((size_t)npos * sizeof(float)), *p[2], *a[2], *c[2], *P[2];
                    for (int v = 0; v < 2; v++)
                        p[v] = malloc(fn), a[v] = malloc(fn), c[v] = malloc(fn), P[v] = malloc(fn);
                    for (int j = 0; j < n; j++) {
                        g[j] = eighths ? (float)cope_rng_int(rng, 8) / 8.0f : cope_rng_uniform(rng);
                        a[0][j] = a[1][j] = cope_rng_normal(rng);
                        P[0][j] = P[1][j] = cope_rng_normal(rng);
                    }
                    for (int k = 0; k < npos; k++) z[k] = 2.0f * cope_rng_uniform(rng) - 1.0f;
                    cope_interp_args x[2]; /* 0: the kernel, 1: the reference */
                    for (int v = 0; v < 2; v++)
                        x[v] = (cope_interp_args){.i = n - 1,
                                                  .g = g,
                                                  .z = z,
                                                  .cap = (float)caps[ci],
                                                  .p = p[v],
                                                  .a = a[v],
                                                  .c_out = outs ? c[v] : NULL,
                                                  .P_out = outs ? P[v] : NULL};
                    kernel(&x[0]);
                    cope_interp_portable(&x[1]);
                    char shape[64];
                    snprintf(shape, sizeof shape, "n=%d cap=%d outs=%d", n, caps[ci], outs);
                    tally *t = eighths ? &x8 : &r;
                    for (int j = 0; j < n; j++) {
                        double bp = eighths ? 0.0 : sum_bound(n, p[1][j]);
                        double bc = eighths && same_rounding ? 0.0 : 2.0 * bp + 8.0 * FLT_EPSILON;
                        tally_elem(t, shape, j, p[0][j], p[1][j], bp);
                        tally_elem(t, shape, j, a[0][j], a[1][j], bc ? bc + 2.0 * FLT_EPSILON * fabs(a[1][j]) : 0.0);
                        if (!outs) continue;
                        tally_elem(t, shape, j, c[0][j], c[1][j], bc);
                        tally_elem(t, shape, j, P[0][j], P[1][j], bc ? bc + 2.0 * FLT_EPSILON * fabs(P[1][j]) : 0.0);
                    }
                    t->cases++;
                    free(g);
                    free(z);
                    for (int v = 0; v < 2; v++) free(p[v]), free(a[v]), free(c[v]), free(P[v]);
                }
    char what[160];
    snprintf(what, sizeof what, "%s: random gates, p within 2 n eps p, c within 2x that + 8 eps", name);
    tally_check(&r, what);
    snprintf(what, sizeof what, "%s: gates in eighths (exact suffix sums), p%s bit-equal", name,
             same_rounding ? ", a, c, P" : "");
    tally_check(&x8, what);
}

#endif
