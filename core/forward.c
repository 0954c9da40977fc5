/* forward.c — the model: batched forward and backward for training, the trace of one sequence
 * (everything the visualizer draws), and incremental decoding with a KV cache. The structure of
 * the model is written once, in block_forward and model_forward; the three uses differ only in
 * where the activations live, where keys come from (the batch or the cache) and where the trace
 * rows go (nowhere, the trace, or the decoding state's rows). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "ops.h"

#define P(off) (m->params + (off))

/* ---------------------------------------------------------------------------------------------
 * Carving buffers out of one allocation: the same walk first counts (base NULL), then assigns.
 * Used for the workspace, the trace and the decoding state. Zero-sized buffers are NULL. Sizes
 * are counted in 64 bits, so a size that a 32-bit size_t (wasm) cannot hold is seen and refused
 * (fits_size) instead of wrapping into a small allocation. */
typedef struct {
    float *base;
    uint64_t off;
} carver;

/* n floats can be allocated here: n * 4 bytes fit in size_t (with room to spare) */
static int fits_size(uint64_t n) { return n <= (uint64_t)(SIZE_MAX / 2 / sizeof(float)); }

static float *carve(carver *c, uint64_t n) {
    float *p = c->base && n ? c->base + c->off : NULL;
    c->off += n;
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * Activations of one block over N = B*T rows (kept for backward in training) */
typedef struct {
    float *resid; /* [N, D] input of the block */
    float *ln1, *ln1_mean, *ln1_rstd;
    float *q, *k, *v, *kg;   /* [N, D], after RoPE (kg: sep keys only) */
    float *att, *gate, *pos; /* [B, H, T, keys] (gate, pos: CoPE only) */
    float *z;                /* [B, H, T, npos] */
    float *atty;             /* [N, D] attention output before the o projection */
    float *resid2;           /* [N, D] after the attention residual */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fch_gelu; /* [N, F] */
} layer_acts;

/* keys: the length of an attention row buffer (T in a batch, n_ctx when decoding) */
static void carve_layer(carver *cv, layer_acts *a, const cope_config *c, uint64_t B, uint64_t T, uint64_t keys) {
    uint64_t N = B * T, D = (uint64_t)c->d_model, F = (uint64_t)c->d_ff, H = (uint64_t)c->n_head;
    uint64_t np = cope_pe_has_cope(c->pe) ? (uint64_t)c->npos : 0;
    int sep = cope_pe_has_cope(c->pe) && c->sep_keys;
    a->resid = carve(cv, N * D);
    a->ln1 = carve(cv, N * D);
    a->ln1_mean = carve(cv, N);
    a->ln1_rstd = carve(cv, N);
    a->q = carve(cv, N * D);
    a->k = carve(cv, N * D);
    a->v = carve(cv, N * D);
    a->kg = carve(cv, sep ? N * D : 0);
    a->att = carve(cv, B * H * T * keys);
    a->gate = carve(cv, np ? B * H * T * keys : 0);
    a->pos = carve(cv, np ? B * H * T * keys : 0);
    a->z = carve(cv, B * H * T * np);
    a->atty = carve(cv, N * D);
    a->resid2 = carve(cv, N * D);
    a->ln2 = carve(cv, N * D);
    a->ln2_mean = carve(cv, N);
    a->ln2_rstd = carve(cv, N);
    a->fch = carve(cv, N * F);
    a->fch_gelu = carve(cv, N * F);
}

/* What one forward runs over: per-layer activations (or one set reused by every layer when they
 * are not kept), the final LayerNorm and logits, and scratch. */
typedef struct {
    layer_acts *layers; /* [n_acts] */
    int n_acts;         /* n_layer (kept for backward) or 1 (decoding) */
    float *resid_final; /* [N, D] */
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits;      /* [N, V] */
    float *mm_scratch;  /* for matmul_forward: a transposed weight (NULL when N < 4) */
    float *row_scratch; /* attention rows, per (batch, head) */
} forward_bufs;

/* Where a forward writes the trace rows: row i of head h in layer l of array k starts at
 * base[k] + l * layer + h * head + i * row (the trace: [L, H, T, T]; decoding: [L, H, n_ctx], the
 * one new row, row stride 0). */
typedef struct {
    float *base[COPE_TRACE_COUNT];
    size_t layer, head, row;
    const float *force; /* the trace's gate interventions: [L, H, T], NaN where none; or NULL */
} trace_sink;

static float *sink_row(const trace_sink *s, cope_trace_array k, int l, int h, int i) {
    return s->base[k] + (size_t)l * s->layer + (size_t)h * s->head + (size_t)i * s->row;
}

/* The decoding cache, per layer: keys and gate keys transposed [D, C] (feature t of head h in row
 * h*d + t), values [C, D]. */
typedef struct {
    float *kt, *kgt, *v;
    size_t C;
} kv_cache;

/* ---------------------------------------------------------------------------------------------
 * Workspace: activations of one forward (kept for backward) and gradient scratch */
struct cope_workspace {
    int B, T; /* the current call's batch (<= the allocated B_max x T_max) */
    int B_max, T_max;
    int train; /* 1: every layer's activations kept and the backward's buffers (cope_workspace_new);
                  0: forward only, one set of activations reused by every layer (a trace) */
    forward_bufs f;
    float *probs;       /* [N, V] softmax of the logits (rows with mask 1) */
    float *losses;      /* [N] */
    int *ids, *targets; /* [N] */
    float *mask;        /* [N] */
    float mask_sum;
    int has_targets;
    /* backward scratch */
    float *dresid, *dln, *datty, *dq, *dk, *dv, *dkg; /* [N, D] */
    float *dfch, *dfch_gelu;                          /* [N, F] */
    float *dz, *drelz;                                /* [B, H, T, npos], [B, H, T, R] */
    float *dlogits;                                   /* [N, V] */
    float *memory;
};

/* Per (batch, head) scratch: the transposed keys and gate keys (forward) or values (backward),
 * 2dT; relz, TR; the backward row's scratch, ATTN_BWD_SCRATCH(T); the backward's coefficient
 * matrices, T^2 (and T^2 more with sep keys); a table transposed, d max(npos, R). */
#define ROW_SCRATCH(T, d, R, np, sep)                                                                                  \
    (2 * (size_t)(d) * (size_t)(T) + (size_t)(T) * (size_t)(R) + ATTN_BWD_SCRATCH(T) +                                 \
     (size_t)(T) * (size_t)(T) * (1 + (size_t)(sep)) + (size_t)(d) * ((np) > (R) ? (size_t)(np) : (size_t)(R)))

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
    dm.npos = dm.has_cope ? c->npos : 0; /* sizes of buffers that exist only with the feature */
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

static uint64_t max3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* Carves the workspace from one allocation; with base == NULL only counts. */
static uint64_t workspace_layout(struct cope_workspace *w, const cope_model *m, float *base) {
    const cope_config *c = &m->cfg;
    uint64_t B = (uint64_t)w->B_max, T = (uint64_t)w->T_max, N = B * T, D = (uint64_t)c->d_model, F = (uint64_t)c->d_ff,
             V = (uint64_t)c->vocab_size, H = (uint64_t)c->n_head;
    uint64_t np = cope_pe_has_cope(c->pe) ? (uint64_t)c->npos : 0;
    uint64_t R = cope_pe_has_rel(c->pe) ? (uint64_t)c->rel_max : 0;
    int sep = cope_pe_has_cope(c->pe) && c->sep_keys;
    uint64_t G = w->train ? 1 : 0; /* the backward's buffers, or none */
    carver cv = {base, 0};
    for (int l = 0; l < w->f.n_acts; l++) carve_layer(&cv, &w->f.layers[l], c, B, T, T);
    w->f.resid_final = carve(&cv, N * D);
    w->f.lnf = carve(&cv, N * D);
    w->f.lnf_mean = carve(&cv, N);
    w->f.lnf_rstd = carve(&cv, N);
    w->f.logits = carve(&cv, N * V);
    /* a transposed weight [C, OC] of matmul_forward: C x OC is D x D, D x F, F x D or D x V */
    w->f.mm_scratch = carve(&cv, D * max3(D, F, V));
    w->f.row_scratch = carve(&cv, B * H * ROW_SCRATCH(T, D / H, R, np, sep));
    w->probs = carve(&cv, G * N * V);
    w->losses = carve(&cv, G * N);
    w->mask = carve(&cv, G * N);
    w->dresid = carve(&cv, G * N * D);
    w->dln = carve(&cv, G * N * D);
    w->datty = carve(&cv, G * N * D);
    w->dq = carve(&cv, G * N * D);
    w->dk = carve(&cv, G * N * D);
    w->dv = carve(&cv, G * N * D);
    w->dkg = carve(&cv, sep ? G * N * D : 0);
    w->dfch = carve(&cv, G * N * F);
    w->dfch_gelu = carve(&cv, G * N * F);
    w->dz = carve(&cv, G * B * H * T * np);
    w->drelz = carve(&cv, G * B * H * T * R);
    w->dlogits = carve(&cv, G * N * V);
    return cv.off;
}

static cope_status workspace_new(cope_workspace **out, const cope_model *m, int B, int T, int train, cope_error *err) {
    *out = NULL;
    const cope_config *c = &m->cfg;
    if (B < 1 || T < 1) return cope_fail(err, COPE_ERR_ARG, "batch %d x length %d is empty", B, T);
    if (T > c->n_ctx)
        return cope_fail(err, COPE_ERR_CONTEXT, "sequence length %d exceeds the model's context n_ctx = %d", T,
                         c->n_ctx);
    /* Estimate in double first so the size_t arithmetic below cannot overflow. */
    double est =
        (double)B * T *
            ((double)c->n_layer * (14.0 * c->d_model + 2.0 * c->d_ff + (double)c->n_head * (3.0 * T + c->npos + 8)) +
             5.0 * c->vocab_size + 16.0 * c->d_model + 2.0 * c->d_ff) +
        4.0 * (double)c->d_model * (c->d_model + c->d_ff + c->vocab_size);
    if (est * 4.0 > 16e9)
        return cope_fail(err, COPE_ERR_LIMIT, "workspace for batch %d x %d would need %.1f GB", B, T, est * 4e-9);
    struct cope_workspace *w = calloc(1, sizeof *w);
    if (!w) return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    w->B = w->B_max = B;
    w->T = w->T_max = T;
    w->train = train;
    w->f.n_acts = train ? c->n_layer : 1;
    w->f.layers = calloc((size_t)w->f.n_acts, sizeof(layer_acts));
    w->ids = malloc((size_t)B * T * sizeof(int));
    w->targets = malloc((size_t)B * T * sizeof(int));
    uint64_t n = w->f.layers ? workspace_layout(w, m, NULL) : 0;
    if (w->f.layers && !fits_size(n)) {
        cope_workspace_free(w);
        return cope_fail(err, COPE_ERR_LIMIT,
                         "workspace for batch %d x %d would need %.1f GB, more than this build "
                         "can address",
                         B, T, (double)n * 4e-9);
    }
    w->memory = w->f.layers ? calloc((size_t)n, sizeof(float)) : NULL;
    if (!w->memory || !w->ids || !w->targets) {
        cope_workspace_free(w);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (workspace for batch %d x %d)", B, T);
    }
    workspace_layout(w, m, w->memory);
    *out = w;
    return COPE_OK;
}

cope_status cope_workspace_new(cope_workspace **out, const cope_model *m, int B, int T, cope_error *err) {
    return workspace_new(out, m, B, T, 1, err);
}

void cope_workspace_free(cope_workspace *w) {
    if (!w) return;
    free(w->memory);
    free(w->f.layers);
    free(w->ids);
    free(w->targets);
    free(w);
}

const float *cope_workspace_logits(const cope_workspace *ws) { return ws->f.logits; }

/* ---------------------------------------------------------------------------------------------
 * Forward */
static cope_status check_ids(const cope_model *m, const int *ids, size_t n, const char *what, cope_error *err) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return cope_fail(err, COPE_ERR_TOKEN, "%s[%zu] = %d is outside the vocabulary 0..%d", what, i, ids[i],
                             m->cfg.vocab_size - 1);
    return COPE_OK;
}

