/* y = act(x W^T + b) in fp32 for a few rows of x: the products of a CPU decode step, W in fp32, bf16 or int8.
 *
 * Decoding multiplies one row per sequence by every weight matrix, so its time is that of reading the
 * weights from memory once. Each thread takes a contiguous band of W's output rows, eight at a time, and
 * dots them with every row of x while they sit in L1: W streams from memory once, whatever the row count.
 * The `omp simd` reductions let the compiler split each sum over vector lanes (fp32 accumulation, another
 * summation order than oneDNN's, as oneDNN's differs from MKL's).
 *
 * Compiled and loaded by model/cpu_kernel.py; OpenMP here is the runtime torch already loaded.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernel.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

/* Every row of x dotted with eight rows of weights WK[0..7] of type TYPE (WEIGHT(p, i): row p's i-th weight as a
 * float), written to the n outputs o..o+n-1 of each row of y, or added to them where `add` (a residual connection).
 * Named row pointers and sums vectorise where arrays of them do not. */
#define DOT8_ROWS(TYPE, WEIGHT, WK)                                                                     \
    const TYPE *w0 = WK[0], *w1 = WK[1], *w2 = WK[2], *w3 = WK[3];                                     \
    const TYPE *w4 = WK[4], *w5 = WK[5], *w6 = WK[6], *w7 = WK[7];                                     \
    for (long r = 0; r < rows; r++) {                                                                   \
        const float *xr = x + r * in;                                                                   \
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f;  \
        _Pragma("omp simd reduction(+:s0, s1, s2, s3, s4, s5, s6, s7)")                                \
        for (long i = 0; i < in; i++) {                                                                 \
            s0 += WEIGHT(w0, i) * xr[i];                                                                \
            s1 += WEIGHT(w1, i) * xr[i];                                                                \
            s2 += WEIGHT(w2, i) * xr[i];                                                                \
            s3 += WEIGHT(w3, i) * xr[i];                                                                \
            s4 += WEIGHT(w4, i) * xr[i];                                                                \
            s5 += WEIGHT(w5, i) * xr[i];                                                                \
            s6 += WEIGHT(w6, i) * xr[i];                                                                \
            s7 += WEIGHT(w7, i) * xr[i];                                                                \
        }                                                                                               \
        float sums[8] = {s0, s1, s2, s3, s4, s5, s6, s7};                                               \
        store(y + r * out, sums, b, o, n, act, add);                                                    \
    }

#define FP32(p, i) (p)[i]

#define BF16(p, i) bf16_to_float((p)[i])

/* Rows o..o+7 of w, the last one repeated past the end of w: those sums are computed, not stored. */
#define EIGHT_ROWS(TYPE)                                                                                \
    long n = out - o < 8 ? out - o : 8;                                                                 \
    const TYPE *wk[8];                                                                                  \
    for (long k = 0; k < 8; k++)                                                                        \
        wk[k] = w + (o + (k < n ? k : n - 1)) * in;

#if defined(__AVX512F__)
/* Which of dot8_one_row's two reading orders one fp32 row of x takes (dot8_one_row_stream where nonzero); set by
 * cpu_paths from a timing on the model's weights, cached per machine. Without AVX-512 there is one order, and no
 * setter: cpu_paths then times nothing. */
static int one_row_stream = 0;

void set_one_row_stream(int on) {
    one_row_stream = on;
}

/* Several rows of x against eight fp32 weight rows, three rows of x at a time: 24 sums in registers, 11 loads
 * for 24 FMAs (one row at a time takes 9 loads for 8, and the loads bound it). A last group of one or two rows
 * repeats its first row in the missing places: those sums are computed, not stored. in: a multiple of 16.
 * `streamed`: wk are the weights themselves, read from memory once. Then, while the eight rows sit in L1, each
 * group of x's rows asks for its share of the next eight rows' lines (rows k with k % groups == group), so that
 * the next block streams in while this one is multiplied: GPT-2 124M's 49 products of 16 rows took 13.7-14.4 ms
 * against 18.7-19.7 without, and of 8 rows 10.6-11.2 against 13.6-14.0 (Zen 5 EPYC, 2 threads, alternated);
 * asking in the first group only, 17.4 and 12.1. Else wk is a widened copy already in L1 (product_bf16), and the
 * empty asm keeps each loaded weight vector in a register: without it GCC 12 folds the load into each of the
 * vector's three FMAs, and 16 bf16 rows took 28.8-29.5 ms against 17.0-17.2 (with the next prefetch). */
