/* cope.c — the native command-line program: info, train, eval, trace, grad, sample, bench.
 * All I/O lives here; the core (core/) only computes. Errors are one line on stderr naming the
 * problem, with exit code 2 for usage errors and 1 for everything else. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cope.h"
#include "fileio.h"
#include "../core/json.h"

/* ---------------------------------------------------------------------------------------------
 * Errors and argument parsing */
static void die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cope: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(code);
}

static void die_err(const char *what, const cope_error *err) { die(1, "%s: %s", what, err->msg); }

/* Allocation for the program: it either succeeds or the program stops with "out of memory". */
static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die(1, "out of memory");
    return q;
}
static void *xmalloc(size_t n) { return xrealloc(NULL, n); }
static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die(1, "out of memory");
    return p;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    int argc;
    char **argv;
    char *used;
} args;

/* Value of --name, or NULL. A flag without value: returns "" when present. */
static const char *opt(args *a, const char *name, int takes_value) {
    for (int i = 0; i < a->argc; i++)
        if (strcmp(a->argv[i], name) == 0) {
            a->used[i] = 1;
            if (!takes_value) return "";
            if (i + 1 >= a->argc) die(2, "%s needs a value", name);
            a->used[i + 1] = 1;
            return a->argv[i + 1];
        }
    return NULL;
}

static long opt_int(args *a, const char *name, long def, long lo, long hi) {
    const char *v = opt(a, name, 1);
    if (!v) return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        die(2, "%s must be an integer in %ld..%ld, got \"%s\"", name, lo, hi, v);
    return x;
}

static double opt_num(args *a, const char *name, double def, double lo, double hi) {
    const char *v = opt(a, name, 1);
    if (!v) return def;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi))
        die(2, "%s must be a number in %g..%g, got \"%s\"", name, lo, hi, v);
    return x;
}

/* The positional argument at index k (counting unused non-option words), or NULL. */
static const char *positional(args *a, int k) {
    for (int i = 0; i < a->argc; i++)
        if (!a->used[i] && strncmp(a->argv[i], "--", 2) != 0) {
            if (k-- == 0) {
                a->used[i] = 1;
                return a->argv[i];
            }
        }
    return NULL;
}

static void no_leftovers(args *a) {
    for (int i = 0; i < a->argc; i++)
        if (!a->used[i]) die(2, "unknown or misplaced argument \"%s\" (see cope --help)", a->argv[i]);
}

static int *parse_int_list(const char *s, const char *what, int *n) {
    size_t cap = 16;
    int *v = xmalloc(cap * sizeof(int));
    *n = 0;
    for (const char *p = s;;) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < INT_MIN || x > INT_MAX)
            die(2, "%s: \"%s\" is not a comma-separated list of integers", what, s);
        if ((size_t)*n == cap) v = xrealloc(v, (cap *= 2) * sizeof(int));
        v[(*n)++] = (int)x;
        if (*end == '\0') break;
        if (*end != ',') die(2, "%s: \"%s\" is not a comma-separated list of integers", what, s);
        p = end + 1;
    }
    return v;
}

static cope_model *load_model(const char *path) {
    if (!path) die(2, "missing MODEL argument");
    size_t len;
    void *buf = read_file(path, &len);
    if (!buf) die(1, "cannot read %s: %s", path, strerror(errno));
    cope_model *m;
    cope_error err;
    if (cope_model_load(&m, buf, len, &err)) die(1, "%s: %s", path, err.msg);
    free(buf);
    return m;
}

static void save_model(const cope_model *m, const char *path) {
    void *buf;
    size_t len;
    cope_error err;
    if (cope_model_save(m, &buf, &len, &err)) die_err("save", &err);
    if (write_file(path, buf, len)) die(1, "cannot write %s: %s", path, strerror(errno));
    cope_free(buf);
}

static void set_threads(args *a) {
    long n = opt_int(a, "--threads", 0, 0, 256);
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads((int)n);
#else
    if (n > 1) fprintf(stderr, "cope: note: built without OpenMP, --threads %ld ignored\n", n);
#endif
}

/* The model options of train and bench, read into c. What c holds on entry are the defaults,
 * except --ff, which defaults to 4 x --dim. */
static void config_args(args *a, cope_config *c) {
    const char *pe = opt(a, "--pe", 1);
    char names[COPE_PE_LIST_LEN];
    if (pe && cope_pe_parse(pe, &c->pe)) die(2, "--pe must be one of %s", cope_pe_list(names, sizeof names));
    c->n_layer = (int)opt_int(a, "--layers", c->n_layer, 1, COPE_MAX_LAYER);
    c->d_model = (int)opt_int(a, "--dim", c->d_model, 1, COPE_MAX_DIM);
    c->n_head = (int)opt_int(a, "--heads", c->n_head, 1, COPE_MAX_HEAD);
    c->d_ff = (int)opt_int(a, "--ff", 4L * c->d_model, 1, 4L * COPE_MAX_DIM);
    c->npos = (int)opt_int(a, "--npos", c->npos, 1, COPE_MAX_NPOS);
    c->rel_max = (int)opt_int(a, "--rel-max", c->rel_max, 1, COPE_MAX_CTX);
    c->sep_keys = opt(a, "--sep-keys", 0) != NULL;
    c->per_head_table = opt(a, "--per-head", 0) != NULL;
    c->tied = opt(a, "--untied", 0) == NULL;
}

/* ---------------------------------------------------------------------------------------------
 * info */
/* --json: the file's cope_config object (config, tokenizer, provenance) with two more keys,
 * n_params and tensors: [{name, shape, numel, offset}], offset in floats into the parameters
 * (the file stores the tensors in this order, so its data_offsets are 4 x offset). */
static void info_json(const cope_model *m) {
    char *cfg;
    cope_error err;
    if (cope_model_config_json(m, &cfg, &err)) die_err("info", &err);
    size_t len = strlen(cfg); /* ends with the object's closing brace: keys go in before it */
    printf("%.*s, \"n_params\": %zu, \"tensors\": [", (int)(len - 1), cfg, cope_model_num_params(m));
    for (int i = 0; i < cope_model_num_tensors(m); i++) {
        const cope_tensor_info *t = cope_model_tensor(m, i); /* names are ASCII without quotes */
        printf("%s\n {\"name\": \"%s\", \"shape\": [", i ? "," : "", t->name);
        for (int d = 0; d < t->ndim; d++) printf("%s%d", d ? ", " : "", t->shape[d]);
        printf("], \"numel\": %zu, \"offset\": %zu}", t->numel, t->offset);
    }
    printf("]}\n");
    cope_free(cfg);
}