/* The trace rows of query i that the attention computed elsewhere: the probabilities, gates and
 * positions copied, the position-only logits turned into Figure 4's row (max 1). */
static void trace_rows(const trace_sink *sink, const attn_dims *dm, int l, int h, int i, const float *a, const float *g,
                       const float *p, float *P) {
    size_t n = (size_t)(i + 1) * sizeof(float);
    pos_attn_row(P, i);
    memcpy(sink_row(sink, COPE_TRACE_ATTN, l, h, i), a, n);
    if (dm->has_cope) {
        memcpy(sink_row(sink, COPE_TRACE_GATES, l, h, i), g, n);
        memcpy(sink_row(sink, COPE_TRACE_POSITIONS, l, h, i), p, n);
    }
}

/* Attention of one block for B sequences of T queries at positions pos0 + 0..T-1: a->atty from
 * a->q and the keys and values, which are this batch's own (a->k, a->kg, a->v, transposed per
 * head into scratch) or, with a cache, the cache's keys 0..pos0 (decoding: B = T = 1). The rows of
 * a->att, a->gate, a->pos are `keys` long. Writes the trace rows to sink when it is non-NULL. */
static void attention_forward(const cope_model *m, int l, layer_acts *a, int B, int T, int pos0, const kv_cache *kv,
                              float *scratch, size_t keys, const trace_sink *sink) {
    const cope_config *c = &m->cfg;
    const int D = c->d_model, H = c->n_head;
    const attn_dims dm = model_attn_dims(m);
    const int d = dm.d, npos = dm.npos, R = dm.rel_max;
    if (kv) { /* decoding: the one new query (B = T = 1) against the cache, a row per head */
        size_t C = kv->C;
        for (int h = 0; h < H; h++) {
            attn_row_fwd x = {.q = a->q + (size_t)h * d,
                              .y = a->atty + (size_t)h * d,
                              .Kt = kv->kt + (size_t)l * D * C + (size_t)h * d * C,
                              .Kgt = kv->kgt ? kv->kgt + (size_t)l * D * C + (size_t)h * d * C : NULL,
                              .ldk = C,
                              .V = kv->v + (size_t)l * C * D + (size_t)h * d,
                              .ldv = (size_t)D,
                              .e = cope_table(m, m->params, l, h),
                              .r = rel_table(m, m->params, l, h),
                              .a = a->att + (size_t)h * keys,
                              .g = dm.has_cope ? a->gate + (size_t)h * keys : NULL,
                              .p = dm.has_cope ? a->pos + (size_t)h * keys : NULL,
                              .z = dm.has_cope ? a->z + (size_t)h * npos : NULL,
                              .relz = R ? scratch + (size_t)h * R : NULL};
            if (sink) {
                x.s_out = sink_row(sink, COPE_TRACE_CONTENT_LOGITS, l, h, pos0);
                x.c_out = sink_row(sink, COPE_TRACE_COPE_LOGITS, l, h, pos0);
                x.P_out = sink_row(sink, COPE_TRACE_POS_ATTN, l, h, pos0);
            }
            attn_row_forward(&dm, pos0, &x);
            if (sink) trace_rows(sink, &dm, l, h, pos0, x.a, x.g, x.p, x.P_out);
        }
        return;
    }
    /* a batch: each (sequence, head) is one block of GEMMs and row passes; threads split them. With
     * a trace (B = 1), the trace's rows (stride T) are written in place. */
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        size_t kvo = (size_t)b * T * D + (size_t)h * d, blk = (size_t)bh * T * T;
        float *Kt = scratch + (size_t)bh * ROW_SCRATCH(T, d, R, npos, dm.sep_keys), *Kgt = Kt + (size_t)d * T,
              *relz = Kgt + (size_t)d * T;
        head_transpose(Kt, a->k + kvo, T, d, D);
        if (dm.sep_keys) head_transpose(Kgt, a->kg + kvo, T, d, D);
        attn_head_fwd x = {.T = T,
                           .Q = a->q + kvo,
                           .Kt = Kt,
                           .Kgt = dm.sep_keys ? Kgt : NULL,
                           .V = a->v + kvo,
                           .ld = (size_t)D,
                           .e = cope_table(m, m->params, l, h),
                           .r = rel_table(m, m->params, l, h),
                           .att = a->att + blk,
                           .gate = dm.has_cope ? a->gate + blk : NULL,
                           .pos = dm.has_cope ? a->pos + blk : NULL,
                           .z = dm.has_cope ? a->z + (size_t)bh * T * npos : NULL,
                           .relz = relz,
                           .Y = a->atty + kvo};
        if (sink) {
            x.S_out = sink_row(sink, COPE_TRACE_CONTENT_LOGITS, l, h, 0);
            x.C_out = dm.has_cope ? sink_row(sink, COPE_TRACE_COPE_LOGITS, l, h, 0) : NULL;
            x.P_out = sink_row(sink, COPE_TRACE_POS_ATTN, l, h, 0);
            if (sink->force) x.gforce = sink->force + ((size_t)l * H + h) * T;
        }
        attn_head_forward(&dm, &x);
        if (sink)
            for (int i = 0; i < T; i++) {
                size_t row = (size_t)i * T;
                trace_rows(sink, &dm, l, h, i, x.att + row, dm.has_cope ? x.gate + row : NULL,
                           dm.has_cope ? x.pos + row : NULL, x.P_out + row);
            }
    }
}

