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
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

enum { ACT_NONE = 0, ACT_GELU_ERF = 1, ACT_GELU_TANH = 2 };

static inline float activate(float v, int act) {
    if (act == ACT_GELU_ERF)
        return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    if (act == ACT_GELU_TANH)
        return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    return v;
}

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
        float *yr = y + r * out + o;                                                                    \
        for (long k = 0; k < n; k++) {                                                                  \
            float v = activate(sums[k] + (b ? b[o + k] : 0.0f), act);                                   \
            yr[k] = add ? yr[k] + v : v;                                                                \
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

/* Rows o..o+7 of w, the last one repeated past the end of w: those sums are computed, not stored. */
#define EIGHT_ROWS(TYPE)                                                                                \
    long n = out - o < 8 ? out - o : 8;                                                                 \
    const TYPE *wk[8];                                                                                  \
    for (long k = 0; k < 8; k++)                                                                        \
        wk[k] = w + (o + (k < n ? k : n - 1)) * in;

/* x: (rows, in), w: (out, in), b: (out) or NULL, y: (rows, out); all contiguous. Each thread takes a band of
 * w's rows, eight at a time (eight streams a thread beat four by ~10%: GPT-2 124M's 49 decode products, 19.7 vs
 * 22.2 ms median). */
static void product(const float *x, const float *w, const float *b, float *y,
                    long rows, long in, long out, int act, int add) {
    #pragma omp for schedule(static)
    for (long o = 0; o < out; o += 8) {
        EIGHT_ROWS(float)
        DOT8_ROWS(float, FP32, wk)
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
 * portable loop (a zero-extending shuffle per 8 weights) streamed 16 GB/s where fp32 streams 25 on the EPYC. */
static void dot8_bf16_halves(const float *xe, const float *xo, const uint16_t *const *wk, long in, float *sums) {
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 acc[8];
    for (int k = 0; k < 8; k++)
        acc[k] = _mm256_setzero_ps();
    for (long i = 0; i < in; i += 16) {
        __m256 even = _mm256_loadu_ps(xe + i / 2), odd = _mm256_loadu_ps(xo + i / 2);
        for (int k = 0; k < 8; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(wk[k] + i));
            acc[k] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), even, acc[k]);
            acc[k] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, high)), odd, acc[k]);
        }
    }
    for (int k = 0; k < 8; k++)
        sums[k] = sum_lanes(acc[k]);
}
#define BF16_HALVES 1
#define INT8_DIRECT 1
#else
#define BF16_HALVES 0
#define INT8_DIRECT 0
#endif

/* The product with bf16 weights (DTYPE=bfloat16): half the bytes to stream; x, b, y and the sums stay fp32. One
 * row is multiplied as the weights stream in (by halves where the CPU has AVX2); several rows widen each block of
 * eight weight rows once into a per-thread buffer (it stays in L1/L2) rather than once per row. */
