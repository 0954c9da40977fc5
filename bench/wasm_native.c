/* wasm_native.c — the native side of `make bench-wasm` (bench/wasm_bench.mjs):
 *   wasm_native model OUT          writes the benchmark model: random weights (seed 1), 4 layers,
 *                                  D=128, 4 heads, d_ff=512, n_ctx 512, CoPE npos 64, 256 words;
 *                                  the CoPE tables (zero at init) get random values too
 *   wasm_native time MODEL T REPS  median time of a full trace of T tokens and the mean time per
 *                                  incremental step over T tokens, wall clock and CPU time, one
 *                                  line of JSON
 * Single-threaded when run with OMP_NUM_THREADS=1 (the runner does). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cope.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of the process: what the work cost even when other jobs share the cores */
static double cpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fail(const char *what, const cope_error *e) {
    fprintf(stderr, "wasm_native: %s: %s\n", what, e->msg);
    exit(1);
}

static void *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int make_model(const char *out) {
    cope_config c;
    cope_config_default(&c);
    c.vocab_size = 256;
    c.n_ctx = 512;
    c.n_layer = 4;
    c.n_head = 4;
    c.d_model = 128;
    c.d_ff = 512;
    c.pe = COPE_PE_COPE;
    c.npos = 64;
    static char words[256][8];
    const char *vocab[256];
    strcpy(words[0], "<unk>");
    for (int i = 1; i < 256; i++) snprintf(words[i], sizeof words[i], "w%d", i);
    for (int i = 0; i < 256; i++) vocab[i] = words[i];
    cope_error err;
    cope_tokenizer *tok;
    cope_model *m;
    if (cope_tokenizer_new(&tok, COPE_TOK_WORDS, vocab, 256, &err)) fail("tokenizer", &err);
    if (cope_model_new(&m, &c, tok, 1, &err)) fail("model", &err);
    cope_rng rng;
    cope_rng_seed(&rng, 2);
    float *p = cope_model_params(m);
    for (int i = 0; i < cope_model_num_tensors(m); i++) {
        const cope_tensor_info *t = cope_model_tensor(m, i);
        if (strstr(t->name, "attn.cope.weight"))
            for (size_t k = 0; k < t->numel; k++) p[t->offset + k] = 0.5f * cope_rng_normal(&rng);
    }
    cope_model_set_provenance(m, "{\"source\": \"bench/wasm_native.c\", \"weights\": \"random, seed 1\"}", &err);
    void *buf;
    size_t len;
    if (cope_model_save(m, &buf, &len, &err)) fail("save", &err);
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
        fprintf(stderr, "wasm_native: cannot write %s\n", out);
        return 1;
    }
    cope_free(buf);
    cope_model_free(m);
    return 0;
}

static int time_model(const char *path, int T, int reps) {
    size_t len;
    void *buf = read_all(path, &len);
    if (!buf) {
        fprintf(stderr, "wasm_native: cannot read %s\n", path);
        return 1;
    }
    cope_error err;
    cope_model *m;
    if (cope_model_load(&m, buf, len, &err)) fail(path, &err);
    free(buf);
    int V = cope_model_config(m)->vocab_size;
    int *ids = malloc((size_t)T * sizeof(int));
    for (int i = 0; i < T; i++) ids[i] = 1 + (i * 37 + 11) % (V - 1); /* the ids bench/wasm_bench.mjs uses */
    float *logits = malloc((size_t)V * sizeof(float));
    double *tt = malloc((size_t)reps * sizeof(double)), *ts = malloc((size_t)reps * sizeof(double));
    double *ct = malloc((size_t)reps * sizeof(double)), *cs = malloc((size_t)reps * sizeof(double));
    cope_trace *tr;
    cope_state *st;
    if (cope_trace_new(&tr, m, T, &err)) fail("trace", &err);
    if (cope_state_new(&st, m, &err)) fail("state", &err);
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = now(), c0 = cpu();
        if (cope_trace_run(m, tr, ids, T, &err)) fail("trace", &err);
        double t1 = now(), c1 = cpu();
        cope_state_reset(st);
        for (int i = 0; i < T; i++)
            if (cope_step(m, st, ids[i], logits, &err)) fail("step", &err);
        double t2 = now(), c2 = cpu();
        if (r >= 0) {
            tt[r] = (t1 - t0) * 1e3;
            ts[r] = (t2 - t1) * 1e3 / T;
            ct[r] = (c1 - c0) * 1e3;
            cs[r] = (c2 - c1) * 1e3 / T;
        }
    }
    printf("{\"T\": %d, \"trace_ms\": %.4f, \"step_ms\": %.5f, \"trace_cpu_ms\": %.4f, \"step_cpu_ms\": %.5f, "
           "\"logit0\": %.6g}\n",
           T, median(tt, reps), median(ts, reps), median(ct, reps), median(cs, reps), tr->logits[0]);
    cope_trace_free(tr);
    cope_state_free(st);
    cope_model_free(m);
    free(ids);
    free(logits);
    free(tt);
    free(ts);
    free(ct);
    free(cs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "model") == 0) return make_model(argv[2]);
    if (argc == 5 && strcmp(argv[1], "time") == 0) return time_model(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: wasm_native model OUT | wasm_native time MODEL T REPS\n");
    return 2;
}
