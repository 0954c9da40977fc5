/* test_core.c — tests of the C core: golden files from the PyTorch reference (tests/reference/),
 * finite-difference gradient checks of each op, model properties (incremental decoding, gates
 * forced to 1, causal structure, threads), the safetensors loader against broken files, the
 * tokenizer and JSON parser, and a training smoke test. Usage: test_core [-v] [golden_dir] */
#include <float.h>
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
#include "kernel_check.h"
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
    if (!buf) {
        check(0, "read %s", path);
        return NULL;
    }
    cope_model *m;
    cope_error err;
    cope_status st = cope_model_load(&m, buf, len, &err);
    free(buf);
    check(st == COPE_OK, "load %s%s%s", path, st ? ": " : "", st ? err.msg : "");
    return st ? NULL : m;
}

/* ---------------------------------------------------------------------------------------------
 * Golden files */
/* Step-by-step decoding must reproduce the trace: logits and every per-head row. */
static void check_step_equals_trace(const char *name, cope_model *m, cope_trace *tr, const int *ids, int T) {
    const cope_config *c = cope_model_config(m);
    cope_state *s;
    cope_error err;
    if (cope_state_new(&s, m, &err)) {
        check(0, "%s: state_new: %s", name, err.msg);
        return;
    }
    float *logits = malloc((size_t)c->vocab_size * sizeof(float));
    double worst = 0.0;
    for (int t = 0; t < T; t++) {
        if (cope_step(m, s, ids[t], logits, &err)) {
            check(0, "%s: step %d: %s", name, t, err.msg);
            break;
        }
        for (int v = 0; v < c->vocab_size; v++) {
            double r = fabs(logits[v] - tr->logits[(size_t)t * c->vocab_size + v]) /
                       (1e-4 + 1e-4 * fabs(tr->logits[(size_t)t * c->vocab_size + v]));
            worst = r > worst ? r : worst;
        }
        for (int l = 0; l < c->n_layer; l++)
            for (int h = 0; h < c->n_head; h++)
                for (int k = 0; k < COPE_TRACE_COUNT; k++) {
                    const float *row = cope_step_row(s, l, h, k);
                    const float *ref = cope_trace_get(tr, k, l) + ((size_t)h * T + t) * T;
                    for (int j = 0; j <= t; j++) {
                        double r = fabs(row[j] - ref[j]) / (1e-4 + 1e-4 * fabs(ref[j]));
                        worst = r > worst ? r : worst;
                    }
                }
    }
    check(worst <= 1.0, "%s: incremental decoding equals the full forward (worst/tol %.3f, tol 1e-4 + 1e-4|ref|)", name,
          worst);
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
                        for (int k = 0; k < COPE_TRACE_COUNT; k++) bad_future += cope_trace_get(tr, k, l)[o] != 0.0f;
                        continue;
                    }
                    sum += cope_trace_get(tr, COPE_TRACE_ATTN, l)[o];
                    float pa = cope_trace_get(tr, COPE_TRACE_POS_ATTN, l)[o];
                    mx = pa > mx ? pa : mx;
                    if (cope_pe_has_cope(c->pe)) {
                        float p = cope_trace_get(tr, COPE_TRACE_POSITIONS, l)[o];
                        bad_pos += !(p >= 0.0f && p <= (float)(c->npos - 1));
                        if (j == i)
                            bad_pos += fabsf(p - fminf(cope_trace_get(tr, COPE_TRACE_GATES, l)[o],
                                                       (float)(c->npos - 1))) > 1e-6f;
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

/* The trace against the golden file's arrays under prefix ("trace." or "forced.trace."): the
 * logits and every layer's arrays. */
static void check_trace_golden(const char *name, const cope_config *c, const cope_trace *tr, const cope_st_file *gf,
                               const char *prefix, int T, int always_print) {
    char key[96], what[160];
    snprintf(key, sizeof key, "%slogits", prefix);
    float *ref = st_floats(gf, key, (size_t)T * c->vocab_size);
    snprintf(what, sizeof what, "%s %s", name, key);
    if (ref)
        check_close(what, tr->logits, ref, (size_t)T * c->vocab_size, ATOL, RTOL, always_print);
    else
        check(0, "%s: golden has no %s", name, key);
    free(ref);
    for (int l = 0; l < c->n_layer; l++)
        for (int a = 0; a < COPE_TRACE_COUNT; a++) {
            snprintf(key, sizeof key, "%slayers.%d.%s", prefix, l, cope_trace_name(a));
            ref = st_floats(gf, key, (size_t)c->n_head * T * T);
            snprintf(what, sizeof what, "%s %s", name, key);
            if (ref)
                check_close(what, cope_trace_get(tr, a, l), ref, (size_t)c->n_head * T * T, ATOL, RTOL, always_print);
            else
                check(0, "%s: golden has no %s", name, key);
            free(ref);
        }
}

/* Gate interventions against the reference: the golden file's forced.spec rows (layer, head or
 * -1, key, value) applied with cope_trace_force_gates give its forced.trace.* arrays; then cleared,
 * the trace is the plain one again. */
static void check_forced_trace(const char *name, cope_model *m, cope_trace *tr, const cope_st_file *gf, const int *ids,
                               int T) {
    int k = cope_st_find(gf, "forced.spec");
    const cope_config *c = cope_model_config(m);
    if (k < 0) {
        check(!cope_pe_has_cope(c->pe), "%s: a CoPE golden file has forced.spec", name);
        return;
    }
    const cope_st_tensor *t = cope_st_get(gf, k);
    int n = (int)t->shape[0];
    cope_gate_force f[16];
    if (n < 1 || n > 16) {
        check(0, "%s: forced.spec has %d rows (1..16 expected)", name, n);
        return;
    }
    float *spec = st_floats(gf, "forced.spec", (size_t)n * 4);
    for (int i = 0; i < n; i++)
        f[i] = (cope_gate_force){(int)spec[4 * i], (int)spec[4 * i + 1], (int)spec[4 * i + 2], spec[4 * i + 3]};
    free(spec);
    cope_error err;
    float *plain = malloc((size_t)T * c->vocab_size * sizeof(float));
    memcpy(plain, tr->logits, (size_t)T * c->vocab_size * sizeof(float));
    cope_status st = cope_trace_force_gates(tr, m, f, n, &err);
    if (!st) st = cope_trace_run(m, tr, ids, T, &err);
    check(!st, "%s: trace with %d gate overrides (%s)", name, n, st ? err.msg : "ok");
    check_trace_golden(name, c, tr, gf, "forced.trace.", T, 0);
    st = cope_trace_force_gates(tr, m, NULL, 0, &err);
    if (!st) st = cope_trace_run(m, tr, ids, T, &err);
    check(!st && memcmp(plain, tr->logits, (size_t)T * c->vocab_size * sizeof(float)) == 0,
          "%s: with the overrides cleared the trace is the plain one, bit for bit", name);
    /* a forced key past a shorter run fails and names it, and leaves the last trace as it was */
    f[0] = (cope_gate_force){0, 0, T - 1, 0.0f};
    st = cope_trace_force_gates(tr, m, f, 1, &err);
    if (!st) st = cope_trace_run(m, tr, ids, T - 1, &err);
    check(st == COPE_ERR_ARG && strstr(err.msg, "past the input's") && tr->T == T &&
              memcmp(plain, tr->logits, (size_t)T * c->vocab_size * sizeof(float)) == 0,
          "%s: a forced key past the input is refused, the last trace untouched (%s)", name, err.msg);
    cope_trace_force_gates(tr, m, NULL, 0, &err);
    cope_trace_run(m, tr, ids, T, &err);
    free(plain);
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
    printf("-- golden %s: pe=%s B=%d T=%d L=%d H=%d D=%d\n", name, cope_pe_name(c->pe), B, T, c->n_layer, c->n_head,
           c->d_model);
    /* loss and gradients */
    cope_workspace *ws;
    if (cope_workspace_new(&ws, m, B, T, &err)) {
        check(0, "%s: workspace: %s", name, err.msg);
        goto done;
    }
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
        if (!ref) {
            check(0, "%s: golden has no %s", name, what);
            continue;
        }
        check_close(path, grads + t->offset, ref, t->numel, ATOL, RTOL, 1);
        free(ref);
    }
    free(grads);
    cope_workspace_free(ws);
    /* trace of sequence 0 */
    cope_trace *tr;
    if (cope_trace_new(&tr, m, T, &err)) {
        check(0, "%s: trace_new: %s", name, err.msg);
        goto done;
    }
    st = cope_trace_run(m, tr, ids, T, &err);
    check(st == COPE_OK, "%s: trace", name);
    check_trace_golden(name, c, tr, gf, "trace.", T, 1);
    check_trace_structure(name, m, tr);
    check_step_equals_trace(name, m, tr, ids, T);
    check_forced_trace(name, m, tr, gf, ids, T);
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
        if (*line) {
            test_golden_config(line);
            n++;
        }
    check(n >= 10, "golden manifest lists %d configs (expected at least 10)", n);
    free(man);
}

/* ---------------------------------------------------------------------------------------------
 * Finite differences, op by op. The kernels are float; each check perturbs one input by +-eps,
 * accumulates the scalar loss L = sum(w * out) in double, and compares the central difference
 * with the analytic gradient at |fd - an| <= 2e-3 + 2e-2 |an|. */
static cope_rng g_rng;

static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * cope_rng_normal(&g_rng);
}

typedef double (*loss_fn)(void *ctx);
typedef int (*kink_fn)(void *ctx); /* a signature of the discrete state (floor of every p) */

static void fd_check(const char *what, float *x, size_t n, const float *analytic, loss_fn f, kink_fn kink, void *ctx,
                     float eps) {
    float *fd = malloc(n * sizeof(float)), *an = malloc(n * sizeof(float));
    size_t used = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        float save = x[i];
        x[i] = save + eps;
        double lp = f(ctx);
        int kp = kink ? kink(ctx) : 0;
        x[i] = save - eps;
        double lm = f(ctx);
        int km = kink ? kink(ctx) : 0;
        x[i] = save;
        if (kp != km) {
            skipped++;
            continue;
        } /* an interpolation kink lies between: skip */
        fd[used] = (float)((lp - lm) / (2.0 * eps));
        an[used] = analytic[i];
        used++;
    }
    char name[160];
    snprintf(name, sizeof name, "fd %s (%zu/%zu checked)", what, used, n);
    check_close(name, an, fd, used, 2e-3, 2e-2, 1);
    check(skipped * 2 <= n, "fd %s: at most half the entries sit next to a kink (%zu skipped)", what, skipped);
    free(fd);
    free(an);
}

/* matmul, layernorm, gelu, rope: out = op(x); L = sum(w * out) */
typedef struct {
    int kind, N, C, OC;
    float *x, *wt, *b, *out, *w, *mean, *rstd, *cs, *scratch;
} simple_op;

static void simple_forward(simple_op *o) {
    size_t n = (size_t)o->N * o->C;
    switch (o->kind) {
    case 0: matmul_forward(o->out, o->x, o->wt, o->b, o->scratch, o->N, o->C, o->OC); break;
    case 1: layernorm_forward(o->out, o->mean, o->rstd, o->x, o->wt, o->b, o->N, o->C); break;
    case 2: gelu_forward(o->out, o->x, n); break;
    case 3:
        memcpy(o->out, o->x, n * sizeof(float));
        rope_apply(o->out, o->N, o->N, 2, o->C / 2, (size_t)o->C, o->cs, +1, 0);
        break;
    }
}

static size_t simple_out_n(const simple_op *o) { return (size_t)o->N * (o->kind == 0 ? o->OC : o->C); }

static double simple_loss(void *ctx) {
    simple_op *o = ctx;
    simple_forward(o);
    double l = 0.0;
    for (size_t i = 0; i < simple_out_n(o); i++) l += (double)o->w[i] * o->out[i];
    return l;
}

