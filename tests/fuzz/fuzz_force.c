/* fuzz_force.c — libFuzzer harness: gate intervention lists (cope_gate_forces_parse, then
 * cope_trace_force_gates and a trace of a small CoPE model). A list that parses has items with
 * non-negative layers and keys and heads >= -1; one the model takes traces, and every forced gate
 * that no later item overrides holds its value in every query row from its key on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static cope_model *m;
    static cope_trace *tr;
    enum { T = 8, CAP = 32 };
    if (!m) { /* 2 layers, 2 heads, context 8: small enough that many lists are in range */
        static const char *const vocab[] = {"<unk>", "a", "b", "c"};
        cope_tokenizer *tok;
        cope_config c;
        cope_config_default(&c);
        c.vocab_size = 4, c.n_ctx = T, c.d_model = 8, c.n_head = 2, c.d_ff = 16, c.npos = 4;
        if (cope_tokenizer_new(&tok, COPE_TOK_WORDS, vocab, 4, NULL) || cope_model_new(&m, &c, tok, 1, NULL) ||
            cope_trace_new(&tr, m, T, NULL))
            abort();
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    cope_gate_force f[CAP];
    int n = -1;
    cope_error err;
    cope_status st = cope_gate_forces_parse(text, f, CAP, &n, &err);
    free(text);
    if (st) return 0;
    if (n < 0 || n > CAP) abort();
    for (int k = 0; k < n; k++)
        if (f[k].layer < 0 || f[k].key < 0 || f[k].head < -1 || !(f[k].value >= 0.0f)) abort();
    if (cope_trace_force_gates(tr, m, f, n, &err)) return 0;
    static const int ids[T] = {1, 2, 3, 1, 2, 3, 1, 2};
    if (cope_trace_run(m, tr, ids, T, &err)) abort(); /* every key the model takes is < T = n_ctx */
    for (int k = 0; k < n; k++) {
        int later = 0;
        for (int q = k + 1; q < n; q++)
            later |= f[q].layer == f[k].layer && f[q].key == f[k].key &&
                     (f[q].head == f[k].head || f[q].head < 0 || f[k].head < 0);
        if (later) continue;
        const float *g = cope_trace_get(tr, COPE_TRACE_GATES, f[k].layer);
        for (int h = 0; h < 2; h++) {
            if (f[k].head >= 0 && h != f[k].head) continue;
            for (int i = f[k].key; i < T; i++)
                if (g[((size_t)h * T + i) * T + f[k].key] != f[k].value) abort();
        }
    }
    cope_trace_force_gates(tr, m, NULL, 0, &err);
    return 0;
}
