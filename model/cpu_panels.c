/* y = act(x W^T + b) summed in fp32, W held in panels (model/panels.py) of fp32 or bf16: for CPUs with AVX-512, or
 * with AVX2 and FMA, any number of rows.
 *
 * cpu_kernel.c's product dots eight weight rows with each row of x, and its sums end in a reduction across lanes.
 * Here a panel holds 64 output rows' weights input by input, so one 64-byte line is one input's weights for 16
 * outputs: six rows of x times four lines are 24 sums in registers, 10 loads (4 lines, 6 broadcasts of x) for 24
 * FMAs, no reduction, and each thread reads its panels as one stream. GPT-2 124M's 49 products of 16 rows, against
 * cpu_kernel.c's dot products (alternated, medians): on the Xeon host (B, 2 cores) 242-259 GF/s from L2 against
 * 104-111 and 28.7-29.6 ms from memory against 39.5-40.2; on the Zen 5 EPYC (C) 15.8-16.6 against 19.9-22.0 ms.
 * One row: 1.07-1.19x. Past 32 rows it beat oneDNN on C (64 rows 46 against 62 ms, 512 rows 342 against 374), so
 * one layout serves prefill and decode: no second copy (PERFORMANCE.md, "fp32 weights in panels"). Summed input
 * by input in fp32: another order than oneDNN's or MKL's. bf16 panels hold a pair of inputs in each 32-bit lane,
 * so a line is still 16 outputs (group_sums; PERFORMANCE.md, "bf16 weights in panels").
 * With AVX2 (16 registers of 8 lanes) six rows take one line of a step at a time, 12 sums: the same FMAs in the
 * same order per output, so the same bits as with AVX-512 (PERFORMANCE.md, "panels on a CPU without AVX-512"). */
#include <stdlib.h>

#include "cpu_kernel.h"

#if defined(PANEL_PRODUCTS)
enum {
    GROUP = 6,                 /* rows of x multiplied together: with AVX-512 24 sums, 4 weights in 32 registers */
#if defined(__AVX512F__)
    SPAN = 128,                /* steps per pass over the rows: a panel's span (32 kB) stays in L1 for them */
    WHOLE_STEPS = GROUP,       /* rows up to which a group takes whole steps, in one pass over the panel */
    WIDEN_PAST = GROUP,        /* rows past which a bf16 span is widened once for all groups (widened_sums) */
#else
    SPAN = 64,                 /* 16 kB: the L1 of CPUs without AVX-512 is mostly 32 kB */
    WHOLE_STEPS = 3,
    WHOLE_ROWS = GROUP,        /* rows up to which a product takes whole steps, one group as it leads (see below) */
    WIDEN_PAST = 3 * GROUP,
#endif
    WIDE_SPAN = 32,            /* steps of bf16 pairs widened at once for groups of rows: 16 kB in fp32 */
    AHEAD = 8192,              /* bytes of the panel asked for ahead, into L2, by the first of one or two groups */
    STACK_ROWS = 32,           /* rows whose sums fit the stack; more take the heap */
    ROW_BLOCK = 256,           /* rows multiplied per pass over the weights (prefill): see panels_product */
};

enum { FP32 = 0, BF16_WIDE = 1, BF16_PAIRS = 2 };  /* the weights' storage, and how they meet x */

