/* attn_kernels: the attention kernels alone on the long-context shapes, one
 * prefill call of N tokens from an empty F16 cache, so the variants can be
 * compared as ratios measured in one run: the flash kernel (full causal,
 * equal K/V heads), the tiled ef_cpu_attn_ext (attn_ext_tile.c, best SIMD
 * level) and its plain-C reference. Prints one JSON line per shape, with
 * wall and process CPU seconds (all threads; the better figure on a loaded
 * machine). SHAPE_FILTER keeps the shapes whose name contains it. Then
 * DECODE_CALLS single-token calls of the tiled kernel at depth N−1 (the
 * decode path: few query rows, many keys), timed per call; a negative
 * count runs only those (for profiling the decode path).
 * usage: attn_kernels N [THREADS] [REF_MAX_N] [SHAPE_FILTER] [DECODE_CALLS] */
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

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wall and CPU seconds since a start taken with timer_start. */
typedef struct {
    double wall, cpu;
} timer;

static timer timer_start(void) { return (timer){clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_PROCESS_CPUTIME_ID)}; }

static timer timer_since(timer t0) {
    return (timer){clock_s(CLOCK_MONOTONIC) - t0.wall, clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0.cpu};
}

typedef struct {
    const char *name;
    int32_t n_head, n_head_kv, dk, dv, window;
    int shared; /* V in K's rows: the same elements (dv = dk), or their first dv (MLA absorbed, V the latent) */
    int f32; /* F32 rows (the exec's expanded MLA keys and values) instead of the F16 cache */
} shape;

