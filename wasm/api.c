/* api.c — the WebAssembly boundary: a thin exported C API over core/cope.h for wasm/cope.mjs.
 * Numbers and pointers only, no callbacks. Every fallible call takes a cope_error* that the caller
 * allocated (cope_wasm_error_new), so the shim has no global state at all; a context object owns
 * the model, a cached trace (with room for the longest input traced so far, so later traces of any
 * length up to it do not allocate) and the incremental decoding state. */
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cope.h"

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#define API EMSCRIPTEN_KEEPALIVE
#else
#define API /* built natively by tests/fuzz/fuzz_wasm.c, which calls it as cope.mjs does */
#endif

/* ---------------------------------------------------------------------------------------------
 * Memory and errors */

/* calloc: the core allocates traces and workspaces with calloc (about 150 MB for 512 tokens at
 * 4 layers x 4 heads), and Emscripten's prebuilt libc clears them with a byte-loop memset. This
 * strong definition replaces emmalloc's weak one and clears with __builtin_memset, which is one
 * memory.fill instruction in the builds with bulk memory (the SIMD one): a new trace length no
 * longer costs more than the trace itself. */
#ifdef __EMSCRIPTEN__
void *calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = malloc(n * size);
    if (p) __builtin_memset(p, 0, n * size);
    return p;
}
#endif

API void *cope_wasm_malloc(size_t n) { return malloc(n ? n : 1); }
API void cope_wasm_free(void *p) { free(p); }

API cope_error *cope_wasm_error_new(void) { return calloc(1, sizeof(cope_error)); }
API int cope_wasm_error_code(const cope_error *e) { return e->code; }
API const char *cope_wasm_error_msg(const cope_error *e) { return e->msg; }
API const char *cope_wasm_strerror(int code) { return cope_strerror((cope_status)code); }
API int cope_wasm_status_count(void) { return COPE_STATUS_COUNT; }
API const char *cope_wasm_status_name(int code) { return cope_status_name((cope_status)code); }

/* ---------------------------------------------------------------------------------------------
 * Context: one loaded model and what its calls keep between calls */
typedef struct {
    cope_model *m;
    cope_trace *tr;          /* last trace; reused when the next one has the same T */
    cope_state *st;          /* created at the first step */
    float *step_logits;      /* [V] */
    cope_gate_force *forces; /* the gate interventions every trace applies (cope_wasm_force_gates) */
    int n_forces;
} cope_wasm_ctx;

API void cope_wasm_unload(cope_wasm_ctx *c) {
    if (!c) return;
    cope_trace_free(c->tr);
    free(c->forces);
    cope_state_free(c->st);
    free(c->step_logits);
    cope_model_free(c->m);
    free(c);
}

/* Returns a context, or NULL with err filled. The bytes are not retained. */
API cope_wasm_ctx *cope_wasm_load(const void *buf, size_t len, cope_error *err) {
    cope_wasm_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        cope_fail(err, COPE_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (cope_model_load(&c->m, buf, len, err)) {
        free(c);
        return NULL;
    }
    return c;
}

/* Config as 13 ints: vocab_size, n_ctx, n_layer, n_head, d_model, d_ff, pe, npos, sep_keys,
 * per_head_table, rel_max, tied, tokenizer type. Returns the count written. */
#define CONFIG_INTS 13
API int cope_wasm_config(const cope_wasm_ctx *c, int *out) {
    const cope_config *g = cope_model_config(c->m);
    int v[CONFIG_INTS] = {g->vocab_size,
                          g->n_ctx,
                          g->n_layer,
                          g->n_head,
                          g->d_model,
                          g->d_ff,
                          (int)g->pe,
                          g->npos,
                          g->sep_keys,
                          g->per_head_table,
                          g->rel_max,
                          g->tied,
                          (int)cope_tokenizer_type(cope_model_tokenizer(c->m))};
    memcpy(out, v, sizeof v);
    return CONFIG_INTS;
}
API const char *cope_wasm_pe_name(int pe) { return cope_pe_name((cope_pe)pe); }
API const char *cope_wasm_provenance(const cope_wasm_ctx *c) { return cope_model_provenance(c->m); }
API double cope_wasm_num_params(const cope_wasm_ctx *c) { return (double)cope_model_num_params(c->m); }
/* Vocabulary piece of id (NUL-terminated UTF-8), NULL when out of range. */
API const char *cope_wasm_piece(const cope_wasm_ctx *c, int id) {
    return cope_tokenizer_piece(cope_model_tokenizer(c->m), id);
}

/* ---------------------------------------------------------------------------------------------
 * Tokenizer. ids [max_ids], spans [2*max_ids] (byte offset, byte length); counts[0] = tokens
 * found (may exceed max_ids), counts[1] = unknown pieces. Returns a status. A text of len bytes
 * has at most len tokens. */
API int cope_wasm_tokenize(const cope_wasm_ctx *c, const char *text, size_t len, int *ids, int *spans, int max_ids,
                           int *counts, cope_error *err) {
    return cope_tokenize(cope_model_tokenizer(c->m), text, len, ids, spans, max_ids, &counts[0], &counts[1], err);
}

/* ---------------------------------------------------------------------------------------------
 * Trace: full forward of ids[0..T). Returns the trace (owned by the context, valid until the next
 * trace or unload) or NULL with err filled. */
/* A trace keeps 6 arrays of T x T floats per head of every layer: 3.6 GB for GPT-2 small's 12 x 12
 * heads at 1024 tokens, more than a 32-bit wasm memory holds beside the model. Longer inputs are
 * refused up front with the longest that fits, instead of failing somewhere in malloc (or making a
 * browser tab give up). Decoding (cope_wasm_step) keeps one row per head and needs no such room. */
#define TRACE_BUDGET 2e9                              /* bytes */
static int trace_max(const cope_model *m) {           /* the longest trace within the budget, <= n_ctx */
    int lo = 0, hi = cope_model_config(m)->n_ctx + 1; /* lo fits (or is 0), hi does not */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        *(cope_trace_bytes(m, mid) <= TRACE_BUDGET ? &lo : &hi) = mid;
    }
    return lo;
}

