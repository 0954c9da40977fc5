/* attn_avx512.c — AVX-512 kernels of the attention row (ops.h): CoPE's positions and
 * interpolation, and their backward, 16 keys at a time. Compiled for every x86-64 build through
 * target attributes; ops.c calls them only where the CPU has AVX-512F. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#include "ops.h"

#define AVX512 __attribute__((target("avx512f,fma")))

/* z[idx] for 16 lanes. Tables of up to 64 entries live in four registers and are read with two
 * two-register permutes (a few cycles); larger ones are gathered (about 20 cycles a gather). */
typedef struct {
    __m512 t0, t1, t2, t3;
    const float *z;
    int in_regs;
} ztab;

AVX512 static inline ztab ztab_load(const float *z, int npos) {
    ztab t = {.z = z, .in_regs = npos <= 64};
    if (t.in_regs) {
        __m512 *r[4] = {&t.t0, &t.t1, &t.t2, &t.t3};
        for (int k = 0; k < 4; k++) {
            int n = npos - 16 * k;
            __mmask16 m = n >= 16 ? 0xFFFF : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
            *r[k] = _mm512_maskz_loadu_ps(m, z + 16 * k);
        }
    }
    return t;
}

AVX512 static inline __m512 ztab_get(const ztab *t, __m512i idx) {
    if (!t->in_regs) return _mm512_i32gather_ps(idx, t->z, 4);
    __m512 lo = _mm512_permutex2var_ps(t->t0, idx, t->t1), hi = _mm512_permutex2var_ps(t->t2, idx, t->t3);
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(idx, _mm512_set1_epi32(32)), lo, hi);
}

/* The 16 lanes from lane `lo` on (lane k is key b + k; the lanes below lo are before key 0). */
static inline __mmask16 lanes_from(int lo) { return (__mmask16)(0xFFFFu << lo); }

/* Keys j-15..j in one register (lane 0 = key j-15): their suffix sums in four shift-and-add steps
 * (lane L gets the sum of lanes L..15), plus the sum of the keys after j; positions clamped at
 * cap; z read at floor and ceil. The last block (keys 0..j, j < 15) is masked. */
AVX512 void cope_interp_avx512(const cope_interp_args *x) {
    const float *g = x->g, cap = x->cap;
    float *p = x->p, *a = x->a, *c_out = x->c_out, *P_out = x->P_out;
    const __m512i zero = _mm512_setzero_si512();
    const __m512 vcap = _mm512_set1_ps(cap);
    const ztab zt = ztab_load(x->z, (int)cap + 1);
    __m512 acc = _mm512_setzero_ps();
    for (int j = x->i; j >= 0; j -= 16) {
        const int b = j - 15;
        const __mmask16 m = b >= 0 ? 0xFFFF : lanes_from(-b);
        __m512 v = _mm512_maskz_loadu_ps(m, g + b);
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(v), 1)));
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(v), 2)));
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(v), 4)));
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(v), 8)));
        v = _mm512_add_ps(v, acc);
        acc = _mm512_permutexvar_ps(zero, v); /* lane 0: the sum from key j-15 on */
        __m512 pj = _mm512_min_ps(v, vcap);   /* NaN -> cap, as the reference's v < cap ? v : cap */
        __m512 fl = _mm512_roundscale_ps(pj, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512 ce = _mm512_roundscale_ps(pj, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
        __m512 zf = ztab_get(&zt, _mm512_cvttps_epi32(fl)), zc = ztab_get(&zt, _mm512_cvttps_epi32(ce));
        __m512 c = _mm512_fmadd_ps(_mm512_sub_ps(pj, fl), _mm512_sub_ps(zc, zf), zf);
        _mm512_mask_storeu_ps(p + b, m, pj);
        _mm512_mask_storeu_ps(a + b, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + b), c));
        if (c_out) _mm512_mask_storeu_ps(c_out + b, m, c);
        if (P_out) _mm512_mask_storeu_ps(P_out + b, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, P_out + b), c));
    }
}

