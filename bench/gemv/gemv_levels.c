/* gemv_levels: the decode GEMV of each x86 SIMD level on the same weights,
 * timed in one process as ratios (docs/benchmarks.md, "Row streams in the
 * GEMV"): ef_cpu_gemv_avx2 and ef_cpu_gemv_avx512 alternate, each timing a
 * call repeated over about 256 MiB of weights, best of ROUNDS, on the
 * calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID: other jobs on the
 * machine cost less than in wall time). The weights are one matrix read
 * again and again (FOOTPRINT_MIB 0: from the cache that holds it) or copies
 * filling FOOTPRINT_MIB (12: L3 here, 128: DRAM). Each level's outputs are
 * checked against a double-precision sum first.
 * usage: gemv_levels TYPE(f16|f32|bf16) IN OUT [FOOTPRINT_MIB] [ROUNDS] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fp16.h"
#include "cpu/cpu_features.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

typedef void (*gemv_fn)(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1);

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Element i of a weight matrix: a fixed pattern in [-0.5, 0.5). */
static float pattern(uint64_t i) { return (float)((i * 7919u) % 1000u) / 1000.0f - 0.5f; }

static void fill(uint32_t type, void *w, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        if (type == EF_TYPE_F32) ((float *)w)[i] = pattern(i);
        else if (type == EF_TYPE_F16) ((uint16_t *)w)[i] = ef_f32_to_f16(pattern(i));
        else ((uint16_t *)w)[i] = ef_f32_to_bf16(pattern(i));
    }
}

static double weight_at(uint32_t type, const void *w, uint64_t i) {
    if (type == EF_TYPE_F32) return ((const float *)w)[i];
    if (type == EF_TYPE_F16) return ef_f16_to_f32(((const uint16_t *)w)[i]);
    return ef_bf16_to_f32(((const uint16_t *)w)[i]);
}

/* 0 when y (one call of a level) is x · W within rounding. */
static int check(const ef_tensor *t, const float *x, const float *y) {
    const int64_t in = t->ne[0], out = t->ne[1];
    for (int64_t r = 0; r < out; r++) {
        double s = 0, mag = 0;
        for (int64_t k = 0; k < in; k++) {
            const double p = weight_at(t->type, t->data, (uint64_t)(r * in + k)) * x[k];
            s += p, mag += fabs(p);
        }
        if (fabs(y[r] - s) > 1e-5 * mag + 1e-6) return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: gemv_levels f16|f32|bf16 IN OUT [FOOTPRINT_MIB] [ROUNDS]\n");
        return 2;
    }
    const uint32_t type = !strcmp(argv[1], "f32") ? EF_TYPE_F32 : !strcmp(argv[1], "bf16") ? EF_TYPE_BF16 : EF_TYPE_F16;
    const int64_t in = atoll(argv[2]), out = atoll(argv[3]);
    const uint64_t footprint = (uint64_t)(argc > 4 ? atoll(argv[4]) : 0) << 20;
    const int rounds = argc > 5 ? atoi(argv[5]) : 7;
    if (in < 1 || out < 1 || rounds < 1) return 2;
    if (ef_cpu_simd_supported() < EF_CPU_SIMD_AVX512 || !ef_cpu_avx512_kernels_built()) {
        fprintf(stderr, "gemv_levels: this machine or build has no AVX-512 level to compare\n");
        return 1;
    }
    const uint64_t matrix = ef_type_row_size(type, in) * (uint64_t)out; /* bytes of one copy */
    const uint64_t copies = footprint ? footprint / matrix + 1 : 1;
    uint8_t *w = aligned_alloc(64, (matrix * copies + 63) / 64 * 64); /* [copies][out][in] */
    float *x = aligned_alloc(64, ((size_t)in * 4 + 63) / 64 * 64), *y = aligned_alloc(64, ((size_t)out * 4 + 63) / 64 * 64);
    if (!w || !x || !y) return 1;
    fill(type, w, matrix * copies / ef_type_row_size(type, 1));
    for (int64_t k = 0; k < in; k++) x[k] = (float)(k % 13) / 13.0f - 0.4f;

    ef_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "w", t.type = type, t.n_dims = 2, t.ne[0] = in, t.ne[1] = out, t.ne[2] = t.ne[3] = 1;
    t.nbytes = matrix, t.data = w;
    const struct {
        const char *name;
        gemv_fn fn;
    } level[2] = {{"avx2", ef_cpu_gemv_avx2}, {"avx512", ef_cpu_gemv_avx512}};
    for (int l = 0; l < 2; l++) {
        level[l].fn(&t, x, y, 0, out);
        if (check(&t, x, y)) {
            fprintf(stderr, "gemv_levels: %s gives a wrong product\n", level[l].name);
            return 1;
        }
    }
    const uint64_t calls = (256ull << 20) / matrix + 1;
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < 2; l++) {
            const double t0 = thread_cpu_s();
            for (uint64_t c = 0; c < calls; c++) {
                t.data = w + matrix * (c % copies);
                level[l].fn(&t, x, y, 0, out);
            }
            const double dt = thread_cpu_s() - t0;
            if (dt < best[l]) best[l] = dt;
        }
    printf("{\"type\": \"%s\", \"in\": %lld, \"out\": %lld, \"footprint_mib\": %.1f, \"avx2_gbs\": %.1f, "
           "\"avx512_gbs\": %.1f, \"avx512_over_avx2\": %.3f}\n",
           ef_type_name(type), (long long)in, (long long)out, (double)(matrix * copies) / (1 << 20),
           (double)calls * matrix / best[0] / 1e9, (double)calls * matrix / best[1] / 1e9, best[0] / best[1]);
    free(w), free(x), free(y);
    return 0;
}
