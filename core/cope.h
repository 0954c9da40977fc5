/* cope.h — public API of the CoPE core: a small decoder-only transformer with Contextual
 * Position Encoding (arXiv 2405.18719) and the baseline encodings (abs, rel, RoPE).
 * The core is a library: no I/O, no exit, no global mutable state. Every fallible call returns a
 * cope_status and, when given a cope_error, a message naming the offending field or tensor. */
#ifndef COPE_H
#define COPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes */
typedef enum {
    COPE_OK = 0,
    COPE_ERR_NOMEM,     /* allocation failed */
    COPE_ERR_ARG,       /* bad argument to an API call */
    COPE_ERR_CONFIG,    /* config value out of range or inconsistent */
    COPE_ERR_JSON,      /* JSON syntax error (header, config or tokenizer) */
    COPE_ERR_HEADER,    /* safetensors header length or structure */
    COPE_ERR_TRUNCATED, /* the buffer ends before the data it announces */
    COPE_ERR_DTYPE,     /* tensor dtype is not F32 (or I32 where allowed) */
    COPE_ERR_SHAPE,     /* tensor shape does not match the config */
    COPE_ERR_OFFSETS,   /* data offsets outside the data section or inconsistent */
    COPE_ERR_OVERLAP,   /* two tensors share bytes */
    COPE_ERR_MISSING,   /* a required tensor or config key is missing */
    COPE_ERR_UNKNOWN,   /* a tensor or config key that this format does not have */
    COPE_ERR_NONFINITE, /* NaN or Inf in a weight */
    COPE_ERR_TOKEN,     /* token id out of range / text has no tokens */
    COPE_ERR_CONTEXT,   /* sequence longer than the model's context */
    COPE_ERR_LIMIT,     /* a size beyond the core's limits */
    COPE_ERR_NAN_LOSS,  /* training produced a non-finite loss */
    COPE_STATUS_COUNT
} cope_status;

typedef struct {
    cope_status code;
    char msg[256];
} cope_error;

const char *cope_strerror(cope_status s);    /* in words: "bad argument" */
const char *cope_status_name(cope_status s); /* short name: "arg"; NULL out of range */
/* Sets *err (when err is non-NULL) to code and the printf-formatted message; returns code. The
 * one way errors are reported, in the core and in the programs that wrap it (CLI, wasm shim). */
