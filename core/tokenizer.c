/* tokenizer.c — the three tokenizers a model file can name: "words" (ASCII lower-case, split on
 * whitespace, as the authors' counting data), "text" (lower-case words split from punctuation, a
 * line break a token: English prose) and "chars" (one UTF-8 code point per token).
 * Lookup is an open-addressing hash table over the vocabulary. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct cope_tokenizer {
    cope_tok_type type;
    int n;
    char **pieces;
    int *table;     /* hash slots: piece id or -1 */
    size_t n_slots; /* power of two */
    int unk;
    int newline; /* words, text: id of the piece "\n" (then a line break is a token), or -1 */
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int lookup(const cope_tokenizer *t, const char *s, size_t n) {
    size_t mask = t->n_slots - 1;
    for (size_t i = (size_t)hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        int id = t->table[i];
        if (id < 0) return -1;
        if (strlen(t->pieces[id]) == n && memcmp(t->pieces[id], s, n) == 0) return id;
    }
}

static size_t utf8_len(const unsigned char *s, size_t avail) {
    /* Length of the (valid) UTF-8 sequence at s, or 0 if invalid. */
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || n > avail) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

void cope_tokenizer_free(cope_tokenizer *t) {
    if (!t) return;
    if (t->pieces)
        for (int i = 0; i < t->n; i++) free(t->pieces[i]);
    free(t->pieces);
    free(t->table);
    free(t);
}

cope_status cope_tokenizer_new(cope_tokenizer **out, cope_tok_type type, const char *const *vocab, int n,
                               cope_error *err) {
    *out = NULL;
    if (type != COPE_TOK_WORDS && type != COPE_TOK_TEXT && type != COPE_TOK_CHARS)
        return cope_fail(err, COPE_ERR_CONFIG, "tokenizer.type must be \"words\", \"text\" or \"chars\"");
    if (n < 1 || n > COPE_MAX_VOCAB)
        return cope_fail(err, COPE_ERR_LIMIT, "tokenizer.vocab has %d entries (1..%d allowed)", n, COPE_MAX_VOCAB);
    cope_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return cope_fail(err, COPE_ERR_NOMEM, "out of memory (tokenizer)");
    t->type = type;
    t->unk = -1;
    t->newline = -1;
    t->n_slots = 16;
    while (t->n_slots < (size_t)n * 2) t->n_slots *= 2;
    t->pieces = calloc((size_t)n, sizeof(char *));
    t->table = malloc(t->n_slots * sizeof(int));
    if (!t->pieces || !t->table) {
        cope_tokenizer_free(t);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (tokenizer)");
    }
    for (size_t i = 0; i < t->n_slots; i++) t->table[i] = -1;
    for (int i = 0; i < n; i++) {
        const char *p = vocab[i];
        size_t len = p ? strlen(p) : 0;
        cope_status st = COPE_OK;
        if (len == 0)
            st = cope_fail(err, COPE_ERR_CONFIG, "tokenizer.vocab[%d] is empty", i);
        else if (len > COPE_MAX_TOKEN_BYTES)
            st = cope_fail(err, COPE_ERR_LIMIT, "tokenizer.vocab[%d] is longer than %d bytes", i, COPE_MAX_TOKEN_BYTES);
        else if (strcmp(p, "<unk>") != 0) {
            if (type == COPE_TOK_CHARS && utf8_len((const unsigned char *)p, len) != len)
                st = cope_fail(err, COPE_ERR_CONFIG, "tokenizer.vocab[%d] is not a single UTF-8 character", i);
            if (type != COPE_TOK_CHARS && strcmp(p, "\n") != 0)
                for (size_t k = 0; k < len && !st; k++) {
                    char c = p[k];
                    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
                        st = cope_fail(err, COPE_ERR_CONFIG, "tokenizer.vocab[%d] contains whitespace", i);
                    else if (c >= 'A' && c <= 'Z')
                        st = cope_fail(err, COPE_ERR_CONFIG,
                                       "tokenizer.vocab[%d] has upper case (words are lower-cased)", i);
                }
        }
        if (!st && t->n > 0 && lookup(t, p, len) >= 0)
            st = cope_fail(err, COPE_ERR_CONFIG, "tokenizer.vocab[%d] duplicates an earlier entry", i);
        if (!st && !(t->pieces[i] = malloc(len + 1))) st = cope_fail(err, COPE_ERR_NOMEM, "out of memory (tokenizer)");
        if (st) {
            cope_tokenizer_free(t);
            return st;
        }
        memcpy(t->pieces[i], p, len + 1);
        t->n = i + 1;
        size_t mask = t->n_slots - 1, s = (size_t)hash_bytes(p, len) & mask;
        while (t->table[s] >= 0) s = (s + 1) & mask;
        t->table[s] = i;
        if (strcmp(p, "<unk>") == 0) t->unk = i;
        if (strcmp(p, "\n") == 0) t->newline = i;
    }
    *out = t;
    return COPE_OK;
}

