/* The SIMD matmul kernels (AVX2/AVX-512 or NEON; GEMV for one token, packed GEMM for several)
 * against the scalar reference for F32, F16 and BF16 weights on random data
 * and odd sizes; GEMV and GEMM give identical bits for the same token; 1, 2
 * and 3 threads give identical bits; ef_cpu_matmul follows the dispatch
 * switch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "base/threadpool.h"
#include "cpu/cpu_features.h"
#include "cpu/cpu_ops.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 4503599627370496.0 - 1.0);
}

/* A random weight {in, out} of `type` plus its exact F32 values. */
typedef struct {
    ef_tensor t;
    void *data;
    float *f32; /* [out][in] */
} weight;

static void make_weight(weight *w, uint32_t type, int64_t in, int64_t out) {
    const size_t n = (size_t)(in * out);
    w->f32 = malloc(n * sizeof(float));
    w->data = malloc(n * (type == EF_TYPE_F32 ? 4 : 2));
    assert_non_null(w->f32);
    assert_non_null(w->data);
    for (size_t i = 0; i < n; i++) {
        float v = frand();
        if (type == EF_TYPE_F16) {
            ((uint16_t *)w->data)[i] = ef_f32_to_f16(v);
            v = ef_f16_to_f32(((uint16_t *)w->data)[i]);
        } else if (type == EF_TYPE_BF16) {
            ((uint16_t *)w->data)[i] = ef_f32_to_bf16(v);
            v = ef_bf16_to_f32(((uint16_t *)w->data)[i]);
        } else {
            ((float *)w->data)[i] = v;
        }
        w->f32[i] = v;
    }
    memset(&w->t, 0, sizeof w->t);
    w->t.name = "w";
    w->t.type = type;
    w->t.n_dims = 2;
    w->t.ne[0] = in;
    w->t.ne[1] = out;
    w->t.ne[2] = w->t.ne[3] = 1;
    w->t.data = w->data;
    w->t.nbytes = n * (type == EF_TYPE_F32 ? 4 : 2);
}

static void free_weight(weight *w) {
    free(w->data);
    free(w->f32);
}

static float *random_vec(int64_t n) {
    float *x = malloc((size_t)n * sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = frand();
    return x;
}

static int have_simd(void) { return ef_cpu_simd_supported() != EF_CPU_SIMD_SCALAR; }
/* GEMV/GEMM run the best supported level: AVX2 (or AVX-512) on x86-64, NEON
 * on aarch64; elsewhere there is no SIMD kernel and the comparisons are skipped. */
#if defined(__x86_64__) || defined(__aarch64__)
#define REQUIRE_SIMD() assert_true(have_simd()) /* this machine class has SIMD kernels */
#else
#define REQUIRE_SIMD() do { (void)have_simd; skip(); } while (0)
#endif

/* Per-type bound on |kernel − reference| relative to Σ|w·x| of the output:
 * the weights are converted exactly, so only the F32 summation order differs
 * (≈ in·2⁻²⁴ at worst); a wrong element, lane or tail is off by O(1). */
static double tolerance(uint32_t type) {
    switch (type) {
    case EF_TYPE_F32: return 2e-6;
    case EF_TYPE_F16: return 2e-6;
    default: return 2e-6; /* BF16 */
    }
}

static void check_close(const weight *w, const float *x, int32_t n, const float *got, const float *ref) {
    const int64_t in = w->t.ne[0], out = w->t.ne[1];
    for (int32_t t = 0; t < n; t++)
        for (int64_t r = 0; r < out; r++) {
            double mag = 0.0, exact = 0.0;
            for (int64_t k = 0; k < in; k++) {
                mag += fabs((double)w->f32[r * in + k] * x[t * in + k]);
                exact += (double)w->f32[r * in + k] * x[t * in + k];
            }
            const double bound = tolerance(w->t.type) * (mag + 1e-30) * (1.0 + in / 256.0);
            const float g = got[t * out + r], e = ref[t * out + r];
            if (fabs((double)g - e) > bound || fabs((double)g - exact) > bound) {
                fprintf(stderr, "%s in=%lld out=%lld n=%d t=%d r=%lld: got %.9g ref %.9g exact %.9g\n",
                        ef_type_name(w->t.type), (long long)in, (long long)out, n, t, (long long)r, g, e, exact);
                fail();
            }
        }
}

static const uint32_t k_types[] = {EF_TYPE_F32, EF_TYPE_F16, EF_TYPE_BF16};
static const int64_t k_in[] = {1, 7, 8, 9, 31, 33, 255, 256, 257, 1000, 1031};
static const int64_t k_out[] = {1, 3, 5, 31, 33};
static const int32_t k_n[] = {1, 2, 3, 4, 7, 100};

/* GEMV (token by token) and GEMM vs the reference; GEMV ≡ GEMM bitwise. */
static void test_kernels_vs_reference(void **state) {
    (void)state;
    REQUIRE_SIMD();
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t ii = 0; ii < sizeof k_in / sizeof k_in[0]; ii++)
            for (size_t oi = 0; oi < sizeof k_out / sizeof k_out[0]; oi++) {
                weight w;
                const int64_t in = k_in[ii], out = k_out[oi];
                make_weight(&w, k_types[ti], in, out);
                for (size_t ni = 0; ni < sizeof k_n / sizeof k_n[0]; ni++) {
                    const int32_t n = k_n[ni];
                    if (n > 7 && in > 300) continue; /* keeps the test fast; n = 100 covers token blocks at small in */
                    float *x = random_vec(n * in);
                    float *ref = malloc(sizeof(float) * (size_t)(n * out));
                    float *gemv = malloc(sizeof(float) * (size_t)(n * out));
                    float *gemm = malloc(sizeof(float) * (size_t)(n * out));
                    ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &w.t, x, n, ref);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &w.t, x, n, gemv);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMM, &w.t, x, n, gemm);
                    check_close(&w, x, n, gemv, ref);
                    check_close(&w, x, n, gemm, ref);
                    assert_memory_equal(gemv, gemm, sizeof(float) * (size_t)(n * out));
                    free(x), free(ref), free(gemv), free(gemm);
                }
                free_weight(&w);
            }
}