cope_status cope_fail(cope_error *err, cope_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---------------------------------------------------------------------------------------------
 * Configuration */
typedef enum {
    COPE_PE_NONE = 0,
    COPE_PE_ABS,
    COPE_PE_REL,
    COPE_PE_ROPE,
    COPE_PE_COPE,
    COPE_PE_COPE_REL,
    COPE_PE_COPE_ROPE,
    COPE_PE_COUNT
} cope_pe;

typedef struct {
    int vocab_size; /* V */
    int n_ctx;      /* maximum sequence length T */
    int n_layer;    /* L */
    int n_head;     /* H */
    int d_model;    /* D; head dim d = D / H */
    int d_ff;       /* F */
    cope_pe pe;
    int npos;           /* CoPE: positions clamp at npos - 1 */
    int sep_keys;       /* CoPE: 1 = gates from a separate key projection kg ("sep-keys") */
    int per_head_table; /* CoPE: 1 = table [H, d, npos]; 0 = one table [1, d, npos] per layer */
    int rel_max;        /* rel: R, distances >= R-1 use the last entry */
    int tied;           /* 1 = output projection is tok_emb^T */
} cope_config;

/* Limits (the loader rejects anything larger before allocating). */
#define COPE_MAX_VOCAB       (1 << 20)
#define COPE_MAX_CTX         8192
#define COPE_MAX_LAYER       64
#define COPE_MAX_HEAD        64
#define COPE_MAX_DIM         8192
#define COPE_MAX_NPOS        8192
#define COPE_MAX_TOKEN_BYTES 256

void cope_config_default(cope_config *c);
cope_status cope_config_validate(const cope_config *c, cope_error *err);
const char *cope_pe_name(cope_pe pe);
/* Every pe name, ", "-separated, for messages: writes at most cap bytes (NUL-terminated) into buf
 * and returns buf. COPE_PE_LIST_LEN bytes always suffice. */
#define COPE_PE_LIST_LEN 64
const char *cope_pe_list(char *buf, size_t cap);
cope_status cope_pe_parse(const char *name, cope_pe *out);
int cope_pe_has_cope(cope_pe pe);
int cope_pe_has_rel(cope_pe pe);
int cope_pe_has_rope(cope_pe pe);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer: "words" (lower-case ASCII, split on whitespace; a newline is itself a token when the
 * vocabulary has the piece "\n"), "text" (lower-case ASCII; a word is a run of letters, digits,
 * "_" and non-ASCII bytes; every other non-space character is a token of its own; a line break,
 * with any blank lines after it, is one "\n" token when the vocabulary has "\n") or "chars" (one
 * UTF-8 code point a token). Unknown pieces map to the id of "<unk>" when the vocabulary has one. */
typedef enum { COPE_TOK_WORDS = 0, COPE_TOK_CHARS = 1, COPE_TOK_TEXT = 2 } cope_tok_type;

typedef struct cope_tokenizer cope_tokenizer;
const char *cope_tok_type_name(cope_tok_type type); /* "words", "chars", "text" */

cope_status cope_tokenizer_new(cope_tokenizer **out, cope_tok_type type, const char *const *vocab, int n,
                               cope_error *err);
void cope_tokenizer_free(cope_tokenizer *t);
int cope_tokenizer_size(const cope_tokenizer *t);
cope_tok_type cope_tokenizer_type(const cope_tokenizer *t);
const char *cope_tokenizer_piece(const cope_tokenizer *t, int id); /* NULL if out of range */
int cope_tokenizer_unk(const cope_tokenizer *t);                   /* -1 if no "<unk>" */
int cope_tokenizer_id(const cope_tokenizer *t, const char *piece); /* -1 if absent */
/* A tokenizer of type "words" or "text" whose vocabulary is "<unk>", "<pad>", "\n", then the
 * pieces of text (lower-cased) that occur at least min_count times, most frequent first (ties in
 * byte order), max_vocab entries at most. */
cope_status cope_tokenizer_from_text(cope_tokenizer **out, cope_tok_type type, const char *text, size_t len,
                                     int max_vocab, int min_count, cope_error *err);
/* Tokenizes text (len bytes). Writes up to max_ids ids; *n_out is the total number of tokens found
 * (may exceed max_ids: then only the first max_ids were written). If spans is non-NULL it receives
 * 2 ints per written token: byte offset and byte length in text. *n_unk counts unknown pieces. */
cope_status cope_tokenize(const cope_tokenizer *t, const char *text, size_t len, int *ids, int *spans, int max_ids,
                          int *n_out, int *n_unk, cope_error *err);

/* ---------------------------------------------------------------------------------------------
 * safetensors container (any tensors; F32 and I32). Reading validates the header length, the JSON,
 * dtypes, offsets inside the data section and overlap; tensors point into the caller's buffer. */
#define COPE_ST_MAX_DIMS 4
enum { COPE_ST_F32 = 0, COPE_ST_I32 = 1 };

typedef struct {
    const char *name;
    int dtype; /* COPE_ST_F32 or COPE_ST_I32 */
    int ndim;
    int64_t shape[COPE_ST_MAX_DIMS];
    size_t numel, nbytes;
    const void *data; /* little-endian, possibly unaligned */
} cope_st_tensor;

typedef struct cope_st_file cope_st_file;
cope_status cope_st_open(cope_st_file **out, const void *buf, size_t len, cope_error *err);
void cope_st_close(cope_st_file *f);
int cope_st_count(const cope_st_file *f);
const cope_st_tensor *cope_st_get(const cope_st_file *f, int i);
int cope_st_find(const cope_st_file *f, const char *name); /* index or -1 */
/* __metadata__ string value (decoded, NUL-terminated) or NULL. */
const char *cope_st_metadata(const cope_st_file *f, const char *key, size_t *len);
/* Writes tensors in order (contiguous data, header padded to 8 bytes) into a malloc'd buffer
 * (free with cope_free). meta_key/meta_value: one __metadata__ entry, or NULL. */
cope_status cope_st_write(const cope_st_tensor *ts, int n, const char *meta_key, const char *meta_value, void **out,
                          size_t *len, cope_error *err);

/* ---------------------------------------------------------------------------------------------
 * Model */
typedef struct cope_model cope_model;

typedef struct {
    const char *name; /* e.g. "blocks.0.attn.q.weight" */
    int ndim;
    int shape[3];
    size_t offset; /* in floats, into the parameter (or gradient) buffer */
    size_t numel;
} cope_tensor_info;

/* Random (seeded, deterministic) initialization. Takes ownership of tok (which must have
 * cfg->vocab_size entries); on failure tok is freed. */
cope_status cope_model_new(cope_model **out, const cope_config *cfg, cope_tokenizer *tok, uint64_t seed,
                           cope_error *err);
/* Loads a safetensors model from memory; validates everything. The buffer is not retained. */
cope_status cope_model_load(cope_model **out, const void *buf, size_t len, cope_error *err);
/* The model's cope_config as the file stores it (a JSON object with the tokenizer and provenance),
 * NUL-terminated, into a malloc'd string (free with cope_free). */
cope_status cope_model_config_json(const cope_model *m, char **out, cope_error *err);
/* Writes the model as safetensors into a malloc'd buffer (free with cope_free). */
cope_status cope_model_save(const cope_model *m, void **buf, size_t *len, cope_error *err);
void cope_model_free(cope_model *m);
void cope_free(void *p);

const cope_config *cope_model_config(const cope_model *m);
const cope_tokenizer *cope_model_tokenizer(const cope_model *m);
size_t cope_model_num_params(const cope_model *m);
float *cope_model_params(cope_model *m);
int cope_model_num_tensors(const cope_model *m);
const cope_tensor_info *cope_model_tensor(const cope_model *m, int i);
int cope_model_find_tensor(const cope_model *m, const char *name); /* index or -1 */
/* Provenance: a JSON object kept verbatim in the file's cope_config. */
const char *cope_model_provenance(const cope_model *m); /* "{}" when none */
cope_status cope_model_set_provenance(cope_model *m, const char *json_object, cope_error *err);

/* ---------------------------------------------------------------------------------------------
 * Training forward/backward over a batch of B sequences of length T */
typedef struct cope_workspace cope_workspace;

cope_status cope_workspace_new(cope_workspace **out, const cope_model *m, int B, int T, cope_error *err);
void cope_workspace_free(cope_workspace *ws);

/* ids, targets: [B, T]; mask: [B, T] of 0/1 or NULL (all tokens count); targets may be NULL
 * (no loss). Loss = sum(mask * CE) / sum(mask). Writes *loss (NaN when there is no target).
 * Any B x T up to the workspace's size is accepted (batches of varying length). */
cope_status cope_forward(cope_model *m, cope_workspace *ws, const int *ids, const int *targets, const float *mask,
                         int B, int T, float *loss, cope_error *err);
/* Gradient of the last forward's loss w.r.t. every parameter, written (not accumulated) into
 * grads [cope_model_num_params]. The forward must have had targets. */
cope_status cope_backward(cope_model *m, cope_workspace *ws, float *grads, cope_error *err);
/* Logits of the last forward: [B, T, V]. */
const float *cope_workspace_logits(const cope_workspace *ws);

/* AdamW with gradient-norm clipping. */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay, clip; /* clip <= 0: no clipping */
} cope_adamw;
void cope_adamw_default(cope_adamw *o);
typedef struct cope_optimizer cope_optimizer;
cope_status cope_optimizer_new(cope_optimizer **out, const cope_model *m, cope_error *err);
void cope_optimizer_free(cope_optimizer *o);
/* Clips grads in place to the global norm opt->clip, then applies one AdamW step.
 * Returns the pre-clip norm in *grad_norm. Weight decay applies to matrices only. */
