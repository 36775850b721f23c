/* The sparse FFN's gate pass with one expf per neuron (as before the
 * vectorized SiLU) against the vectorized SiLU (backends/cpu/silu.h), in one
 * process, interleaved, on one thread: median thread CPU time per call and
 * the ratios. Variants, per SIMD level (AVX2, AVX-512; NEON on aarch64):
 *   expf   chunks of 64: gate rows, g / (1 + expf(−g)), compaction, up rows
 *   vec    the same chunks with ef_cpu_silu_with (the new code's steps)
 *   lib    ef_cpu_sparse_gate_up itself (no pool)
 * and the activation alone over n_ff values (expf loop vs ef_cpu_silu).
 * Shapes: the demo model's FFN (256 → 768) and the 110M one's (1024 → 2816),
 * F16 and Q8_0 weights, threshold at the median |silu| (half active).
 *
 * Build (internal headers, the static library of a Release build):
 *   cc -O2 -Iinclude -Ilib -Ibackends bench/sparsity/gate_silu.c build/lib/libedgeformer_static.a \
 *      -lpcre2-8 -lcjson -lzstd -lm -lpthread -ldl -o /tmp/gate_silu
 * Run: /tmp/gate_silu [ROUNDS]   (default 21) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/cpu_features.h"
#include "cpu/silu.h"
#include "cpu/sparse_ops.h"
#include "quant/types.h"

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.0f;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ef_tensor make_weight(uint32_t type, int64_t in, int64_t out, void **owned) {
    const uint64_t row = ef_type_row_size(type, in);
    uint8_t *data = malloc((size_t)(row * (uint64_t)out));
    float *src = malloc(sizeof(float) * (size_t)in); /* [in] one row */
    for (int64_t r = 0; r < out; r++) {
        for (int64_t i = 0; i < in; i++) src[i] = 2.0f * frand() / sqrtf((float)in);
        if (ef_quantize_row(type, src, data + r * row, in) != EF_OK) abort();
    }
    free(src);
    *owned = data;
    return (ef_tensor){.name = "w", .type = type, .n_dims = 2, .ne = {in, out, 1, 1}, .data = data,
                       .nbytes = row * (uint64_t)out};
}

typedef struct bench {
    int impl, level;
    const ef_sparse_gate_up *g;
    int32_t n_ff;
    float *act, *h;
    int32_t *idx, *count;
} bench;

static void rows(int impl, const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1, float *y) {
    if (impl == EF_SPARSE_AVX512) ef_cpu_sparse_rows_avx512(w, x, idx, k0, k1, y);
    else if (impl == EF_SPARSE_NEON) ef_cpu_sparse_rows_neon(w, x, idx, k0, k1, y);
    else ef_cpu_sparse_rows_avx2(w, x, idx, k0, k1, y);
}