static void test_fd_simple_ops(void) {
    static const char *const names[4] = {"matmul", "layernorm", "gelu", "rope"};
    for (int kind = 0; kind < 4; kind++)
        for (int variant = 0; variant < (kind == 0 ? 2 : 1); variant++) {
            simple_op o;
            memset(&o, 0, sizeof o);
            o.kind = kind;
            o.N = variant ? 2 : 5;
            o.C = 8;
            o.OC = 3;
            size_t nx = (size_t)o.N * o.C, nmax = nx + (size_t)o.N * o.OC + 64;
            o.x = calloc(nmax, 4);
            o.wt = calloc(nmax, 4);
            o.b = calloc(nmax, 4);
            o.out = calloc(nmax, 4);
            o.w = calloc(nmax, 4);
            o.mean = calloc(nmax, 4);
            o.rstd = calloc(nmax, 4);
            o.scratch = calloc(nmax, 4);
            o.cs = calloc((size_t)o.N * o.C, 4);
            for (int i = 0; i < o.N; i++) /* rope table for head dim C/2 = 4: 2 pairs */
                for (int t = 0; t < o.C / 4; t++) {
                    double th = i * pow(10000.0, -2.0 * t / (o.C / 2));
                    o.cs[(i * (o.C / 4) + t) * 2] = (float)cos(th);
                    o.cs[(i * (o.C / 4) + t) * 2 + 1] = (float)sin(th);
                }
            fill(o.x, nx, 1.0f);
            fill(o.wt, (size_t)o.OC * o.C, 0.5f);
            fill(o.b, (size_t)(kind == 0 ? o.OC : o.C), 0.5f);
            if (kind == 1)
                for (int i = 0; i < o.C; i++) o.wt[i] += 1.0f;
            fill(o.w, simple_out_n(&o), 1.0f);
            simple_forward(&o);
            float *dx = calloc(nx, 4), *dw = calloc(nmax, 4), *db = calloc(nmax, 4);
            switch (kind) {
            case 0: /* dx written over garbage (acc 0) */
                for (size_t i = 0; i < nx; i++) dx[i] = NAN;
                matmul_backward(dx, dw, db, o.w, o.x, o.wt, o.N, o.C, o.OC, 0);
                break;
            case 1: layernorm_backward(dx, dw, db, o.w, o.x, o.wt, o.mean, o.rstd, o.N, o.C); break;
            case 2:
                for (size_t i = 0; i < nx; i++) dx[i] = NAN; /* written, not accumulated */
                gelu_backward(dx, o.x, o.w, nx);
                break;
            case 3:
                memcpy(dx, o.w, nx * 4);
                rope_apply(dx, o.N, o.N, 2, o.C / 2, (size_t)o.C, o.cs, -1, 0);
                break;
            }
            char what[64];
            snprintf(what, sizeof what, "%s%s d/dx", names[kind], variant ? " (N=2 path)" : "");
            fd_check(what, o.x, nx, dx, simple_loss, NULL, &o, 1e-2f);
            if (kind <= 1) {
                snprintf(what, sizeof what, "%s%s d/dw", names[kind], variant ? " (N=2 path)" : "");
                fd_check(what, o.wt, kind == 0 ? (size_t)o.OC * o.C : (size_t)o.C, dw, simple_loss, NULL, &o, 1e-2f);
                snprintf(what, sizeof what, "%s%s d/db", names[kind], variant ? " (N=2 path)" : "");
                fd_check(what, o.b, (size_t)(kind == 0 ? o.OC : o.C), db, simple_loss, NULL, &o, 1e-2f);
            }
            free(dx);
            free(dw);
            free(db);
            free(o.x);
            free(o.wt);
            free(o.b);
            free(o.out);
            free(o.w);
            free(o.mean);
            free(o.rstd);
            free(o.scratch);
            free(o.cs);
        }
}

/* ---------------------------------------------------------------------------------------------
 * GEMM kernels: the reference and every x86 instruction set this CPU has (kernel_check.h; the wasm
 * kernel has its own test, test_simd128.c). */
static int gemm_variants(gemm_variant *v) {
    int n = 0;
    v[n++] = (gemm_variant){"portable", gemm_portable, NULL};
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        v[n++] = (gemm_variant){"avx2", gemm_avx2, NULL};
    if (__builtin_cpu_supports("avx512f")) v[n++] = (gemm_variant){"avx512", gemm_avx512, NULL};
#endif
    return n;
}

static void test_gemm_kernels(void) {
    gemm_variant vs[4];
    check_gemm_kernels(vs, gemm_variants(vs), &g_rng);
    check(gemm_best() != NULL && strlen(gemm_best_name()) > 0, "gemm dispatch chooses %s", gemm_best_name());
}

/* CoPE's positions and interpolation: the AVX-512 kernel against the portable reference
 * (kernel_check.h). Its FMA rounds c once where the reference may round twice. */
static void test_cope_interp_kernels(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (!__builtin_cpu_supports("avx512f")) {
        check(1, "cope_interp avx512: not run (this CPU has no AVX-512)");
        return;
    }
    check_cope_interp_kernel("cope_interp_avx512", cope_interp_avx512, 0, &g_rng);
#endif
}

/* The backward of CoPE's interpolation: the AVX-512 kernel against the portable reference, every
 * row length 1..70 (tails of the 16-key blocks), positions from gates as the forward makes them
 * (clamped and not, and with exact integers, where ceil == floor), z tables in and out of
 * registers (npos 64 and 80). */
static void test_cope_interp_backward_kernels(void) {
#if defined(__x86_64__) || defined(__i386__)
    if (!__builtin_cpu_supports("avx512f")) {
        check(1, "cope_interp backward avx512: not run (this CPU has no AVX-512)");
        return;
    }
    enum { NMAX = 71, ZMAX = 80 };
    float g[NMAX], z[ZMAX], p[NMAX], dl[NMAX], dgr[NMAX], dgk[NMAX], dzr[ZMAX], dzk[ZMAX], a[NMAX];
    float *work = malloc(COPE_BWD_WORK(NMAX) * sizeof(float));
    double worst = 0.0;
    long rows = 0;
    for (int np_i = 0; np_i < 2; np_i++)
        for (int kind = 0; kind < 3; kind++)
            for (int i = 0; i < NMAX; i++) {
                int np = np_i ? 80 : 64;
                float cap = kind == 1 ? 5.0f : (float)(np - 1);
                for (int j = 0; j <= i; j++)
                    g[j] = kind == 2 ? (float)cope_rng_int(&g_rng, 2) : cope_rng_uniform(&g_rng);
                for (int n = 0; n < np; n++) z[n] = 2.0f * cope_rng_uniform(&g_rng) - 1.0f;
                for (int j = 0; j <= i; j++) dl[j] = 2.0f * cope_rng_uniform(&g_rng) - 1.0f;
                if (kind != 1) cap = i + 1.0f < cap ? i + 1.0f : cap; /* keep p within the table */
                cope_interp_args f = {.i = i, .g = g, .z = z, .cap = cap, .p = p, .a = a};
                memset(a, 0, sizeof a);
                cope_interp_portable(&f);
                cope_interp_bwd_args r = {.i = i,
                                          .dl = dl,
                                          .g = g,
                                          .p = p,
                                          .z = z,
                                          .npos = np,
                                          .scale = 0.5f,
                                          .dz = dzr,
                                          .dgl = dgr,
                                          .work = work};
                cope_interp_bwd_args k = r;
                k.dz = dzk, k.dgl = dgk;
                cope_interp_backward_portable(&r);
                cope_interp_backward_avx512(&k);
                /* sums of up to 71 terms of size <= 2 in another order: 1e-5 absolute is ~100 ulp */
                for (int j = 0; j <= i; j++) {
                    double e = fabs(dgk[j] - dgr[j]) / (1e-5 + 1e-5 * fabs(dgr[j]));
                    worst = e > worst ? e : worst;
                }
                for (int n = 0; n < np; n++) {
                    double e = fabs(dzk[n] - dzr[n]) / (1e-5 + 1e-5 * fabs(dzr[n]));
                    worst = e > worst ? e : worst;
                }
                rows++;
            }
    free(work);
    check(worst <= 1.0,
          "cope_interp backward avx512: %ld rows of 1..%d keys (fractional, clamped, integer positions; z in "
          "registers and gathered) equal the reference (worst/tol %.3f)",
          rows, NMAX, worst);
#endif
}

static cope_tokenizer *word_tokenizer(int V);

/* Threads split work by output, in chunks fixed by the sizes: a model large enough that every
 * threaded kernel splits (elementwise ops above their threshold, many GEMM chunks) gives the same
 * bits with 1 and 2 threads. */
static void test_threads_bitwise(void) {
#ifdef _OPENMP
    const cope_pe pes[] = {COPE_PE_COPE, COPE_PE_COPE_REL, COPE_PE_ROPE};
    for (size_t k = 0; k < sizeof pes / sizeof *pes; k++) {
        cope_config c;
        cope_config_default(&c);
        c.vocab_size = 37;
        c.n_ctx = 80;
        c.n_layer = 2;
        c.n_head = 4;
        c.d_model = 64;
        c.d_ff = 256;
        c.pe = pes[k];
        c.npos = 24;
        c.rel_max = 16;
        c.sep_keys = k == 0;
        c.per_head_table = k == 1;
        cope_model *m = NULL;
        cope_error err;
        if (cope_model_new(&m, &c, word_tokenizer(c.vocab_size), 7, &err)) {
            check(0, "threads bitwise: model: %s", err.msg);
            continue;
        }
        const int B = 8, T = 80, N = B * T;
        int *ids = malloc(N * sizeof(int)), *tg = malloc(N * sizeof(int));
        for (int i = 0; i < N; i++)
            ids[i] = cope_rng_int(&g_rng, c.vocab_size), tg[i] = cope_rng_int(&g_rng, c.vocab_size);
        size_t np = cope_model_num_params(m);
        float *g1 = malloc(np * 4), *g2 = malloc(np * 4), l1 = 0, l2 = 0;
        cope_workspace *ws;
        cope_workspace_new(&ws, m, B, T, &err);
        /* forward, backward and an AdamW step (clipped: the norm's sum is threaded too) */
        float *p0 = malloc(np * 4), *p1 = malloc(np * 4), n1 = 0, n2 = 0;
        memcpy(p0, cope_model_params(m), np * 4);
        cope_adamw h;
        cope_adamw_default(&h);
        h.clip = 1e-3f;
        int saved = omp_get_max_threads();
        for (int th = 1; th <= 2; th++) {
            cope_optimizer *o = NULL;
            omp_set_num_threads(th);
            memcpy(cope_model_params(m), p0, np * 4);
            cope_forward(m, ws, ids, tg, NULL, B, T, th == 1 ? &l1 : &l2, &err);
            cope_backward(m, ws, th == 1 ? g1 : g2, &err);
            if (cope_optimizer_new(&o, m, &err) == COPE_OK)
                cope_optimizer_step(o, m, th == 1 ? g1 : g2, &h, th == 1 ? &n1 : &n2, &err);
            cope_optimizer_free(o);
            if (th == 1) memcpy(p1, cope_model_params(m), np * 4);
        }
        omp_set_num_threads(saved);
        check(l1 == l2 && memcmp(g1, g2, np * 4) == 0 && n1 == n2 && memcmp(p1, cope_model_params(m), np * 4) == 0,
              "%s %s: 1 thread and 2 threads give the same bits (loss %.7f, %zu gradients, their norm, the "
              "AdamW step)",
              cope_pe_name(c.pe), c.sep_keys ? "sep-keys" : "", l1, np);
        free(p0);
        free(p1);
        cope_workspace_free(ws);
        cope_model_free(m);
        free(ids);
        free(tg);
        free(g1);
        free(g2);
    }
#endif
}

/* One attention head over T tokens (all rows), with CoPE/rel options: L = sum(w * y). */
typedef struct {
    attn_dims dm;
    int T;
    float *q, *k, *kg, *v, *e, *r;       /* [T,d] x4, [d,npos], [d,R] */
    float *kt, *kgt, *vt;                /* transposed [d,T] */
    float *a, *g, *p, *z, *relz, *y, *w; /* [T,T] x3, [T,npos], [R], [T,d], [T,d] */
} head_op;

static void head_forward(head_op *o) {
    int T = o->T, d = o->dm.d;
    for (int j = 0; j < T; j++)
        for (int t = 0; t < d; t++) {
            o->kt[t * T + j] = o->k[j * d + t];
            o->kgt[t * T + j] = o->kg[j * d + t];
            o->vt[t * T + j] = o->v[j * d + t];
        }
    attn_head_fwd x = {.T = T,
                       .Q = o->q,
                       .Kt = o->kt,
                       .Kgt = o->kgt,
                       .V = o->v,
                       .ld = (size_t)d,
                       .e = o->e,
                       .r = o->r,
                       .att = o->a,
                       .gate = o->g,
                       .pos = o->p,
                       .z = o->z,
                       .relz = o->relz,
                       .Y = o->y};
    attn_head_forward(&o->dm, &x);
}

/* The decoding path (attn_row_forward, one query against transposed keys) gives the head's rows. */
static double row_path_vs_head(head_op *o) {
    int T = o->T, d = o->dm.d, np = o->dm.npos, R = o->dm.rel_max;
    float *a = calloc((size_t)T, 4), *g = calloc((size_t)T, 4), *p = calloc((size_t)T, 4), *z = calloc((size_t)np, 4);
    float *relz = calloc((size_t)R, 4), *y = calloc((size_t)d, 4);
    double worst = 0.0;
    for (int i = 0; i < T; i++) {
        attn_row_fwd x = {.q = o->q + i * d,
                          .Kt = o->kt,
                          .Kgt = o->kgt,
                          .ldk = (size_t)T,
                          .V = o->v,
                          .ldv = (size_t)d,
                          .e = o->e,
                          .r = o->r,
                          .a = a,
                          .g = g,
                          .p = p,
                          .z = z,
                          .relz = relz,
                          .y = y};
        attn_row_forward(&o->dm, i, &x);
        for (int j = 0; j <= i; j++) {
            double e = fabs(a[j] - o->a[i * T + j]) / (1e-6 + 1e-5 * fabs(o->a[i * T + j]));
            worst = e > worst ? e : worst;
        }
        for (int t = 0; t < d; t++) {
            double e = fabs(y[t] - o->y[i * d + t]) / (1e-6 + 1e-5 * fabs(o->y[i * d + t]));
            worst = e > worst ? e : worst;
        }
    }
    free(a);
    free(g);
    free(p);
    free(z);
    free(relz);
    free(y);
    return worst;
}

static double head_loss(void *ctx) {
    head_op *o = ctx;
    head_forward(o);
    double l = 0.0;
    for (int i = 0; i < o->T * o->dm.d; i++) l += (double)o->w[i] * o->y[i];
    return l;
}

static int head_kinks(void *ctx) {
    head_op *o = ctx;
    unsigned sig = 0;
    for (int i = 0; i < o->T; i++)
        for (int j = 0; j <= i; j++) sig = sig * 31u + (unsigned)floorf(o->p[i * o->T + j]);
    return (int)(sig & 0x7fffffff);
}

