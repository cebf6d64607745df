/* y = act(x W^T + b) in fp32 with W held in panels (model/panels.py): for CPUs with AVX-512, any number of rows.
 *
 * cpu_kernel.c's product dots eight weight rows with each row of x, and its sums end in a reduction across lanes.
 * Here a panel holds 64 output rows' weights input by input, so one 64-byte line is one input's weights for 16
 * outputs: six rows of x times four lines are 24 sums in registers, 10 loads (4 lines, 6 broadcasts of x) for 24
 * FMAs, no reduction, and each thread reads its panels as one stream. GPT-2 124M's 49 products of 16 rows, against
 * cpu_kernel.c's dot products (alternated, medians): on the Xeon host (B, 2 cores) 242-259 GF/s from L2 against
 * 104-111 and 28.7-29.6 ms from memory against 39.5-40.2; on the Zen 5 EPYC (C) 15.8-16.6 against 19.9-22.0 ms.
 * One row: 1.07-1.19x. Past 32 rows it beat oneDNN on C (64 rows 46 against 62 ms, 512 rows 342 against 374), so
 * one layout serves prefill and decode: no second copy (PERFORMANCE.md, "fp32 weights in panels"). Summed input
 * by input in fp32: another order than oneDNN's or MKL's. */
#include <stdlib.h>

#include "cpu_kernel.h"

#if defined(__AVX512F__)
enum {
    LINES = PANEL_WIDTH / 16,  /* 512-bit vectors of a panel's input */
    GROUP = 6,                 /* rows of x multiplied together: 24 sums and 4 weight vectors in 32 registers */
    SPAN = 128,                /* inputs per pass over the rows: a panel's span (32 kB) stays in L1 for them */
    AHEAD = 8192,              /* bytes of the panel asked for ahead, into L2, by the first of one or two groups */
    STACK_ROWS = 32,           /* rows whose sums fit the stack; more take the heap */
};

/* The sums of m rows of x (stride in) with one panel over inputs k0..k1, added to (or, from input 0, put in) sums:
 * (m, PANEL_WIDTH). Into L2 ahead of the reads: `lead`, the first of one or two groups of rows, which reads the
 * span from memory, asks AHEAD bytes ahead as it goes; from three groups on (shares > 0), each asks for the next
 * span's inputs k with k % shares == share, so that memory streams during every group's pass, not the first's
 * only: GPT-2 124M's 49 products of 16 rows 1.09x and 1.13x on the Xeon host, 1.13-1.31x on the Zen 5, of 32 rows
 * 1.16-1.25x (bench/results/xeon-2026-12-01-s20/panels_ab.c); with two groups it was 0.83-0.88x on the Zen 5. */
static inline __attribute__((always_inline)) void group_sums(const float *x, long in, const float *panel, long k0,
                                                            long k1, float *sums, int m, int lead, int share,
                                                            int shares) {
    int turn = 0;  /* k % shares, counted */
    __m512 acc[GROUP][LINES];
    for (int r = 0; r < m; r++)
        for (int v = 0; v < LINES; v++)
            acc[r][v] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(sums + r * PANEL_WIDTH + v * 16);
    for (long k = k0; k < k1; k++) {
        __m512 w[LINES];
        int mine = shares && turn == share;
        if (shares && ++turn == shares)
            turn = 0;
        for (int v = 0; v < LINES; v++) {
            const float *line = panel + k * PANEL_WIDTH + v * 16;
            if (lead)  /* a thread's panels are one stream, past its end too: a bad address does not fault */
                _mm_prefetch((const char *)line + AHEAD, _MM_HINT_T1);
            else if (mine)  /* the next span: the next panel's first, past the last input */
                _mm_prefetch((const char *)(line + (k1 - k0) * PANEL_WIDTH), _MM_HINT_T1);
            w[v] = _mm512_loadu_ps(line);
        }
        for (int r = 0; r < m; r++) {
            __m512 xr = _mm512_set1_ps(x[r * in + k]);
            for (int v = 0; v < LINES; v++)
                acc[r][v] = _mm512_fmadd_ps(w[v], xr, acc[r][v]);
        }
    }
    for (int r = 0; r < m; r++)
        for (int v = 0; v < LINES; v++)
            _mm512_storeu_ps(sums + r * PANEL_WIDTH + v * 16, acc[r][v]);
}

/* group_sums for m = 1..GROUP known when compiled: the sums stay in registers */
static void rows_sums(const float *x, long in, const float *panel, long k0, long k1, float *sums, int m, int lead,
                      int share, int shares) {
#define CASE(M) case M: lead ? group_sums(x, in, panel, k0, k1, sums, M, 1, 0, 0) \
                             : group_sums(x, in, panel, k0, k1, sums, M, 0, share, shares); break;
    switch (m) { CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) }
#undef CASE
}

void product_panels(const float *x, const float *w, const float *b, float *y,
                    long rows, long in, long out, int act, int add) {
    float stack[STACK_ROWS * PANEL_WIDTH] __attribute__((aligned(64)));
    float *sums = rows <= STACK_ROWS ? stack : aligned_alloc(64, rows * PANEL_WIDTH * sizeof(float));
    long span = rows <= GROUP ? in : SPAN;  /* one group: nothing to keep in L1 for the next */
    int groups = (int)((rows + GROUP - 1) / GROUP);
    #pragma omp for schedule(static)
    for (long p = 0; p < (out + PANEL_WIDTH - 1) / PANEL_WIDTH; p++) {
        const float *panel = w + p * in * PANEL_WIDTH;
        for (long k0 = 0; k0 < in; k0 += span) {
            long k1 = k0 + span < in ? k0 + span : in;
            for (long r = 0; r < rows; r += GROUP)
                rows_sums(x + r * in, in, panel, k0, k1, sums + r * PANEL_WIDTH, rows - r < GROUP ? rows - r : GROUP,
                          r == 0 && groups < 3, (int)(r / GROUP), groups < 3 ? 0 : groups);
        }
        long o = p * PANEL_WIDTH;
        for (long r = 0; r < rows; r++)
            for (long j = 0; j < PANEL_WIDTH && o + j < out; j += 8)
                store(y + r * out, sums + r * PANEL_WIDTH + j, b, o + j, out - o - j < 8 ? out - o - j : 8, act, add);
    }
    if (sums != stack)
        free(sums);
}

void skinny_linear_panels(const float *x, const float *w, const float *b, float *y,
                          long rows, long in, long out, int act, int threads) {
    #pragma omp parallel num_threads(threads)
    product_panels(x, w, b, y, rows, in, out, act, 0);
}
#endif
