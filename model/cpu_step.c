/* A whole decode step in one call, for model/cpu_step.py; built into one library with cpu_kernel.c.
 *
 * Row r feeds token tokens[2r] at position tokens[2r + 1] to the sequence in KV-cache slot first_slot + r / run: a
 * decode step's rows are one token of each sequence (run 1, slots 0..rows-1), a prefill's are runs of `run`
 * consecutive positions of sequences in consecutive slots, and only each run's last row reaches the head.
 * Through PyTorch a step of GPT-2 124M makes ~300 calls (products, layer norms, attention, views), each paying a
 * few microseconds to enter; on 2 cores that is 3-5 ms of a ~24 ms step whose products read the weights in ~19.
 * Here one parallel region runs the step, with a barrier between its phases, as llama.cpp's graph does. The
 * products are cpu_kernel.c's (in fp32, the same sums in the same order); layer norms and attention follow
 * PyTorch's definitions in fp32, summed in another order. A bf16 model keeps its matrices, embeddings and KV cache
 * in bf16 (half the bytes) and computes in fp32 between them, where PyTorch rounds every activation to bf16; an
 * int8 model's matrices are int8 tiles with a scale per row, its activations fp32, quantized per block of 32
 * for each product (cpu_kernel.c's product_int8). An fp32 or bf16 model's matrices may be held in panels instead
 * (cpu_panels.c; the token embedding too, as the tied head's). The KV cache of any may be bf16 (KV_CACHE_DTYPE). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernel.h"

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

/* the storage of a Gpt's matrices */
enum { DT_FP32 = 0, DT_BF16 = 1, DT_INT8 = 2, DT_PANELS = 3, DT_PANELS_BF16 = 4 };

typedef struct {
    long n_layer, n_head, n_embd, vocab, slots, max_len;
    float eps;
    int act;  /* the MLP's GELU: ACT_GELU_ERF or ACT_GELU_TANH */
    int matrices;  /* DT_*: the products' weights and the token embedding (the head's, tied) */
    int kv_bf16;  /* the KV cache is bf16 (a bf16 model's, or KV_CACHE_DTYPE's), else fp32 */
    const void *wte, *wpe;
    const float *ln_f_w, *ln_f_b;
    const void *lm_head;
    const float *lm_head_s;
    void *kv;  /* (n_layer, 2, slots, n_head, max_len, head size), as model/kv_cache.py lays it out */
    const BlockWeights *blocks;
    const void *head_bf16;  /* fp32 panels' head rounded to bf16, in bf16 panels, for head_for_argmax; else NULL */
    double head_error, head_norm, head_norm_bf16;  /* the maxima over the head's rows of |w - w16|, |w|, |w16| */
} Gpt;

