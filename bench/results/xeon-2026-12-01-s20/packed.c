/* prototype: fp32 product over weights packed in panels of NV*16 outputs: P[panel][k][NV*16] */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_kernel.h"
#ifndef NV
#define NV 3
#endif
#ifndef MR
#define MR 8
#endif
#ifndef KC
#define KC 128
#endif
#define PW (NV * 16)

void pack(const float *w, float *p, long in, long out) {
    long panels = (out + PW - 1) / PW;
    for (long q = 0; q < panels; q++)
        for (long k = 0; k < in; k++)
            for (long j = 0; j < PW; j++) {
                long o = q * PW + j;
                p[(q * in + k) * PW + j] = o < out ? w[o * in + k] : 0.0f;
            }
}

#ifndef PF_DIST
#define PF_DIST 0
#endif
#ifndef PF_HINT
#define PF_HINT _MM_HINT_T0
#endif
static inline __attribute__((always_inline)) void tile(const float *x, long in, const float *pp, long k0, long k1,
                                                      float *buf, int m, int first, int lead) {
    __m512 acc[MR][NV];
    for (int r = 0; r < m; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(buf + r * PW + v * 16);
    for (long k = k0; k < k1; k++) {
        __m512 w[NV];
        for (int v = 0; v < NV; v++) {
            if (PF_DIST && lead)  /* the first group of rows streams the panel from memory: ask PF_DIST bytes ahead */
                _mm_prefetch((const char *)(pp + k * PW + v * 16) + PF_DIST, PF_HINT);
            w[v] = _mm512_load_ps(pp + k * PW + v * 16);
        }
        for (int r = 0; r < m; r++) {
            __m512 xb = _mm512_set1_ps(x[r * in + k]);
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm512_fmadd_ps(w[v], xb, acc[r][v]);
        }
    }
    for (int r = 0; r < m; r++)
        for (int v = 0; v < NV; v++)
            _mm512_storeu_ps(buf + r * PW + v * 16, acc[r][v]);
}

#define TILE_CASE(M) case M: if (lead) tile(xg, in, pp, k0, k1, bg, M, k0 == 0, 1); else tile(xg, in, pp, k0, k1, bg, M, k0 == 0, 0); break;
static void tile_any(const float *xg, long in, const float *pp, long k0, long k1, float *bg, int m, int lead) {
    switch (m) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
#if MR > 8
        TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
#endif
#if MR > 12
        TILE_CASE(13) TILE_CASE(14) TILE_CASE(15) TILE_CASE(16)
#endif
    }
}

void product_packed(const float *x, const float *p, const float *b, float *y, long rows, long in, long out, int act,
                    int add) {
    float small[32 * PW] __attribute__((aligned(64)));
    float *buf = rows <= 32 ? small : aligned_alloc(64, rows * PW * sizeof(float));  /* gemm.py's rows */
    long panels = (out + PW - 1) / PW;
    long kc = rows <= MR ? in : KC;
    #pragma omp for schedule(static)
    for (long q = 0; q < panels; q++) {
        const float *pp = p + q * in * PW;
        for (long k0 = 0; k0 < in; k0 += kc) {
            long k1 = k0 + kc < in ? k0 + kc : in;
            for (long r = 0; r < rows; r += MR) {
                int m = rows - r < MR ? rows - r : MR;
                tile_any(x + r * in, in, pp, k0, k1, buf + r * PW, m, r == 0);
            }
        }
        long o = q * PW, n = out - o < PW ? out - o : PW;
        for (long r = 0; r < rows; r++)
            for (long j = 0; j < n; j++) {
                float v = buf[r * PW + j] + (b ? b[o + j] : 0.0f);
                y[r * out + o + j] = add ? y[r * out + o + j] + v : v;
            }
    }
    if (buf != small)
        free(buf);
}

void product_packed_par(const float *x, const float *p, const float *b, float *y, long rows, long in, long out,
                        int act, int add) {  /* for ../cpu-zen5-2026-12-01-s20/gemm.py */
    #pragma omp parallel num_threads(2)
    product_packed(x, p, b, y, rows, in, out, act, add);
}
