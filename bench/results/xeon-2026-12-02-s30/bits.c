/* y of product_panels_bf16 for random x and bf16 panels, rows 1..40 and 300, dumped to stdout */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
void product_panels_bf16(const float *x, const uint16_t *w, const float *b, float *y, long rows, long in, long out, int act, int add);
int main(void) {
    long in = 768, out = 200, P = (out + 63) / 64;
    uint16_t *w = aligned_alloc(64, P * in * 64 * 2); float *x = aligned_alloc(64, 300 * in * 4), *y = aligned_alloc(64, 300 * out * 4), b[200];
    srand(1);
    for (long i = 0; i < P * in * 64; i++) w[i] = (uint16_t)(0x3c00 + (rand() % 0x800) - 0x400) ^ (rand() & 0x8000);
    for (long i = 0; i < 300 * in; i++) x[i] = (rand() / (float)RAND_MAX - 0.5f);
    for (int i = 0; i < 200; i++) b[i] = i * 0.01f;
    long rows_list[] = {1, 5, 6, 7, 8, 13, 16, 31, 32, 40, 300};
    for (int ri = 0; ri < 11; ri++) for (int act = 0; act < 2; act++) {
        #pragma omp parallel num_threads(2)
        product_panels_bf16(x, w, b, y, rows_list[ri], in, out, act, 0);
        fwrite(y, 4, rows_list[ri] * out, stdout);
    }
}