cope_status cope_optimizer_step(cope_optimizer *o, cope_model *m, float *grads, const cope_adamw *opt, float *grad_norm,
                                cope_error *err);

/* ---------------------------------------------------------------------------------------------
 * Trace of one sequence: everything the visualizer shows. The arrays, per layer and head, have
 * one row per query i and one column per key j; entries with j > i are 0. This enum is the one
 * list of them: the trace, the decoding rows, the CLI, the wasm module and the page all
 * enumerate it and take the names from cope_trace_name. */
typedef enum {
    COPE_TRACE_GATES = 0,      /* "gates"           g_ij (0 without CoPE) */
    COPE_TRACE_POSITIONS,      /* "positions"       p_ij (0 without CoPE) */
    COPE_TRACE_CONTENT_LOGITS, /* "content_logits"  q_i.k_j / sqrt(d) (after RoPE) */
    COPE_TRACE_COPE_LOGITS,    /* "cope_logits"     c_ij (0 without CoPE) */
    COPE_TRACE_ATTN,           /* "attn"            softmax probabilities */
    COPE_TRACE_POS_ATTN,       /* "pos_attn"        exp(P_ij - max_j' P_ij'), P = CoPE + rel terms */
    COPE_TRACE_COUNT
} cope_trace_array;

const char *cope_trace_name(cope_trace_array which); /* NULL out of range */
cope_status cope_trace_parse(const char *name, cope_trace_array *out);