static void dot8_rows_by3(const float *x, const float *const *wk, const float *b, float *y, long rows, long in,
                          long out, long o, long n, int act, int add, int streamed) {
    long groups = (rows + 2) / 3;
    for (long r = 0; r < rows; r += 3) {
        long group = r / 3, m = rows - r < 3 ? rows - r : 3;
        const float *x0 = x + r * in, *x1 = x + (r + (m > 1)) * in, *x2 = x + (r + (m > 2) * 2) * in;
        __m512 a0[8], a1[8], a2[8];
        for (int k = 0; k < 8; k++)
            a0[k] = a1[k] = a2[k] = _mm512_setzero_ps();
        for (long i = 0; i < in; i += 16) {
            __m512 v0 = _mm512_loadu_ps(x0 + i), v1 = _mm512_loadu_ps(x1 + i), v2 = _mm512_loadu_ps(x2 + i);
            for (int k = 0; k < 8; k++) {
                __m512 wv = _mm512_loadu_ps(wk[k] + i);
                if (!streamed)
                    __asm__("" : "+v"(wv));
                else if (k % groups == group)  /* past w's end: no fault */
                    _mm_prefetch((const char *)(wk[k] + 8 * in + i), _MM_HINT_T0);
                a0[k] = _mm512_fmadd_ps(wv, v0, a0[k]);
                a1[k] = _mm512_fmadd_ps(wv, v1, a1[k]);
                a2[k] = _mm512_fmadd_ps(wv, v2, a2[k]);
            }
        }
        __m512 *acc[3] = {a0, a1, a2};
        for (long j = 0; j < m; j++) {
            float sums[8];
            for (int k = 0; k < 8; k++)
                sums[k] = _mm512_reduce_add_ps(acc[j][k]);
            store(y + (r + j) * out, sums, b, o, n, act, add);
        }
    }
}

/* One row of x against eight fp32 weight rows, each load a cache line of one row. The eight rows are eight short
 * streams (3 kB each in GPT-2's attention) that the prefetchers pick up late, so each line of the next eight rows
 * is asked for as the same line of these is read: GPT-2 124M's 49 one-row products took 7.1 ms against 8.1-8.6
 * (Zen 5 EPYC, 2 threads, alternated). in: a multiple of 16. */
static void dot8_one_row(const float *x, const float *const *wk, long in, float *sums) {
    __m512 acc[8];
    for (int k = 0; k < 8; k++)
        acc[k] = _mm512_setzero_ps();
    for (long i = 0; i < in; i += 16) {
        __m512 xv = _mm512_loadu_ps(x + i);
        for (int k = 0; k < 8; k++) {
            _mm_prefetch((const char *)(wk[k] + 8 * in + i), _MM_HINT_T0);  /* past w's end: no fault */
            acc[k] = _mm512_fmadd_ps(_mm512_loadu_ps(wk[k] + i), xv, acc[k]);
        }
    }
    for (int k = 0; k < 8; k++)
        sums[k] = _mm512_reduce_add_ps(acc[k]);
}

/* dot8_one_row's sums, one row after another: a thread's band of w is then read as one sequential stream, left to
 * the hardware prefetchers. On the Zen 5 EPYC, GPT-2 124M's 48 one-row block products took 4.3-4.7 ms this way
 * against 5.2-5.4 in most minutes (prefetches ahead on top of it, 256 to 1024 floats, were slower); on the Xeon
 * (Sapphire Rapids class) 4-6% longer than dot8_one_row, or no different (2 threads, alternated). So cpu_paths
 * times the two on the model's weights and sets `one_row_stream` (set_one_row_stream). Four sums a row keep two
 * FMA units busy. in: a multiple of 16. */
