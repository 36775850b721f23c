/* The vectorized exp and sigmoid (backends/cpu/exp.h): every SIMD level
 * this processor runs gives the scalar reference's bits (a sweep of float
 * bit patterns, random values, odd lengths for the tails, in place); the
 * reference is within EF_EXP_MAX_REL of exp in double where the result is a
 * normal float, one denormal step below that, and within 2 ulp of libm's
 * expf; special values (−inf, large negative, 0, past 88.72, NaN). */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/cpu_features.h"
#include "cpu/exp.h"

static const int k_levels[] = {EF_CPU_SIMD_AVX2, EF_CPU_SIMD_AVX512, EF_CPU_SIMD_NEON, EF_CPU_SIMD_NEON_DOTPROD};

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t bits_of(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* Floats of both signs up to 110 in magnitude at a stride of bit patterns,
 * random values in [−110, 95], and special values. *out: [count]. */
static int64_t sweep(float **out) {
    const uint32_t top = 0x42DC0000u, stride = 1409; /* 110.0f */
    const int64_t n_pos = top / stride + 1, n_rand = 200000;
    float *v = malloc(sizeof(float) * (size_t)(2 * n_pos + n_rand + 32));
    assert_non_null(v);
    int64_t n = 0;
    for (uint32_t b = 0; b <= top - stride; b += stride) {
        v[n++] = from_bits(b);
        v[n++] = -from_bits(b);
    }
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < n_rand; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[n++] = -110.0f + 205.0f * (float)((s >> 40) * 0x1p-24);
    }
    const float special[] = {0.0f,   -0.0f,  INFINITY, -INFINITY, 1.0f,     -1.0f,   88.0f,   88.72f,
                             88.73f, 89.0f,  100.0f,   -87.3f,    -87.4f,   -100.0f, -103.0f, -103.9f,
                             -104.f, -105.f, -200.0f,  1e-40f,    -1e-40f,  FLT_MAX, -FLT_MAX, 0.5f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) v[n++] = special[i];
    *out = v;
    return n;
}

typedef void (*array_fn)(int level, const float *x, float *y, int64_t n);

static void check_levels(array_fn fn, const char *what) {
    float *x = NULL;
    const int64_t n = sweep(&x);
    float *ref = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    assert_non_null(ref);
    assert_non_null(y);
    fn(EF_CPU_SIMD_SCALAR, x, ref, n);
    int n_levels = 0;
    for (size_t l = 0; l < sizeof k_levels / sizeof k_levels[0]; l++) {
        if (!ef_cpu_exp_level_ok(k_levels[l])) continue;
        n_levels++;
        fn(k_levels[l], x, y, n);
        assert_memory_equal(y, ref, sizeof(float) * (size_t)n);
        for (int64_t len = 1; len <= 40; len++) { /* tails */
            float t[40];
            fn(k_levels[l], x + 1000 + len, t, len);
            assert_memory_equal(t, ref + 1000 + len, sizeof(float) * (size_t)len);
        }
        memcpy(y, x, sizeof(float) * (size_t)n); /* in place */
        fn(k_levels[l], y, y, n);
        assert_memory_equal(y, ref, sizeof(float) * (size_t)n);
    }
    print_message("%s: %d SIMD level(s) checked against the scalar reference (%s)\n", what, n_levels,
                  ef_cpu_simd_name(ef_cpu_simd_supported()));
    free(x), free(ref), free(y);
}

static void test_exp_levels_equal_reference(void **state) {
    (void)state;
    check_levels(ef_cpu_exp_with, "exp");
    /* NaN in and out, at every level (payloads aside) */
    float x[19], y[19];
    for (int i = 0; i < 19; i++) x[i] = i % 3 ? (float)i : NAN;
    for (size_t l = 0; l < sizeof k_levels / sizeof k_levels[0]; l++) {
        if (!ef_cpu_exp_level_ok(k_levels[l])) continue;
        ef_cpu_exp_with(k_levels[l], x, y, 19);
        for (int i = 0; i < 19; i++) assert_true(i % 3 ? y[i] == ef_exp_ref(x[i]) : isnan(y[i]));
    }
}

static void test_sigmoid_levels_equal_reference(void **state) {
    (void)state;
    check_levels(ef_cpu_sigmoid_with, "sigmoid");
}

/* Distance in representable floats between two finite non-negative floats. */
static uint32_t ulps(float a, float b) {
    const uint32_t ba = bits_of(a), bb = bits_of(b);
    return ba > bb ? ba - bb : bb - ba;
}