/* The sums of m rows of x (`in` inputs a row) with one panel over steps k0..k1, added to (or, from step 0, put
 * in) sums: (m, PANEL_WIDTH). A step is 64 lanes of 32 bits: one input's fp32 weights (FP32), or a pair of
 * inputs' bf16 weights, the even input's in the low half. BF16_WIDE widens the pair to fp32 in registers by a
 * shift and a mask (exact) and multiplies by x in fp32. BF16_PAIRS, where x is bf16 itself (PyTorch's forward of a
 * bf16 model) and the CPU has AVX512-BF16, multiplies bf16 pairs by vdpbf16ps, a pair's two products summed into
 * a lane in fp32: 1.1-1.5x the widening at 16 rows on the Zen 5, as fast at one. Past WIDEN_PAST rows,
 * BF16_WIDE's span is widened once for all the groups instead (widened_sums).
 * Into L2 ahead of the reads: `lead`, the first of one or two groups of rows, which reads the span from memory,
 * asks AHEAD bytes ahead as it goes; from three groups on (shares > 0), each asks for the next span's steps k with
 * k % shares == share, so that memory streams during every group's pass, not the first's only: GPT-2 124M's 49
 * fp32 products of 16 rows 1.09x and 1.13x on the Xeon host, 1.13-1.31x on the Zen 5, of 32 rows 1.16-1.25x
 * (bench/results/xeon-2026-12-01-s20/panels_ab.c); with two groups it was 0.83-0.88x on the Zen 5. */
#if defined(__AVX512F__)
static inline __attribute__((always_inline)) void group_sums(const void *xv, long in, const void *panel, long k0,
                                                            long k1, float *sums, int m, int kind, int lead,
                                                            int share, int shares) {
    enum { LINES = PANEL_WIDTH / 16 };  /* 512-bit vectors of a step */
    const float *x = xv;
    int turn = 0;  /* k % shares, counted */
    __m512 acc[GROUP][LINES];
    for (int r = 0; r < m; r++)
        for (int v = 0; v < LINES; v++)
            acc[r][v] = k0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(sums + r * PANEL_WIDTH + v * 16);
    for (long k = k0; k < k1; k++) {
        __m512i w[LINES];
        int mine = shares && turn == share;
        if (shares && ++turn == shares)
            turn = 0;
        for (int v = 0; v < LINES; v++) {
            const int32_t *line = (const int32_t *)panel + k * PANEL_WIDTH + v * 16;
            if (lead)  /* a thread's panels are one stream, past its end too: a bad address does not fault */
                _mm_prefetch((const char *)line + AHEAD, _MM_HINT_T1);
            else if (mine)  /* the next span: the next panel's first, past the last step */
                _mm_prefetch((const char *)(line + (k1 - k0) * PANEL_WIDTH), _MM_HINT_T1);
            w[v] = _mm512_loadu_si512(line);
        }
#if defined(__AVX512BF16__)
        if (kind == BF16_PAIRS) {
            for (int r = 0; r < m; r++) {
                __m512bh xr = (__m512bh)_mm512_set1_epi32(((const int32_t *)xv)[r * (in / 2) + k]);
                for (int v = 0; v < LINES; v++)
                    acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)w[v], xr);
            }
            continue;
        }
#endif
        if (kind == BF16_WIDE) {
            for (int v = 0; v < LINES; v++) {
                __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(w[v], 16));
                __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(w[v], _mm512_set1_epi32((int)0xffff0000u)));
                for (int r = 0; r < m; r++)
                    acc[r][v] = _mm512_fmadd_ps(odd, _mm512_set1_ps(x[r * in + 2 * k + 1]),
                                                _mm512_fmadd_ps(even, _mm512_set1_ps(x[r * in + 2 * k]), acc[r][v]));
            }
        } else {
            for (int r = 0; r < m; r++) {
                __m512 xr = _mm512_set1_ps(x[r * in + k]);
                for (int v = 0; v < LINES; v++)
                    acc[r][v] = _mm512_fmadd_ps(_mm512_castsi512_ps(w[v]), xr, acc[r][v]);
            }
        }
    }
    for (int r = 0; r < m; r++)
        for (int v = 0; v < LINES; v++)
            _mm512_storeu_ps(sums + r * PANEL_WIDTH + v * 16, acc[r][v]);
}
#else
/* group_sums with 256-bit vectors: a step's line (16 outputs) is two, and 16 registers hold six rows' sums for one
 * line, so a group of four to six rows among others passes over its span once per line, reading 64 bytes of each
 * 256-byte step. A product of up to six rows (one group, `lead`), and a group of up to three, takes the whole step
 * in one pass instead, as the weights stream from memory: the sums of more than one row do not all fit the
 * registers, but the few rows of a decode are memory-bound, and four passes left the memory idle while they
 * multiplied. On the Zen 1 EPYC one pass a step was 1.3x four at two and three rows; on a Zen 3 EPYC 1.43-1.59x at
 * four to six rows (GPT-2's 49 products), but whole steps for 16 rows 0.83x, the products bound by the multiplies
 * there (PERFORMANCE.md, "a Zen 3 EPYC"). One row leaves the asking ahead to the hardware: 1.1-1.25x on the Zen 1.
 * Each output's sums are the same FMAs in the same order as above: the same bits. */
