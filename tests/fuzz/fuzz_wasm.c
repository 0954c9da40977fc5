/* fuzz_wasm.c — libFuzzer harness for the WebAssembly boundary: wasm/api.c built natively and
 * driven as wasm/cope.mjs drives it. The input is a script of up to 24 calls on a freshly loaded
 * model (the toy task's vocabulary, CoPE with sep keys, context 24), with the arguments a page or
 * a stranger's link could put there: text to tokenize, ids and lengths to trace and decode, gate
 * intervention lists, task samples with any task, split and seed, trainer configs and options
 * (any int, any double), provenance to save. The memory contract of cope.mjs is kept (buffers
 * sized as it sizes them); everything else is the fuzzer's. Every call returns a status or a
 * result, and what it returns holds: ids in the vocabulary and spans inside the text, finite
 * traces and decoding rows, samples within their buffer, a saved model that loads again. */
#include "../../wasm/api.c"

#include <math.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t u8(reader *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}
static int32_t i32(reader *r) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) v = v << 8 | u8(r);
    return (int32_t)v;
}
static double f64(reader *r) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | u8(r);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}
/* a small value in [0, n), or one time in 8 any int32 */
static int pick(reader *r, int n) {
    uint8_t b = u8(r);
    return (b & 7) == 0 ? i32(r) : (b >> 3) % n;
}
/* pick(r, n) - 1: also -1, without overflowing at INT_MIN */
static int pick1(reader *r, int n) {
    int v = pick(r, n);
    return v == INT_MIN ? v : v - 1;
}
/* a NUL-terminated string of up to max bytes of the input (free it) */
static char *text(reader *r, size_t max, size_t *len) {
    size_t n = u8(r) % (max + 1);
    if (n > r->n) n = r->n;
    char *s = malloc(n + 1);
    memcpy(s, r->p, n);
    s[n] = 0;
    r->p += n, r->n -= n;
    if (len) *len = n;
    return s;
}
/* a split name: one of the task's, or text */
static char *split_name(reader *r, int task) {
    const char *name = cope_wasm_task_split_name(task, u8(r) % 4);
    if (name && u8(r) % 4) return strdup(name);
    return text(r, 12, NULL);
}
static void all_finite(const float *x, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (!isfinite(x[k])) abort();
}

static unsigned char *model_bytes;
static size_t model_len;

static void make_model(void) {
    const char *const *vocab;
    const cope_task *toy = cope_task_find("toy");
    int n = cope_task_vocab(toy, &vocab);
    cope_tokenizer *tok;
    cope_model *m;
    cope_config c;
    cope_config_default(&c);
    c.vocab_size = n, c.n_ctx = 24, c.n_layer = 2, c.d_model = 8, c.n_head = 2, c.d_ff = 16, c.npos = 4;
    c.sep_keys = 1;
    void *buf;
    if (cope_tokenizer_new(&tok, cope_task_tok_type(toy), vocab, n, NULL) || cope_model_new(&m, &c, tok, 1, NULL) ||
        cope_model_save(m, &buf, &model_len, NULL))
        abort();
    model_bytes = buf;
    cope_model_free(m);
}

static void op_tokenize(cope_wasm_ctx *c, reader *r, cope_error *err, int V) {
    size_t len;
    char *s = text(r, 200, &len);
    int max = u8(r) % 4 ? (int)len + 1 : pick(r, 8); /* cope.mjs: room for every byte */
    int room = max > 0 && max <= 4096 ? max : 1;
    if (max > 4096) max = room; /* (a bigger count needs that much room) */
    int *ids = malloc((size_t)room * sizeof(int)), *spans = malloc((size_t)room * 2 * sizeof(int)), counts[2];
    if (!cope_wasm_tokenize(c, s, len, ids, spans, max, counts, err)) {
        if (counts[0] < 0 || counts[1] < 0 || counts[1] > counts[0]) abort();
        int prev = 0;
        for (int k = 0; k < counts[0] && k < max; k++) {
            if (ids[k] < 0 || ids[k] >= V || spans[2 * k] < prev || spans[2 * k + 1] < 0 ||
                (size_t)spans[2 * k] + (size_t)spans[2 * k + 1] > len)
                abort();
            prev = spans[2 * k] + spans[2 * k + 1];
        }
    } else if (!err->code)
        abort();
    free(ids), free(spans), free(s);
}

static void op_trace(cope_wasm_ctx *c, reader *r, cope_error *err, int V, int L) {
    int T = u8(r) % 34; /* cope.mjs passes ids.length (0 when empty); past n_ctx = 24 too */
    int *ids = malloc((size_t)(T ? T : 1) * sizeof(int));
    for (int k = 0; k < T; k++) ids[k] = u8(r) % 8 ? (int)(u8(r) % V) : i32(r);
    const cope_trace *tr = cope_wasm_trace(c, ids, T, err);
    free(ids);
    if (!tr) {
        if (!err->code) abort();
        return;
    }
    all_finite(cope_wasm_trace_logits(tr), (size_t)T * V);
    for (int k = 0; k < cope_wasm_trace_count(); k++)
        for (int l = 0; l < L; l++) {
            const float *a = cope_wasm_trace_array(tr, k, l);
            if (!a) abort();
            all_finite(a, (size_t)2 * T * T);
        }
    int which = pick1(r, 9), l = pick1(r, L + 2); /* any which and layer: NULL out of range */
    if ((cope_wasm_trace_array(tr, which, l) != NULL) !=
        (which >= 0 && which < cope_wasm_trace_count() && l >= 0 && l < L))
        abort();
}

