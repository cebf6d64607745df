/* What model/cpu_step.c takes from model/cpu_kernel.c and model/cpu_panels.c: the products, each an orphaned
 * `omp for` over blocks of output rows, called by every thread of an enclosing parallel region, and their epilogue
 * (store). y (+)= act(x W^T + b) with x: (rows, in) fp32, W: (out, in), b: (out) fp32 or NULL, y: (rows, out) fp32;
 * `add` adds to y (a residual). */
#ifndef CPU_KERNEL_H
#define CPU_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

enum { ACT_NONE = 0, ACT_GELU_ERF = 1, ACT_GELU_TANH = 2 };
enum { TILE_COLUMNS = 64 };  /* an int8 tile holds 64 columns of each of its eight rows together */
enum { PANEL_WIDTH = 64 };  /* a panel holds 64 output rows' weights, input by input (model/panels.py) */
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define PANEL_PRODUCTS 1  /* cpu_panels.c's products are built: for CPUs with AVX-512, or with AVX2 and FMA */
#endif

/* Where weight (o, k) of a matrix of `in` inputs sits in its panels, `pair` inputs a 32-bit lane (fp32 1, bf16 2):
 * panel o / 64, step k / pair, lane o % 64, half k % pair. */
static inline long panel_offset(long in, long o, long k, long pair) {
    return ((o / PANEL_WIDTH * in + k - k % pair) * PANEL_WIDTH + o % PANEL_WIDTH * pair) + k % pair;
}

/* Where row j's column c sits in a tile of eight int8 rows of `in` columns: columns 0..63 of rows 0..7, then
 * columns 64..127 of rows 0..7, and so on, then the columns past the last multiple of 64, row by row (as
 * model/quantize.py's `tiles` lays them out). */
static inline long tile_offset(long in, long j, long c) {
    long whole = in / TILE_COLUMNS * TILE_COLUMNS;
    if (c < whole)
        return (c / TILE_COLUMNS * 8 + j) * TILE_COLUMNS + c % TILE_COLUMNS;
    return 8 * whole + j * (in - whole) + (c - whole);
}

static inline float bf16_to_float(uint16_t h) {  /* bf16 is the top half of an fp32 */
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t float_to_bf16(float f) {  /* rounded to nearest, ties to even, as PyTorch rounds */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);  /* a NaN stays a NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

#if defined(__AVX2__) && defined(__FMA__)
/* e^x in eight lanes, within ~1 ulp: x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so r is exact), e^r by
 * Cephes' expf polynomial, 2^n put into the exponent. x is clamped to where e^x is a normal float. */
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    static const float c[] = {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
                              5.0000001201e-1f};
    for (int k = 0; k < 5; k++)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c[k]));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(two_n));
}
#endif

/* GELU(v) = 0.5 v (1 + erf(v / sqrt 2)), or in its tanh form 0.5 v (1 + tanh(u)), u = sqrt(2 / pi) (v + c v^3) */
static const float SQRT_HALF = 0.70710678118654752f, MINUS_2_SQRT_2_OVER_PI = -1.5957691216057307f,
                   GELU_CUBIC = 0.044715f;

static inline float activate(float v, int act) {
    if (act == ACT_GELU_ERF)
        return 0.5f * v * erfcf(-v * SQRT_HALF);  /* 1 + erf(z) = erfc(-z), exact in the tail too */
    if (act == ACT_GELU_TANH)
        return v / (1.0f + expf(MINUS_2_SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)));  /* 0.5 v (1 + tanh(u)) */
    return v;
}

#if defined(__AVX2__) && defined(__FMA__)
/* activate() in eight lanes. glibc's erff and tanhf take one value a call, ~7.5 ns on a Zen 5: ~2 ms of the two
 * cores' time in a 16-row step of GPT-2 124M (590k GELUs); on a Xeon the step took 42.9-55.8 ms against
 * 50.4-59.2 with them (alternated). erfc(a) for a = |z| by the Chebyshev fit of Numerical Recipes' erfcc
 * (relative error below 1.2e-7 everywhere, so GELU's negative tail keeps its digits), and 1 + erf(z) is that
 * erfc for z < 0, not 1 minus a number near 1; likewise GELU's tanh form, 0.5 v (1 + tanh(u)) = v / (1 + e^(-2u)). */
