/* Session 29: GPT-2 124M's 49 fp32 panel products (497 MB) at each row count given, two builds of cpu_panels.c (A and
 * B, renamed symbols: products_ab.sh) alternated call by call, 2 threads: medians of the rounds and minima, ms */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef void (*prod)(const float *, const float *, const float *, float *, long, long, long, int, int);
void pp_A(const float *, const float *, const float *, float *, long, long, long, int, int);
void pp_B(const float *, const float *, const float *, float *, long, long, long, int, int);
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
static long O[49], I[49]; static float *W[49], *x, *y;
static double run(prod p, long rows) {
    double t0 = now();
    #pragma omp parallel num_threads(2)
    for (int i = 0; i < 49; i++) p(x, W[i], NULL, y, rows, I[i], O[i], 0, 0);
    return now() - t0;
}
int main(int argc, char **argv) {
    long shapes[4][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};
    for (int i = 0; i < 48; i++) { O[i] = shapes[i % 4][0]; I[i] = shapes[i % 4][1]; }
    O[48] = 50304; I[48] = 768;
    for (int i = 0; i < 49; i++) { W[i] = aligned_alloc(64, O[i] * I[i] * 4); for (long j = 0; j < O[i] * I[i]; j++) W[i][j] = (j % 7) * 0.01f; }
    x = aligned_alloc(64, 256 * 3072 * 4); y = aligned_alloc(64, 256 * 50304 * 4);
    for (long j = 0; j < 256 * 3072; j++) x[j] = (j % 5) * 0.1f;
    int rounds = atoi(argv[1]);
    for (int a = 2; a < argc; a++) {
        long rows = atol(argv[a]); double ta[64], tb[64];
        run(pp_A, rows); run(pp_B, rows);
        for (int i = 0; i < rounds; i++) { ta[i] = run(pp_A, rows); tb[i] = run(pp_B, rows); }
        qsort(ta, rounds, sizeof(double), cmp); qsort(tb, rounds, sizeof(double), cmp);
        printf("rows %3ld: A %.2f (min %.2f)  B %.2f (min %.2f)  A/B %.2fx (min %.2fx)\n", rows, ta[rounds / 2] * 1e3, ta[0] * 1e3,
               tb[rounds / 2] * 1e3, tb[0] * 1e3, ta[rounds / 2] / tb[rounds / 2], ta[0] / tb[0]);
        fflush(stdout);
    }
}
