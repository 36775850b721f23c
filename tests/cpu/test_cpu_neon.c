/* The NEON kernels (backends/cpu: files named *_neon.c, *_dotprod.c) against
 * their scalar references.
 * Runs on every architecture: off aarch64 it checks that no NEON kernel is
 * reported (the stubs); on aarch64 (CI: qemu-aarch64, whose default CPU has
 * dotprod) it checks, on random data and odd sizes:
 *   - the level: NEON kernels built, the supported level is NEON or NEON
 *     dotprod, EF_CPU_SIMD=neon keeps rank 1 (ctest runs this program a
 *     second time with it);
 *   - dense F32/F16/BF16 GEMV and GEMM vs the reference (rounding order
 *     only), GEMV == GEMM bitwise, and that the NEON result is not the
 *     reference's (so the NEON path really ran); the GEMV's rows give the
 *     same bits for any row range, and it writes only that range;
 *   - every NEON unpacker gives the scalar unpacker's bytes on random bytes;
 *   - the integer-dot group dots (NEON and SDOT) give the scalar reference's
 *     bits; the weight-only one its value within rounding order;
 *   - quantized matmul: weight-only vs the reference within rounding order,
 *     GEMV == GEMM bitwise, integer-dot at NEON and at NEON dotprod equal to
 *     the scalar integer-dot bit for bit (fused rows included);
 *   - 1 vs 2 threads bitwise for every kernel;
 *   - the NEON KV row loader is the one picked and gives the reference's
 *     bits for F16, Q8_0 and Q4_0 rows and column slices;
 *   - the NEON flash-attention tile kernels are the ones picked; F16 rows
 *     convert to the reference's bits, folding tiles (causal cut, several
 *     head sizes) matches the scalar fold within rounding. */
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
#include "cpu/flash_attn.h"
#include "cpu/kv_rows.h"
#include "cpu/matmul_kernels.h"
#include "cpu/qdot.h"
#include "edgeformer/edgeformer.h"
#include "quant/types.h"

#if defined(__aarch64__)
#include "cpu/qdot_neon.h"
#endif

static const uint32_t k_qtypes[] = {EF_TYPE_Q8_0, EF_TYPE_Q4_0, EF_TYPE_Q4_1, EF_TYPE_Q5_0, EF_TYPE_Q5_1, EF_TYPE_Q4_K,
                                    EF_TYPE_Q5_K, EF_TYPE_Q6_K, EF_TYPE_Q2_K, EF_TYPE_Q3_K, EF_TYPE_TQ2_0};
#define N_QTYPES (sizeof k_qtypes / sizeof k_qtypes[0])
static const uint32_t k_dense[] = {EF_TYPE_F32, EF_TYPE_F16, EF_TYPE_BF16};