const char *cope_tok_type_name(cope_tok_type type) {
    return type == COPE_TOK_WORDS ? "words" : type == COPE_TOK_CHARS ? "chars" : type == COPE_TOK_TEXT ? "text" : "?";
}

int cope_tokenizer_size(const cope_tokenizer *t) { return t->n; }
int cope_tokenizer_id(const cope_tokenizer *t, const char *piece) {
    return piece ? lookup(t, piece, strlen(piece)) : -1;
}
cope_tok_type cope_tokenizer_type(const cope_tokenizer *t) { return t->type; }
int cope_tokenizer_unk(const cope_tokenizer *t) { return t->unk; }
const char *cope_tokenizer_piece(const cope_tokenizer *t, int id) {
    return id >= 0 && id < t->n ? t->pieces[id] : NULL;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
/* text: words are runs of ASCII letters, digits and "_", and of non-ASCII bytes (UTF-8 letters) */
static int is_word_byte(char c) {
    unsigned char u = (unsigned char)c;
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_' || u >= 0x80;
}

cope_status cope_tokenize(const cope_tokenizer *t, const char *text, size_t len, int *ids, int *spans, int max_ids,
                          int *n_out, int *n_unk, cope_error *err) {
    int n = 0, unk = 0;
    if (n_out) *n_out = 0;
    if (n_unk) *n_unk = 0;
    if (!text && len) return cope_fail(err, COPE_ERR_ARG, "text is NULL");
    char word[COPE_MAX_TOKEN_BYTES + 1];
    size_t i = 0;
    while (i < len) {
        size_t b = i, e;
        if (t->type == COPE_TOK_CHARS) {
            size_t k = utf8_len((const unsigned char *)text + i, len - i);
            i += k ? k : 1; /* an invalid byte is one unknown token */
            e = i;
        } else if (text[i] == '\n' && t->newline >= 0) { /* a line break as a token */
            size_t last = i++;
            if (t->type == COPE_TOK_TEXT) /* text: blank lines and indentation join the break */
                for (size_t k = i; k < len && is_space(text[k]); k++)
                    if (text[k] == '\n') last = k, i = k + 1;
            if (n < max_ids) {
                ids[n] = t->newline;
                if (spans) {
                    spans[2 * n] = (int)b;
                    spans[2 * n + 1] = (int)(last + 1 - b);
                }
            }
            n++;
            continue;
        } else if (is_space(text[i])) {
            i++;
            continue;
        } else if (t->type == COPE_TOK_WORDS || is_word_byte(text[i])) {
            while (i < len && !is_space(text[i]) && (t->type == COPE_TOK_WORDS || is_word_byte(text[i]))) i++;
            e = i;
        } else
            e = ++i; /* text: any other character is a token of its own */
        int id = -1;
        if (e - b <= COPE_MAX_TOKEN_BYTES) {
            for (size_t k = 0; k < e - b; k++) {
                char c = text[b + k];
                word[k] = (t->type != COPE_TOK_CHARS && c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            id = lookup(t, word, e - b);
        }
        if (id < 0) {
            unk++;
            id = t->unk;
            if (id < 0)
                return cope_fail(err, COPE_ERR_TOKEN, "token at byte %zu is not in the vocabulary (which has no <unk>)",
                                 b);
        }
        if (n < max_ids) {
            ids[n] = id;
            if (spans) {
                spans[2 * n] = (int)b;
                spans[2 * n + 1] = (int)(e - b);
            }
        }
        n++;
    }
    if (n_out) *n_out = n;
    if (n_unk) *n_unk = unk;
    return COPE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * A vocabulary from a text: counts the pieces by sorting them (no table to size), keeps the most
 * frequent. */
typedef struct {
    const char *p;
    int len, count;
} piece_count;

static int by_bytes(const void *x, const void *y) {
    const piece_count *a = x, *b = y;
    int n = a->len < b->len ? a->len : b->len, d = memcmp(a->p, b->p, (size_t)n);
    return d ? d : a->len - b->len;
}
static int by_count(const void *x, const void *y) {
    const piece_count *a = x, *b = y;
    return a->count != b->count ? (b->count > a->count ? 1 : -1) : by_bytes(x, y);
}

cope_status cope_tokenizer_from_text(cope_tokenizer **out, cope_tok_type type, const char *text, size_t len,
                                     int max_vocab, int min_count, cope_error *err) {
    *out = NULL;
    if (type != COPE_TOK_WORDS && type != COPE_TOK_TEXT)
        return cope_fail(err, COPE_ERR_ARG, "a vocabulary from text needs the \"words\" or \"text\" tokenizer");
    if (max_vocab < 3 || max_vocab > COPE_MAX_VOCAB)
        return cope_fail(err, COPE_ERR_LIMIT, "vocabulary size %d (3..%d allowed)", max_vocab, COPE_MAX_VOCAB);
    if (len >= (size_t)INT_MAX)
        return cope_fail(err, COPE_ERR_LIMIT, "text of %zu bytes (less than 2 GiB allowed)", len);
    const char *base[] = {"<unk>", "<pad>", "\n"};
    cope_tokenizer *probe;
    cope_status st = cope_tokenizer_new(&probe, type, base, 3, err);
    if (st) return st;
    int n = 0;
    size_t cap = len + 1; /* a text has at most len tokens */
    int *ids = malloc(cap * sizeof(int)), *spans = malloc(cap * 2 * sizeof(int));
    char *lower = malloc(len + 1);
    piece_count *pc = malloc(cap * sizeof *pc);
    const char **vocab = NULL;
    if (!ids || !spans || !lower || !pc) {
        st = cope_fail(err, COPE_ERR_NOMEM, "out of memory (vocabulary of %zu bytes of text)", len);
        goto done;
    }
    if ((st = cope_tokenize(probe, text, len, ids, spans, (int)cap, &n, NULL, err))) goto done;
    for (size_t i = 0; i < len; i++) lower[i] = text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] + 32) : text[i];
    int np = 0, nu = 0;
    for (int k = 0; k < n; k++)
        if (ids[k] != probe->newline && spans[2 * k + 1] <= COPE_MAX_TOKEN_BYTES &&
            !memchr(lower + spans[2 * k], '\0', (size_t)spans[2 * k + 1])) /* a piece is a C string */
            pc[np++] = (piece_count){lower + spans[2 * k], spans[2 * k + 1], 1};
    qsort(pc, (size_t)np, sizeof *pc, by_bytes);
    for (int k = 0; k < np; k++) /* runs of equal pieces -> one entry with its count */
        if (nu > 0 && by_bytes(&pc[nu - 1], &pc[k]) == 0)
            pc[nu - 1].count++;
        else
            pc[nu++] = pc[k];
    qsort(pc, (size_t)nu, sizeof *pc, by_count);
    int nv = 3;
    vocab = calloc((size_t)max_vocab, sizeof *vocab);
    if (!vocab) {
        st = cope_fail(err, COPE_ERR_NOMEM, "out of memory (vocabulary)");
        goto done;
    }
    memcpy(vocab, base, sizeof base);
    for (int k = 0; k < nu && nv < max_vocab && pc[k].count >= min_count; k++) {
        char *s = malloc((size_t)pc[k].len + 1);
        if (!s) {
            st = cope_fail(err, COPE_ERR_NOMEM, "out of memory (vocabulary)");
            goto done;
        }
        memcpy(s, pc[k].p, (size_t)pc[k].len);
        s[pc[k].len] = '\0';
        if (strcmp(s, "<unk>") == 0 || strcmp(s, "<pad>") == 0) { /* a "words" text may hold them */
            free(s);
            continue;
        }
        vocab[nv++] = s;
    }
    st = cope_tokenizer_new(out, type, vocab, nv, err);
done:
    if (vocab)
        for (int k = 3; k < max_vocab; k++) free((char *)vocab[k]);
    free(vocab);
    free(ids);
    free(spans);
    free(lower);
    free(pc);
    cope_tokenizer_free(probe);
    return st;
}
