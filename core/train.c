/* train.c — the training loop as an object: batches (fresh examples, a fixed set, or windows of
 * a corpus; optionally bucketed by length), forward, backward, AdamW with warmup and cosine decay,
 * and the provenance of what was done. `cope train` and the wasm module's CopeTrainer both drive
 * it, so the same seed gives the same model in both. Also: scoring a model on a task split. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model.h"

void cope_train_opts_default(cope_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 32;
    o->steps = 1000;
    o->warmup = -1;
    o->lr = 1e-3f;
    o->clip = 1.0f;
    o->seed = 1;
    o->bucket = 1;
}

/* ---------------------------------------------------------------------------------------------
 * The batcher. With bucket = K > 1 it draws a pool of K*B examples, sorts it by length and serves
 * its K batches in a shuffled order: batches of similar lengths, which saves the padding that
 * uniform lengths otherwise cost (about half on counting). The examples are the same ones the
 * unbucketed trainer would draw. */
typedef struct {
    const cope_task *task;
    const cope_tokenizer *tok;
    cope_rng data, shuffle; /* the examples (or the set's epoch order, or a corpus's windows); the buckets' order */
    uint64_t set_seed;
    long set_n, next, *order, *idx; /* a fixed set: its epoch order, the next place in it; batch indices */
    int B, T, K, pad, served, Tp;
    int *ids, *tg, *len, *row; /* the pool [K*B, Tp]; each row's length; rows sorted by length */
    float *mask;
    int *bucket, *count; /* the buckets in serving order; counts by length (the sort) */
    int *corpus;         /* a corpus's tokens [n_corpus] (owned), or NULL */
    long n_corpus;
} batcher;

static void batcher_free(batcher *bt) {
    free(bt->order), free(bt->idx), free(bt->ids), free(bt->tg), free(bt->mask), free(bt->len), free(bt->row);
    free(bt->bucket), free(bt->count), free(bt->corpus);
}

static cope_status batcher_init(batcher *bt, const cope_task *task, const cope_tokenizer *tok, uint64_t seed,
                                long set_n, int B, int T, int K, cope_error *err) {
    memset(bt, 0, sizeof *bt);
    bt->task = task, bt->tok = tok, bt->set_seed = seed, bt->set_n = set_n, bt->B = B, bt->T = T, bt->K = K;
    /* sizes in double first: in wasm32 a size_t product of the options' extremes would wrap */
    if ((double)K * B * T * sizeof(float) > (double)SIZE_MAX / 4 || (double)set_n * sizeof(long) > (double)SIZE_MAX / 4)
        return cope_fail(err, COPE_ERR_LIMIT, "batches of %d x %d in pools of %d (or a set of %ld) are too large", B, T,
                         K, set_n);
    cope_rng_seed(&bt->data, seed * 7919 + 17);
    cope_rng_seed(&bt->shuffle, seed * 7919 + 18);
    bt->pad = cope_tokenizer_id(tok, "<pad>");
    size_t P = (size_t)K * B;
    bt->order = set_n ? malloc((size_t)set_n * sizeof(long)) : NULL;
    bt->idx = malloc(P * sizeof(long));
    bt->ids = malloc(P * T * sizeof(int)), bt->tg = malloc(P * T * sizeof(int));
    bt->mask = malloc(P * T * sizeof(float));
    bt->len = malloc(P * sizeof(int)), bt->row = malloc(P * sizeof(int)), bt->bucket = malloc(K * sizeof(int));
    bt->count = malloc(((size_t)T + 2) * sizeof(int));
    if ((set_n && !bt->order) || !bt->idx || !bt->ids || !bt->tg || !bt->mask || !bt->len || !bt->row || !bt->bucket ||
        !bt->count) /* what was allocated is freed with the batcher */
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (batches of %d x %d, pools of %d)", B, T, K);
    for (long k = 0; k < set_n; k++) bt->order[k] = k;
    bt->next = set_n;
    bt->served = K;
    return COPE_OK;
}