/* lane L <- sum of lanes 0..L, in four shift-and-add steps */
AVX512 static inline __m512 prefix16(__m512 v) {
    const __m512i zero = _mm512_setzero_si512();
    v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v), zero, 15)));
    v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v), zero, 14)));
    v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v), zero, 12)));
    return _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v), zero, 8)));
}

/* Keys j..j+15 in one register (lane 0 = key j; the last block masked). dp and its running sum
 * over keys as in the reference, the sum within a block in four shift-and-add steps. For dz, each
 * block's prefix sums of dl (1-w) and dl w: a run of equal floors ends where the next lane's floor
 * differs, and adds the difference of the sums at its ends to dz (a few lanes' rounding, not the
 * row's). The vector pass stores the block sums and run ends for the whole row first; the scalar
 * pass then reads them back (reading a lane just stored by a vector store would stall). */
AVX512 void cope_interp_backward_avx512(const cope_interp_bwd_args *x) {
    const float *dl = x->dl, *g = x->g, *p = x->p;
    float *dz = x->dz, *dgl = x->dgl;
    const int n = x->i + 1, nb = (n + 15) / 16;
    float *U = x->work, *V = U + 16 * nb;
    int *F = (int *)(V + 16 * nb), *ends = F + 16 * nb;
    const __m512i last = _mm512_set1_epi32(15), none = _mm512_set1_epi32(-1);
    const __m512 one = _mm512_set1_ps(1.0f), scale = _mm512_set1_ps(x->scale);
    const ztab zt = ztab_load(x->z, x->npos);
    __m512 acc = _mm512_setzero_ps();
    for (int k = 0; k < nb; k++) {
        const int j = 16 * k, left = n - j;
        const __mmask16 m = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 pj = _mm512_maskz_loadu_ps(m, p + j), dlj = _mm512_maskz_loadu_ps(m, dl + j);
        __m512 gj = _mm512_maskz_loadu_ps(m, g + j);
        __m512 fl = _mm512_roundscale_ps(pj, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512 ce = _mm512_roundscale_ps(pj, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
        __m512i fi = _mm512_cvttps_epi32(fl);
        __m512 zf = ztab_get(&zt, fi), zc = ztab_get(&zt, _mm512_cvttps_epi32(ce));
        __m512 dp = _mm512_add_ps(prefix16(_mm512_mul_ps(dlj, _mm512_sub_ps(zc, zf))), acc);
        acc = _mm512_permutexvar_ps(last, dp);
        __m512 dsig = _mm512_mul_ps(_mm512_mul_ps(gj, _mm512_sub_ps(one, gj)), scale);
        _mm512_mask_storeu_ps(dgl + j, m, _mm512_mul_ps(dp, dsig));
        __m512 hi = _mm512_mul_ps(dlj, _mm512_sub_ps(pj, fl));
        _mm512_storeu_ps(U + j, prefix16(_mm512_sub_ps(dlj, hi)));
        _mm512_storeu_ps(V + j, prefix16(hi));
        _mm512_storeu_si512(F + j, fi);
        /* a run ends at a lane whose floor differs from the next lane's, and at the last key */
        __mmask16 e = _mm512_cmpneq_epi32_mask(fi, _mm512_alignr_epi32(none, fi, 1));
        ends[k] = (e & m) | (1u << ((left < 16 ? left : 16) - 1));
    }
    memset(dz, 0, (size_t)x->npos * sizeof(float));
    for (int k = 0; k < nb; k++) {
        const float *Ub = U + 16 * k, *Vb = V + 16 * k;
        const int *Fb = F + 16 * k;
        float u0 = 0.0f, v0 = 0.0f;
        for (unsigned e = (unsigned)ends[k]; e; e &= e - 1) {
            int L = __builtin_ctz(e);
            cope_dz_flush(dz, x->npos, Fb[L], Ub[L] - u0, Vb[L] - v0);
            u0 = Ub[L], v0 = Vb[L];
        }
    }
}
#endif
