/* Quantized matmul kernels (backends/cpu/qdot*.c, qmatmul.c):
 *   - every unpacker gives exactly the published dequantized values (the
 *     lib/quant reference dequantizers), and each AVX2 unpacker the same
 *     bytes as its scalar reference, on random bytes;
 *   - weight-only AVX2 GEMV/GEMM vs the scalar reference and integer-dot
 *     AVX2 vs its scalar reference, rounding-order tolerances, on odd row
 *     counts (1, 31, 33, 255, 257) and several column counts;
 *   - integer-dot vs exact within the bound activation quantization allows
 *     (Σ|w|·amax/254 per block);
 *   - GEMV and GEMM identical bits; 1 and 2 threads identical bits;
 *   - the mode switch and the fallback to weight-only when the activation
 *     buffer cannot be allocated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "cpu/cpu_features.h"
#include "cpu/cpu_ops.h"
#include "cpu/matmul_kernels.h"
#include "cpu/qdot.h"
#include "edgeformer/edgeformer.h"
#include "quant/types.h"

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static uint32_t urand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_rng >> 33);
}
static float frand(void) { return (float)urand() / 2147483648.0f - 1.0f; } /* [-1, 1) */

static const uint32_t k_types[] = {EF_TYPE_Q8_0, EF_TYPE_Q4_0, EF_TYPE_Q4_1, EF_TYPE_Q5_0, EF_TYPE_Q5_1, EF_TYPE_Q4_K,
                                   EF_TYPE_Q5_K, EF_TYPE_Q6_K, EF_TYPE_Q2_K, EF_TYPE_Q3_K, EF_TYPE_TQ2_0};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

#if defined(__x86_64__)
#define REQUIRE_AVX2() assert_true(ef_cpu_simd_x86(ef_cpu_simd_supported())) /* this machine class has AVX2 */
#else
#define REQUIRE_AVX2() skip()
#endif
/* The matmul-level tests run the best supported SIMD level: AVX2 or better
 * on x86-64, NEON on aarch64 (its own kernels: tests/cpu/test_cpu_neon.c). */
#if defined(__x86_64__) || defined(__aarch64__)
#define REQUIRE_SIMD() assert_true(ef_cpu_simd_supported() != EF_CPU_SIMD_SCALAR)
#else
#define REQUIRE_SIMD() skip()
#endif

/* A quantized weight {in, out} made from random floats, with its exact values. */
typedef struct {
    ef_tensor t;
    uint8_t *data;
    float *f32; /* [out][in] dequantized by lib/quant */
} qweight;

static void make_qweight(qweight *w, uint32_t type, int64_t in, int64_t out) {
    const uint64_t row = ef_type_row_size(type, in);
    assert_true(row > 0);
    w->data = malloc(row * (uint64_t)out);
    w->f32 = malloc((size_t)(in * out) * sizeof(float));
    float *src = malloc((size_t)in * sizeof(float));
    assert_non_null(w->data), assert_non_null(w->f32), assert_non_null(src);
    for (int64_t r = 0; r < out; r++) {
        const float row_scale = 0.25f + (float)(urand() % 8); /* rows of different magnitude */
        for (int64_t i = 0; i < in; i++) src[i] = frand() * row_scale;
        assert_int_equal(ef_quantize_row(type, src, w->data + row * (uint64_t)r, in), EF_OK);
        ef_type_get(type)->to_float(w->data + row * (uint64_t)r, w->f32 + r * in, in);
    }
    free(src);
    memset(&w->t, 0, sizeof w->t);
    w->t.name = "w";
    w->t.type = type;
    w->t.n_dims = 2;
    w->t.ne[0] = in;
    w->t.ne[1] = out;
    w->t.ne[2] = w->t.ne[3] = 1;
    w->t.data = w->data;
    w->t.nbytes = row * (uint64_t)out;
}

static void free_qweight(qweight *w) { free(w->data), free(w->f32); }