static inline __m256 activate8(__m256 v, int act) {
    const __m256 one = _mm256_set1_ps(1.0f);
    if (act == ACT_GELU_TANH) {
        __m256 cubic = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_CUBIC), v), _mm256_mul_ps(v, v), v);
        __m256 minus_2u = _mm256_mul_ps(_mm256_set1_ps(MINUS_2_SQRT_2_OVER_PI), cubic);
        return _mm256_div_ps(v, _mm256_add_ps(one, exp8(minus_2u)));
    }
    if (act != ACT_GELU_ERF)
        return v;
    __m256 z = _mm256_mul_ps(v, _mm256_set1_ps(SQRT_HALF));
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), a, one));
    static const float c[] = {-0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f, 0.09678418f,
                              0.37409196f, 1.00002368f, -1.26551223f};
    __m256 p = _mm256_set1_ps(0.17087277f);
    for (int k = 0; k < 9; k++)
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(c[k]));
    __m256 erfc = _mm256_mul_ps(t, exp8(_mm256_fnmadd_ps(a, a, p)));
    __m256 one_plus_erf = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), erfc, z);  /* z < 0: erfc */
    return _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(0.5f)), one_plus_erf);
}
#endif

/* The n outputs o..o+n-1 of one row of y from their sums: act(sum + bias), written, or added where `add` (a
 * residual connection). */
static inline void store(float *y, const float *sums, const float *b, long o, long n, int act, int add) {
#if defined(__AVX2__) && defined(__FMA__)
    if (n == 8) {
        __m256 v = _mm256_loadu_ps(sums);
        if (b)
            v = _mm256_add_ps(v, _mm256_loadu_ps(b + o));
        v = activate8(v, act);
        _mm256_storeu_ps(y + o, add ? _mm256_add_ps(_mm256_loadu_ps(y + o), v) : v);
        return;
    }
#endif
    for (long k = 0; k < n; k++) {
        float v = activate(sums[k] + (b ? b[o + k] : 0.0f), act);
        y[o + k] = add ? y[o + k] + v : v;
    }
}

void product(const float *x, const float *w, const float *b, float *y,
             long rows, long in, long out, int act, int add);
void product_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                  long rows, long in, long out, int act, int add);
/* w: fp32 panels (panel_offset), any number of rows; only where PANEL_PRODUCTS */
void product_panels(const float *x, const float *w, const float *b, float *y,
                    long rows, long in, long out, int act, int add);
/* w: bf16 panels, a pair of inputs a 32-bit lane (in even); only where PANEL_PRODUCTS */
void product_panels_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                         long rows, long in, long out, int act, int add);
/* x and w bf16, a pair of inputs a 32-bit lane, multiplied by AVX512-BF16 where the CPU has it */
void product_panels_bf16_pairs(const uint16_t *x, const uint16_t *w, const float *b, float *y,
                               long rows, long in, long out, int act, int add);
/* y = x W^T, up to 16 bf16 rows, W bf16 panels (in: a multiple of 32), by AMX tiles where the CPU has them */
void product_panels_amx(const uint16_t *x, const uint16_t *w, float *y, long rows, long in, long out);
/* one row's exact sums for the 16 outputs of the line of fp32 panels holding output o (cpu_panels.c) */
void panel_line(const float *x, const float *w, long in, long o, float *y16);
/* w: int8 tiles of eight rows (tile_offset); scale: one per output row */
void product_int8(const float *x, const int8_t *w, const float *scale, const float *b, float *y,
                  long rows, long in, long out, int act, int add);

#endif