/* Off aarch64 the NEON files are stubs and nothing reports them. */
static void test_level(void **state) {
    (void)state;
    const ef_cpu_simd sup = ef_cpu_simd_supported(), act = ef_cpu_simd_active();
    fprintf(stderr, "simd supported %s, active %s\n", ef_cpu_simd_name(sup), ef_cpu_simd_name(act));
#if defined(__aarch64__)
    assert_true(ef_cpu_neon_kernels_built());
    assert_true(ef_cpu_simd_arm(sup));
    const char *env = getenv("EF_CPU_SIMD");
    if (env && !strcmp(env, "neon")) assert_int_equal(act, EF_CPU_SIMD_NEON);
    else if (!env) assert_int_equal(act, sup);
    for (size_t i = 0; i < N_QTYPES; i++) {
        assert_true(ef_cpu_neon_matmul_ok(k_qtypes[i]));
        assert_non_null(ef_qkernels_neon(k_qtypes[i], 0));
        assert_non_null(ef_qkernels_neon(k_qtypes[i], 1));
    }
    for (size_t i = 0; i < 3; i++) assert_true(ef_cpu_neon_matmul_ok(k_dense[i]));
    assert_false(ef_cpu_neon_matmul_ok(EF_TYPE_TQ1_0));
    /* the tables the levels resolve to really hold the NEON kernels */
    ef_qkernels k;
    assert_true(ef_qkernels_resolve(EF_TYPE_Q4_K, EF_CPU_SIMD_NEON, &k));
    assert_ptr_equal(k.dot_int, ef_qdot_int_neon);
    assert_ptr_equal(k.dot_f32, ef_qdot_f32_neon);
    assert_ptr_equal(k.unpack, ef_qunpack_q4_k_neon);
    assert_true(ef_qkernels_resolve(EF_TYPE_Q4_K, EF_CPU_SIMD_NEON_DOTPROD, &k));
    assert_ptr_equal(k.dot_int, ef_qdot_int_neon_dotprod);
    assert_ptr_equal(k.unpack, ef_qunpack_q4_k_neon);
    assert_true(ef_qkernels_resolve(EF_TYPE_Q8_0, EF_CPU_SIMD_NEON_DOTPROD, &k));
    assert_ptr_equal(k.row_int, ef_qrow_q8_0_int_neon_dotprod);
    assert_ptr_equal(k.row_f32, ef_qrow_q8_0_f32_neon);
    assert_true(ef_qkernels_resolve(EF_TYPE_Q6_K, EF_CPU_SIMD_NEON, &k));
    assert_ptr_equal(k.row_int, ef_qrow_q6_k_int_neon);
    assert_ptr_equal(k.row_f32, ef_qrow_q6_k_f32_neon);
    assert_true(ef_qkernels_resolve(EF_TYPE_Q4_K, EF_CPU_SIMD_NEON_DOTPROD, &k));
    assert_ptr_equal(k.row_int, ef_qrow_q4_k_int_neon_dotprod);
#else
    assert_false(ef_cpu_neon_kernels_built());
    assert_false(ef_cpu_simd_arm(sup));
    for (size_t i = 0; i < N_QTYPES; i++) {
        assert_false(ef_cpu_neon_matmul_ok(k_qtypes[i]));
        assert_null(ef_qkernels_neon(k_qtypes[i], 0));
        assert_null(ef_qkernels_neon(k_qtypes[i], 1));
    }
    for (size_t i = 0; i < 3; i++) assert_false(ef_cpu_neon_matmul_ok(k_dense[i]));
#endif
}

#if defined(__aarch64__)

static uint64_t g_rng = 0x853c49e6748fea9bull;
static uint32_t urand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_rng >> 33);
}
static float frand(void) { return (float)urand() / 2147483648.0f - 1.0f; } /* [-1, 1) */

/* ---- weights ---- */

/* A weight {in, out} of `type` with its exact F32 values. Dense types:
 * random values rounded to the type; quantized: random floats quantized by
 * lib/quant (rows of different magnitude), or raw random bytes. */
typedef struct {
    ef_tensor t;
    uint8_t *data;
    float *f32; /* [out][in] */
} weight;

static void set_tensor(weight *w, uint32_t type, int64_t in, int64_t out) {
    memset(&w->t, 0, sizeof w->t);
    w->t.name = "w", w->t.type = type, w->t.n_dims = 2;
    w->t.ne[0] = in, w->t.ne[1] = out, w->t.ne[2] = w->t.ne[3] = 1;
    w->t.data = w->data;
    w->t.nbytes = ef_type_row_size(type, in) * (uint64_t)out;
}

static void make_weight(weight *w, uint32_t type, int64_t in, int64_t out) {
    const uint64_t row = ef_type_row_size(type, in);
    w->data = malloc(row * (uint64_t)out);
    w->f32 = malloc((size_t)(in * out) * sizeof(float));
    float *src = malloc((size_t)in * sizeof(float));
    assert_non_null(w->data), assert_non_null(w->f32), assert_non_null(src);
    for (int64_t r = 0; r < out; r++) {
        const float row_scale = 0.25f + (float)(urand() % 8);
        for (int64_t i = 0; i < in; i++) src[i] = frand() * row_scale;
        assert_int_equal(ef_quantize_row(type, src, w->data + row * (uint64_t)r, in), EF_OK);
        ef_type_get(type)->to_float(w->data + row * (uint64_t)r, w->f32 + r * in, in);
    }
    free(src);
    set_tensor(w, type, in, out);
}

static void free_weight(weight *w) { free(w->data), free(w->f32); }

