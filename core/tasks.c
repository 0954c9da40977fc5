/* tasks.c — seeded example generators for the paper's tasks, in miniature (README.md, "Tasks"):
 * counting (the authors' generator), selective copy, flip-flop, structured text and topic
 * paragraphs for Figure 4, plus a toy task. Each writes a sequence of vocabulary pieces and marks which of them the model
 * is scored on; cope_task_batch turns examples into padded next-token batches. Generators draw
 * only from the cope_rng they are given, so a seed reproduces the data natively and in wasm. */
#include <stdio.h>
#include <string.h>

#include "json.h"

#define MAX_PIECES 2048

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

typedef struct {
    const char *name;
    int max_len;              /* tokens, including the scored ones */
    int min_items, max_items; /* counting: statements; toy: symbols before the question */
    int instructions;         /* flip-flop: instructions (two tokens each) */
    double p_ignore;          /* flip-flop: FFL(p), the probability of an ignore instruction */
    int places, n_copy;       /* selective copy: places (blanks and tokens), tokens to copy */
} split_def;

#define MAX_SPLITS 4

struct cope_task {
    const char *name, *description;
    cope_tok_type tok_type;
    const char *const *vocab;
    int n_vocab;
    split_def split[MAX_SPLITS]; /* the first entries; the rest have no name */
    int n_vars;                  /* counting: the number of variables */
    void (*generate)(example *e, const struct cope_task *t, const split_def *s, cope_rng *rng);
};

