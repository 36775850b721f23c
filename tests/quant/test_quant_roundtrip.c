/* Reference quantizers: quantize -> dequantize round trips on random data
 * within per-type relative RMS error bounds, exact round trips where the
 * format can represent the data, row sizes, and the entry point's argument
 * checks (rows that are not whole blocks, unknown or unwritable types). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "quant/types.h"

#define N 1024 /* four 256-blocks, 32 32-blocks */

static uint64_t lcg_state = 4242;
static double uniform01(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(lcg_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static float normal(void) {
    return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01()));
}

/* The largest block is 292 bytes per 256 elements; F32 needs 4 bytes each. */
static uint8_t qbuf[N * 4];

static double relative_rms_error(uint32_t type, const float *x, float *y, int64_t n) {
    assert_int_equal(ef_quantize_row(type, x, qbuf, n), EF_OK);
    ef_type_get(type)->to_float(qbuf, y, n);
    double err = 0.0, ref = 0.0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(isfinite(y[i]));
        err += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        ref += (double)x[i] * x[i];
    }
    return sqrt(err / ref);
}

typedef struct { uint32_t type; double max_rel_rms; } bound;

/* Bounds for Gaussian data: about 1.5x what these reference quantizers
 * reach, so a wrong scale or lost bit fails while ordinary rounding passes. */
static const bound k_bounds[] = {
    {EF_TYPE_F16, 0.0005}, {EF_TYPE_BF16, 0.004},
    {EF_TYPE_Q8_0, 0.008}, {EF_TYPE_Q4_0, 0.13},  {EF_TYPE_Q4_1, 0.11},
    {EF_TYPE_Q5_0, 0.065}, {EF_TYPE_Q5_1, 0.055}, {EF_TYPE_Q6_K, 0.028},
    {EF_TYPE_Q4_K, 0.12},  {EF_TYPE_Q5_K, 0.06},  {EF_TYPE_Q3_K, 0.23},
    {EF_TYPE_Q2_K, 0.42},  {EF_TYPE_TQ2_0, 0.9},  {EF_TYPE_TQ1_0, 0.9},
};

static void test_gaussian_round_trips(void **state) {
    (void)state;
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = normal() * 0.02f;
    for (size_t k = 0; k < sizeof k_bounds / sizeof k_bounds[0]; k++) {
        const double e = relative_rms_error(k_bounds[k].type, x, y, N);
        print_message("%-6s relative RMS error %.5f (bound %.4f)\n", ef_type_name(k_bounds[k].type), e,
                      k_bounds[k].max_rel_rms);
        if (!(e <= k_bounds[k].max_rel_rms))
            fail_msg("%s: relative RMS error %g above %g", ef_type_name(k_bounds[k].type), e, k_bounds[k].max_rel_rms);
    }
}

/* Error must fall as bits grow: a mis-ordered or dropped bit would break this. */
static void test_more_bits_less_error(void **state) {
    (void)state;
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = normal();
    const double q4_0 = relative_rms_error(EF_TYPE_Q4_0, x, y, N), q5_0 = relative_rms_error(EF_TYPE_Q5_0, x, y, N);
    const double q8_0 = relative_rms_error(EF_TYPE_Q8_0, x, y, N);
    const double q2k = relative_rms_error(EF_TYPE_Q2_K, x, y, N), q3k = relative_rms_error(EF_TYPE_Q3_K, x, y, N);
    const double q4k = relative_rms_error(EF_TYPE_Q4_K, x, y, N), q5k = relative_rms_error(EF_TYPE_Q5_K, x, y, N);
    const double q6k = relative_rms_error(EF_TYPE_Q6_K, x, y, N);
    assert_true(q8_0 < q5_0 && q5_0 < q4_0);
    assert_true(q6k < q5k && q5k < q4k && q4k < q3k && q3k < q2k);
}