static void test_fd_attention(void) {
    struct {
        int cope, rel, sep, npos, R;
        const char *name;
    } variants[] = {{1, 0, 0, 16, 1, "cope shared keys"},     {1, 0, 1, 16, 1, "cope sep keys"},
                    {1, 0, 0, 3, 1, "cope clamped (npos 3)"}, {0, 1, 0, 1, 3, "rel (R 3)"},
                    {1, 1, 1, 4, 4, "cope+rel sep keys"},     {0, 0, 0, 1, 1, "content only"}};
    for (size_t vi = 0; vi < sizeof variants / sizeof *variants; vi++) {
        head_op o;
        memset(&o, 0, sizeof o);
        int T = 7, d = 4;
        o.T = T;
        o.dm = (attn_dims){
            d, variants[vi].npos, variants[vi].R, variants[vi].cope, variants[vi].rel, variants[vi].sep, 0.5f};
        int np = o.dm.npos, R = o.dm.rel_max;
        float **bufs[] = {&o.q, &o.k, &o.kg, &o.v, &o.kt, &o.kgt, &o.vt, &o.y, &o.w};
        for (size_t b = 0; b < sizeof bufs / sizeof *bufs; b++) {
            *bufs[b] = calloc((size_t)T * d, 4);
            fill(*bufs[b], (size_t)T * d, 1.0f);
        }
        o.e = calloc((size_t)d * np, 4);
        fill(o.e, (size_t)d * np, 1.0f);
        o.r = calloc((size_t)d * R, 4);
        fill(o.r, (size_t)d * R, 1.0f);
        o.a = calloc((size_t)T * T, 4);
        o.g = calloc((size_t)T * T, 4);
        o.p = calloc((size_t)T * T, 4);
        o.z = calloc((size_t)T * np, 4);
        o.relz = calloc((size_t)T * R, 4);
        head_forward(&o);
        double rw = row_path_vs_head(&o);
        check(rw <= 1.0,
              "attention %s: the decoding row path equals the head's GEMM path (worst/tol %.3f, 1e-6 + 1e-5|ref|)",
              variants[vi].name, rw);
        /* analytic: the head's backward, then the table reductions */
        float *dq = calloc((size_t)T * d, 4), *dk = calloc((size_t)T * d, 4), *dkg = calloc((size_t)T * d, 4);
        float *dv = calloc((size_t)T * d, 4), *de = calloc((size_t)d * np, 4), *dr = calloc((size_t)d * R, 4);
        float *dz = calloc((size_t)T * np, 4), *drelz = calloc((size_t)T * R, 4);
        float *scratch = calloc(ATTN_BWD_SCRATCH(T), 4);
        for (size_t i = 0; i < (size_t)T * d; i++) dq[i] = dk[i] = dkg[i] = dv[i] = NAN; /* written, not added to */
        float *coef = calloc((size_t)T * T, 4), *coefg = calloc((size_t)T * T, 4);
        float *tab_t = calloc((size_t)d * (np > R ? np : R), 4);
        attn_head_bwd hb = {.T = T,
                            .Q = o.q,
                            .K = o.k,
                            .Kg = o.kg,
                            .Vt = o.vt,
                            .ld = (size_t)d,
                            .e = o.e,
                            .r = o.r,
                            .att = o.a,
                            .gate = o.g,
                            .pos = o.p,
                            .z = o.z,
                            .dY = o.w,
                            .dQ = dq,
                            .dK = dk,
                            .dKg = o.dm.sep_keys ? dkg : NULL,
                            .dV = dv,
                            .dz = dz,
                            .drelz = drelz,
                            .coef = coef,
                            .coefg = o.dm.sep_keys ? coefg : NULL,
                            .tab_t = tab_t,
                            .scratch = scratch};
        attn_head_backward(&o.dm, &hb);
        for (int i = 0; i < T; i++)
            for (int t = 0; t < d; t++) {
                if (o.dm.has_cope)
                    for (int n = 0; n < np; n++) de[t * np + n] += o.q[i * d + t] * dz[i * np + n];
                if (o.dm.has_rel)
                    for (int m = 0; m < R; m++) dr[t * R + m] += o.q[i * d + t] * drelz[i * R + m];
            }
        char what[96];
        float *xs[] = {o.q, o.k, o.kg, o.v, o.e, o.r};
        float *ds[] = {dq, dk, dkg, dv, de, dr};
        size_t ns[] = {(size_t)T * d, (size_t)T * d, (size_t)T * d, (size_t)T * d, (size_t)d * np, (size_t)d * R};
        const char *nm[] = {"q", "k", "kg", "v", "cope table", "rel table"};
        for (int x = 0; x < 6; x++) {
            if ((x == 2 && !o.dm.sep_keys) || (x == 4 && !o.dm.has_cope) || (x == 5 && !o.dm.has_rel)) continue;
            snprintf(what, sizeof what, "attention %s d/d%s", variants[vi].name, nm[x]);
            fd_check(what, xs[x], ns[x], ds[x], head_loss, o.dm.has_cope ? head_kinks : NULL, &o, 2e-3f);
        }
        for (size_t b = 0; b < sizeof bufs / sizeof *bufs; b++) free(*bufs[b]);
        free(o.e);
        free(o.r);
        free(o.a);
        free(o.g);
        free(o.p);
        free(o.z);
        free(o.relz);
        free(dq);
        free(dk);
        free(dkg);
        free(dv);
        free(de);
        free(dr);
        free(coef);
        free(coefg);
        free(tab_t);
        free(dz);
        free(drelz);
        free(scratch);
    }
}

/* Gates forced to 1 (kg = 100 q, so sigmoid saturates to exactly 1.0f): p_ij = min(i-j+1, npos-1). */
static void test_gates_one(void) {
    int T = 12, d = 4, npos = 8;
    attn_dims dm = {d, npos, 1, 1, 0, 1, 0.5f};
    float q[4] = {1, -1, 0.5f, 2}, kgt[4 * 12], kt[4 * 12], v[12 * 4], e[4 * 8];
    fill(kt, sizeof kt / 4, 1.0f);
    fill(v, sizeof v / 4, 1.0f);
    fill(e, sizeof e / 4, 1.0f);
    for (int t = 0; t < d; t++)
        for (int j = 0; j < T; j++) kgt[t * T + j] = 100.0f * q[t];
    float a[12], g[12], p[12], z[8], y[4], relz[1];
    int bad = 0;
    for (int i = 0; i < T; i++) {
        attn_row_fwd x = {.q = q,
                          .Kt = kt,
                          .Kgt = kgt,
                          .ldk = (size_t)T,
                          .V = v,
                          .ldv = (size_t)d,
                          .e = e,
                          .a = a,
                          .g = g,
                          .p = p,
                          .z = z,
                          .relz = relz,
                          .y = y};
        attn_row_forward(&dm, i, &x);
        for (int j = 0; j <= i; j++) {
            float want = (float)(i - j + 1 < npos - 1 ? i - j + 1 : npos - 1);
            bad += g[j] != 1.0f || p[j] != want;
        }
    }
    check(!bad, "gates forced to 1 give p_ij = min(i-j+1, npos-1) exactly (%d mismatches)", bad);
}

/* ---------------------------------------------------------------------------------------------
 * Random models of every PE variant: model-level finite differences, step == trace, threads */
static cope_tokenizer *word_tokenizer(int V) {
    static char store[256][8];
    const char *vocab[256];
    for (int i = 0; i < V && i < 256; i++) {
        snprintf(store[i], sizeof store[i], i ? "w%d" : "<unk>", i);
        vocab[i] = store[i];
    }
    cope_tokenizer *t;
    cope_error err;
    if (cope_tokenizer_new(&t, COPE_TOK_WORDS, vocab, V, &err)) return NULL;
    return t;
}

static cope_model *random_model(cope_pe pe, int sep, int per_head, int npos, int n_ctx, uint64_t seed) {
    cope_config c;
    cope_config_default(&c);
    c.vocab_size = 13;
    c.n_ctx = n_ctx;
    c.n_layer = 2;
    c.n_head = 2;
    c.d_model = 8;
    c.d_ff = 12;
    c.pe = pe;
    c.npos = npos;
    c.sep_keys = sep;
    c.per_head_table = per_head;
    c.rel_max = 5;
    c.tied = !sep;
    cope_model *m;
    cope_error err;
    if (cope_model_new(&m, &c, word_tokenizer(c.vocab_size), seed, &err)) {
        check(0, "model_new: %s", err.msg);
        return NULL;
    }
    /* the seeded init is deliberately small; spread the weights so gates and positions vary */
    float *p = cope_model_params(m);
    for (size_t i = 0; i < cope_model_num_params(m); i++) p[i] += 0.4f * cope_rng_normal(&g_rng);
    return m;
}

static double model_loss(cope_model *m, cope_workspace *ws, const int *ids, const int *tg, const float *mask, int B,
                         int T) {
    float loss;
    cope_forward(m, ws, ids, tg, mask, B, T, &loss, NULL);
    return loss;
}

static void test_models_all_pe(void) {
    for (int pe = 0; pe < COPE_PE_COUNT; pe++)
        for (int opt = 0; opt < (cope_pe_has_cope((cope_pe)pe) ? 2 : 1); opt++) {
            int T = 23, B = 2;
            cope_model *m = random_model((cope_pe)pe, opt, opt, opt ? 6 : 32, 30, 100 + pe);
            if (!m) continue;
            char name[64];
            snprintf(name, sizeof name, "random %s%s", cope_pe_name((cope_pe)pe),
                     opt ? " sep-keys per-head npos 6" : "");
            int ids[46], tg[46];
            float mask[46];
            for (int i = 0; i < B * T; i++) {
                ids[i] = cope_rng_int(&g_rng, 13);
                tg[i] = cope_rng_int(&g_rng, 13);
                mask[i] = (float)(i % 3 != 0);
            }
            cope_workspace *ws;
            cope_error err;
            cope_workspace_new(&ws, m, B, T, &err);
            float *g = calloc(cope_model_num_params(m), 4);
            double l0 = model_loss(m, ws, ids, tg, mask, B, T);
            /* model-level finite differences on a sample of parameters in every tensor, on the
             * first sequence; a parameter whose +-eps moves any p_ij across an integer is skipped */
            float *p = cope_model_params(m);
            float an[512], fd[512];
            int n = 0, skipped = 0;
            cope_workspace *ws1;
            cope_trace *kt;
            cope_workspace_new(&ws1, m, 1, T, &err);
            cope_trace_new(&kt, m, T, &err);
            float *g1 = calloc(cope_model_num_params(m), 4);
            model_loss(m, ws1, ids, tg, mask, 1, T);
            cope_backward(m, ws1, g1, &err);
            for (int ti = 0; ti < cope_model_num_tensors(m); ti++) {
                const cope_tensor_info *t = cope_model_tensor(m, ti);
                for (int s = 0; s < 4 && n < 512; s++) {
                    size_t k = t->offset + (size_t)cope_rng_int(&g_rng, (int)t->numel);
                    float save = p[k], eps = 1e-3f;
                    unsigned long sig[2];
                    double l[2];
                    for (int side = 0; side < 2; side++) {
                        p[k] = save + (side ? -eps : eps);
                        l[side] = model_loss(m, ws1, ids, tg, mask, 1, T);
                        cope_trace_run(m, kt, ids, T, &err);
                        sig[side] = 0;
                        for (int ll = 0; ll < kt->n_layer; ll++)
                            for (size_t e = 0; e < (size_t)kt->n_head * T * T; e++)
                                sig[side] = sig[side] * 31u +
                                            (unsigned long)floorf(cope_trace_get(kt, COPE_TRACE_POSITIONS, ll)[e]);
                    }
                    p[k] = save;
                    if (sig[0] != sig[1]) {
                        skipped++;
                        continue;
                    }
                    an[n] = g1[k];
                    fd[n] = (float)((l[0] - l[1]) / (2.0 * eps));
                    n++;
                }
            }
            free(g1);
            cope_trace_free(kt);
            cope_workspace_free(ws1);
            char what[128];
            snprintf(what, sizeof what, "%.40s: model-level fd, %d params (%d next to a kink skipped)", name, n,
                     skipped);
            check_close(what, an, fd, (size_t)n, 2e-3, 2e-2, 1);
            check(n >= 60, "%s: at least 60 sampled parameters away from kinks (%d of %d skipped)", name, skipped,
                  n + skipped);
            check(isfinite(l0) && l0 > 0.0, "%s: loss %.4f is finite and positive", name, l0);
#ifdef _OPENMP
            /* threads: 1 vs 2 give the same loss and gradients (work is split by output) */
            float *gt1 = calloc(cope_model_num_params(m), 4);
            int saved = omp_get_max_threads();
            omp_set_num_threads(1);
            double l1 = model_loss(m, ws, ids, tg, mask, B, T);
            cope_backward(m, ws, gt1, &err);
            omp_set_num_threads(2);
            double l2 = model_loss(m, ws, ids, tg, mask, B, T);
            cope_backward(m, ws, g, &err);
            omp_set_num_threads(saved);
            snprintf(what, sizeof what, "%s: 1 thread == 2 threads (gradients)", name);
            check_close(what, g, gt1, cope_model_num_params(m), 1e-6, 1e-5, 0);
            check(fabs(l1 - l2) <= 1e-6 * fabs(l1), "%s: 1 thread == 2 threads (loss %.7f vs %.7f)", name, l1, l2);
            free(gt1);
#endif
            /* trace and incremental decoding */
            cope_trace *tr;
            if (!cope_trace_new(&tr, m, T, &err) && !cope_trace_run(m, tr, ids, T, &err)) {
                check_trace_structure(name, m, tr);
                check_step_equals_trace(name, m, tr, ids, T);
                /* the trace's logits equal the batched forward's first sequence */
                model_loss(m, ws, ids, tg, mask, B, T);
                snprintf(what, sizeof what, "%s: trace logits == batch forward", name);
                check_close(what, tr->logits, cope_workspace_logits(ws), (size_t)T * 13, 1e-5, 1e-5, 0);
                /* what a trace costs: at least its arrays and logits, growing with the length */
                const cope_config *g = cope_model_config(m);
                double arrays = 4.0 * ((double)COPE_TRACE_COUNT * g->n_layer * g->n_head * T * T + (double)T * 13);
                check(cope_trace_bytes(m, T) >= arrays && cope_trace_bytes(m, T + 1) > cope_trace_bytes(m, T) &&
                          cope_trace_bytes(m, 0) == 0 && cope_trace_bytes(NULL, T) == 0,
                      "%s: cope_trace_bytes %.0f for %d tokens (arrays and logits %.0f)", name, cope_trace_bytes(m, T),
                      T, arrays);
                cope_trace_free(tr);
            } else
                check(0, "%s: trace: %s", name, err.msg);
            free(g);
            cope_workspace_free(ws);
            cope_model_free(m);
        }
}