static float *random_vec(int64_t n) {
    float *x = malloc((size_t)n * sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    return x;
}

/* ---- unpackers ---- */

/* Unpacked groups dequantize to exactly what lib/quant's dequantizer gives. */
static void test_unpack_matches_dequantizer(void **state) {
    (void)state;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        const ef_qtype_ops *ops = ef_qtype_ops_get(type);
        assert_non_null(ops);
        qweight w;
        make_qweight(&w, type, 512, 3);
        for (int64_t r = 0; r < 3; r++)
            for (int gi = 0; gi < 2; gi++) {
                const uint8_t *grp = w.data + ef_type_row_size(type, 512) * (uint64_t)r + ef_type_row_size(type, 256) * (uint64_t)gi;
                ef_qgroup_w g;
                float got[EF_QGROUP];
                ops->unpack(grp, 8, &g);
                ef_qgroup_dequantize(&g, 8, got);
                const float *want = w.f32 + r * 512 + gi * 256;
                for (int i = 0; i < EF_QGROUP; i++)
                    if (got[i] != want[i]) fail_msg("%s row %d group %d elem %d: %g vs %g", ef_type_name(type), (int)r, gi, i, got[i], want[i]);
            }
        free_qweight(&w);
    }
}

/* Each AVX2 unpacker writes the same bytes as its scalar reference, on random bytes. */
static void test_unpack_avx2_vs_scalar(void **state) {
    (void)state;
    REQUIRE_AVX2();
    uint8_t raw[8 * 300]; /* [8 blocks] of random bytes, enough for any group */
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const ef_qtype_ops *ops = ef_qtype_ops_get(k_types[ti]);
        for (int rep = 0; rep < 50; rep++) {
            for (size_t i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)urand();
            for (int32_t n32 = ops->block == 32 ? 1 : 8; n32 <= 8; n32++) {
                ef_qgroup_w a, b;
                memset(&a, 0xA5, sizeof a), memset(&b, 0x5A, sizeof b); /* stale contents must not survive */
                ops->unpack(raw, n32, &a);
                ops->unpack_avx2(raw, n32, &b);
                /* F16C quiets signalling NaNs, the portable converter keeps them: NaN = NaN here */
                for (int c = 0; c < 8; c++) {
                    if (isnan(a.d[c]) && isnan(b.d[c])) a.d[c] = b.d[c] = 0.0f;
                    if (isnan(a.dmin[c]) && isnan(b.dmin[c])) a.dmin[c] = b.dmin[c] = 0.0f;
                }
                if (memcmp(&a, &b, sizeof a) != 0) fail_msg("%s n32 %d: AVX2 unpack differs", ef_type_name(k_types[ti]), n32);
            }
        }
    }
}

/* The generic AVX2 group dots (used by the types without fused row
 * kernels, and by all types' group path) against the scalar ones. */
static void test_group_dots(void **state) {
    (void)state;
    REQUIRE_AVX2();
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        const ef_qtype_ops *ops = ef_qtype_ops_get(type);
        qweight w;
        make_qweight(&w, type, 256, 8);
        float *x = random_vec(256);
        for (int64_t r = 0; r < 8; r++) {
            const int32_t n32 = ops->block == 32 ? (int32_t)(r + 1) : 8; /* partial groups too */
            ef_qgroup_w gs, gv;
            ef_qgroup_a a;
            ops->unpack(w.data + ef_type_row_size(type, 256) * (uint64_t)r, n32, &gs);
            ops->unpack_avx2(w.data + ef_type_row_size(type, 256) * (uint64_t)r, n32, &gv);
            ef_qact_quantize_group(x, n32, ops->act_per_32, &a);
            double mag = 0;
            for (int i = 0; i < 32 * n32; i++) mag += fabs((double)w.f32[r * 256 + i] * x[i]);
            const double tol = 4e-6 * mag + 1e-6;
            const float fs = ef_qdot_f32_scalar(&gs, x, n32), fv = ef_qdot_f32_avx2(&gv, x, n32);
            const float is = ef_qdot_int_scalar(&gs, &a, n32, ops->has_min), iv = ef_qdot_int_avx2(&gv, &a, n32, ops->has_min);
            if (!(fabs((double)fs - fv) <= tol)) fail_msg("%s f32 group dot: %.9g vs %.9g", ef_type_name(type), fs, fv);
            if (!(fabs((double)is - iv) <= tol)) fail_msg("%s int group dot: %.9g vs %.9g", ef_type_name(type), is, iv);
        }
        free(x);
        free_qweight(&w);
    }
}

/* ---- matmul kernels ---- */