static inline __attribute__((always_inline)) void group_sums(const void *xv, long in, const void *panel, long k0,
                                                            long k1, float *sums, int m, int kind, int lead,
                                                            int share, int shares) {
    enum { STEP = PANEL_WIDTH / 8 };  /* 256-bit vectors of a step */
    const int vectors = lead || m <= WHOLE_STEPS ? STEP : 2;  /* of the step a pass takes */
    const float *x = xv;
    for (int c = 0; c < STEP; c += vectors) {
        int turn = 0;  /* k % shares, counted */
        __m256 acc[GROUP][STEP];
        for (int r = 0; r < m; r++)
            for (int v = 0; v < vectors; v++)
                acc[r][v] = k0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(sums + r * PANEL_WIDTH + (c + v) * 8);
        for (long k = k0; k < k1; k++) {
            const int32_t *step = (const int32_t *)panel + k * PANEL_WIDTH + c * 8;
            int mine = shares && turn == share;
            if (shares && ++turn == shares)
                turn = 0;
            for (int v = 0; v < vectors; v += 2) {  /* a line a prefetch, as above */
                if (lead && m > 1)
                    _mm_prefetch((const char *)(step + v * 8) + AHEAD, _MM_HINT_T1);
                else if (mine)
                    _mm_prefetch((const char *)(step + v * 8 + (k1 - k0) * PANEL_WIDTH), _MM_HINT_T1);
            }
            if (kind == BF16_WIDE) {
                for (int v = 0; v < vectors; v++) {
                    __m256i w = _mm256_loadu_si256((const __m256i *)(step + v * 8));
                    __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
                    __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int)0xffff0000u)));
                    for (int r = 0; r < m; r++) {
                        __m256 sum = _mm256_fmadd_ps(even, _mm256_set1_ps(x[r * in + 2 * k]), acc[r][v]);
                        acc[r][v] = _mm256_fmadd_ps(odd, _mm256_set1_ps(x[r * in + 2 * k + 1]), sum);
                    }
                }
            } else {
                __m256 w[STEP];
                for (int v = 0; v < vectors; v++)
                    w[v] = _mm256_loadu_ps((const float *)step + v * 8);
                for (int r = 0; r < m; r++) {
                    __m256 xr = _mm256_set1_ps(x[r * in + k]);
                    for (int v = 0; v < vectors; v++)
                        acc[r][v] = _mm256_fmadd_ps(w[v], xr, acc[r][v]);
                }
            }
        }
        for (int r = 0; r < m; r++)
            for (int v = 0; v < vectors; v++)
                _mm256_storeu_ps(sums + r * PANEL_WIDTH + (c + v) * 8, acc[r][v]);
    }
}
#endif

