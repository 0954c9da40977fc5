/* fuzz_trace.c — libFuzzer harness: a trace and incremental decoding of a small CoPE+rel model
 * (sep keys, npos 4 so the clamp is active) on arbitrary token ids, in range or not. Valid input
 * must give finite outputs and rows that sum to 1. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cope.h"

static cope_model *model(void) {
    static cope_model *m; /* built once per fuzzing process */
    if (m) return m;
    static char store[20][8];
    const char *vocab[20];
    for (int i = 0; i < 20; i++) {
        store[i][0] = 'a' + i;
        store[i][1] = 0;
        vocab[i] = store[i];
    }
    cope_config c;
    cope_config_default(&c);
    c.vocab_size = 20;
    c.n_ctx = 48;
    c.n_layer = 2;
    c.n_head = 2;
    c.d_model = 16;
    c.d_ff = 32;
    c.pe = COPE_PE_COPE_REL;
    c.npos = 4;
    c.rel_max = 6;
    c.sep_keys = 1;
    c.per_head_table = 1;
    cope_tokenizer *t;
    if (cope_tokenizer_new(&t, COPE_TOK_WORDS, vocab, 20, NULL) || cope_model_new(&m, &c, t, 5, NULL)) abort();
    float *p = cope_model_params(m);
    cope_rng r;
    cope_rng_seed(&r, 9);
    for (size_t i = 0; i < cope_model_num_params(m); i++) p[i] += 0.5f * cope_rng_normal(&r);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cope_model *m = model();
    int T = (int)size, ids[64], valid = 1;
    if (T > 60) T = 60;
    for (int i = 0; i < T; i++) {
        ids[i] = (int)data[i] - 2; /* -2..253: mostly out of range when large */
        if (data[i] > 60) ids[i] = data[i] % 20;
        valid &= ids[i] >= 0 && ids[i] < 20;
    }
    cope_trace *tr;
    cope_error err;
    cope_status st = cope_trace_new(&tr, m, T, &err);
    if (st) {
        if (T >= 1 && T <= 48) abort();
        return 0;
    }
    st = cope_trace_run(m, tr, ids, T, &err);
    if ((st == COPE_OK) != valid) abort();
    if (!st)
        for (int l = 0; l < 2; l++)
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < T; i++) {
                    double s = 0;
                    for (int j = 0; j <= i; j++) {
                        size_t o = ((size_t)h * T + i) * T + j;
                        float a = cope_trace_get(tr, COPE_TRACE_ATTN, l)[o],
                              pa = cope_trace_get(tr, COPE_TRACE_POS_ATTN, l)[o];
                        if (!isfinite(a) || !isfinite(pa) || pa > 1.0f) abort();
                        s += a;
                    }
                    if (fabs(s - 1.0) > 1e-4) abort();
                }
    cope_trace_free(tr);
    cope_state *s;
    if (cope_state_new(&s, m, NULL)) abort();
    for (int i = 0; i < T; i++) {
        float logits[20];
        int room = cope_state_length(s) < 48;
        st = cope_step(m, s, ids[i], logits, NULL);
        if ((st == COPE_OK) != (room && ids[i] >= 0 && ids[i] < 20)) abort();
        if (!st)
            for (int v = 0; v < 20; v++)
                if (!isfinite(logits[v])) abort();
    }
    cope_state_free(s);
    return 0;
}