/* y[t][r] exact (double) and Σ|w·x|, and the integer-dot bound Σ|w|·amax_block(x)/254. */
static void exact(const qweight *w, const float *x, int32_t n, int act_block, double *y, double *mag, double *qbound) {
    const int64_t in = w->t.ne[0], out = w->t.ne[1];
    for (int32_t t = 0; t < n; t++)
        for (int64_t r = 0; r < out; r++) {
            double s = 0, m = 0, b = 0;
            for (int64_t k0 = 0; k0 < in; k0 += act_block) {
                const int64_t len = in - k0 < act_block ? in - k0 : act_block;
                double amax = 0, wsum = 0;
                for (int64_t k = k0; k < k0 + len; k++) {
                    const double wv = w->f32[r * in + k], xv = x[(int64_t)t * in + k];
                    s += wv * xv, m += fabs(wv * xv), wsum += fabs(wv);
                    if (fabs(xv) > amax) amax = fabs(xv);
                }
                b += wsum * amax / 254.0;
            }
            y[(int64_t)t * out + r] = s, mag[(int64_t)t * out + r] = m, qbound[(int64_t)t * out + r] = b;
        }
}

static void check_close(const char *what, uint32_t type, const float *got, const double *want, const double *scale,
                        double rel, double abs_extra, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        const double err = fabs((double)got[i] - want[i]), tol = rel * scale[i] + abs_extra;
        if (!(err <= tol)) fail_msg("%s %s [%lld]: %.9g vs %.9g (err %.3g > tol %.3g)", what, ef_type_name(type),
                                    (long long)i, got[i], want[i], err, tol);
    }
}

static void test_kernels(void **state) {
    (void)state;
    REQUIRE_AVX2(); /* aarch64: test_cpu_neon covers these shapes (this sweep is too slow under qemu) */
    const int64_t rows[] = {1, 31, 33, 255, 257};
    const int32_t tokens[] = {1, 3, 70}; /* 70: more than one GEMM token block */
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        const ef_qtype_ops *ops = ef_qtype_ops_get(type);
        const int64_t ins[] = {256, 512, ops->block == 32 ? 96 : 768, ops->block == 32 ? 800 : 1024};
        for (size_t ii = 0; ii < 4; ii++)
            for (size_t ri = 0; ri < 5; ri++) {
                const int64_t in = ins[ii], out = rows[ri];
                if (in * out > 200000 && out != 257) continue; /* keep the test fast */
                qweight w;
                make_qweight(&w, type, in, out);
                for (size_t ni = 0; ni < 3; ni++) {
                    const int32_t n = tokens[ni];
                    if (n == 70 && out > 33) continue;
                    const int64_t cnt = (int64_t)n * out;
                    float *x = random_vec((int64_t)n * in);
                    float *ref = malloc((size_t)cnt * 4), *gemv = malloc((size_t)cnt * 4), *gemm = malloc((size_t)cnt * 4);
                    float *iref = malloc((size_t)cnt * 4), *idot = malloc((size_t)cnt * 4);
                    double *ex = malloc((size_t)cnt * 8), *mag = malloc((size_t)cnt * 8), *qb = malloc((size_t)cnt * 8);
                    assert_non_null(ref), assert_non_null(gemv), assert_non_null(gemm), assert_non_null(iref);
                    assert_non_null(idot), assert_non_null(ex), assert_non_null(mag), assert_non_null(qb);
                    exact(&w, x, n, ops->act_per_32 ? 32 : 256, ex, mag, qb);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &w.t, x, n, ref);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &w.t, x, n, gemv);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMM, &w.t, x, n, gemm);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT_REFERENCE, &w.t, x, n, iref);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT, &w.t, x, n, idot);
                    /* weight-only: exact weights, F32 sums; differs by summation order only */
                    check_close("reference", type, ref, ex, mag, 4e-6, 1e-6, cnt);
                    check_close("gemv", type, gemv, ex, mag, 4e-6, 1e-6, cnt);
                    /* GEMV and GEMM: the same bits */
                    assert_memory_equal(gemv, gemm, (size_t)cnt * 4);
                    /* integer-dot: within the activation-quantization bound of the exact result */
                    check_close("idot reference", type, iref, ex, qb, 1.0, 1e-5, cnt);
                    check_close("idot avx2", type, idot, ex, qb, 1.0, 1e-5, cnt);
                    /* and AVX2 integer-dot vs its scalar reference: integer sums exact, F32 rounding only */
                    for (int64_t i = 0; i < cnt; i++) {
                        const double err = fabs((double)idot[i] - iref[i]);
                        if (!(err <= 4e-6 * mag[i] + 1e-5))
                            fail_msg("idot avx2 vs scalar %s [%lld]: %.9g vs %.9g", ef_type_name(type), (long long)i, idot[i], iref[i]);
                    }
                    /* the integer-dot GEMV order (n = 1 per call) equals the blocked one */
                    if (n > 1) {
                        float *one = malloc((size_t)out * 4);
                        assert_non_null(one);
                        ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT, &w.t, x + (int64_t)(n - 1) * in, 1, one);
                        assert_memory_equal(one, idot + (int64_t)(n - 1) * out, (size_t)out * 4);
                        free(one);
                    }
                    free(x), free(ref), free(gemv), free(gemm), free(iref), free(idot), free(ex), free(mag), free(qb);
                }
                free_qweight(&w);
            }
    }
}

