/* session 20: main's fp32 product (cpu_kernel.c) over working sets of GPT-2 124M's matrices of several sizes, to see
 * whether weights that fit in the last-level cache are read faster: the first L layers' four matrices (28 MB a
 * layer), with the head (154 MB) where L is 12, passed over until ~1 GB is read, 2 threads; GB/s of weights read. */
#include "cpu_kernel.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
static float *randm(long n) {
    float *p = aligned_alloc(64, ((n * 4 + 63) / 64) * 64);
    for (long i = 0; i < n; i++)
        p[i] = ((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}
int main(int argc, char **argv) {
    long R = atol(argv[1]), C = 768, V = 50257, ins[4] = {C, C, C, 4 * C}, outs[4] = {3 * C, C, 4 * C, C};
    float *W[49];
    long I[49], O[49];
    for (int i = 0; i < 48; i++) I[i] = ins[i % 4], O[i] = outs[i % 4], W[i] = randm(I[i] * O[i]);
    I[48] = C, O[48] = V, W[48] = randm(C * V);
    float *x = randm(R * 4 * C), *y = randm(R * V);
    int sizes[] = {2, 4, 8, 12, 13};  /* 13: the 12 layers and the head */
    for (int round = 0; round < 3; round++)
        for (int s = 0; s < 5; s++) {
            int n = sizes[s] == 13 ? 49 : sizes[s] * 4;
            double bytes = 0;
            for (int i = 0; i < n; i++) bytes += 4.0 * I[i] * O[i];
            int passes = (int)(1e9 / bytes) + 1;
            double t0 = omp_get_wtime();
            #pragma omp parallel num_threads(2)
            for (int p = 0; p < passes; p++)
                for (int i = 0; i < n; i++) {
                    product(x, W[i], NULL, y, R, I[i], O[i], 0, 0);
                    #pragma omp barrier
                }
            double t = omp_get_wtime() - t0;
            printf("rows %ld set %4.0f MB: %.1f GB/s\n", R, bytes / 1e6, bytes * passes / t / 1e9);
        }
}