/* Appends the block's new key, gate key and value rows (N = 1, at position t) to the cache. */
static void cache_append(const kv_cache *kv, const layer_acts *a, int l, int t, int D) {
    size_t C = kv->C, base = (size_t)l * D * C;
    for (int i = 0; i < D; i++) kv->kt[base + (size_t)i * C + t] = a->k[i];
    if (kv->kgt)
        for (int i = 0; i < D; i++) kv->kgt[base + (size_t)i * C + t] = a->kg[i];
    memcpy(kv->v + base + (size_t)t * D, a->v, (size_t)D * sizeof(float));
}

/* One pre-norm block (GPT-2) over N = B*T rows at positions pos0 + n % T:
 *   x2  = x + o(attn(ln1(x)))
 *   out = x2 + fc2(gelu(fc1(ln2(x2))))
 * x is a->resid; out may be a->resid itself (it is read for the last time before out is written).
 * With a cache (decoding, N = 1) the new key and value rows are appended to it first. */
static void block_forward(const cope_model *m, int l, layer_acts *a, float *out, int B, int T, int pos0,
                          const kv_cache *kv, const forward_bufs *f, size_t keys, const trace_sink *sink) {
    const cope_config *c = &m->cfg;
    const layer_offsets *lo = &m->layers[l];
    const int N = B * T, D = c->d_model, F = c->d_ff, H = c->n_head, d = D / H;
    const int sep = cope_pe_has_cope(c->pe) && c->sep_keys;
    float *mm = f->mm_scratch;
    layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, a->resid, P(lo->ln1_w), P(lo->ln1_b), N, D);
    matmul_forward(a->q, a->ln1, P(lo->wq), P(lo->bq), mm, N, D, D);
    matmul_forward(a->k, a->ln1, P(lo->wk), P(lo->bk), mm, N, D, D);
    matmul_forward(a->v, a->ln1, P(lo->wv), P(lo->bv), mm, N, D, D);
    if (sep) matmul_forward(a->kg, a->ln1, P(lo->wkg), P(lo->bkg), mm, N, D, D);
    if (cope_pe_has_rope(c->pe)) {
        rope_apply(a->q, N, T, H, d, (size_t)D, m->rope_cs, +1, pos0);
        rope_apply(a->k, N, T, H, d, (size_t)D, m->rope_cs, +1, pos0);
        if (sep) rope_apply(a->kg, N, T, H, d, (size_t)D, m->rope_cs, +1, pos0);
    }
    if (kv) cache_append(kv, a, l, pos0, D);
    attention_forward(m, l, a, B, T, pos0, kv, f->row_scratch, keys, sink);
    matmul_forward(a->resid2, a->atty, P(lo->wo), P(lo->bo), mm, N, D, D);
    residual_forward(a->resid2, a->resid2, a->resid, (size_t)N * D);
    layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->resid2, P(lo->ln2_w), P(lo->ln2_b), N, D);
    matmul_forward(a->fch, a->ln2, P(lo->fc1_w), P(lo->fc1_b), mm, N, D, F);
    gelu_forward(a->fch_gelu, a->fch, (size_t)N * F);
    matmul_forward(out, a->fch_gelu, P(lo->fc2_w), P(lo->fc2_b), mm, N, F, D);
    residual_forward(out, out, a->resid2, (size_t)N * D);
}

