/* What model/cpu_step.c takes from model/cpu_kernel.c: the products, each an orphaned `omp for` over blocks of
 * eight output rows, called by every thread of an enclosing parallel region. y (+)= act(x W^T + b) with
 * x: (rows, in) fp32, W: (out, in), b: (out) fp32 or NULL, y: (rows, out) fp32; `add` adds to y (a residual). */
#ifndef CPU_KERNEL_H
#define CPU_KERNEL_H

#include <stdint.h>
#include <string.h>

enum { ACT_NONE = 0, ACT_GELU_ERF = 1, ACT_GELU_TANH = 2 };
enum { TILE_COLUMNS = 64 };  /* an int8 tile holds 64 columns of each of its eight rows together */

/* Where row j's column c sits in a tile of eight int8 rows of `in` columns: columns 0..63 of rows 0..7, then
 * columns 64..127 of rows 0..7, and so on, then the columns past the last multiple of 64, row by row (as
 * model/quantize.py's `tiles` lays them out). */
static inline long tile_offset(long in, long j, long c) {
    long whole = in / TILE_COLUMNS * TILE_COLUMNS;
    if (c < whole)
        return (c / TILE_COLUMNS * 8 + j) * TILE_COLUMNS + c % TILE_COLUMNS;
    return 8 * whole + j * (in - whole) + (c - whole);
}

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
/* w: int8 tiles of eight rows (tile_offset); scale: one per output row */
void product_int8(const float *x, const int8_t *w, const float *scale, const float *b, float *y,
                  long rows, long in, long out, int act, int add);

#endif