typedef struct {
    int T, n_layer, n_head, vocab_size; /* T: the last run's length */
    int cap;                            /* the longest run it has room for */
    float *logits;                      /* [T, V] */
    float *arrays[COPE_TRACE_COUNT];    /* each [L, H, T, T]; read with cope_trace_get */
    struct cope_workspace *ws;          /* internal */
    float *memory;                      /* internal: logits and arrays in one allocation */
    struct cope_gate_force *forces;     /* internal: the gate interventions (cope_trace_force_gates) */
    int n_forces;
    float *force_rows; /* internal: [L, H, cap] the forced value of each key's gate, NaN where none */
} cope_trace;

/* A trace with room for runs of up to cap tokens (its buffers are reused by every run). */
cope_status cope_trace_new(cope_trace **out, const cope_model *m, int cap, cope_error *err);
/* The bytes cope_trace_new(m, cap) allocates: the arrays (6 x L x H x cap^2 floats), the logits
 * and a forward's workspace. A host with a memory budget checks it first (the wasm module does). */
double cope_trace_bytes(const cope_model *m, int cap);
void cope_trace_free(cope_trace *tr);
/* Full forward of ids[0..T), 1 <= T <= tr->cap, filling tr (tr->T = T). */
cope_status cope_trace_run(cope_model *m, cope_trace *tr, const int *ids, int T, cope_error *err);
/* Gate interventions ("what if this token did not count?"): the gate g_ij of layer `layer`,
 * head `head` (-1: every head of the layer) at key `key` is set to `value` for every query i >= key,
 * before the positions are summed, so positions, attention, later layers and the logits follow.
 * A later override of the same (layer, head, key) wins. */
typedef struct cope_gate_force {
    int layer, head, key;
    float value; /* in [0, 1] */
} cope_gate_force;
/* Sets the interventions every later cope_trace_run of tr applies (copied; n = 0 clears them).
 * Checked against m (cope_gate_forces_check with max_key = n_ctx); a run whose input is not longer
 * than a forced key fails with COPE_ERR_ARG naming it. */
cope_status cope_trace_force_gates(cope_trace *tr, const cope_model *m, const cope_gate_force *f, int n,
                                   cope_error *err);
/* The overrides' ranges against m: a CoPE encoding, layer and head in range, 0 <= key < max_key,
 * a value in [0, 1]; the first bad one named. */
cope_status cope_gate_forces_check(const cope_model *m, const cope_gate_force *f, int n, int max_key, cope_error *err);
/* Reads a list of interventions written "LAYER:HEAD:KEY=VALUE" separated by commas, HEAD "*" for
 * every head (e.g. "0:1:12=0,1:*:5=1"), into out[0..cap); *n = the count. Syntax only (ranges are
 * cope_trace_force_gates's); a bad item fails with COPE_ERR_ARG naming it. */
cope_status cope_gate_forces_parse(const char *text, cope_gate_force *out, int cap, int *n, cope_error *err);
/* Layer l's [H, T, T] array `which`; NULL when which or l is out of range. */
float *cope_trace_get(const cope_trace *tr, cope_trace_array which, int l);

/* ---------------------------------------------------------------------------------------------
 * Incremental decoding with a KV cache: each step appends one token and computes only the new
 * query's row in each head. The logits equal the full forward's row. */
typedef struct cope_state cope_state;