static void dot8_one_row_stream(const float *x, const float *const *wk, long in, float *sums) {
    for (int k = 0; k < 8; k++) {
        const float *w = wk[k];
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps();
        __m512 a3 = _mm512_setzero_ps();
        long i = 0;
        for (; i + 64 <= in; i += 64) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 32), _mm512_loadu_ps(x + i + 32), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 48), _mm512_loadu_ps(x + i + 48), a3);
        }
        for (; i < in; i += 16)
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        sums[k] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
}
#endif

/* Every row of x against eight fp32 weight rows: with AVX-512, one row prefetching and several three at a time
 * (1.2-1.8x at 8 and 16 rows on GPT-2's shapes on a Xeon); else one row at a time. streamed: as dot8_rows_by3. */
static void dot8_fp32(const float *x, const float *const *wk, const float *b, float *y, long rows, long in,
                      long out, long o, long n, int act, int add, int streamed) {
#if defined(__AVX512F__)
    if (rows == 1 && in % 16 == 0) {
        float sums[8];
        if (one_row_stream)
            dot8_one_row_stream(x, wk, in, sums);
        else
            dot8_one_row(x, wk, in, sums);
        store(y, sums, b, o, n, act, add);
        return;
    }
    if (rows > 1 && in % 16 == 0) {
        dot8_rows_by3(x, wk, b, y, rows, in, out, o, n, act, add, streamed);
        return;
    }
#endif
    DOT8_ROWS(float, FP32, wk)
}

/* x: (rows, in), w: (out, in), b: (out) or NULL, y: (rows, out); all contiguous. Each thread takes a band of
 * w's rows, eight at a time (eight streams a thread beat four by ~10%: GPT-2 124M's 49 decode products, 19.7 vs
 * 22.2 ms median). */
void product(const float *x, const float *w, const float *b, float *y,
                    long rows, long in, long out, int act, int add) {
    #pragma omp for schedule(static)
    for (long o = 0; o < out; o += 8) {
        EIGHT_ROWS(float)
        dot8_fp32(x, wk, b, y, rows, in, out, o, n, act, add, 1);
    }
}

void skinny_linear(const float *x, const float *w, const float *b, float *y,
                   long rows, long in, long out, int act, int threads) {
    #pragma omp parallel num_threads(threads)
    product(x, w, b, y, rows, in, out, act, 0);
}

#if defined(__AVX2__) && defined(__FMA__)
static inline float sum_lanes(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* One row of x against eight bf16 weight rows, 16 weights at a time and no shuffle: in each 32-bit lane the even
 * weight is the low half (shifted up, it is its fp32) and the odd one the high half (masked, likewise), so x comes
 * split into its even (xe) and odd (xo) elements. in: a multiple of 16. The widening the compiler makes of the
 * portable loop (a zero-extending shuffle per 8 weights) streamed 16 GB/s where fp32 streams 25 on the EPYC.
 * Eight rows of 1.5 kB (GPT-2's attention) are short streams that the prefetchers pick up late: fetching the next
 * eight rows' lines ahead took a bf16 step of GPT-2 124M from 11.1-11.4 to 9.8-10.3 ms (EPYC, 2 threads). */
static void dot8_bf16_halves(const float *xe, const float *xo, const uint16_t *const *wk, long in, float *sums) {
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 acc[8];
    for (int k = 0; k < 8; k++)
        acc[k] = _mm256_setzero_ps();
    for (long i = 0; i < in; i += 16) {
        __m256 even = _mm256_loadu_ps(xe + i / 2), odd = _mm256_loadu_ps(xo + i / 2);
        for (int k = 0; k < 8; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(wk[k] + i));
            if (i % 32 == 0)  /* a cache line of the same row of the next eight (a bad address does not fault) */
                _mm_prefetch((const char *)(wk[k] + 8 * in + i), _MM_HINT_T0);
            acc[k] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), even, acc[k]);
            acc[k] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, high)), odd, acc[k]);
        }
    }
    for (int k = 0; k < 8; k++)
        sums[k] = sum_lanes(acc[k]);
}