/* ---------------------------------------------------------------------------------------------
 * Loader: round trip and every kind of bad file */
typedef struct {
    unsigned char *buf;
    size_t len;
} bytes;

/* Replaces the first occurrence of `from` in the header with `to`; re-pads and fixes the length. */
static bytes mutate_header(const bytes *in, const char *from, const char *to) {
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | in->buf[i];
    const char *h = (const char *)in->buf + 8;
    char *hdr = malloc(hlen + 1);
    memcpy(hdr, h, hlen);
    hdr[hlen] = '\0';
    char *at = strstr(hdr, from);
    bytes out = {NULL, 0};
    if (!at) {
        free(hdr);
        return out;
    }
    size_t pre = (size_t)(at - hdr), fl = strlen(from), tl = strlen(to), rest = hlen - pre - fl;
    size_t nh = pre + tl + rest;
    size_t data = in->len - 8 - hlen;
    out.len = 8 + nh + data;
    out.buf = malloc(out.len);
    for (int i = 0; i < 8; i++) out.buf[i] = (unsigned char)((uint64_t)nh >> (8 * i));
    memcpy(out.buf + 8, hdr, pre);
    memcpy(out.buf + 8 + pre, to, tl);
    memcpy(out.buf + 8 + pre + tl, at + fl, rest);
    memcpy(out.buf + 8 + nh, in->buf + 8 + hlen, data);
    free(hdr);
    return out;
}

static bytes write_model_tensors(cope_model *m, int drop, int extra, int i32_at) {
    int n = cope_model_num_tensors(m);
    cope_st_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (i == drop) continue;
        const cope_tensor_info *t = cope_model_tensor(m, i);
        ts[k] = (cope_st_tensor){t->name,
                                 i == i32_at ? COPE_ST_I32 : COPE_ST_F32,
                                 t->ndim,
                                 {t->shape[0], t->shape[1], t->shape[2]},
                                 t->numel,
                                 t->numel * 4,
                                 cope_model_params(m) + t->offset};
        k++;
    }
    if (extra)
        ts[k++] = (cope_st_tensor){"blocks.0.attn.extra.weight", COPE_ST_F32, 1, {2}, 2, 8, cope_model_params(m)};
    /* the real model's config, taken from a normal save */
    void *full;
    size_t flen;
    cope_model_save(m, &full, &flen, NULL);
    cope_st_file *f;
    cope_st_open(&f, full, flen, NULL);
    const char *cfg = cope_st_metadata(f, "cope_config", NULL);
    bytes out = {NULL, 0};
    void *b;
    if (!cope_st_write(ts, k, "cope_config", cfg, &b, &out.len, NULL)) out.buf = b;
    cope_st_close(f);
    cope_free(full);
    free(ts);
    return out;
}

static void expect_load(const char *what, const bytes *b, cope_status want) {
    cope_model *m = NULL;
    cope_error err = {0};
    if (!b->buf) {
        check(0, "%s: could not build the broken file", what);
        return;
    }
    cope_status st = cope_model_load(&m, b->buf, b->len, &err);
    check(st == want && (st == COPE_OK || err.msg[0]), "loader rejects %s => %s => %s", what, cope_strerror(st),
          st ? err.msg : "");
    if (st != want) printf("     expected %s\n", cope_strerror(want));
    cope_model_free(m);
}

/* The pe names for messages: every cope_pe_name once, in enum order, each one parsing back; a
 * short buffer is cut, never overrun. */
static void test_pe_list(void) {
    char list[COPE_PE_LIST_LEN], want[256] = "";
    int parse = 1;
    for (int i = 0; i < COPE_PE_COUNT; i++) {
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? ", " : "", cope_pe_name((cope_pe)i));
        cope_pe pe;
        parse &= cope_pe_parse(cope_pe_name((cope_pe)i), &pe) == COPE_OK && pe == (cope_pe)i;
    }
    check(strcmp(cope_pe_list(list, sizeof list), want) == 0 &&
              strcmp(list, "none, abs, rel, rope, cope, cope+rel, cope+rope") == 0 && parse,
          "pe list: \"%s\", each name parses back", list);
    char small[10];
    memset(small, 'x', sizeof small);
    check(strcmp(cope_pe_list(small, sizeof small), "none, abs") == 0, "pe list: cut to the buffer (\"%s\")", small);
}

static void test_loader(void) {
    cope_model *m = random_model(COPE_PE_COPE_REL, 1, 1, 8, 16, 7);
    if (!m) return;
    cope_error err;
    if (cope_model_set_provenance(m, "{\"task\": \"test \\\"quoted\\\" \\u00e9\", \"n\": [1, 2.5e-3]}", &err))
        check(0, "provenance: %s", err.msg);
    bytes ok;
    void *b;
    check(cope_model_save(m, &b, &ok.len, &err) == COPE_OK, "save");
    ok.buf = b;
    check(ok.len % 4 == 0 && (ok.buf[0] | ok.buf[1] << 8) % 8 == 0, "saved header length is a multiple of 8");
    /* round trip: same params, same config, same bytes when saved again */
    cope_model *m2 = NULL;
    cope_status st = cope_model_load(&m2, ok.buf, ok.len, &err);
    check(st == COPE_OK, "load what we saved%s%s", st ? ": " : "", st ? err.msg : "");
    if (m2) {
        check(memcmp(cope_model_params(m), cope_model_params(m2), cope_model_num_params(m) * 4) == 0,
              "round trip keeps every parameter bit");
        check(strcmp(cope_model_provenance(m), cope_model_provenance(m2)) == 0, "round trip keeps provenance verbatim");
        void *b2;
        size_t l2;
        cope_model_save(m2, &b2, &l2, NULL);
        check(l2 == ok.len && memcmp(b2, ok.buf, l2) == 0, "save(load(save(m))) is byte-identical");
        cope_free(b2);
        cope_model_free(m2);
    }
    /* each kind of broken file */
    bytes t = ok;
    t.len = 4;
    expect_load("file of 4 bytes", &t, COPE_ERR_TRUNCATED);
    t.len = 40;
    expect_load("file cut inside the header", &t, COPE_ERR_TRUNCATED);
    t.len = ok.len - 1;
    expect_load("file cut inside the data", &t, COPE_ERR_TRUNCATED);
    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    t.buf = big;
    t.len = sizeof big;
    expect_load("absurd header length", &t, COPE_ERR_HEADER);
    struct {
        const char *what, *from, *to;
        cope_status want;
    } muts[] = {
        {"bad JSON in the header", "{\"__metadata__\"", "{\"__metadata__\" :: ", COPE_ERR_JSON},
        {"header that is not an object", "{\"__metadata__\": {", "[{\"__metadata__\": {", COPE_ERR_JSON},
        {"dtype F16", "\"dtype\": \"F32\"", "\"dtype\": \"F16\"", COPE_ERR_DTYPE},
        {"wrong shape", "\"shape\": [13, 8]", "\"shape\": [8, 13]", COPE_ERR_SHAPE},
        {"offsets past the data", "\"data_offsets\": [0, 416]", "\"data_offsets\": [99999584, 100000000]",
         COPE_ERR_OFFSETS},
        {"offsets of the wrong size", "\"data_offsets\": [0, 416]", "\"data_offsets\": [0, 412]", COPE_ERR_OFFSETS},
        {"negative offsets", "\"data_offsets\": [0, 416]", "\"data_offsets\": [-4, 412]", COPE_ERR_OFFSETS},
        {"overlapping tensors", "\"data_offsets\": [416, 448]", "\"data_offsets\": [0, 32]", COPE_ERR_OVERLAP},
        {"no cope_config", "\"cope_config\"", "\"other_config\"", COPE_ERR_MISSING},
        {"unknown config key", "\\\"tied\\\": false", "\\\"tied\\\": false, \\\"colour\\\": 1", COPE_ERR_UNKNOWN},
        {"bad config JSON", "\\\"tied\\\": false", "\\\"tied\\\": fals", COPE_ERR_JSON},
        {"config format not cope", "\\\"format\\\": \\\"cope\\\"", "\\\"format\\\": \\\"gpt\\\"", COPE_ERR_CONFIG},
        {"vocab_size != vocab length", "\\\"vocab_size\\\": 13", "\\\"vocab_size\\\": 12", COPE_ERR_CONFIG},
        {"n_head not dividing d_model", "\\\"n_head\\\": 2", "\\\"n_head\\\": 3", COPE_ERR_CONFIG},
        {"absurd n_layer", "\\\"n_layer\\\": 2", "\\\"n_layer\\\": 100000", COPE_ERR_LIMIT},
        {"unknown pe", "\\\"pe\\\": \\\"cope+rel\\\"", "\\\"pe\\\": \\\"alibi\\\"", COPE_ERR_CONFIG},
        {"missing npos", "\\\"npos\\\": 8, ", "", COPE_ERR_MISSING},
        {"duplicate vocab entry", "\\\"w2\\\"", "\\\"w1\\\"", COPE_ERR_CONFIG},
        {"metadata value not a string", "{\"__metadata__\": {", "{\"__metadata__\": {\"x\": 1, ", COPE_ERR_HEADER},
        {"tensor listed twice", "\"ln_f.bias\"", "\"ln_f.weight\"", COPE_ERR_HEADER},
    };
    for (size_t i = 0; i < sizeof muts / sizeof *muts; i++) {
        bytes mb = mutate_header(&ok, muts[i].from, muts[i].to);
        expect_load(muts[i].what, &mb, muts[i].want);
        free(mb.buf);
    }
    bytes w;
    w = write_model_tensors(m, 3, 0, -1);
    expect_load("a missing tensor", &w, COPE_ERR_MISSING);
    free(w.buf);
    w = write_model_tensors(m, -1, 1, -1);
    expect_load("an unknown tensor", &w, COPE_ERR_UNKNOWN);
    free(w.buf);
    w = write_model_tensors(m, -1, 0, 2);
    expect_load("an I32 weight", &w, COPE_ERR_DTYPE);
    free(w.buf);
    float *p = cope_model_params(m);
    float save = p[5];
    p[5] = NAN;
    w = write_model_tensors(m, -1, 0, -1);
    expect_load("a NaN weight", &w, COPE_ERR_NONFINITE);
    free(w.buf);
    p[5] = INFINITY;
    w = write_model_tensors(m, -1, 0, -1);
    expect_load("an Inf weight", &w, COPE_ERR_NONFINITE);
    free(w.buf);
    p[5] = save;
    w = write_model_tensors(m, -1, 0, -1);
    expect_load("(control) the same file intact", &w, COPE_OK);
    free(w.buf);
    /* every prefix of a valid file is rejected cleanly (no crash; ASan checks reads) */
    int clean = 1;
    for (size_t len = 0; len < ok.len; len += (len < 600 ? 1 : 97)) {
        cope_model *x = NULL;
        if (cope_model_load(&x, ok.buf, len, NULL) == COPE_OK) clean = 0;
        cope_model_free(x);
    }
    check(clean, "every truncated prefix of a valid file is rejected");
    cope_free(ok.buf);
    cope_model_free(m);
}

/* ---------------------------------------------------------------------------------------------
 * Tokenizer and JSON */