/* Rows of random bytes (every bit pattern of codes, scales and mins; the
 * F16 factors made finite): the AVX2 kernels against the scalar ones. */
typedef struct {
    uint32_t type;
    int bytes;     /* per block */
    int f16_at[2]; /* offsets of the F16 fields; -1: none */
} block_fields;

static const block_fields k_fields[] = {
    {EF_TYPE_Q8_0, 34, {0, -1}},   {EF_TYPE_Q4_0, 18, {0, -1}},    {EF_TYPE_Q4_1, 20, {0, 2}},
    {EF_TYPE_Q5_0, 22, {0, -1}},   {EF_TYPE_Q5_1, 24, {0, 2}},     {EF_TYPE_Q4_K, 144, {0, 2}},
    {EF_TYPE_Q5_K, 176, {0, 2}},   {EF_TYPE_Q6_K, 210, {208, -1}}, {EF_TYPE_Q2_K, 84, {80, 82}},
    {EF_TYPE_Q3_K, 110, {108, -1}}, {EF_TYPE_TQ2_0, 66, {64, -1}},
};

static void test_random_bytes(void **state) {
    (void)state;
    REQUIRE_SIMD();
    const int64_t in = 512, out = 13;
    const int32_t n = 3;
    for (size_t fi = 0; fi < sizeof k_fields / sizeof k_fields[0]; fi++) {
        const block_fields *f = &k_fields[fi];
        const uint64_t row = ef_type_row_size(f->type, in);
        qweight w;
        w.data = malloc(row * (uint64_t)out);
        w.f32 = malloc((size_t)(in * out) * sizeof(float));
        assert_non_null(w.data), assert_non_null(w.f32);
        for (uint64_t i = 0; i < row * (uint64_t)out; i++) w.data[i] = (uint8_t)urand();
        for (uint64_t b = 0; b < row * (uint64_t)out / (uint64_t)f->bytes; b++)
            for (int k = 0; k < 2; k++)
                if (f->f16_at[k] >= 0) { /* sign, exponent 2^-6 .. 2^-1, random mantissa */
                    const uint16_t h = (uint16_t)((urand() & 0x8000u) | ((9u + urand() % 6u) << 10) | (urand() & 0x3ffu));
                    memcpy(w.data + b * (uint64_t)f->bytes + f->f16_at[k], &h, 2);
                }
        for (int64_t r = 0; r < out; r++) ef_type_get(f->type)->to_float(w.data + row * (uint64_t)r, w.f32 + r * in, in);
        memset(&w.t, 0, sizeof w.t);
        w.t.name = "w", w.t.type = f->type, w.t.n_dims = 2, w.t.ne[0] = in, w.t.ne[1] = out, w.t.ne[2] = w.t.ne[3] = 1;
        w.t.data = w.data, w.t.nbytes = row * (uint64_t)out;
        float *x = random_vec((int64_t)n * in), ref[3 * 13], gemv[3 * 13], iref[3 * 13], idot[3 * 13];
        double ex[3 * 13], mag[3 * 13], qb[3 * 13];
        exact(&w, x, n, ef_qtype_ops_get(f->type)->act_per_32 ? 32 : 256, ex, mag, qb);
        ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &w.t, x, n, ref);
        ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &w.t, x, n, gemv);
        ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT_REFERENCE, &w.t, x, n, iref);
        ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT, &w.t, x, n, idot);
        check_close("random bytes reference", f->type, ref, ex, mag, 4e-6, 1e-6, n * out);
        check_close("random bytes gemv", f->type, gemv, ex, mag, 4e-6, 1e-6, n * out);
        check_close("random bytes idot reference", f->type, iref, ex, qb, 1.0, 1e-5, n * out);
        for (int64_t i = 0; i < n * out; i++)
            if (!(fabs((double)idot[i] - iref[i]) <= 4e-6 * mag[i] + 1e-5))
                fail_msg("random bytes idot avx2 vs scalar %s [%d]: %.9g vs %.9g", ef_type_name(f->type), (int)i, idot[i], iref[i]);
        free(x);
        free_qweight(&w);
    }
}