/* The whole model over ids[B*T] at positions pos0 + t: embedding, the blocks, the final LayerNorm
 * and the logits, into f. */
static void model_forward(const cope_model *m, const forward_bufs *f, const int *ids, int B, int T, int pos0,
                          const kv_cache *kv, size_t keys, const trace_sink *sink) {
    const cope_config *c = &m->cfg;
    const int N = B * T, D = c->d_model, L = c->n_layer;
    encoder_forward(f->layers[0].resid, ids, P(m->tok_emb), c->pe == COPE_PE_ABS ? P(m->pos_emb) : NULL, N, T, pos0, D);
    for (int l = 0; l < L; l++) {
        layer_acts *a = &f->layers[f->n_acts > 1 ? l : 0];
        float *out = l + 1 == L ? f->resid_final : f->layers[f->n_acts > 1 ? l + 1 : 0].resid;
        block_forward(m, l, a, out, B, T, pos0, kv, f, keys, sink);
    }
    layernorm_forward(f->lnf, f->lnf_mean, f->lnf_rstd, f->resid_final, P(m->ln_f_w), P(m->ln_f_b), N, D);
    matmul_forward(f->logits, f->lnf, P(model_out_weight(m)), NULL, f->mm_scratch, N, D, c->vocab_size);
}

cope_status cope_forward(cope_model *m, cope_workspace *w, const int *ids, const int *targets, const float *mask, int B,
                         int T, float *loss, cope_error *err) {
    if (!m || !w || !ids) return cope_fail(err, COPE_ERR_ARG, "NULL model, workspace or ids");
    if (!w->train) return cope_fail(err, COPE_ERR_ARG, "a trace's workspace is forward-only: use cope_workspace_new");
    if (B < 1 || T < 1 || B > w->B_max || T > w->T_max)
        return cope_fail(err, COPE_ERR_ARG, "batch %d x %d does not fit the workspace's %d x %d", B, T, w->B_max,
                         w->T_max);
    size_t N = (size_t)B * T;
    cope_status st;
    w->has_targets = 0; /* until this call succeeds with targets */
    if (loss) *loss = NAN;
    if ((st = check_ids(m, ids, N, "ids", err))) return st;
    if (targets) {
        if ((st = check_ids(m, targets, N, "targets", err))) return st;
        size_t msum = 0;
        for (size_t n = 0; n < N; n++) {
            float mk = mask ? mask[n] : 1.0f;
            if (!(mk == 0.0f || mk == 1.0f)) return cope_fail(err, COPE_ERR_ARG, "mask[%zu] = %g is not 0 or 1", n, mk);
            msum += mk == 1.0f;
        }
        if (!msum) return cope_fail(err, COPE_ERR_ARG, "the loss mask selects no token");
        w->mask_sum = (float)msum;
    }
    /* A smaller batch uses the start of every buffer: each region is sized for B_max x T_max. */
    w->B = B;
    w->T = T;
    memcpy(w->ids, ids, N * sizeof(int));
    model_forward(m, &w->f, w->ids, B, T, 0, NULL, (size_t)T, NULL);
    if (!targets) return COPE_OK;
    memcpy(w->targets, targets, N * sizeof(int));
    for (size_t n = 0; n < N; n++) w->mask[n] = mask ? mask[n] : 1.0f;
    const int V = m->cfg.vocab_size;
    crossentropy_forward(w->losses, w->probs, w->f.logits, w->targets, w->mask, (int)N, V);
    double total = 0.0; /* the mean over tokens, accumulated in double */
    for (size_t n = 0; n < N; n++)
        if (w->mask[n] != 0.0f) total += w->losses[n];
    w->has_targets = 1;
    if (loss) *loss = (float)(total / w->mask_sum);
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Backward (every parameter; gradients written into g, same layout as the parameters) */
#define G(off) (g + (off))

cope_status cope_backward(cope_model *m, cope_workspace *w, float *g, cope_error *err) {
    if (!m || !w || !g) return cope_fail(err, COPE_ERR_ARG, "NULL model, workspace or gradient buffer");
    if (!w->has_targets) return cope_fail(err, COPE_ERR_ARG, "backward needs a forward with targets");
    const cope_config *c = &m->cfg;
    const int B = w->B, T = w->T, N = B * T, D = c->d_model, F = c->d_ff, V = c->vocab_size, H = c->n_head,
              L = c->n_layer;
    const attn_dims dm = model_attn_dims(m);
    const int d = dm.d, npos = dm.npos, R = dm.rel_max;
    const size_t ND = (size_t)N * D, NF = (size_t)N * F;
    memset(g, 0, m->n_params * sizeof(float));
    /* loss = sum_n mask_n CE_n / sum mask */
    crossentropy_backward(w->dlogits, w->probs, w->targets, w->mask, w->mask_sum, N, V);
    matmul_backward(w->dln, G(model_out_weight(m)), NULL, w->dlogits, w->f.lnf, P(model_out_weight(m)), N, D, V, 0);
    /* dresid is d(the block's output); the residual passes it on unchanged, and each branch's
     * backward accumulates its own part into it, so it becomes d(the block's input). */
    memset(w->dresid, 0, ND * sizeof(float));
    layernorm_backward(w->dresid, G(m->ln_f_w), G(m->ln_f_b), w->dln, w->f.resid_final, P(m->ln_f_w), w->f.lnf_mean,
                       w->f.lnf_rstd, N, D);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts *a = &w->f.layers[l];
        const layer_offsets *lo = &m->layers[l];
        /* MLP: out = resid2 + fc2(gelu(fc1(ln2(resid2)))) */
        /* (buffers that a step writes whole are written, not zeroed and accumulated) */
        matmul_backward(w->dfch_gelu, G(lo->fc2_w), G(lo->fc2_b), w->dresid, a->fch_gelu, P(lo->fc2_w), N, F, D, 0);
        gelu_backward(w->dfch, a->fch, w->dfch_gelu, NF);
        matmul_backward(w->dln, G(lo->fc1_w), G(lo->fc1_b), w->dfch, a->ln2, P(lo->fc1_w), N, D, F, 0);
        layernorm_backward(w->dresid, G(lo->ln2_w), G(lo->ln2_b), w->dln, a->resid2, P(lo->ln2_w), a->ln2_mean,
                           a->ln2_rstd, N, D);
        /* attention: resid2 = resid + o(attn(ln1(resid))) */
        matmul_backward(w->datty, G(lo->wo), G(lo->bo), w->dresid, a->atty, P(lo->wo), N, D, D, 0);
#pragma omp parallel for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H;
            size_t kvo = (size_t)b * T * D + (size_t)h * d, blk = (size_t)bh * T * T;
            float *Vt = w->f.row_scratch + (size_t)bh * ROW_SCRATCH(T, d, R, npos, dm.sep_keys),
                  *row = Vt + 2 * (size_t)d * T + (size_t)T * R, *coef = row + ATTN_BWD_SCRATCH(T),
                  *coefg = coef + (size_t)T * T, *tab_t = coefg + (dm.sep_keys ? (size_t)T * T : 0);
            head_transpose(Vt, a->v + kvo, T, d, D);
            attn_head_bwd x = {.T = T,
                               .Q = a->q + kvo,
                               .K = a->k + kvo,
                               .Kg = dm.sep_keys ? a->kg + kvo : NULL,
                               .Vt = Vt,
                               .ld = (size_t)D,
                               .e = cope_table(m, m->params, l, h),
                               .r = rel_table(m, m->params, l, h),
                               .att = a->att + blk,
                               .gate = dm.has_cope ? a->gate + blk : NULL,
                               .pos = dm.has_cope ? a->pos + blk : NULL,
                               .z = dm.has_cope ? a->z + (size_t)bh * T * npos : NULL,
                               .dY = w->datty + kvo,
                               .dQ = w->dq + kvo,
                               .dK = w->dk + kvo,
                               .dKg = dm.sep_keys ? w->dkg + kvo : NULL,
                               .dV = w->dv + kvo,
                               .dz = dm.has_cope ? w->dz + (size_t)bh * T * npos : NULL,
                               .drelz = dm.has_rel ? w->drelz + (size_t)bh * T * R : NULL,
                               .coef = coef,
                               .coefg = dm.sep_keys ? coefg : NULL,
                               .tab_t = tab_t,
                               .scratch = row};
            attn_head_backward(&dm, &x);
        }
        /* tables: dE [d, ncol] += Q_bh^T dZ_bh summed over the (sequence, head) blocks that use the
         * table, in block order (a GEMM each, A = the head's queries read down their columns); dR
         * likewise. Threads own tables. */
        for (int which = 0; which < 2; which++) {
            int on = which == 0 ? dm.has_cope : dm.has_rel;
            if (!on) continue;
            int ncol = which == 0 ? npos : R;
            int ntab = which == 0 && !c->per_head_table ? 1 : H;
            const float *src = which == 0 ? w->dz : w->drelz;
#pragma omp parallel for schedule(static)
            for (int tb = 0; tb < ntab; tb++) {
                float *dst = which == 0 ? cope_table(m, g, l, tb) : rel_table(m, g, l, tb);
                for (int bh = 0; bh < B * H; bh++) {
                    int b = bh / H, h = bh % H;
                    if (ntab > 1 && h != tb) continue;
                    op_gemm_call(0, dst, (size_t)ncol, a->q + (size_t)b * T * D + (size_t)h * d, 1, (size_t)D,
                                 src + (size_t)bh * T * ncol, (size_t)ncol, d, T, ncol, 1, GEMM_FULL);
                }
            }
        }
        if (cope_pe_has_rope(c->pe)) { /* the rotation's transpose */
            rope_apply(w->dq, N, T, H, d, (size_t)D, m->rope_cs, -1, 0);
            rope_apply(w->dk, N, T, H, d, (size_t)D, m->rope_cs, -1, 0);
            if (dm.sep_keys) rope_apply(w->dkg, N, T, H, d, (size_t)D, m->rope_cs, -1, 0);
        }
        matmul_backward(w->dln, G(lo->wq), G(lo->bq), w->dq, a->ln1, P(lo->wq), N, D, D, 0);
        matmul_backward(w->dln, G(lo->wk), G(lo->bk), w->dk, a->ln1, P(lo->wk), N, D, D, 1);
        matmul_backward(w->dln, G(lo->wv), G(lo->bv), w->dv, a->ln1, P(lo->wv), N, D, D, 1);
        if (dm.sep_keys) matmul_backward(w->dln, G(lo->wkg), G(lo->bkg), w->dkg, a->ln1, P(lo->wkg), N, D, D, 1);
        layernorm_backward(w->dresid, G(lo->ln1_w), G(lo->ln1_b), w->dln, a->resid, P(lo->ln1_w), a->ln1_mean,
                           a->ln1_rstd, N, D);
    }
    encoder_backward(G(m->tok_emb), c->pe == COPE_PE_ABS ? G(m->pos_emb) : NULL, w->dresid, w->ids, N, T, D);
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Trace */
static const char *const trace_names[COPE_TRACE_COUNT] = {"gates",       "positions", "content_logits",
                                                          "cope_logits", "attn",      "pos_attn"};