#if defined(__AVX512F__)
/* dot8_bf16_halves with 512-bit vectors: 32 weights a load, one cache line. in: a multiple of 32. GPT-2 124M's 49
 * one-row bf16 products took 4.21-4.36 ms against 4.46-4.57 with 256-bit ones (Zen 5 EPYC, alternated). */
static void dot8_bf16_halves_512(const float *xe, const float *xo, const uint16_t *const *wk, long in,
                                 float *sums) {
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512 acc[8];
    for (int k = 0; k < 8; k++)
        acc[k] = _mm512_setzero_ps();
    for (long i = 0; i < in; i += 32) {
        __m512 even = _mm512_loadu_ps(xe + i / 2), odd = _mm512_loadu_ps(xo + i / 2);
        for (int k = 0; k < 8; k++) {
            __m512i v = _mm512_loadu_si512(wk[k] + i);
            _mm_prefetch((const char *)(wk[k] + 8 * in + i), _MM_HINT_T0);
            acc[k] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), even, acc[k]);
            acc[k] = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), odd, acc[k]);
        }
    }
    for (int k = 0; k < 8; k++)
        sums[k] = _mm512_reduce_add_ps(acc[k]);
}
#endif

#define AVX2_FMA 1
#else
#define AVX2_FMA 0
#endif

/* The product with bf16 weights (DTYPE=bfloat16): half the bytes to stream; x, b, y and the sums stay fp32. One
 * row is multiplied as the weights stream in (by halves where the CPU has AVX2); several rows widen each block of
 * eight weight rows once into a per-thread buffer (it stays in L1/L2) rather than once per row. */
void product_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                         long rows, long in, long out, int act, int add) {
    int halves = AVX2_FMA && rows == 1 && in % 16 == 0;
    float *wide = halves || rows > 1 ? malloc((halves ? in : 8 * in) * sizeof(float)) : NULL;
    if (halves)
        for (long i = 0; i < in; i++)
            wide[(i & 1) * (in / 2) + i / 2] = x[i];
    #pragma omp for schedule(static)
    for (long o = 0; o < out; o += 8) {
        EIGHT_ROWS(uint16_t)
        if (halves) {
#if AVX2_FMA
            float sums[8];
#if defined(__AVX512F__)
            if (in % 32 == 0)
                dot8_bf16_halves_512(wide, wide + in / 2, wk, in, sums);
            else
#endif
                dot8_bf16_halves(wide, wide + in / 2, wk, in, sums);
            store(y, sums, b, o, n, act, add);
#endif
        } else if (rows > 1) {
            const float *wr[8];
            for (long k = 0; k < 8; k++) {
                wr[k] = wide + k * in;
                #pragma omp simd
                for (long i = 0; i < in; i++)
                    wide[k * in + i] = bf16_to_float(wk[k][i]);
#if AVX2_FMA  /* the same row of the next eight (a bad address does not fault): 16 rows 17.0 against 20.4 ms */
                for (long i = 0; i < in; i += 32)
                    _mm_prefetch((const char *)(wk[k] + 8 * in + i), _MM_HINT_T0);
#endif
            }
            dot8_fp32(x, wr, b, y, rows, in, out, o, n, act, add, 0);
        } else {
            DOT8_ROWS(uint16_t, BF16, wk)
        }
    }
    free(wide);
}

void skinny_linear_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                        long rows, long in, long out, int act, int threads) {
    #pragma omp parallel num_threads(threads)
    product_bf16(x, w, b, y, rows, in, out, act, 0);
}

/* The product with int8 weights and a scale per output row (QUANTIZE=int8): a quarter of fp32's bytes. As
 * llama.cpp's q8_0 does, each row of x is quantized per block of QBLOCK values (an int8 each and an fp32 scale per
 * block, max|x| / 127), so the products are of int8 pairs summed exactly in int32 per block, then scaled; where a
 * weight widened to fp32 and multiplied the fp32 x took 12 instructions per 32 weights on AVX2, a block of int8
 * pairs takes 6. Blocks rather than one scale per row keep an outlier feature from flattening its neighbours. */