static void product_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                         long rows, long in, long out, int act, int add) {
    int halves = BF16_HALVES && rows == 1 && in % 16 == 0;
    float *wide = malloc((halves ? in : rows > 1 ? 8 * in : 0) * sizeof(float) + 1);
    if (halves)
        for (long i = 0; i < in; i++)
            wide[(i & 1) * (in / 2) + i / 2] = x[i];
    #pragma omp for schedule(static)
    for (long o = 0; o < out; o += 8) {
        EIGHT_ROWS(uint16_t)
        if (halves) {
#if BF16_HALVES
            float sums[8];
            dot8_bf16_halves(wide, wide + in / 2, wk, in, sums);
            for (long k = 0; k < n; k++) {
                float v = activate(sums[k] + (b ? b[o + k] : 0.0f), act);
                y[o + k] = add ? y[o + k] + v : v;
            }
#endif
        } else if (rows > 1) {
            const float *wr[8];
            for (long k = 0; k < 8; k++) {
                wr[k] = wide + k * in;
                #pragma omp simd
                for (long i = 0; i < in; i++)
                    wide[k * in + i] = bf16_to_float(wk[k][i]);
            }
            DOT8_ROWS(float, FP32, wr)
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

/* The product with int8 weights and a scale per output row (QUANTIZE=int8), x and y in fp32: a quarter of fp32's
 * bytes. One row multiplies the weights as they stream in (eight at a time, widened by AVX2); several rows widen
 * each block of eight weight rows once, scaled, into a per-thread buffer, as product_bf16 does. */
static void product_int8(const float *x, const int8_t *w, const float *scale, const float *b, float *y,
                         long rows, long in, long out, int act, int add) {
    int direct = INT8_DIRECT && rows == 1 && in % 8 == 0;
    float *wide = direct ? NULL : malloc(8 * in * sizeof(float));
    #pragma omp for schedule(static)
    for (long o = 0; o < out; o += 8) {
        EIGHT_ROWS(int8_t)
        if (direct) {
#if INT8_DIRECT
            __m256 acc[8];
            for (int k = 0; k < 8; k++)
                acc[k] = _mm256_setzero_ps();
            for (long i = 0; i < in; i += 8) {
                __m256 xv = _mm256_loadu_ps(x + i);
                for (int k = 0; k < 8; k++) {
                    __m128i q = _mm_loadl_epi64((const __m128i *)(wk[k] + i));
                    acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), xv, acc[k]);
                }
            }
            for (long k = 0; k < n; k++) {
                float v = activate(sum_lanes(acc[k]) * scale[o + k] + (b ? b[o + k] : 0.0f), act);
                y[o + k] = add ? y[o + k] + v : v;
            }
#endif
        } else {
            const float *wr[8];
            for (long k = 0; k < 8; k++) {
                float s = scale[o + (k < n ? k : n - 1)];
                wr[k] = wide + k * in;
                #pragma omp simd
                for (long i = 0; i < in; i++)
                    wide[k * in + i] = (float)wk[k][i] * s;
            }
            DOT8_ROWS(float, FP32, wr)
        }
    }
    free(wide);
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

/* ---- A whole decode step in one call: model/cpu_step.py ------------------------------------------------------
 *
 * Row r of the batch is the sequence in KV-cache slot r; it feeds token tokens[2r] at position tokens[2r + 1].
 * Through PyTorch a step of GPT-2 124M makes ~300 calls (products, layer norms, attention, views), each paying a
 * few microseconds to enter; on 2 cores that is 3-5 ms of a ~24 ms step whose products read the weights in ~19.
 * Here one parallel region runs the step, with a barrier between its phases, as llama.cpp's graph does. The
 * products are the ones above (in fp32, the same sums in the same order); layer norms and attention follow
 * PyTorch's definitions in fp32, summed in another order. A bf16 model keeps its matrices, embeddings and KV cache
 * in bf16 (half the bytes) and computes in fp32 between them, where PyTorch rounds every activation to bf16. */

typedef struct {  /* one Block's weights; a bias or a layer norm's shift is NULL where the model has none */
    const float *ln_1_w, *ln_1_b;
    const void *c_attn_w;
    const float *c_attn_s, *c_attn_b;  /* *_s: an int8 matrix's scale per output row, else NULL */
    const void *attn_proj_w;
    const float *attn_proj_s, *attn_proj_b, *ln_2_w, *ln_2_b;
    const void *c_fc_w;
    const float *c_fc_s, *c_fc_b;
    const void *mlp_proj_w;
    const float *mlp_proj_s, *mlp_proj_b;
} BlockWeights;

enum { DT_FP32 = 0, DT_BF16 = 1, DT_INT8 = 2 };  /* the storage of a Gpt's matrices */

typedef struct {
    long n_layer, n_head, n_embd, vocab, slots, max_len;
    float eps;
    int act;  /* the MLP's GELU: ACT_GELU_ERF or ACT_GELU_TANH */
    int matrices;  /* DT_FP32, DT_BF16 or DT_INT8: the products' weights and the token embedding (the head's, tied) */
    int bf16;  /* the position embedding and the KV cache are bf16, else fp32; vectors are fp32 either way */
    const void *wte, *wpe;
    const float *ln_f_w, *ln_f_b;
    const void *lm_head;
    const float *lm_head_s;
    void *kv;  /* (n_layer, 2, slots, n_head, max_len, head size), as model/kv_cache.py lays it out */
    const BlockWeights *blocks;
} Gpt;

static inline float element(int type, const void *p, long i) {
    return type == DT_BF16 ? bf16_to_float(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline float token_embedding(const Gpt *m, long token, long i) {
    if (m->matrices == DT_INT8)
        return ((const int8_t *)m->wte)[token * m->n_embd + i] * m->lm_head_s[token];
    return element(m->matrices, m->wte, token * m->n_embd + i);
}

static inline uint16_t float_to_bf16(float f) {  /* rounded to nearest, ties to even, as PyTorch rounds */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);  /* a NaN stays a NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static void matmul(const Gpt *m, const float *x, const void *w, const float *scale, const float *b, float *y,
                   long rows, long in, long out, int act, int add) {
    if (m->matrices == DT_INT8)
        product_int8(x, w, scale, b, y, rows, in, out, act, add);
    else if (m->matrices == DT_BF16)
        product_bf16(x, w, b, y, rows, in, out, act, add);
    else
        product(x, w, b, y, rows, in, out, act, add);
}

static void layer_norm(const float *x, const float *g, const float *b, float *y, long rows, long n, float eps) {
    #pragma omp for schedule(static)
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        double sum = 0.0, sq = 0.0;
        for (long i = 0; i < n; i++)
            sum += xr[i];
        float mean = (float)(sum / n);
        for (long i = 0; i < n; i++)
            sq += (double)(xr[i] - mean) * (xr[i] - mean);
        float inv = 1.0f / sqrtf((float)(sq / n) + eps);
        for (long i = 0; i < n; i++)
            yr[i] = (xr[i] - mean) * inv * g[i] + (b ? b[i] : 0.0f);
    }
}

/* Each (row, head): store the new key and value at the row's position, then attend over positions 0..pos. */
static void attention(const Gpt *m, long layer, const float *qkv, const long *tokens, float *y, long rows,
                      float *scores) {
    long C = m->n_embd, nh = m->n_head, hs = C / nh, T = m->max_len;
    float scale = 1.0f / sqrtf((float)hs);
    #pragma omp for schedule(static)
    for (long rh = 0; rh < rows * nh; rh++) {
        long r = rh / nh, h = rh % nh, pos = tokens[2 * r + 1];
        long k = (((layer * 2 + 0) * m->slots + r) * nh + h) * T * hs;  /* element offsets into the cache */
        long v = (((layer * 2 + 1) * m->slots + r) * nh + h) * T * hs;
        const float *q = qkv + r * 3 * C + h * hs;
        for (long d = 0; d < hs; d++) {
            if (m->bf16) {
                ((uint16_t *)m->kv)[k + pos * hs + d] = float_to_bf16(q[C + d]);
                ((uint16_t *)m->kv)[v + pos * hs + d] = float_to_bf16(q[2 * C + d]);
            } else {
                ((float *)m->kv)[k + pos * hs + d] = q[C + d];
                ((float *)m->kv)[v + pos * hs + d] = q[2 * C + d];
            }
        }
        float top = -INFINITY, total = 0.0f;
        for (long t = 0; t <= pos; t++) {
            float s = 0.0f;
            if (m->bf16) {
                const uint16_t *kt = (const uint16_t *)m->kv + k + t * hs;
                #pragma omp simd reduction(+:s)
                for (long d = 0; d < hs; d++)
                    s += q[d] * bf16_to_float(kt[d]);
            } else {
                const float *kt = (const float *)m->kv + k + t * hs;
                #pragma omp simd reduction(+:s)
                for (long d = 0; d < hs; d++)
                    s += q[d] * kt[d];
            }
            scores[t] = s * scale;
            top = scores[t] > top ? scores[t] : top;
        }
        for (long t = 0; t <= pos; t++)
            total += scores[t] = expf(scores[t] - top);
        float *out = y + r * C + h * hs;
        for (long d = 0; d < hs; d++)
            out[d] = 0.0f;
        for (long t = 0; t <= pos; t++) {
            float p = scores[t] / total;
            if (m->bf16) {
                const uint16_t *vt = (const uint16_t *)m->kv + v + t * hs;
                #pragma omp simd
                for (long d = 0; d < hs; d++)
                    out[d] += p * bf16_to_float(vt[d]);
            } else {
                const float *vt = (const float *)m->kv + v + t * hs;
                #pragma omp simd
                for (long d = 0; d < hs; d++)
                    out[d] += p * vt[d];
            }
        }
    }
}

/* logits: (rows, vocab). tokens: (rows, 2) of (token, position). Returns 0, or -1 where memory ran out. */
int decode_step(const Gpt *m, const long *tokens, long rows, float *logits, int threads) {
    long C = m->n_embd;
    /* x: the residual stream; h: its layer norm, then attention's output; wide: the qkv (3C) or the MLP's 4C */
    float *x = malloc((rows * 6 * C + threads * m->max_len) * sizeof(float));
    if (!x)
        return -1;
    float *h = x + rows * C, *wide = h + rows * C, *scores = wide + rows * 4 * C;
    #pragma omp parallel num_threads(threads)
    {
        float *mine = scores + omp_get_thread_num() * m->max_len;
        #pragma omp for schedule(static)
        for (long r = 0; r < rows; r++)
            for (long i = 0; i < C; i++)
                x[r * C + i] = token_embedding(m, tokens[2 * r], i)
                               + element(m->bf16 ? DT_BF16 : DT_FP32, m->wpe, tokens[2 * r + 1] * C + i);
        for (long l = 0; l < m->n_layer; l++) {
            const BlockWeights *bw = m->blocks + l;
            layer_norm(x, bw->ln_1_w, bw->ln_1_b, h, rows, C, m->eps);
            matmul(m, h, bw->c_attn_w, bw->c_attn_s, bw->c_attn_b, wide, rows, C, 3 * C, ACT_NONE, 0);
            attention(m, l, wide, tokens, h, rows, mine);
            matmul(m, h, bw->attn_proj_w, bw->attn_proj_s, bw->attn_proj_b, x, rows, C, C, ACT_NONE, 1);
            layer_norm(x, bw->ln_2_w, bw->ln_2_b, h, rows, C, m->eps);
            matmul(m, h, bw->c_fc_w, bw->c_fc_s, bw->c_fc_b, wide, rows, C, 4 * C, m->act, 0);
            matmul(m, wide, bw->mlp_proj_w, bw->mlp_proj_s, bw->mlp_proj_b, x, rows, 4 * C, C, ACT_NONE, 1);
        }
        layer_norm(x, m->ln_f_w, m->ln_f_b, h, rows, C, m->eps);
        matmul(m, h, m->lm_head, m->lm_head_s, NULL, logits, rows, C, m->vocab, ACT_NONE, 0);
    }
    free(x);
    return 0;
}