cope_status cope_state_new(cope_state **out, const cope_model *m, cope_error *err);
void cope_state_free(cope_state *s);
void cope_state_reset(cope_state *s);
int cope_state_length(const cope_state *s);
/* Appends token id; writes logits [V] (may be NULL). The new query's rows are then read with
 * cope_step_row. */
cope_status cope_step(cope_model *m, cope_state *s, int id, float *logits, cope_error *err);
/* The last step's row `which` of layer l, head h (length cope_state_length); NULL when out of
 * range. */
const float *cope_step_row(const cope_state *s, int l, int h, cope_trace_array which);

/* ---------------------------------------------------------------------------------------------
 * Seeded random numbers (xorshift64*), used by init and the task generators. */
typedef struct {
    uint64_t s;
} cope_rng;
void cope_rng_seed(cope_rng *r, uint64_t seed);
uint32_t cope_rng_u32(cope_rng *r);
float cope_rng_uniform(cope_rng *r); /* [0, 1) */
float cope_rng_normal(cope_rng *r);
int cope_rng_int(cope_rng *r, int n); /* [0, n) */

/* ---------------------------------------------------------------------------------------------
 * Tasks: seeded example generators (core/tasks.c). An example is a token sequence seq[0..n) and
 * flags loss_on[0..n): the model reads seq and is scored on predicting seq[t] where loss_on[t].
 * Splits: "train" (in-distribution) and task-specific out-of-distribution splits. */
typedef struct cope_task cope_task;

int cope_task_count(void);
const cope_task *cope_task_get(int i);
const cope_task *cope_task_find(const char *name); /* NULL if unknown */
const char *cope_task_name(const cope_task *t);
const char *cope_task_description(const cope_task *t);
/* The task's tokenizer: type and vocabulary (index 0 is "<unk>", 1 is "<pad>"). */
cope_tok_type cope_task_tok_type(const cope_task *t);
int cope_task_vocab(const cope_task *t, const char *const **vocab);
/* Splits are numbered 0..cope_task_split_count - 1; split 0 is "train". */
int cope_task_split_count(const cope_task *t);
const char *cope_task_split_name(const cope_task *t, int i); /* NULL if out of range */
/* COPE_OK if the task has the split, else COPE_ERR_ARG with the message
 * 'task T has no split "S" (splits: a, b, c)'. */
cope_status cope_task_split_check(const cope_task *t, const char *split, cope_error *err);
int cope_task_max_len(const cope_task *t, const char *split); /* 0 if the split is unknown */
/* One example in the ids of tok (which must contain the task's vocabulary). */
cope_status cope_task_example(const cope_task *t, const char *split, cope_rng *rng, const cope_tokenizer *tok, int *seq,
                              unsigned char *loss_on, int max_len, int *n, cope_error *err);
/* B examples as a training batch: ids [B,T], targets [B,T] (next token), mask [B,T] with
 * T = *t_used = the longest example's length - 1 (<= t_max, the arrays' row length); shorter
 * examples are padded with "<pad>" and mask 0. Needs t_max >= cope_task_max_len - 1. */
cope_status cope_task_batch(const cope_task *t, const char *split, cope_rng *rng, const cope_tokenizer *tok, int B,
                            int t_max, int *ids, int *targets, float *mask, int *t_used, cope_error *err);
/* The same from a fixed set of examples (the paper trains 100 epochs over 10k programs): row b is
 * example idx[b] of the set named by set_seed. Example k is drawn by its own generator, seeded by
 * (set_seed, k), so a set of any size takes no memory and replays exactly, natively and in wasm. */
cope_status cope_task_batch_set(const cope_task *t, const char *split, uint64_t set_seed, const long *idx,
                                const cope_tokenizer *tok, int B, int t_max, int *ids, int *targets, float *mask,
                                int *t_used, cope_error *err);

/* Language-model batches from a tokenized corpus tokens[0..n): B windows of T + 1 tokens at
 * uniform random starts; ids [B,T] are a window's first T tokens, targets [B,T] its last T, mask
 * [B,T] all 1. Needs n > T. */
cope_status cope_corpus_batch(const int *tokens, long n, cope_rng *rng, int B, int T, int *ids, int *targets,
                              float *mask, cope_error *err);