const char *cope_trace_name(cope_trace_array which) {
    return (unsigned)which < COPE_TRACE_COUNT ? trace_names[which] : NULL;
}

cope_status cope_trace_parse(const char *name, cope_trace_array *out) {
    for (int k = 0; k < COPE_TRACE_COUNT; k++)
        if (name && strcmp(name, trace_names[k]) == 0) {
            *out = (cope_trace_array)k;
            return COPE_OK;
        }
    return COPE_ERR_ARG;
}

float *cope_trace_get(const cope_trace *tr, cope_trace_array which, int l) {
    if (!tr || (unsigned)which >= COPE_TRACE_COUNT || l < 0 || l >= tr->n_layer) return NULL;
    return tr->arrays[which] + (size_t)l * tr->n_head * tr->T * tr->T;
}

/* logits [T, V], then each array [L, H, T, T]; with base == NULL only counts */
static uint64_t trace_layout(cope_trace *tr, float *base) {
    uint64_t T = (uint64_t)tr->T, per = (uint64_t)tr->n_layer * (uint64_t)tr->n_head * T * T;
    carver cv = {base, 0};
    tr->logits = carve(&cv, T * (uint64_t)tr->vocab_size);
    for (int k = 0; k < COPE_TRACE_COUNT; k++) tr->arrays[k] = carve(&cv, per);
    return cv.off;
}