static void test_tokenizer(void) {
    const char *vocab[] = {"<unk>", "a", "=", "0", ";", "pass;", "++;", "print"};
    cope_tokenizer *t;
    cope_error err;
    check(cope_tokenizer_new(&t, COPE_TOK_WORDS, vocab, 8, &err) == COPE_OK, "words tokenizer");
    const char *text = "A = 0 ; pass;\n a ++;  print   a b";
    int ids[16], spans[32], n, unk;
    cope_tokenize(t, text, strlen(text), ids, spans, 16, &n, &unk, &err);
    int want[] = {1, 2, 3, 4, 5, 1, 6, 7, 1, 0};
    check(n == 10 && unk == 1 && memcmp(ids, want, sizeof want) == 0,
          "words: lower-cased, split on whitespace, unknown -> <unk> (n=%d unk=%d)", n, unk);
    check(spans[2 * 9] == (int)strlen(text) - 1 && spans[2 * 9 + 1] == 1 && spans[2 * 4] == 8 && spans[2 * 4 + 1] == 5,
          "words: byte spans");
    cope_tokenize(t, text, strlen(text), ids, NULL, 3, &n, &unk, &err);
    check(n == 10, "words: count reported past max_ids");
    cope_tokenize(t, "   \n ", 5, ids, NULL, 16, &n, &unk, &err);
    check(n == 0, "words: blank text has no tokens");
    cope_tokenizer_free(t);
    const char *cv[] = {"<unk>", "h", "\xc3\xa9", "l", "o", "\n", " "};
    check(cope_tokenizer_new(&t, COPE_TOK_CHARS, cv, 7, &err) == COPE_OK, "chars tokenizer");
    const char *ct = "h\xc3\xa9llo\n\xff x";
    cope_tokenize(t, ct, strlen(ct), ids, spans, 16, &n, &unk, &err);
    int cw[] = {1, 2, 3, 3, 4, 5, 0, 6, 0};
    check(n == 9 && unk == 2 && memcmp(ids, cw, sizeof cw) == 0 && spans[2 * 2] == 3,
          "chars: UTF-8 code points, invalid byte -> one <unk>");
    cope_tokenizer_free(t);
    const char *nounk[] = {"a", "b"};
    cope_tokenizer_new(&t, COPE_TOK_WORDS, nounk, 2, &err);
    check(cope_tokenize(t, "a c", 3, ids, NULL, 16, &n, &unk, &err) == COPE_ERR_TOKEN,
          "no <unk>: unknown word is an error: %s", err.msg);
    cope_tokenizer_free(t);
    const char *dup[] = {"a", "a"}, *ws[] = {"a b"}, *up[] = {"A"}, *empty[] = {""}, *two[] = {"ab"};
    check(cope_tokenizer_new(&t, COPE_TOK_WORDS, dup, 2, &err) == COPE_ERR_CONFIG, "duplicate piece rejected: %s",
          err.msg);
    check(cope_tokenizer_new(&t, COPE_TOK_WORDS, ws, 1, &err) == COPE_ERR_CONFIG, "piece with whitespace rejected: %s",
          err.msg);
    check(cope_tokenizer_new(&t, COPE_TOK_WORDS, up, 1, &err) == COPE_ERR_CONFIG, "upper-case word rejected: %s",
          err.msg);
    check(cope_tokenizer_new(&t, COPE_TOK_WORDS, empty, 1, &err) == COPE_ERR_CONFIG, "empty piece rejected: %s",
          err.msg);
    check(cope_tokenizer_new(&t, COPE_TOK_CHARS, two, 1, &err) == COPE_ERR_CONFIG,
          "multi-char piece in a chars vocab rejected: %s", err.msg);
    check(cope_tokenizer_new(&t, COPE_TOK_TEXT, up, 1, &err) == COPE_ERR_CONFIG, "text: upper-case word rejected: %s",
          err.msg);
    /* text: words split from punctuation, one "\n" for a line break and the blank lines after it */
    const char *tv[] = {"<unk>", "\n", "=", "the", "os", ".", "path", "(", ")", "is_dir", "3", "caf\xc3\xa9", ","};
    check(cope_tokenizer_new(&t, COPE_TOK_TEXT, tv, 13, &err) == COPE_OK, "text tokenizer");
    const char *tt = "= The =\n\n  os.path(),is_dir 3 Caf\xc3\xa9 Don't\n \n\nthe";
    int tw[] = {2, 3, 2, 1, 4, 5, 6, 7, 8, 12, 9, 10, 11, 0, 0, 0, 1, 3};
    int ti[24], ts[48];
    cope_tokenize(t, tt, strlen(tt), ti, ts, 24, &n, &unk, &err);
    check(n == 18 && unk == 3 && memcmp(ti, tw, sizeof tw) == 0, "text: words, punctuation, line breaks (n=%d)", n);
    check(ts[2 * 3] == 7 && ts[2 * 3 + 1] == 2 && ts[2 * 4] == 11 && ts[2 * 4 + 1] == 2 && ts[2 * 12] == 30 &&
              ts[2 * 12 + 1] == 5 && ts[2 * 13] == 36 && ts[2 * 13 + 1] == 3 && ts[2 * 16] == 41 && ts[2 * 16 + 1] == 4,
          "text: byte spans (a break spans its blank lines)");
    cope_tokenizer_free(t);
    const char *tnl[] = {"<unk>", "a"};
    cope_tokenizer_new(&t, COPE_TOK_TEXT, tnl, 2, &err);
    cope_tokenize(t, "a\n\na", 4, ids, NULL, 16, &n, &unk, &err);
    check(n == 2 && unk == 0, "text without \"\\n\" in the vocabulary: line breaks are spaces");
    cope_tokenizer_free(t);
    /* a vocabulary from text: the most frequent pieces, ties in byte order, min_count */
    const char *corpus = "The cat, the dog. The end\n\nA cat; a dog. <pad> once";
    err.msg[0] = '\0';
    check(cope_tokenizer_from_text(&t, COPE_TOK_TEXT, corpus, strlen(corpus), 6, 2, &err) == COPE_OK,
          "vocabulary from text: %s", err.msg);
    const char *vw[] = {"<unk>", "<pad>", "\n", "the", ".", "a"};
    int same = cope_tokenizer_size(t) == 6;
    for (int k = 0; same && k < 6; k++) same = strcmp(cope_tokenizer_piece(t, k), vw[k]) == 0;
    check(same, "vocabulary from text: specials, then by count and bytes, max size kept");
    cope_tokenizer_free(t);
    check(cope_tokenizer_from_text(&t, COPE_TOK_TEXT, corpus, strlen(corpus), 100, 2, &err) == COPE_OK &&
              cope_tokenizer_size(t) == 8 && cope_tokenizer_id(t, "dog") == 7 && cope_tokenizer_id(t, "end") < 0,
          "vocabulary from text: pieces seen fewer than min_count times left out");
    cope_tokenizer_free(t);
    check(cope_tokenizer_from_text(&t, COPE_TOK_TEXT, "a \0 b\0", 6, 10, 1, &err) == COPE_OK &&
              cope_tokenizer_size(t) == 5,
          "vocabulary from text: a NUL byte is no piece");
    cope_tokenizer_free(t);
    check(cope_tokenizer_from_text(&t, COPE_TOK_CHARS, corpus, 4, 10, 1, &err) == COPE_ERR_ARG && !t,
          "vocabulary from text: chars refused: %s", err.msg);
    /* language-model windows of a corpus */
    int toks[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, wi[12], wt[12];
    float wm[12];
    cope_rng rng;
    cope_rng_seed(&rng, 5);
    int ok = cope_corpus_batch(toks, 10, &rng, 3, 4, wi, wt, wm, &err) == COPE_OK, hit_end = 0;
    for (int r = 0; r < 200 && ok; r++) {
        cope_corpus_batch(toks, 10, &rng, 3, 4, wi, wt, wm, &err);
        for (int b = 0; b < 3; b++) {
            ok &= wi[b * 4] >= 0 && wi[b * 4] <= 5 && wm[b * 4 + 3] == 1.0f;
            for (int k = 0; k < 4; k++) ok &= wi[b * 4 + k] == wi[b * 4] + k && wt[b * 4 + k] == wi[b * 4] + k + 1;
            hit_end |= wt[b * 4 + 3] == 9;
        }
    }
    check(ok && hit_end, "corpus windows: consecutive tokens, targets shifted by one, the last token reachable");
    check(cope_corpus_batch(toks, 4, &rng, 1, 4, wi, wt, wm, &err) == COPE_ERR_ARG, "corpus shorter than a window: %s",
          err.msg);
}

#include "../core/json.h"

static void test_json(void) {
    json_doc d;
    const char *good =
        " {\"a\": [1, -2.5e3, true, false, null], \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"} ";
    cope_status st = json_parse(&d, good, strlen(good), NULL);
    check(st == COPE_OK, "JSON: valid document parses");
    if (!st) {
        int s = json_get(&d, 0, "s"), a = json_get(&d, 0, "a");
        check(s >= 0 && strcmp(d.nodes[s].str, "q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80") == 0,
              "JSON: escapes and surrogate pairs decode to UTF-8");
        check(a >= 0 && d.nodes[a].count == 5 && d.nodes[d.nodes[d.nodes[a].first_child].next].num == -2500.0,
              "JSON: arrays and numbers");
        json_free(&d);
    }
    const char *bad[] = {"",
                         "{",
                         "{\"a\":1,}",
                         "[1,]",
                         "{\"a\" 1}",
                         "\"\\x\"",
                         "\"a",
                         "01",
                         "1.",
                         "-",
                         "tru",
                         "\"\\ud800\"",
                         "\"\\udc00x\"",
                         "\"tab\there\"",
                         "{} {}",
                         "[1] x",
                         "{\"a\":1 \"b\":2}",
                         "\"\\u12\""};
    int rejected = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cope_error err;
        if (json_parse(&d, bad[i], strlen(bad[i]), &err) == COPE_ERR_JSON)
            rejected++;
        else {
            printf("     accepted bad JSON: %s\n", bad[i]);
            json_free(&d);
        }
    }
    check(rejected == (int)(sizeof bad / sizeof *bad), "JSON: %d/%zu malformed documents rejected", rejected,
          sizeof bad / sizeof *bad);
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    check(json_parse(&d, deep, 200, NULL) == COPE_ERR_JSON, "JSON: nesting deeper than %d rejected", JSON_MAX_DEPTH);
}

/* ---------------------------------------------------------------------------------------------
 * The trainer (core/train.c): the loss falls on the toy task, a seed reproduces the run bit for
 * bit, its options are checked, a blow-up is reported, and scoring counts what it should */
static void toy_config(cope_config *c) {
    cope_config_default(c);
    c->n_ctx = 49;
    c->d_model = 32;
    c->n_head = 2;
    c->d_ff = 64;
    c->npos = 12;
}

static cope_trainer *toy_trainer(int steps, uint64_t seed, float lr) {
    cope_config c;
    toy_config(&c);
    cope_train_opts o;
    cope_train_opts_default(&o);
    o.batch = 16, o.steps = steps, o.seed = seed, o.lr = lr, o.warmup = 0;
    cope_trainer *t;
    cope_error err;
    if (cope_trainer_new(&t, &c, cope_task_find("toy"), &o, &err)) {
        check(0, "toy trainer: %s", err.msg);
        return NULL;
    }
    return t;
}

static float *train_toy(int steps, uint64_t seed, float *first, float *last) {
    cope_trainer *t = toy_trainer(steps, seed, 3e-3f);
    if (!t) return NULL;
    cope_error err;
    *first = *last = 0.0f;
    for (int s = 0; s < steps; s++) {
        if (cope_trainer_step(t, &err)) {
            check(0, "toy training step %d: %s", s + 1, err.msg);
            break;
        }
        float loss = cope_trainer_stats(t)->loss;
        if (s < 10) *first += loss / 10;
        if (s >= steps - 10) *last += loss / 10;
    }
    cope_model *m = cope_trainer_model(t);
    float *params = malloc(cope_model_num_params(m) * 4);
    memcpy(params, cope_model_params(m), cope_model_num_params(m) * 4);
    cope_trainer_free(t);
    return params;
}

static void test_training(void) {
    float f1, l1, f2, l2;
    float *p1 = train_toy(150, 3, &f1, &l1), *p2 = train_toy(150, 3, &f2, &l2);
    check(p1 && l1 < 0.7f * f1, "training smoke test: toy loss falls from %.3f to %.3f in 150 steps", f1, l1);
    check(p1 && p2 && f1 == f2 && l1 == l2, "training is reproducible: same seed, same losses");
    free(p1);
    free(p2);

    /* options out of range are refused, each naming its field */
    cope_config c;
    toy_config(&c);
    const cope_task *toy = cope_task_find("toy");
    static const char *const bad[] = {"batch 0",       "steps 0",  "warmup 20 is longer",
                                      "learning rate", "bucket 0", "train_set -1"};
    for (int i = 0; i < (int)(sizeof bad / sizeof *bad); i++) {
        cope_train_opts o;
        cope_train_opts_default(&o);
        switch (i) {
        case 0: o.batch = 0; break;
        case 1: o.steps = 0; break;
        case 2: o.steps = 10, o.warmup = 20; break;
        case 3: o.lr = NAN; break;
        case 4: o.bucket = 0; break;
        default: o.train_set = -1;
        }
        cope_trainer *t = NULL;
        cope_error err = {0};
        cope_status st = cope_trainer_new(&t, &c, toy, &o, &err);
        check(st == COPE_ERR_ARG && !t && strstr(err.msg, bad[i]), "trainer options: %s refused (%s)", bad[i], err.msg);
    }
    cope_train_opts o;
    cope_train_opts_default(&o);
    cope_trainer *t = NULL;
    cope_error err = {0};
    c.n_ctx = 10;
    check(cope_trainer_new(&t, &c, toy, &o, &err) == COPE_ERR_CONFIG && strstr(err.msg, "context 10 is shorter"),
          "trainer: a context shorter than the task's examples is refused (%s)", err.msg);
    toy_config(&c);
    int tokens[40] = {0};
    cope_tokenizer *tok;
    const char *const vocab[] = {"<unk>", "<pad>", "a"};
    cope_tokenizer_new(&tok, COPE_TOK_WORDS, vocab, 3, NULL);
    tokens[3] = 7;
    check(cope_trainer_new_corpus(&t, &c, tok, tokens, 40, &o, &err) == COPE_ERR_TOKEN &&
              strstr(err.msg, "token 3 is 7"),
          "trainer: a corpus token outside the vocabulary is refused (%s)", err.msg);
    cope_tokenizer_new(&tok, COPE_TOK_WORDS, vocab, 3, NULL);
    tokens[3] = 2;
    check(cope_trainer_new_corpus(&t, &c, tok, tokens, 40, &o, &err) == COPE_ERR_ARG && strstr(err.msg, "40 tokens"),
          "trainer: a corpus no longer than the context is refused (%s)", err.msg);

    /* weights gone bad: a clear NaN-loss error, never a silent NaN model */
    t = toy_trainer(100, 1, 1e-3f);
    cope_status st = t ? cope_trainer_step(t, &err) : COPE_ERR_ARG;
    if (t) cope_model_params(cope_trainer_model(t))[0] = NAN;
    if (t && !st) st = cope_trainer_step(t, &err);
    check(st == COPE_ERR_NAN_LOSS && strstr(err.msg, "loss is nan at step 2") && cope_trainer_stats(t)->step == 1,
          "trainer: a non-finite loss stops with COPE_ERR_NAN_LOSS, the step not counted (%s)", err.msg);
    cope_trainer_free(t);

    /* provenance: what was trained, then the caller's members */
    t = toy_trainer(5, 2, 1e-3f);
    for (int s = 0; t && s < 3; s++) cope_trainer_step(t, &err);
    st = t ? cope_trainer_set_provenance(t, "\"trainer\": \"test\"", &err) : COPE_ERR_ARG;
    const char *prov = t ? cope_model_provenance(cope_trainer_model(t)) : "";
    check(!st && strstr(prov, "\"task\": \"toy\", \"seed\": 2, \"steps\": 3, \"batch\": 16") &&
              strstr(prov, "\"schedule_steps\": 5") && strstr(prov, "\"trainer\": \"test\"}"),
          "trainer provenance: %s", prov);
    check(t && cope_trainer_set_provenance(t, "\"broken", &err) == COPE_ERR_JSON,
          "trainer provenance: extra members that are not JSON are refused");
    cope_trainer_free(t);
}

