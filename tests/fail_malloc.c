/* fail_malloc.c — an LD_PRELOAD shim for tests/test_cli.sh (glibc): allocation number
 * COPE_FAIL_MALLOC (malloc, calloc and realloc counted together from 1) returns NULL and every
 * other one succeeds, so a sweep over that number runs each allocation's failure path once.
 * With COPE_FAIL_MALLOC=0 nothing fails and the count is written to stderr at exit. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

static long count, fail_at = -1;

static int fail_now(void) {
    if (fail_at < 0) {
        const char *e = getenv("COPE_FAIL_MALLOC"); /* getenv does not allocate */
        fail_at = e ? atol(e) : 0;
    }
    return ++count == fail_at;
}

void *malloc(size_t n) { return fail_now() ? NULL : __libc_malloc(n); }
void *calloc(size_t n, size_t size) { return fail_now() ? NULL : __libc_calloc(n, size); }
void *realloc(void *p, size_t n) { return fail_now() ? NULL : __libc_realloc(p, n); }

__attribute__((destructor)) static void report(void) {
    if (fail_at != 0) return;
    char line[48];
    int len = snprintf(line, sizeof line, "allocations: %ld\n", count);
    if (write(2, line, (size_t)len) < 0) return;
}