static inline float element(int type, const void *p, long i) {
    return type == DT_BF16 ? bf16_to_float(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline float token_embedding(const Gpt *m, long token, long i) {
    if (m->matrices == DT_INT8)  /* the head's tiles */
        return ((const int8_t *)m->wte)[token / 8 * 8 * m->n_embd + tile_offset(m->n_embd, token % 8, i)]
               * m->lm_head_s[token];
    if (m->matrices == DT_PANELS)
        return ((const float *)m->wte)[panel_offset(m->n_embd, token, i, 1)];
    if (m->matrices == DT_PANELS_BF16)
        return bf16_to_float(((const uint16_t *)m->wte)[panel_offset(m->n_embd, token, i, 2)]);
    return element(m->matrices, m->wte, token * m->n_embd + i);
}

static void matmul(const Gpt *m, const float *x, const void *w, const float *scale, const float *b, float *y,
                   long rows, long in, long out, int act, int add) {
    if (m->matrices == DT_INT8)
        product_int8(x, w, scale, b, y, rows, in, out, act, add);
#if defined(PANEL_PRODUCTS)
    else if (m->matrices == DT_PANELS)
        product_panels(x, w, b, y, rows, in, out, act, add);
    else if (m->matrices == DT_PANELS_BF16)
        product_panels_bf16(x, w, b, y, rows, in, out, act, add);
#endif
    else if (m->matrices == DT_BF16)
        product_bf16(x, w, b, y, rows, in, out, act, add);
    else
        product(x, w, b, y, rows, in, out, act, add);
}

/* y's rows: the layer norms of x's rows 0, stride, 2 stride, ... */
static void layer_norm(const float *x, long stride, const float *g, const float *b, float *y, long rows, long n,
                       float eps) {
    #pragma omp for schedule(static)
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * stride;
        float *yr = y + r * n;
        double sum = 0.0, sq = 0.0;  /* in lanes: one double sum at a time waited on the last add */
        #pragma omp simd reduction(+:sum)
        for (long i = 0; i < n; i++)
            sum += xr[i];
        float mean = (float)(sum / n);
        #pragma omp simd reduction(+:sq)
        for (long i = 0; i < n; i++)
            sq += (double)(xr[i] - mean) * (xr[i] - mean);
        float inv = 1.0f / sqrtf((float)(sq / n) + eps);
        #pragma omp simd
        for (long i = 0; i < n; i++)
            yr[i] = (xr[i] - mean) * inv * g[i] + (b ? b[i] : 0.0f);
    }
}

/* scores[t] = e^(scores[t] - top) for t < n; returns their sum. Eight lanes at a time where the CPU has AVX2: glibc's
   expf takes one value a call, which kept attention over a bf16 cache from reading at the memory's pace (16 rows at
   position 511 on the Zen 5, 12 layers: 11.5 ms with expf, 9.5 with exp8; over an fp32 cache 15.8 and 15.1; medians
   of 5 alternated runs). */
static float exponentiate(float *scores, long n, float top) {
    float total = 0.0f;
    long t = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 sums = _mm256_setzero_ps();
    for (; t + 8 <= n; t += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + t), _mm256_set1_ps(top)));
        _mm256_storeu_ps(scores + t, e);
        sums = _mm256_add_ps(sums, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, sums);
    for (int j = 0; j < 8; j++)
        total += lanes[j];
#endif
    for (; t < n; t++)
        total += scores[t] = expf(scores[t] - top);
    return total;
}

static inline long item_cost(const long *tokens, long r) {  /* row r's keys, and ~8 keys' time for the rest */
    return tokens[2 * r + 1] + 1 + 8;
}

/* The thread's share of the (row, head) items, a run of them: [*first, *end), cut where the keys read before it
 * pass an equal part of all. Equal counts of items, rows of long and short contexts side by side (a server's) left a
 * thread waiting at the barrier for the other: half the rows at 64 positions and half at 960 took 44-46 ms against
 * 23-27 on the Xeon host, about what 16 rows at 448 take (bench/results/xeon-2026-12-02-s29/attention_run88.txt). */
static void attention_share(const long *tokens, long rows, long nh, long *first, long *end) {
    long threads = omp_get_num_threads(), me = omp_get_thread_num(), all = 0, done = 0;
    for (long r = 0; r < rows; r++)
        all += item_cost(tokens, r) * nh;
    *first = *end = rows * nh;
    for (long rh = 0; rh < rows * nh; rh++) {
        long owner = done * threads / all;
        if (owner == me && *first == rows * nh)
            *first = rh;
        if (owner > me) {
            *end = rh;
            break;
        }
        done += item_cost(tokens, rh / nh);
    }
}

static inline float key_score(const float *q, const void *kv, long key, long hs, int bf16) {  /* q . the key */
    float s = 0.0f;
    if (bf16) {
        const uint16_t *k = (const uint16_t *)kv + key;
        #pragma omp simd reduction(+:s)
        for (long d = 0; d < hs; d++)
            s += q[d] * bf16_to_float(k[d]);
    } else {
        const float *k = (const float *)kv + key;
        #pragma omp simd reduction(+:s)
        for (long d = 0; d < hs; d++)
            s += q[d] * k[d];
    }
    return s;
}

