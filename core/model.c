/* model.c — config, parameter layout, seeded init, and the safetensors reader/writer.
 * One loader serves the CLI, the tests and the wasm build: it reads from a memory buffer and
 * validates everything (header, JSON, dtypes, shapes, offsets, overlap, completeness, finiteness)
 * before the model is handed out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model.h"

#define COPE_MAX_PARAMS ((size_t)1 << 28) /* floats (1 GiB) */

/* ---------------------------------------------------------------------------------------------
 * Config */
static const char *const pe_names[COPE_PE_COUNT] = {"none", "abs", "rel", "rope", "cope", "cope+rel", "cope+rope"};

const char *cope_pe_name(cope_pe pe) { return (unsigned)pe < COPE_PE_COUNT ? pe_names[pe] : "?"; }

const char *cope_pe_list(char *buf, size_t cap) {
    size_t used = 0;
    if (cap) buf[0] = '\0';
    for (int i = 0; i < COPE_PE_COUNT && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", cope_pe_name((cope_pe)i));
        used += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

cope_status cope_pe_parse(const char *name, cope_pe *out) {
    for (int i = 0; i < COPE_PE_COUNT; i++)
        if (name && strcmp(name, pe_names[i]) == 0) {
            *out = (cope_pe)i;
            return COPE_OK;
        }
    return COPE_ERR_CONFIG;
}

int cope_pe_has_cope(cope_pe pe) { return pe == COPE_PE_COPE || pe == COPE_PE_COPE_REL || pe == COPE_PE_COPE_ROPE; }
int cope_pe_has_rel(cope_pe pe) { return pe == COPE_PE_REL || pe == COPE_PE_COPE_REL; }
int cope_pe_has_rope(cope_pe pe) { return pe == COPE_PE_ROPE || pe == COPE_PE_COPE_ROPE; }

void cope_config_default(cope_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 32;
    c->n_ctx = 64;
    c->n_layer = 2;
    c->n_head = 4;
    c->d_model = 64;
    c->d_ff = 256;
    c->pe = COPE_PE_COPE;
    c->npos = 64;
    c->rel_max = 64;
    c->tied = 1;
}

static cope_status check_range(cope_error *err, const char *key, long long v, long long lo, long long hi) {
    if (v < lo || v > hi)
        return cope_fail(err, v > hi ? COPE_ERR_LIMIT : COPE_ERR_CONFIG, "config %s = %lld is outside %lld..%lld", key,
                         v, lo, hi);
    return COPE_OK;
}

cope_status cope_config_validate(const cope_config *c, cope_error *err) {
    cope_status st;
    if ((st = check_range(err, "vocab_size", c->vocab_size, 1, COPE_MAX_VOCAB)) ||
        (st = check_range(err, "n_ctx", c->n_ctx, 1, COPE_MAX_CTX)) ||
        (st = check_range(err, "n_layer", c->n_layer, 1, COPE_MAX_LAYER)) ||
        (st = check_range(err, "n_head", c->n_head, 1, COPE_MAX_HEAD)) ||
        (st = check_range(err, "d_model", c->d_model, 1, COPE_MAX_DIM)) ||
        (st = check_range(err, "d_ff", c->d_ff, 1, 4 * COPE_MAX_DIM)))
        return st;
    if ((unsigned)c->pe >= COPE_PE_COUNT) return cope_fail(err, COPE_ERR_CONFIG, "config pe is invalid");
    if (c->d_model % c->n_head)
        return cope_fail(err, COPE_ERR_CONFIG, "config d_model = %d is not a multiple of n_head = %d", c->d_model,
                         c->n_head);
    if (cope_pe_has_rope(c->pe) && (c->d_model / c->n_head) % 2)
        return cope_fail(err, COPE_ERR_CONFIG, "RoPE needs an even head dimension (d_model/n_head = %d)",
                         c->d_model / c->n_head);
    if (cope_pe_has_cope(c->pe) && (st = check_range(err, "npos", c->npos, 1, COPE_MAX_NPOS))) return st;
    if (cope_pe_has_rel(c->pe) && (st = check_range(err, "rel_max", c->rel_max, 1, COPE_MAX_CTX))) return st;
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Parameter layout: the one list of tensors, in file order */
typedef struct {
    cope_model *m;
    size_t off;
    char *name_at; /* next free byte of m->names (48 bytes a tensor: longer than any name) */
} layout_builder;

static size_t add_tensor(layout_builder *b, const char *name, int ndim, int s0, int s1, int s2) {
    cope_model *m = b->m;
    cope_tensor_info *t = &m->tensors[m->n_tensors++];
    size_t n = strlen(name) + 1;
    memcpy(b->name_at, name, n);
    t->name = b->name_at;
    b->name_at += n;
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = s1;
    t->shape[2] = s2;
    t->numel = (size_t)s0 * (ndim > 1 ? (size_t)s1 : 1) * (ndim > 2 ? (size_t)s2 : 1);
    t->offset = b->off;
    b->off += t->numel;
    return t->offset;
}

cope_status model_alloc(cope_model *m, cope_error *err) {
    const cope_config *c = &m->cfg;
    cope_status st = cope_config_validate(c, err);
    if (st) return st;
    int L = c->n_layer, D = c->d_model, H = c->n_head, d = D / H, F = c->d_ff, V = c->vocab_size;
    /* Size check in double first, so no size_t product below can overflow. */
    double total =
        (double)V * D * 2 + (double)c->n_ctx * D + 2.0 * D +
        L * (6.0 * D * D + 9.0 * D + 2.0 * F * D + F +
             (double)H * d * ((cope_pe_has_cope(c->pe) ? c->npos : 0) + (cope_pe_has_rel(c->pe) ? c->rel_max : 0)));
    if (total > (double)COPE_MAX_PARAMS)
        return cope_fail(err, COPE_ERR_LIMIT, "model would have %.0f parameters (limit %zu)", total, COPE_MAX_PARAMS);
    int max_tensors = 5 + L * 20;
    m->tensors = calloc((size_t)max_tensors, sizeof(cope_tensor_info));
    m->names = malloc((size_t)max_tensors * 48);
    m->layers = calloc((size_t)L, sizeof(layer_offsets));
    if (!m->tensors || !m->names || !m->layers) return cope_fail(err, COPE_ERR_NOMEM, "out of memory (model layout)");
    layout_builder b = {m, 0, m->names};
    char nm[48];
    m->tok_emb = add_tensor(&b, "tok_emb.weight", 2, V, D, 0);
    m->pos_emb = c->pe == COPE_PE_ABS ? add_tensor(&b, "pos_emb.weight", 2, c->n_ctx, D, 0) : COPE_NO_TENSOR;
    for (int l = 0; l < L; l++) {
        layer_offsets *lo = &m->layers[l];
#define T1(field, suffix, n0)                                                                                          \
    (snprintf(nm, sizeof nm, "blocks.%d.%s", l, suffix), lo->field = add_tensor(&b, nm, 1, n0, 0, 0))
#define T2(field, suffix, n0, n1)                                                                                      \
    (snprintf(nm, sizeof nm, "blocks.%d.%s", l, suffix), lo->field = add_tensor(&b, nm, 2, n0, n1, 0))
#define T3(field, suffix, n0, n1, n2)                                                                                  \
    (snprintf(nm, sizeof nm, "blocks.%d.%s", l, suffix), lo->field = add_tensor(&b, nm, 3, n0, n1, n2))
        T1(ln1_w, "ln1.weight", D);
        T1(ln1_b, "ln1.bias", D);
        T2(wq, "attn.q.weight", D, D);
        T1(bq, "attn.q.bias", D);
        T2(wk, "attn.k.weight", D, D);
        T1(bk, "attn.k.bias", D);
        T2(wv, "attn.v.weight", D, D);
        T1(bv, "attn.v.bias", D);
        T2(wo, "attn.o.weight", D, D);
        T1(bo, "attn.o.bias", D);
        lo->wkg = lo->bkg = lo->cope = lo->rel = COPE_NO_TENSOR;
        if (cope_pe_has_cope(c->pe) && c->sep_keys) {
            T2(wkg, "attn.kg.weight", D, D);
            T1(bkg, "attn.kg.bias", D);
        }
        if (cope_pe_has_cope(c->pe)) T3(cope, "attn.cope.weight", c->per_head_table ? H : 1, d, c->npos);
        if (cope_pe_has_rel(c->pe)) T3(rel, "attn.rel.weight", H, d, c->rel_max);
        T1(ln2_w, "ln2.weight", D);
        T1(ln2_b, "ln2.bias", D);
        T2(fc1_w, "mlp.fc1.weight", F, D);
        T1(fc1_b, "mlp.fc1.bias", F);
        T2(fc2_w, "mlp.fc2.weight", D, F);
        T1(fc2_b, "mlp.fc2.bias", D);
#undef T1
#undef T2
#undef T3
    }
    m->ln_f_w = add_tensor(&b, "ln_f.weight", 1, D, 0, 0);
    m->ln_f_b = add_tensor(&b, "ln_f.bias", 1, D, 0, 0);
    m->lm_head = c->tied ? COPE_NO_TENSOR : add_tensor(&b, "lm_head.weight", 2, V, D, 0);
    m->n_params = b.off;
    m->params = calloc(m->n_params, sizeof(float));
    if (!m->params) return cope_fail(err, COPE_ERR_NOMEM, "out of memory (%zu parameters)", m->n_params);
    if (cope_pe_has_rope(c->pe)) {
        int half = d / 2;
        m->rope_cs = malloc((size_t)c->n_ctx * half * 2 * sizeof(float));
        if (!m->rope_cs) return cope_fail(err, COPE_ERR_NOMEM, "out of memory (RoPE table)");
        for (int i = 0; i < c->n_ctx; i++)
            for (int t = 0; t < half; t++) { /* theta = i * 10000^(-2t/d) */
                double th = (double)i * pow(10000.0, -2.0 * t / d);
                m->rope_cs[((size_t)i * half + t) * 2] = (float)cos(th);
                m->rope_cs[((size_t)i * half + t) * 2 + 1] = (float)sin(th);
            }
    }
    return COPE_OK;
}

size_t model_out_weight(const cope_model *m) { return m->cfg.tied ? m->tok_emb : m->lm_head; }

static cope_model *model_calloc(void) {
    cope_model *m = calloc(1, sizeof *m);
    return m;
}

void cope_model_free(cope_model *m) {
    if (!m) return;
    cope_tokenizer_free(m->tok);
    free(m->provenance);
    free(m->tensors);
    free(m->names);
    free(m->params);
    free(m->layers);
    free(m->rope_cs);
    free(m);
}

void cope_free(void *p) { free(p); }

/* ---------------------------------------------------------------------------------------------
 * Seeded init (GPT-2 style): N(0, 0.02) matrices, residual projections scaled by 1/sqrt(2L),
 * zero biases, LayerNorm weight 1, CoPE tables zero (as the paper). */
cope_status cope_model_new(cope_model **out, const cope_config *cfg, cope_tokenizer *tok, uint64_t seed,
                           cope_error *err) {
    *out = NULL;
    cope_model *m = model_calloc();
    if (!m) {
        cope_tokenizer_free(tok);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    }
    m->cfg = *cfg;
    m->tok = tok;
    cope_status st = model_alloc(m, err);
    if (!st && (!tok || cope_tokenizer_size(tok) != cfg->vocab_size))
        st = cope_fail(err, COPE_ERR_CONFIG, "tokenizer size differs from vocab_size = %d", cfg->vocab_size);
    if (!st && !(m->provenance = strdup("{}"))) st = cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    if (st) {
        cope_model_free(m);
        return st;
    }
    cope_rng rng;
    cope_rng_seed(&rng, seed);
    float resid_std = 0.02f / sqrtf(2.0f * cfg->n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const cope_tensor_info *t = &m->tensors[i];
        float *p = m->params + t->offset;
        const char *nm = t->name;
        size_t nl = strlen(nm);
        int is_ln_w = strstr(nm, "ln") && nl > 7 && strcmp(nm + nl - 7, ".weight") == 0 &&
                      (strstr(nm, ".ln1.") || strstr(nm, ".ln2.") || strncmp(nm, "ln_f.", 5) == 0);
        if (is_ln_w) {
            for (size_t k = 0; k < t->numel; k++) p[k] = 1.0f;
            continue;
        }
        if (t->ndim == 1 || strstr(nm, "attn.cope.")) continue; /* biases, LN bias, CoPE: 0 */
        float std = (strstr(nm, "attn.o.weight") || strstr(nm, "mlp.fc2.weight")) ? resid_std : 0.02f;
        for (size_t k = 0; k < t->numel; k++) p[k] = std * cope_rng_normal(&rng);
    }
    *out = m;
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Accessors */
const cope_config *cope_model_config(const cope_model *m) { return &m->cfg; }
const cope_tokenizer *cope_model_tokenizer(const cope_model *m) { return m->tok; }
size_t cope_model_num_params(const cope_model *m) { return m->n_params; }
float *cope_model_params(cope_model *m) { return m->params; }
int cope_model_num_tensors(const cope_model *m) { return m->n_tensors; }
const cope_tensor_info *cope_model_tensor(const cope_model *m, int i) {
    return i >= 0 && i < m->n_tensors ? &m->tensors[i] : NULL;
}
int cope_model_find_tensor(const cope_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return i;
    return -1;
}
const char *cope_model_provenance(const cope_model *m) { return m->provenance ? m->provenance : "{}"; }

cope_status cope_model_set_provenance(cope_model *m, const char *json_object, cope_error *err) {
    json_doc doc;
    cope_status st = json_parse(&doc, json_object, strlen(json_object), err);
    if (st) return st;
    int is_obj = doc.nodes[0].type == JSON_OBJ;
    json_free(&doc);
    if (!is_obj) return cope_fail(err, COPE_ERR_CONFIG, "provenance must be a JSON object");
    char *p = strdup(json_object);
    if (!p) return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    free(m->provenance);
    m->provenance = p;
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * cope_config JSON */

static void config_to_json(const cope_model *m, cope_buf *b) {
    const cope_config *c = &m->cfg;
    buf_printf(b,
               "{\"format\": \"cope\", \"version\": 1, \"vocab_size\": %d, \"n_ctx\": %d, "
               "\"n_layer\": %d, \"n_head\": %d, \"d_model\": %d, \"d_ff\": %d, \"pe\": \"%s\"",
               c->vocab_size, c->n_ctx, c->n_layer, c->n_head, c->d_model, c->d_ff, cope_pe_name(c->pe));
    if (cope_pe_has_cope(c->pe))
        buf_printf(b, ", \"npos\": %d, \"cope_gate_keys\": \"%s\", \"cope_table\": \"%s\"", c->npos,
                   c->sep_keys ? "sep" : "shared", c->per_head_table ? "per-head" : "per-layer");
    if (cope_pe_has_rel(c->pe)) buf_printf(b, ", \"rel_max\": %d", c->rel_max);
    buf_printf(b, ", \"tied\": %s, \"tokenizer\": {\"type\": \"%s\", \"vocab\": [", c->tied ? "true" : "false",
               cope_tok_type_name(cope_tokenizer_type(m->tok)));
    for (int i = 0; i < c->vocab_size; i++) {
        const char *p = cope_tokenizer_piece(m->tok, i);
        if (i) buf_puts(b, ", ");
        buf_json_string(b, p, strlen(p));
    }
    buf_puts(b, "]}, \"provenance\": ");
    buf_puts(b, cope_model_provenance(m));
    buf_puts(b, "}");
}

static cope_status get_int_key(const json_doc *d, int obj, const char *key, int required, long long lo, long long hi,
                               int *out, cope_error *err) {
    int n = json_get(d, obj, key);
    if (n < 0) {
        if (required) return cope_fail(err, COPE_ERR_MISSING, "cope_config has no \"%s\"", key);
        return COPE_OK;
    }
    long long v;
    if (!json_int(d, n, -((long long)1 << 53), (long long)1 << 53, &v))
        return cope_fail(err, COPE_ERR_CONFIG, "cope_config \"%s\" must be an integer", key);
    cope_status st = check_range(err, key, v, lo, hi);
    if (!st) *out = (int)v;
    return st;
}

static cope_status get_enum_key(const json_doc *d, int obj, const char *key, const char *a, const char *bname, int *out,
                                cope_error *err) {
    int n = json_get(d, obj, key);
    if (n < 0) return COPE_OK; /* default kept */
    if (d->nodes[n].type == JSON_STR && strcmp(d->nodes[n].str, a) == 0) {
        *out = 0;
        return COPE_OK;
    }
    if (d->nodes[n].type == JSON_STR && strcmp(d->nodes[n].str, bname) == 0) {
        *out = 1;
        return COPE_OK;
    }
    return cope_fail(err, COPE_ERR_CONFIG, "cope_config \"%s\" must be \"%s\" or \"%s\"", key, a, bname);
}

/* Parses cope_config text into m->cfg, m->tok and m->provenance. */
static cope_status config_from_json(cope_model *m, const char *text, size_t len, cope_error *err) {
    static const char *const known[] = {"format",  "version", "vocab_size", "n_ctx",     "n_layer",        "n_head",
                                        "d_model", "d_ff",    "pe",         "npos",      "cope_gate_keys", "cope_table",
                                        "rel_max", "tied",    "tokenizer",  "provenance"};
    json_doc d;
    cope_status st = json_parse(&d, text, len, err);
    if (st) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        if (err) cope_fail(err, st, "cope_config: %.200s", msg);
        return st;
    }
    cope_config *c = &m->cfg;
    cope_config_default(c);
    c->npos = c->rel_max = 0;
    int root = 0, n;
    if (d.nodes[root].type != JSON_OBJ) {
        st = cope_fail(err, COPE_ERR_CONFIG, "cope_config is not a JSON object");
        goto done;
    }
    for (int k = d.nodes[root].first_child; k >= 0; k = d.nodes[k].next) {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(d.nodes[k].key, known[i]) == 0) ok = 1;
        if (!ok) {
            st = cope_fail(err, COPE_ERR_UNKNOWN, "cope_config has unknown key \"%.100s\"", d.nodes[k].key);
            goto done;
        }
    }
    n = json_get(&d, root, "format");
    if (n < 0 || d.nodes[n].type != JSON_STR || strcmp(d.nodes[n].str, "cope") != 0) {
        st = cope_fail(err, COPE_ERR_CONFIG, "cope_config \"format\" must be \"cope\"");
        goto done;
    }
    int version = 0;
    if ((st = get_int_key(&d, root, "version", 1, 1, 1, &version, err))) goto done;
    if ((st = get_int_key(&d, root, "vocab_size", 1, 1, COPE_MAX_VOCAB, &c->vocab_size, err)) ||
        (st = get_int_key(&d, root, "n_ctx", 1, 1, COPE_MAX_CTX, &c->n_ctx, err)) ||
        (st = get_int_key(&d, root, "n_layer", 1, 1, COPE_MAX_LAYER, &c->n_layer, err)) ||
        (st = get_int_key(&d, root, "n_head", 1, 1, COPE_MAX_HEAD, &c->n_head, err)) ||
        (st = get_int_key(&d, root, "d_model", 1, 1, COPE_MAX_DIM, &c->d_model, err)) ||
        (st = get_int_key(&d, root, "d_ff", 1, 1, 4 * COPE_MAX_DIM, &c->d_ff, err)))
        goto done;
    n = json_get(&d, root, "pe");
    if (n < 0 || d.nodes[n].type != JSON_STR || cope_pe_parse(d.nodes[n].str, &c->pe)) {
        char names[COPE_PE_LIST_LEN];
        st = cope_fail(err, n < 0 ? COPE_ERR_MISSING : COPE_ERR_CONFIG, "cope_config \"pe\" must be one of %s",
                       cope_pe_list(names, sizeof names));
        goto done;
    }
    if ((st = get_int_key(&d, root, "npos", cope_pe_has_cope(c->pe), 1, COPE_MAX_NPOS, &c->npos, err)) ||
        (st = get_int_key(&d, root, "rel_max", cope_pe_has_rel(c->pe), 1, COPE_MAX_CTX, &c->rel_max, err)) ||
        (st = get_enum_key(&d, root, "cope_gate_keys", "shared", "sep", &c->sep_keys, err)) ||
        (st = get_enum_key(&d, root, "cope_table", "per-layer", "per-head", &c->per_head_table, err)))
        goto done;
    n = json_get(&d, root, "tied");
    if (n >= 0) {
        if (d.nodes[n].type != JSON_BOOL) {
            st = cope_fail(err, COPE_ERR_CONFIG, "cope_config \"tied\" must be true or false");
            goto done;
        }
        c->tied = d.nodes[n].boolean;
    }
    if ((st = cope_config_validate(c, err))) goto done;
    /* tokenizer */
    int tk = json_get(&d, root, "tokenizer");
    if (tk < 0 || d.nodes[tk].type != JSON_OBJ) {
        st = cope_fail(err, COPE_ERR_MISSING, "cope_config has no \"tokenizer\" object");
        goto done;
    }
    for (int k = d.nodes[tk].first_child; k >= 0; k = d.nodes[k].next)
        if (strcmp(d.nodes[k].key, "type") && strcmp(d.nodes[k].key, "vocab")) {
            st = cope_fail(err, COPE_ERR_UNKNOWN, "tokenizer has unknown key \"%.100s\"", d.nodes[k].key);
            goto done;
        }
    int ty = json_get(&d, tk, "type"), vo = json_get(&d, tk, "vocab");
    int type = -1;
    for (int k = 0; k < 3 && ty >= 0 && d.nodes[ty].type == JSON_STR; k++)
        if (strcmp(d.nodes[ty].str, cope_tok_type_name((cope_tok_type)k)) == 0) type = k;
    if (type < 0) {
        st = cope_fail(err, COPE_ERR_CONFIG, "tokenizer.type must be \"words\", \"text\" or \"chars\"");
        goto done;
    }
    if (vo < 0 || d.nodes[vo].type != JSON_ARR) {
        st = cope_fail(err, COPE_ERR_MISSING, "tokenizer.vocab must be an array of strings");
        goto done;
    }
    if (d.nodes[vo].count != c->vocab_size) {
        st = cope_fail(err, COPE_ERR_CONFIG, "tokenizer.vocab has %d entries but vocab_size is %d", d.nodes[vo].count,
                       c->vocab_size);
        goto done;
    }
    {
        const char **pieces = malloc((size_t)c->vocab_size * sizeof(char *));
        if (!pieces) {
            st = cope_fail(err, COPE_ERR_NOMEM, "out of memory");
            goto done;
        }
        int i = 0;
        for (int k = d.nodes[vo].first_child; k >= 0; k = d.nodes[k].next, i++) {
            if (d.nodes[k].type != JSON_STR || strlen(d.nodes[k].str) != d.nodes[k].str_len) {
                st = cope_fail(err, COPE_ERR_CONFIG, "tokenizer.vocab[%d] is not a string (or contains NUL)", i);
                break;
            }
            pieces[i] = d.nodes[k].str;
        }
        if (!st) st = cope_tokenizer_new(&m->tok, type, pieces, c->vocab_size, err);
        free(pieces);
        if (st) goto done;
    }
    /* provenance: kept verbatim */
    n = json_get(&d, root, "provenance");
    if (n >= 0 && d.nodes[n].type != JSON_OBJ) {
        st = cope_fail(err, COPE_ERR_CONFIG, "cope_config \"provenance\" must be an object");
        goto done;
    }
    {
        size_t b = n >= 0 ? d.nodes[n].src_begin : 0, e = n >= 0 ? d.nodes[n].src_end : 2;
        m->provenance = malloc(e - b + 1);
        if (!m->provenance) {
            st = cope_fail(err, COPE_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(m->provenance, n >= 0 ? text + b : "{}", e - b);
        m->provenance[e - b] = '\0';
    }
done:
    json_free(&d);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Model files: a safetensors container whose __metadata__.cope_config holds the config */
static cope_status load_tensors(cope_model *m, const cope_st_file *f, cope_error *err) {
    char *seen = calloc((size_t)m->n_tensors, 1);
    if (!seen) return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    cope_status st = COPE_OK;
    for (int k = 0; k < cope_st_count(f) && !st; k++) {
        const cope_st_tensor *s = cope_st_get(f, k);
        int ti = cope_model_find_tensor(m, s->name);
        if (ti < 0) {
            st = cope_fail(err, COPE_ERR_UNKNOWN, "unknown tensor \"%.120s\" for this config", s->name);
            break;
        }
        seen[ti] = 1;
        const cope_tensor_info *t = &m->tensors[ti];
        if (s->dtype != COPE_ST_F32) {
            st = cope_fail(err, COPE_ERR_DTYPE, "tensor \"%.120s\": dtype I32, expected F32", s->name);
            break;
        }
        int same = s->ndim == t->ndim;
        for (int a = 0; a < t->ndim && same; a++) same = s->shape[a] == t->shape[a];
        if (!same) {
            char want[64], got[96];
            int gl = snprintf(got, sizeof got, "[");
            for (int a = 0; a < s->ndim; a++)
                gl += snprintf(got + gl, sizeof got - (size_t)gl, "%s%lld", a ? ", " : "", (long long)s->shape[a]);
            snprintf(got + gl, sizeof got - (size_t)gl, "]");
            if (t->ndim == 1)
                snprintf(want, sizeof want, "[%d]", t->shape[0]);
            else if (t->ndim == 2)
                snprintf(want, sizeof want, "[%d, %d]", t->shape[0], t->shape[1]);
            else
                snprintf(want, sizeof want, "[%d, %d, %d]", t->shape[0], t->shape[1], t->shape[2]);
            st = cope_fail(err, COPE_ERR_SHAPE, "tensor \"%.100s\": shape %s, expected %s", s->name, got, want);
            break;
        }
        float *dst = m->params + t->offset;
        memcpy(dst, s->data, t->numel * 4); /* little-endian hosts only (x86, arm, wasm) */
        for (size_t i = 0; i < t->numel; i++)
            if (!isfinite(dst[i])) {
                st = cope_fail(err, COPE_ERR_NONFINITE, "tensor \"%.120s\" has a non-finite value at index %zu",
                               s->name, i);
                break;
            }
    }
    for (int i = 0; i < m->n_tensors && !st; i++)
        if (!seen[i]) st = cope_fail(err, COPE_ERR_MISSING, "missing tensor \"%s\"", m->tensors[i].name);
    free(seen);
    return st;
}

cope_status cope_model_load(cope_model **out, const void *buf, size_t len, cope_error *err) {
    *out = NULL;
    cope_st_file *f;
    cope_status st = cope_st_open(&f, buf, len, err);
    if (st) return st;
    cope_model *m = NULL;
    size_t clen;
    const char *cfg = cope_st_metadata(f, "cope_config", &clen);
    if (!cfg) {
        st = cope_fail(err, COPE_ERR_MISSING, "header has no __metadata__.cope_config (not a CoPE model file)");
        goto fail;
    }
    if (!(m = model_calloc())) {
        st = cope_fail(err, COPE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = config_from_json(m, cfg, clen, err))) goto fail;
    if ((st = model_alloc(m, err))) goto fail;
    if ((st = load_tensors(m, f, err))) goto fail;
    cope_st_close(f);
    *out = m;
    return COPE_OK;
fail:
    cope_st_close(f);
    cope_model_free(m);
    return st;
}

cope_status cope_model_config_json(const cope_model *m, char **out, cope_error *err) {
    cope_buf b = {0};
    config_to_json(m, &b);
    *out = b.oom ? NULL : b.data;
    if (b.oom) {
        free(b.data);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory writing the config");
    }
    return COPE_OK;
}

cope_status cope_model_save(const cope_model *m, void **out, size_t *out_len, cope_error *err) {
    *out = NULL;
    *out_len = 0;
    cope_buf cfg = {0};
    config_to_json(m, &cfg);
    cope_st_tensor *ts = calloc((size_t)m->n_tensors, sizeof *ts);
    if (cfg.oom || !ts) {
        free(cfg.data);
        free(ts);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const cope_tensor_info *t = &m->tensors[i];
        ts[i].name = t->name;
        ts[i].dtype = COPE_ST_F32;
        ts[i].ndim = t->ndim;
        for (int a = 0; a < t->ndim; a++) ts[i].shape[a] = t->shape[a];
        ts[i].numel = t->numel;
        ts[i].nbytes = t->numel * 4;
        ts[i].data = m->params + t->offset;
    }
    cope_status st = cope_st_write(ts, m->n_tensors, "cope_config", cfg.data, out, out_len, err);
    free(cfg.data);
    free(ts);
    return st;
}
