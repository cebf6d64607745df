/* Read bandwidth of two threads over 1 GiB of floats: one stream a thread, eight interleaved streams a thread
 * (as eight weight rows side by side), each with and without software prefetch DIST bytes ahead. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define N (256L << 20)
static float *buf;
static double scan(int streams, long dist) {
    double t0 = omp_get_wtime(); float total = 0;
    #pragma omp parallel num_threads(2) reduction(+:total)
    {
        long per = N / 2, start = omp_get_thread_num() * per, len = per / streams;
        __m512 a[8]; for (int k = 0; k < 8; k++) a[k] = _mm512_setzero_ps();
        for (long blk = 0; blk < len; blk += 768) {   /* rows of 768 floats, `streams` rows side by side */
            for (long i = 0; i < 768; i += 16)
                for (int k = 0; k < streams; k++) {
                    const float *p = buf + start + (blk * streams) + k * 768 + i;
                    if (dist) _mm_prefetch((const char *)p + dist, _MM_HINT_T0);
                    a[k] = _mm512_add_ps(a[k], _mm512_loadu_ps(p));
                }
        }
        for (int k = 0; k < 8; k++) total += _mm512_reduce_add_ps(a[k]);
    }
    double dt = omp_get_wtime() - t0; if (total == 12345) puts("");
    return N * 4.0 / dt / 1e9;
}
int main() {
    buf = aligned_alloc(64, N * 4); memset(buf, 1, N * 4);
    for (int rep = 0; rep < 3; rep++) {
        printf("scan GB/s: 1 stream %.1f, +pf 1K %.1f, +pf 4K %.1f | 8 streams %.1f, +pf 8 rows on (24K) %.1f\n",
               scan(1, 0), scan(1, 1024), scan(1, 4096), scan(8, 0), scan(8, 8 * 768 * 4));
    }
}