#if defined(__AVX2__) && defined(__FMA__)
static inline __m256 key_line(const void *kv, long at, int bf16) {  /* 8 elements of a key, as fp32 */
    if (!bf16)
        return _mm256_loadu_ps((const float *)kv + at);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)kv + at));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* q . keys key..key + 7 (hs apart; hs a multiple of 8), into s8: eight sums side by side. One dot product at a time
 * is a chain of hs / 8 FMAs, each waiting on the last: a prefill's rows spent 8% of a 128-row step of GPT-2 there
 * (the Zen 3 EPYC), where eight overlap. */
static inline void key_scores8(const float *q, const void *kv, long key, long hs, int bf16, float *s8) {
    __m256 a[8];
    for (int j = 0; j < 8; j++)
        a[j] = _mm256_setzero_ps();
    for (long d = 0; d < hs; d += 8) {
        __m256 qd = _mm256_loadu_ps(q + d);
        for (int j = 0; j < 8; j++)
            a[j] = _mm256_fmadd_ps(qd, key_line(kv, key + j * hs + d, bf16), a[j]);
    }
    /* the eight vectors' lane sums, in order: pairs, then quads, then the two halves */
    __m256 q01 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    __m256 q45 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
    _mm256_storeu_ps(s8, _mm256_add_ps(_mm256_permute2f128_ps(q01, q45, 0x20), _mm256_permute2f128_ps(q01, q45, 0x31)));
}
#endif

/* The element offset into the cache of position 0 of (layer, key or value, row r's slot, head h) */
static inline long cache_offset(const Gpt *m, long layer, int value, long first_slot, long run, long r, long h) {
    long slot = first_slot + r / run;
    return (((layer * 2 + value) * m->slots + slot) * m->n_head + h) * m->max_len * (m->n_embd / m->n_head);
}

/* Each (row, head) of the thread's share [first, end): store the new key and value at the row's position; once
 * every row's are stored (a prefill's rows attend to each other's), attend over positions 0..pos. */