cope_status cope_trace_new(cope_trace **out, const cope_model *m, int cap, cope_error *err) {
    int T = cap;
    *out = NULL;
    const cope_config *c = &m->cfg;
    if (T < 1) return cope_fail(err, COPE_ERR_TOKEN, "the sequence is empty");
    if (T > c->n_ctx)
        return cope_fail(err, COPE_ERR_CONTEXT, "sequence of %d tokens exceeds the model's context n_ctx = %d", T,
                         c->n_ctx);
    cope_trace *tr = calloc(1, sizeof *tr);
    if (!tr) return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    tr->T = tr->cap = T;
    tr->n_layer = c->n_layer;
    tr->n_head = c->n_head;
    tr->vocab_size = c->vocab_size;
    uint64_t n = trace_layout(tr, NULL);
    if (!fits_size(n + 2 * (uint64_t)T)) {
        cope_trace_free(tr);
        return cope_fail(err, COPE_ERR_LIMIT,
                         "a trace of %d tokens would need %.1f GB, more than this build can address", T,
                         cope_trace_bytes(m, T) / 1e9);
    }
    cope_status st = (tr->memory = calloc((size_t)n, sizeof(float)))
                         ? workspace_new(&tr->ws, m, 1, T, 0, err)
                         : cope_fail(err, COPE_ERR_NOMEM, "out of memory (trace of %d tokens)", T);
    if (st) {
        cope_trace_free(tr);
        return st;
    }
    trace_layout(tr, tr->memory);
    *out = tr;
    return COPE_OK;
}

double cope_trace_bytes(const cope_model *m, int cap) {
    if (!m || cap < 1) return 0;
    const cope_config *c = &m->cfg;
    cope_trace tr = {.T = cap, .n_layer = c->n_layer, .n_head = c->n_head, .vocab_size = c->vocab_size};
    layer_acts one;
    struct cope_workspace w = {.B_max = 1, .T_max = cap, .train = 0, .f = {.layers = &one, .n_acts = 1}};
    return ((double)trace_layout(&tr, NULL) + (double)workspace_layout(&w, m, NULL)) * sizeof(float) +
           2.0 * cap * sizeof(int);
}