static float *random_vec(int64_t n) {
    float *x = malloc((size_t)n * sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    return x;
}

/* y exact (double) and Σ|w·x| per output. */
static void exact(const weight *w, const float *x, int32_t n, double *y, double *mag) {
    const int64_t in = w->t.ne[0], out = w->t.ne[1];
    for (int32_t t = 0; t < n; t++)
        for (int64_t r = 0; r < out; r++) {
            double s = 0, m = 0;
            for (int64_t k = 0; k < in; k++) {
                const double p = (double)w->f32[r * in + k] * x[(int64_t)t * in + k];
                s += p, m += fabs(p);
            }
            y[(int64_t)t * out + r] = s, mag[(int64_t)t * out + r] = m;
        }
}

/* |got − exact| within a summation-order bound that grows with in. */
static void check_close(const char *what, uint32_t type, int64_t in, const float *got, const double *want,
                        const double *mag, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        const double tol = 4e-6 * mag[i] * (1.0 + (double)in / 1024.0) + 1e-6;
        if (!(fabs((double)got[i] - want[i]) <= tol))
            fail_msg("%s %s in=%lld [%lld]: %.9g vs exact %.9g (tol %.3g)", what, ef_type_name(type), (long long)in,
                     (long long)i, got[i], want[i], tol);
    }
}

/* ---- dense ---- */

static void test_dense_vs_reference(void **state) {
    (void)state;
    const int64_t ins[] = {1, 7, 31, 32, 33, 255, 256, 257, 288, 4096};
    const int64_t outs[] = {1, 31, 33, 255, 257};
    const int32_t ns[] = {1, 3, 100};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t ii = 0; ii < sizeof ins / sizeof ins[0]; ii++)
            for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++) {
                const int64_t in = ins[ii], out = outs[oi];
                if (in * out > 150000 || (in == 4096 && out == 31)) continue; /* qemu time: 4096 wide, 1 and 33 rows */
                weight w;
                w.data = malloc((size_t)(in * out) * 4), w.f32 = malloc((size_t)(in * out) * 4);
                assert_non_null(w.data), assert_non_null(w.f32);
                for (int64_t i = 0; i < in * out; i++) {
                    float v = frand();
                    if (k_dense[ti] == EF_TYPE_F16) ((uint16_t *)w.data)[i] = ef_f32_to_f16(v), v = ef_f16_to_f32(((uint16_t *)w.data)[i]);
                    else if (k_dense[ti] == EF_TYPE_BF16) ((uint16_t *)w.data)[i] = ef_f32_to_bf16(v), v = ef_bf16_to_f32(((uint16_t *)w.data)[i]);
                    else ((float *)w.data)[i] = v;
                    w.f32[i] = v;
                }
                set_tensor(&w, k_dense[ti], in, out);
                for (size_t ni = 0; ni < 3; ni++) {
                    const int32_t n = ns[ni];
                    if (n == 100 && in * out > 9000) continue;
                    const int64_t cnt = (int64_t)n * out;
                    float *x = random_vec((int64_t)n * in);
                    float *ref = malloc((size_t)cnt * 4), *gemv = malloc((size_t)cnt * 4), *gemm = malloc((size_t)cnt * 4);
                    double *ex = malloc((size_t)cnt * 8), *mag = malloc((size_t)cnt * 8);
                    assert_non_null(ref), assert_non_null(gemv), assert_non_null(gemm), assert_non_null(ex), assert_non_null(mag);
                    exact(&w, x, n, ex, mag);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &w.t, x, n, ref);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &w.t, x, n, gemv);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMM, &w.t, x, n, gemm);
                    check_close("dense reference", w.t.type, in, ref, ex, mag, cnt);
                    check_close("dense gemv", w.t.type, in, gemv, ex, mag, cnt);
                    assert_memory_equal(gemv, gemm, (size_t)cnt * 4); /* GEMV == GEMM bitwise */
                    if (in == 4096 && cnt >= 33) assert_memory_not_equal(gemv, ref, (size_t)cnt * 4); /* NEON really ran */
                    free(x), free(ref), free(gemv), free(gemm), free(ex), free(mag);
                }
                free_weight(&w);
            }
}

/* The GEMV's row order (gemv_runs.h: four runs of the worker's rows, one
 * row of each per pass) never changes a bit: any row range [r0, r1) gives
 * the whole call's bits for its rows, one row at a time too, and writes
 * nothing outside it. */