static void attention(const Gpt *m, long layer, const float *qkv, const long *tokens, float *y, long first_slot,
                      long run, long first, long end, float *scores) {
    long C = m->n_embd, nh = m->n_head, hs = C / nh;
    long size = m->kv_bf16 ? 2 : 4, line = hs * size;  /* bytes of an element, and of one position's key or value */
    const char *cache = (const char *)m->kv;
    float scale = 1.0f / sqrtf((float)hs);
    for (long rh = first; rh < end; rh++) {
        long r = rh / nh, h = rh % nh, pos = tokens[2 * r + 1];
        long k = cache_offset(m, layer, 0, first_slot, run, r, h) + pos * hs;
        long v = cache_offset(m, layer, 1, first_slot, run, r, h) + pos * hs;
        const float *q = qkv + r * 3 * C + h * hs;
        for (long d = 0; d < hs; d++) {
            if (m->kv_bf16) {
                ((uint16_t *)m->kv)[k + d] = float_to_bf16(q[C + d]);
                ((uint16_t *)m->kv)[v + d] = float_to_bf16(q[2 * C + d]);
            } else {
                ((float *)m->kv)[k + d] = q[C + d];
                ((float *)m->kv)[v + d] = q[2 * C + d];
            }
        }
    }
    #pragma omp barrier
    for (long rh = first; rh < end; rh++) {
        long r = rh / nh, h = rh % nh, pos = tokens[2 * r + 1];
        long k = cache_offset(m, layer, 0, first_slot, run, r, h), v = cache_offset(m, layer, 1, first_slot, run, r, h);
        /* the keys' pass fetches the values ahead, and the values' pass the next head's keys: each is a run of
           pos + 1 lines in DRAM (up to 300 MB a step at 16 fp32 rows), which the prefetcher alone starts cold */
        long next_pos = rh + 1 < end ? tokens[2 * ((rh + 1) / nh) + 1] : -1;
        long next_k = cache_offset(m, layer, 0, first_slot, run, (rh + 1) / nh, (rh + 1) % nh);
        const float *q = qkv + r * 3 * C + h * hs;
        float top = -INFINITY;
        long t = 0;
#if defined(__AVX2__) && defined(__FMA__)
        for (; hs % 8 == 0 && t + 8 <= pos + 1; t += 8) {
            for (long b = 0; b < 8 * line; b += 64)
                __builtin_prefetch(cache + (v + t * hs) * size + b);
            key_scores8(q, m->kv, k + t * hs, hs, m->kv_bf16, scores + t);
        }
#endif
        for (; t <= pos; t++) {
            for (long b = 0; b < line; b += 64)
                __builtin_prefetch(cache + (v + t * hs) * size + b);
            scores[t] = key_score(q, m->kv, k + t * hs, hs, m->kv_bf16);
        }
        for (t = 0; t <= pos; t++) {
            scores[t] *= scale;
            top = scores[t] > top ? scores[t] : top;
        }
        float total = exponentiate(scores, pos + 1, top);
        float *out = y + r * C + h * hs;
        for (t = 0; t <= pos; t++) {
            scores[t] /= total;
            if (t <= next_pos)
                for (long b = 0; b < line; b += 64)
                    __builtin_prefetch(cache + (next_k + t * hs) * size + b);
        }
        long d0 = 0;
#if defined(__AVX2__) && defined(__FMA__)
        /* 32 of the outputs at a time summed in registers over the values, where out[d] += p v[d] key by key
           loaded and stored them for every key: half the attention's time in a 128-row prefill */
        for (; d0 + 32 <= hs; d0 += 32) {
            __m256 o[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (t = 0; t <= pos; t++) {
                __m256 p = _mm256_set1_ps(scores[t]);
                for (int j = 0; j < 4; j++)
                    o[j] = _mm256_fmadd_ps(p, key_line(m->kv, v + t * hs + d0 + 8 * j, m->kv_bf16), o[j]);
            }
            for (int j = 0; j < 4; j++)
                _mm256_storeu_ps(out + d0 + 8 * j, o[j]);
        }
#endif
        for (long d = d0; d < hs; d++)
            out[d] = 0.0f;
        for (t = 0; d0 < hs && t <= pos; t++) {
            float p = scores[t];
            if (m->kv_bf16) {
                const uint16_t *vt = (const uint16_t *)m->kv + v + t * hs;
                #pragma omp simd
                for (long d = d0; d < hs; d++)
                    out[d] += p * bf16_to_float(vt[d]);
            } else {
                const float *vt = (const float *)m->kv + v + t * hs;
                #pragma omp simd
                for (long d = d0; d < hs; d++)
                    out[d] += p * vt[d];
            }
        }
    }
    #pragma omp barrier
}

#if defined(PANEL_PRODUCTS)
#if defined(__AVX512F__)
static inline __mmask16 lanes_below(long n) {  /* the first n of 16 lanes */
    return n < 16 ? (__mmask16)((1u << n) - 1) : (__mmask16)0xffff;
}

static float largest(const float *a, long n) {  /* the largest of n estimates; NaN where one is NaN */
    __m512 tops = _mm512_set1_ps(-INFINITY);
    __mmask16 nan = 0;
    for (long j = 0; j < n; j += 16) {
        __m512 v = _mm512_mask_loadu_ps(tops, lanes_below(n - j), a + j);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        tops = _mm512_max_ps(tops, v);
    }
    return nan ? NAN : _mm512_reduce_max_ps(tops);
}

static int any_at_least(const float *a, long n, float least) {  /* of n <= 16 estimates */
    __mmask16 lanes = lanes_below(n);
    return _mm512_mask_cmp_ps_mask(lanes, _mm512_maskz_loadu_ps(lanes, a), _mm512_set1_ps(least), _CMP_GE_OQ) != 0;
}
#else  /* the same in 256-bit vectors */
static float largest(const float *a, long n) {
    __m256 tops = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_loadu_ps(a + j);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        tops = _mm256_max_ps(tops, v);
    }
    float lanes[8], top = -INFINITY;
    _mm256_storeu_ps(lanes, tops);
    for (int k = 0; k < 8; k++)
        top = lanes[k] > top ? lanes[k] : top;
    for (; j < n; j++) {
        if (a[j] != a[j])
            return NAN;
        top = a[j] > top ? a[j] : top;
    }
    return _mm256_movemask_ps(nan) ? NAN : top;
}

