/* forward.c — the model: batched forward and backward for training, the trace of one sequence
 * (everything the visualizer draws), and incremental decoding with a KV cache. All three run the
 * same kernels from ops.c; the attention row function is shared by all of them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model.h"
#include "ops.h"

#define P(off) (m->params + (off))

/* ---------------------------------------------------------------------------------------------
 * Workspace: activations of one forward (kept for backward) and gradient scratch */
typedef struct {
    float *resid;             /* [N, D] input of the layer */
    float *ln1, *ln1_mean, *ln1_rstd;
    float *q, *k, *v, *kg;    /* [N, D], after RoPE */
    float *att, *gate, *pos;  /* [B, H, T, T] */
    float *z;                 /* [B, H, T, npos] */
    float *atty;              /* [N, D] attention output before the o projection */
    float *resid2;            /* [N, D] after the attention residual */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fch_gelu;    /* [N, F] */
} layer_acts;

struct cope_workspace {
    int B, T;                 /* the current call's batch (<= the allocated B_max x T_max) */
    int B_max, T_max;
    layer_acts *layers;
    float *resid_final;       /* [N, D] */
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits;            /* [N, V] */
    int *ids, *targets;       /* [N] */
    float *mask;              /* [N] */
    float mask_sum;
    int has_targets;
    /* backward scratch */
    float *dresid, *dln, *datty, *dq, *dk, *dv, *dkg; /* [N, D] */
    float *dfch, *dfch_gelu;  /* [N, F] */
    float *dz, *drelz;        /* [B, H, T, npos], [B, H, T, R] */
    float *dlogits;           /* [N, V] */
    float *mm_scratch;        /* max(D*max(D,F,V), N*max(D,F,V)) */
    float *row_scratch;       /* [B*H, 2T + R] */
    float *memory;
};

/* Per (batch, head) scratch: 2T floats for the backward row, R for relz, 2dT for transposed keys
 * (forward: K and Kg; backward: V). */
#define ROW_SCRATCH(T, d, R) (2 * (size_t)(T) + (size_t)(R) + 2 * (size_t)(d) * (size_t)(T))

/* dst[t * T + j] = src[j * ld + t]: one head's keys or values transposed to [d, T] */
static void head_transpose(float *dst, const float *src, int T, int d, int ld) {
    for (int j = 0; j < T; j++)
        for (int t = 0; t < d; t++) dst[(size_t)t * T + j] = src[(size_t)j * ld + t];
}

static attn_dims model_attn_dims(const cope_model *m) {
    const cope_config *c = &m->cfg;
    attn_dims dm;
    dm.d = c->d_model / c->n_head;
    dm.has_cope = cope_pe_has_cope(c->pe);
    dm.has_rel = cope_pe_has_rel(c->pe);
    dm.npos = dm.has_cope ? c->npos : 0;     /* sizes of buffers that exist only with the feature */
    dm.rel_max = dm.has_rel ? c->rel_max : 0;
    dm.sep_keys = dm.has_cope && c->sep_keys;
    dm.scale = 1.0f / sqrtf((float)dm.d);
    return dm;
}

/* Pointer to head h's CoPE table [d, npos] and rel table [d, R] in a param/grad buffer. */
static float *cope_table(const cope_model *m, float *base, int l, int h) {
    const cope_config *c = &m->cfg;
    if (!cope_pe_has_cope(c->pe)) return NULL;
    size_t d = (size_t)(c->d_model / c->n_head);
    return base + m->layers[l].cope + (c->per_head_table ? (size_t)h * d * c->npos : 0);
}
static float *rel_table(const cope_model *m, float *base, int l, int h) {
    const cope_config *c = &m->cfg;
    if (!cope_pe_has_rel(c->pe)) return NULL;
    size_t d = (size_t)(c->d_model / c->n_head);
    return base + m->layers[l].rel + (size_t)h * d * c->rel_max;
}