/* group_sums for m = 1..GROUP, the storage and the asking ahead known when compiled: the sums stay in registers */
static inline __attribute__((always_inline)) void rows_sums(const void *x, long in, const void *panel, long k0,
                                                           long k1, float *sums, int m, int kind, int lead,
                                                           int share, int shares) {
#define SUMS(M, KIND) lead ? group_sums(x, in, panel, k0, k1, sums, M, KIND, 1, 0, 0) \
                           : group_sums(x, in, panel, k0, k1, sums, M, KIND, 0, share, shares)
#define CASE(M) case M: \
    kind == BF16_PAIRS ? SUMS(M, BF16_PAIRS) : kind == BF16_WIDE ? SUMS(M, BF16_WIDE) : SUMS(M, FP32); break;
    switch (m) { CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) }
#undef CASE
#undef SUMS
}

/* The sums of `rows` rows (past WIDEN_PAST) of fp32 x with a span k0..k1 of a bf16 panel's pairs, the span widened
 * to fp32 once, into L1, for all the groups, which then multiply it as fp32 panels. Each group widening the span
 * for itself spent two integer operations a vector a group, and the sums of six rows, the pair's two halves and x
 * did not all fit the registers: a bf16 product of 32 rows held in L3 ran at 110 GF/s on the Zen 3 EPYC, fp32's at
 * 157, and 161 widened. GPT-2's 49 bf16 products, alternated call by call (bench/results/xeon-2026-12-02-s30/): on
 * the Xeon host (AVX-512) 1.12x at 8 rows, 1.51x at 16, 2.30x at 32, 2.57x at 256; in 256-bit vectors (AVX2) 1.26x
 * at 32 rows and 1.56x at 256 on the Zen 3, 1.20x and 1.36x on the Xeon built for AVX2, but 0.82-1.10x at 8 to 16
 * rows on the two: hence AVX2's WIDEN_PAST. The same FMAs in the same order as BF16_WIDE's (each pair's even input,
 * then its odd): the same bits. Each group asks for its share of the next span before its pass, so that memory
 * streams while they multiply (1.01-1.09x at 8 to 32 rows on the Zen 3 against asking ahead as the span widens). */
static void widened_sums(const float *x, long in, const int32_t *panel, long k0, long k1, float *sums, long rows) {
    float wide[2 * WIDE_SPAN * PANEL_WIDTH] __attribute__((aligned(64)));
    /* as an fp32 panel whose steps 2 k0..2 k1 are `wide`: the groups' step k reads x's input k and sums from zero
     * at step 0, as they do from the panel itself (the address is only ever read within `wide`) */
    const float *widened = (const float *)((uintptr_t)wide - 2 * k0 * PANEL_WIDTH * sizeof(float));
    for (long k = k0; k < k1; k++) {
        const int32_t *step = panel + k * PANEL_WIDTH;
        float *even = wide + 2 * (k - k0) * PANEL_WIDTH, *odd = even + PANEL_WIDTH;
#if defined(__AVX512F__)
        for (int v = 0; v < PANEL_WIDTH; v += 16) {
            __m512i w = _mm512_loadu_si512(step + v);
            _mm512_store_ps(even + v, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
            _mm512_store_ps(odd + v, _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int)0xffff0000u))));
        }
#else
        for (int v = 0; v < PANEL_WIDTH; v += 8) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(step + v));
            _mm256_store_ps(even + v, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
            _mm256_store_ps(odd + v, _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int)0xffff0000u))));
        }
#endif
    }
    long lines = (k1 - k0) * PANEL_WIDTH * 4 / 64, groups = (rows + GROUP - 1) / GROUP;
    const char *next = (const char *)(panel + k1 * PANEL_WIDTH);  /* the next span, past the panel's end too */
    for (long r = 0, group = 0; r < rows; r += GROUP, group++) {
        for (long line = group * lines / groups; line < (group + 1) * lines / groups; line++)
            _mm_prefetch(next + line * 64, _MM_HINT_T1);
        rows_sums(x + r * in, in, widened, 2 * k0, 2 * k1, sums + r * PANEL_WIDTH,
                  rows - r < GROUP ? (int)(rows - r) : GROUP, FP32, 0, 0, 0);
    }
}