/* The longest input a trace of this model takes here: n_ctx, or less where the budget says so. */
API int cope_wasm_trace_max(const cope_wasm_ctx *c) { return trace_max(c->m); }

static cope_status check_trace_budget(const cope_model *m, int T, cope_error *err) {
    if (T < 1 || T > cope_model_config(m)->n_ctx || cope_trace_bytes(m, T) <= TRACE_BUDGET) return COPE_OK;
    const cope_config *g = cope_model_config(m);
    return cope_fail(err, COPE_ERR_LIMIT,
                     "a trace of %d tokens needs %.1f GB for this model's %d layers x %d heads (the limit is "
                     "%.1f GB); at most %d tokens fit: shorten the text, or decode it token by token (step), which "
                     "keeps one row a head",
                     T, cope_trace_bytes(m, T) / 1e9, g->n_layer, g->n_head, TRACE_BUDGET / 1e9, trace_max(m));
}

API cope_trace *cope_wasm_trace(cope_wasm_ctx *c, const int *ids, int T, cope_error *err) {
    if (check_trace_budget(c->m, T, err)) return NULL;
    if (c->tr && c->tr->cap < T) { /* grows to the longest input seen; shorter ones reuse it */
        cope_trace_free(c->tr);
        c->tr = NULL;
    }
    if (!c->tr && cope_trace_new(&c->tr, c->m, T, err)) return NULL;
    if (cope_trace_force_gates(c->tr, c->m, c->forces, c->n_forces, err) || cope_trace_run(c->m, c->tr, ids, T, err))
        return NULL;
    return c->tr;
}

/* The gate interventions of every later trace, in the syntax of `cope trace --force-gate`
 * ("LAYER:HEAD:KEY=VALUE,...", HEAD * for every head; "" for none). Checked against the model
 * here; a key past an input fails that trace. Returns a status; on failure the old list stays. */
#define MAX_FORCES 4096
API int cope_wasm_force_gates(cope_wasm_ctx *c, const char *list, cope_error *err) {
    cope_gate_force *f = malloc(MAX_FORCES * sizeof *f);
    int n = 0;
    cope_status st =
        f ? cope_gate_forces_parse(list, f, MAX_FORCES, &n, err) : cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    if (!st) st = cope_gate_forces_check(c->m, f, n, cope_model_config(c->m)->n_ctx, err);
    if (st || !n) {
        free(f);
        f = NULL;
    } else { /* keep what the list needs, not the parser's room */
        cope_gate_force *fit = realloc(f, (size_t)n * sizeof *f);
        f = fit ? fit : f;
    }
    if (st) return st;
    free(c->forces);
    c->forces = f;
    c->n_forces = n;
    return COPE_OK;
}