static int any_at_least(const float *a, long n, float least) {
    if (n == 16) {
        __m256 low = _mm256_cmp_ps(_mm256_loadu_ps(a), _mm256_set1_ps(least), _CMP_GE_OQ);
        __m256 high = _mm256_cmp_ps(_mm256_loadu_ps(a + 8), _mm256_set1_ps(least), _CMP_GE_OQ);
        return _mm256_movemask_ps(_mm256_or_ps(low, high)) != 0;
    }
    for (long j = 0; j < n; j++)
        if (a[j] >= least)
            return 1;
    return 0;
}
#endif

/* The head of a step whose logits serve only each row's argmax among the ids below `tokens` (greedy rows with no
 * logprobs, bias, penalty or grammar): every logit estimated from the head's bf16 copy, half the bytes (GPT-2's
 * 77 MB of 154, a third of what a step reads), then in fp32 the lines of 16 logits holding one that may still be
 * the largest. An estimate a_j is within B of the fp32 logit e_j: with h the row, h16 its bf16 rounding (as the
 * bf16 product takes it), w_j and w16_j the head's row and its rounding, and g = n u / (1 - n u) bounding the
 * rounding of a sum of n products, |e_j - a_j| <= g (|h| |w_j| + |h16| |w16_j|) + |h| |w_j - w16_j|
 * + |h - h16| |w16_j| (Cauchy-Schwarz), with the head's maxima for its rows'. A logit whose a_j < max a - 2B has
 * e_j < e_k for the largest estimate's k, and keeps its estimate, below e_k too: the first id of the largest logit
 * is the fp32 head's. The bound holds for a sum of n products in any order, each addition rounded to nearest: by
 * vdpbf16ps, or (`amx`, up to 16 rows at a time) by AMX tiles, which also round to nearest and flush subnormals.
 * Where a row's bound is not finite or an estimate is NaN (a diverged model) sets *failed for the fp32 head. */
static void head_for_argmax(const Gpt *m, const float *h, float *logits, long rows, long tokens, int amx,
                            uint16_t *h16, double *bound, int *failed) {
    long C = m->n_embd, V = m->vocab;
    const double u = 0x1p-24, g = C * u / (1 - C * u);
    #pragma omp for schedule(static)
    for (long r = 0; r < rows; r++) {
        double hh = 0.0, h16h16 = 0.0, dd = 0.0;
        for (long i = 0; i < C; i++) {
            float v = h[r * C + i], v16 = v;
#if defined(__AVX512BF16__)
            h16[r * C + i] = float_to_bf16(v);
            v16 = bf16_to_float(h16[r * C + i]);
#endif
            hh += (double)v * v;
            h16h16 += (double)v16 * v16;
            dd += ((double)v - v16) * ((double)v - v16);
        }
        double nh = sqrt(hh), n16 = sqrt(h16h16), nd = sqrt(dd);
        bound[r] = (g * (nh * m->head_norm + n16 * m->head_norm_bf16) + nh * m->head_error + nd * m->head_norm_bf16)
                   * (1.0 + 1e-6) + 1e-20;  /* the norms' own rounding, and products flushed from subnormals */
    }
#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__)  /* h16 is filled above */
    if (amx)
        for (long r = 0; r < rows; r += 16)
            product_panels_amx(h16 + r * C, m->head_bf16, logits + r * V, rows - r < 16 ? rows - r : 16, C, V);
    else
#endif
#if defined(__AVX512BF16__)
    product_panels_bf16_pairs(h16, m->head_bf16, NULL, logits, rows, C, V, ACT_NONE, 0);
#else
    product_panels_bf16(h, m->head_bf16, NULL, logits, rows, C, V, ACT_NONE, 0);
#endif
    #pragma omp for schedule(static)
    for (long r = 0; r < rows; r++) {
        float *a = logits + r * V, exact[16];
        double cutoff = (double)largest(a, tokens) - 2.0 * bound[r];  /* NaN where an estimate is NaN */
        if (!isfinite(cutoff)) {
            #pragma omp atomic write
            *failed = 1;
            continue;
        }
        float least = nextafterf((float)cutoff, -INFINITY);  /* at or below the cutoff */
        for (long line = 0; line < tokens; line += 16) {
            if (!any_at_least(a + line, tokens - line < 16 ? tokens - line : 16, least))
                continue;
            panel_line(h + r * C, m->lm_head, C, line, exact);
            memcpy(a + line, exact, (V - line < 16 ? V - line : 16) * sizeof(float));
        }
    }
}
#endif