static void test_gate_forces(void) {
    cope_gate_force f[8];
    int n;
    cope_error err;
    cope_status st = cope_gate_forces_parse("0:1:12=0,1:*:5=1,2:3:0=0.25", f, 8, &n, &err);
    check(!st && n == 3 && f[0].layer == 0 && f[0].head == 1 && f[0].key == 12 && f[0].value == 0.0f &&
              f[1].head == -1 && f[1].key == 5 && f[1].value == 1.0f && f[2].layer == 2 && f[2].value == 0.25f,
          "gate overrides: \"0:1:12=0,1:*:5=1,2:3:0=0.25\" parsed");
    check(!cope_gate_forces_parse("", f, 8, &n, &err) && n == 0, "gate overrides: an empty list is no overrides");
    static const char *const bad[] = {"0:1:12",           "0:1=1",    "a:1:2=0",  "0:1:2=",    "0:1:2=0,",
                                      "0:1:2=0.5x",       "-1:0:0=0", "0:-1:0=0", "0:1:2=1e3", "0:1:2=.5",
                                      "0:1:1234567890=0", ",",        "0:**:1=0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        st = cope_gate_forces_parse(bad[i], f, 8, &n, &err);
        check(st == COPE_ERR_ARG && strstr(err.msg, "gate override"), "gate overrides: \"%s\" refused (%s)", bad[i],
              err.msg);
    }
    check(cope_gate_forces_parse("0:0:0=0,0:0:1=0,0:0:2=0", f, 2, &n, &err) == COPE_ERR_LIMIT,
          "gate overrides: more than the room refused");
    /* ranges, against a model */
    char path[512];
    snprintf(path, sizeof path, "%s/cope.model.safetensors", g_dir);
    cope_model *m = load_model_file(path);
    cope_trace *tr = NULL;
    if (!m || cope_trace_new(&tr, m, 8, &err)) {
        check(0, "gate overrides: a model and trace");
        cope_model_free(m);
        return;
    }
    static const struct {
        cope_gate_force f;
        const char *want;
    } range[] = {{{2, 0, 0, 0}, "layer 2 is outside 0..1"},
                 {{0, 2, 0, 0}, "head 2 is outside 0..1"},
                 {{0, 0, 16, 0}, "key 16 is outside 0..15"},
                 {{0, 0, 0, 1.5f}, "value 1.5 is outside 0..1"},
                 {{0, -2, 0, 0}, "head -2"}};
    for (size_t i = 0; i < sizeof range / sizeof *range; i++) {
        st = cope_trace_force_gates(tr, m, &range[i].f, 1, &err);
        check(st == COPE_ERR_ARG && strstr(err.msg, range[i].want), "gate overrides: %s (%s)", range[i].want, err.msg);
    }
    cope_gate_force nan = {0, 0, 0, NAN};
    check(cope_trace_force_gates(tr, m, &nan, 1, &err) == COPE_ERR_ARG, "gate overrides: a NaN value refused");
    cope_trace_free(tr);
    cope_model_free(m);
    snprintf(path, sizeof path, "%s/rel.model.safetensors", g_dir);
    m = load_model_file(path);
    if (m && !cope_trace_new(&tr, m, 4, &err)) {
        cope_gate_force g = {0, 0, 0, 0};
        check(cope_trace_force_gates(tr, m, &g, 1, &err) == COPE_ERR_ARG && strstr(err.msg, "need a CoPE model"),
              "gate overrides on a model without CoPE refused (%s)", err.msg);
        cope_trace_free(tr);
    }
    cope_model_free(m);
}

static void test_scoring(void) {
    /* 2 rows x 3 tokens, V = 3: row 0 scores t=1 (right) and t=2 (wrong); row 1 scores t=0 (right) */
    const float logits[2 * 3 * 3] = {0, 0, 0, 1, 5, 2, 4, 1, 0, /**/ 0, 0, 9, 0, 0, 0, 0, 0, 0};
    const int tg[6] = {0, 1, 2, 2, 0, 0};
    const float mask[6] = {0, 1, 1, 1, 0, 0};
    int pred[6];
    cope_score s = {0};
    cope_score_batch(logits, tg, mask, 2, 3, 3, 2, pred, &s);
    double te, se, loss;
    cope_score_rates(&s, &te, &se, &loss);
    double want = (log(exp(1) + exp(5) + exp(2)) - 5 + log(exp(4) + exp(1) + 1) - 0 + log(2 + exp(9)) - 9) / 3;
    check(s.tokens == 3 && s.tokens_wrong == 1 && s.seqs == 2 && s.seqs_wrong == 1 && pred[0] == -1 && pred[1] == 1 &&
              pred[2] == 0 && pred[3] == 2 && pred[4] == -1 && fabs(loss - want) < 1e-9 &&
              fabs(te - 100.0 / 3) < 1e-9 && se == 50.0,
          "scoring: 3 tokens, 1 wrong, 1 of 2 sequences wrong, mean CE %.6f (want %.6f)", loss, want);
    cope_score one = {0};
    cope_score_batch(logits, tg, mask, 2, 3, 3, 1, NULL, &one);
    check(one.seqs == 1 && one.tokens == 2, "scoring: only the first n_rows rows count");

    /* cope_evaluate: a fresh model is near chance on toy; the same seed gives the same counts */
    cope_trainer *t = toy_trainer(1, 1, 1e-3f);
    cope_score a, b;
    cope_error err;
    cope_model *m = t ? cope_trainer_model(t) : NULL;
    cope_status s1 = m ? cope_evaluate(m, cope_task_find("toy"), "ood", 9, 50, 16, &a, &err) : COPE_ERR_ARG;
    cope_status s2 = m ? cope_evaluate(m, cope_task_find("toy"), "ood", 9, 50, 7, &b, &err) : COPE_ERR_ARG;
    check(!s1 && !s2 && a.seqs == 50 && a.tokens == 50 && a.tokens_wrong == b.tokens_wrong && a.nll == b.nll,
          "evaluate: 50 examples, the same for any batch size (%ld vs %ld wrong)", a.tokens_wrong, b.tokens_wrong);
    check(m && cope_evaluate(m, cope_task_find("toy"), "nope", 9, 5, 4, &a, &err) == COPE_ERR_ARG &&
              strstr(err.msg, "no split \"nope\""),
          "evaluate: an unknown split is named (%s)", err.msg);
    cope_trainer_free(t);
}

/* ---------------------------------------------------------------------------------------------
 * API misuse gives errors, not crashes */
static void test_api_errors(void) {
    cope_model *m = random_model(COPE_PE_COPE, 0, 0, 8, 10, 3);
    if (!m) return;
    cope_error err;
    cope_workspace *ws;
    cope_trace *tr;
    cope_state *s;
    check(cope_workspace_new(&ws, m, 1, 11, &err) == COPE_ERR_CONTEXT, "workspace longer than n_ctx: %s", err.msg);
    check(cope_trace_new(&tr, m, 11, &err) == COPE_ERR_CONTEXT, "trace longer than n_ctx: %s", err.msg);
    check(cope_trace_new(&tr, m, 0, &err) == COPE_ERR_TOKEN, "empty trace: %s", err.msg);
    cope_trace_new(&tr, m, 3, &err);
    int bad_ids[3] = {1, 13, 2};
    check(cope_trace_run(m, tr, bad_ids, 3, &err) == COPE_ERR_TOKEN, "token id out of range: %s", err.msg);
    int four[4] = {1, 2, 3, 4};
    check(cope_trace_run(m, tr, four, 4, &err) == COPE_ERR_ARG, "trace run past its capacity: %s", err.msg);
    cope_trace_free(tr);
    /* a trace reused for shorter and longer runs up to its capacity equals a fresh one */
    int seq[8] = {3, 1, 4, 1, 5, 9, 2, 6}, same = 1;
    cope_trace *big, *fresh;
    cope_trace_new(&big, m, 8, &err);
    for (int T = 8, r = 0; r < 3; r++, T = T == 8 ? 5 : 8) {
        cope_trace_run(m, big, seq, T, &err);
        cope_trace_new(&fresh, m, T, &err);
        cope_trace_run(m, fresh, seq, T, &err);
        same &= big->T == T && memcmp(big->logits, fresh->logits, (size_t)T * 13 * sizeof(float)) == 0;
        for (int k = 0; k < COPE_TRACE_COUNT; k++)
            for (int l = 0; l < 2; l++)
                same &= memcmp(cope_trace_get(big, k, l), cope_trace_get(fresh, k, l),
                               (size_t)2 * T * T * sizeof(float)) == 0;
        cope_trace_free(fresh);
    }
    cope_trace_free(big);
    check(same, "a trace of capacity 8 run for 8, 5, 8 tokens equals fresh traces (zeros above the diagonal)");
    cope_state_new(&s, m, &err);
    int ok = 1;
    for (int i = 0; i < 10; i++) ok &= cope_step(m, s, i % 13, NULL, &err) == COPE_OK;
    check(ok && cope_step(m, s, 1, NULL, &err) == COPE_ERR_CONTEXT, "step past n_ctx: %s", err.msg);
    check(cope_step_row(s, 0, 0, COPE_TRACE_COUNT) == NULL && cope_step_row(s, 0, 0, (cope_trace_array)-1) == NULL &&
              cope_step_row(s, 5, 0, COPE_TRACE_ATTN) == NULL && cope_step_row(s, 0, 2, COPE_TRACE_ATTN) == NULL &&
              cope_step_row(s, 0, 0, COPE_TRACE_ATTN) != NULL,
          "step_row rejects bad arrays and indices");
    cope_state_reset(s);
    check(cope_state_length(s) == 0 && cope_step(m, s, -1, NULL, &err) == COPE_ERR_TOKEN, "negative token id: %s",
          err.msg);
    cope_state_free(s);
    cope_workspace_new(&ws, m, 1, 4, &err);
    int ids[4] = {1, 2, 3, 4};
    float zero[4] = {0, 0, 0, 0}, g;
    check(cope_forward(m, ws, ids, ids, zero, 1, 4, &g, &err) == COPE_ERR_ARG, "mask selecting nothing: %s", err.msg);
    check(cope_backward(m, ws, &g, &err) == COPE_ERR_ARG, "backward without a loss: %s", err.msg);
    /* a forward that fails leaves no loss behind: backward must not run on a stale one */
    float *grads = malloc(cope_model_num_params(m) * sizeof(float)), half[4] = {1, 0.5f, 1, 1};
    check(cope_forward(m, ws, ids, ids, NULL, 1, 4, &g, &err) == COPE_OK &&
              cope_backward(m, ws, grads, &err) == COPE_OK,
          "forward and backward with targets");
    check(cope_forward(m, ws, ids, ids, half, 1, 4, &g, &err) == COPE_ERR_ARG && isnan(g), "mask of 0.5: %s", err.msg);
    check(cope_backward(m, ws, grads, &err) == COPE_ERR_ARG, "backward after a failed forward: %s", err.msg);
    int bad_target[4] = {1, 2, 99, 4};
    check(cope_forward(m, ws, ids, ids, NULL, 1, 4, &g, &err) == COPE_OK &&
              cope_forward(m, ws, ids, bad_target, NULL, 1, 4, &g, &err) == COPE_ERR_TOKEN &&
              cope_backward(m, ws, grads, &err) == COPE_ERR_ARG,
          "backward after a forward with a bad target: %s", err.msg);
    free(grads);
    cope_workspace_free(ws);
    check(cope_model_set_provenance(m, "[1]", &err) == COPE_ERR_CONFIG, "provenance must be an object: %s", err.msg);
    cope_config c = *cope_model_config(m);
    c.d_model = 9;
    check(cope_config_validate(&c, &err) == COPE_ERR_CONFIG, "config validation: %s", err.msg);
    c = *cope_model_config(m);
    c.pe = COPE_PE_ROPE;
    c.d_model = 6;
    c.n_head = 2;
    check(cope_config_validate(&c, &err) == COPE_ERR_CONFIG, "RoPE needs an even head dim: %s", err.msg);
    cope_model_free(m);
}

/* ---------------------------------------------------------------------------------------------
 * The name tables: trace arrays and statuses, each one list in the core */