/* 1 and 2 threads: identical bits for every kernel. */
static void test_threads_identical(void **state) {
    (void)state;
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);
    const ef_matmul_kernel kernels[] = {EF_MATMUL_REFERENCE, EF_MATMUL_GEMV, EF_MATMUL_GEMM, EF_MATMUL_IDOT_REFERENCE,
                                        EF_MATMUL_IDOT};
    const int nk = ef_cpu_simd_supported() != EF_CPU_SIMD_SCALAR ? 5 : 1;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        qweight w;
        make_qweight(&w, k_types[ti], 512, 67);
        for (int32_t n = 1; n <= 5; n += 4) {
            float *x = random_vec((int64_t)n * 512);
            float *a = malloc((size_t)n * 67 * 4), *b = malloc((size_t)n * 67 * 4);
            assert_non_null(a), assert_non_null(b);
            for (int k = 0; k < nk; k++) {
                ef_cpu_matmul_with(NULL, kernels[k], &w.t, x, n, a);
                ef_cpu_matmul_with(pool, kernels[k], &w.t, x, n, b);
                assert_memory_equal(a, b, (size_t)n * 67 * 4);
            }
            /* the scalar integer-dot too, AVX2 or not */
            ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT_REFERENCE, &w.t, x, n, a);
            ef_cpu_matmul_with(pool, EF_MATMUL_IDOT_REFERENCE, &w.t, x, n, b);
            assert_memory_equal(a, b, (size_t)n * 67 * 4);
            free(x), free(a), free(b);
        }
        free_qweight(&w);
    }
    ef_pool_free(pool);
}

/* ef_cpu_matmul_mode picks the integer-dot kernels for quantized weights
 * and follows the SIMD switch; float weights ignore the mode. */
static void test_mode_dispatch(void **state) {
    (void)state;
    assert_int_equal(ef_matmul_mode_from_name("integer-dot"), EF_MATMUL_MODE_INTEGER_DOT);
    assert_int_equal(ef_matmul_mode_from_name("weight-only"), EF_MATMUL_MODE_WEIGHT_ONLY);
    assert_int_equal(ef_matmul_mode_from_name("int8"), -1);
    assert_string_equal(ef_matmul_mode_name(EF_MATMUL_MODE_INTEGER_DOT), "integer-dot");
    qweight w;
    make_qweight(&w, EF_TYPE_Q4_K, 512, 20);
    float *x = random_vec(2 * 512), got[40], want[40];
    const int simd = ef_cpu_simd_active() != EF_CPU_SIMD_SCALAR; /* AVX2 or better, or NEON */
    ef_cpu_matmul_mode(NULL, EF_MATMUL_MODE_INTEGER_DOT, &w.t, x, 2, got);
    ef_cpu_matmul_with(NULL, simd ? EF_MATMUL_IDOT : EF_MATMUL_IDOT_REFERENCE, &w.t, x, 2, want);
    assert_memory_equal(got, want, sizeof got);
    ef_cpu_matmul_mode(NULL, EF_MATMUL_MODE_WEIGHT_ONLY, &w.t, x, 2, got);
    ef_cpu_matmul_with(NULL, simd ? EF_MATMUL_GEMM : EF_MATMUL_REFERENCE, &w.t, x, 2, want);
    assert_memory_equal(got, want, sizeof got);
    ef_cpu_simd_force(EF_CPU_SIMD_SCALAR);
    ef_cpu_matmul_mode(NULL, EF_MATMUL_MODE_INTEGER_DOT, &w.t, x, 2, got);
    ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT_REFERENCE, &w.t, x, 2, want);
    assert_memory_equal(got, want, sizeof got);
    ef_cpu_simd_force(-1);
    free(x);
    free_qweight(&w);
}

/* ---- allocation failure: integer-dot falls back to weight-only ---- */

static void *failing_malloc(void *user, size_t size) { (void)user, (void)size; return NULL; }
static void *failing_realloc(void *user, void *ptr, size_t size) { (void)user, (void)ptr, (void)size; return NULL; }
static void plain_free(void *user, void *ptr) { (void)user, free(ptr); }