/* ---------------------------------------------------------------------------------------------
 * Training: the loop `cope train` runs, as an object (core/train.c). The CLI and the wasm module
 * both drive it, so the same config and options give the same model natively and in the browser
 * (up to float rounding: the kernels sum in different orders). */
typedef struct {
    int batch;                    /* B */
    long steps;                   /* the schedule: linear warmup, then cosine decay to 10% of lr at `steps` */
    long warmup;                  /* steps of warmup; -1: steps / 20 */
    float lr, weight_decay, clip; /* AdamW; clip <= 0: no gradient clipping */
    uint64_t seed;                /* initialization and data */
    long train_set;               /* 0: a fresh example every time; N: epochs over a fixed set of N (tasks) */
    int bucket;                   /* K > 1: batches of similar lengths from pools of K*B examples (tasks) */
} cope_train_opts;
void cope_train_opts_default(cope_train_opts *o); /* 32, 1000 steps, warmup -1, lr 1e-3, clip 1, seed 1 */

typedef struct {
    long step;                  /* steps done */
    float loss, loss_avg;       /* the last step's loss; its moving average (0.95) */
    float grad_norm, lr;        /* the last step's gradient norm (before clipping) and learning rate */
    double tokens, real_tokens; /* tokens processed, with and without padding */
} cope_train_stats;

typedef struct cope_trainer cope_trainer;
/* A new model (cfg; vocab_size is taken from the task) initialized from o->seed, trained on the
 * task's "train" split. cfg->n_ctx must hold the split's examples. */
cope_status cope_trainer_new(cope_trainer **out, const cope_config *cfg, const cope_task *task,
                             const cope_train_opts *o, cope_error *err);
/* The same on windows of cfg->n_ctx + 1 tokens of a tokenized corpus (tokens copied; tok owned,
 * freed on failure). */
cope_status cope_trainer_new_corpus(cope_trainer **out, const cope_config *cfg, cope_tokenizer *tok, const int *tokens,
                                    long n, const cope_train_opts *o, cope_error *err);
void cope_trainer_free(cope_trainer *t);
/* One step: a batch, forward, backward, AdamW. A non-finite loss or gradient fails with
 * COPE_ERR_NAN_LOSS and leaves the weights of the step before. Steps past o->steps keep the
 * final learning rate. */
cope_status cope_trainer_step(cope_trainer *t, cope_error *err);
cope_model *cope_trainer_model(cope_trainer *t);           /* owned by the trainer */
const cope_task *cope_trainer_task(const cope_trainer *t); /* NULL on a corpus */
const cope_train_stats *cope_trainer_stats(const cope_trainer *t);
const cope_train_opts *cope_trainer_opts(const cope_trainer *t); /* warmup resolved */
int cope_trainer_seq_len(const cope_trainer *t);                 /* the longest batch row */
/* Sets the model's provenance to what was trained (task, seed, steps done, batch, seq_len, lr,
 * warmup, weight_decay, clip, final_loss_avg, tokens, real_tokens, train_set, bucket) followed by
 * `extra`: more members of the object, e.g. "\"train_seconds\": 12.5", or NULL. */
cope_status cope_trainer_set_provenance(cope_trainer *t, const char *extra, cope_error *err);

/* Scoring: counts over the scored (mask 1) tokens and the sequences that have any wrong. */
typedef struct {
    long tokens, tokens_wrong, seqs, seqs_wrong;
    double nll; /* sum of the scored tokens' cross-entropy, nats */
} cope_score;
/* Adds rows b < n_rows of a forward's logits [B, T, V] to acc; pred [B, T] (or NULL) receives the
 * argmax of each scored token and -1 elsewhere. */
void cope_score_batch(const float *logits, const int *targets, const float *mask, int B, int T, int V, int n_rows,
                      int *pred, cope_score *acc);
void cope_score_rates(const cope_score *s, double *token_err, double *seq_err, double *loss); /* %, %, nats */
/* The model on n fresh examples of a task's split drawn from seed, in batches of B. */
cope_status cope_evaluate(cope_model *m, const cope_task *task, const char *split, uint64_t seed, long n, int B,
                          cope_score *out, cope_error *err);

#ifdef __cplusplus
}
#endif
#endif /* COPE_H */