enum { QBLOCK = 32 };  /* the activations' quantization block; a tile's TILE_COLUMNS span two */

/* x's rows, each quantized per block: q (rows, in) int8, d (rows, blocks) the blocks' scales. */
static void quantize_blocks(const float *x, long rows, long in, int8_t *q, float *d) {
    long blocks = (in + QBLOCK - 1) / QBLOCK;
    for (long r = 0; r < rows; r++)
        for (long k = 0; k < blocks; k++) {
            long first = r * in + k * QBLOCK, n = in - k * QBLOCK < QBLOCK ? in - k * QBLOCK : QBLOCK;
            float top = 0.0f;
            for (long i = 0; i < n; i++)
                top = fmaxf(top, fabsf(x[first + i]));
            float inverse = top > 0.0f ? 127.0f / top : 0.0f;
            d[r * blocks + k] = top / 127.0f;
            for (long i = 0; i < n; i++)
                q[first + i] = (int8_t)nearbyintf(x[first + i] * inverse);
        }
}

/* n int8 weights dotted with n quantized values of x, in int32 (exact). */
static inline long dot_block(const int8_t *xq, const int8_t *w, long n) {
    long s = 0;
    for (long i = 0; i < n; i++)
        s += xq[i] * w[i];
    return s;
}

#if AVX2_FMA
/* Eight int32 lanes summing the 32 products of int8 pairs w[i] * x[i]. maddubs multiplies unsigned by signed
 * bytes, so w's signs move onto x: |w| * (x signed by w). Its pairwise int16 sums stay below 2 * 127 * 127. */
static inline __m256i int8_products(__m256i w, __m256i x) {
    __m256i magnitude = _mm256_sign_epi8(w, w), signed_x = _mm256_sign_epi8(x, w);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), magnitude, signed_x);
#elif defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), magnitude, signed_x);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, signed_x), _mm256_set1_epi16(1));
#endif
}
#endif

/* One quantized row of x (xq, its block scales d) against a tile of eight int8 weight rows: the rows' sums,
 * unscaled. A thread reads its tiles as one stream; read row by row, eight short streams per thread (768 bytes
 * each in GPT-2's attention) left the prefetchers behind: the C step of GPT-2 124M took min 7.2-7.6 ms row by
 * row, 5.9-6.2 from tiles (EPYC, 2 threads). */
static void dot8_int8(const int8_t *xq, const float *d, const int8_t *tile, long in, float *sums) {
    long k = 0;  /* the first block the vector loops leave */
    for (int j = 0; j < 8; j++)
        sums[j] = 0.0f;
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
    long pairs = in / TILE_COLUMNS;
    /* 64 pairs an instruction. AVX-512 has no byte sign, so x goes unsigned, x + 128, and the 128 * w that adds is
     * taken off: x·w = (x + 128)·w - 128·w, each a vpdpbusd. */
    const __m512i offset = _mm512_set1_epi8((char)0x80);
    __m512 acc[8];
    for (int j = 0; j < 8; j++)
        acc[j] = _mm512_setzero_ps();
    for (long p = 0; p < pairs; p++) {
        __m512i x = _mm512_xor_si512(_mm512_loadu_si512(xq + p * TILE_COLUMNS), offset);
        __m512 scale = _mm512_insertf32x8(_mm512_set1_ps(d[2 * p]), _mm256_set1_ps(d[2 * p + 1]), 1);
        for (int j = 0; j < 8; j++) {
            __m512i w = _mm512_loadu_si512(tile + (p * 8 + j) * TILE_COLUMNS);
            __m512i dot = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), x, w),
                                           _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, w));
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[j]);
        }
    }
    for (int j = 0; j < 8; j++)
        sums[j] = _mm512_reduce_add_ps(acc[j]);
    k = 2 * pairs;