static inline long x_row_bytes(long in, int kind) {  /* x is bf16 for BF16_PAIRS, else fp32 */
    return in * (kind == BF16_PAIRS ? 2 : 4);
}

/* y (+)= act(sums + b) for panel p's outputs of `rows` rows; sums: (rows, PANEL_WIDTH) */
static inline __attribute__((always_inline)) void store_panel(float *y, const float *sums, const float *b, long p,
                                                              long rows, long out, int act, int add) {
    long o = p * PANEL_WIDTH;
    for (long r = 0; r < rows; r++)
        for (long j = 0; j < PANEL_WIDTH && o + j < out; j += 8)
            store(y + r * out, sums + r * PANEL_WIDTH + j, b, o + j, out - o - j < 8 ? out - o - j : 8, act, add);
}

/* y (+)= act(x W^T + b) for rows <= ROW_BLOCK; sums: (rows, PANEL_WIDTH), the thread's */
static inline __attribute__((always_inline)) void block_product(const void *x, const void *w, const float *b,
                                                                float *y, long rows, long in, long out, int act,
                                                                int add, int kind, float *sums) {
    long steps = kind == FP32 ? in : in / 2, row_bytes = x_row_bytes(in, kind);
    int groups = (int)((rows + GROUP - 1) / GROUP);
#if defined(__AVX512F__)
    long span = rows <= WHOLE_STEPS ? steps : SPAN;  /* one pass of one group: nothing to keep in L1 */
    int lead = groups < 3, shares = lead ? 0 : groups;  /* one or two groups: the first asks ahead */
#else  /* the first group leads only alone (taking whole steps); of more, each asks for its share of the next span */
    long span = rows <= WHOLE_ROWS ? steps : SPAN;
    int lead = rows <= WHOLE_ROWS, shares = lead ? 0 : groups;
#endif
    #pragma omp for schedule(static)
    for (long p = 0; p < (out + PANEL_WIDTH - 1) / PANEL_WIDTH; p++) {
        const int32_t *panel = (const int32_t *)w + p * steps * PANEL_WIDTH;
        for (long k0 = 0; k0 < steps; k0 += span) {
            long k1 = k0 + span < steps ? k0 + span : steps;
            for (long r = 0; r < rows; r += GROUP)
                rows_sums((const char *)x + r * row_bytes, in, panel, k0, k1, sums + r * PANEL_WIDTH,
                          rows - r < GROUP ? rows - r : GROUP, kind, lead && r == 0, (int)(r / GROUP), shares);
        }
        store_panel(y, sums, b, p, rows, out, act, add);
    }
}

/* block_product for bf16 panels (BF16_WIDE) and more than WIDEN_PAST rows, each span widened once (widened_sums).
 * Apart from block_product, whose loops are the fp32 and bf16 products' own (see panels_product). */
static void widened_block_product(const float *x, const int32_t *w, const float *b, float *y, long rows, long in,
                                  long out, int act, int add, float *sums) {
    long steps = in / 2;
    #pragma omp for schedule(static)
    for (long p = 0; p < (out + PANEL_WIDTH - 1) / PANEL_WIDTH; p++) {
        for (long k0 = 0; k0 < steps; k0 += WIDE_SPAN)
            widened_sums(x, in, w + p * steps * PANEL_WIDTH, k0, k0 + WIDE_SPAN < steps ? k0 + WIDE_SPAN : steps, sums,
                         rows);
        store_panel(y, sums, b, p, rows, out, act, add);
    }
}

/* y (+)= act(x W^T + b), W in panels of `in` fp32 steps, or (bf16) of in / 2 steps of pairs; x fp32, or bf16
 * (BF16_PAIRS). Past ROW_BLOCK rows (a long prefill), block by block: x is read again for every panel, and a
 * block of it stays in L2 (256 rows of 768 fp32 inputs: 768 kB) where all of x would not. With 2,048 rows at once
 * GPT-2's block products ran at 194 GF/s on the Xeon host, against 275 for 256 rows (PERFORMANCE.md, "Prefill in
 * blocks of 256 rows"). Inlined, with block_product and rows_sums, into each product below, its `kind` a constant:
 * left to GCC, which stopped inlining the group passes into the fp32 product once widened_sums called them too, fp32
 * products of 16 and 32 rows ran at half speed on the Xeon host (bench/results/xeon-2026-12-02-s30/, run93, run94). */