void cope_trace_free(cope_trace *tr) {
    if (!tr) return;
    cope_workspace_free(tr->ws);
    free(tr->memory);
    free(tr->forces);
    free(tr->force_rows);
    free(tr);
}

/* A non-negative decimal integer at *s (at most 9 digits), advancing *s; -1 if none. */
static long parse_uint(const char **s) {
    long v = 0;
    int digits = 0;
    while (**s >= '0' && **s <= '9' && digits < 9) v = v * 10 + (*(*s)++ - '0'), digits++;
    return digits && !(**s >= '0' && **s <= '9') ? v : -1;
}

cope_status cope_gate_forces_parse(const char *text, cope_gate_force *out, int cap, int *n, cope_error *err) {
    *n = 0;
    if (!text || !out || cap < 0) return cope_fail(err, COPE_ERR_ARG, "NULL gate override list");
    const char *s = text;
    while (*s) {
        const char *item = s;
        int len = 0;
        while (item[len] && item[len] != ',') len++;
        cope_gate_force g;
        long layer = parse_uint(&s), head = -1, key = -1;
        int ok = layer >= 0 && *s == ':';
        if (ok) {
            s++;
            if (*s == '*')
                s++;
            else
                ok = (head = parse_uint(&s)) >= 0;
        }
        if (ok) ok = *s == ':' && (s++, (key = parse_uint(&s)) >= 0) && *s == '=';
        if (ok) { /* the value: 0, 1 or a decimal fraction between, up to 8 digits */
            s++;
            double v = 0.0, scale = 1.0;
            int digits = 0;
            while (*s >= '0' && *s <= '9' && digits < 8) v = v * 10 + (*s++ - '0'), digits++;
            if (*s == '.' && digits)
                for (s++; *s >= '0' && *s <= '9' && digits < 8; digits++) v += (*s++ - '0') * (scale /= 10);
            ok = digits && (*s == ',' || !*s);
            g.value = (float)v;
        }
        if (!ok)
            return cope_fail(
                err, COPE_ERR_ARG,
                "gate override \"%.*s\": expected LAYER:HEAD:KEY=VALUE (HEAD * for every head), e.g. 0:1:12=0",
                len > 40 ? 40 : len, item);
        if (*n >= cap) return cope_fail(err, COPE_ERR_LIMIT, "more than %d gate overrides", cap);
        g.layer = (int)layer, g.head = (int)head, g.key = (int)key;
        out[(*n)++] = g;
        if (*s == ',') {
            s++;
            if (!*s) return cope_fail(err, COPE_ERR_ARG, "gate override list ends with a comma");
        }
    }
    return COPE_OK;
}

cope_status cope_gate_forces_check(const cope_model *m, const cope_gate_force *f, int n, int max_key, cope_error *err) {
    const cope_config *c = &m->cfg;
    if (n && !cope_pe_has_cope(c->pe))
        return cope_fail(err, COPE_ERR_ARG, "gate overrides need a CoPE model; this one is %s", cope_pe_name(c->pe));
    for (int k = 0; k < n; k++) {
        const cope_gate_force *g = &f[k];
        if (g->layer < 0 || g->layer >= c->n_layer)
            return cope_fail(err, COPE_ERR_ARG, "gate override %d: layer %d is outside 0..%d", k, g->layer,
                             c->n_layer - 1);
        if (g->head < -1 || g->head >= c->n_head)
            return cope_fail(err, COPE_ERR_ARG, "gate override %d: head %d is outside 0..%d (or -1: every head)", k,
                             g->head, c->n_head - 1);
        if (g->key < 0 || g->key >= max_key)
            return cope_fail(err, COPE_ERR_ARG, "gate override %d: key %d is outside 0..%d", k, g->key, max_key - 1);
        if (!(g->value >= 0.0f && g->value <= 1.0f))
            return cope_fail(err, COPE_ERR_ARG, "gate override %d: value %g is outside 0..1", k, (double)g->value);
    }
    return COPE_OK;
}

cope_status cope_trace_force_gates(cope_trace *tr, const cope_model *m, const cope_gate_force *f, int n,
                                   cope_error *err) {
    if (!tr || !m || (n && !f) || n < 0) return cope_fail(err, COPE_ERR_ARG, "NULL trace, model or overrides");
    const cope_config *c = &m->cfg;
    if (c->n_layer != tr->n_layer || c->n_head != tr->n_head)
        return cope_fail(err, COPE_ERR_ARG, "the trace belongs to another model");
    cope_status st = cope_gate_forces_check(m, f, n, c->n_ctx, err); /* a key past a run's input fails that run */
    if (st) return st;
    cope_gate_force *copy = n ? malloc((size_t)n * sizeof *copy) : NULL;
    float *rows = n && !tr->force_rows ? malloc((size_t)c->n_layer * c->n_head * tr->cap * sizeof(float)) : NULL;
    if (n && (!copy || (!tr->force_rows && !rows))) {
        free(copy);
        free(rows);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (%d gate overrides)", n);
    }
    if (n) memcpy(copy, f, (size_t)n * sizeof *copy);
    if (rows) tr->force_rows = rows;
    free(tr->forces);
    tr->forces = copy;
    tr->n_forces = n;
    return COPE_OK;
}