#elif AVX2_FMA
    long pairs = in / TILE_COLUMNS;
    __m256 acc[8];
    for (int j = 0; j < 8; j++)
        acc[j] = _mm256_setzero_ps();
    for (long p = 0; p < pairs; p++) {
        const int8_t *x = xq + p * TILE_COLUMNS;
        __m256i x0 = _mm256_loadu_si256((const __m256i *)x);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + QBLOCK));
        __m256 s0 = _mm256_set1_ps(d[2 * p]), s1 = _mm256_set1_ps(d[2 * p + 1]);
        for (int j = 0; j < 8; j++) {
            const int8_t *w = tile + (p * 8 + j) * TILE_COLUMNS;
            __m256i w0 = _mm256_loadu_si256((const __m256i *)w);
            __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + QBLOCK));
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(int8_products(w0, x0)), s0, acc[j]);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(int8_products(w1, x1)), s1, acc[j]);
        }
    }
    for (int j = 0; j < 8; j++)
        sums[j] = sum_lanes(acc[j]);
    k = 2 * pairs;
#endif
    for (; k * QBLOCK < in; k++)  /* without AVX2, and the columns past the last multiple of 64 */
        for (int j = 0; j < 8; j++) {
            long n = in - k * QBLOCK < QBLOCK ? in - k * QBLOCK : QBLOCK;
            sums[j] += d[k] * (float)dot_block(xq + k * QBLOCK, tile + tile_offset(in, j, k * QBLOCK), n);
        }
}

/* w: tiles of eight rows (see dot8_int8), the last one padded with rows of zeros to eight; scale: (out). Every
 * thread quantizes all of x into its own buffer (at most MAX_ROWS rows: far less work than its band of w), so the
 * threads need not meet before their products. */
void product_int8(const float *x, const int8_t *w, const float *scale, const float *b, float *y,
                  long rows, long in, long out, int act, int add) {
    long blocks = (in + QBLOCK - 1) / QBLOCK;
    float *d = malloc(rows * blocks * sizeof(float) + rows * in);
    int8_t *xq = (int8_t *)(d + rows * blocks);
    quantize_blocks(x, rows, in, xq, d);
    #pragma omp for schedule(static)
    for (long o = 0; o < out; o += 8) {
        long n = out - o < 8 ? out - o : 8;
        for (long r = 0; r < rows; r++) {
            float sums[8];
            dot8_int8(xq + r * in, d + r * blocks, w + o * in, in, sums);
            for (long j = 0; j < n; j++)
                sums[j] *= scale[o + j];
            store(y + r * out, sums, b, o, n, act, add);
        }
    }
    free(d);
}

#if defined(__AVX512BF16__) && defined(__AVX512F__)

/* The bf16 product where the CPU multiplies bf16 pairs itself (AVX512-BF16's vdpbf16ps: 32 weights a
 * instruction, summed in fp32): x in bf16 as the model holds it, no widening. Built only where -march=native
 * has the instruction; cpu_kernel.py uses it when the library exports it. */
void skinny_linear_bf16_dp(const uint16_t *x, const uint16_t *w, const float *b, float *y,
                           long rows, long in, long out, int act, int threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long o = 0; o < out; o += 8) {
        EIGHT_ROWS(uint16_t)
        for (long r = 0; r < rows; r++) {
            const uint16_t *xr = x + r * in;
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
            long i = 0;
            for (; i + 32 <= in; i += 32) {
                __m512bh xv = (__m512bh)_mm512_loadu_si512(xr + i);
#define DP(S, K) S = _mm512_dpbf16_ps(S, xv, (__m512bh)_mm512_loadu_si512(wk[K] + i))
                DP(s0, 0); DP(s1, 1); DP(s2, 2); DP(s3, 3); DP(s4, 4); DP(s5, 5); DP(s6, 6); DP(s7, 7);
#undef DP
            }
            __m512 s[8] = {s0, s1, s2, s3, s4, s5, s6, s7};
            for (long k = 0; k < n; k++) {
                float v = _mm512_reduce_add_ps(s[k]);
                for (long j = i; j < in; j++)  /* the tail of a row whose length is not a multiple of 32 */
                    v += bf16_to_float(wk[k][j]) * bf16_to_float(xr[j]);
                y[r * out + o + k] = activate(v + (b ? b[o + k] : 0.0f), act);
            }
        }
    }
}
#endif