static void test_names(void) {
    int ok = 1;
    for (int k = 0; k < COPE_TRACE_COUNT; k++) {
        cope_trace_array back = COPE_TRACE_COUNT;
        const char *n = cope_trace_name(k);
        ok &= n && cope_trace_parse(n, &back) == COPE_OK && back == (cope_trace_array)k;
        for (int j = 0; j < k; j++) ok &= n && strcmp(n, cope_trace_name(j)) != 0;
    }
    cope_trace_array w;
    check(ok && cope_trace_name(COPE_TRACE_COUNT) == NULL && cope_trace_name((cope_trace_array)-1) == NULL &&
              cope_trace_parse("nonsense", &w) == COPE_ERR_ARG && cope_trace_parse(NULL, &w) == COPE_ERR_ARG,
          "trace array names: %d distinct, parse(name(k)) == k, out of range rejected", COPE_TRACE_COUNT);
    check(!strcmp(cope_trace_name(COPE_TRACE_GATES), "gates") &&
              !strcmp(cope_trace_name(COPE_TRACE_POS_ATTN), "pos_attn"),
          "trace array names are the file format's (trace --out tensor names)");
    ok = 1;
    for (int s = 0; s < COPE_STATUS_COUNT; s++) {
        ok &= cope_status_name(s) && cope_strerror(s) && strcmp(cope_strerror(s), "unknown status") != 0;
        for (int t = 0; t < s; t++) ok &= cope_status_name(s) && strcmp(cope_status_name(s), cope_status_name(t)) != 0;
    }
    check(ok && cope_status_name(COPE_STATUS_COUNT) == NULL &&
              !strcmp(cope_strerror(COPE_STATUS_COUNT), "unknown status") &&
              !strcmp(cope_status_name(COPE_ERR_ARG), "arg"),
          "status names: %d distinct, with words", COPE_STATUS_COUNT);
    cope_error err = {COPE_OK, ""};
    check(cope_fail(&err, COPE_ERR_TOKEN, "token %d of %s", 7, "x") == COPE_ERR_TOKEN && err.code == COPE_ERR_TOKEN &&
              !strcmp(err.msg, "token 7 of x") && cope_fail(NULL, COPE_ERR_ARG, "ignored") == COPE_ERR_ARG,
          "cope_fail fills the error and returns the code");
    cope_model *m = random_model(COPE_PE_COPE, 0, 0, 8, 10, 3);
    cope_trace *tr;
    if (!m || cope_trace_new(&tr, m, 4, &err)) {
        check(0, "names: model/trace");
        cope_model_free(m);
        return;
    }
    int L = cope_model_config(m)->n_layer;
    check(cope_trace_get(tr, COPE_TRACE_ATTN, L) == NULL && cope_trace_get(tr, COPE_TRACE_ATTN, -1) == NULL &&
              cope_trace_get(tr, COPE_TRACE_COUNT, 0) == NULL &&
              cope_trace_get(tr, COPE_TRACE_ATTN, 1) == cope_trace_get(tr, COPE_TRACE_ATTN, 0) + 2 * 4 * 4,
          "cope_trace_get: [H, T, T] per layer, out of range rejected");
    cope_trace_free(tr);
    cope_model_free(m);
}

/* ---------------------------------------------------------------------------------------------
 * Task generators: statistics, independent recounts of the answers, splits, seeds */
typedef struct {
    const cope_task *t;
    cope_tokenizer *tok;
    int seq[2048];
    unsigned char on[2048];
    int n;
} gen;

static int gen_open(gen *g, const char *task) {
    g->t = cope_task_find(task);
    if (!g->t) {
        check(0, "task %s exists", task);
        return 0;
    }
    const char *const *v;
    int nv = cope_task_vocab(g->t, &v);
    return cope_tokenizer_new(&g->tok, cope_task_tok_type(g->t), v, nv, NULL) == COPE_OK;
}

static const char *pc(gen *g, int i) { return cope_tokenizer_piece(g->tok, g->seq[i]); }

static int gen_next(gen *g, const char *split, cope_rng *rng) {
    cope_error err;
    if (cope_task_example(g->t, split, rng, g->tok, g->seq, g->on, 2048, &g->n, &err)) {
        check(0, "%s/%s example: %s", cope_task_name(g->t), split, err.msg);
        return 0;
    }
    return 1;
}

static void test_counting_task(int nvars) {
    gen g;
    char name[16];
    snprintf(name, sizeof name, "counting%d", nvars);
    if (!gen_open(&g, name)) return;
    for (int sp = 0; sp < 2; sp++) {
        const char *split = sp ? "ood" : "train";
        int lo = sp ? 129 : 3, hi = sp ? 256 : 128, N = 3000;
        cope_rng rng;
        cope_rng_seed(&rng, 11 + sp);
        long n_set = 0, n_inc = 0, n_pass = 0, wrong = 0, bad_form = 0, over10 = 0, steps_sum = 0, too_long = 0;
        int steps_min = 1 << 30, steps_max = 0, vars_seen = 0;
        for (int e = 0; e < N && gen_next(&g, split, &rng); e++) {
            /* independent recount: parse the statements and replay them */
            int value[26], steps = 0, i = 0, scored = 0, any_set = 0;
            for (int v = 0; v < 26; v++) value[v] = -1;
            for (int k = 0; k < g.n; k++) scored += g.on[k];
            while (i < g.n && strcmp(pc(&g, i), "print") != 0) {
                const char *a = pc(&g, i);
                if (strcmp(a, "pass;") == 0) {
                    n_pass += any_set;
                    i++;
                } else if (strlen(a) == 1 && a[0] >= 'a' && a[0] < 'a' + nvars && i + 1 < g.n &&
                           strcmp(pc(&g, i + 1), "++;") == 0) {
                    if (value[a[0] - 'a'] < 0) bad_form++; /* increments only set variables */
                    if (++value[a[0] - 'a'] > 10) over10++;
                    n_inc++;
                    i += 2;
                } else if (strlen(a) == 1 && a[0] >= 'a' && a[0] < 'a' + nvars && i + 3 < g.n &&
                           strcmp(pc(&g, i + 1), "=") == 0 && strcmp(pc(&g, i + 2), "0") == 0 &&
                           strcmp(pc(&g, i + 3), ";") == 0) {
                    value[a[0] - 'a'] = 0;
                    vars_seen |= 1 << (a[0] - 'a');
                    n_set += any_set;
                    any_set = 1;
                    i += 4;
                } else {
                    bad_form++;
                    break;
                }
                steps++;
            }
            steps_sum += steps;
            steps_min = steps < steps_min ? steps : steps_min;
            steps_max = steps > steps_max ? steps : steps_max;
            too_long += g.n > cope_task_max_len(g.t, split);
            if (i + 3 != g.n || scored != 1 || !g.on[g.n - 1] || strlen(pc(&g, i + 1)) != 1) {
                bad_form++;
                continue;
            }
            int v = pc(&g, i + 1)[0] - 'a', ans = atoi(pc(&g, i + 2));
            if (v < 0 || v >= nvars || value[v] < 0 || ans != value[v]) wrong++;
        }
        char what[64];
        snprintf(what, sizeof what, "%s/%s", name, split);
        check(!bad_form && !too_long,
              "%s: every example is statements, \"print v\", one scored answer, within %d tokens (%ld malformed)", what,
              cope_task_max_len(g.t, split), bad_form);
        check(!wrong, "%s: every answer equals an independent recount (%ld wrong of %d)", what, wrong, N);
        check(!over10, "%s: values never exceed 10", what);
        /* A statement is SET with probability 1/51 until the first SET (increments fail before it),
         * and an example without any SET is drawn again, so the accepted statement count k has
         * weight 1 - (50/51)^k on [lo, hi]. */
        double wsum = 0.0, ksum = 0.0, k2sum = 0.0;
        for (int k = lo; k <= hi; k++) {
            double w = 1.0 - pow(50.0 / 51.0, k);
            wsum += w;
            ksum += w * k;
            k2sum += w * k * k;
        }
        double mean = (double)steps_sum / N, expect = ksum / wsum;
        double se = sqrt((k2sum / wsum - expect * expect) / N); /* the standard error of the mean */
        check(steps_min >= lo && steps_min < lo + 8 && steps_max <= hi && steps_max > hi - 4 &&
                  fabs(mean - expect) < 4 * se,
              "%s: statement count in [%d, %d] (seen %d..%d), mean %.2f (expected %.2f)", what, lo, hi, steps_min,
              steps_max, mean, expect);
        /* after the first SET, SET and DUMMY never fail: DUMMY : SET = 50 : 1 */
        double dummy_per_set = (double)n_pass / n_set;
        check(fabs(dummy_per_set - 50.0) < 6.0, "%s: after the first SET, DUMMY : SET = 50 : 1 (%.1f)", what,
              dummy_per_set);
        check(n_inc <= 7.5 * n_set && n_inc > 0, "%s: INCREMENT : SET <= 7 : 1, less where draws fail (%.2f)", what,
              (double)n_inc / n_set);
        check(vars_seen == (1 << nvars) - 1, "%s: every one of the %d variables is used", what, nvars);
    }
    cope_tokenizer_free(g.tok);
}

static void test_flipflop_task(void) {
    gen g;
    if (!gen_open(&g, "flipflop")) return;
    const char *splits[3] = {"train", "ood-sparse", "ood-dense"};
    double want[3] = {0.8, 0.98, 0.1};
    for (int sp = 0; sp < 3; sp++) {
        cope_rng rng;
        cope_rng_seed(&rng, 5);
        long ign = 0, instr = 0, wrong = 0, bad = 0, reads = 0;
        for (int e = 0; e < 2000 && gen_next(&g, splits[sp], &rng); e++) {
            int last = -1;
            bad += g.n != 128 || strcmp(pc(&g, 0), "w") != 0 || strcmp(pc(&g, g.n - 2), "r") != 0;
            for (int k = 0; k + 1 < g.n; k += 2) {
                const char *op = pc(&g, k);
                int bit = atoi(pc(&g, k + 1));
                if (k > 0 && k + 2 < g.n) {
                    instr++;
                    ign += op[0] == 'i';
                }
                if (op[0] == 'w') last = bit;
                if (op[0] == 'r') {
                    reads++;
                    wrong += bit != last || !g.on[k + 1];
                } else
                    bad += g.on[k + 1];
            }
        }
        double frac = (double)ign / instr;
        check(!bad && !wrong,
              "flipflop/%s: 64 instructions, first write, last read; each read's bit = last write (%ld of %ld wrong)",
              splits[sp], wrong, reads);
        check(fabs(frac - want[sp]) < 0.01, "flipflop/%s: ignore fraction %.3f (FFL(%.2f))", splits[sp], frac,
              want[sp]);
    }
    cope_tokenizer_free(g.tok);
}

static void test_selcopy_task(void) {
    gen g;
    if (!gen_open(&g, "selcopy")) return;
    const char *splits[3] = {"train", "ood-dense", "ood-sparse"};
    int places[3] = {64, 24, 128};
    for (int sp = 0; sp < 3; sp++) {
        cope_rng rng;
        cope_rng_seed(&rng, 9);
        long bad = 0;
        double first_pos = 0;
        for (int e = 0; e < 1000 && gen_next(&g, splits[sp], &rng); e++) {
            int bar = -1, nd = 0, data[128];
            for (int k = 0; k < g.n; k++)
                if (strcmp(pc(&g, k), "|") == 0) {
                    bar = k;
                    break;
                }
            if (bar != places[sp] || g.n != bar + 17) {
                bad++;
                continue;
            }
            for (int k = 0; k < bar; k++)
                if (strcmp(pc(&g, k), "_") != 0) {
                    if (!nd) first_pos += k;
                    data[nd++] = g.seq[k];
                }
            for (int k = 0; k < 16; k++) bad += nd != 16 || g.seq[bar + 1 + k] != data[k] || !g.on[bar + 1 + k];
            for (int k = 0; k <= bar; k++) bad += g.on[k];
        }
        check(!bad, "selcopy/%s: 16 tokens among %d places, then '|' and the same 16 in order, scored (%ld bad)",
              splits[sp], places[sp], bad);
        /* places are a uniform 16-subset: the first token's mean position is (L - 16) / 17 */
        double m = first_pos / 1000, expect = (places[sp] - 16) / 17.0;
        check(fabs(m - expect) < 0.15 * expect + 0.3,
              "selcopy/%s: data places look uniform (first at %.2f, expect %.2f)", splits[sp], m, expect);
    }
    cope_tokenizer_free(g.tok);
}

static void test_text_task(void) {
    gen g;
    if (!gen_open(&g, "text")) return;
    cope_rng rng;
    cope_rng_seed(&rng, 4);
    long bad = 0, sections = 0, paragraphs = 0, subj_ok = 0, subj_all = 0;
    for (int sp = 0; sp < 2; sp++)
        for (int e = 0; e < 200 && gen_next(&g, sp ? "long" : "train", &rng); e++) {
            bad += g.n != (sp ? 513 : 193) || strcmp(pc(&g, 0), "=") != 0;
            const char *subject = NULL;
            for (int k = 0; k < g.n; k++) {
                bad += !g.on[k];
                if (k + 5 < g.n && strcmp(pc(&g, k), "=") == 0 && (k == 0 || strcmp(pc(&g, k - 1), "\n") == 0)) {
                    sections++;
                    bad += strcmp(pc(&g, k + 1), "=") != 0 || strcmp(pc(&g, k + 3), "=") != 0 ||
                           strcmp(pc(&g, k + 5), "\n") != 0;
                    k += 5;
                    subject = NULL;
                    continue;
                }
                if (strcmp(pc(&g, k), "\n") == 0) {
                    paragraphs++;
                    subject = NULL;
                }
                /* every "the SUBJECT" at a sentence start repeats the paragraph's first subject */
                int start = k > 0 && (strcmp(pc(&g, k - 1), "\n") == 0 || strcmp(pc(&g, k - 1), ".") == 0 ||
                                      strcmp(pc(&g, k - 1), ",") == 0);
                if (start && k + 1 < g.n && strcmp(pc(&g, k), "the") == 0) {
                    if (!subject)
                        subject = pc(&g, k + 1);
                    else {
                        subj_all++;
                        subj_ok += strcmp(subject, pc(&g, k + 1)) == 0;
                    }
                }
            }
        }
    check(
        !bad,
        "text: documents of 192 (train) and 512 (long) tokens, title lines \"= = t = =\", all tokens scored (%ld bad)",
        bad);
    check(sections > 400 && paragraphs > sections && subj_all > 100 && subj_ok == subj_all,
          "text: %ld sections, %ld paragraphs; a paragraph keeps its subject (%ld/%ld)", sections, paragraphs, subj_ok,
          subj_all);
    cope_tokenizer_free(g.tok);
}

