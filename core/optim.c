/* optim.c — seeded random numbers and the AdamW optimizer with global gradient-norm clipping. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model.h"

/* ---------------------------------------------------------------------------------------------
 * xorshift64* (seed mixed with splitmix64 so that small seeds give unrelated streams) */
void cope_rng_seed(cope_rng *r, uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    r->s = z ? z : 0x2545F4914F6CDD1Dull;
}

uint32_t cope_rng_u32(cope_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 0x2545F4914F6CDD1Dull) >> 32);
}

float cope_rng_uniform(cope_rng *r) { return (cope_rng_u32(r) >> 8) / 16777216.0f; }

int cope_rng_int(cope_rng *r, int n) { return n <= 1 ? 0 : (int)(((uint64_t)cope_rng_u32(r) * (uint64_t)n) >> 32); }

float cope_rng_normal(cope_rng *r) { /* Box-Muller */
    float u1 = cope_rng_uniform(r), u2 = cope_rng_uniform(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}

/* ---------------------------------------------------------------------------------------------
 * AdamW (Loshchilov & Hutter): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr (m_hat / (sqrt(v_hat) + eps) + wd p), decay on matrices (ndim >= 2) only. */
struct cope_optimizer {
    size_t n;
    float *m, *v;
    unsigned char *decay; /* per parameter tensor */
    long t;
};

void cope_adamw_default(cope_adamw *o) {
    o->lr = 1e-3f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = 0.0f;
    o->clip = 1.0f;
}

cope_status cope_optimizer_new(cope_optimizer **out, const cope_model *m, cope_error *err) {
    *out = NULL;
    cope_optimizer *o = calloc(1, sizeof *o);
    if (!o) return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    o->n = m->n_params;
    o->m = calloc(o->n, sizeof(float));
    o->v = calloc(o->n, sizeof(float));
    o->decay = calloc((size_t)m->n_tensors, 1);
    if (!o->m || !o->v || !o->decay) {
        cope_optimizer_free(o);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (optimizer state)");
    }
    for (int i = 0; i < m->n_tensors; i++) o->decay[i] = m->tensors[i].ndim >= 2;
    *out = o;
    return COPE_OK;
}

void cope_optimizer_free(cope_optimizer *o) {
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o->decay);
    free(o);
}

cope_status cope_optimizer_step(cope_optimizer *o, cope_model *m, float *g, const cope_adamw *h, float *grad_norm,
                                cope_error *err) {
    if (o->n != m->n_params) return cope_fail(err, COPE_ERR_ARG, "optimizer belongs to another model");
    /* the squared norm in fixed chunks (threads take chunks), the chunks' sums added in order: the
     * same bits for any thread count */
    enum { CHUNK = 8192 };
    const long nch = (long)((o->n + CHUNK - 1) / CHUNK);
    double ss = 0.0;
#pragma omp parallel for ordered schedule(static) if (nch > 4)
    for (long c = 0; c < nch; c++) {
        size_t lo = (size_t)c * CHUNK, hi = lo + CHUNK < o->n ? lo + CHUNK : o->n;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * g[i];
#pragma omp ordered
        ss += s;
    }
    float norm = (float)sqrt(ss);
    if (grad_norm) *grad_norm = norm;
    if (!isfinite(norm)) return cope_fail(err, COPE_ERR_NAN_LOSS, "gradient norm is not finite");
    float scale = (h->clip > 0.0f && norm > h->clip) ? h->clip / norm : 1.0f;
    o->t++;
    float bc1 = 1.0f - powf(h->beta1, (float)o->t), bc2 = 1.0f - powf(h->beta2, (float)o->t);
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const cope_tensor_info *t = &m->tensors[ti];
        float wd = o->decay[ti] ? h->weight_decay : 0.0f;
        float *p = m->params + t->offset, *gm = o->m + t->offset, *gv = o->v + t->offset;
        const float *gg = g + t->offset;
#pragma omp parallel for schedule(static) if (t->numel > 32768)
        for (size_t i = 0; i < t->numel; i++) {
            float gi = gg[i] * scale;
            gm[i] = h->beta1 * gm[i] + (1.0f - h->beta1) * gi;
            gv[i] = h->beta2 * gv[i] + (1.0f - h->beta2) * gi * gi;
            float mh = gm[i] / bc1, vh = gv[i] / bc2;
            p[i] -= h->lr * (mh / (sqrtf(vh) + h->eps) + wd * p[i]);
        }
    }
    return COPE_OK;
}
