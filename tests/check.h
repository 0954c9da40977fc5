/* check.h — the tiny test harness shared by the C test programs: counted checks, a tolerance
 * comparison that reports the worst element, tallies of a kernel against its reference, file
 * reading, and the closing "N passed, N failed". */
#ifndef COPE_CHECK_H
#define COPE_CHECK_H

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/fileio.h"

static int g_passed, g_failed, g_verbose;

static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (ok)
        g_passed++;
    else
        g_failed++;
    if (!ok || g_verbose) {
        printf("%s ", ok ? "ok  " : "FAIL");
        vprintf(fmt, ap);
        printf("\n");
    }
    va_end(ap);
}

/* |got - ref| <= atol + rtol |ref| everywhere; prints the worst element (relative to its bound).
 * (inline: not every program uses it) */
static inline int check_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol,
                              int always_print) {
    double worst = 0.0, worst_abs = 0.0;
    size_t wi = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!isfinite(got[i])) {
            finite = 0;
            wi = i;
            break;
        }
        double r = d / (atol + rtol * fabs((double)ref[i]));
        if (r > worst) {
            worst = r;
            wi = i;
        }
        if (d > worst_abs) worst_abs = d;
    }
    int ok = finite && worst <= 1.0;
    if (ok)
        g_passed++;
    else
        g_failed++;
    if (!ok || always_print || g_verbose)
        printf("%s %-44s max|err| %.2e  worst/tol %.3f  at [%zu] got %.8g ref %.8g\n", ok ? "ok  " : "FAIL", what,
               worst_abs, worst, wi, n ? got[wi] : 0.0, n ? ref[wi] : 0.0);
    return ok;
}

/* ---- A kernel against its reference over many cases (XNNPACK style): every element within its
 * own bound, the worst use of a bound and the first element past it reported in one check. */
typedef struct {
    long cases;
    double worst; /* max |got - ref| / bound */
    char bad[200];
} tally;

static inline uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* bound 0: the same bits (or both NaN: WebAssembly leaves NaN bits unspecified) */
static inline void tally_elem(tally *t, const char *shape, size_t i, float got, float ref, double bound) {
    double e;
    if (isnan(got) || isnan(ref))
        e = isnan(got) && isnan(ref) ? 0.0 : INFINITY;
    else if (bound == 0.0)
        e = f32_bits(got) == f32_bits(ref) ? 0.0 : INFINITY;
    else
        e = fabs((double)got - (double)ref) / bound;
    if (e > t->worst) t->worst = e;
    if (e > 1.0 && !t->bad[0])
        snprintf(t->bad, sizeof t->bad, "; first at %s [%zu]: got %.9g ref %.9g bound %.3g", shape, i, got, ref, bound);
}

static inline void tally_check(const tally *t, const char *what) {
    check(t->worst <= 1.0, "%s: %ld cases, worst/tol %.3f%s", what, t->cases, t->worst, t->bad);
}

/* Two float sums of n terms in different orders differ by at most 2 (n-1) u sum|terms| (u = eps/2,
 * to first order); 2 n eps sum|terms| leaves room for the terms' own roundings. */
static inline double sum_bound(int n, double abs_sum) { return 2.0 * n * FLT_EPSILON * abs_sum + FLT_MIN; }

/* Lengths that reach every tail of 4-, 8- and 16-wide loops twice over, and a few larger ones */
static const int tail_sizes[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,  13,  14,  15,  16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,  29,  30,  31,  32,
                                 33, 34, 35, 36, 37, 38, 39, 40, 63, 64, 65, 127, 129, 255, 256, 257};
#define N_TAIL_SIZES ((int)(sizeof tail_sizes / sizeof *tail_sizes))

static int check_summary(void) {
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}

#endif