static int cmd_info(args *a) {
    cope_model *m = load_model(positional(a, 0));
    int json = opt(a, "--json", 0) != NULL;
    no_leftovers(a);
    if (json) {
        info_json(m);
        cope_model_free(m);
        return 0;
    }
    const cope_config *c = cope_model_config(m);
    const cope_tokenizer *t = cope_model_tokenizer(m);
    printf("pe            %s\n", cope_pe_name(c->pe));
    printf("layers        %d\nheads         %d (head dim %d)\nd_model       %d\nd_ff          %d\n", c->n_layer,
           c->n_head, c->d_model / c->n_head, c->d_model, c->d_ff);
    printf("n_ctx         %d\nvocab_size    %d\ntied          %s\n", c->n_ctx, c->vocab_size, c->tied ? "yes" : "no");
    if (cope_pe_has_cope(c->pe))
        printf("npos          %d\ngate keys     %s\ntable         %s\n", c->npos, c->sep_keys ? "sep" : "shared",
               c->per_head_table ? "per-head" : "per-layer");
    if (cope_pe_has_rel(c->pe)) printf("rel_max       %d\n", c->rel_max);
    printf("parameters    %zu\n", cope_model_num_params(m));
    printf("tokenizer     %s, %d pieces:", cope_tok_type_name(cope_tokenizer_type(t)), cope_tokenizer_size(t));
    for (int i = 0; i < cope_tokenizer_size(t) && i < 24; i++) {
        cope_buf b = {0};
        const char *p = cope_tokenizer_piece(t, i);
        buf_json_string(&b, p, strlen(p));
        printf(" %s", b.data ? b.data : "?");
        free(b.data);
    }
    printf("%s\n", cope_tokenizer_size(t) > 24 ? " ..." : "");
    printf("provenance    %s\n", cope_model_provenance(m));
    cope_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * eval: error rates on fresh seeded examples */
typedef struct {
    double token_err, seq_err, loss; /* loss: mean cross-entropy (nats) of the scored tokens */
    long tokens, seqs;
} eval_result;

/* ---------------------------------------------------------------------------------------------
 * Where eval, locality and heads read their sequences: a task's seeded examples of one split, or a
 * corpus (a text file, tokenized whole), in windows of the model's context. */
typedef struct {
    const cope_task *task; /* NULL: a corpus */
    const char *split;     /* the task's split, or the corpus's file name */
    cope_rng rng;
    int *tokens; /* the corpus */
    long n, n_unk, pos;
    size_t bytes;
    uint64_t fnv; /* FNV-1a of the file's bytes, for provenance */
} source;

static source task_source(const cope_task *task, const char *split, uint64_t seed) {
    source s = {.task = task, .split = split};
    cope_rng_seed(&s.rng, seed);
    return s;
}

static source corpus_source(const char *path, const cope_tokenizer *tk) {
    source s = {.split = path};
    char *text = read_file(path, &s.bytes);
    if (!text) die(1, "cannot read %s: %s", path, strerror(errno));
    if (s.bytes >= INT_MAX) die(1, "%s: %zu bytes; a corpus must be smaller than 2 GiB", path, s.bytes);
    s.fnv = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < s.bytes; i++) s.fnv = (s.fnv ^ (unsigned char)text[i]) * 0x100000001b3ull;
    int n, unk;
    cope_error err;
    s.tokens = xmalloc((s.bytes + 1) * sizeof(int)); /* at most one token a byte */
    if (cope_tokenize(tk, text, s.bytes, s.tokens, NULL, (int)s.bytes + 1, &n, &unk, &err))
        die(1, "%s: %s", path, err.msg);
    free(text);
    s.n = n, s.n_unk = unk;
    if (n < 2) die(1, "%s: %d tokens; a corpus needs at least 2", path, n);
    return s;
}

/* The corpus's windows of T + 1 tokens that eval reads (consecutive; the last may be shorter). */
static long corpus_windows(const source *s, int T) { return (s->n - 1 + T - 1) / T; }

/* B rows of ids/targets/mask [B, *t_used] (row length T at most): the task's next B examples, or the
 * corpus's next windows (rows past its end are masked out). */
static void source_batch(source *s, const cope_tokenizer *tk, int B, int T, int *ids, int *tg, float *mask,
                         int *t_used) {
    cope_error err;
    if (s->task) {
        if (cope_task_batch(s->task, s->split, &s->rng, tk, B, T, ids, tg, mask, t_used, &err)) die_err("data", &err);
        return;
    }
    int pad = cope_tokenizer_id(tk, "<pad>");
    pad = pad < 0 ? 0 : pad;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t k = (size_t)b * T + t;
            long at = s->pos + (long)b * T + t;
            int in = at + 1 < s->n;
            ids[k] = in ? s->tokens[at] : pad;
            tg[k] = in ? s->tokens[at + 1] : pad;
            mask[k] = in ? 1.0f : 0.0f;
        }
    s->pos += (long)B * T;
    *t_used = T;
}

/* A JSON string */
static void put_piece_str(FILE *f, const char *p) {
    cope_buf b = {0};
    buf_json_string(&b, p, strlen(p));
    fputs(b.data ? b.data : "\"\"", f);
    free(b.data);
}
static void put_piece(FILE *f, const cope_tokenizer *tk, int id) { put_piece_str(f, cope_tokenizer_piece(tk, id)); }

/* Error on n sequences of src (a task's fresh examples of a split; a corpus's windows of the
 * model's context, all of them when n is its corpus_windows). With `examples`, one JSON line per
 * sequence: its tokens (the input, then the last target), and for each scored token its position,
 * target and the model's argmax: {"split": S, "tokens": [...], "scored": [[pos, target, predicted], ...],
 * "wrong": 0|1}. */
static eval_result evaluate(cope_model *m, source *src, long n, FILE *examples) {
    const cope_config *c = cope_model_config(m);
    const cope_tokenizer *tk = cope_model_tokenizer(m);
    const char *split = src->split;
    int T = src->task ? cope_task_max_len(src->task, split) - 1 : c->n_ctx;
    if (T > c->n_ctx) die(1, "split %s needs a context of %d, the model has %d", split, T, c->n_ctx);
    int B = 32;
    cope_workspace *ws;
    cope_error err;
    if (cope_workspace_new(&ws, m, B, T, &err)) die_err("eval", &err);
    int *ids = xmalloc(sizeof(int) * B * T), *tg = xmalloc(sizeof(int) * B * T), *pred = xmalloc(sizeof(int) * B * T);
    float *mask = xmalloc(sizeof(float) * B * T);
    cope_score sc = {0};
    const int pad = cope_tokenizer_id(tk, "<pad>");
    for (long done = 0; done < n; done += B) {
        int Tb, rows = n - done < B ? (int)(n - done) : B;
        source_batch(src, tk, B, T, ids, tg, mask, &Tb);
        if (cope_forward(m, ws, ids, NULL, NULL, B, Tb, NULL, &err)) die_err("eval forward", &err);
        cope_score_batch(cope_workspace_logits(ws), tg, mask, B, Tb, c->vocab_size, rows, pred, &sc);
        for (int b = 0; examples && b < rows; b++) { /* one JSON line per sequence */
            int wrong = 0, len = 0, first = 1;
            fputs("{\"split\": ", examples);
            put_piece_str(examples, split);
            fputs(", \"scored\": [", examples);
            for (int t = 0; t < Tb; t++) {
                size_t k = (size_t)b * Tb + t;
                if (tg[k] != pad) len = t + 1;
                if (pred[k] < 0) continue;
                fprintf(examples, "%s[%d, ", first ? "" : ", ", t + 1);
                first = 0;
                put_piece(examples, tk, tg[k]);
                fputs(", ", examples);
                put_piece(examples, tk, pred[k]);
                fputs("]", examples);
                wrong |= pred[k] != tg[k];
            }
            fputs("], \"tokens\": [", examples);
            for (int t = 0; t < len; t++) { /* the inputs, then the last target */
                put_piece(examples, tk, ids[(size_t)b * Tb + t]);
                fputs(", ", examples);
            }
            if (len) put_piece(examples, tk, tg[(size_t)b * Tb + len - 1]);
            fprintf(examples, "], \"wrong\": %d}\n", wrong);
        }
    }
    free(ids);
    free(tg);
    free(pred);
    free(mask);
    cope_workspace_free(ws);
    eval_result r = {.tokens = sc.tokens, .seqs = sc.seqs};
    cope_score_rates(&sc, &r.token_err, &r.seq_err, &r.loss);
    return r;
}

/* Exits with the core's message (exit code 2) when the task has no split of that name. */
static void check_split(const cope_task *t, const char *split) {
    cope_error err;
    if (cope_task_split_check(t, split, &err)) die(2, "%s", err.msg);
}

static const cope_task *task_arg(args *a, const char *def) {
    const char *name = opt(a, "--task", 1);
    if (!name) name = def;
    const cope_task *t = cope_task_find(name);
    if (!t) {
        fprintf(stderr, "cope: error: unknown task \"%s\"; tasks:", name ? name : "");
        for (int i = 0; i < cope_task_count(); i++) fprintf(stderr, " %s", cope_task_name(cope_task_get(i)));
        fprintf(stderr, "\n");
        exit(2);
    }
    return t;
}

/* The string member `key` of a model's provenance ("task", "corpus"), if any. */
static const char *provenance_str(const cope_model *m, const char *key, char *out, size_t cap) {
    const char *prov = cope_model_provenance(m), *res = NULL;
    json_doc d; /* parsed, whatever its spacing (files written by python/train.py have none) */
    cope_status st = json_parse(&d, prov, strlen(prov), NULL);
    if (st == COPE_ERR_NOMEM) die(1, "out of memory");
    if (st) return NULL;
    int k = d.n_nodes && d.nodes[0].type == JSON_OBJ ? json_get(&d, 0, key) : -1;
    if (k >= 0 && d.nodes[k].type == JSON_STR && d.nodes[k].str_len < cap) {
        memcpy(out, d.nodes[k].str, d.nodes[k].str_len + 1);
        res = out;
    }
    json_free(&d);
    return res;
}