static void test_gemv_row_ranges(void **state) {
    (void)state;
    const int64_t in = 37, out = 45;
    for (size_t ti = 0; ti < 3; ti++) {
        weight w;
        make_weight(&w, k_dense[ti], in, out);
        float *x = random_vec(in);
        float whole[45], part[45], one[45]; /* [out] */
        ef_cpu_gemv_neon(&w.t, x, whole, 0, out);
        for (int64_t r = 0; r < out; r++) ef_cpu_gemv_neon(&w.t, x, one, r, r + 1); /* y is indexed by row */
        assert_memory_equal(whole, one, sizeof whole);
        for (int64_t r0 = 0; r0 < out; r0 += 3)
            for (int64_t r1 = r0; r1 <= out; r1 += 5) {
                memset(part, 0xff, sizeof part);
                ef_cpu_gemv_neon(&w.t, x, part, r0, r1);
                for (int64_t r = 0; r < out; r++) {
                    uint32_t bits;
                    memcpy(&bits, &part[r], 4);
                    if (r >= r0 && r < r1) assert_memory_equal(&part[r], &whole[r], 4);
                    else assert_int_equal(bits, 0xffffffffu); /* untouched */
                }
            }
        free(x);
        free_weight(&w);
    }
}

/* ---- unpackers and group dots ---- */

static void test_unpackers_same_bytes(void **state) {
    (void)state;
    uint8_t raw[8 * 300]; /* random bytes, enough for any group */
    for (size_t ti = 0; ti < N_QTYPES; ti++) {
        const ef_qtype_ops *ops = ef_qtype_ops_get(k_qtypes[ti]);
        const ef_qkernels *neon = ef_qkernels_neon(k_qtypes[ti], 0);
        if (!neon->unpack) continue; /* Q8_0: the scalar copy serves NEON */
        for (int rep = 0; rep < 50; rep++) {
            for (size_t i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)urand();
            for (int32_t n32 = ops->block == 32 ? 1 : 8; n32 <= 8; n32++) {
                ef_qgroup_w a, b;
                memset(&a, 0xA5, sizeof a), memset(&b, 0x5A, sizeof b); /* stale contents must not survive */
                ops->unpack(raw, n32, &a);
                neon->unpack(raw, n32, &b);
                if (memcmp(&a, &b, sizeof a) != 0) fail_msg("%s n32 %d: NEON unpack differs", ef_type_name(k_qtypes[ti]), n32);
            }
        }
    }
}

static void test_group_dots(void **state) {
    (void)state;
    const int dotprod = ef_cpu_simd_supported() == EF_CPU_SIMD_NEON_DOTPROD;
    for (size_t ti = 0; ti < N_QTYPES; ti++) {
        const uint32_t type = k_qtypes[ti];
        const ef_qtype_ops *ops = ef_qtype_ops_get(type);
        weight w;
        make_weight(&w, type, 256, 8);
        for (int64_t r = 0; r < 8; r++) {
            const int32_t n32 = ops->block == 32 ? (int32_t)(r + 1) : 8; /* partial groups too */
            float *x = random_vec(256);
            ef_qgroup_w g;
            ef_qgroup_a a;
            ops->unpack(w.data + ef_type_row_size(type, 256) * (uint64_t)r, n32, &g);
            ef_qact_quantize_group(x, n32, ops->act_per_32, &a);
            double mag = 0;
            for (int i = 0; i < 32 * n32; i++) mag += fabs((double)w.f32[r * 256 + i] * x[i]);
            const float fs = ef_qdot_f32_scalar(&g, x, n32), fv = ef_qdot_f32_neon(&g, x, n32);
            if (!(fabs((double)fs - fv) <= 4e-6 * mag + 1e-6)) fail_msg("%s f32 group dot: %.9g vs %.9g", ef_type_name(type), fs, fv);
            const float is = ef_qdot_int_scalar(&g, &a, n32, ops->has_min), iv = ef_qdot_int_neon(&g, &a, n32, ops->has_min);
            if (memcmp(&is, &iv, sizeof is)) fail_msg("%s int group dot: %.9g vs NEON %.9g", ef_type_name(type), is, iv);
            if (dotprod) {
                const float id = ef_qdot_int_neon_dotprod(&g, &a, n32, ops->has_min);
                if (memcmp(&is, &id, sizeof is)) fail_msg("%s int group dot: %.9g vs SDOT %.9g", ef_type_name(type), is, id);
            }
            free(x);
        }
        free_weight(&w);
    }
}