static const char *const numbers[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"};
static const char *const letters[] = {"a", "b", "c", "d", "e", "f", "g", "h"};

/* ---------------------------------------------------------------------------------------------
 * toy: letters a/b and sentence ends '.', then '?' and the number of 'a' since the last '.'
 * (at most 9). A small check that the training loop learns something position-like. */
static const char *const toy_vocab[] = {"<unk>", "<pad>", "a", "b", ".", "?", "0", "1",
                                        "2",     "3",     "4", "5", "6", "7", "8", "9"};

static void toy_generate(example *e, const struct cope_task *t, const split_def *s, cope_rng *rng) {
    int len = s->min_items + cope_rng_int(rng, s->max_items - s->min_items + 1), count = 0;
    for (int i = 0; i < len; i++) {
        int r = cope_rng_int(rng, 6);
        const char *p = r < 2 ? "a" : r < 5 ? "b" : ".";
        if (*p == 'a') count++;
        if (*p == '.') count = 0;
        emit(e, p, 0);
    }
    emit(e, "?", 0);
    emit(e, numbers[count < 9 ? count : 9], 1);
}

/* ---------------------------------------------------------------------------------------------
 * counting — the authors' generator (facebookresearch/RAM, projects/cope), as its code does
 * it: variables are the first nvars letters; statements SET "v = 0 ;" (any variable),
 * INCREMENT "v ++;" (a variable already set, chosen uniformly among those; not past 10), DUMMY
 * "pass;", drawn with weights 1 : 7 : 50; a draw that cannot be carried out (no variable set yet,
 * or the chosen one is at 10) is drawn again; the statement count is uniform in [3, max_steps];
 * then "print v" for a variable chosen uniformly among the set ones, whose value is the answer
 * (one token). If no variable was set, the whole example is drawn again (as the authors' code
 * does), which favours longer programs. Text: `a = 0 ; pass; a ++; print a` -> answer 1.
 * Ours: 3..128 statements in training ("train"), 129..256 out of distribution ("ood"), the
 * paper's block of 512 tokens holding either; an example longer than the split's token cap
 * (rare) is also drawn again. */
static const char *const counting_vocab[] = {"<unk>", "<pad>", "a",     "b",     "c", "d", "e", "=",
                                             ";",     "++;",   "pass;", "print", "0", "1", "2", "3",
                                             "4",     "5",     "6",     "7",     "8", "9", "10"};

static void counting_generate(example *e, const struct cope_task *t, const split_def *s, cope_rng *rng) {
    const int nvars = t->n_vars;
    for (;;) {
        e->n = 0;
        int value[5] = {-1, -1, -1, -1, -1}, set[5], n_set = 0;
        int steps = s->min_items + cope_rng_int(rng, s->max_items - s->min_items + 1);
        for (int k = 0; k < steps;) {
            int r = cope_rng_int(rng, 58);
            if (r < 1) { /* SET */
                int v = cope_rng_int(rng, nvars);
                emit(e, letters[v], 0);
                emit(e, "=", 0);
                emit(e, "0", 0);
                emit(e, ";", 0);
                if (value[v] < 0) set[n_set++] = v;
                value[v] = 0;
            } else if (r < 8) {       /* INCREMENT */
                if (!n_set) continue; /* failed draw: retry */
                int v = set[cope_rng_int(rng, n_set)];
                if (value[v] + 1 > 10) continue;
                emit(e, letters[v], 0);
                emit(e, "++;", 0);
                value[v]++;
            } else { /* DUMMY */
                emit(e, "pass;", 0);
            }
            k++;
        }
        if (!n_set) continue;
        int v = set[cope_rng_int(rng, n_set)];
        emit(e, "print", 0);
        emit(e, letters[v], 0);
        emit(e, numbers[value[v]], 1);
        if (e->n <= s->max_len) return;
    }
}

/* ---------------------------------------------------------------------------------------------
 * flip-flop (Liu et al. 2023): instructions "w b", "r b", "i b" with b a bit; at each read the
 * model predicts the bit of the last write. FFL(p): each instruction is ignore with probability
 * p, else read or write with equal odds; the first is a write and the last a read. Ours: 64
 * instructions (128 tokens); train FFL(0.8), "ood-sparse" FFL(0.98), "ood-dense" FFL(0.1). */
static const char *const flipflop_vocab[] = {"<unk>", "<pad>", "w", "r", "i", "0", "1"};

static void flipflop_generate(example *e, const struct cope_task *t, const split_def *s, cope_rng *rng) {
    int n = s->instructions, last = 0;
    for (int k = 0; k < n; k++) {
        int op; /* 0 write, 1 read, 2 ignore */
        if (k == 0)
            op = 0;
        else if (k == n - 1)
            op = 1;
        else if (cope_rng_uniform(rng) < s->p_ignore)
            op = 2;
        else
            op = cope_rng_int(rng, 2) ? 1 : 0;
        int bit = cope_rng_int(rng, 2);
        if (op == 0) last = bit;
        if (op == 1) bit = last;
        emit(e, op == 0 ? "w" : op == 1 ? "r" : "i", 0);
        emit(e, numbers[bit], op == 1);
    }
}

/* ---------------------------------------------------------------------------------------------
 * selective copy (Gu & Dao 2023): 16 tokens from an 8-letter alphabet at random places among
 * blanks "_", then "|" and the 16 tokens in order (scored). Ours: 64 places in training (48
 * blanks); "ood-dense" 24 places (8 blanks); "ood-sparse" 128 places (112 blanks). */
static const char *const selcopy_vocab[] = {"<unk>", "<pad>", "_", "|", "a", "b", "c", "d", "e", "f", "g", "h"};

static void selcopy_generate(example *e, const struct cope_task *t, const split_def *s, cope_rng *rng) {
    int L = s->places, K = s->n_copy, left = K;
    int data[128];
    int nd = 0;
    for (int i = 0; i < L; i++) {
        /* choose each place with probability left / (places left): a uniform K-subset */
        if (cope_rng_int(rng, L - i) < left) {
            int c = cope_rng_int(rng, 8);
            data[nd++] = c;
            emit(e, letters[c], 0);
            left--;
        } else {
            emit(e, "_", 0);
        }
    }
    emit(e, "|", 0);
    for (int i = 0; i < nd; i++) emit(e, letters[data[i]], 1);
}

/* ---------------------------------------------------------------------------------------------
 * structured text (for Figure 4), generated here: documents of sections, each headed by a title
 * line "= = title = =", holding paragraphs that end with a newline token. A paragraph is about one
 * subject: its first sentence names it and every later sentence starts with the same subject or
 * "it"; sentences may start "in <title> ," naming the current section's title. So predicting the
 * subject needs the current paragraph and predicting the title needs the current section — the
 * units a CoPE head can count. Scored on every token. "train": 192 tokens, "long": 512 tokens. */
static const char *const text_vocab[] = {"<unk>",
                                         "<pad>",
                                         "\n",
                                         "=",
                                         ".",
                                         ",",
                                         "the",
                                         "in",
                                         "it",
                                         "and",
                                         /* titles */ "history",
                                         "geography",
                                         "music",
                                         "science",
                                         "sport",
                                         "economy",
                                         "culture",
                                         "climate",
                                         /* subjects */ "king",
                                         "river",
                                         "band",
                                         "city",
                                         "team",
                                         "market",
                                         "painter",
                                         "forest",
                                         "engine",
                                         "village",
                                         "church",
                                         "festival",
                                         /* verbs */ "built",
                                         "crossed",
                                         "played",
                                         "joined",
                                         "left",
                                         "found",
                                         "made",
                                         "saw",
                                         "won",
                                         "lost",
                                         /* objects */ "bridge",
                                         "song",
                                         "road",
                                         "prize",
                                         "tower",
                                         "wall",
                                         "ship",
                                         "garden",
                                         "stone",
                                         "field"};

#define TEXT_TITLES   10
#define TEXT_SUBJECTS 18
#define TEXT_VERBS    30
#define TEXT_OBJECTS  40

static void text_generate(example *e, const struct cope_task *t, const split_def *s, cope_rng *rng) {
    const char *const *w = text_vocab;
    while (e->n < s->max_len) {
        const char *title = w[TEXT_TITLES + cope_rng_int(rng, 8)];
        emit(e, "=", 1);
        emit(e, "=", 1);
        emit(e, title, 1);
        emit(e, "=", 1);
        emit(e, "=", 1);
        emit(e, "\n", 1);
        int paragraphs = 1 + cope_rng_int(rng, 3);
        for (int p = 0; p < paragraphs; p++) {
            const char *subject = w[TEXT_SUBJECTS + cope_rng_int(rng, 12)];
            int sentences = 2 + cope_rng_int(rng, 3);
            for (int k = 0; k < sentences; k++) {
                if (k > 0 && cope_rng_int(rng, 3) == 0) {
                    emit(e, "in", 1);
                    emit(e, title, 1);
                    emit(e, ",", 1);
                }
                if (k > 0 && cope_rng_int(rng, 2) == 0)
                    emit(e, "it", 1);
                else {
                    emit(e, "the", 1);
                    emit(e, subject, 1);
                }
                emit(e, w[TEXT_VERBS + cope_rng_int(rng, 10)], 1);
                emit(e, "the", 1);
                emit(e, w[TEXT_OBJECTS + cope_rng_int(rng, 10)], 1);
                if (cope_rng_int(rng, 3) == 0) {
                    emit(e, "and", 1);
                    emit(e, w[TEXT_OBJECTS + cope_rng_int(rng, 10)], 1);
                }
                emit(e, ".", 1);
            }
            emit(e, "\n", 1);
        }
    }
    e->n = s->max_len; /* documents are cut to the split's length */
}

/* ---------------------------------------------------------------------------------------------
 * topics: a task that needs a paragraph counter (Figure 4 by construction). Documents of sections
 * headed "= = title = =", holding paragraphs that end with "\n". A title owns 8 words; each
 * paragraph of its section has one of two hidden topics, drawing its words uniformly from the
 * title's words 0-5 (topic 0) or 2-7 (topic 1), then "." after each sentence. Four of a topic's
 * six words are shared, so one word tells the topic only a third of the time and the evidence
 * must be summed over the paragraph's words, and the paragraph before (the other topic half of
 * the time) misleads. So predicting a word needs the words of the current paragraph and no others:
 * a head that attends to "the current paragraph" (CoPE's p = 0 when its gates open on "\n") does
 * that at any paragraph length; a fixed relative window cannot, as paragraphs have 1-5 sentences of
 * 3-6 words. Every token is scored. "train": 192 tokens, "long": 512 tokens. */
static const char *const topics_vocab[] = {"<unk>",
                                           "<pad>",
                                           "\n",
                                           "=",
                                           ".",
                                           /* titles */ "history",
                                           "music",
                                           "science",
                                           "sport",
                                           /* each title's 8 words */ "king",
                                           "queen",
                                           "crown",
                                           "castle",
                                           "knight",
                                           "sword",
                                           "battle",
                                           "empire",
                                           "song",
                                           "drum",
                                           "choir",
                                           "guitar",
                                           "stage",
                                           "tune",
                                           "piano",
                                           "violin",
                                           "atom",
                                           "cell",
                                           "lens",
                                           "star",
                                           "orbit",
                                           "comet",
                                           "laser",
                                           "planet",
                                           "ball",
                                           "goal",
                                           "team",
                                           "race",
                                           "medal",
                                           "coach",
                                           "score",
                                           "match"};

#define TOPICS_TITLES 5
#define TOPICS_WORDS  9

static void topics_generate(example *e, const struct cope_task *t, const split_def *s, cope_rng *rng) {
    const char *const *w = topics_vocab;
    while (e->n < s->max_len) {
        int title = cope_rng_int(rng, 4);
        emit(e, "=", 1);
        emit(e, "=", 1);
        emit(e, w[TOPICS_TITLES + title], 1);
        emit(e, "=", 1);
        emit(e, "=", 1);
        emit(e, "\n", 1);
        int paragraphs = 1 + cope_rng_int(rng, 4);
        for (int p = 0; p < paragraphs; p++) {
            int first = TOPICS_WORDS + 8 * title + 2 * cope_rng_int(rng, 2);
            int sentences = 1 + cope_rng_int(rng, 5);
            for (int k = 0; k < sentences; k++) {
                int words = 3 + cope_rng_int(rng, 4);
                for (int i = 0; i < words; i++) emit(e, w[first + cope_rng_int(rng, 6)], 1);
                emit(e, ".", 1);
            }
            emit(e, "\n", 1);
        }
    }
    e->n = s->max_len; /* documents are cut to the split's length */
}

/* ---------------------------------------------------------------------------------------------
 * The task table */
#define VOCAB(v) .vocab = v, .n_vocab = (int)(sizeof v / sizeof *v)

static const cope_task tasks[] = {
    {.name = "counting1",
     .n_vars = 1,
     .generate = counting_generate,
     .description = "counting, 1 variable: print the value of a variable after set/increment/pass statements",
     .tok_type = COPE_TOK_WORDS,
     VOCAB(counting_vocab),
     .split = {{.name = "train", .max_len = 256, .min_items = 3, .max_items = 128},
               {.name = "ood", .max_len = 512, .min_items = 129, .max_items = 256}}},
    {.name = "counting3",
     .n_vars = 3,
     .generate = counting_generate,
     .description = "counting, 3 variables",
     .tok_type = COPE_TOK_WORDS,
     VOCAB(counting_vocab),
     .split = {{.name = "train", .max_len = 256, .min_items = 3, .max_items = 128},
               {.name = "ood", .max_len = 512, .min_items = 129, .max_items = 256}}},
    {.name = "counting5",
     .n_vars = 5,
     .generate = counting_generate,
     .description = "counting, 5 variables",
     .tok_type = COPE_TOK_WORDS,
     VOCAB(counting_vocab),
     .split = {{.name = "train", .max_len = 256, .min_items = 3, .max_items = 128},
               {.name = "ood", .max_len = 512, .min_items = 129, .max_items = 256}}},
    {.name = "flipflop",
     .generate = flipflop_generate,
     .description = "flip-flop: at each read, the bit of the last write (64 instructions)",
     .tok_type = COPE_TOK_WORDS,
     VOCAB(flipflop_vocab),
     .split = {{.name = "train", .max_len = 128, .instructions = 64, .p_ignore = 0.8},
               {.name = "ood-sparse", .max_len = 128, .instructions = 64, .p_ignore = 0.98},
               {.name = "ood-dense", .max_len = 128, .instructions = 64, .p_ignore = 0.1}}},
    {.name = "selcopy",
     .generate = selcopy_generate,
     .description = "selective copy: copy the 16 non-blank tokens in order",
     .tok_type = COPE_TOK_WORDS,
     VOCAB(selcopy_vocab),
     .split = {{.name = "train", .max_len = 81, .places = 64, .n_copy = 16},
               {.name = "ood-dense", .max_len = 41, .places = 24, .n_copy = 16},
               {.name = "ood-sparse", .max_len = 145, .places = 128, .n_copy = 16}}},
    {.name = "text",
     .generate = text_generate,
     .description = "structured text: sections with titles and paragraphs (for Figure 4)",
     .tok_type = COPE_TOK_WORDS,
     VOCAB(text_vocab),
     .split = {{.name = "train", .max_len = 193}, {.name = "long", .max_len = 513}}},
    {.name = "topics",
     .generate = topics_generate,
     .description = "topic paragraphs: a word's topic is known only from its paragraph (Figure 4 by construction)",
     .tok_type = COPE_TOK_WORDS,
     VOCAB(topics_vocab),
     .split = {{.name = "train", .max_len = 193}, {.name = "long", .max_len = 513}}},
    {.name = "toy",
     .generate = toy_generate,
     .description = "count 'a' since the last '.' (a smoke-test task)",
     .tok_type = COPE_TOK_WORDS,
     VOCAB(toy_vocab),
     .split = {{.name = "train", .max_len = 26, .min_items = 4, .max_items = 23},
               {.name = "ood", .max_len = 50, .min_items = 25, .max_items = 48}}},
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

int cope_task_split_count(const cope_task *t) {
    int n = 0;
    while (n < MAX_SPLITS && t->split[n].name) n++;
    return n;
}

const char *cope_task_split_name(const cope_task *t, int i) {
    return i >= 0 && i < cope_task_split_count(t) ? t->split[i].name : NULL;
}

static const split_def *find_split(const cope_task *t, const char *split) {
    for (int i = 0; i < cope_task_split_count(t); i++)
        if (split && strcmp(t->split[i].name, split) == 0) return &t->split[i];
    return NULL;
}

cope_status cope_task_split_check(const cope_task *t, const char *split, cope_error *err) {
    if (find_split(t, split)) return COPE_OK;
    char names[MAX_SPLITS * 32] = "";
    for (int i = 0; i < cope_task_split_count(t); i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", t->split[i].name);
    }
    return cope_fail(err, COPE_ERR_ARG, "task %s has no split \"%.64s\" (splits: %s)", t->name,
                     split ? split : "(null)", names);
}

int cope_task_max_len(const cope_task *t, const char *split) {
    const split_def *s = find_split(t, split);
    return s ? s->max_len : 0;
}

cope_status cope_task_example(const cope_task *t, const char *split, cope_rng *rng, const cope_tokenizer *tok, int *seq,
                              unsigned char *loss_on, int max_len, int *n, cope_error *err) {
    *n = 0;
    const split_def *s = find_split(t, split);
    if (!s) return cope_task_split_check(t, split, err);
    example e; /* ~18 KB on the stack */
    e.n = 0;
    t->generate(&e, t, s, rng);
    if (e.n > MAX_PIECES || e.n > max_len)
        return cope_fail(err, COPE_ERR_CONTEXT, "task %s example has %d tokens, room for %d", t->name, e.n,
                         e.n > MAX_PIECES ? MAX_PIECES : max_len);
    for (int i = 0; i < e.n; i++) {
        int id = cope_tokenizer_id(tok, e.pieces[i]);
        if (id < 0)
            return cope_fail(err, COPE_ERR_TOKEN, "the model's vocabulary lacks \"%s\" from task %s", e.pieces[i],
                             t->name);
        seq[i] = id;
        if (loss_on) loss_on[i] = e.loss_on[i];
    }
    *n = e.n;
    return COPE_OK;
}

/* Rows b = 0..B-1 from example b's generator: rng itself (fresh examples), or, for a fixed set,
 * a generator seeded by (set_seed, idx[b]) so that example k of the set is the same whenever it
 * is drawn. */
static cope_status task_batch(const cope_task *t, const char *split, cope_rng *rng, uint64_t set_seed, const long *idx,
                              const cope_tokenizer *tok, int B, int t_max, int *ids, int *targets, float *mask,
                              int *t_used, cope_error *err) {
    int pad = cope_tokenizer_id(tok, "<pad>");
    if (pad < 0) pad = 0;
    int room = t_max + 1 < MAX_PIECES ? t_max + 1 : MAX_PIECES;
    int T = 1;
    int seq[MAX_PIECES];
    unsigned char on[MAX_PIECES];
    /* rows are written with stride t_max, then compacted to the longest example's length */
    for (int b = 0; b < B; b++) {
        int n;
        cope_rng own;
        if (idx) cope_rng_seed(&own, set_seed * 0x9E3779B97F4A7C15ull + (uint64_t)idx[b]);
        cope_status st = cope_task_example(t, split, idx ? &own : rng, tok, seq, on, room, &n, err);
        if (st) return st;
        for (int i = 0; i < t_max; i++) {
            size_t k = (size_t)b * t_max + i;
            int real = i + 1 < n;
            ids[k] = i < n ? seq[i] : pad;
            targets[k] = real ? seq[i + 1] : pad;
            mask[k] = real && on[i + 1] ? 1.0f : 0.0f;
        }
        if (n - 1 > T) T = n - 1;
    }
    /* compact rows from stride t_max to stride T */
    for (int b = 1; b < B && T < t_max; b++) {
        memmove(ids + (size_t)b * T, ids + (size_t)b * t_max, (size_t)T * sizeof(int));
        memmove(targets + (size_t)b * T, targets + (size_t)b * t_max, (size_t)T * sizeof(int));
        memmove(mask + (size_t)b * T, mask + (size_t)b * t_max, (size_t)T * sizeof(float));
    }
    if (t_used) *t_used = T;
    return COPE_OK;
}

cope_status cope_task_batch(const cope_task *t, const char *split, cope_rng *rng, const cope_tokenizer *tok, int B,
                            int t_max, int *ids, int *targets, float *mask, int *t_used, cope_error *err) {
    return task_batch(t, split, rng, 0, NULL, tok, B, t_max, ids, targets, mask, t_used, err);
}

cope_status cope_task_batch_set(const cope_task *t, const char *split, uint64_t set_seed, const long *idx,
                                const cope_tokenizer *tok, int B, int t_max, int *ids, int *targets, float *mask,
                                int *t_used, cope_error *err) {
    if (!idx) return cope_fail(err, COPE_ERR_ARG, "a batch from a fixed set needs the examples' indices");
    return task_batch(t, split, NULL, set_seed, idx, tok, B, t_max, ids, targets, mask, t_used, err);
}

cope_status cope_corpus_batch(const int *tokens, long n, cope_rng *rng, int B, int T, int *ids, int *targets,
                              float *mask, cope_error *err) {
    if (B < 1 || T < 1) return cope_fail(err, COPE_ERR_ARG, "batch %d x %d", B, T);
    if (n <= T) return cope_fail(err, COPE_ERR_ARG, "a corpus of %ld tokens has no window of %d + 1", n, T);
    uint64_t starts = (uint64_t)(n - T);
    for (int b = 0; b < B; b++) {
        uint64_t hi = cope_rng_u32(rng); /* two statements: the order of the draws is fixed */
        uint64_t r = (hi << 32 | cope_rng_u32(rng)) % starts;
        const int *w = tokens + r;
        for (int t = 0; t < T; t++) {
            size_t k = (size_t)b * T + t;
            ids[k] = w[t];
            targets[k] = w[t + 1];
            mask[k] = 1.0f;
        }
    }
    return COPE_OK;
}