static inline __attribute__((always_inline)) void panels_product(const void *x, const void *w, const float *b,
                                                                 float *y, long rows, long in, long out, int act,
                                                                 int add, int kind) {
    float stack[STACK_ROWS * PANEL_WIDTH] __attribute__((aligned(64)));
    long block = rows < ROW_BLOCK ? rows : ROW_BLOCK, row_bytes = x_row_bytes(in, kind);
    float *sums = block <= STACK_ROWS ? stack : aligned_alloc(64, block * PANEL_WIDTH * sizeof(float));
    for (long r = 0; r < rows; r += block) {
        long n = rows - r < block ? rows - r : block;
        if (kind == BF16_WIDE && n > WIDEN_PAST)
            widened_block_product((const float *)x + r * in, w, b, y + r * out, n, in, out, act, add, sums);
        else
            block_product((const char *)x + r * row_bytes, w, b, y + r * out, n, in, out, act, add, kind, sums);
    }
    if (sums != stack)
        free(sums);
}

void product_panels(const float *x, const float *w, const float *b, float *y,
                    long rows, long in, long out, int act, int add) {
    panels_product(x, w, b, y, rows, in, out, act, add, FP32);
}

void product_panels_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                         long rows, long in, long out, int act, int add) {
    panels_product(x, w, b, y, rows, in, out, act, add, BF16_WIDE);
}

void skinny_linear_panels(const float *x, const float *w, const float *b, float *y,
                          long rows, long in, long out, int act, int threads) {
    #pragma omp parallel num_threads(threads)
    product_panels(x, w, b, y, rows, in, out, act, 0);
}

void skinny_linear_panels_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                               long rows, long in, long out, int act, int threads) {
    #pragma omp parallel num_threads(threads)
    product_panels_bf16(x, w, b, y, rows, in, out, act, 0);
}

/* The sums of one row x with the 16 outputs of the line holding output o (o - o % 16 on), W fp32 panels of `in`
 * steps, into y16: in the bits panels_product gives them (input by input, an FMA each, from zero), whatever the
 * rows beside x there. */
void panel_line(const float *x, const float *w, long in, long o, float *y16) {
    const float *line = w + o / PANEL_WIDTH * in * PANEL_WIDTH + o % PANEL_WIDTH / 16 * 16;
#if defined(__AVX512F__)
    __m512 acc = _mm512_setzero_ps();
    for (long k = 0; k < in; k++)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(line + k * PANEL_WIDTH), _mm512_set1_ps(x[k]), acc);
    _mm512_storeu_ps(y16, acc);
#else
    __m256 low = _mm256_setzero_ps(), high = _mm256_setzero_ps();
    for (long k = 0; k < in; k++) {
        low = _mm256_fmadd_ps(_mm256_loadu_ps(line + k * PANEL_WIDTH), _mm256_set1_ps(x[k]), low);
        high = _mm256_fmadd_ps(_mm256_loadu_ps(line + k * PANEL_WIDTH + 8), _mm256_set1_ps(x[k]), high);
    }
    _mm256_storeu_ps(y16, low);
    _mm256_storeu_ps(y16 + 8, high);
#endif
}

#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
#include <sys/syscall.h>
#include <unistd.h>

/* 1 where Linux lends this process the tiles' 8 kB of register state (asked once, for every thread), else 0 */
int amx_bf16_ready(void) {
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}

