/* Reads a KV cache of GPT-2 124M shape (12 layers, 16 slots, 12 heads, positions 0..POS of MAX_LEN, fp32) the way
 * a 16-row decode step's attention does: per layer and (row, head), POS+1 keys then POS+1 values, 256 B each, summing
 * only; then the same bytes as one run. With -DPF=1 each run asks for the next one's lines in step, as the C step's
 * attention does. cc -O3 -march=native -fopenmp -DPF=0|1 kv_read_pattern.c && ./a.out POS [MAX_LEN] */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
enum { L = 12, S = 16, H = 12, D = 64 };
static long T = 1024;
int main(int argc, char **argv) {
    long pos = argc > 1 ? atol(argv[1]) : 192;
    if (argc > 2) T = atol(argv[2]);
    size_t n = (size_t)L * 2 * S * H * T * D;
    float *kv = aligned_alloc(64, n * 4);
    #pragma omp parallel for num_threads(2)
    for (size_t i = 0; i < n; i++) kv[i] = 1e-3f * (i % 7);
    double bytes = (double)L * S * H * (pos + 1) * D * 4 * 2;
    float *run = aligned_alloc(64, (size_t)bytes);
    for (size_t i = 0; i < bytes / 4; i++) run[i] = 1e-3f;
    for (int rep = 0; rep < 5; rep++) {
        __m512 tot = _mm512_setzero_ps();
        double t0 = omp_get_wtime();
        #pragma omp parallel num_threads(2)
        {
            __m512 acc = _mm512_setzero_ps();
            for (long l = 0; l < L; l++) {
                #pragma omp for schedule(static)
                for (long rh = 0; rh < S * H; rh++)
                    for (int kvi = 0; kvi < 2; kvi++) {
                        const float *p = kv + (((l * 2 + kvi) * S * H) + rh) * (size_t)T * D;
                        const float *q = kvi == 0 ? kv + (((l * 2 + 1) * S * H) + rh) * (size_t)T * D
                                                  : kv + (((l * 2) * S * H) + rh + 1) * (size_t)T * D;
                        for (long t = 0; t <= pos; t++) {
                            if (PF) for (int d = 0; d < D; d += 16) _mm_prefetch((const char *)(q + t * D + d), _MM_HINT_T0);
                            for (int d = 0; d < D; d += 16) acc = _mm512_add_ps(acc, _mm512_load_ps(p + t * D + d));
                        }
                    }
            }
            #pragma omp critical
            tot = _mm512_add_ps(tot, acc);
        }
        double t1 = omp_get_wtime();
        __m512 tot2 = _mm512_setzero_ps();
        #pragma omp parallel num_threads(2)
        {
            __m512 acc = _mm512_setzero_ps();
            #pragma omp for schedule(static)
            for (size_t i = 0; i < (size_t)(bytes / 4); i += 16) acc = _mm512_add_ps(acc, _mm512_load_ps(run + i));
            #pragma omp critical
            tot2 = _mm512_add_ps(tot2, acc);
        }
        double t2 = omp_get_wtime();
        printf("pos %ld: %.0f MB; attention's pattern %.2f ms %.1f GB/s; one run %.2f ms %.1f GB/s (%g %g)\n", pos,
               bytes / 1e6, (t1 - t0) * 1e3, bytes / (t1 - t0) / 1e9, (t2 - t1) * 1e3, bytes / (t2 - t1) / 1e9,
               _mm512_reduce_add_ps(tot), _mm512_reduce_add_ps(tot2));
    }
}