static void test_idot_alloc_failure_falls_back(void **state) {
    (void)state;
    qweight w;
    make_qweight(&w, EF_TYPE_Q8_0, 1024, 9);
    const int32_t n = 200; /* quantized x: 200 × 4 groups × 320 bytes, past the stack buffer */
    float *x = random_vec((int64_t)n * 1024), *got = malloc((size_t)n * 9 * 4), *want = malloc((size_t)n * 9 * 4);
    assert_non_null(got), assert_non_null(want);
    const int simd = ef_cpu_simd_active() != EF_CPU_SIMD_SCALAR; /* AVX2 or better, or NEON */
    ef_cpu_matmul_with(NULL, simd ? EF_MATMUL_GEMM : EF_MATMUL_REFERENCE, &w.t, x, n, want);
    assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL), EF_OK);
    ef_cpu_matmul_mode(NULL, EF_MATMUL_MODE_INTEGER_DOT, &w.t, x, n, got);
    assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
    assert_memory_equal(got, want, (size_t)n * 9 * 4);
    /* and with memory it really is the integer-dot result (a different rounding) */
    ef_cpu_matmul_mode(NULL, EF_MATMUL_MODE_INTEGER_DOT, &w.t, x, n, got);
    assert_memory_not_equal(got, want, (size_t)n * 9 * 4);
    free(x), free(got), free(want);
    free_qweight(&w);
}

/* The EF_QROWS-row integer-dot kernels give each row the bits of the
 * one-row kernel of their level (the GEMV walks rows four at a time, the
 * sparse FFN one at a time; both must agree), for every level that has them. */
static void test_rows_kernels_match_row_kernels(void **state) {
    (void)state;
    REQUIRE_SIMD();
    static const int64_t ins[] = {32, 64, 96, 256, 288, 1056, 2080};
    const int levels[] = {EF_CPU_SIMD_AVX2, EF_CPU_SIMD_AVX512, EF_CPU_SIMD_NEON, EF_CPU_SIMD_NEON_DOTPROD};
    int checked = 0;
    for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
        if (levels[li] > (int)ef_cpu_simd_supported()) continue;
        if (ef_cpu_simd_x86((ef_cpu_simd)levels[li]) != ef_cpu_simd_x86(ef_cpu_simd_supported())) continue;
        for (size_t ti = 0; ti < 2; ti++) {
            const uint32_t type = ti ? EF_TYPE_Q4_0 : EF_TYPE_Q8_0;
            ef_qkernels k;
            assert_true(ef_qkernels_resolve(type, levels[li], &k));
            if (!k.rows_int) continue;
            assert_non_null(k.row_int);
            for (size_t ii = 0; ii < sizeof ins / sizeof ins[0]; ii++) {
                const int64_t in = ins[ii], n_groups = (in + EF_QGROUP - 1) / EF_QGROUP;
                qweight w;
                make_qweight(&w, type, in, EF_QROWS);
                float *x = random_vec(in); /* [in] */
                ef_qgroup_a *xa = malloc(sizeof(ef_qgroup_a) * (size_t)n_groups);
                assert_non_null(xa);
                ef_cpu_qmatmul_quantize_x(type, x, in, 0, 1, xa);
                const uint64_t row_bytes = ef_type_row_size(type, in);
                const uint8_t *rows[EF_QROWS];
                for (int r = 0; r < EF_QROWS; r++) rows[r] = w.data + row_bytes * (uint64_t)r;
                float four[EF_QROWS];
                k.rows_int(rows, xa, in, four);
                for (int r = 0; r < EF_QROWS; r++) {
                    const float one = k.row_int(rows[r], xa, in);
                    assert_memory_equal(&one, &four[r], sizeof one);
                    assert_true(one != 0.0f); /* random rows: a zero means nothing ran */
                }
                checked++;
                free(xa), free(x), free_qweight(&w);
            }
        }
    }
    if (ef_cpu_simd_supported() == EF_CPU_SIMD_AVX512) assert_true(checked > 0); /* the AVX-512 level has them */
    (void)checked;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpack_matches_dequantizer),
        cmocka_unit_test(test_unpack_avx2_vs_scalar),
        cmocka_unit_test(test_group_dots),
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_mode_dispatch),
        cmocka_unit_test(test_idot_alloc_failure_falls_back),
        cmocka_unit_test(test_rows_kernels_match_row_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