/* ---- quantized matmul ---- */

/* Integer-dot at the NEON level (rank 1) and at the best supported one,
 * each equal to the scalar integer-dot bit for bit. */
static void check_idot_levels(const weight *w, const float *x, int32_t n, const float *iref) {
    const int64_t cnt = (int64_t)n * w->t.ne[1];
    float *idot = malloc((size_t)cnt * 4);
    assert_non_null(idot);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) ef_cpu_simd_force(EF_CPU_SIMD_NEON);
        ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT, &w->t, x, n, idot);
        ef_cpu_simd_force(-1);
        if (memcmp(idot, iref, (size_t)cnt * 4) != 0)
            for (int64_t i = 0; i < cnt; i++)
                if (memcmp(&idot[i], &iref[i], 4))
                    fail_msg("idot %s (%s) [%lld]: %.9g vs scalar %.9g", ef_type_name(w->t.type),
                             pass == 0 ? "neon" : ef_cpu_simd_name(ef_cpu_simd_active()), (long long)i, idot[i], iref[i]);
    }
    free(idot);
}

static void test_quantized_matmul(void **state) {
    (void)state;
    const int64_t rows[] = {1, 31, 33, 255, 257};
    const int32_t ns[] = {1, 3, 70}; /* 70: more than one token block */
    for (size_t ti = 0; ti < N_QTYPES; ti++) {
        const uint32_t type = k_qtypes[ti];
        const ef_qtype_ops *ops = ef_qtype_ops_get(type);
        const int64_t ins[] = {256, ops->block == 32 ? 288 : 512, 4096};
        for (size_t ii = 0; ii < 3; ii++)
            for (size_t ri = 0; ri < 5; ri++) {
                const int64_t in = ins[ii], out = rows[ri];
                if (in * out > 140000 || (in == 4096 && out == 31)) continue; /* qemu time: 4096 wide, 1 and 33 rows */
                weight w;
                make_weight(&w, type, in, out);
                for (size_t ni = 0; ni < 3; ni++) {
                    const int32_t n = ns[ni];
                    if (n == 70 && (out > 31 || in > 512)) continue;
                    const int64_t cnt = (int64_t)n * out;
                    float *x = random_vec((int64_t)n * in);
                    float *ref = malloc((size_t)cnt * 4), *gemv = malloc((size_t)cnt * 4), *gemm = malloc((size_t)cnt * 4);
                    float *iref = malloc((size_t)cnt * 4);
                    double *ex = malloc((size_t)cnt * 8), *mag = malloc((size_t)cnt * 8);
                    assert_non_null(ref), assert_non_null(gemv), assert_non_null(gemm), assert_non_null(iref);
                    assert_non_null(ex), assert_non_null(mag);
                    exact(&w, x, n, ex, mag);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &w.t, x, n, ref);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &w.t, x, n, gemv);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMM, &w.t, x, n, gemm);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT_REFERENCE, &w.t, x, n, iref);
                    check_close("q reference", type, in, ref, ex, mag, cnt);
                    check_close("q gemv", type, in, gemv, ex, mag, cnt);
                    assert_memory_equal(gemv, gemm, (size_t)cnt * 4);
                    check_idot_levels(&w, x, n, iref);
                    free(x), free(ref), free(gemv), free(gemm), free(iref), free(ex), free(mag);
                }
                free_weight(&w);
            }
    }
}

/* Rows of raw random bytes (every code, scale and min pattern; F16 factors
 * made finite): integer-dot bits and weight-only values as above. */
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
    const int64_t in = 512, out = 13;
    const int32_t n = 3;
    for (size_t fi = 0; fi < sizeof k_fields / sizeof k_fields[0]; fi++) {
        const block_fields *f = &k_fields[fi];
        const uint64_t row = ef_type_row_size(f->type, in);
        weight w;
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
        set_tensor(&w, f->type, in, out);
        float *x = random_vec((int64_t)n * in), gemv[3 * 13], iref[3 * 13];
        double ex[3 * 13], mag[3 * 13];
        exact(&w, x, n, ex, mag);
        ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &w.t, x, n, gemv);
        ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT_REFERENCE, &w.t, x, n, iref);
        check_close("random bytes gemv", f->type, in, gemv, ex, mag, n * out);
        check_idot_levels(&w, x, n, iref);
        free(x);
        free_weight(&w);
    }
}