/* topics: every paragraph's words come from one topic's pool, words 0-5 or 2-7 of its section
 * title's 8 (title s owns words 8s..8s+7); both topics occur; sentences have 3-6 words, a paragraph
 * 1-5 sentences (the document's last may be cut). */
static void test_topics_task(void) {
    gen g;
    if (!gen_open(&g, "topics")) return;
    static const char *const titles[4] = {"history", "music", "science", "sport"};
    int first_word = cope_tokenizer_id(g.tok, "king");
    cope_rng rng;
    cope_rng_seed(&rng, 5);
    long bad = 0, paragraphs = 0, second_topic = 0, sentences = 0;
    for (int sp = 0; sp < 2; sp++)
        for (int e = 0; e < 200 && gen_next(&g, sp ? "long" : "train", &rng); e++) {
            bad += g.n != (sp ? 513 : 193) || strcmp(pc(&g, 0), "=") != 0;
            int title = -1, in_pool[2] = {1, 1}, words = 0, n_sent = 0, cut = 0;
            for (int k = 0; k < g.n; k++) {
                bad += !g.on[k];
                const char *w = pc(&g, k);
                if (strcmp(w, "=") == 0) { /* a title line "= = title = =" "\n" */
                    cut = k + 5 >= g.n;
                    if (cut) break;
                    title = -1;
                    for (int i = 0; i < 4; i++)
                        if (strcmp(pc(&g, k + 2), titles[i]) == 0) title = i;
                    bad += title < 0 || strcmp(pc(&g, k + 1), "=") != 0 || strcmp(pc(&g, k + 3), "=") != 0 ||
                           strcmp(pc(&g, k + 4), "=") != 0 || strcmp(pc(&g, k + 5), "\n") != 0;
                    k += 5;
                    continue;
                }
                if (strcmp(w, ".") == 0) {
                    bad += words < 3 || words > 6;
                    sentences++, n_sent++, words = 0;
                } else if (strcmp(w, "\n") == 0) {
                    bad += words != 0 || n_sent < 1 || n_sent > 5 || !(in_pool[0] || in_pool[1]);
                    paragraphs++;
                    second_topic += !in_pool[0];
                    in_pool[0] = in_pool[1] = 1, n_sent = 0;
                } else {
                    int idx = g.seq[k] - first_word;
                    bad += title < 0 || idx < 0 || idx >= 32;
                    for (int c = 0; c < 2; c++) in_pool[c] &= idx >= 8 * title + 2 * c && idx < 8 * title + 2 * c + 6;
                    words++;
                }
            }
        }
    check(!bad,
          "topics: documents of 192 and 512 tokens, title lines, all scored, a paragraph's words from one "
          "of its title's two topics, 3-6 words a sentence, 1-5 sentences a paragraph (%ld bad)",
          bad);
    check(paragraphs > 1000 && second_topic > paragraphs / 4 && second_topic < paragraphs / 2 &&
              sentences > 2 * paragraphs,
          "topics: %ld paragraphs (%ld of a title's second topic), %ld sentences", paragraphs, second_topic, sentences);
    cope_tokenizer_free(g.tok);
}

/* The split list: names in order, NULL past either end, and the one message for a split that is
 * not there (the CLI, the wasm API and the page all show this one). */
static void test_task_splits(void) {
    static const char *const want[][4] = {{"counting1", "train", "ood"},
                                          {"flipflop", "train", "ood-sparse", "ood-dense"},
                                          {"selcopy", "train", "ood-dense", "ood-sparse"},
                                          {"text", "train", "long"},
                                          {"topics", "train", "long"},
                                          {"toy", "train", "ood"}};
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        const cope_task *t = cope_task_find(want[w][0]);
        int n = 0;
        while (n < 3 && want[w][n + 1]) n++;
        int ok = t && cope_task_split_count(t) == n && !cope_task_split_name(t, -1) && !cope_task_split_name(t, n);
        for (int i = 0; ok && i < n; i++)
            ok = strcmp(cope_task_split_name(t, i), want[w][i + 1]) == 0 && cope_task_max_len(t, want[w][i + 1]) > 0 &&
                 cope_task_split_check(t, want[w][i + 1], NULL) == COPE_OK;
        check(ok, "tasks: %s has the splits %s, %s%s%s in order, each known", want[w][0], want[w][1], want[w][2],
              want[w][3] ? ", " : "", want[w][3] ? want[w][3] : "");
    }
    int all = 1;
    for (int i = 0; i < cope_task_count(); i++)
        all &= cope_task_split_count(cope_task_get(i)) >= 2 &&
               strcmp(cope_task_split_name(cope_task_get(i), 0), "train") == 0;
    check(all, "tasks: every task has split 0 \"train\" and at least one more");
    const cope_task *t = cope_task_find("flipflop");
    cope_error err = {0};
    cope_status st = cope_task_split_check(t, "ood", &err);
    check(st == COPE_ERR_ARG &&
              strcmp(err.msg, "task flipflop has no split \"ood\" (splits: train, ood-sparse, ood-dense)") == 0,
          "tasks: an unknown split is COPE_ERR_ARG naming the splits: %s", err.msg);
    st = cope_task_split_check(t, NULL, &err);
    check(st == COPE_ERR_ARG && strstr(err.msg, "no split \"(null)\"") != NULL, "tasks: a NULL split is an error: %s",
          err.msg);
    gen g;
    if (gen_open(&g, "toy")) {
        cope_rng r;
        cope_rng_seed(&r, 1);
        cope_error e2 = {0};
        st = cope_task_example(g.t, "nosplit", &r, g.tok, g.seq, g.on, 2048, &g.n, &e2);
        check(st == COPE_ERR_ARG && strcmp(e2.msg, "task toy has no split \"nosplit\" (splits: train, ood)") == 0 &&
                  g.n == 0,
              "tasks: an example of an unknown split fails with the same message: %s", e2.msg);
        cope_tokenizer_free(g.tok);
    }
}

static void test_task_seeds(void) {
    int same = 1, differ = 0, total = 0;
    for (int i = 0; i < cope_task_count(); i++) {
        gen g;
        if (!gen_open(&g, cope_task_name(cope_task_get(i)))) continue;
        for (int k = 0; k < cope_task_split_count(g.t); k++) {
            const char *s = cope_task_split_name(g.t, k);
            cope_rng r1, r2, r3;
            cope_rng_seed(&r1, 42);
            cope_rng_seed(&r2, 42);
            cope_rng_seed(&r3, 43);
            int a[2048], na;
            gen_next(&g, s, &r1);
            memcpy(a, g.seq, sizeof a);
            na = g.n;
            gen_next(&g, s, &r2);
            same &= na == g.n && memcmp(a, g.seq, (size_t)na * sizeof(int)) == 0;
            gen_next(&g, s, &r3);
            differ += na != g.n || memcmp(a, g.seq, (size_t)na * sizeof(int)) != 0;
            total++;
        }
        cope_tokenizer_free(g.tok);
    }
    check(same, "tasks: the same seed gives the same example (every task and split)");
    check(differ == total, "tasks: another seed gives another example (%d of %d)", differ, total);
    /* the authors' text feeds the counting model's tokenizer unchanged */
    gen g;
    if (gen_open(&g, "counting3")) {
        const char *text = "a = 0 ; pass; a ++; b = 0 ; b ++; pass; print a";
        int ids[32], n, unk;
        cope_tokenize(g.tok, text, strlen(text), ids, NULL, 32, &n, &unk, NULL);
        check(n == 16 && unk == 0, "counting: the authors' text format tokenizes with no unknown piece (%d tokens)", n);
        cope_tokenizer_free(g.tok);
    }
}

/* A fixed training set: example k is the same whatever batch or position it is drawn in, other
 * indices and other sets give other examples, and a missing index list is an error. */
static void test_task_fixed_set(void) {
    gen g;
    if (!gen_open(&g, "counting3")) return;
    enum { B = 4, TM = 256 };
    static int ids[2][B * TM], tg[2][B * TM];
    static float mask[2][B * TM];
    int T[2];
    cope_error err;
    long i1[B] = {0, 5, 7, 5}, i2[B] = {5, 0, 9, 7};
    cope_status s1 = cope_task_batch_set(g.t, "train", 3, i1, g.tok, B, TM, ids[0], tg[0], mask[0], &T[0], &err);
    cope_status s2 = cope_task_batch_set(g.t, "train", 3, i2, g.tok, B, TM, ids[1], tg[1], mask[1], &T[1], NULL);
    check(s1 == COPE_OK && s2 == COPE_OK, "fixed set: batches from indices");
    /* rows by stride T (each batch's own); compare example 5 (row 1 / row 0), 0 (row 0 / row 1) and
     * 7 (row 2 / row 3) by first token and targets (ids may lack the longest example's last token) */
    int same = 1, pairs[3][2] = {{1, 0}, {0, 1}, {2, 3}}, pad = cope_tokenizer_id(g.tok, "<pad>");
    for (int k = 0; k < 3; k++) {
        size_t ra = (size_t)pairs[k][0] * T[0], rb = (size_t)pairs[k][1] * T[1];
        same &= ids[0][ra] == ids[1][rb];
        for (int t = 0; t < (T[0] > T[1] ? T[0] : T[1]); t++) {
            int x = t < T[0] ? tg[0][ra + t] : pad, y = t < T[1] ? tg[1][rb + t] : pad;
            same &= x == y;
        }
    }
    check(same, "fixed set: an example is the same in any batch and row");
    check(memcmp(ids[0] + 1 * T[0], ids[0] + 3 * T[0], (size_t)T[0] * sizeof(int)) == 0 &&
              memcmp(ids[0], ids[0] + 1 * T[0], (size_t)T[0] * sizeof(int)) != 0,
          "fixed set: the same index twice gives the same row, another index another");
    long one[1] = {5};
    cope_task_batch_set(g.t, "train", 4, one, g.tok, 1, TM, ids[1], tg[1], mask[1], &T[1], NULL);
    check(T[1] != T[0] || memcmp(ids[1], ids[0] + 1 * T[0], (size_t)T[0] * sizeof(int)) != 0,
          "fixed set: another set seed gives another example 5");
    check(cope_task_batch_set(g.t, "train", 3, NULL, g.tok, B, TM, ids[0], tg[0], mask[0], &T[0], &err) == COPE_ERR_ARG,
          "fixed set: no indices is an error (%s)", err.msg);
    cope_tokenizer_free(g.tok);
}

/* Extreme weights (logits in the thousands): every output stays finite and every row a
 * distribution (stable softmax, a sigmoid and exp that cannot overflow). */
static void test_extreme_weights(void) {
    for (int pe = 0; pe < COPE_PE_COUNT; pe++) {
        cope_model *m = random_model((cope_pe)pe, 1, 1, 6, 30, 50 + pe);
        if (!m) continue;
        float *p = cope_model_params(m);
        for (size_t i = 0; i < cope_model_num_params(m); i++) p[i] *= 300.0f;
        int ids[20];
        for (int i = 0; i < 20; i++) ids[i] = cope_rng_int(&g_rng, 13);
        cope_trace *tr;
        cope_error err;
        int bad = 0;
        if (cope_trace_new(&tr, m, 20, &err) || cope_trace_run(m, tr, ids, 20, &err)) {
            check(0, "extreme: %s", err.msg);
            continue;
        }
        for (int k = 0; k < 20 * 13; k++) bad += !isfinite(tr->logits[k]);
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < COPE_TRACE_COUNT; k++)
                for (int e = 0; e < 2 * 20 * 20; e++) bad += !isfinite(cope_trace_get(tr, k, l)[e]);
        float lg[13];
        cope_state *s;
        cope_state_new(&s, m, &err);
        for (int i = 0; i < 20; i++) {
            cope_step(m, s, ids[i], lg, &err);
            for (int v = 0; v < 13; v++) bad += !isfinite(lg[v]);
        }
        check(!bad, "extreme weights (x300), pe=%s: logits, trace and steps are finite (%d non-finite)",
              cope_pe_name((cope_pe)pe), bad);
        check_trace_structure(cope_pe_name((cope_pe)pe), m, tr);
        cope_state_free(s);
        cope_trace_free(tr);
        cope_model_free(m);
    }
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            g_verbose = 1;
        else
            g_dir = argv[i];
    }
    cope_rng_seed(&g_rng, 2024);
    test_golden();
    test_fd_simple_ops();
    test_gemm_kernels();
    test_cope_interp_backward_kernels();
    test_cope_interp_kernels();
    test_threads_bitwise();
    test_fd_attention();
    test_gates_one();
    test_models_all_pe();
    test_pe_list();
    test_loader();
    test_tokenizer();
    test_json();
    test_training();
    test_scoring();
    test_gate_forces();
    test_api_errors();
    test_names();
    for (int nv = 1; nv <= 5; nv += 2) test_counting_task(nv);
    test_flipflop_task();
    test_selcopy_task();
    test_text_task();
    test_topics_task();
    test_task_splits();
    test_task_seeds();
    test_task_fixed_set();
    test_extreme_weights();
    return check_summary();
}