typedef struct {  /* the tile configuration _tile_loadconfig takes: palette 1, bytes a row and rows per tile */
    uint8_t palette, start_row, reserved[14];
    uint16_t bytes[16];
    uint8_t rows[16];
} TileConfig;

/* y = x W^T for up to 16 bf16 rows x, W in bf16 panels of in / 2 steps of pairs (in: a multiple of 32), by AMX
 * tiles, after amx_bf16_ready. The tile product takes its second operand as pairs of inputs in 32-bit lanes, 16
 * outputs a row: 16 steps of one line of a panel, 256 bytes apart, so the panels serve as they are. A tile product
 * is 8,192 multiply-adds (16 rows, 16 outputs, 32 inputs) where a vdpbf16ps is 32: the head is read at the
 * memory's pace, where vdpbf16ps multiplied 16 rows more slowly than fp32 FMAs on the Xeon host. Tiles 0-3: a
 * panel's sums, 4: x over 32 inputs, 5-7: weights. Every thread of a parallel region calls it; sums in fp32,
 * rounded to nearest. */
void product_panels_amx(const uint16_t *x, const uint16_t *w, float *y, long rows, long in, long out) {
    TileConfig config = {.palette = 1};
    for (int t = 0; t < 8; t++) {
        config.rows[t] = t < 5 ? (uint8_t)rows : 16;
        config.bytes[t] = 64;
    }
    _tile_loadconfig(&config);
    float part[16 * PANEL_WIDTH];  /* the sums of a last panel that passes the end of y's columns */
    long steps = in / 2;
    #pragma omp for schedule(static)
    for (long p = 0; p < (out + PANEL_WIDTH - 1) / PANEL_WIDTH; p++) {
        const char *panel = (const char *)w + p * steps * PANEL_WIDTH * 4;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (long k = 0; k < steps; k += 16) {
            const char *lines = panel + k * PANEL_WIDTH * 4;
            for (int b = 0; b < 16 * PANEL_WIDTH * 4; b += 64)  /* 16 steps (4 kB), AHEAD bytes on, into L2 */
                _mm_prefetch(lines + AHEAD + b, _MM_HINT_T1);
            _tile_loadd(4, x + 2 * k, in * 2);
            _tile_loadd(5, lines, PANEL_WIDTH * 4);
            _tile_dpbf16ps(0, 4, 5);
            _tile_loadd(6, lines + 64, PANEL_WIDTH * 4);
            _tile_dpbf16ps(1, 4, 6);
            _tile_loadd(7, lines + 128, PANEL_WIDTH * 4);
            _tile_dpbf16ps(2, 4, 7);
            _tile_loadd(5, lines + 192, PANEL_WIDTH * 4);
            _tile_dpbf16ps(3, 4, 5);
        }
        long o = p * PANEL_WIDTH;
        int whole = o + PANEL_WIDTH <= out;
        float *to = whole ? y + o : part;
        long stride = (whole ? out : PANEL_WIDTH) * 4;
        _tile_stored(0, to, stride);
        _tile_stored(1, to + 16, stride);
        _tile_stored(2, to + 32, stride);
        _tile_stored(3, to + 48, stride);
        for (long r = 0; !whole && r < rows; r++)
            memcpy(y + r * out + o, part + r * PANEL_WIDTH, (out - o) * sizeof(float));
    }
    _tile_release();
}
#endif

#if defined(__AVX512BF16__)
void product_panels_bf16_pairs(const uint16_t *x, const uint16_t *w, const float *b, float *y,
                               long rows, long in, long out, int act, int add) {
    panels_product(x, w, b, y, rows, in, out, act, add, BF16_PAIRS);
}

void skinny_linear_panels_bf16_pairs(const uint16_t *x, const uint16_t *w, const float *b, float *y,
                                     long rows, long in, long out, int act, int threads) {
    #pragma omp parallel num_threads(threads)
    product_panels_bf16_pairs(x, w, b, y, rows, in, out, act, 0);
}
#endif
#endif