/* The chunked gate pass, SiLU by expf (vec = 0) or ef_cpu_silu_with (vec = 1). */
static int32_t gate_pass(const bench *b, int vec) {
    int32_t total = 0;
    for (int32_t j0 = 0; j0 < b->n_ff; j0 += EF_SPARSE_GATE_CHUNK) {
        const int32_t nr = b->n_ff - j0 < EF_SPARSE_GATE_CHUNK ? b->n_ff - j0 : EF_SPARSE_GATE_CHUNK;
        float *act = b->act + j0; /* [nr] */
        int32_t *idx = b->idx + j0, n = 0;
        rows(b->impl, b->g->gate, b->g->x, NULL, j0, j0 + nr, act);
        if (vec) ef_cpu_silu_with(b->level, act, act, nr);
        else
            for (int32_t i = 0; i < nr; i++) act[i] = act[i] / (1.0f + expf(-act[i]));
        for (int32_t i = 0; i < nr; i++) {
            idx[n] = j0 + i;
            n += fabsf(act[i]) >= b->g->thr;
        }
        float *h = b->h + j0; /* [n] */
        rows(b->impl, b->g->up, b->g->x, idx, 0, n, h);
        for (int32_t k = 0; k < n; k++) h[k] *= b->act[idx[k]];
        total += n;
    }
    return total;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { N_VARIANTS = 5 }; /* expf, vec, lib, SiLU alone by expf, SiLU alone vectorized */

static volatile float g_sink;

static void run_variant(const bench *b, int v, float *tmp) {
    switch (v) {
    case 0: g_sink += (float)gate_pass(b, 0); break;
    case 1: g_sink += (float)gate_pass(b, 1); break;
    case 2: g_sink += (float)ef_cpu_sparse_gate_up(NULL, b->impl, b->g, b->act, b->idx, b->h, b->count); break;
    case 3:
        for (int32_t i = 0; i < b->n_ff; i++) tmp[i] = b->act[i] / (1.0f + expf(-b->act[i]));
        g_sink += tmp[7];
        break;
    default: ef_cpu_silu_with(b->level, b->act, tmp, b->n_ff); g_sink += tmp[7]; break;
    }
}

int main(int argc, char **argv) {
    const int rounds = argc > 1 ? atoi(argv[1]) : 21;
    static const struct { int impl, level; const char *name; } levels[] = {
        {EF_SPARSE_AVX2, EF_CPU_SIMD_AVX2, "avx2"},
        {EF_SPARSE_AVX512, EF_CPU_SIMD_AVX512, "avx512"},
        {EF_SPARSE_NEON, EF_CPU_SIMD_NEON, "neon"}};
    static const struct { int64_t in, n_ff; } shapes[] = {{256, 768}, {1024, 2816}};
    static const uint32_t types[] = {EF_TYPE_F16, EF_TYPE_Q8_0};
    printf("| level | type | in → n_ff | expf µs | vec µs | lib µs | expf/vec | expf/lib | SiLU alone expf/vec |\n");
    printf("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t si = 0; si < 2; si++)
        for (size_t ti = 0; ti < 2; ti++) {
            const int64_t in = shapes[si].in, n_ff = shapes[si].n_ff;
            void *gate_data, *up_data;
            ef_tensor gate = make_weight(types[ti], in, n_ff, &gate_data), up = make_weight(types[ti], in, n_ff, &up_data);
            float *x = malloc(sizeof(float) * (size_t)in), *tmp = malloc(sizeof(float) * (size_t)n_ff);
            for (int64_t i = 0; i < in; i++) x[i] = frand();
            bench b = {.n_ff = (int32_t)n_ff};
            b.act = malloc(sizeof(float) * (size_t)n_ff);
            b.h = malloc(sizeof(float) * (size_t)n_ff);
            b.idx = malloc(sizeof(int32_t) * (size_t)n_ff);
            b.count = malloc(sizeof(int32_t) * (size_t)(n_ff / EF_SPARSE_GATE_CHUNK + 1));
            ef_sparse_gate_up g = {.gate = &gate, .up = &up, .x = x, .thr = 0.0f};
            b.g = &g;
            for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
                if (!ef_cpu_sparse_impl_ok(levels[li].impl, types[ti]) || !ef_cpu_silu_level_ok(levels[li].level))
                    continue;
                ef_cpu_simd_force(levels[li].level); /* the library's pass uses this level's SiLU too */
                b.impl = levels[li].impl;
                b.level = levels[li].level;
                /* threshold: the median |silu(gate)| (half the neurons active) */
                rows(b.impl, &gate, x, NULL, 0, (int32_t)n_ff, b.act);
                ef_cpu_silu_with(b.level, b.act, tmp, n_ff);
                double *sorted = malloc(sizeof(double) * (size_t)n_ff); /* [n_ff] |silu| ascending */
                for (int64_t i = 0; i < n_ff; i++) sorted[i] = fabsf(tmp[i]);
                qsort(sorted, (size_t)n_ff, sizeof(double), cmp_d);
                g.thr = (float)sorted[n_ff / 2];
                free(sorted);
                const int iters = (int)(2000000 / (in * n_ff / 256)) + 1;
                double *t = malloc(sizeof(double) * (size_t)(N_VARIANTS * rounds)); /* [variant][round] µs per call */
                for (int r = 0; r < rounds; r++)
                    for (int v = 0; v < N_VARIANTS; v++) {
                        if (v >= 3) rows(b.impl, &gate, x, NULL, 0, (int32_t)n_ff, b.act); /* gate values to activate */
                        const double c0 = cpu_s();
                        for (int it = 0; it < iters; it++) run_variant(&b, v, tmp);
                        t[v * rounds + r] = 1e6 * (cpu_s() - c0) / iters;
                    }
                double med[N_VARIANTS];
                for (int v = 0; v < N_VARIANTS; v++) {
                    qsort(t + v * rounds, (size_t)rounds, sizeof(double), cmp_d);
                    med[v] = t[v * rounds + rounds / 2];
                }
                printf("| %s | %s | %lld → %lld | %.2f | %.2f | %.2f | %.3f | %.3f | %.2f (%.3f / %.3f µs) |\n",
                       levels[li].name, ef_type_name(types[ti]), (long long)in, (long long)n_ff, med[0], med[1], med[2],
                       med[0] / med[1], med[0] / med[2], med[3] / med[4], med[3], med[4]);
                free(t);
            }
            ef_cpu_simd_force(-1);
            free(gate_data);
            free(up_data);
            free(x);
            free(tmp);
            free(b.act);
            free(b.h);
            free(b.idx);
            free(b.count);
        }
    return 0;
}