cope_status cope_trace_run(cope_model *m, cope_trace *tr, const int *ids, int T, cope_error *err) {
    if (!m || !tr || !ids) return cope_fail(err, COPE_ERR_ARG, "NULL model, trace or ids");
    if (T < 1) return cope_fail(err, COPE_ERR_TOKEN, "the sequence is empty");
    if (T > tr->cap) return cope_fail(err, COPE_ERR_ARG, "trace was made for up to %d tokens, got %d", tr->cap, T);
    cope_status st = check_ids(m, ids, (size_t)T, "ids", err);
    if (st) return st;
    for (int k = 0; k < tr->n_forces; k++) /* before anything changes: a refused run leaves the last trace */
        if (tr->forces[k].key >= T)
            return cope_fail(err, COPE_ERR_ARG, "gate override %d: key %d is past the input's %d tokens", k,
                             tr->forces[k].key, T);
    if (T != tr->T) { /* the arrays laid out for T; the rows fill j <= i only, so the rest is zeroed */
        tr->T = T;
        size_t n = (size_t)trace_layout(tr, tr->memory); /* fits: cope_trace_new allocated it */
        memset(tr->memory, 0, n * sizeof(float));
    }
    cope_workspace *w = tr->ws;
    w->B = 1;
    w->T = T;
    w->has_targets = 0;
    memcpy(w->ids, ids, (size_t)T * sizeof(int));
    trace_sink sink = {.layer = (size_t)tr->n_head * T * T, .head = (size_t)T * T, .row = (size_t)T};
    for (int k = 0; k < COPE_TRACE_COUNT; k++) sink.base[k] = tr->arrays[k];
    if (tr->n_forces) { /* the interventions as a row of forced gates per (layer, head), NaN where none */
        const int H = tr->n_head;
        for (size_t k = 0; k < (size_t)tr->n_layer * H * T; k++) tr->force_rows[k] = NAN;
        for (int k = 0; k < tr->n_forces; k++) {
            const cope_gate_force *g = &tr->forces[k];
            for (int h = g->head < 0 ? 0 : g->head; h < (g->head < 0 ? H : g->head + 1); h++)
                tr->force_rows[((size_t)g->layer * H + h) * T + g->key] = g->value;
        }
        sink.force = tr->force_rows;
    }
    model_forward(m, &w->f, w->ids, 1, T, 0, NULL, (size_t)T, &sink);
    memcpy(tr->logits, w->f.logits, (size_t)T * tr->vocab_size * sizeof(float));
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Incremental decoding */
struct cope_state {
    int len;
    kv_cache kv;     /* [L] layers of keys (and gate keys) transposed, values */
    layer_acts acts; /* one token's activations, reused by every layer */
    forward_bufs f;
    float *rows; /* [COPE_TRACE_COUNT, L, H, n_ctx] the last step's trace rows */
    const cope_model *m;
    float *memory;
};

static uint64_t state_layout(cope_state *s, const cope_model *m, float *base) {
    const cope_config *c = &m->cfg;
    uint64_t L = (uint64_t)c->n_layer, C = (uint64_t)c->n_ctx, D = (uint64_t)c->d_model, H = (uint64_t)c->n_head;
    uint64_t R = cope_pe_has_rel(c->pe) ? (uint64_t)c->rel_max : 0;
    carver cv = {base, 0};
    s->kv.C = (size_t)C;
    s->kv.kt = carve(&cv, L * D * C);
    s->kv.kgt = carve(&cv, cope_pe_has_cope(c->pe) && c->sep_keys ? L * D * C : 0);
    s->kv.v = carve(&cv, L * C * D);
    carve_layer(&cv, &s->acts, c, 1, 1, C);
    s->f.layers = &s->acts;
    s->f.n_acts = 1;
    s->f.resid_final = carve(&cv, D);
    s->f.lnf = carve(&cv, D);
    s->f.lnf_mean = carve(&cv, 1);
    s->f.lnf_rstd = carve(&cv, 1);
    s->f.logits = carve(&cv, (uint64_t)c->vocab_size);
    s->f.mm_scratch = NULL; /* one row: matmul_forward takes dot products */
    s->f.row_scratch = carve(&cv, H * R);
    s->rows = carve(&cv, COPE_TRACE_COUNT * L * H * C);
    return cv.off;
}

cope_status cope_state_new(cope_state **out, const cope_model *m, cope_error *err) {
    *out = NULL;
    cope_state *s = calloc(1, sizeof *s);
    uint64_t n = s ? state_layout(s, m, NULL) : 0;
    if (s && !fits_size(n)) {
        free(s);
        return cope_fail(err, COPE_ERR_LIMIT, "a decoding state would need %.1f GB, more than this build can address",
                         (double)n * 4e-9);
    }
    if (!s || !(s->memory = calloc((size_t)n, sizeof(float)))) {
        free(s);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (decoding state)");
    }
    state_layout(s, m, s->memory);
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

const float *cope_step_row(const cope_state *s, int l, int h, cope_trace_array which) {
    const cope_config *c = &s->m->cfg;
    if (l < 0 || l >= c->n_layer || h < 0 || h >= c->n_head || (unsigned)which >= COPE_TRACE_COUNT) return NULL;
    return s->rows + (((size_t)which * c->n_layer + l) * c->n_head + h) * c->n_ctx;
}

cope_status cope_step(cope_model *m, cope_state *s, int id, float *logits, cope_error *err) {
    const cope_config *c = &m->cfg;
    if (s->m != m) return cope_fail(err, COPE_ERR_ARG, "state belongs to another model");
    if (id < 0 || id >= c->vocab_size)
        return cope_fail(err, COPE_ERR_TOKEN, "token id %d is outside the vocabulary 0..%d", id, c->vocab_size - 1);
    if (s->len >= c->n_ctx) return cope_fail(err, COPE_ERR_CONTEXT, "the context is full (n_ctx = %d)", c->n_ctx);
    const size_t C = (size_t)c->n_ctx, H = (size_t)c->n_head, L = (size_t)c->n_layer;
    trace_sink sink = {.layer = H * C, .head = C, .row = 0};
    for (int k = 0; k < COPE_TRACE_COUNT; k++) sink.base[k] = s->rows + (size_t)k * L * H * C;
    model_forward(m, &s->f, &id, 1, 1, s->len, &s->kv, C, &sink);
    if (logits) memcpy(logits, s->f.logits, (size_t)c->vocab_size * sizeof(float));
    s->len++;
    return COPE_OK;
}