/* Carves the workspace from one allocation; with base == NULL only counts. */
static size_t workspace_layout(struct cope_workspace *w, const cope_model *m, float *base) {
    const cope_config *c = &m->cfg;
    size_t B = (size_t)w->B, T = (size_t)w->T, N = B * T, D = (size_t)c->d_model,
           F = (size_t)c->d_ff, V = (size_t)c->vocab_size, H = (size_t)c->n_head;
    size_t np = cope_pe_has_cope(c->pe) ? (size_t)c->npos : 0;
    size_t R = cope_pe_has_rel(c->pe) ? (size_t)c->rel_max : 0;
    int sep = cope_pe_has_cope(c->pe) && c->sep_keys;
    size_t off = 0;
#define TAKE(ptr, n) do { size_t n_ = (n); if (base) (ptr) = n_ ? base + off : NULL; off += n_; } while (0)
    for (int l = 0; l < c->n_layer; l++) {
        layer_acts *a = &w->layers[l];
        TAKE(a->resid, N * D); TAKE(a->ln1, N * D); TAKE(a->ln1_mean, N); TAKE(a->ln1_rstd, N);
        TAKE(a->q, N * D); TAKE(a->k, N * D); TAKE(a->v, N * D); TAKE(a->kg, sep ? N * D : 0);
        TAKE(a->att, B * H * T * T);
        TAKE(a->gate, np ? B * H * T * T : 0); TAKE(a->pos, np ? B * H * T * T : 0);
        TAKE(a->z, B * H * T * np);
        TAKE(a->atty, N * D); TAKE(a->resid2, N * D);
        TAKE(a->ln2, N * D); TAKE(a->ln2_mean, N); TAKE(a->ln2_rstd, N);
        TAKE(a->fch, N * F); TAKE(a->fch_gelu, N * F);
    }
    TAKE(w->resid_final, N * D); TAKE(w->lnf, N * D); TAKE(w->lnf_mean, N); TAKE(w->lnf_rstd, N);
    TAKE(w->logits, N * V); TAKE(w->mask, N);
    TAKE(w->dresid, N * D); TAKE(w->dln, N * D); TAKE(w->datty, N * D);
    TAKE(w->dq, N * D); TAKE(w->dk, N * D); TAKE(w->dv, N * D); TAKE(w->dkg, sep ? N * D : 0);
    TAKE(w->dfch, N * F); TAKE(w->dfch_gelu, N * F);
    TAKE(w->dz, B * H * T * np); TAKE(w->drelz, B * H * T * R);
    TAKE(w->dlogits, N * V);
    size_t wide = D > F ? D : F;
    wide = wide > V ? wide : V;
    TAKE(w->mm_scratch, (N > D ? N : D) * wide);
    TAKE(w->row_scratch, B * H * ROW_SCRATCH(T, (size_t)c->d_model / H, R));
#undef TAKE
    return off;
}

cope_status cope_workspace_new(cope_workspace **out, const cope_model *m, int B, int T,
                               cope_error *err) {
    *out = NULL;
    const cope_config *c = &m->cfg;
    if (B < 1 || T < 1) return cope_fail(err, COPE_ERR_ARG, "batch %d x length %d is empty", B, T);
    if (T > c->n_ctx)
        return cope_fail(err, COPE_ERR_CONTEXT, "sequence length %d exceeds the model's context n_ctx = %d", T, c->n_ctx);
    /* Estimate in double first so the size_t arithmetic below cannot overflow. */
    double est = (double)B * T * ((double)c->n_layer * (14.0 * c->d_model + 2.0 * c->d_ff +
                                                       (double)c->n_head * (3.0 * T + c->npos + 8)) +
                                  4.0 * c->vocab_size + 16.0 * c->d_model + 2.0 * c->d_ff) +
                 4.0 * (double)c->d_model * (c->d_model + c->d_ff + c->vocab_size);
    if (est * 4.0 > 16e9) return cope_fail(err, COPE_ERR_LIMIT, "workspace for batch %d x %d would need %.1f GB", B, T, est * 4e-9);
    struct cope_workspace *w = calloc(1, sizeof *w);
    if (!w) return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    w->B = w->B_max = B;
    w->T = w->T_max = T;
    w->layers = calloc((size_t)c->n_layer, sizeof(layer_acts));
    w->ids = malloc((size_t)B * T * sizeof(int));
    w->targets = malloc((size_t)B * T * sizeof(int));
    size_t n = w->layers ? workspace_layout(w, m, NULL) : 0;
    w->memory = w->layers ? calloc(n, sizeof(float)) : NULL;
    if (!w->memory || !w->ids || !w->targets) {
        cope_workspace_free(w);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (workspace for batch %d x %d)", B, T);
    }
    workspace_layout(w, m, w->memory);
    *out = w;
    return COPE_OK;
}

void cope_workspace_free(cope_workspace *w) {
    if (!w) return;
    free(w->memory);
    free(w->layers);
    free(w->ids);
    free(w->targets);
    free(w);
}

