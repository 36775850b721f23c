/* attn_kernels: the attention kernels alone on the long-context shapes, one
 * prefill call of N tokens from an empty F16 cache, so the variants can be
 * compared as ratios measured in one run: the flash kernel (full causal,
 * equal K/V heads), the tiled ef_cpu_attn_ext (attn_ext_tile.c, best SIMD
 * level) and its plain-C reference. Prints one JSON line per shape.
 * usage: attn_kernels N [THREADS] [REF_MAX_N] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fp16.h"
#include "base/threadpool.h"
#include "cpu/attn_ext_tile.h"
#include "cpu/cpu_ops.h"
#include "quant/types.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *name;
    int32_t n_head, n_head_kv, dk, dv, window;
    int shared;
} shape;

int main(int argc, char **argv) {
    const int32_t n = argc > 1 ? atoi(argv[1]) : 4096;
    const int32_t threads = argc > 2 ? atoi(argv[2]) : 2;
    const int32_t ref_max = argc > 3 ? atoi(argv[3]) : 4096;
    const shape shapes[] = {
        {"mha 8x32", 8, 8, 32, 32, 0, 0},
        {"mha 16x16", 16, 16, 16, 16, 0, 0},
        {"mla absorbed 16 heads, 64+16", 16, 1, 80, 80, 0, 1},
        {"mla absorbed 16 heads, 64+16, window 512", 16, 1, 80, 80, 512, 1},
        {"mla expanded 16 heads, k 32 v 16", 16, 16, 32, 16, 0, 0},
        {"mla expanded 16 heads, k 32 v 16, window 512", 16, 16, 32, 16, 512, 0},
        {"mla absorbed 8 heads, 128+16 (old shape)", 8, 1, 144, 144, 0, 1},
        {"mla absorbed 8 heads, 128+16, window 512 (old)", 8, 1, 144, 144, 512, 1},
    };
    ef_pool *pool = NULL;
    if (ef_pool_create(threads, &pool) != EF_OK) return 1;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        const int32_t kw = s->n_head_kv * s->dk, vw = s->n_head_kv * s->dv;
        uint16_t *k = malloc(sizeof(uint16_t) * (size_t)n * kw);          /* [n][kw] F16 */
        uint16_t *v = s->shared ? k : malloc(sizeof(uint16_t) * (size_t)n * vw); /* [n][vw] F16 */
        float *q = malloc(sizeof(float) * (size_t)n * s->n_head * s->dk); /* [n][H][dk] */
        float *out = malloc(sizeof(float) * (size_t)n * s->n_head * (s->dv > s->dk ? s->dv : s->dk));
        if (!k || !v || !q || !out) return 1;
        uint32_t rng = 12345;
        for (int64_t i = 0; i < (int64_t)n * kw; i++) k[i] = ef_f32_to_f16((float)((rng = rng * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f);
        if (!s->shared)
            for (int64_t i = 0; i < (int64_t)n * vw; i++) v[i] = ef_f32_to_f16((float)((rng = rng * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f);
        for (int64_t i = 0; i < (int64_t)n * s->n_head * s->dk; i++) q[i] = (float)((rng = rng * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
        const void *kp, *vp;
        ef_attn_ext a = {.n_tok = n, .n_past = 0, .n_head = s->n_head, .n_head_kv = s->n_head_kv, .dk = s->dk,
                         .dv = s->dv, .scale = 1.0f / sqrtf((float)s->dk), .window = s->window,
                         .k = ef_kv_rows_contiguous(EF_TYPE_F16, kw, n, k, &kp),
                         .v = ef_kv_rows_contiguous(EF_TYPE_F16, vw, n, v, &vp)};
        float *scratch = malloc(sizeof(float) * (size_t)threads * (size_t)ef_cpu_attn_ext_scratch_floats(&a));
        /* visible (query, key) pairs × heads × (dk + dv) multiply-adds */
        const double span = s->window > 0 && s->window < n ? (double)s->window * n - 0.5 * s->window * s->window
                                                           : 0.5 * (double)n * n;
        const double gflop = 2.0 * span * s->n_head * (s->dk + s->dv) * 1e-9;
        const ef_attn_ext_kernels kern = ef_attn_ext_pick_kernels();
        double t_tiled = -1, t_ref = -1, t_flash = -1;
        if (kern.scores) {
            double t0 = now();
            ef_cpu_attn_ext_tiled(pool, &a, &kern, q, scratch, out);
            t_tiled = now() - t0;
        }
        if (n <= ref_max) {
            double t0 = now();
            ef_cpu_attn_ext_ref(pool, &a, q, scratch, out);
            t_ref = now() - t0;
        }
        if (s->window == 0 && s->dk == s->dv) {
            const ef_attn_shape fs = {n, 0, s->n_head, s->n_head_kv, s->dk};
            float *fscr = malloc(sizeof(float) * (size_t)threads * ef_cpu_flash_scratch_floats(&fs));
            const ef_kv_view kv = {a.k, a.v};
            double t0 = now();
            ef_cpu_flash_attn_prefill(pool, &fs, q, &kv, fscr, out);
            t_flash = now() - t0;
            free(fscr);
        }
        printf("{\"shape\": \"%s\", \"n\": %d, \"threads\": %d, \"gflop\": %.2f, \"tiled_s\": %.4f, \"ref_s\": %.4f, "
               "\"flash_s\": %.4f}\n",
               s->name, (int)n, (int)threads, gflop, t_tiled, t_ref, t_flash);
        fflush(stdout);
        free(scratch), free(out), free(q);
        if (v != k) free(v);
        free(k);
    }
    ef_pool_free(pool);
    return 0;
}