static void op_step(cope_wasm_ctx *c, reader *r, cope_error *err, int V, int L) {
    int id = u8(r) % 8 ? (int)(u8(r) % V) : i32(r);
    const float *logits = cope_wasm_step(c, id, err);
    if (!logits) {
        if (!err->code) abort();
        return;
    }
    all_finite(logits, (size_t)V);
    int l = pick(r, L + 1), h = pick(r, 3), which = pick(r, 7);
    const float *row = cope_wasm_step_row(c, l, h, which);
    int in = l >= 0 && l < L && h >= 0 && h < 2 && which >= 0 && which < cope_wasm_trace_count();
    if (in != (row != NULL)) abort();
    if (row) all_finite(row, (size_t)cope_wasm_length(c));
}

static void op_sample(cope_wasm_ctx *c, reader *r, cope_error *err, int V) {
    int task = pick(r, cope_wasm_task_count() + 1);
    char *split = split_name(r, task);
    int max = cope_wasm_task_max_len(task, split); /* what cope.mjs allocates */
    if (max > 0 && u8(r) % 4 == 0) max = u8(r) % (max + 1);
    int room = max > 0 ? max : 1;
    int *seq = malloc((size_t)room * sizeof(int));
    unsigned char *loss_on = malloc((size_t)room);
    int n = cope_wasm_sample(c, task, split, (uint32_t)i32(r), (uint32_t)i32(r), seq, loss_on, max, err);
    if (n < 0 && !err->code) abort();
    if (n > max) abort();
    for (int k = 0; k < n; k++)
        if (seq[k] < 0 || seq[k] >= V) abort();
    free(seq), free(loss_on), free(split);
}

static void op_names(reader *r) {
    int i = pick1(r, 10), k = pick1(r, 5);
    const char *s[] = {cope_wasm_task_name(i),  cope_wasm_task_description(i), cope_wasm_task_split_name(i, k),
                       cope_wasm_trace_name(k), cope_wasm_pe_name(k),          cope_wasm_status_name(k),
                       cope_wasm_strerror(k)};
    for (size_t j = 0; j < sizeof s / sizeof *s; j++)
        if (s[j] && strlen(s[j]) > 4096) abort();
    (void)cope_wasm_task_split_count(i);
}

static void op_train(reader *r, cope_error *err) {
    static const int small[12] = {1, 40, 4, 5, 33, 65, 9, 21, 2, 2, 41, 2}; /* per cfg field */
    int task = pick(r, cope_wasm_task_count() + 1), cfg[12];
    for (int k = 0; k < 12; k++) cfg[k] = pick(r, small[k]);
    double opts[9], sane[9] = {1 + u8(r) % 4, 1 + u8(r) % 4, -1, 1e-3, 0, 1, u8(r), u8(r) % 3 * 4, u8(r) % 3};
    for (int k = 0; k < 9; k++) opts[k] = u8(r) % 8 ? sane[k] : f64(r);
    /* configs the core accepts can be large (it allows workspaces up to 16 GB): the harness skips
     * those past ~256 MB, which a page only asks for knowingly */
    double T = cfg[1] > 0 ? cfg[1] : 512, B = opts[0] > 0 ? opts[0] : 1, D = cfg[4], F = cfg[5], H = cfg[3];
    double est = B * T * (fabs((double)cfg[2]) * (14 * fabs(D) + 2 * fabs(F) + fabs(H) * 3 * T) + 5 * 64) +
                 16 * fabs((double)cfg[2]) * (D * D * 5 + 2 * D * F);
    if (!(est * 4 < 256e6) || opts[8] > 8 || opts[7] > 64) return;
    cope_trainer *t = cope_wasm_trainer_new(task, cfg, opts, err);
    if (!t) {
        if (!err->code) abort();
        return;
    }
    double stats[7], out[4];
    if (!cope_wasm_trainer_train(t, u8(r) % 3, stats, err) && stats[0] > 0 && !isfinite(stats[1])) abort();
    char *split = split_name(r, task);
    if (!cope_wasm_trainer_evaluate(t, split, (uint32_t)i32(r), 0, u8(r) % 4, pick(r, 4), out, err) &&
        !(out[0] >= 0 && out[0] <= 100 && out[1] >= 0 && out[1] <= 100))
        abort();
    free(split);
    char *extra = text(r, 40, NULL);
    size_t len;
    void *buf = cope_wasm_trainer_save(t, extra, &len, err);
    free(extra);
    if (buf) { /* what save() returns, the page opens */
        cope_wasm_ctx *c = cope_wasm_load(buf, len, err);
        if (!c) abort();
        cope_wasm_unload(c);
        free(buf);
    } else if (!err->code)
        abort();
    cope_wasm_trainer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model_bytes) make_model();
    cope_error *err = cope_wasm_error_new();
    cope_wasm_ctx *c = cope_wasm_load(model_bytes, model_len, err);
    if (!c) abort();
    int conf[13];
    if (cope_wasm_config(c, conf) != 13) abort();
    const int V = conf[0], L = conf[2];
    reader r = {data, size};
    for (int k = 0; k < 24 && r.n; k++) {
        err->code = 0;
        switch (u8(&r) % 9) {
        case 0: op_tokenize(c, &r, err, V); break;
        case 1: op_trace(c, &r, err, V, L); break;
        case 2: {
            char *list = text(&r, 80, NULL);
            if (cope_wasm_force_gates(c, list, err) && !err->code) abort();
            free(list);
            break;
        }
        case 3: op_step(c, &r, err, V, L); break;
        case 4: cope_wasm_reset(c); break;
        case 5: op_sample(c, &r, err, V); break;
        case 6: {
            const char *p = cope_wasm_piece(c, pick1(&r, V + 2));
            if (p && !*p) abort();
            break;
        }
        case 7: op_names(&r); break;
        default: op_train(&r, err); break;
        }
    }
    cope_wasm_unload(c);
    free(err);
    return 0;
}
