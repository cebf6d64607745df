/* y = act(x W^T + b) in fp32 for a few rows of x: the products of a CPU decode step, W in fp32 or bf16.
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
#include <string.h>

enum { ACT_NONE = 0, ACT_GELU_ERF = 1, ACT_GELU_TANH = 2 };

static inline float activate(float v, int act) {
    if (act == ACT_GELU_ERF)
        return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    if (act == ACT_GELU_TANH)
        return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    return v;
}

/* The body of both kernels: WEIGHT(p, i) is row p's i-th weight as a float. */
#define SKINNY_LINEAR(WEIGHT_TYPE, WEIGHT)                                                              \
    _Pragma("omp parallel for schedule(static) num_threads(threads)")                                   \
    for (long o = 0; o < out; o += 8) {                                                                 \
        long n = out - o < 8 ? out - o : 8;                                                             \
        const WEIGHT_TYPE *wk[8];  /* past the last row of w, repeat it: those sums are not stored */   \
        for (long k = 0; k < 8; k++)                                                                    \
            wk[k] = w + (o + (k < n ? k : n - 1)) * in;                                                 \
        const WEIGHT_TYPE *w0 = wk[0], *w1 = wk[1], *w2 = wk[2], *w3 = wk[3];                          \
        const WEIGHT_TYPE *w4 = wk[4], *w5 = wk[5], *w6 = wk[6], *w7 = wk[7];                          \
        for (long r = 0; r < rows; r++) {                                                               \
            const float *xr = x + r * in;                                                               \
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f, s5 = 0.0f, s6 = 0.0f, s7 = 0.0f; \
            _Pragma("omp simd reduction(+:s0, s1, s2, s3, s4, s5, s6, s7)")                            \
            for (long i = 0; i < in; i++) {                                                             \
                s0 += WEIGHT(w0, i) * xr[i];                                                            \
                s1 += WEIGHT(w1, i) * xr[i];                                                            \
                s2 += WEIGHT(w2, i) * xr[i];                                                            \
                s3 += WEIGHT(w3, i) * xr[i];                                                            \
                s4 += WEIGHT(w4, i) * xr[i];                                                            \
                s5 += WEIGHT(w5, i) * xr[i];                                                            \
                s6 += WEIGHT(w6, i) * xr[i];                                                            \
                s7 += WEIGHT(w7, i) * xr[i];                                                            \
            }                                                                                           \
            float sums[8] = {s0, s1, s2, s3, s4, s5, s6, s7};                                           \
            for (long k = 0; k < n; k++)                                                                \
                y[r * out + o + k] = activate(sums[k] + (b ? b[o + k] : 0.0f), act);                    \
        }                                                                                               \
    }

#define FP32(p, i) (p)[i]

static inline float bf16_to_float(uint16_t h) {  /* bf16 is the top half of an fp32 */
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
#define BF16(p, i) bf16_to_float((p)[i])

/* x: (rows, in), w: (out, in), b: (out) or NULL, y: (rows, out); all contiguous. Eight rows of w at a time:
 * eight streams a thread beat four by ~10% (GPT-2 124M's 49 decode products: 19.7 vs 22.2 ms median), and
 * named sums vectorise where an array of them does not (32 ms). */
void skinny_linear(const float *x, const float *w, const float *b, float *y,
                   long rows, long in, long out, int act, int threads) {
    SKINNY_LINEAR(float, FP32)
}

/* The same with bf16 weights (DTYPE=bfloat16): half the bytes to stream, widened to fp32 as they are read;
 * x, b and y stay fp32, the sums fp32. */
void skinny_linear_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                        long rows, long in, long out, int act, int threads) {
    SKINNY_LINEAR(uint16_t, BF16)
}