/* Larger shapes: several token blocks and K chunks (in > 256, n > 96 at in ≤ 682). */
static void test_gemm_blocks(void **state) {
    (void)state;
    REQUIRE_SIMD();
    const struct { int64_t in, out; int32_t n; } shapes[] = {{520, 37, 201}, {2050, 9, 40}, {64, 130, 97}};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            weight w;
            const int64_t in = shapes[s].in, out = shapes[s].out;
            const int32_t n = shapes[s].n;
            make_weight(&w, k_types[ti], in, out);
            float *x = random_vec(n * in);
            float *ref = malloc(sizeof(float) * (size_t)(n * out));
            float *gemv = malloc(sizeof(float) * (size_t)(n * out));
            float *gemm = malloc(sizeof(float) * (size_t)(n * out));
            ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &w.t, x, n, ref);
            ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &w.t, x, n, gemv);
            ef_cpu_matmul_with(NULL, EF_MATMUL_GEMM, &w.t, x, n, gemm);
            check_close(&w, x, n, gemm, ref);
            assert_memory_equal(gemv, gemm, sizeof(float) * (size_t)(n * out));
            free(x), free(ref), free(gemv), free(gemm);
            free_weight(&w);
        }
}

/* 1, 2 and 3 threads: the same bits for every kernel. */
static void test_threads_identical(void **state) {
    (void)state;
    REQUIRE_SIMD();
    ef_pool *pools[3] = {NULL, NULL, NULL};
    for (int p = 0; p < 3; p++) assert_int_equal(ef_pool_create(p + 1, &pools[p]), EF_OK);
    const ef_matmul_kernel kernels[] = {EF_MATMUL_REFERENCE, EF_MATMUL_GEMV, EF_MATMUL_GEMM};
    const struct { int64_t in, out; int32_t n; } shapes[] = {{257, 33, 5}, {64, 101, 1}, {1000, 13, 9}};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            weight w;
            make_weight(&w, k_types[ti], shapes[s].in, shapes[s].out);
            const int32_t n = shapes[s].n;
            const size_t bytes = sizeof(float) * (size_t)(n * shapes[s].out);
            float *x = random_vec(n * shapes[s].in);
            float *y1 = malloc(bytes), *yk = malloc(bytes);
            for (size_t k = 0; k < 3; k++) {
                ef_cpu_matmul_with(pools[0], kernels[k], &w.t, x, n, y1);
                for (int p = 1; p < 3; p++) {
                    memset(yk, 0xff, bytes);
                    ef_cpu_matmul_with(pools[p], kernels[k], &w.t, x, n, yk);
                    assert_memory_equal(y1, yk, bytes);
                }
            }
            free(x), free(y1), free(yk);
            free_weight(&w);
        }
    for (int p = 0; p < 3; p++) ef_pool_free(pools[p]);
}

/* Quantized types go to the qmatmul kernels (tests/cpu/test_cpu_qmatmul.c);
 * types without fast kernels stay on the reference path. */
static void test_other_types_use_reference(void **state) {
    (void)state;
    assert_true(ef_cpu_avx2_matmul_ok(EF_TYPE_F32));
    assert_true(ef_cpu_avx2_matmul_ok(EF_TYPE_F16));
    assert_true(ef_cpu_avx2_matmul_ok(EF_TYPE_BF16));
    assert_true(ef_cpu_avx2_matmul_ok(EF_TYPE_Q8_0));
    assert_true(ef_cpu_avx2_matmul_ok(EF_TYPE_Q4_K));
    assert_false(ef_cpu_avx2_matmul_ok(EF_TYPE_TQ1_0));
    assert_false(ef_cpu_avx2_matmul_ok(EF_TYPE_IQ2_XXS));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_vs_reference),
        cmocka_unit_test(test_gemm_blocks),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_other_types_use_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
