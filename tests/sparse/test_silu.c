/* The vectorized SiLU (backends/cpu/silu.h): every SIMD level this
 * processor runs gives the scalar reference's bits, on a sweep of float bit
 * patterns and odd lengths (tails); the reference is within EF_SILU_MAX_REL
 * of silu in double for |g| ≤ 87.3, exact for large positive g, below 2e-36
 * in magnitude for large negative g; special values. */
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
#include "cpu/silu.h"

static const int k_levels[] = {EF_CPU_SIMD_AVX2, EF_CPU_SIMD_AVX512, EF_CPU_SIMD_NEON, EF_CPU_SIMD_NEON_DOTPROD};

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Positive floats from 0 to 100 at a stride of bit patterns, both signs,
 * plus the special values. Returns the count; *out: [count]. */
static int64_t sweep(float **out) {
    const uint32_t top = 0x42C80000u, stride = 1201; /* 100.0f; ~0.93 M patterns per sign */
    const int64_t n_pos = top / stride + 1;
    float *v = malloc(sizeof(float) * (size_t)(2 * n_pos + 16));
    assert_non_null(v);
    int64_t n = 0;
    for (uint32_t b = 0; b <= top - stride; b += stride) {
        v[n++] = from_bits(b);
        v[n++] = -from_bits(b);
    }
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, 1.0f, -1.0f, EF_SILU_LIMIT, -EF_SILU_LIMIT,
                             87.3f, -87.3f, 88.8f, -88.8f, 1e-40f, -1e-40f, FLT_MAX, -FLT_MAX};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) v[n++] = special[i];
    *out = v;
    return n;
}

static void test_levels_equal_reference(void **state) {
    (void)state;
    float *x = NULL;
    const int64_t n = sweep(&x);
    float *ref = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    ef_cpu_silu_with(EF_CPU_SIMD_SCALAR, x, ref, n);
    int n_levels = 0;
    for (size_t l = 0; l < sizeof k_levels / sizeof k_levels[0]; l++) {
        if (!ef_cpu_silu_level_ok(k_levels[l])) continue;
        n_levels++;
        ef_cpu_silu_with(k_levels[l], x, y, n);
        assert_memory_equal(y, ref, sizeof(float) * (size_t)n);
        /* odd lengths and offsets: the tails give the same bits too */
        for (int64_t len = 1; len <= 40; len++) {
            float t[40];
            ef_cpu_silu_with(k_levels[l], x + 1000 + len, t, len);
            assert_memory_equal(t, ref + 1000 + len, sizeof(float) * (size_t)len);
        }
        /* in place */
        memcpy(y, x, sizeof(float) * (size_t)n);
        ef_cpu_silu_with(k_levels[l], y, y, n);
        assert_memory_equal(y, ref, sizeof(float) * (size_t)n);
    }
    /* the dispatcher picks one of them */
    ef_cpu_silu(x, y, n);
    assert_memory_equal(y, ref, sizeof(float) * (size_t)n);
    print_message("SiLU: %d SIMD level(s) checked against the scalar reference (%s)\n", n_levels,
                  ef_cpu_simd_name(ef_cpu_simd_supported()));
    free(x);
    free(ref);
    free(y);
}

static void test_accuracy(void **state) {
    (void)state;
    float *x = NULL;
    const int64_t n = sweep(&x);
    float *y = malloc(sizeof(float) * (size_t)n);
    ef_cpu_silu_with(EF_CPU_SIMD_SCALAR, x, y, n);
    double max_rel = 0, max_rel_expf = 0;
    int64_t checked = 0;
    for (int64_t i = 0; i < n; i++) {
        const double g = x[i];
        if (isinf(g)) continue;
        const double exact = g / (1.0 + exp(-g));
        if (fabs(g) <= 87.3) {
            if (fabs(exact) < FLT_MIN) { /* denormal results: within one denormal step */
                assert_true(fabs(y[i] - exact) <= 0x1p-149);
                continue;
            }
            const double rel = fabs(y[i] - exact) / fabs(exact);
            if (rel > max_rel) max_rel = rel;
            /* the dense path's expf form, for the record */
            const float fx = x[i], dense = fx / (1.0f + expf(-fx));
            const double rel_d = fabs(dense - exact) / fabs(exact);
            if (rel_d > max_rel_expf) max_rel_expf = rel_d;
            checked++;
        } else if (g > 0) {
            assert_true(y[i] == x[i]); /* silu(g) rounds to g */
        } else {
            assert_true(fabs(y[i]) <= 2e-36 && fabs(exact) <= 2e-36);
        }
    }
    print_message("SiLU: %lld values, max relative error %.3g (bound %.3g; expf form: %.3g)\n", (long long)checked,
                  max_rel, EF_SILU_MAX_REL, max_rel_expf);
    assert_true(checked > 1000000);
    assert_true(max_rel <= EF_SILU_MAX_REL);
    free(x);
    free(y);
}

static void test_special_values(void **state) {
    (void)state;
    const float x[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f};
    float y[7];
    ef_cpu_silu_with(EF_CPU_SIMD_SCALAR, x, y, 7);
    assert_true(y[0] == 0.0f && !signbit(y[0]));
    assert_true(y[1] == 0.0f && signbit(y[1]));
    assert_true(isinf(y[2]) && y[2] > 0);
    assert_true(isnan(y[3])); /* −inf · 0, as −inf / (1 + expf(inf)) is NaN */
    assert_true(isnan(y[4]));
    assert_true(y[5] == x[5] / 2.0f && y[6] == x[6] / 2.0f); /* denormals: g / 2 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_equal_reference),
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_special_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
