/* tasks.c — seeded example generators for training and evaluation. Each task writes a sequence of
 * vocabulary pieces and marks which of them the model is scored on; cope_task_batch turns examples
 * into padded next-token batches. Generators draw only from the cope_rng they are given, so a seed
 * reproduces the data on every platform (native and wasm). */
#include <string.h>

#include "json.h"

#define MAX_PIECES 4096

typedef struct {
    const char *pieces[MAX_PIECES];
    unsigned char loss_on[MAX_PIECES];
    int n;
} example;

static void emit(example *e, const char *piece, int scored) {
    if (e->n < MAX_PIECES) {
        e->pieces[e->n] = piece;
        e->loss_on[e->n] = (unsigned char)scored;
    }
    e->n++;
}

struct cope_task {
    const char *name, *description, *splits;
    cope_tok_type tok_type;
    const char *const *vocab;
    int n_vocab;
    int (*max_len)(const char *split);
    void (*generate)(example *e, const char *split, cope_rng *rng);
};

static const char *const digits[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"};

/* ---------------------------------------------------------------------------------------------
 * toy: letters a/b and sentence ends '.', then '?' and the number of 'a' since the last '.'
 * (at most 9). A small check that the training loop learns something position-like. */
static const char *const toy_vocab[] = {"<unk>", "<pad>", "a", "b", ".", "?",
                                        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static int toy_max_len(const char *split) {
    if (strcmp(split, "train") == 0) return 26;
    if (strcmp(split, "ood") == 0) return 50;
    return 0;
}

static void toy_generate(example *e, const char *split, cope_rng *rng) {
    int len = strcmp(split, "ood") == 0 ? 25 + cope_rng_int(rng, 24) : 4 + cope_rng_int(rng, 20);
    int count = 0;
    for (int i = 0; i < len; i++) {
        int r = cope_rng_int(rng, 6);
        const char *p = r < 2 ? "a" : r < 5 ? "b" : ".";
        if (*p == 'a') count++;
        if (*p == '.') count = 0;
        emit(e, p, 0);
    }
    emit(e, "?", 0);
    emit(e, digits[count < 9 ? count : 9], 1);
}

static const cope_task tasks[] = {
    {"toy", "count 'a' since the last '.' (a smoke-test task)", "train,ood", COPE_TOK_WORDS,
     toy_vocab, (int)(sizeof toy_vocab / sizeof *toy_vocab), toy_max_len, toy_generate},
};

#define N_TASKS ((int)(sizeof tasks / sizeof *tasks))

int cope_task_count(void) { return N_TASKS; }
const cope_task *cope_task_get(int i) { return i >= 0 && i < N_TASKS ? &tasks[i] : NULL; }
const cope_task *cope_task_find(const char *name) {
    for (int i = 0; i < N_TASKS; i++)
        if (name && strcmp(tasks[i].name, name) == 0) return &tasks[i];
    return NULL;
}
const char *cope_task_name(const cope_task *t) { return t->name; }
const char *cope_task_description(const cope_task *t) { return t->description; }
cope_tok_type cope_task_tok_type(const cope_task *t) { return t->tok_type; }
int cope_task_vocab(const cope_task *t, const char *const **vocab) {
    *vocab = t->vocab;
    return t->n_vocab;
}
const char *cope_task_splits(const cope_task *t) { return t->splits; }
int cope_task_max_len(const cope_task *t, const char *split) { return split ? t->max_len(split) : 0; }

cope_status cope_task_example(const cope_task *t, const char *split, cope_rng *rng,
                              const cope_tokenizer *tok, int *seq, unsigned char *loss_on,
                              int max_len, int *n, cope_error *err) {
    *n = 0;
    if (!cope_task_max_len(t, split))
        return cope_fail(err, COPE_ERR_ARG, "task %s has no split \"%s\" (splits: %s)", t->name,
                         split ? split : "(null)", t->splits);
    example e; /* ~40 KB on the stack */
    e.n = 0;
    t->generate(&e, split, rng);
    if (e.n > MAX_PIECES || e.n > max_len)
        return cope_fail(err, COPE_ERR_CONTEXT, "task %s example has %d tokens, room for %d", t->name, e.n,
                         e.n > MAX_PIECES ? MAX_PIECES : max_len);
    for (int i = 0; i < e.n; i++) {
        int id = cope_tokenizer_id(tok, e.pieces[i]);
        if (id < 0)
            return cope_fail(err, COPE_ERR_TOKEN, "the model's vocabulary lacks \"%s\" from task %s", e.pieces[i], t->name);
        seq[i] = id;
        if (loss_on) loss_on[i] = e.loss_on[i];
    }
    *n = e.n;
    return COPE_OK;
}

cope_status cope_task_batch(const cope_task *t, const char *split, cope_rng *rng,
                            const cope_tokenizer *tok, int B, int T, int *ids, int *targets,
                            float *mask, cope_error *err) {
    int pad = cope_tokenizer_id(tok, "<pad>");
    if (pad < 0) pad = 0;
    int seq[MAX_PIECES];
    unsigned char on[MAX_PIECES];
    int room = T + 1 < MAX_PIECES ? T + 1 : MAX_PIECES;
    for (int b = 0; b < B; b++) {
        int n;
        cope_status st = cope_task_example(t, split, rng, tok, seq, on, room, &n, err);
        if (st) return st;
        for (int i = 0; i < T; i++) {
            size_t k = (size_t)b * T + i;
            int real = i + 1 < n;
            ids[k] = i < n ? seq[i] : pad;
            targets[k] = real ? seq[i + 1] : pad;
            mask[k] = real && on[i + 1] ? 1.0f : 0.0f;
        }
    }
    return COPE_OK;
}