/* logits: (rows / run, vocab), of each run's last row. tokens: (rows, 2) of (token, position); row r's sequence is
 * in slot first_slot + r / run (see the top). argmax_below: 0, or (with m->head_bf16) the logits serve only an
 * argmax over the ids below it (head_for_argmax, its bf16 products by AMX tiles where `amx`, on a CPU with them:
 * cpu_panels.c's amx_bf16_ready). Returns 0, or -1 where memory ran out. */
int decode_step(const Gpt *m, const long *tokens, long rows, long first_slot, long run, float *logits, int threads,
                long argmax_below, int amx) {
    long C = m->n_embd, outputs = rows / run;
    int positions = m->matrices == DT_BF16 || m->matrices == DT_PANELS_BF16 ? DT_BF16 : DT_FP32;  /* wpe's dtype */
    /* x: the residual stream; h: its layer norm, then attention's output; wide: the qkv (3C) or the MLP's 4C */
    float *x = malloc((rows * 6 * C + threads * m->max_len) * sizeof(float) + rows * C * sizeof(uint16_t));
    if (!x)
        return -1;
    float *h = x + rows * C, *wide = h + rows * C, *scores = wide + rows * 4 * C;
    uint16_t *h16 = (uint16_t *)(scores + threads * m->max_len);
    double bound[outputs];
    int screen = 0, failed = 0;
#if defined(PANEL_PRODUCTS)
    screen = argmax_below > 0 && m->head_bf16 != NULL;
#endif
    #pragma omp parallel num_threads(threads)
    {
        float *mine = scores + omp_get_thread_num() * m->max_len;
        long first, end;  /* the thread's attention items, the same in every layer */
        attention_share(tokens, rows, m->n_head, &first, &end);
        #pragma omp for schedule(static)
        for (long r = 0; r < rows; r++)
            for (long i = 0; i < C; i++)
                x[r * C + i] = token_embedding(m, tokens[2 * r], i)
                               + element(positions, m->wpe, tokens[2 * r + 1] * C + i);
        for (long l = 0; l < m->n_layer; l++) {
            const BlockWeights *bw = m->blocks + l;
            layer_norm(x, C, bw->ln_1_w, bw->ln_1_b, h, rows, C, m->eps);
            matmul(m, h, bw->c_attn_w, bw->c_attn_s, bw->c_attn_b, wide, rows, C, 3 * C, ACT_NONE, 0);
            attention(m, l, wide, tokens, h, first_slot, run, first, end, mine);
            matmul(m, h, bw->attn_proj_w, bw->attn_proj_s, bw->attn_proj_b, x, rows, C, C, ACT_NONE, 1);
            layer_norm(x, C, bw->ln_2_w, bw->ln_2_b, h, rows, C, m->eps);
            matmul(m, h, bw->c_fc_w, bw->c_fc_s, bw->c_fc_b, wide, rows, C, 4 * C, m->act, 0);
            matmul(m, wide, bw->mlp_proj_w, bw->mlp_proj_s, bw->mlp_proj_b, x, rows, 4 * C, C, ACT_NONE, 1);
        }
        layer_norm(x + (run - 1) * C, run * C, m->ln_f_w, m->ln_f_b, h, outputs, C, m->eps);
#if defined(PANEL_PRODUCTS)
        if (screen)
            head_for_argmax(m, h, logits, outputs, argmax_below, amx, h16, bound, &failed);
#endif
        if (!screen || failed)
            matmul(m, h, m->lm_head, m->lm_head_s, NULL, logits, outputs, C, m->vocab, ACT_NONE, 0);
    }
    free(x);
    return 0;
}