/* ---- threads ---- */

static void test_threads_identical(void **state) {
    (void)state;
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);
    const ef_matmul_kernel kernels[] = {EF_MATMUL_GEMV, EF_MATMUL_GEMM, EF_MATMUL_IDOT};
    const uint32_t types[] = {EF_TYPE_F32, EF_TYPE_F16, EF_TYPE_BF16, EF_TYPE_Q8_0, EF_TYPE_Q4_0, EF_TYPE_Q4_K, EF_TYPE_Q6_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        weight w;
        if (ef_cpu_qmatmul_ok(types[ti])) {
            make_weight(&w, types[ti], 512, 67);
        } else {
            w.data = malloc(512 * 67 * 4), w.f32 = NULL;
            assert_non_null(w.data);
            for (int i = 0; i < 512 * 67; i++) {
                if (types[ti] == EF_TYPE_F32) ((float *)w.data)[i] = frand();
                else ((uint16_t *)w.data)[i] = types[ti] == EF_TYPE_F16 ? ef_f32_to_f16(frand()) : ef_f32_to_bf16(frand());
            }
            set_tensor(&w, types[ti], 512, 67);
        }
        for (int32_t n = 1; n <= 5; n += 4) {
            float *x = random_vec((int64_t)n * 512);
            float *a = malloc((size_t)n * 67 * 4), *b = malloc((size_t)n * 67 * 4);
            assert_non_null(a), assert_non_null(b);
            for (int k = 0; k < 3; k++) {
                ef_cpu_matmul_with(NULL, kernels[k], &w.t, x, n, a);
                memset(b, 0xff, (size_t)n * 67 * 4);
                ef_cpu_matmul_with(pool, kernels[k], &w.t, x, n, b);
                assert_memory_equal(a, b, (size_t)n * 67 * 4);
            }
            free(x), free(a), free(b);
        }
        free(w.data), free(w.f32);
    }
    ef_pool_free(pool);
}

/* ---- KV rows ---- */

static void test_kv_rows_loader(void **state) {
    (void)state;
    assert_ptr_equal(ef_kv_pick_load(), ef_kv_rows_load_neon);
    const uint32_t types[] = {EF_TYPE_F16, EF_TYPE_Q8_0, EF_TYPE_Q4_0};
    const int32_t widths[] = {32, 96, 256};
    enum { N_ROWS = 5 };
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t wi = 0; wi < 3; wi++) {
            const int32_t width = widths[wi];
            const size_t rb = ef_kv_row_bytes(types[ti], width);
            uint8_t *rows = malloc(rb * N_ROWS);
            float *src = random_vec((int64_t)width * N_ROWS);
            float *want = malloc((size_t)width * N_ROWS * 4), *got = malloc((size_t)width * N_ROWS * 4);
            assert_non_null(rows), assert_non_null(want), assert_non_null(got);
            for (int r = 0; r < N_ROWS; r++) {
                for (int32_t i = 0; i < width; i++) src[r * width + i] *= (float)(1 + r * 40); /* magnitudes to 160 */
                ef_kv_row_store(types[ti], src + (int64_t)r * width, width, rows + rb * (size_t)r);
            }
            const void *slot;
            const ef_kv_rows view = ef_kv_rows_contiguous(types[ti], width, N_ROWS, rows, &slot);
            /* whole rows, then slices: on block edges and cutting blocks */
            const int32_t slices[][2] = {{0, width}, {32, width - 32}, {0, 32}, {5, 20}, {1, width - 1}};
            for (size_t si = 0; si < 5; si++) {
                const int32_t col0 = slices[si][0], ncols = slices[si][1];
                if (ncols <= 0) continue;
                memset(want, 0, (size_t)width * N_ROWS * 4), memset(got, 0xff, (size_t)width * N_ROWS * 4);
                ef_kv_rows_load(&view, 1, N_ROWS - 1, col0, ncols, want, width);
                ef_kv_rows_load_neon(&view, 1, N_ROWS - 1, col0, ncols, got, width);
                for (int r = 0; r < N_ROWS - 1; r++)
                    if (memcmp(got + (int64_t)r * width, want + (int64_t)r * width, (size_t)ncols * 4))
                        fail_msg("kv %s width %d slice %d+%d row %d differs", ef_type_name(types[ti]), width, col0, ncols, r);
            }
            free(rows), free(src), free(want), free(got);
        }
}

