/* session 22: variants of model/cpu_panels.c (sweep.sh builds them) on GPT-2 124M's 49 fp32 products in panels,
 * each round all variants one after another, 9 rounds, medians. ./sweep ROWS A.so B.so ... */
#include <dlfcn.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
typedef void (*product_t)(const float *, const float *, const float *, float *, long, long, long, int, int);
static float *panels(long out, long in) {  /* random weights, already in panels: the layout is all that matters */
    long n = (out + 63) / 64 * 64 * in;
    float *p = aligned_alloc(64, n * 4);
    for (long i = 0; i < n; i++)
        p[i] = ((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return (x > y) - (x < y); }
enum { ROUNDS = 9, MAXV = 16 };
int main(int argc, char **argv) {
    long R = atol(argv[1]), C = 768, ins[4] = {C, C, C, 4 * C}, outs[4] = {3 * C, C, 4 * C, C}, I[49], O[49];
    int V = argc - 2;
    product_t f[MAXV];
    for (int s = 0; s < V; s++)
        f[s] = (product_t)dlsym(dlopen(argv[2 + s], RTLD_NOW | RTLD_LOCAL), "product_panels");
    float *W[49];
    for (int i = 0; i < 48; i++) I[i] = ins[i % 4], O[i] = outs[i % 4], W[i] = panels(O[i], I[i]);
    I[48] = C, O[48] = 50257, W[48] = panels(50257, C);
    float *x = panels(R, 4 * C), *y = malloc(R * 50304 * 4);
    static double t[MAXV][ROUNDS];
    for (int round = -1; round < ROUNDS; round++)  /* round -1: warm-up */
        for (int s = 0; s < V; s++) {
            double t0 = omp_get_wtime();
            #pragma omp parallel num_threads(2)
            for (int i = 0; i < 49; i++) {
                f[s](x, W[i], NULL, y, R, I[i], O[i], 0, 0);
                #pragma omp barrier
            }
            if (round >= 0)
                t[s][round] = omp_get_wtime() - t0;
        }
    for (int s = 0; s < V; s++) {
        qsort(t[s], ROUNDS, sizeof(double), cmp);
        printf("rows %2ld %-28s %6.2f ms (%.2f-%.2f) base/this %.2f\n", R, argv[2 + s], t[s][ROUNDS / 2] * 1e3,
               t[s][0] * 1e3, t[s][ROUNDS - 1] * 1e3, t[0][ROUNDS / 2] / t[s][ROUNDS / 2]);
    }
}
