/* session 20: model/cpu_panels.c as committed ("old") against a variant ("new"), both built as cpu_kernel.py builds
 * them, on GPT-2 124M's 49 products in panels, alternated, 9 rounds, medians. ./panels_ab OLD.so NEW.so ROWS */
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
int main(int argc, char **argv) {
    product_t f[2];
    for (int s = 0; s < 2; s++)
        f[s] = (product_t)dlsym(dlopen(argv[1 + s], RTLD_NOW | RTLD_LOCAL), "product_panels");
    long R = atol(argv[3]), C = 768, ins[4] = {C, C, C, 4 * C}, outs[4] = {3 * C, C, 4 * C, C}, I[49], O[49];
    float *W[49];
    for (int i = 0; i < 48; i++) I[i] = ins[i % 4], O[i] = outs[i % 4], W[i] = panels(O[i], I[i]);
    I[48] = C, O[48] = 50257, W[48] = panels(50257, C);
    float *x = panels(R, 4 * C), *y = malloc(R * 50304 * 4);
    double t[2][9];
    for (int round = 0; round < 9; round++)
        for (int s = 0; s < 2; s++) {
            double t0 = omp_get_wtime();
            #pragma omp parallel num_threads(2)
            for (int i = 0; i < 49; i++) {
                f[s](x, W[i], NULL, y, R, I[i], O[i], 0, 0);
                #pragma omp barrier
            }
            t[s][round] = omp_get_wtime() - t0;
        }
    qsort(t[0], 9, sizeof(double), cmp), qsort(t[1], 9, sizeof(double), cmp);
    printf("rows %ld: old %.2f ms (%.2f-%.2f), new %.2f ms (%.2f-%.2f), old/new %.2f\n", R, t[0][4] * 1e3,
           t[0][0] * 1e3, t[0][8] * 1e3, t[1][4] * 1e3, t[1][0] * 1e3, t[1][8] * 1e3, t[0][4] / t[1][4]);
}