/* ---- flash-attention tile ---- */

static void test_flash_tile(void **state) {
    (void)state;
    const ef_flash_kernels kern = ef_flash_pick_kernels();
    assert_ptr_equal(kern.fold, ef_flash_fold_tile_neon);
    assert_ptr_equal(kern.f16_rows, ef_flash_f16_rows_neon);
    enum { N_TOK = 3, GROUP = 2, TILE = 37 };
    const int32_t hds[] = {13, 16, 64, 100};
    for (size_t hi = 0; hi < 4; hi++) {
        const int32_t hd = hds[hi], rows = N_TOK * GROUP;
        /* F16 rows: exact conversion either way */
        uint16_t *h = malloc((size_t)TILE * (hd + 3) * 2);
        float *fa = malloc((size_t)TILE * hd * 4), *fb = malloc((size_t)TILE * hd * 4);
        assert_non_null(h), assert_non_null(fa), assert_non_null(fb);
        for (int i = 0; i < TILE * (hd + 3); i++) h[i] = ef_f32_to_f16(frand() * 100.0f);
        ef_flash_f16_rows(h, hd + 3, TILE, hd, fa);
        ef_flash_f16_rows_neon(h, hd + 3, TILE, hd, fb);
        assert_memory_equal(fa, fb, (size_t)TILE * hd * 4);
        free(h), free(fa), free(fb);

        float *q = random_vec((int64_t)rows * hd), *k = random_vec((int64_t)2 * TILE * hd), *v = random_vec((int64_t)2 * TILE * hd);
        float *acc[2], m[2][N_TOK * GROUP], l[2][N_TOK * GROUP], scores[TILE];
        for (int impl = 0; impl < 2; impl++) {
            acc[impl] = malloc((size_t)rows * hd * 4);
            assert_non_null(acc[impl]);
            const ef_flash_rows r = {N_TOK, GROUP, hd, TILE + 20, 1.0f / sqrtf((float)hd), q, (int64_t)GROUP * hd,
                                     acc[impl], (int64_t)GROUP * hd, m[impl], l[impl], GROUP};
            ef_flash_rows_reset(&r);
            for (int32_t tile_i = 0; tile_i < 2; tile_i++) { /* the second tile is cut by the causal mask */
                const ef_flash_tile t = {k + (int64_t)tile_i * TILE * hd, v + (int64_t)tile_i * TILE * hd, hd,
                                         tile_i * TILE, TILE};
                (impl ? ef_flash_fold_tile_neon : ef_flash_fold_tile)(&r, &t, scores);
            }
        }
        for (int32_t i = 0; i < rows; i++) {
            if (!(fabsf(m[0][i] - m[1][i]) <= 1e-5f * (1.0f + fabsf(m[0][i]))) ||
                !(fabsf(l[0][i] - l[1][i]) <= 1e-5f * l[0][i]))
                fail_msg("flash hd %d row %d: m %.9g/%.9g l %.9g/%.9g", hd, i, m[0][i], m[1][i], l[0][i], l[1][i]);
            for (int32_t d = 0; d < hd; d++) {
                const float a = acc[0][(int64_t)i * hd + d], b = acc[1][(int64_t)i * hd + d];
                if (!(fabsf(a - b) <= 4e-5f * l[0][i])) fail_msg("flash hd %d row %d dim %d: %.9g vs %.9g", hd, i, d, a, b);
            }
        }
        free(q), free(k), free(v), free(acc[0]), free(acc[1]);
    }
}

#endif /* __aarch64__ */

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level),
#if defined(__aarch64__)
        cmocka_unit_test(test_dense_vs_reference),
        cmocka_unit_test(test_gemv_row_ranges),
        cmocka_unit_test(test_unpackers_same_bytes),
        cmocka_unit_test(test_group_dots),
        cmocka_unit_test(test_quantized_matmul),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_kv_rows_loader),
        cmocka_unit_test(test_flash_tile),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
