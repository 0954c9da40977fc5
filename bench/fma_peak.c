/* fma_peak.c — measures the fp32 FMA throughput of this CPU for `make bench` (bench/run.sh), so the
 * "share of peak" there rests on the machine's real SIMD width and number of FMA units.
 * Prints one line: fma_peak lanes=16 units=2 gflops_1t=... gflops_2t=... ghz=...
 *
 * Method: 12 independent FMA chains per thread (latency 4 x 2 ports needs at least 8 in flight;
 * 12 plus two operands fit AVX2's 16 registers), timed at 512-bit and at 256-bit width. Every x86 core with AVX2 since Haswell has two 256-bit FMA
 * units, so the 256-bit rate gives the running clock (flops / (8 lanes x 2 units x 2)); the ratio
 * of the 512-bit rate to it tells one 512-bit FMA unit (ratio ~1) from two (ratio ~2). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define CHAINS 12
#define ITERS  20000000L

#if defined(__AVX2__)
/* One thread is timed in its own CPU time, so other processes on this shared machine do not count;
 * two threads in wall time, which is what tells whether a second core is free. */
static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Each kernel returns a sum so the compiler keeps the chains; flops = ITERS x CHAINS x lanes x 2. */
#ifdef __AVX512F__
static float fma512(long iters) {
    __m512 acc[CHAINS], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm512_add_ps(acc[0], acc[c]);
    return _mm512_reduce_add_ps(acc[0]);
}
#endif

#ifdef __AVX2__
static float fma256(long iters) {
    __m256 acc[CHAINS], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    for (int c = 1; c < CHAINS; c++) acc[0] = _mm256_add_ps(acc[0], acc[c]);
    float s[8];
    _mm256_storeu_ps(s, acc[0]);
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}
#endif

/* GFLOP/s of `threads` threads each running kernel(ITERS), best of 5 tries (the machine is shared). */
static double rate(float (*kernel)(long), int lanes, int threads) {
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        clockid_t clock = threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
        double t0 = now(clock);
#pragma omp parallel for num_threads(threads) reduction(+ : sink)
        for (int t = 0; t < threads; t++) sink += kernel(ITERS);
        double g = (double)ITERS * CHAINS * lanes * 2 * threads / (now(clock) - t0) * 1e-9;
        if (g > best) best = g;
    }
    return best;
}
#endif

int main(void) {
#if defined(__AVX512F__)
    double g256 = rate(fma256, 8, 1), g1 = rate(fma512, 16, 1), g2 = rate(fma512, 16, 2);
    int units = g1 / g256 > 1.5 ? 2 : 1;
    printf("fma_peak lanes=16 units=%d gflops_1t=%.1f gflops_2t=%.1f ghz=%.2f\n", units, g1, g2, g256 / 32);
#elif defined(__AVX2__)
    double g1 = rate(fma256, 8, 1), g2 = rate(fma256, 8, 2);
    printf("fma_peak lanes=8 units=2 gflops_1t=%.1f gflops_2t=%.1f ghz=%.2f\n", g1, g2, g1 / 32);
#else
    printf("fma_peak lanes=4 units=0 gflops_1t=0 gflops_2t=0 ghz=0\n"); /* not measured here */
#endif
    return 0;
}