static void test_exp_accuracy(void **state) {
    (void)state;
    float *x = NULL;
    const int64_t n = sweep(&x);
    float *y = malloc(sizeof(float) * (size_t)n);
    assert_non_null(y);
    ef_cpu_exp_with(EF_CPU_SIMD_SCALAR, x, y, n);
    double max_rel = 0, max_rel_expf = 0;
    uint32_t max_ulps_expf = 0;
    int64_t normal = 0, tiny = 0;
    for (int64_t i = 0; i < n; i++) {
        const double exact = exp((double)x[i]);
        const float lib = expf(x[i]);
        if (exact > FLT_MAX) { /* overflow, as expf */
            assert_true(isinf(y[i]) && y[i] > 0 && isinf(lib));
            continue;
        }
        assert_true(y[i] >= 0.0f && !isinf(y[i]));
        if (exact < FLT_MIN) { /* denormal or 0: within one denormal step */
            assert_true(fabs(y[i] - exact) <= 0x1p-149);
            tiny++;
            continue;
        }
        const double rel = fabs(y[i] - exact) / exact;
        if (rel > max_rel) max_rel = rel;
        const double rel_lib = fabs(lib - exact) / exact;
        if (rel_lib > max_rel_expf) max_rel_expf = rel_lib;
        if (ulps(y[i], lib) > max_ulps_expf) max_ulps_expf = ulps(y[i], lib);
        normal++;
    }
    print_message("exp: %lld normal results, max relative error %.3g (bound %.3g; expf: %.3g), "
                  "max %u ulp from expf; %lld below FLT_MIN\n",
                  (long long)normal, max_rel, EF_EXP_MAX_REL, max_rel_expf, max_ulps_expf, (long long)tiny);
    assert_true(normal > 500000 && tiny > 1000);
    assert_true(max_rel <= EF_EXP_MAX_REL);
    assert_true(max_ulps_expf <= 2);
    free(x), free(y);
}

static void test_sigmoid_accuracy(void **state) {
    (void)state;
    float *x = NULL;
    const int64_t n = sweep(&x);
    float *y = malloc(sizeof(float) * (size_t)n);
    assert_non_null(y);
    ef_cpu_sigmoid_with(EF_CPU_SIMD_SCALAR, x, y, n);
    double max_rel = 0;
    for (int64_t i = 0; i < n; i++) {
        const double exact = 1.0 / (1.0 + exp(-(double)x[i]));
        assert_true(y[i] >= 0.0f && y[i] <= 1.0f);
        if (exact < FLT_MIN) { /* exp(−x) overflowed or σ is denormal */
            assert_true(fabs(y[i] - exact) <= FLT_MIN);
            continue;
        }
        const double rel = fabs(y[i] - exact) / exact;
        if (rel > max_rel) max_rel = rel;
    }
    print_message("sigmoid: max relative error %.3g (bound %.3g)\n", max_rel, EF_EXP_MAX_REL + 2 * FLT_EPSILON);
    assert_true(max_rel <= EF_EXP_MAX_REL + 2 * FLT_EPSILON);
    free(x), free(y);
}

static void test_special_values(void **state) {
    (void)state;
    const float x[] = {-INFINITY, -1000.0f, -104.0f, 0.0f, -0.0f, 88.73f, 89.0f, 1000.0f, INFINITY, NAN, 1.0f};
    enum { n = sizeof x / sizeof x[0] };
    float y[n], s[n];
    ef_cpu_exp_with(EF_CPU_SIMD_SCALAR, x, y, n);
    ef_cpu_sigmoid_with(EF_CPU_SIMD_SCALAR, x, s, n);
    assert_true(y[0] == 0.0f && !signbit(y[0]) && y[1] == 0.0f && y[2] == 0.0f);
    assert_true(y[3] == 1.0f && y[4] == 1.0f); /* exact at 0 */
    for (int i = 5; i <= 8; i++) assert_true(isinf(y[i]) && y[i] > 0);
    assert_true(isnan(y[9]));
    assert_true(fabsf(y[10] - 2.7182817f) <= 2.4e-7f);
    assert_true(s[0] == 0.0f && s[1] == 0.0f && s[3] == 0.5f && s[4] == 0.5f);
    assert_true(s[7] == 1.0f && s[8] == 1.0f && isnan(s[9]));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_levels_equal_reference),
        cmocka_unit_test(test_sigmoid_levels_equal_reference),
        cmocka_unit_test(test_exp_accuracy),
        cmocka_unit_test(test_sigmoid_accuracy),
        cmocka_unit_test(test_special_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
