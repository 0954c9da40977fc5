/* attn_avx512.c — AVX-512 kernels of the attention row (ops.h): CoPE's positions and interpolation,
 * 16 keys at a time. Compiled for every x86-64 build through a target attribute; ops.c calls it
 * only where the CPU has AVX-512F. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "ops.h"

/* Keys j-15..j in one register (lane 0 = key j-15): their suffix sums in four shift-and-add steps
 * (lane L gets the sum of lanes L..15), plus the sum of the keys after j; positions clamped at
 * cap; z gathered at floor and ceil. The keys left at the start (fewer than 16) go to the
 * reference's loop. */
__attribute__((target("avx512f,fma"))) void cope_interp_avx512(const cope_interp_args *x) {
    const float *g = x->g, *z = x->z, cap = x->cap;
    float *p = x->p, *a = x->a, *c_out = x->c_out, *P_out = x->P_out;
    const __m512i zero = _mm512_setzero_si512();
    const __m512 vcap = _mm512_set1_ps(cap);
    float acc = 0.0f;
    int j = x->i;
    for (; j >= 15; j -= 16) {
        const int b = j - 15;
        __m512 v = _mm512_loadu_ps(g + b);
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(v), 1)));
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(v), 2)));
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(v), 4)));
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_alignr_epi32(zero, _mm512_castps_si512(v), 8)));
        v = _mm512_add_ps(v, _mm512_set1_ps(acc));
        acc = _mm512_cvtss_f32(v);
        __m512 pj = _mm512_min_ps(v, vcap); /* NaN -> cap, as the reference's v < cap ? v : cap */
        __m512 fl = _mm512_roundscale_ps(pj, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512 ce = _mm512_roundscale_ps(pj, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
        __m512 zf = _mm512_i32gather_ps(_mm512_cvttps_epi32(fl), z, 4);
        __m512 zc = _mm512_i32gather_ps(_mm512_cvttps_epi32(ce), z, 4);
        __m512 c = _mm512_fmadd_ps(_mm512_sub_ps(pj, fl), _mm512_sub_ps(zc, zf), zf);
        _mm512_storeu_ps(p + b, pj);
        _mm512_storeu_ps(a + b, _mm512_add_ps(_mm512_loadu_ps(a + b), c));
        if (c_out) _mm512_storeu_ps(c_out + b, c);
        if (P_out) _mm512_storeu_ps(P_out + b, _mm512_add_ps(_mm512_loadu_ps(P_out + b), c));
    }
    cope_interp_from(x, j, acc);
}
#endif