const float *cope_workspace_logits(const cope_workspace *ws) { return ws->logits; }


/* ---------------------------------------------------------------------------------------------
 * Forward */
static cope_status check_ids(const cope_model *m, const int *ids, size_t n, const char *what,
                             cope_error *err) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return cope_fail(err, COPE_ERR_TOKEN, "%s[%zu] = %d is outside the vocabulary 0..%d", what, i,
                             ids[i], m->cfg.vocab_size - 1);
    return COPE_OK;
}

/* Runs the forward over ws->ids; fills the trace (B == 1) when tr is non-NULL. */
static void forward_pass(cope_model *m, cope_workspace *w, cope_trace *tr) {
    const cope_config *c = &m->cfg;
    const int B = w->B, T = w->T, N = B * T, D = c->d_model, F = c->d_ff, V = c->vocab_size,
              H = c->n_head, L = c->n_layer;
    const attn_dims dm = model_attn_dims(m);
    const int d = dm.d, npos = dm.npos, R = dm.rel_max;
    /* x = tok_emb[ids] (+ pos_emb[t]) */
    for (int n = 0; n < N; n++) {
        float *x = w->layers[0].resid + (size_t)n * D;
        memcpy(x, P(m->tok_emb) + (size_t)w->ids[n] * D, (size_t)D * sizeof(float));
        if (c->pe == COPE_PE_ABS) {
            const float *pe = P(m->pos_emb) + (size_t)(n % T) * D;
            for (int i = 0; i < D; i++) x[i] += pe[i];
        }
    }
    for (int l = 0; l < L; l++) {
        layer_acts *a = &w->layers[l];
        const layer_offsets *lo = &m->layers[l];
        float *next = l + 1 < L ? w->layers[l + 1].resid : w->resid_final;
        layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, a->resid, P(lo->ln1_w), P(lo->ln1_b), N, D);
        matmul_forward(a->q, a->ln1, P(lo->wq), P(lo->bq), w->mm_scratch, N, D, D);
        matmul_forward(a->k, a->ln1, P(lo->wk), P(lo->bk), w->mm_scratch, N, D, D);
        matmul_forward(a->v, a->ln1, P(lo->wv), P(lo->bv), w->mm_scratch, N, D, D);
        if (dm.sep_keys) matmul_forward(a->kg, a->ln1, P(lo->wkg), P(lo->bkg), w->mm_scratch, N, D, D);
        if (cope_pe_has_rope(c->pe)) {
            rope_apply(a->q, N, T, H, d, (size_t)D, m->rope_cs, +1, 0);
            rope_apply(a->k, N, T, H, d, (size_t)D, m->rope_cs, +1, 0);
            if (dm.sep_keys) rope_apply(a->kg, N, T, H, d, (size_t)D, m->rope_cs, +1, 0);
        }
#pragma omp parallel for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            size_t kv = (size_t)b * T * D + (size_t)h * d;
            float *relz = w->row_scratch + (size_t)bh * ROW_SCRATCH(T, d, R), *Kt = relz + R, *Kgt = Kt + (size_t)d * T;
            head_transpose(Kt, a->k + kv, T, d, D);
            if (dm.sep_keys) head_transpose(Kgt, a->kg + kv, T, d, D);
            for (int i = 0; i < T; i++) {
                size_t row = ((size_t)bh * T + i) * T, qo = ((size_t)b * T + i) * D + (size_t)h * d;
                size_t trow = ((size_t)h * T + i) * T;
                attn_row_forward(&dm, i, a->q + qo, Kt, Kgt, (size_t)T, a->v + kv, (size_t)D,
                                 cope_table(m, m->params, l, h), rel_table(m, m->params, l, h), a->att + row,
                                 dm.has_cope ? a->gate + row : NULL, dm.has_cope ? a->pos + row : NULL,
                                 dm.has_cope ? a->z + ((size_t)bh * T + i) * npos : NULL, relz,
                                 a->atty + qo, tr ? tr->content_logits[l] + trow : NULL,
                                 tr ? tr->cope_logits[l] + trow : NULL, tr ? tr->pos_attn[l] + trow : NULL);
                if (tr) pos_attn_row(tr->pos_attn[l] + trow, i);
            }
        }
        if (tr) {
            size_t hs = (size_t)H * T * T * sizeof(float);
            memcpy(tr->attn[l], a->att, hs);
            if (dm.has_cope) { memcpy(tr->gates[l], a->gate, hs); memcpy(tr->positions[l], a->pos, hs); }
        }
        /* resid2 = resid + o(atty) */
        matmul_forward(a->resid2, a->atty, P(lo->wo), P(lo->bo), w->mm_scratch, N, D, D);
        for (size_t i = 0; i < (size_t)N * D; i++) a->resid2[i] += a->resid[i];
        /* next = resid2 + fc2(gelu(fc1(ln2(resid2)))) */
        layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->resid2, P(lo->ln2_w), P(lo->ln2_b), N, D);
        matmul_forward(a->fch, a->ln2, P(lo->fc1_w), P(lo->fc1_b), w->mm_scratch, N, D, F);
        gelu_forward(a->fch_gelu, a->fch, (size_t)N * F);
        matmul_forward(next, a->fch_gelu, P(lo->fc2_w), P(lo->fc2_b), w->mm_scratch, N, F, D);
        for (size_t i = 0; i < (size_t)N * D; i++) next[i] += a->resid2[i];
    }
    layernorm_forward(w->lnf, w->lnf_mean, w->lnf_rstd, w->resid_final, P(m->ln_f_w), P(m->ln_f_b), N, D);
    matmul_forward(w->logits, w->lnf, P(model_out_weight(m)), NULL, w->mm_scratch, N, D, V);
    if (tr) memcpy(tr->logits, w->logits, (size_t)T * V * sizeof(float));
}

