/* Session 29: attention alone, as the C step runs it for 12 layers of GPT-2 124M (16 slots, 1,024 positions):
 * argv rows, positions (-1: each row 64..511 at random; -2: half the rows at 64, half at 960), steps, bf16 KV.
 * Built against one tree's model/ (cc -I TREE/model attn_bench.c TREE/model/cpu_kernel.c TREE/model/cpu_panels.c). */
#include "cpu_step.c"
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
    long rows = atol(argv[1]), pos = atol(argv[2]), reps = atol(argv[3]); int bf16 = argc > 4 && atoi(argv[4]);
    int mix = pos == -1, halves = pos == -2;  /* -1: random 64..511; -2: rows 0..7 at 64, the rest at 960 */
    Gpt m = {0};
    m.n_layer = 12; m.n_head = 12; m.n_embd = 768; m.vocab = 50257; m.slots = 16; m.max_len = 1024; m.kv_bf16 = bf16;
    long n = m.n_layer * 2 * m.slots * m.n_embd * m.max_len;
    m.kv = malloc(n * (bf16 ? 2 : 4));
    srand(1);
    for (long i = 0; i < n; i++) {
        float f = (float)((i * 2654435761u) >> 8 & 1023) / 1024 - 0.5f;  /* quick, no rand() */
        if (bf16) ((uint16_t *)m.kv)[i] = float_to_bf16(f); else ((float *)m.kv)[i] = f;
    }
    float *qkv = malloc(rows * 3 * 768 * 4), *y = malloc(rows * 768 * 4), *scores = malloc(2 * 1024 * 4);
    for (long i = 0; i < rows * 3 * 768; i++) qkv[i] = (float)rand() / RAND_MAX - 0.5f;
    long tokens[64];
    for (long r = 0; r < rows; r++) { tokens[2 * r] = 0; tokens[2 * r + 1] = mix ? 64 + rand() % 448 : halves ? (r < rows / 2 ? 64 : 960) : pos; }
    double t[1000];
    for (long i = 0; i < reps + 2; i++) {
        double t0 = now();
        #pragma omp parallel num_threads(2)
        {
            float *mine = scores + omp_get_thread_num() * 1024;
            for (long l = 0; l < 12; l++)
                attention(&m, l, qkv, tokens, y, rows, mine);
        }
        if (i >= 2) t[i - 2] = now() - t0;
    }
    qsort(t, reps, sizeof(double), cmp);
    double bytes = 0; for (long r = 0; r < rows; r++) bytes += 12.0 * 2 * 768 * (tokens[2 * r + 1] + 1) * (bf16 ? 2 : 4);
    printf("%ldx%s%s %.2f ms (%.1f GB/s)", rows, mix ? "mix" : halves ? "halves" : argv[2], bf16 ? " bf16" : "", t[reps / 2] * 1e3, bytes / t[reps / 2] / 1e9);
    return 0;
}