/* n examples into ids/tg/mask [n, T] (row length *t_used): fresh, the set's next n, or windows */
static cope_status batcher_draw(batcher *bt, int n, int *ids, int *tg, float *mask, int *t_used, cope_error *err) {
    if (bt->corpus) {
        *t_used = bt->T;
        return cope_corpus_batch(bt->corpus, bt->n_corpus, &bt->data, n, bt->T, ids, tg, mask, err);
    }
    if (!bt->set_n) return cope_task_batch(bt->task, "train", &bt->data, bt->tok, n, bt->T, ids, tg, mask, t_used, err);
    for (int b = 0; b < n; b++) {
        if (bt->next == bt->set_n) { /* a new epoch */
            for (long k = bt->set_n - 1; k > 0; k--) {
                uint64_t hi = cope_rng_u32(&bt->data); /* two statements: the order of the draws is fixed */
                long r = (long)((hi << 32 | cope_rng_u32(&bt->data)) % (uint64_t)(k + 1));
                long tmp = bt->order[k];
                bt->order[k] = bt->order[r], bt->order[r] = tmp;
            }
            bt->next = 0;
        }
        bt->idx[b] = bt->order[bt->next++];
    }
    return cope_task_batch_set(bt->task, "train", bt->set_seed, bt->idx, bt->tok, n, bt->T, ids, tg, mask, t_used, err);
}