/* MODEL (the first positional argument; its path in *path when path is not NULL) and what it is
 * to read: --corpus FILE (returns NULL and sets *corpus), else --task, else the provenance's task */
static const cope_task *model_and_task(args *a, cope_model **m, const char **path, const char **corpus) {
    const char *p = positional(a, 0);
    if (path) *path = p;
    *m = load_model(p);
    if ((*corpus = opt(a, "--corpus", 1))) {
        if (opt(a, "--task", 1)) die(2, "give --task or --corpus, not both");
        return NULL;
    }
    char name[64], file[512];
    if (!provenance_str(*m, "task", name, sizeof name) && !opt(a, "--task", 1) &&
        provenance_str(*m, "corpus", file, sizeof file))
        die(2, "%s was trained on a corpus: name a text file to read with --corpus FILE", p);
    return task_arg(a, provenance_str(*m, "task", name, sizeof name));
}

static int cmd_eval(args *a) {
    cope_model *m;
    const char *corpus;
    const cope_task *task = model_and_task(a, &m, NULL, &corpus);
    const char *split = opt(a, "--split", 1);
    int n = (int)opt_int(a, "--n", 1000, 1, 10000000);
    uint64_t seed = (uint64_t)opt_int(a, "--seed", 12345, 0, LONG_MAX);
    const char *ex_path = opt(a, "--examples", 1);
    set_threads(a);
    no_leftovers(a);
    if (split && !task) die(2, "--split is a task's; a corpus is read whole");
    if (split) check_split(task, split);
    FILE *examples = NULL;
    if (ex_path && !(examples = fopen(ex_path, "w"))) die(1, "cannot write %s: %s", ex_path, strerror(errno));
    if (!task) { /* every window of the model's context, in order */
        source src = corpus_source(corpus, cope_model_tokenizer(m));
        eval_result r = evaluate(m, &src, corpus_windows(&src, cope_model_config(m)->n_ctx), examples);
        printf("%s  token error %6.2f%%  loss %.4f  perplexity %.2f  (%ld scored tokens in windows of %d; %.2f%% of "
               "tokens <unk>)\n",
               corpus, r.token_err, r.loss, exp(r.loss), r.tokens, cope_model_config(m)->n_ctx,
               100.0 * src.n_unk / src.n);
        free(src.tokens);
    }
    for (int k = 0; task && k < cope_task_split_count(task); k++) {
        const char *s = cope_task_split_name(task, k);
        if (split && strcmp(split, s) != 0) continue;
        source src = task_source(task, s, seed);
        eval_result r = evaluate(m, &src, n, examples);
        printf(
            "%s %-12s token error %6.2f%%  sequence error %6.2f%%  loss %.4f  (%ld sequences, %ld scored tokens, seed "
            "%llu)\n",
            cope_task_name(task), s, r.token_err, r.seq_err, r.loss, r.seqs, r.tokens, (unsigned long long)seed);
    }
    if (examples && fclose(examples)) die(1, "cannot write %s: %s", ex_path, strerror(errno));
    cope_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * train: drives the core's trainer (core/train.c), printing progress and writing checkpoints */
static int cmd_train(args *a) {
    const char *corpus = opt(a, "--corpus", 1), *valid = opt(a, "--valid", 1);
    if (corpus && opt(a, "--task", 1)) die(2, "give --task or --corpus, not both");
    const cope_task *task = corpus ? NULL : task_arg(a, "toy");
    if (valid && !corpus) die(2, "--valid FILE is a held-out text for --corpus");
    cope_config c;
    cope_config_default(&c);
    c.n_layer = 2; /* train's defaults (--ctx: the task's longest split, or 256 on a corpus) */
    c.npos = 16;
    c.rel_max = 64;
    config_args(a, &c);
    int ctx = 256; /* the default context: a task's longest split, or 256 on a corpus */
    for (int k = 0; task && k < cope_task_split_count(task); k++) {
        int len = cope_task_max_len(task, cope_task_split_name(task, k)) - 1;
        ctx = k == 0 || len > ctx ? len : ctx;
    }
    c.n_ctx = (int)opt_int(a, "--ctx", ctx, 1, COPE_MAX_CTX);
    int vocab_max = (int)opt_int(a, "--vocab", 4096, 3, COPE_MAX_VOCAB),
        min_count = (int)opt_int(a, "--min-count", 2, 1, INT_MAX);
    cope_train_opts o;
    cope_train_opts_default(&o);
    o.steps = opt_int(a, "--steps", 1000, 1, 100000000);
    o.batch = (int)opt_int(a, "--batch", 32, 1, 1 << 16);
    o.lr = (float)opt_num(a, "--lr", 1e-3, 0.0, 1e30);
    o.weight_decay = (float)opt_num(a, "--wd", 0.0, 0.0, 10.0);
    o.clip = (float)opt_num(a, "--clip", 1.0, 0.0, 1e9);
    o.warmup = opt_int(a, "--warmup", o.steps / 20, 0, o.steps);
    o.seed = (uint64_t)opt_int(a, "--seed", 1, 0, LONG_MAX);
    o.train_set = opt_int(a, "--train-set", 0, 0, 100000000); /* 0: a fresh example every time */
    o.bucket = (int)opt_int(a, "--bucket", 1, 1, 1024);
    int n_eval = (int)opt_int(a, "--eval-n", 1000, 0, 10000000);
    long ckpt_every = opt_int(a, "--checkpoint-every", 0, 0, 100000000);
    const char *out = opt(a, "--out", 1), *log_path = opt(a, "--log", 1);
    set_threads(a);
    no_leftovers(a);
    if (!out) die(2, "train needs --out MODEL.safetensors");
    if (task && (opt(a, "--vocab", 1) || opt(a, "--min-count", 1)))
        die(2, "--vocab and --min-count are for --corpus (a task has its own vocabulary)");
    if (!task && (o.train_set || o.bucket > 1))
        die(2, "--train-set and --bucket are for tasks; a corpus is read in windows");
    if (task && cope_task_max_len(task, "train") - 1 > c.n_ctx)
        die(2, "--ctx %d is shorter than the task's training length %d", c.n_ctx, cope_task_max_len(task, "train") - 1);
    FILE *log = NULL; /* one line a step: the loss curve */
    if (log_path && !(log = fopen(log_path, "w"))) die(1, "cannot write %s: %s", log_path, strerror(errno));
    if (log) fputs("step\tloss\tloss_avg\tgrad_norm\tlr\ttokens\n", log);
    cope_error err;
    cope_trainer *tr;
    source src = {0}, vs = {0};
    if (task) {
        if (cope_trainer_new(&tr, &c, task, &o, &err)) die_err("train", &err);
    } else { /* the "text" tokenizer, its vocabulary the corpus's most frequent pieces */
        size_t len;
        cope_tokenizer *tok;
        char *text = read_file(corpus, &len);
        if (!text) die(1, "cannot read %s: %s", corpus, strerror(errno));
        if (cope_tokenizer_from_text(&tok, COPE_TOK_TEXT, text, len, vocab_max, min_count, &err))
            die(1, "%s: %s", corpus, err.msg);
        free(text);
        src = corpus_source(corpus, tok);
        if (src.n <= c.n_ctx)
            die(1, "%s has %ld tokens; training needs more than the context (%d)", corpus, src.n, c.n_ctx);
        if (valid) vs = corpus_source(valid, tok); /* read now: a bad file fails before training, not after */
        if (cope_trainer_new_corpus(&tr, &c, tok, src.tokens, src.n, &o, &err)) die_err("train", &err);
    }
    cope_model *m = cope_trainer_model(tr);
    const cope_train_stats *st = cope_trainer_stats(tr);
    o = *cope_trainer_opts(tr);
    const long steps = o.steps;
    fprintf(stderr, "training %s on %s: %zu parameters, batch %d x %d, %ld steps, seed %llu", cope_pe_name(c.pe),
            task ? cope_task_name(task) : corpus, cope_model_num_params(m), o.batch, cope_trainer_seq_len(tr), steps,
            (unsigned long long)o.seed);
    if (!task)
        fprintf(stderr, ", %ld tokens (%.2f%% <unk>), vocabulary %d", src.n, 100.0 * src.n_unk / src.n,
                cope_model_config(m)->vocab_size);
    if (o.train_set)
        fprintf(stderr, ", a fixed set of %ld examples (%.1f epochs)", o.train_set,
                (double)steps * o.batch / o.train_set);
    if (o.bucket > 1) fprintf(stderr, ", batches of similar lengths from pools of %d", o.bucket * o.batch);
    fprintf(stderr, "\n");
    int tty = isatty(2);
    double t0 = now_seconds(), last_print = 0.0;
    long last_ckpt = 0;
    for (long step = 1; step <= steps; step++) {
        if (cope_trainer_step(tr, &err)) {
            if (last_ckpt) die(1, "%s; stopping; %s holds the checkpoint of step %ld", err.msg, out, last_ckpt);
            die(1, "%s; stopping before the first checkpoint, %s not written", err.msg, out);
        }
        if (log)
            fprintf(log, "%ld\t%.9g\t%.9g\t%.9g\t%.9g\t%.0f\n", st->step, st->loss, st->loss_avg, st->grad_norm, st->lr,
                    st->tokens);
        if (ckpt_every && step % ckpt_every == 0 && step < steps) { /* the last good state, kept on failure */
            char prov[160];
            snprintf(prov, sizeof prov, "{\"%s\": \"%s\", \"checkpoint_step\": %ld, \"seed\": %llu}",
                     task ? "task" : "corpus", task ? cope_task_name(task) : "(see the final model)", step,
                     (unsigned long long)o.seed);
            if (cope_model_set_provenance(m, prov, &err)) die_err("checkpoint", &err);
            save_model(m, out);
            last_ckpt = step;
        }
        double t = now_seconds() - t0;
        if ((tty && t - last_print > 0.2) || step == steps || (!tty && step % (steps / 10 > 0 ? steps / 10 : 1) == 0)) {
            last_print = t;
            double tps = st->tokens / t, eta = t / step * (steps - step);
            fprintf(stderr,
                    "%sstep %6ld/%ld  loss %.4f (avg %.4f)  |g| %.3f  lr %.2e  %.0f tok/s  %.0fs elapsed, ETA %.0fs%s",
                    tty ? "\r" : "", step, steps, st->loss, st->loss_avg, st->grad_norm, st->lr, tps, t, eta,
                    tty ? "   " : "\n");
        }
    }
    double secs = now_seconds() - t0;
    if (tty) fprintf(stderr, "\n");
    if (log && fclose(log)) die(1, "cannot write %s: %s", log_path, strerror(errno));
    cope_buf prov = {0};
    buf_printf(&prov, "\"train_seconds\": %.1f, \"trainer\": \"cope train\"", secs);
    if (!task) { /* the file by name (JSON-escaped), size and FNV-1a, and what the tokenizer made of it */
        const char *base = strrchr(corpus, '/') ? strrchr(corpus, '/') + 1 : corpus;
        buf_puts(&prov, ", \"corpus\": ");
        buf_json_string(&prov, base, strlen(base));
        buf_printf(&prov,
                   ", \"corpus_bytes\": %zu, \"corpus_fnv1a\": \"%016llx\", \"corpus_tokens\": %ld, "
                   "\"corpus_unk\": %ld, \"vocab_min_count\": %d",
                   src.bytes, (unsigned long long)src.fnv, src.n, src.n_unk, min_count);
    }
    if (valid) { /* the held-out text, every window of the context */
        eval_result r = evaluate(m, &vs, corpus_windows(&vs, c.n_ctx), NULL);
        const char *base = strrchr(valid, '/') ? strrchr(valid, '/') + 1 : valid;
        fprintf(stderr, "eval %s: token error %6.2f%%  loss %.4f  perplexity %.2f\n", base, r.token_err, r.loss,
                exp(r.loss));
        buf_puts(&prov, ", \"eval\": {\"valid\": {\"file\": ");
        buf_json_string(&prov, base, strlen(base));
        buf_printf(&prov,
                   ", \"bytes\": %zu, \"fnv1a\": \"%016llx\", \"token_error\": %.3f, \"loss\": %.4f, \"perplexity\": "
                   "%.3f, \"tokens\": %ld, \"unk\": %ld}}",
                   vs.bytes, (unsigned long long)vs.fnv, r.token_err, r.loss, exp(r.loss), r.tokens, vs.n_unk);
        free(vs.tokens);
    }
    if (n_eval > 0 && task) {
        buf_puts(&prov, ", \"eval\": {");
        for (int k = 0; k < cope_task_split_count(task); k++) {
            const char *s = cope_task_split_name(task, k);
            cope_score sc;
            double tok_err, seq_err, loss;
            if (cope_evaluate(m, task, s, 1000003 + o.seed, n_eval, 32, &sc, &err)) die_err("eval", &err);
            cope_score_rates(&sc, &tok_err, &seq_err, &loss);
            fprintf(stderr, "eval %-12s token error %6.2f%%  sequence error %6.2f%%  loss %.4f\n", s, tok_err, seq_err,
                    loss);
            buf_printf(&prov, "%s\"%s\": {\"token_error\": %.3f, \"seq_error\": %.3f, \"loss\": %.4f, \"n\": %ld}",
                       k ? ", " : "", s, tok_err, seq_err, loss, sc.seqs);
        }
        buf_puts(&prov, "}");
    }
    if (prov.oom || cope_trainer_set_provenance(tr, prov.data, &err))
        die(1, "provenance: %s", prov.oom ? "out of memory" : err.msg);
    free(prov.data);
    save_model(m, out);
    fprintf(stderr, "done: %ld steps in %.1fs (%.0f tok/s), final loss %.4f, wrote %s\n", steps, secs,
            st->tokens / secs, st->loss_avg, out);
    free(src.tokens);
    cope_trainer_free(tr);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * trace and grad: inputs from --text or --ids; outputs as JSON or safetensors */
static int *input_ids(args *a, const cope_model *m, int *T) {
    const char *text = opt(a, "--text", 1), *list = opt(a, "--ids", 1);
    if (!!text == !!list) die(2, "give exactly one of --text \"...\" or --ids 1,2,3");
    const cope_config *c = cope_model_config(m);
    int *ids;
    if (list) {
        ids = parse_int_list(list, "--ids", T);
    } else {
        int n, unk;
        cope_error err;
        size_t len = strlen(text);
        if (cope_tokenize(cope_model_tokenizer(m), text, len, NULL, NULL, 0, &n, &unk, &err)) die_err("--text", &err);
        ids = xmalloc(((size_t)n + 1) * sizeof(int));
        if (cope_tokenize(cope_model_tokenizer(m), text, len, ids, NULL, n, &n, &unk, &err)) die_err("--text", &err);
        if (unk) fprintf(stderr, "cope: note: %d piece(s) of --text are not in the vocabulary and map to <unk>\n", unk);
        *T = n;
    }
    if (*T < 1) die(2, "the input has no tokens");
    if (*T > c->n_ctx) die(1, "the input has %d tokens, more than the model's context n_ctx = %d", *T, c->n_ctx);
    for (int i = 0; i < *T; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            die(1, "token id %d at position %d is outside 0..%d", ids[i], i, c->vocab_size - 1);
    return ids;
}

static void write_tensors(const char *path, const cope_st_tensor *ts, int n, const char *meta) {
    void *buf;
    size_t len;
    cope_error err;
    if (cope_st_write(ts, n, meta ? "cope_config_source" : NULL, meta, &buf, &len, &err)) die_err("write", &err);
    if (write_file(path, buf, len)) die(1, "cannot write %s: %s", path, strerror(errno));
    cope_free(buf);
}

static void json_matrix(FILE *f, const float *x, int rows, int cols, int lower) {
    fputc('[', f);
    for (int i = 0; i < rows; i++) {
        fputs(i ? ",[" : "[", f);
        int n = lower ? i + 1 : cols;
        for (int j = 0; j < n; j++) fprintf(f, j ? ",%.7g" : "%.7g", x[(size_t)i * cols + j]);
        fputc(']', f);
    }
    fputc(']', f);
}

static int cmd_trace(args *a) {
    cope_model *m = load_model(positional(a, 0));
    int T;
    int *ids = input_ids(a, m, &T);
    const char *out = opt(a, "--out", 1), *force = opt(a, "--force-gate", 1);
    int json = opt(a, "--json", 0) != NULL;
    set_threads(a);
    no_leftovers(a);
    if (!!out == json) die(2, "give exactly one of --json or --out FILE.safetensors");
    cope_trace *tr;
    cope_error err;
    enum { MAX_FORCES = 4096 };
    cope_gate_force *forces = xmalloc(MAX_FORCES * sizeof *forces);
    int n_forces = 0;
    if (force && cope_gate_forces_parse(force, forces, MAX_FORCES, &n_forces, &err))
        die(2, "--force-gate: %s", err.msg);
    if (cope_trace_new(&tr, m, T, &err)) die_err("trace", &err);
    if (cope_trace_force_gates(tr, m, forces, n_forces, &err)) die(2, "--force-gate: %s", err.msg);
    free(forces);
    if (cope_trace_run(m, tr, ids, T, &err)) die_err("trace", &err);
    const cope_config *c = cope_model_config(m);
    if (out) {
        int n = 1 + COPE_TRACE_COUNT * c->n_layer;
        cope_st_tensor *ts = xcalloc((size_t)n, sizeof *ts);
        char *names_buf = xmalloc((size_t)n * 48);
        ts[0] =
            (cope_st_tensor){"logits", COPE_ST_F32, 2, {T, c->vocab_size}, (size_t)T * c->vocab_size, 0, tr->logits};
        for (int l = 0, k = 1; l < c->n_layer; l++)
            for (int q = 0; q < COPE_TRACE_COUNT; q++, k++) {
                char *nm = names_buf + (size_t)k * 48;
                snprintf(nm, 48, "layers.%d.%s", l, cope_trace_name(q));
                ts[k] = (cope_st_tensor){
                    nm, COPE_ST_F32, 3, {c->n_head, T, T}, (size_t)c->n_head * T * T, 0, cope_trace_get(tr, q, l)};
            }
        write_tensors(out, ts, n, NULL);
        free(ts);
        free(names_buf);
    } else {
        const cope_tokenizer *tk = cope_model_tokenizer(m);
        printf("{\"T\": %d, \"n_layer\": %d, \"n_head\": %d, \"tokens\": [", T, c->n_layer, c->n_head);
        for (int i = 0; i < T; i++) {
            cope_buf b = {0};
            const char *p = cope_tokenizer_piece(tk, ids[i]);
            buf_json_string(&b, p, strlen(p));
            printf("%s%s", i ? ", " : "", b.data ? b.data : "\"\"");
            free(b.data);
        }
        printf("], \"ids\": [");
        for (int i = 0; i < T; i++) printf("%s%d", i ? ", " : "", ids[i]);
        printf("],\n\"logits\": ");
        json_matrix(stdout, tr->logits, T, c->vocab_size, 0);
        printf(",\n\"layers\": [");
        for (int l = 0; l < c->n_layer; l++) {
            printf("%s{", l ? ",\n" : "\n");
            for (int q = 0; q < COPE_TRACE_COUNT; q++) {
                printf("%s\"%s\": [", q ? ",\n " : "", cope_trace_name(q));
                for (int h = 0; h < c->n_head; h++) {
                    if (h) printf(",");
                    json_matrix(stdout, cope_trace_get(tr, q, l) + (size_t)h * T * T, T, T, 1);
                }
                printf("]");
            }
            printf("}");
        }
        printf("]}\n");
    }
    cope_trace_free(tr);
    free(ids);
    cope_model_free(m);
    return 0;
}

static int cmd_grad(args *a) {
    cope_model *m = load_model(positional(a, 0));
    int T, nt, nm = 0;
    int *ids = input_ids(a, m, &T);
    const char *tl = opt(a, "--targets", 1), *ml = opt(a, "--mask", 1), *out = opt(a, "--out", 1);
    set_threads(a);
    no_leftovers(a);
    if (!tl || !out) die(2, "grad needs --targets and --out FILE.safetensors");
    int *targets = parse_int_list(tl, "--targets", &nt);
    int *mi = ml ? parse_int_list(ml, "--mask", &nm) : NULL;
    if (nt != T) die(2, "--targets has %d entries, the input has %d tokens", nt, T);
    if (mi && nm != T) die(2, "--mask has %d entries, the input has %d tokens", nm, T);
    float *mask = xmalloc((size_t)T * sizeof(float));
    for (int i = 0; i < T; i++) {
        if (mi && mi[i] != 0 && mi[i] != 1) die(2, "--mask entries must be 0 or 1");
        mask[i] = mi ? (float)mi[i] : 1.0f;
    }
    cope_workspace *ws;
    cope_error err;
    float loss;
    float *g = xmalloc(cope_model_num_params(m) * sizeof(float));
    if (cope_workspace_new(&ws, m, 1, T, &err) || cope_forward(m, ws, ids, targets, mask, 1, T, &loss, &err) ||
        cope_backward(m, ws, g, &err))
        die_err("grad", &err);
    int n = cope_model_num_tensors(m);
    cope_st_tensor *ts = xcalloc((size_t)n + 1, sizeof *ts);
    ts[0] = (cope_st_tensor){"loss", COPE_ST_F32, 1, {1}, 1, 4, &loss};
    for (int i = 0; i < n; i++) {
        const cope_tensor_info *t = cope_model_tensor(m, i);
        ts[i + 1] = (cope_st_tensor){t->name,  COPE_ST_F32,  t->ndim,      {t->shape[0], t->shape[1], t->shape[2]},
                                     t->numel, t->numel * 4, g + t->offset};
    }
    write_tensors(out, ts, n + 1, NULL);
    printf("loss %.7g\n", loss);
    free(ts);
    free(g);
    free(mask);
    free(mi);
    free(targets);
    free(ids);
    cope_workspace_free(ws);
    cope_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * sample: print task examples as text */
static int cmd_sample(args *a) {
    const cope_task *task = task_arg(a, NULL);
    const char *split = opt(a, "--split", 1);
    if (!split) split = "train";
    uint64_t seed = (uint64_t)opt_int(a, "--seed", 1, 0, LONG_MAX);
    int n = (int)opt_int(a, "--n", 1, 1, 100000);
    no_leftovers(a);
    check_split(task, split);
    int max_len = cope_task_max_len(task, split);
    const char *const *vocab;
    int nv = cope_task_vocab(task, &vocab);
    cope_tokenizer *tok;
    cope_error err;
    if (cope_tokenizer_new(&tok, cope_task_tok_type(task), vocab, nv, &err)) die_err("tokenizer", &err);
    int *seq = xmalloc((size_t)max_len * sizeof(int));
    unsigned char *on = xmalloc((size_t)max_len);
    cope_rng rng;
    cope_rng_seed(&rng, seed);
    int chars = cope_task_tok_type(task) == COPE_TOK_CHARS;
    for (int e = 0; e < n; e++) {
        int len;
        if (cope_task_example(task, split, &rng, tok, seq, on, max_len, &len, &err)) die_err("sample", &err);
        int k = 0;
        while (k < len && !on[k]) k++;
        for (int i = 0; i < len; i++) {
            if (i == k) printf("\t=> ");
            printf("%s%s", i && !chars && i != k ? " " : "", cope_tokenizer_piece(tok, seq[i]));
        }
        printf("\n");
    }
    free(seq);
    free(on);
    cope_tokenizer_free(tok);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * locality: Figure 4, measured. For every head, the share of the position-only attention
 * (pos_attn, each row normalized to sum 1) that falls inside the query's current paragraph and
 * section, averaged over queries whose paragraph (section) does not start at 0; beside it the
 * share a head without position preference would give (the unit's length / (i+1)). Paragraphs end
 * at "\n"; a section starts at a title line "= = ... = =". */
typedef struct {
    double par, par_uniform, sec, sec_uniform; /* means over the queries */
    double dist, par_len;                      /* mean distance i - j attended; mean paragraph so far (i - start + 1) */
    double par_dist; /* the paragraph share of a head that attends by distance alone, with this head's mean
                        profile w(d) over distances d: what recency alone gives (the control) */
} locality;

/* The next sequence of src into seq (*T tokens, at most max_len); 0 when a corpus is used up. A
 * corpus gives consecutive windows of max_len tokens inside one document each (a document starts
 * at a top-level title line "= Title ="; what is left of one shorter than max_len is skipped). */
static int source_next(source *s, const cope_tokenizer *tk, int *seq, int max_len, int *T) {
    cope_error err;
    if (s->task) {
        if (cope_task_example(s->task, s->split, &s->rng, tk, seq, NULL, max_len, T, &err)) die_err("data", &err);
        return 1;
    }
    int nl = cope_tokenizer_id(tk, "\n"), eq = cope_tokenizer_id(tk, "=");
    while (s->pos + max_len <= s->n) {
        long doc = -1;
        for (long i = s->pos + 1; i < s->pos + max_len && doc < 0; i++)
            if (s->tokens[i] == eq && s->tokens[i - 1] == nl && i + 1 < s->n && s->tokens[i + 1] != eq) doc = i;
        if (doc >= 0) {
            s->pos = doc; /* a new document begins inside: start the window there */
            continue;
        }
        memcpy(seq, s->tokens + s->pos, (size_t)max_len * sizeof(int));
        s->pos += max_len;
        *T = max_len;
        return 1;
    }
    return 0;
}

/* Per head [L*H], on n sequences of src (for a corpus: all its windows when n is larger); NULL
 * (and *why set) if the vocabulary has no paragraph or section marks. *used: sequences read. */
static locality *measure_locality(cope_model *m, source *src, int n, int *used, const char **why) {
    const cope_config *c = cope_model_config(m);
    const cope_tokenizer *tk = cope_model_tokenizer(m);
    const char *split = src->split;
    int max_len = src->task ? cope_task_max_len(src->task, split) : c->n_ctx + 1;
    if (max_len - 1 > c->n_ctx)
        die(1, "split %s needs a context of %d, the model has %d", split, max_len - 1, c->n_ctx);
    int nl = cope_tokenizer_id(tk, "\n"), eq = cope_tokenizer_id(tk, "=");
    if (nl < 0 || eq < 0) {
        *why = "the vocabulary has no \"\\n\" or \"=\" to mark paragraphs and sections";
        return NULL;
    }
    int L = c->n_layer, H = c->n_head;
    /* par share, par uniform, sec share, sec uniform, distance, paragraph so far */
    double *acc = xcalloc((size_t)L * H * 6, sizeof(double));
    long nq_par = 0, nq_sec = 0, nq_cap = 1024;
    int *seq = xmalloc((size_t)max_len * sizeof(int)), *ps = xmalloc((size_t)max_len * sizeof(int)),
        *ss = xmalloc((size_t)max_len * sizeof(int));
    /* the control: each head's mean row by distance, w[d] = wsum / wcnt, and the measured queries */
    double *wsum = xcalloc((size_t)L * H * max_len, sizeof(double)), *wcnt = xcalloc((size_t)max_len, sizeof(double));
    int *q_i = xmalloc((size_t)nq_cap * sizeof(int)), *q_len = xmalloc((size_t)nq_cap * sizeof(int));
    cope_error err;
    cope_trace *tr; /* one trace with room for the longest sequence, reused */
    if (cope_trace_new(&tr, m, max_len - 1 > 0 ? max_len - 1 : 1, &err)) die_err("locality", &err);
    int e = 0, T;
    for (; e < n && source_next(src, tk, seq, max_len, &T); e++) {
        if (T > c->n_ctx) T = c->n_ctx; /* the model reads the sequence without its last token */
        if (T > tr->cap) T = tr->cap;
        int par = 0, sec = 0;
        for (int i = 0; i < T; i++) { /* unit starts seen from query i */
            if (seq[i] == eq && (i == 0 || seq[i - 1] == nl)) sec = par = i;
            ps[i] = par;
            ss[i] = sec;
            if (seq[i] == nl) par = i + 1;
        }
        if (cope_trace_run(m, tr, seq, T, &err)) die_err("locality", &err);
        for (int i = 0; i < T; i++) {
            int use_p = ps[i] > 0, use_s = ss[i] > 0;
            if (use_p) {
                if (nq_par == nq_cap) {
                    q_i = xrealloc(q_i, (size_t)(nq_cap *= 2) * sizeof(int));
                    q_len = xrealloc(q_len, (size_t)nq_cap * sizeof(int));
                }
                q_i[nq_par] = i, q_len[nq_par] = i - ps[i] + 1;
                for (int d = 0; d <= i; d++) wcnt[d] += 1.0;
            }
            nq_par += use_p;
            nq_sec += use_s;
            for (int l = 0; l < L; l++)
                for (int h = 0; h < H; h++) {
                    const float *row = cope_trace_get(tr, COPE_TRACE_POS_ATTN, l) + ((size_t)h * T + i) * T;
                    double tot = 0.0, in_p = 0.0, in_s = 0.0, dist = 0.0;
                    for (int j = 0; j <= i; j++) {
                        tot += row[j];
                        dist += row[j] * (double)(i - j);
                        if (j >= ps[i]) in_p += row[j];
                        if (j >= ss[i]) in_s += row[j];
                    }
                    double *A = acc + ((size_t)l * H + h) * 6;
                    if (use_p) {
                        double *W = wsum + ((size_t)l * H + h) * max_len;
                        for (int j = 0; j <= i; j++) W[i - j] += row[j] / tot;
                        A[0] += in_p / tot;
                        A[1] += (double)(i - ps[i] + 1) / (i + 1);
                        A[4] += dist / tot;
                        A[5] += i - ps[i] + 1;
                    }
                    if (use_s) {
                        A[2] += in_s / tot;
                        A[3] += (double)(i - ss[i] + 1) / (i + 1);
                    }
                }
        }
    }
    cope_trace_free(tr);
    locality *out = xmalloc((size_t)L * H * sizeof *out);
    double *cum = xmalloc((size_t)(max_len + 1) * sizeof(double));
    for (int k = 0; k < L * H; k++) {
        const double *A = acc + (size_t)k * 6, *W = wsum + (size_t)k * max_len;
        double np = nq_par ? (double)nq_par : 1.0, ns = nq_sec ? (double)nq_sec : 1.0, ctl = 0.0;
        cum[0] = 0.0; /* cum[d + 1] = w(0) + ... + w(d) */
        for (int d = 0; d < max_len; d++) cum[d + 1] = cum[d] + (wcnt[d] > 0 ? W[d] / wcnt[d] : 0.0);
        for (long q = 0; q < nq_par; q++) ctl += cum[q_i[q] + 1] > 0 ? cum[q_len[q]] / cum[q_i[q] + 1] : 0.0;
        out[k] = (locality){A[0] / np, A[1] / np, A[2] / ns, A[3] / ns, A[4] / np, A[5] / np, ctl / np};
    }
    free(cum);
    free(wsum);
    free(wcnt);
    free(q_i);
    free(q_len);
    free(acc);
    free(seq);
    free(ps);
    free(ss);
    *used = e;
    return out;
}

static int cmd_locality(args *a) {
    cope_model *m;
    const char *corpus;
    const cope_task *task = model_and_task(a, &m, NULL, &corpus);
    const char *split = opt(a, "--split", 1);
    if (!split) split = "train";
    int n = (int)opt_int(a, "--n", task ? 16 : INT_MAX, 1, INT_MAX);
    uint64_t seed = (uint64_t)opt_int(a, "--seed", 777, 0, LONG_MAX);
    int json = opt(a, "--json", 0) != NULL;
    set_threads(a);
    no_leftovers(a);
    if (task) check_split(task, split);
    const cope_config *c = cope_model_config(m);
    source src = task ? task_source(task, split, seed) : corpus_source(corpus, cope_model_tokenizer(m));
    const char *why = NULL;
    int used;
    locality *loc = measure_locality(m, &src, n, &used, &why);
    if (!loc) die(1, "%s", why);
    if (!used) die(1, "%s has no document of %d tokens (the model's context + 1)", corpus, c->n_ctx + 1);
    char what[300];
    if (task)
        snprintf(what, sizeof what, "%s/%s, %d documents", cope_task_name(task), split, used);
    else
        snprintf(what, sizeof what, "%.200s, %d windows of %d tokens", corpus, used, c->n_ctx);
    if (json) {
        printf("{\"source\": ");
        put_piece_str(stdout, what);
        printf(", \"n\": %d, \"heads\": [", used);
    } else
        printf("layer head  paragraph share (uniform) by distance  section share (uniform)  mean distance (paragraph "
               "so far)   [%s]\n",
               what);
    for (int l = 0; l < c->n_layer; l++)
        for (int h = 0; h < c->n_head; h++) {
            const locality *x = loc + l * c->n_head + h;
            if (json)
                printf("%s{\"layer\": %d, \"head\": %d, \"paragraph\": %.4f, \"paragraph_uniform\": %.4f, "
                       "\"paragraph_by_distance\": %.4f, \"section\": %.4f, \"section_uniform\": %.4f, \"distance\": "
                       "%.2f, \"paragraph_so_far\": %.2f}",
                       l + h ? ", " : "", l, h, x->par, x->par_uniform, x->par_dist, x->sec, x->sec_uniform, x->dist,
                       x->par_len);
            else
                printf("%5d %4d  %15.3f (%.3f) %11.3f  %13.3f (%.3f)  %13.1f (%.1f)\n", l, h, x->par, x->par_uniform,
                       x->par_dist, x->sec, x->sec_uniform, x->dist, x->par_len);
        }
    if (json) printf("]}\n");
    free(loc);
    free(src.tokens);
    cope_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * heads: the heads worth looking at, by a stated measure, for the page to open on.
 * - counting tasks, CoPE models: the counting head. Seen from the query that answers (the token
 *   after "print v"), p_ij at the queried variable's last set "v = 0 ;" (its "v") counts the
 *   gates between them; a head counts the queried variable's increments when that p follows the
 *   answer. Measure: the Pearson correlation of p with the answer over n programs.
 * - tasks with paragraphs (text, topics): the most paragraph-local head, by locality's paragraph
 *   share (on the train split).
 * With --write, the result is stored in the model's provenance as "heads" (replacing an earlier
 * one): [{"layer", "head", "measure", "value", "baseline", "why"}]. */
static double counting_corr(cope_model *m, const cope_task *task, int n, uint64_t seed, double *corr) {
    const cope_config *c = cope_model_config(m);
    const cope_tokenizer *tk = cope_model_tokenizer(m);
    int max_len = cope_task_max_len(task, "train"), L = c->n_layer, H = c->n_head;
    int print = cope_tokenizer_id(tk, "print"), eq = cope_tokenizer_id(tk, "=");
    double *S = xcalloc((size_t)L * H * 5, sizeof(double)); /* sum p, p^2, p*ans; ans, ans^2 */
    int *seq = xmalloc((size_t)max_len * sizeof(int));
    cope_rng rng;
    cope_rng_seed(&rng, seed);
    cope_error err;
    for (int e = 0; e < n; e++) {
        int T;
        if (cope_task_example(task, "train", &rng, tk, seq, NULL, max_len, &T, &err)) die_err("heads", &err);
        /* ... print v ANSWER: the model reads up to v (query i = T - 2) */
        if (T < 4 || seq[T - 3] != print)
            die(1, "heads: a %s example does not end in \"print v N\"", cope_task_name(task));
        int i = T - 2, v = seq[i], set = -1, ans = atoi(cope_tokenizer_piece(tk, seq[T - 1]));
        for (int k = 0; k + 1 < i; k++)
            if (seq[k] == v && seq[k + 1] == eq) set = k;
        if (set < 0) die(1, "heads: a %s example has no set of the printed variable", cope_task_name(task));
        cope_trace *tr;
        if (cope_trace_new(&tr, m, i + 1, &err) || cope_trace_run(m, tr, seq, i + 1, &err)) die_err("heads", &err);
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) {
                double p = cope_trace_get(tr, COPE_TRACE_POSITIONS, l)[((size_t)h * (i + 1) + i) * (i + 1) + set];
                double *A = S + ((size_t)l * H + h) * 5;
                A[0] += p, A[1] += p * p, A[2] += p * ans, A[3] += ans, A[4] += (double)ans * ans;
            }
        cope_trace_free(tr);
    }
    for (int k = 0; k < L * H; k++) {
        const double *A = S + (size_t)k * 5;
        double vp = A[1] / n - (A[0] / n) * (A[0] / n), va = A[4] / n - (A[3] / n) * (A[3] / n);
        double cov = A[2] / n - (A[0] / n) * (A[3] / n);
        corr[k] = vp > 1e-12 && va > 1e-12 ? cov / sqrt(vp * va) : 0.0;
    }
    free(S);
    free(seq);
    return 0;
}

static int cmd_heads(args *a) {
    const char *path, *corpus;
    cope_model *m;
    const cope_task *task = model_and_task(a, &m, &path, &corpus);
    int n = (int)opt_int(a, "--n", 200, 10, 100000);
    uint64_t seed = (uint64_t)opt_int(a, "--seed", 31337, 0, LONG_MAX);
    int write = opt(a, "--write", 0) != NULL;
    set_threads(a);
    no_leftovers(a);
    const cope_config *c = cope_model_config(m);
    int L = c->n_layer, H = c->n_head, best = -1;
    cope_buf out = {0};
    const char *why = NULL;
    if (task && strncmp(cope_task_name(task), "counting", 8) == 0) {
        if (c->pe != COPE_PE_COPE && c->pe != COPE_PE_COPE_REL && c->pe != COPE_PE_COPE_ROPE)
            die(1, "heads: the counting measure reads CoPE positions; %s has none", cope_pe_name(c->pe));
        double *corr = xmalloc((size_t)L * H * sizeof(double));
        counting_corr(m, task, n, seed, corr);
        for (int k = 0; k < L * H; k++) best = best < 0 || corr[k] > corr[best] ? k : best;
        buf_printf(&out,
                   "[{\"layer\": %d, \"head\": %d, \"measure\": \"counting\", \"value\": %.3f, \"baseline\": 0, "
                   "\"why\": \"seen from the answer, its position of the printed variable's last set follows the "
                   "answer: correlation %.2f over %d programs (the best of %d heads)\"}]",
                   best / H, best % H, corr[best], corr[best], n, L * H);
        free(corr);
    } else {
        source src = task ? task_source(task, "train", seed) : corpus_source(corpus, cope_model_tokenizer(m));
        int used;
        locality *loc = measure_locality(m, &src, task ? n : INT_MAX, &used, &why);
        if (!loc) die(1, "heads: %s has no measure (%s)", task ? cope_task_name(task) : corpus, why);
        if (!used) die(1, "heads: %s has no document of %d tokens", corpus, c->n_ctx + 1);
        free(src.tokens);
        for (int k = 0; k < L * H; k++) best = best < 0 || loc[k].par > loc[best].par ? k : best;
        buf_printf(&out,
                   "[{\"layer\": %d, \"head\": %d, \"measure\": \"paragraph\", \"value\": %.3f, \"baseline\": %.3f, "
                   "\"why\": \"the most paragraph-local head: %.2f of its position-only attention inside the "
                   "current paragraph, against %.2f for a head without position preference (%d %s)\"}]",
                   best / H, best % H, loc[best].par, loc[best].par_uniform, loc[best].par, loc[best].par_uniform, used,
                   task ? "documents" : "held-out windows");
        free(loc);
    }
    if (out.oom) die(1, "out of memory");
    printf("%s\n", out.data);
    if (write) {
        cope_buf prov = {0};
        const char *old = cope_model_provenance(m);
        const char *cut = strstr(old, ", \"heads\": ["); /* heads, when there, are the last key */
        if (!cut) cut = strrchr(old, '}');
        if (old[0] != '{' || !cut || cut == old) die(1, "%s: the provenance is not a JSON object", path);
        int keep = (int)(cut - old);
        cope_error err;
        buf_printf(&prov, "%.*s, \"heads\": %s}", keep, old, out.data);
        if (prov.oom) die(1, "out of memory");
        if (cope_model_set_provenance(m, prov.data, &err)) die_err("heads", &err);
        /* a new file, then renamed over the model: a failed write leaves the model as it was */
        size_t plen = strlen(path) + 5;
        char *tmp = xmalloc(plen);
        snprintf(tmp, plen, "%s.tmp", path);
        save_model(m, tmp);
        if (rename(tmp, path)) die(1, "cannot replace %s: %s", path, strerror(errno));
        free(tmp);
        free(prov.data);
    }
    free(out.data);
    cope_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * bench: training throughput on the reference config (random tokens, loss on every token) */
static int cmd_bench(args *a) {
    cope_config c;
    cope_config_default(&c);
    int T = (int)opt_int(a, "--seq", 128, 1, COPE_MAX_CTX), B = (int)opt_int(a, "--batch", 32, 1, 4096);
    int steps = (int)opt_int(a, "--steps", 20, 1, 100000), warm = (int)opt_int(a, "--warmup", 3, 0, 1000);
    c.vocab_size = (int)opt_int(a, "--vocab", 64, 2, 100000);
    c.n_layer = 4; /* the reference config (bench/run.sh) */
    c.npos = 64;
    c.n_ctx = T;
    c.rel_max = T;
    config_args(a, &c);
    set_threads(a);
    no_leftovers(a);
    const char **vocab = xmalloc((size_t)c.vocab_size * sizeof(char *));
    char *store = xmalloc((size_t)c.vocab_size * 16);
    for (int i = 0; i < c.vocab_size; i++) {
        snprintf(store + 16 * i, 16, "t%d", i);
        vocab[i] = store + 16 * i;
    }
    cope_tokenizer *tok;
    cope_model *m;
    cope_workspace *ws;
    cope_optimizer *o;
    cope_error err;
    if (cope_tokenizer_new(&tok, COPE_TOK_WORDS, vocab, c.vocab_size, &err) || cope_model_new(&m, &c, tok, 1, &err) ||
        cope_workspace_new(&ws, m, B, T, &err) || cope_optimizer_new(&o, m, &err))
        die_err("bench", &err);
    size_t N = (size_t)B * T;
    int *ids = xmalloc(N * sizeof(int)), *tg = xmalloc(N * sizeof(int));
    float *g = xmalloc(cope_model_num_params(m) * sizeof(float));
    cope_rng rng;
    cope_rng_seed(&rng, 7);
    for (size_t i = 0; i < N; i++) {
        ids[i] = cope_rng_int(&rng, c.vocab_size);
        tg[i] = cope_rng_int(&rng, c.vocab_size);
    }
    cope_adamw h;
    cope_adamw_default(&h);
    double *times = xmalloc((size_t)steps * sizeof(double));
    float loss;
    for (int s = 0; s < warm + steps; s++) {
        double t0 = now_seconds();
        if (cope_forward(m, ws, ids, tg, NULL, B, T, &loss, &err) || cope_backward(m, ws, g, &err) ||
            cope_optimizer_step(o, m, g, &h, NULL, &err))
            die_err("bench", &err);
        if (s >= warm) times[s - warm] = now_seconds() - t0;
    }
    for (int i = 1; i < steps; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double t = times[j];
            times[j] = times[j - 1];
            times[j - 1] = t;
        }
    double med = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    /* model FLOPs per training token: 6 x matmul MACs... counted as 2 flops per MAC, x3 for fwd+bwd */
    double D = c.d_model, F = c.d_ff, V = c.vocab_size, d = D / c.n_head, np = cope_pe_has_cope(c.pe) ? c.npos : 0;
    double attn_pairs = (T + 1) / 2.0; /* average keys per query */
    double macs = c.n_layer * (4 * D * D + 2 * D * F + c.n_head * (attn_pairs * 2 * d + np * d)) + V * D;
    double flops_tok = 6.0 * macs;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("cope pe=%s threads=%d tokens/s=%.0f step_ms=%.2f gflops=%.2f (median of %d steps, B=%d T=%d L=%d D=%d H=%d "
           "F=%d npos=%d)\n",
           cope_pe_name(c.pe), threads, N / med, med * 1e3, flops_tok * N / med * 1e-9, steps, B, T, c.n_layer,
           c.d_model, c.n_head, c.d_ff, c.npos);
    free(times);
    free(ids);
    free(tg);
    free(g);
    free(vocab);
    free(store);
    cope_optimizer_free(o);
    cope_workspace_free(ws);
    cope_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * main */
static void usage(FILE *f) {
    fprintf(
        f,
        "usage: cope COMMAND [options]\n"
        "  info MODEL [--json]                 config, parameter count, tokenizer, provenance (--json: and tensors)\n"
        "  train --out MODEL [--task toy] [--pe cope] [--layers 2 --dim 64 --heads 4 --ff 256]\n"
        "        [--ctx N --npos 16 --sep-keys --per-head --rel-max 64 --untied]\n"
        "        [--steps 1000 --batch 32 --lr 1e-3 --warmup N --wd 0 --clip 1 --seed 1 --threads N --eval-n 1000]\n"
        "        [--checkpoint-every N]   save to MODEL every N steps; on a non-finite loss it keeps the last\n"
        "        [--train-set N]          draw from a fixed set of N examples, reshuffled each epoch (default: fresh)\n"
        "        [--bucket K]             draw K batches at once, cut into batches of similar lengths (less padding)\n"
        "        [--log FILE]             the loss curve: step, loss, loss_avg, grad_norm, lr, tokens (tab-separated)\n"
        "        [--corpus FILE --valid FILE --vocab 4096 --min-count 2]   instead of --task: a language model of\n"
        "                                 a text file (\"text\" tokenizer, its most frequent pieces; random\n"
        "                                 windows of --ctx, default 256); perplexity on every window of --valid\n"
        "  eval MODEL [--task T] [--split S] [--n 1000] [--seed S] [--examples FILE.jsonl]   error; with\n"
        "        --examples, each example, its targets and the model's predictions, one JSON line each\n"
        "  eval MODEL --corpus FILE            every window of the context: next-token error, perplexity\n"
        "  trace MODEL (--text \"...\" | --ids 1,2,3) (--json | --out FILE.safetensors)\n"
        "        [--force-gate L:H:K=V,...]   intervene: gate of key K in layer L, head H (* = all) set to V\n"
        "                                     for every query; positions, attention and logits follow\n"
        "  grad MODEL (--text \"...\" | --ids 1,2,3) --targets 2,3,4 [--mask 0,1,1] --out FILE.safetensors\n"
        "  sample --task T [--split S] [--seed S] [--n 1]\n"
        "  locality MODEL [--task text] [--split S] [--n 16] [--json]   Figure 4: position-only attention\n"
        "        inside the current paragraph / section, per head; --corpus FILE: on windows of the context\n"
        "        inside its documents (all of them, or --n)\n"
        "  heads MODEL [--n 200] [--corpus FILE] [--write]   the head worth looking at, by a stated measure\n"
        "        (counting: the CoPE head whose position of the printed variable's last set follows the answer;\n"
        "        text, topics, a corpus: the most paragraph-local head); --write stores it in the provenance\n"
        "  bench [--pe cope] [--threads N] [--layers 4 --dim 64 --heads 4 --seq 128 --batch 32 --npos 64]\n"
        "        [--rel-max SEQ --ff --sep-keys --per-head --untied as in train]\n");
}

int main(int argc, char **argv) {
    if (argc < 2) die(2, "missing COMMAND (see cope --help)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    args a = {argc - 2, argv + 2, xcalloc((size_t)argc, 1)};
    const char *cmd = argv[1];
    int rc;
    if (strcmp(cmd, "info") == 0)
        rc = cmd_info(&a);
    else if (strcmp(cmd, "train") == 0)
        rc = cmd_train(&a);
    else if (strcmp(cmd, "eval") == 0)
        rc = cmd_eval(&a);
    else if (strcmp(cmd, "trace") == 0)
        rc = cmd_trace(&a);
    else if (strcmp(cmd, "grad") == 0)
        rc = cmd_grad(&a);
    else if (strcmp(cmd, "sample") == 0)
        rc = cmd_sample(&a);
    else if (strcmp(cmd, "bench") == 0)
        rc = cmd_bench(&a);
    else if (strcmp(cmd, "locality") == 0)
        rc = cmd_locality(&a);
    else if (strcmp(cmd, "heads") == 0)
        rc = cmd_heads(&a);
    else
        die(2, "unknown command \"%s\" (see cope --help)", cmd);
    free(a.used);
    return rc;
}
