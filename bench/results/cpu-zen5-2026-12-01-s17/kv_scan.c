// Read 16 rows x 12 layers x (K, V) x 12 heads of ~192 positions (221 MB): each head a run of its own, T = 1024
// apart (scattered), all runs back to back (contiguous), or by position with all heads side by side (slot-major).
// gcc -O3 -march=native -fopenmp kv_scan.c -o kv_scan && ./kv_scan
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#define L 12
#define S 16
#define NH 12
#define T 1024
#define HS 64
int main(int argc, char **argv) {
    long pos = 192;
    long n = (long)L * 2 * S * NH * T * HS;
    float *kv = aligned_alloc(64, n * 4);
    for (long i = 0; i < n; i++) kv[i] = 1e-3f * (i % 7);
    float *flat = aligned_alloc(64, (long)L * 2 * S * NH * pos * HS * 4);
    for (long i = 0; i < (long)L * 2 * S * NH * pos * HS; i++) flat[i] = 1e-3f * (i % 7);
    double bytes = (double)L * 2 * S * NH * pos * HS * 4;
    for (int rep = 0; rep < 6; rep++) {
        for (int mode = 0; mode < 3; mode++) {
            double t0 = omp_get_wtime();
            float total = 0;
            for (int l = 0; l < L && mode == 2; l++) {
                #pragma omp parallel for num_threads(2) schedule(static) reduction(+:total)
                for (long r = 0; r < S; r++) {
                    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
                    const float *k = kv + ((l * 2 + 0) * S + r) * T * NH * HS, *v = kv + ((l * 2 + 1) * S + r) * T * NH * HS;
                    for (long i = 0; i < pos * NH * HS; i += 16) a = _mm512_add_ps(a, _mm512_loadu_ps(k + i));
                    for (long i = 0; i < pos * NH * HS; i += 16) b = _mm512_add_ps(b, _mm512_loadu_ps(v + i));
                    total += _mm512_reduce_add_ps(_mm512_add_ps(a, b));
                }
            }
            for (int l = 0; l < L && mode < 2; l++) {
                #pragma omp parallel for num_threads(2) schedule(static) reduction(+:total)
                for (long rh = 0; rh < S * NH; rh++) {
                    __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
                    const float *k, *v;
                    if (mode == 0) { k = kv + (((l * 2 + 0) * S) * NH + rh) * T * HS; v = kv + (((l * 2 + 1) * S) * NH + rh) * T * HS; }
                    else { k = flat + ((l * 2 + 0) * S * NH + rh) * pos * HS; v = flat + ((l * 2 + 1) * S * NH + rh) * pos * HS; }
                    for (long i = 0; i < pos * HS; i += 16) a = _mm512_add_ps(a, _mm512_loadu_ps(k + i));
                    for (long i = 0; i < pos * HS; i += 16) b = _mm512_add_ps(b, _mm512_loadu_ps(v + i));
                    total += _mm512_reduce_add_ps(_mm512_add_ps(a, b));
                }
            }
            double dt = omp_get_wtime() - t0;
            printf("%s %.2f ms %.1f GB/s (%g)\n", mode == 2 ? "slot-major" : mode ? "contiguous" : "scattered ", dt * 1e3, bytes / dt / 1e9, total);
        }
    }
}