cope_status cope_forward(cope_model *m, cope_workspace *w, const int *ids, const int *targets,
                         const float *mask, int B, int T, float *loss, cope_error *err) {
    if (!m || !w || !ids) return cope_fail(err, COPE_ERR_ARG, "NULL model, workspace or ids");
    if (B < 1 || T < 1 || B > w->B_max || T > w->T_max)
        return cope_fail(err, COPE_ERR_ARG, "batch %d x %d does not fit the workspace's %d x %d", B, T, w->B_max, w->T_max);
    /* A smaller batch uses the start of every buffer: each region is sized for B_max x T_max. */
    w->B = B;
    w->T = T;
    size_t N = (size_t)B * T;
    cope_status st;
    if ((st = check_ids(m, ids, N, "ids", err))) return st;
    if (targets && (st = check_ids(m, targets, N, "targets", err))) return st;
    memcpy(w->ids, ids, N * sizeof(int));
    w->has_targets = targets != NULL;
    forward_pass(m, w, NULL);
    if (loss) *loss = NAN;
    if (!targets) return COPE_OK;
    memcpy(w->targets, targets, N * sizeof(int));
    double msum = 0.0, total = 0.0;
    const int V = m->cfg.vocab_size;
    for (size_t n = 0; n < N; n++) {
        float mk = mask ? mask[n] : 1.0f;
        if (!(mk == 0.0f || mk == 1.0f)) return cope_fail(err, COPE_ERR_ARG, "mask[%zu] = %g is not 0 or 1", n, mk);
        w->mask[n] = mk;
        if (mk == 0.0f) continue;
        const float *lg = w->logits + n * V;
        float mx = lg[0];
        for (int v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        double s = 0.0;
        for (int v = 0; v < V; v++) s += exp((double)(lg[v] - mx));
        total += (log(s) + mx) - lg[targets[n]];
        msum += 1.0;
    }
    if (msum == 0.0) { w->has_targets = 0; return cope_fail(err, COPE_ERR_ARG, "the loss mask selects no token"); }
    w->mask_sum = (float)msum;
    if (loss) *loss = (float)(total / msum);
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Backward (every parameter; gradients written into g, same layout as the parameters) */
#define G(off) (g + (off))

cope_status cope_backward(cope_model *m, cope_workspace *w, float *g, cope_error *err) {
    if (!m || !w || !g) return cope_fail(err, COPE_ERR_ARG, "NULL model, workspace or gradient buffer");
    if (!w->has_targets) return cope_fail(err, COPE_ERR_ARG, "backward needs a forward with targets");
    const cope_config *c = &m->cfg;
    const int B = w->B, T = w->T, N = B * T, D = c->d_model, F = c->d_ff, V = c->vocab_size,
              H = c->n_head, L = c->n_layer;
    const attn_dims dm = model_attn_dims(m);
    const int d = dm.d, npos = dm.npos, R = dm.rel_max;
    const size_t ND = (size_t)N * D, NF = (size_t)N * F;
    memset(g, 0, m->n_params * sizeof(float));
    /* loss = sum_n mask_n CE_n / sum mask: dlogits = (softmax - onehot) mask / sum mask */
    for (int n = 0; n < N; n++) {
        const float *lg = w->logits + (size_t)n * V;
        float *dl = w->dlogits + (size_t)n * V;
        float mk = w->mask[n] / w->mask_sum;
        if (mk == 0.0f) { memset(dl, 0, (size_t)V * sizeof(float)); continue; }
        float mx = lg[0];
        for (int v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        float s = 0.0f;
        for (int v = 0; v < V; v++) { dl[v] = expf(lg[v] - mx); s += dl[v]; }
        for (int v = 0; v < V; v++) dl[v] = dl[v] / s * mk;
        dl[w->targets[n]] -= mk;
    }
    memset(w->dln, 0, ND * sizeof(float));
    matmul_backward(w->dln, G(model_out_weight(m)), NULL, w->dlogits, w->lnf, P(model_out_weight(m)),
                    w->mm_scratch, N, D, V);
    memset(w->dresid, 0, ND * sizeof(float));
    layernorm_backward(w->dresid, G(m->ln_f_w), G(m->ln_f_b), w->dln, w->resid_final, P(m->ln_f_w),
                       w->lnf_mean, w->lnf_rstd, N, D);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts *a = &w->layers[l];
        const layer_offsets *lo = &m->layers[l];
        /* MLP: out = resid2 + fc2(gelu(fc1(ln2(resid2)))) */
        memset(w->dfch_gelu, 0, NF * sizeof(float));
        matmul_backward(w->dfch_gelu, G(lo->fc2_w), G(lo->fc2_b), w->dresid, a->fch_gelu, P(lo->fc2_w),
                        w->mm_scratch, N, F, D);
        memset(w->dfch, 0, NF * sizeof(float));
        gelu_backward(w->dfch, a->fch, w->dfch_gelu, NF);
        memset(w->dln, 0, ND * sizeof(float));
        matmul_backward(w->dln, G(lo->fc1_w), G(lo->fc1_b), w->dfch, a->ln2, P(lo->fc1_w), w->mm_scratch, N, D, F);
        layernorm_backward(w->dresid, G(lo->ln2_w), G(lo->ln2_b), w->dln, a->resid2, P(lo->ln2_w),
                           a->ln2_mean, a->ln2_rstd, N, D);
        /* attention: resid2 = resid + o(attn(ln1(resid))) */
        memset(w->datty, 0, ND * sizeof(float));
        matmul_backward(w->datty, G(lo->wo), G(lo->bo), w->dresid, a->atty, P(lo->wo), w->mm_scratch, N, D, D);
        memset(w->dq, 0, ND * sizeof(float));
        memset(w->dk, 0, ND * sizeof(float));
        memset(w->dv, 0, ND * sizeof(float));
        if (dm.sep_keys) memset(w->dkg, 0, ND * sizeof(float));
#pragma omp parallel for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            size_t kv = (size_t)b * T * D + (size_t)h * d;
            float *scratch = w->row_scratch + (size_t)bh * ROW_SCRATCH(T, d, R), *Vt = scratch + 2 * T;
            head_transpose(Vt, a->v + kv, T, d, D);
            for (int i = 0; i < T; i++) {
                size_t row = ((size_t)bh * T + i) * T, qo = ((size_t)b * T + i) * D + (size_t)h * d;
                attn_row_backward(&dm, i, a->q + qo, a->k + kv, dm.sep_keys ? a->kg + kv : NULL, (size_t)D, Vt,
                                  (size_t)T, cope_table(m, m->params, l, h), rel_table(m, m->params, l, h),
                                  a->att + row, dm.has_cope ? a->gate + row : NULL,
                                  dm.has_cope ? a->pos + row : NULL,
                                  dm.has_cope ? a->z + ((size_t)bh * T + i) * npos : NULL,
                                  w->datty + qo, w->dq + qo, w->dk + kv, dm.sep_keys ? w->dkg + kv : NULL, w->dv + kv,
                                  dm.has_cope ? w->dz + ((size_t)bh * T + i) * npos : NULL,
                                  dm.has_rel ? w->drelz + ((size_t)bh * T + i) * R : NULL, scratch);
            }
        }
        /* tables: de[t, n] += sum over rows of q_i[t] dz_i[n]; dr likewise. Threads own rows t. */
        for (int which = 0; which < 2; which++) {
            int on = which == 0 ? dm.has_cope : dm.has_rel;
            if (!on) continue;
            int ncol = which == 0 ? npos : R;
            int ntab = which == 0 && !c->per_head_table ? 1 : H;
            const float *src = which == 0 ? w->dz : w->drelz;
#pragma omp parallel for schedule(static)
            for (int idx = 0; idx < ntab * d; idx++) {
                int tb = idx / d, t = idx % d;
                float *dst = (which == 0 ? cope_table(m, g, l, tb) : rel_table(m, g, l, tb)) + (size_t)t * ncol;
                for (int bh = 0; bh < B * H; bh++) {
                    int b = bh / H, h = bh % H;
                    if (ntab > 1 && h != tb) continue;
                    for (int i = 0; i < T; i++) {
                        float qt = a->q[((size_t)b * T + i) * D + (size_t)h * d + t];
                        const float *s = src + ((size_t)bh * T + i) * ncol;
                        for (int n = 0; n < ncol; n++) dst[n] += qt * s[n];
                    }
                }
            }
        }
        if (cope_pe_has_rope(c->pe)) { /* the rotation's transpose */
            rope_apply(w->dq, N, T, H, d, (size_t)D, m->rope_cs, -1, 0);
            rope_apply(w->dk, N, T, H, d, (size_t)D, m->rope_cs, -1, 0);
            if (dm.sep_keys) rope_apply(w->dkg, N, T, H, d, (size_t)D, m->rope_cs, -1, 0);
        }
        memset(w->dln, 0, ND * sizeof(float));
        matmul_backward(w->dln, G(lo->wq), G(lo->bq), w->dq, a->ln1, P(lo->wq), w->mm_scratch, N, D, D);
        matmul_backward(w->dln, G(lo->wk), G(lo->bk), w->dk, a->ln1, P(lo->wk), w->mm_scratch, N, D, D);
        matmul_backward(w->dln, G(lo->wv), G(lo->bv), w->dv, a->ln1, P(lo->wv), w->mm_scratch, N, D, D);
        if (dm.sep_keys)
            matmul_backward(w->dln, G(lo->wkg), G(lo->bkg), w->dkg, a->ln1, P(lo->wkg), w->mm_scratch, N, D, D);
        layernorm_backward(w->dresid, G(lo->ln1_w), G(lo->ln1_b), w->dln, a->resid, P(lo->ln1_w),
                           a->ln1_mean, a->ln1_rstd, N, D);
    }
    for (int n = 0; n < N; n++) {
        const float *dx = w->dresid + (size_t)n * D;
        float *dt = G(m->tok_emb) + (size_t)w->ids[n] * D;
        for (int i = 0; i < D; i++) dt[i] += dx[i];
        if (c->pe == COPE_PE_ABS) {
            float *dp = G(m->pos_emb) + (size_t)(n % T) * D;
            for (int i = 0; i < D; i++) dp[i] += dx[i];
        }
    }
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Trace */
static float **trace_arrays(cope_trace *tr, int k) {
    float **all[6] = {tr->gates, tr->positions, tr->content_logits, tr->cope_logits, tr->attn, tr->pos_attn};
    return all[k];
}

cope_status cope_trace_new(cope_trace **out, const cope_model *m, int T, cope_error *err) {
    *out = NULL;
    const cope_config *c = &m->cfg;
    if (T < 1) return cope_fail(err, COPE_ERR_TOKEN, "the sequence is empty");
    if (T > c->n_ctx)
        return cope_fail(err, COPE_ERR_CONTEXT, "sequence of %d tokens exceeds the model's context n_ctx = %d", T, c->n_ctx);
    cope_trace *tr = calloc(1, sizeof *tr);
    if (!tr) return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    tr->T = T;
    tr->n_layer = c->n_layer;
    tr->n_head = c->n_head;
    tr->vocab_size = c->vocab_size;
    size_t per = (size_t)c->n_head * T * T, L = (size_t)c->n_layer;
    size_t total = (size_t)T * c->vocab_size + 6 * L * per;
    tr->logits = calloc(total, sizeof(float));
    tr->gates = calloc(6 * L, sizeof(float *));
    cope_status st = cope_workspace_new(&tr->ws, m, 1, T, err);
    if (!tr->logits || !tr->gates || st) {
        cope_trace_free(tr);
        return st ? st : cope_fail(err, COPE_ERR_NOMEM, "out of memory (trace of %d tokens)", T);
    }
    tr->positions = tr->gates + L;
    tr->content_logits = tr->gates + 2 * L;
    tr->cope_logits = tr->gates + 3 * L;
    tr->attn = tr->gates + 4 * L;
    tr->pos_attn = tr->gates + 5 * L;
    float *p = tr->logits + (size_t)T * c->vocab_size;
    for (int k = 0; k < 6; k++)
        for (size_t l = 0; l < L; l++, p += per) trace_arrays(tr, k)[l] = p;
    *out = tr;
    return COPE_OK;
}

void cope_trace_free(cope_trace *tr) {
    if (!tr) return;
    cope_workspace_free(tr->ws);
    free(tr->logits);
    free(tr->gates);
    free(tr);
}

cope_status cope_trace_run(cope_model *m, cope_trace *tr, const int *ids, int T, cope_error *err) {
    if (!m || !tr || !ids) return cope_fail(err, COPE_ERR_ARG, "NULL model, trace or ids");
    if (T != tr->T) return cope_fail(err, COPE_ERR_ARG, "trace was made for %d tokens, got %d", tr->T, T);
    cope_status st = check_ids(m, ids, (size_t)T, "ids", err);
    if (st) return st;
    memcpy(tr->ws->ids, ids, (size_t)T * sizeof(int));
    forward_pass(m, tr->ws, tr);
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Incremental decoding */
#define STEP_ROWS 6 /* gates, positions, content_logits, cope_logits, attn, pos_attn */
static const char *const step_row_names[STEP_ROWS] = {"gates", "positions", "content_logits",
                                                      "cope_logits", "attn", "pos_attn"};

struct cope_state {
    int len;
    float *kt, *kgt;         /* [L, D, n_ctx] keys transposed (row t of head h at h*d + t) */
    float *vc;               /* [L, n_ctx, D] values */
    float *krow;             /* [D] */
    float *x, *ln, *q, *y, *tmp, *mean, *rstd; /* [D] (mean, rstd: [1]) */
    float *h, *hg;           /* [F] */
    float *z, *relz;         /* [npos], [R] */
    float *rows;             /* [STEP_ROWS, L, H, n_ctx] */
    const cope_model *m;
    float *memory;
};

cope_status cope_state_new(cope_state **out, const cope_model *m, cope_error *err) {
    *out = NULL;
    const cope_config *c = &m->cfg;
    size_t L = (size_t)c->n_layer, C = (size_t)c->n_ctx, D = (size_t)c->d_model, F = (size_t)c->d_ff;
    size_t np = (size_t)(c->npos > 0 ? c->npos : 1), R = (size_t)(c->rel_max > 0 ? c->rel_max : 1);
    size_t rows = STEP_ROWS * L * (size_t)c->n_head * C;
    size_t total = 3 * L * C * D + 6 * D + 2 + 2 * F + np + R + rows;
    cope_state *s = calloc(1, sizeof *s);
    if (!s || !(s->memory = calloc(total, sizeof(float)))) {
        free(s);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (decoding state)");
    }
    float *p = s->memory;
    s->kt = p; p += L * C * D;
    s->vc = p; p += L * C * D;
    s->kgt = p; p += L * C * D;
    s->krow = p; p += D;
    s->x = p; p += D; s->ln = p; p += D; s->q = p; p += D; s->y = p; p += D; s->tmp = p; p += D;
    s->mean = p++; s->rstd = p++;
    s->h = p; p += F; s->hg = p; p += F;
    s->z = p; p += np; s->relz = p; p += R;
    s->rows = p;
    s->m = m;
    *out = s;
    return COPE_OK;
}

void cope_state_free(cope_state *s) {
    if (!s) return;
    free(s->memory);
    free(s);
}

void cope_state_reset(cope_state *s) { s->len = 0; }
int cope_state_length(const cope_state *s) { return s->len; }

const float *cope_step_row(const cope_state *s, int l, int h, const char *which) {
    const cope_config *c = &s->m->cfg;
    if (l < 0 || l >= c->n_layer || h < 0 || h >= c->n_head || !which) return NULL;
    for (int k = 0; k < STEP_ROWS; k++)
        if (strcmp(which, step_row_names[k]) == 0)
            return s->rows + (((size_t)k * c->n_layer + l) * c->n_head + h) * c->n_ctx;
    return NULL;
}

cope_status cope_step(cope_model *m, cope_state *s, int id, float *logits, cope_error *err) {
    const cope_config *c = &m->cfg;
    if (s->m != m) return cope_fail(err, COPE_ERR_ARG, "state belongs to another model");
    if (id < 0 || id >= c->vocab_size)
        return cope_fail(err, COPE_ERR_TOKEN, "token id %d is outside the vocabulary 0..%d", id, c->vocab_size - 1);
    if (s->len >= c->n_ctx)
        return cope_fail(err, COPE_ERR_CONTEXT, "the context is full (n_ctx = %d)", c->n_ctx);
    const int D = c->d_model, F = c->d_ff, V = c->vocab_size, H = c->n_head, L = c->n_layer, t = s->len;
    const attn_dims dm = model_attn_dims(m);
    const int d = dm.d;
    const size_t C = (size_t)c->n_ctx;
    memcpy(s->x, P(m->tok_emb) + (size_t)id * D, (size_t)D * sizeof(float));
    if (c->pe == COPE_PE_ABS)
        for (int i = 0; i < D; i++) s->x[i] += P(m->pos_emb)[(size_t)t * D + i];
    for (int l = 0; l < L; l++) {
        const layer_offsets *lo = &m->layers[l];
        float *kt = s->kt + (size_t)l * D * C, *kgt = s->kgt + (size_t)l * D * C, *vc = s->vc + (size_t)l * C * D;
        layernorm_forward(s->ln, s->mean, s->rstd, s->x, P(lo->ln1_w), P(lo->ln1_b), 1, D);
        matmul_forward(s->q, s->ln, P(lo->wq), P(lo->bq), NULL, 1, D, D);
        matmul_forward(vc + (size_t)t * D, s->ln, P(lo->wv), P(lo->bv), NULL, 1, D, D);
        if (cope_pe_has_rope(c->pe)) rope_apply(s->q, 1, 1, H, d, (size_t)D, m->rope_cs, +1, t);
        for (int pass = 0; pass < (dm.sep_keys ? 2 : 1); pass++) { /* k, then kg: into the transposed caches */
            matmul_forward(s->krow, s->ln, P(pass ? lo->wkg : lo->wk), P(pass ? lo->bkg : lo->bk), NULL, 1, D, D);
            if (cope_pe_has_rope(c->pe)) rope_apply(s->krow, 1, 1, H, d, (size_t)D, m->rope_cs, +1, t);
            float *dst = pass ? kgt : kt;
            for (int i = 0; i < D; i++) dst[(size_t)i * C + t] = s->krow[i];
        }
        for (int h = 0; h < H; h++) {
            float *r[STEP_ROWS];
            for (int k = 0; k < STEP_ROWS; k++) r[k] = (float *)cope_step_row(s, l, h, step_row_names[k]);
            attn_row_forward(&dm, t, s->q + (size_t)h * d, kt + (size_t)h * d * C, kgt + (size_t)h * d * C, C,
                             vc + (size_t)h * d, (size_t)D, cope_table(m, m->params, l, h),
                             rel_table(m, m->params, l, h), r[4], r[0], r[1], s->z, s->relz,
                             s->y + (size_t)h * d, r[2], r[3], r[5]);
            pos_attn_row(r[5], t);
        }
        matmul_forward(s->tmp, s->y, P(lo->wo), P(lo->bo), NULL, 1, D, D);
        for (int i = 0; i < D; i++) s->x[i] += s->tmp[i];
        layernorm_forward(s->ln, s->mean, s->rstd, s->x, P(lo->ln2_w), P(lo->ln2_b), 1, D);
        matmul_forward(s->h, s->ln, P(lo->fc1_w), P(lo->fc1_b), NULL, 1, D, F);
        gelu_forward(s->hg, s->h, (size_t)F);
        matmul_forward(s->tmp, s->hg, P(lo->fc2_w), P(lo->fc2_b), NULL, 1, F, D);
        for (int i = 0; i < D; i++) s->x[i] += s->tmp[i];
    }
    layernorm_forward(s->ln, s->mean, s->rstd, s->x, P(m->ln_f_w), P(m->ln_f_b), 1, D);
    if (logits) matmul_forward(logits, s->ln, P(model_out_weight(m)), NULL, NULL, 1, D, V);
    s->len++;
    return COPE_OK;
}