/* The next batch: ids/tg/mask [B, *t_used] */
static cope_status batcher_next(batcher *bt, int *ids, int *tg, float *mask, int *t_used, cope_error *err) {
    const int B = bt->B, K = bt->K;
    if (K <= 1) return batcher_draw(bt, B, ids, tg, mask, t_used, err);
    if (bt->served == K) { /* a new pool: draw, sort by length (ties by row), shuffle the buckets */
        int Tp;
        cope_status st = batcher_draw(bt, K * B, bt->ids, bt->tg, bt->mask, &Tp, err);
        if (st) return st;
        bt->Tp = Tp;
        memset(bt->count, 0, ((size_t)Tp + 2) * sizeof(int));
        for (int r = 0; r < K * B; r++) {
            int n = Tp;
            while (n > 1 && bt->tg[(size_t)r * Tp + n - 1] == bt->pad && bt->mask[(size_t)r * Tp + n - 1] == 0.0f) n--;
            bt->len[r] = n;
            bt->count[n + 1]++;
        }
        for (int n = 1; n <= Tp + 1; n++) bt->count[n] += bt->count[n - 1]; /* count[n]: rows shorter than n */
        for (int r = 0; r < K * B; r++) bt->row[bt->count[bt->len[r]]++] = r;
        for (int k = 0; k < K; k++) bt->bucket[k] = k;
        for (int k = K - 1; k > 0; k--) {
            int r = cope_rng_int(&bt->shuffle, k + 1), tmp = bt->bucket[k];
            bt->bucket[k] = bt->bucket[r], bt->bucket[r] = tmp;
        }
        bt->served = 0;
    }
    const int *rows = bt->row + (size_t)bt->bucket[bt->served++] * B, Tp = bt->Tp;
    int Tb = 1;
    for (int b = 0; b < B; b++) Tb = bt->len[rows[b]] > Tb ? bt->len[rows[b]] : Tb;
    for (int b = 0; b < B; b++) {
        size_t from = (size_t)rows[b] * Tp, to = (size_t)b * Tb;
        memcpy(ids + to, bt->ids + from, (size_t)Tb * sizeof(int));
        memcpy(tg + to, bt->tg + from, (size_t)Tb * sizeof(int));
        memcpy(mask + to, bt->mask + from, (size_t)Tb * sizeof(float));
    }
    *t_used = Tb;
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The trainer */
struct cope_trainer {
    cope_model *m;
    cope_workspace *ws;
    cope_optimizer *opt;
    cope_train_opts o;
    batcher bt;
    int T; /* the longest batch row */
    int *ids, *tg;
    float *mask, *grads;
    cope_train_stats st;
};

void cope_trainer_free(cope_trainer *t) {
    if (!t) return;
    batcher_free(&t->bt);
    free(t->ids), free(t->tg), free(t->mask), free(t->grads);
    cope_optimizer_free(t->opt);
    cope_workspace_free(t->ws);
    cope_model_free(t->m);
    free(t);
}

static cope_status opts_check(const cope_train_opts *o, int corpus, cope_error *err) {
    if (o->batch < 1 || o->batch > 65536) return cope_fail(err, COPE_ERR_ARG, "batch %d is outside 1..65536", o->batch);
    if (o->steps < 1) return cope_fail(err, COPE_ERR_ARG, "steps %ld: at least 1", o->steps);
    if (o->warmup > o->steps)
        return cope_fail(err, COPE_ERR_ARG, "warmup %ld is longer than %ld steps", o->warmup, o->steps);
    if (!(o->lr >= 0.0f && o->lr < 1e30f)) return cope_fail(err, COPE_ERR_ARG, "learning rate %g", (double)o->lr);
    if (!(o->weight_decay >= 0.0f && o->weight_decay <= 10.0f))
        return cope_fail(err, COPE_ERR_ARG, "weight decay %g is outside 0..10", (double)o->weight_decay);
    if (!(o->clip >= 0.0f && o->clip < 1e30f)) return cope_fail(err, COPE_ERR_ARG, "clip %g", (double)o->clip);
    if (o->train_set < 0) return cope_fail(err, COPE_ERR_ARG, "train_set %ld is negative", o->train_set);
    if (o->bucket < 1 || o->bucket > 1024)
        return cope_fail(err, COPE_ERR_ARG, "bucket %d is outside 1..1024", o->bucket);
    if (corpus && (o->train_set || o->bucket > 1))
        return cope_fail(err, COPE_ERR_ARG, "a fixed set and buckets are for tasks; a corpus is read in windows");
    return COPE_OK;
}

/* Shared by both constructors: tok is owned (freed on failure); corpus (owned) or task. */
static cope_status trainer_new(cope_trainer **out, const cope_config *cfg, const cope_task *task, cope_tokenizer *tok,
                               int *corpus, long n_corpus, const cope_train_opts *o, cope_error *err) {
    *out = NULL;
    cope_status st = opts_check(o, !task, err);
    cope_trainer *t = st ? NULL : calloc(1, sizeof *t);
    if (!t) {
        cope_tokenizer_free(tok);
        free(corpus);
        return st ? st : cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    }
    t->o = *o;
    if (t->o.warmup < 0) t->o.warmup = o->steps / 20;
    cope_config c = *cfg;
    c.vocab_size = cope_tokenizer_size(tok);
    t->T = task ? cope_task_max_len(task, "train") - 1 : c.n_ctx; /* a corpus: windows of the context */
    if (task && t->T > c.n_ctx)
        st = cope_fail(err, COPE_ERR_CONFIG, "context %d is shorter than task %s's examples (%d)", c.n_ctx,
                       cope_task_name(task), t->T);
    else if (!task && n_corpus <= t->T)
        st = cope_fail(err, COPE_ERR_ARG, "the corpus has %ld tokens; training needs more than the context (%d)",
                       n_corpus, t->T);
    if (!st) st = cope_config_validate(&c, err);
    if (st) {
        cope_tokenizer_free(tok);
        free(corpus);
        free(t);
        return st;
    }
    if ((st = cope_model_new(&t->m, &c, tok, o->seed, err))) {
        free(corpus);
        free(t);
        return st;
    }
    const int B = o->batch, T = t->T;
    size_t N = (size_t)B * T;
    st = batcher_init(&t->bt, task, cope_model_tokenizer(t->m), o->seed, o->train_set, B, T, o->bucket, err);
    t->bt.corpus = corpus, t->bt.n_corpus = n_corpus; /* freed with the batcher from here on */
    if (!st) st = cope_workspace_new(&t->ws, t->m, B, T, err);
    if (!st) st = cope_optimizer_new(&t->opt, t->m, err);
    if (!st) {
        t->ids = malloc(N * sizeof(int)), t->tg = malloc(N * sizeof(int)), t->mask = malloc(N * sizeof(float));
        t->grads = malloc(t->m->n_params * sizeof(float));
        if (!t->ids || !t->tg || !t->mask || !t->grads) st = cope_fail(err, COPE_ERR_NOMEM, "out of memory (batch)");
    }
    if (st) {
        cope_trainer_free(t);
        return st;
    }
    *out = t;
    return COPE_OK;
}

cope_status cope_trainer_new(cope_trainer **out, const cope_config *cfg, const cope_task *task,
                             const cope_train_opts *o, cope_error *err) {
    *out = NULL;
    if (!cfg || !task || !o) return cope_fail(err, COPE_ERR_ARG, "a trainer needs a config, a task and options");
    const char *const *vocab;
    int nv = cope_task_vocab(task, &vocab);
    cope_tokenizer *tok;
    cope_status st = cope_tokenizer_new(&tok, cope_task_tok_type(task), vocab, nv, err);
    return st ? st : trainer_new(out, cfg, task, tok, NULL, 0, o, err);
}

cope_status cope_trainer_new_corpus(cope_trainer **out, const cope_config *cfg, cope_tokenizer *tok, const int *tokens,
                                    long n, const cope_train_opts *o, cope_error *err) {
    *out = NULL;
    if (!cfg || !tok || !o || !tokens || n < 0) {
        cope_tokenizer_free(tok);
        return cope_fail(err, COPE_ERR_ARG, "a trainer needs a config, a tokenizer, the corpus and options");
    }
    int *copy = (double)n * sizeof(int) < (double)SIZE_MAX / 4 ? malloc(((size_t)n + 1) * sizeof(int)) : NULL;
    if (!copy) {
        cope_tokenizer_free(tok);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (a corpus of %ld tokens)", n);
    }
    memcpy(copy, tokens, (size_t)n * sizeof(int));
    int V = cope_tokenizer_size(tok);
    for (long k = 0; k < n; k++)
        if (copy[k] < 0 || copy[k] >= V) {
            cope_tokenizer_free(tok);
            free(copy);
            return cope_fail(err, COPE_ERR_TOKEN, "corpus token %ld is %d, outside the vocabulary 0..%d", k, tokens[k],
                             V - 1);
        }
    return trainer_new(out, cfg, NULL, tok, copy, n, o, err);
}

cope_model *cope_trainer_model(cope_trainer *t) { return t->m; }
const cope_task *cope_trainer_task(const cope_trainer *t) { return t->bt.task; }
const cope_train_stats *cope_trainer_stats(const cope_trainer *t) { return &t->st; }
const cope_train_opts *cope_trainer_opts(const cope_trainer *t) { return &t->o; }
int cope_trainer_seq_len(const cope_trainer *t) { return t->T; }

/* Linear warmup, then cosine decay to 10% of lr at step `steps` (and 10% after it). */
static float schedule(const cope_train_opts *o, long step) {
    if (o->warmup && step <= o->warmup) return o->lr * (float)step / (float)o->warmup;
    float prog = o->steps > o->warmup ? (float)(step - o->warmup) / (float)(o->steps - o->warmup) : 1.0f;
    if (prog > 1.0f) prog = 1.0f;
    return o->lr * (0.1f + 0.9f * 0.5f * (1.0f + cosf(3.14159265f * prog)));
}

cope_status cope_trainer_step(cope_trainer *t, cope_error *err) {
    cope_train_stats *s = &t->st;
    const long step = s->step + 1;
    cope_adamw h;
    cope_adamw_default(&h);
    h.lr = schedule(&t->o, step), h.weight_decay = t->o.weight_decay, h.clip = t->o.clip;
    int Tb;
    float loss, gnorm;
    cope_status st = batcher_next(&t->bt, t->ids, t->tg, t->mask, &Tb, err);
    if (!st) st = cope_forward(t->m, t->ws, t->ids, t->tg, t->mask, t->o.batch, Tb, &loss, err);
    if (st) return st;
    if (!isfinite(loss)) return cope_fail(err, COPE_ERR_NAN_LOSS, "loss is %g at step %ld", (double)loss, step);
    if ((st = cope_backward(t->m, t->ws, t->grads, err))) return st;
    if ((st = cope_optimizer_step(t->opt, t->m, t->grads, &h, &gnorm, err))) {
        char why[sizeof err->msg]; /* the message is rewritten from a copy: the buffers must not overlap */
        snprintf(why, sizeof why, "%s", err ? err->msg : "optimizer");
        return cope_fail(err, st, "step %ld: %s", step, why);
    }
    size_t N = (size_t)t->o.batch * Tb;
    s->tokens += (double)N;
    for (size_t k = 0; k < N; k++) s->real_tokens += t->tg[k] != t->bt.pad || t->mask[k] != 0.0f;
    s->step = step, s->loss = loss, s->grad_norm = gnorm, s->lr = h.lr;
    s->loss_avg = step == 1 ? loss : 0.95f * s->loss_avg + 0.05f * loss;
    return COPE_OK;
}

cope_status cope_trainer_set_provenance(cope_trainer *t, const char *extra, cope_error *err) {
    const cope_train_opts *o = &t->o;
    const cope_train_stats *s = &t->st;
    cope_buf b = {0};
    buf_puts(&b, "{");
    if (t->bt.task) buf_printf(&b, "\"task\": \"%s\", ", cope_task_name(t->bt.task));
    buf_printf(&b,
               "\"seed\": %llu, \"steps\": %ld, \"batch\": %d, \"seq_len\": %d, \"lr\": %g, \"warmup\": %ld, "
               "\"weight_decay\": %g, \"clip\": %g, \"final_loss_avg\": %.5f, \"tokens\": %.0f, \"real_tokens\": %.0f",
               (unsigned long long)o->seed, s->step, o->batch, t->T, (double)o->lr, o->warmup, (double)o->weight_decay,
               (double)o->clip, (double)s->loss_avg, s->tokens, s->real_tokens);
    if (s->step != o->steps) buf_printf(&b, ", \"schedule_steps\": %ld", o->steps);
    if (o->train_set) buf_printf(&b, ", \"train_set\": %ld", o->train_set);
    if (o->bucket > 1) buf_printf(&b, ", \"bucket\": %d", o->bucket);
    if (extra && *extra) {
        buf_puts(&b, ", ");
        buf_puts(&b, extra);
    }
    buf_puts(&b, "}");
    cope_status st = b.oom ? cope_fail(err, COPE_ERR_NOMEM, "out of memory (provenance)")
                           : cope_model_set_provenance(t->m, b.data, err);
    free(b.data);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Scoring */
void cope_score_batch(const float *logits, const int *targets, const float *mask, int B, int T, int V, int n_rows,
                      int *pred, cope_score *acc) {
    for (int b = 0; b < B && b < n_rows; b++) {
        int wrong = 0;
        for (int t = 0; t < T; t++) {
            size_t k = (size_t)b * T + t;
            if (pred) pred[k] = -1;
            if (mask[k] == 0.0f) continue;
            const float *lg = logits + k * V;
            int best = 0;
            for (int v = 1; v < V; v++) best = lg[v] > lg[best] ? v : best;
            double z = 0.0;
            for (int v = 0; v < V; v++) z += exp((double)lg[v] - lg[best]);
            acc->nll += log(z) - ((double)lg[targets[k]] - lg[best]);
            acc->tokens++;
            if (best != targets[k]) acc->tokens_wrong++, wrong = 1;
            if (pred) pred[k] = best;
        }
        acc->seqs++;
        acc->seqs_wrong += wrong;
    }
}

void cope_score_rates(const cope_score *s, double *token_err, double *seq_err, double *loss) {
    if (token_err) *token_err = s->tokens ? 100.0 * s->tokens_wrong / s->tokens : 0.0;
    if (seq_err) *seq_err = s->seqs ? 100.0 * s->seqs_wrong / s->seqs : 0.0;
    if (loss) *loss = s->tokens ? s->nll / s->tokens : 0.0;
}

cope_status cope_evaluate(cope_model *m, const cope_task *task, const char *split, uint64_t seed, long n, int B,
                          cope_score *out, cope_error *err) {
    memset(out, 0, sizeof *out);
    if (!task || B < 1 || n < 0) return cope_fail(err, COPE_ERR_ARG, "evaluate needs a task, n >= 0 and a batch >= 1");
    cope_status st = cope_task_split_check(task, split, err);
    if (st) return st;
    const cope_config *c = &m->cfg;
    int T = cope_task_max_len(task, split) - 1;
    if (T > c->n_ctx)
        return cope_fail(err, COPE_ERR_CONTEXT, "split %s needs a context of %d, the model has %d", split, T, c->n_ctx);
    if (B > n) B = n > 0 ? (int)n : 1;
    cope_workspace *ws;
    if ((st = cope_workspace_new(&ws, m, B, T, err))) return st;
    int *ids = malloc(sizeof(int) * B * T), *tg = malloc(sizeof(int) * B * T);
    float *mask = malloc(sizeof(float) * B * T);
    cope_rng rng;
    cope_rng_seed(&rng, seed);
    if (!ids || !tg || !mask) st = cope_fail(err, COPE_ERR_NOMEM, "out of memory (evaluation)");
    for (long done = 0; !st && done < n; done += B) {
        int Tb;
        st = cope_task_batch(task, split, &rng, m->tok, B, T, ids, tg, mask, &Tb, err);
        if (!st) st = cope_forward(m, ws, ids, NULL, NULL, B, Tb, NULL, err);
        if (!st)
            cope_score_batch(cope_workspace_logits(ws), tg, mask, B, Tb, c->vocab_size,
                             (int)(n - done < B ? n - done : B), NULL, out);
    }
    free(ids), free(tg), free(mask);
    cope_workspace_free(ws);
    return st;
}
