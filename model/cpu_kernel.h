/* What model/cpu_step.c takes from model/cpu_kernel.c: the products, each an orphaned `omp for` over blocks of
 * eight output rows, called by every thread of an enclosing parallel region. y (+)= act(x W^T + b) with
 * x: (rows, in) fp32, W: (out, in), b: (out) fp32 or NULL, y: (rows, out) fp32; `add` adds to y (a residual). */
#ifndef CPU_KERNEL_H
#define CPU_KERNEL_H

#include <stdint.h>
#include <string.h>

enum { ACT_NONE = 0, ACT_GELU_ERF = 1, ACT_GELU_TANH = 2 };

static inline float bf16_to_float(uint16_t h) {  /* bf16 is the top half of an fp32 */
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void product(const float *x, const float *w, const float *b, float *y,
             long rows, long in, long out, int act, int add);
void product_bf16(const float *x, const uint16_t *w, const float *b, float *y,
                  long rows, long in, long out, int act, int add);
/* w: int8 tiles of eight rows, as cpu_kernel.c's dot8_int8 reads them; scale: one per output row */
void product_int8(const float *x, const int8_t *w, const float *scale, const float *b, float *y,
                  long rows, long in, long out, int act, int add);

#endif