/* Values on each format's grid come back exactly. */
static void test_exact_grids(void **state) {
    (void)state;
    static float x[N], y[N];
    /* Ternary weights times a power of two: TQ1_0/TQ2_0 are lossless. */
    for (int i = 0; i < N; i++) x[i] = 0.25f * (float)((int)(uniform01() * 3.0) - 1);
    x[0] = 0.25f; /* every block has amax 0.25 */
    x[256] = x[512] = x[768] = -0.25f;
    for (int k = 0; k < 2; k++) {
        const uint32_t t = k ? EF_TYPE_TQ1_0 : EF_TYPE_TQ2_0;
        assert_int_equal(ef_quantize_row(t, x, qbuf, N), EF_OK);
        ef_type_get(t)->to_float(qbuf, y, N);
        for (int i = 0; i < N; i++)
            if (y[i] != x[i]) fail_msg("%s element %d: %g != %g", ef_type_name(t), i, (double)y[i], (double)x[i]);
    }
    /* Integers -127..127 with amax 127 are exact in Q8_0 (d = 1). */
    for (int i = 0; i < N; i++) x[i] = (float)((int)(uniform01() * 255.0) - 127);
    for (int b = 0; b < N / 32; b++) x[32 * b] = 127.0f;
    assert_int_equal(ef_quantize_row(EF_TYPE_Q8_0, x, qbuf, N), EF_OK);
    ef_type_get(EF_TYPE_Q8_0)->to_float(qbuf, y, N);
    for (int i = 0; i < N; i++) assert_true(y[i] == x[i]);
    /* Integers -8..7 with -8 present: Q4_0 d = -8/-8 = 1, exact. */
    for (int i = 0; i < N; i++) x[i] = (float)((int)(uniform01() * 16.0) - 8);
    for (int b = 0; b < N / 32; b++) x[32 * b + 5] = -8.0f;
    assert_int_equal(ef_quantize_row(EF_TYPE_Q4_0, x, qbuf, N), EF_OK);
    ef_type_get(EF_TYPE_Q4_0)->to_float(qbuf, y, N);
    for (int i = 0; i < N; i++) assert_true(y[i] == x[i]);
}

/* All-zero input: zero scales must not produce NaN. */
static void test_zero_rows(void **state) {
    (void)state;
    static float x[N], y[N];
    memset(x, 0, sizeof x);
    for (uint32_t t = 0; t < EF_TYPE_COUNT; t++) {
        const ef_type_info *ti = ef_type_get(t);
        if (!ti || !ti->from_float) continue;
        assert_int_equal(ef_quantize_row(t, x, qbuf, N), EF_OK);
        for (int i = 0; i < N; i++) y[i] = 1.0f;
        ti->to_float(qbuf, y, N);
        for (int i = 0; i < N; i++)
            if (y[i] != 0.0f) fail_msg("%s element %d: %g", ti->name, i, (double)y[i]);
    }
}

static void test_row_sizes(void **state) {
    (void)state;
    int n_quant = 0;
    for (uint32_t t = 0; t < EF_TYPE_COUNT; t++) {
        const ef_type_info *ti = ef_type_get(t);
        if (!ti) continue;
        const int64_t bs = ti->block_size;
        assert_int_equal(ef_type_row_size(t, 3 * bs), 3 * (uint64_t)ti->type_size);
        if (bs > 1) assert_int_equal(ef_type_row_size(t, bs + 1), 0);
        if (ti->from_float) assert_non_null(ti->to_float); /* writable implies readable */
        if (ti->to_float && bs > 1) n_quant++;
    }
    assert_int_equal(n_quant, 12);
    assert_int_equal(ef_type_row_size(EF_TYPE_Q8_0, 64), 68);
    assert_int_equal(ef_type_row_size(EF_TYPE_Q4_K, 512), 288);
    assert_int_equal(ef_type_row_size(EF_TYPE_TQ1_0, 256), 54);
}

static void test_entry_point_rejects(void **state) {
    (void)state;
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = 1.0f;
    memset(qbuf, 0xAB, sizeof qbuf);
    assert_int_equal(ef_quantize_row(EF_TYPE_Q8_0, x, qbuf, 33), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_err_msg(), "Q8_0"));
    assert_int_equal(ef_quantize_row(EF_TYPE_Q4_K, x, qbuf, 255), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_quantize_row(EF_TYPE_Q4_K, x, qbuf, 288), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_quantize_row(EF_TYPE_Q4_0, x, qbuf, 0), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_quantize_row(EF_TYPE_Q4_0, x, qbuf, -32), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_quantize_row(EF_TYPE_Q4_0, NULL, qbuf, 32), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_quantize_row(EF_TYPE_Q4_0, x, NULL, 32), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_quantize_row(3u, x, qbuf, 31), EF_ERR_INVALID_ARG);  /* Q4_1 */
    assert_int_equal(ef_quantize_row(4u, x, qbuf, 32), EF_ERR_INVALID_ARG);  /* removed id */
    assert_int_equal(ef_quantize_row(999u, x, qbuf, 32), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_quantize_row(EF_TYPE_IQ2_XXS, x, qbuf, 256), EF_ERR_UNSUPPORTED);
    for (size_t i = 0; i < sizeof qbuf; i++) assert_int_equal(qbuf[i], 0xAB); /* nothing written */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaussian_round_trips),
        cmocka_unit_test(test_more_bits_less_error),
        cmocka_unit_test(test_exact_grids),
        cmocka_unit_test(test_zero_rows),
        cmocka_unit_test(test_row_sizes),
        cmocka_unit_test(test_entry_point_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
