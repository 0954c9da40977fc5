/* check.h — the tiny test harness shared by the C test programs: counted checks, a tolerance
 * comparison that reports the worst element, file reading, and the closing "N passed, N failed". */
#ifndef COPE_CHECK_H
#define COPE_CHECK_H

#include <math.h>
#include <stdarg.h>
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

/* |got - ref| <= atol + rtol |ref| everywhere; prints the worst element (relative to its bound). */
static int check_close(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol,
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

static int check_summary(void) {
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}

#endif
