/* product_panels alone on a weight that stays in L3 (or L2): GF/s per row count, 1 or 2 threads */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cpu_kernel.h"
void product_panels(const float *x, const float *w, const float *b, float *y, long rows, long in, long out, int act, int add);
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
    long out = atol(argv[1]), in = 768; int threads = atoi(argv[2]);
    float *w = aligned_alloc(64, out * in * 4), *x = aligned_alloc(64, 128 * in * 4), *y = aligned_alloc(64, 128 * out * 4);
    for (long i = 0; i < out * in; i++) w[i] = (i % 7) * 0.01f;
    for (long i = 0; i < 128 * in; i++) x[i] = (i % 5) * 0.1f;
    int rows_list[] = {1, 2, 3, 4, 5, 6, 8, 12, 16, 32};
    for (int ri = 0; ri < 10; ri++) {
        long rows = rows_list[ri]; double t[31];
        for (int i = 0; i < 33; i++) {
            double t0 = now();
            #pragma omp parallel num_threads(threads)
            product_panels(x, w, NULL, y, rows, in, out, 0, 0);
            if (i >= 2) t[i - 2] = now() - t0;
        }
        qsort(t, 31, sizeof(double), cmp);
        printf("rows %2ld: %.3f ms %.1f GF/s\n", rows, t[15] * 1e3, 2.0 * rows * in * out / t[15] / 1e9);
    }
}
