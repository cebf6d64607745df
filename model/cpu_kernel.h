/* What model/cpu_step.c takes from model/cpu_kernel.c: the products, each an orphaned `omp for` over blocks of
 * eight output rows, called by every thread of an enclosing parallel region. y (+)= act(x W^T + b) with
 * x: (rows, in) fp32, W: (out, in), b: (out) fp32 or NULL, y: (rows, out) fp32; `add` adds to y (a residual). */
#ifndef CPU_KERNEL_H
#define CPU_KERNEL_H

#include <stdint.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

enum { ACT_NONE = 0, ACT_GELU_ERF = 1, ACT_GELU_TANH = 2 };
enum { TILE_COLUMNS = 64 };  /* an int8 tile holds 64 columns of each of its eight rows together */

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

void product(const float *x, const float *w, const float *b, float *y,
             long rows, long in, long out, int act, int add);
void product_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                  long rows, long in, long out, int act, int add);
/* w: int8 tiles of eight rows (tile_offset); scale: one per output row */
void product_int8(const float *x, const int8_t *w, const float *scale, const float *b, float *y,
                  long rows, long in, long out, int act, int add);

#endif