/* The trace arrays: count and names (cope_trace_array order; the JS side takes them from here). */
API int cope_wasm_trace_count(void) { return COPE_TRACE_COUNT; }
API const char *cope_wasm_trace_name(int which) { return cope_trace_name((cope_trace_array)which); }
/* Layer l's array `which` [H, T, T] (a cope_trace_array); NULL out of range. */
API const float *cope_wasm_trace_array(const cope_trace *tr, int which, int l) {
    return cope_trace_get(tr, (cope_trace_array)which, l);
}
API const float *cope_wasm_trace_logits(const cope_trace *tr) { return tr->logits; } /* [T, V] */

/* ---------------------------------------------------------------------------------------------
 * Incremental decoding. Returns the logits [V] (owned by the context) or NULL with err filled. */
API const float *cope_wasm_step(cope_wasm_ctx *c, int id, cope_error *err) {
    if (!c->st) {
        if (cope_state_new(&c->st, c->m, err)) return NULL;
        c->step_logits = malloc((size_t)cope_model_config(c->m)->vocab_size * sizeof(float));
        if (!c->step_logits) {
            cope_state_free(c->st);
            c->st = NULL;
            cope_fail(err, COPE_ERR_NOMEM, "out of memory");
            return NULL;
        }
    }
    if (cope_step(c->m, c->st, id, c->step_logits, err)) return NULL;
    return c->step_logits;
}
API void cope_wasm_reset(cope_wasm_ctx *c) {
    if (c->st) cope_state_reset(c->st);
}
API int cope_wasm_length(const cope_wasm_ctx *c) { return c->st ? cope_state_length(c->st) : 0; }
/* The last step's row (length cope_wasm_length) of layer l, head h; which as in trace_array. */
API const float *cope_wasm_step_row(const cope_wasm_ctx *c, int l, int h, int which) {
    return c->st ? cope_step_row(c->st, l, h, (cope_trace_array)which) : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Tasks */
API int cope_wasm_task_count(void) { return cope_task_count(); }
API const char *cope_wasm_task_name(int i) {
    const cope_task *t = cope_task_get(i);
    return t ? cope_task_name(t) : NULL;
}
API const char *cope_wasm_task_description(int i) {
    const cope_task *t = cope_task_get(i);
    return t ? cope_task_description(t) : NULL;
}
API int cope_wasm_task_split_count(int i) {
    const cope_task *t = cope_task_get(i);
    return t ? cope_task_split_count(t) : 0;
}
/* Name of split k of task i, NULL when out of range. */
API const char *cope_wasm_task_split_name(int i, int k) {
    const cope_task *t = cope_task_get(i);
    return t ? cope_task_split_name(t, k) : NULL;
}
/* Longest example of a split (0 when the task or split is unknown): the size of seq/loss_on. */
API int cope_wasm_task_max_len(int i, const char *split) {
    const cope_task *t = cope_task_get(i);
    return t ? cope_task_max_len(t, split) : 0;
}
/* One example of task i from a generator seeded with seed_hi:seed_lo (the 64-bit seed in two
 * halves, since a JS number cannot carry it), in the ids of the model's vocabulary. Returns the
 * length, or -1 with err filled. */
API int cope_wasm_sample(const cope_wasm_ctx *c, int i, const char *split, uint32_t seed_lo, uint32_t seed_hi, int *seq,
                         unsigned char *loss_on, int max_len, cope_error *err) {
    const cope_task *t = cope_task_get(i);
    if (!t) {
        cope_fail(err, COPE_ERR_ARG, "unknown task %d", i);
        return -1;
    }
    cope_rng rng;
    cope_rng_seed(&rng, ((uint64_t)seed_hi << 32) | seed_lo);
    int n;
    if (cope_task_example(t, split, &rng, cope_model_tokenizer(c->m), seq, loss_on, max_len, &n, err)) return -1;
    return n;
}

#ifndef COPE_WASM_NO_TRAIN /* the viewer builds (cope-simd.wasm, cope-scalar.wasm) leave training out */
/* ---------------------------------------------------------------------------------------------
 * Training (core/train.c): the trainer `cope train` drives, so the same options and seed give the
 * same model (up to float rounding). */
API int cope_wasm_pe_parse(const char *name) {
    cope_pe pe;
    return cope_pe_parse(name, &pe) ? -1 : (int)pe;
}
API const char *cope_wasm_pe_list(char *buf, int cap) { return cope_pe_list(buf, (size_t)cap); }

/* cfg: the config ints of cope_wasm_config (vocab_size and the tokenizer are the task's);
 * opts, as doubles: batch, steps, warmup (-1: steps / 20), lr, weight_decay, clip, seed,
 * train_set, bucket. Returns the trainer or NULL with err filled. */
static cope_status check_opts(const double *o, cope_error *err) {
    /* what each double becomes must hold it (a conversion out of range is undefined behaviour):
     * lo < value < hi, the bounds one past the type's range; the trainer then checks the values */
    const double I = INT_MAX + 1.0, L = (double)LONG_MAX + 1.0, F = FLT_MAX; /* (2^63: LONG_MAX rounds up) */
    const struct {
        const char *name;
        double lo, hi;
    } r[9] = {{"batch", -I - 1, I},
              {"steps", -L - 1, L},
              {"warmup", -L - 1, L},
              {"lr", -F, F},
              {"weight_decay", -F, F},
              {"clip", -F, F},
              {"seed", -1, 18446744073709551616.0},
              {"train_set", -L - 1, L},
              {"bucket", -I - 1, I}};
    for (int k = 0; k < 9; k++)
        if (!(o[k] > r[k].lo && o[k] < r[k].hi))
            return cope_fail(err, COPE_ERR_ARG, "training option %s = %g is not a number in range", r[k].name, o[k]);
    return COPE_OK;
}

API cope_trainer *cope_wasm_trainer_new(int task, const int *cfg, const double *opts, cope_error *err) {
    const cope_task *t = cope_task_get(task);
    if (!t) {
        cope_fail(err, COPE_ERR_ARG, "unknown task %d", task);
        return NULL;
    }
    if (check_opts(opts, err)) return NULL;
    cope_config c = {.vocab_size = cfg[0],
                     .n_ctx = cfg[1],
                     .n_layer = cfg[2],
                     .n_head = cfg[3],
                     .d_model = cfg[4],
                     .d_ff = cfg[5],
                     .pe = (cope_pe)cfg[6],
                     .npos = cfg[7],
                     .sep_keys = cfg[8],
                     .per_head_table = cfg[9],
                     .rel_max = cfg[10],
                     .tied = cfg[11]};
    cope_train_opts o = {.batch = (int)opts[0],
                         .steps = (long)opts[1],
                         .warmup = (long)opts[2],
                         .lr = (float)opts[3],
                         .weight_decay = (float)opts[4],
                         .clip = (float)opts[5],
                         .seed = (uint64_t)opts[6],
                         .train_set = (long)opts[7],
                         .bucket = (int)opts[8]};
    cope_trainer *tr;
    return cope_trainer_new(&tr, &c, t, &o, err) ? NULL : tr;
}
API void cope_wasm_trainer_free(cope_trainer *t) { cope_trainer_free(t); }

/* n steps; stats (7 doubles): step, loss, loss_avg, grad_norm, lr, tokens, real_tokens. Returns a
 * status: on failure the steps before it count and stats hold the last good one. */
API int cope_wasm_trainer_train(cope_trainer *t, int n, double *stats, cope_error *err) {
    cope_status st = COPE_OK;
    for (int k = 0; k < n && !st; k++) st = cope_trainer_step(t, err);
    const cope_train_stats *s = cope_trainer_stats(t);
    double v[7] = {(double)s->step, s->loss, s->loss_avg, s->grad_norm, s->lr, s->tokens, s->real_tokens};
    memcpy(stats, v, sizeof v);
    return st;
}

API int cope_wasm_trainer_seq_len(const cope_trainer *t) { return cope_trainer_seq_len(t); }
API double cope_wasm_trainer_num_params(cope_trainer *t) {
    return (double)cope_model_num_params(cope_trainer_model(t));
}

/* The model on n fresh examples of a split of the trainer's task (seed in two halves), in
 * batches of B; out (4 doubles): token error %, sequence error %, mean loss, sequences. Returns a
 * status. */
API int cope_wasm_trainer_evaluate(cope_trainer *t, const char *split, uint32_t seed_lo, uint32_t seed_hi, int n, int B,
                                   double *out, cope_error *err) {
    cope_score s;
    cope_status st = cope_evaluate(cope_trainer_model(t), cope_trainer_task(t), split,
                                   ((uint64_t)seed_hi << 32) | seed_lo, n, B, &s, err);
    if (st) return st;
    cope_score_rates(&s, &out[0], &out[1], &out[2]);
    out[3] = (double)s.seqs;
    return COPE_OK;
}

/* The model as a safetensors file (malloc'd; its length in *len), its provenance what was trained
 * and then `extra` (more JSON members, or an empty string). NULL with err filled on failure. */
API void *cope_wasm_trainer_save(cope_trainer *t, const char *extra, size_t *len, cope_error *err) {
    void *buf;
    if (cope_trainer_set_provenance(t, extra, err) || cope_model_save(cope_trainer_model(t), &buf, len, err))
        return NULL;
    return buf;
}
#endif /* COPE_WASM_NO_TRAIN */