int main(int argc, char **argv) {
    const int32_t n = argc > 1 ? atoi(argv[1]) : 4096;
    const int32_t threads = argc > 2 ? atoi(argv[2]) : 2;
    const int32_t ref_max = argc > 3 ? atoi(argv[3]) : 4096;
    const char *filter = argc > 4 ? argv[4] : "";
    const int32_t decode_arg = argc > 5 ? atoi(argv[5]) : 16;
    const int32_t decode_calls = decode_arg < 0 ? -decode_arg : decode_arg;
    const shape shapes[] = {
        {"mha 8x32", 8, 8, 32, 32, 0, 0, 0},
        {"mha 16x16", 16, 16, 16, 16, 0, 0, 0},
        {"mla absorbed 16 heads, 64+16", 16, 1, 80, 80, 0, 1, 0},
        {"mla absorbed 16 heads, 64+16, window 512", 16, 1, 80, 80, 512, 1, 0},
        {"mla absorbed 16 heads, 64+16, V latent only", 16, 1, 80, 64, 0, 1, 0},
        {"mla absorbed 16 heads, 64+16, V latent only, window 512", 16, 1, 80, 64, 512, 1, 0},
        {"mla expanded 16 heads, k 32 v 16", 16, 16, 32, 16, 0, 0, 0},
        {"mla expanded 16 heads, k 32 v 16, window 512", 16, 16, 32, 16, 512, 0, 0},
        {"mla expanded 16 heads, k 32 v 16, F32 rows", 16, 16, 32, 16, 0, 0, 1},
        {"mla expanded 16 heads, k 32 v 16, F32 rows, window 512", 16, 16, 32, 16, 512, 0, 1},
        {"mla absorbed 8 heads, 128+16 (old shape)", 8, 1, 144, 144, 0, 1, 0},
        {"mla absorbed 8 heads, 128+16, window 512 (old)", 8, 1, 144, 144, 512, 1, 0},
    };
    ef_pool *pool = NULL;
    if (ef_pool_create(threads, &pool) != EF_OK) return 1;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        if (!strstr(s->name, filter)) continue;
        const int32_t kw = s->n_head_kv * s->dk, vw = s->n_head_kv * s->dv;
        uint16_t *k = malloc(sizeof(uint16_t) * (size_t)n * kw);          /* [n][kw] F16 */
        uint16_t *v = s->shared ? k : malloc(sizeof(uint16_t) * (size_t)n * vw); /* [n][vw] F16 */
        float *k32 = s->f32 ? malloc(sizeof(float) * (size_t)n * kw) : NULL; /* [n][kw] F32 */
        float *v32 = s->f32 ? malloc(sizeof(float) * (size_t)n * vw) : NULL; /* [n][vw] F32 */
        if (s->f32 && (!k32 || !v32)) return 1;
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
        if (s->f32) {
            for (int64_t i = 0; i < (int64_t)n * kw; i++) k32[i] = ef_f16_to_f32(k[i]);
            for (int64_t i = 0; i < (int64_t)n * vw; i++) v32[i] = ef_f16_to_f32(v[i]);
            a.k = ef_kv_rows_contiguous(EF_TYPE_F32, kw, n, k32, &kp);
            a.v = ef_kv_rows_contiguous(EF_TYPE_F32, vw, n, v32, &vp);
        }
        if (s->shared) a.v = a.k; /* the very same rows (one pages array), as the exec passes them */
        float *scratch = malloc(sizeof(float) * (size_t)threads * (size_t)ef_cpu_attn_ext_scratch_floats(&a));
        /* visible (query, key) pairs × heads × (dk + dv) multiply-adds */
        const double span = s->window > 0 && s->window < n ? (double)s->window * n - 0.5 * s->window * s->window
                                                           : 0.5 * (double)n * n;
        const double gflop = 2.0 * span * s->n_head * (s->dk + s->dv) * 1e-9;
        const ef_attn_ext_kernels kern = ef_attn_ext_pick_kernels();
        timer t_tiled = {-1, -1}, t_ref = {-1, -1}, t_flash = {-1, -1};
        if (kern.scores && decode_arg >= 0) {
            const timer t0 = timer_start();
            ef_cpu_attn_ext_tiled(pool, &a, &kern, q, scratch, out);
            t_tiled = timer_since(t0);
        }
        timer t_decode = {-1, -1}; /* per single-token call at depth n − 1 */
        if (kern.scores && decode_calls > 0 && n > 1) {
            ef_attn_ext one = a;
            one.n_tok = 1;
            one.n_past = n - 1;
            const float *q_last = q + (int64_t)(n - 1) * s->n_head * s->dk; /* [n_head][dk] */
            const timer t0 = timer_start();
            for (int32_t c = 0; c < decode_calls; c++) ef_cpu_attn_ext_tiled(pool, &one, &kern, q_last, scratch, out);
            t_decode = timer_since(t0);
            t_decode.wall /= decode_calls, t_decode.cpu /= decode_calls;
        }
        if (n <= ref_max && decode_arg >= 0) {
            const timer t0 = timer_start();
            ef_cpu_attn_ext_ref(pool, &a, q, scratch, out);
            t_ref = timer_since(t0);
        }
        if (s->window == 0 && s->dk == s->dv && !s->f32 && decode_arg >= 0) {
            const ef_attn_shape fs = {n, 0, s->n_head, s->n_head_kv, s->dk};
            float *fscr = malloc(sizeof(float) * (size_t)threads * ef_cpu_flash_scratch_floats(&fs));
            const ef_kv_view kv = {a.k, a.v};
            const timer t0 = timer_start();
            ef_cpu_flash_attn_prefill(pool, &fs, q, &kv, fscr, out);
            t_flash = timer_since(t0);
            free(fscr);
        }
        printf("{\"shape\": \"%s\", \"n\": %d, \"threads\": %d, \"gflop\": %.2f, \"tiled_s\": %.4f, \"ref_s\": %.4f, "
               "\"flash_s\": %.4f, \"tiled_cpu_s\": %.4f, \"ref_cpu_s\": %.4f, \"flash_cpu_s\": %.4f, "
               "\"decode_ms\": %.4f, \"decode_cpu_ms\": %.4f}\n",
               s->name, (int)n, (int)threads, gflop, t_tiled.wall, t_ref.wall, t_flash.wall, t_tiled.cpu, t_ref.cpu,
               t_flash.cpu, 1e3 * t_decode.wall, 1e3 * t_decode.cpu);
        fflush(stdout);
        free(scratch), free(out), free(q), free(k32), free(v32);
        if (v != k) free(v);
        free(k);
    }
    ef_pool_free(pool);
    return 0;
}
