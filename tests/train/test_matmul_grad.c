/* The transposed-operand F32 GEMM (backends/cpu/matmul_grad.h): every
 * combination of transposes, overwrite and accumulate, shapes that are not
 * multiples of any tile or block (and larger than the K, M and N blocks),
 * leading dimensions wider than the rows; each level against a double
 * reference, the SIMD levels against each other bit for bit, and 1, 2 and
 * 3 workers (one more than the packing space has room for) bit for bit.
 * The mixed-precision mode (bf16) the same way against a double reference
 * of the bfloat16-rounded operands — the AVX512_BF16 kernels where the
 * processor has them, the F32 kernels on rounded panels elsewhere — with
 * round-to-nearest-even ties in the operands, and its rounding function
 * on ties, NaN, infinities and denormals. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/cpu_features.h"
#include "cpu/matmul_grad.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float next_uniform(void) { /* [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static float *random_floats(size_t n) {
    float *p = malloc(sizeof(float) * n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = next_uniform();
    return p;
}

typedef struct shape {
    int64_t M, N, K;
    int trans_a, trans_b, accumulate;
    int64_t pad; /* extra floats at the end of every stored row */
} shape;

/* The operands and the starting C of one case (C0 kept to rebuild C). */
typedef struct operands {
    shape s;
    float *A, *B, *C0;
    int64_t lda, ldb, ldc;
} operands;

static int g_bf16; /* the GEMMs below run in mixed precision */
static int g_ties; /* operands made of bfloat16 ties (low 16 bits 0x8000) */
static int g_twins; /* bf16 mode with the operands' bfloat16 twins (A16, B16) */

/* ±[1, 2) with the low half exactly halfway: rounding must go to even. */
static float next_tie(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    const uint32_t u = (uint32_t)(rng_state >> 63) << 31 | (0x3f80u + (uint32_t)(rng_state >> 40 & 0x7f)) << 16 | 0x8000u;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static operands make_operands(shape s) {
    operands o = {.s = s};
    const int64_t a_rows = s.trans_a ? s.K : s.M, a_cols = s.trans_a ? s.M : s.K;
    const int64_t b_rows = s.trans_b ? s.N : s.K, b_cols = s.trans_b ? s.K : s.N;
    o.lda = a_cols + s.pad, o.ldb = b_cols + s.pad, o.ldc = s.N + s.pad;
    o.A = random_floats((size_t)(a_rows * o.lda));
    o.B = random_floats((size_t)(b_rows * o.ldb));
    o.C0 = random_floats((size_t)(s.M * o.ldc));
    if (g_ties) {
        for (int64_t i = 0; i < a_rows * o.lda; i++) o.A[i] = next_tie();
        for (int64_t i = 0; i < b_rows * o.ldb; i++) o.B[i] = next_tie();
    }
    return o;
}
static void free_operands(operands *o) { free(o->A), free(o->B), free(o->C0); }

/* An operand as the GEMM sees it: bfloat16-rounded in bf16 mode. */
static double operand(float x) { return g_bf16 ? (double)ef_gemm_round_bf16(x) : (double)x; }

/* C = (accumulate ? C0 : 0) + op(A)·op(B), in double. C: [M][ldc]. */
static double *reference(const operands *o) {
    const shape *s = &o->s;
    double *C = malloc(sizeof(double) * (size_t)(s->M * o->ldc));
    assert_non_null(C);
    for (int64_t i = 0; i < s->M; i++)
        for (int64_t j = 0; j < s->N; j++) {
            double sum = s->accumulate ? o->C0[i * o->ldc + j] : 0.0;
            for (int64_t k = 0; k < s->K; k++) {
                const double a = operand(s->trans_a ? o->A[k * o->lda + i] : o->A[i * o->lda + k]);
                const double b = operand(s->trans_b ? o->B[j * o->ldb + k] : o->B[k * o->ldb + j]);
                sum += a * b;
            }
            C[i * o->ldc + j] = sum;
        }
    return C;
}

/* Runs the GEMM at `level` on `pool` (NULL: the caller's thread) with
 * packing space for work_threads; returns the new C ([M][ldc]). */
static float *run(const operands *o, int level, ef_pool *pool, int32_t work_threads) {
    const shape *s = &o->s;
    float *C = malloc(sizeof(float) * (size_t)(s->M * o->ldc));
    float *work = malloc(sizeof(float) * ef_cpu_gemm_f32_work_floats(work_threads));
    assert_non_null(C), assert_non_null(work);
    memcpy(C, o->C0, sizeof(float) * (size_t)(s->M * o->ldc));
    const int64_t a_n = (s->trans_a ? s->K : s->M) * o->lda, b_n = (s->trans_b ? s->N : s->K) * o->ldb;
    uint16_t *A16 = g_twins ? malloc(sizeof(uint16_t) * (size_t)(a_n + 1)) : NULL;
    uint16_t *B16 = g_twins ? malloc(sizeof(uint16_t) * (size_t)(b_n + 1)) : NULL;
    if (g_twins) {
        assert_non_null(A16), assert_non_null(B16);
        ef_cpu_f32_to_bf16(A16, o->A, a_n);
        ef_cpu_f32_to_bf16(B16, o->B, b_n);
    }
    const ef_gemm_f32 g = {.A16 = A16, .B16 = B16, .M = s->M, .N = s->N, .K = s->K, .A = o->A, .lda = o->lda, .trans_a = s->trans_a,
                           .B = o->B, .ldb = o->ldb, .trans_b = s->trans_b, .C = C, .ldc = o->ldc,
                           .accumulate = s->accumulate, .bf16 = g_bf16, .work = work,
                           .work_threads = work_threads};
    ef_cpu_gemm_f32_at(pool, &g, level);
    free(work), free(A16), free(B16);
    return C;
}

/* Largest |got − ref| / (Σ|a·b| + 1) over C; padding must be untouched. */
static double max_error(const operands *o, const float *got, const double *ref) {
    const shape *s = &o->s;
    double worst = 0.0;
    for (int64_t i = 0; i < s->M; i++) {
        for (int64_t j = 0; j < s->N; j++) {
            const double e = fabs((double)got[i * o->ldc + j] - ref[i * o->ldc + j]) / ((double)s->K + 1.0);
            if (e > worst) worst = e;
        }
        for (int64_t j = s->N; j < o->ldc; j++) assert_true(got[i * o->ldc + j] == o->C0[i * o->ldc + j]);
    }
    return worst;
}

/* Small enough for qemu (the arm64 CI), each block size exceeded once:
 * K > KC (256) and > 2·KC (bfloat16 pairs), N > NC (512), M > MC (96);
 * odd edges everywhere. */
static const shape k_shapes[] = {
    {1, 1, 1, 0, 0, 0, 0},      {5, 7, 6, 0, 1, 0, 0},      {13, 33, 17, 1, 0, 1, 3},
    {13, 20, 300, 0, 0, 1, 0},  {100, 9, 257, 1, 0, 0, 5},  {5, 530, 12, 0, 1, 1, 1},
    {110, 20, 260, 1, 1, 1, 0}, {97, 31, 0, 0, 0, 0, 2},    {12, 32, 260, 0, 0, 1, 0},
    {16, 24, 530, 1, 0, 1, 0},  {3, 2, 9, 1, 1, 0, 0},      {40, 70, 40, 0, 1, 0, 2},
};

/* levels this machine lacks fall back to the scalar reference */
static const int k_levels[] = {EF_CPU_SIMD_SCALAR, EF_CPU_SIMD_AVX2, EF_CPU_SIMD_AVX512, EF_CPU_SIMD_NEON};
enum { N_LEVELS = sizeof k_levels / sizeof k_levels[0] };

static void test_levels_against_double(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof k_shapes / sizeof k_shapes[0]; c++) {
        operands o = make_operands(k_shapes[c]);
        double *ref = reference(&o);
        for (size_t l = 0; l < N_LEVELS; l++) {
            float *C = run(&o, k_levels[l], NULL, 1);
            const double err = max_error(&o, C, ref);
            if (err > 1e-6)
                print_message("M=%lld N=%lld K=%lld tA=%d tB=%d acc=%d level %d: error %.3e\n",
                              (long long)o.s.M, (long long)o.s.N, (long long)o.s.K, o.s.trans_a, o.s.trans_b,
                              o.s.accumulate, k_levels[l], err);
            assert_true(err <= 1e-6); /* F32 rounding of sums of |terms| ≤ 1 (≤ 4 for ties) */
            free(C);
        }
        free(ref);
        free_operands(&o);
    }
}

/* bf16 mode: every level against the rounded operands' double product, on
 * random operands and on ties; and the rounding is real (against the
 * unrounded product the error is that of bfloat16, far above F32's). */
static void test_bf16_against_double(void **state) {
    (void)state;
    g_bf16 = 1;
    test_levels_against_double(state);
    g_ties = 1;
    test_levels_against_double(state);
    g_ties = 0;
    operands o = make_operands((shape){40, 70, 300, 0, 1, 0, 0});
    float *C = run(&o, (int)ef_cpu_simd_active(), NULL, 1);
    g_bf16 = 0;
    double *exact = reference(&o);
    const double err = max_error(&o, C, exact);
    print_message("bf16 against the F32 operands' product: %.3e\n", err);
    assert_true(err > 1e-5 && err < 1e-2);
    free(exact), free(C);
    free_operands(&o);
}

/* Operands handed over already in bfloat16 (A16, B16) give the bits of
 * operands converted while packing, at the active level and at AVX2. */
static void test_bf16_twins_same_bits(void **state) {
    (void)state;
    g_bf16 = 1;
    const int levels[2] = {(int)ef_cpu_simd_active(), EF_CPU_SIMD_AVX2};
    for (size_t c = 0; c < sizeof k_shapes / sizeof k_shapes[0]; c++) {
        operands o = make_operands(k_shapes[c]);
        for (int l = 0; l < 2; l++) {
            float *c0 = run(&o, levels[l], NULL, 1);
            g_twins = 1;
            float *c1 = run(&o, levels[l], NULL, 1);
            g_twins = 0;
            assert_memory_equal(c0, c1, sizeof(float) * (size_t)(o.s.M * o.ldc));
            free(c0), free(c1);
        }
        free_operands(&o);
    }
    g_bf16 = 0;
}

/* ef_cpu_f32_to_bf16 at every level: the bits of ef_gemm_round_bf16. */
static void test_to_bf16_levels(void **state) {
    (void)state;
    enum { N = 1000 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = next_uniform() * 1e3f;
    for (int i = 0; i < N; i += 7) x[i] = next_tie();
    const uint32_t special[] = {0x7f800000u, 0xff800000u, 0x00000001u, 0x807fffffu, 0x7f7fffffu, 0x00800000u};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) memcpy(&x[3 * i + 1], &special[i], 4);
    for (size_t l = 0; l < N_LEVELS; l++) {
        ef_cpu_simd_force(k_levels[l]);
        uint16_t h[N];
        for (int n = 1; n <= N; n += 333) { /* tails of 1, 14, 27 and 8 values past whole vectors */
            memset(h, 0xab, sizeof h);
            ef_cpu_f32_to_bf16(h, x, n);
            for (int i = 0; i < n; i++) {
                const float r = ef_gemm_round_bf16(x[i]);
                uint32_t u;
                memcpy(&u, &r, sizeof u);
                assert_int_equal(h[i], u >> 16);
            }
            if (n < N) assert_int_equal(h[n], 0xabab); /* nothing written past n */
        }
    }
    ef_cpu_simd_force(-1);
}

/* Round to nearest even at bit 16, denormals to zero, NaN stays NaN. */
static void test_round_bf16(void **state) {
    (void)state;
    static const struct { uint32_t in, out; } cases[] = {
        {0x3f808000u, 0x3f800000u}, /* tie, even below: down */
        {0x3f818000u, 0x3f820000u}, /* tie, odd below: up */
        {0x3f808001u, 0x3f810000u}, /* above the tie: up */
        {0x3f807fffu, 0x3f800000u}, /* below the tie: down */
        {0xbf818000u, 0xbf820000u}, /* negative tie: magnitude up */
        {0x7f7fffffu, 0x7f800000u}, /* the largest float rounds to +inf */
        {0x7f800000u, 0x7f800000u}, /* +inf */
        {0xff800000u, 0xff800000u}, /* −inf */
        {0x00000001u, 0x00000000u}, /* denormal: +0 */
        {0x807fffffu, 0x80000000u}, /* denormal: −0 */
        {0x00800000u, 0x00800000u}, /* the smallest normal stays */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float x, y;
        uint32_t u;
        memcpy(&x, &cases[i].in, sizeof x);
        y = ef_gemm_round_bf16(x);
        memcpy(&u, &y, sizeof u);
        assert_int_equal(u, cases[i].out);
    }
    const uint32_t nan_bits = 0x7f800001u; /* a NaN whose payload is all below bit 16 */
    float nan;
    memcpy(&nan, &nan_bits, sizeof nan);
    assert_true(isnan(ef_gemm_round_bf16(nan)));
}

/* AVX2 and AVX-512 run the same fma chains: the same bits (elsewhere both
 * fall back to the scalar kernel). */
static void test_simd_levels_agree(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof k_shapes / sizeof k_shapes[0]; c++) {
        operands o = make_operands(k_shapes[c]);
        float *c2 = run(&o, EF_CPU_SIMD_AVX2, NULL, 1);
        float *c5 = run(&o, EF_CPU_SIMD_AVX512, NULL, 1);
        assert_memory_equal(c2, c5, sizeof(float) * (size_t)(o.s.M * o.ldc));
        free(c2), free(c5);
        free_operands(&o);
    }
}

/* 2 workers give the bits of one, at the active level and at the scalar
 * one; 3 workers with packing space for 2 (one idles) too, on one shape
 * (pools of more threads than cores crawl under qemu). */
static void test_threads_same_bits(void **state) {
    (void)state;
    const int levels[2] = {(int)ef_cpu_simd_active(), EF_CPU_SIMD_SCALAR};
    ef_pool *pool2, *pool3;
    assert_int_equal(ef_pool_create(2, &pool2), EF_OK);
    assert_int_equal(ef_pool_create(3, &pool3), EF_OK);
    for (size_t c = 0; c < sizeof k_shapes / sizeof k_shapes[0]; c++) {
        operands o = make_operands(k_shapes[c]);
        const size_t bytes = sizeof(float) * (size_t)(o.s.M * o.ldc);
        for (int l = 0; l < 2; l++) {
            float *c1 = run(&o, levels[l], NULL, 1);
            float *c2 = run(&o, levels[l], pool2, 2);
            assert_memory_equal(c1, c2, bytes);
            if (c == 6) { /* 110 rows: work for both sharing workers */
                float *c3 = run(&o, levels[l], pool3, 2);
                assert_memory_equal(c1, c3, bytes);
                free(c3);
            }
            free(c1), free(c2);
        }
        free_operands(&o);
    }
    ef_pool_free(pool2);
    ef_pool_free(pool3);
}

static void test_bf16_threads_same_bits(void **state) {
    g_bf16 = 1;
    test_threads_same_bits(state);
    g_twins = 1; /* A read in place from its twin: split by panels too */
    test_threads_same_bits(state);
    g_bf16 = g_twins = 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_against_double),
        cmocka_unit_test(test_simd_levels_agree),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_bf16_against_double),
        cmocka_unit_test(test_bf16_threads_same_bits),
        cmocka_unit_test(test_round_bf16),
        cmocka_unit_test(test_bf16_twins_same_bits),
        cmocka_unit_test(test_to_bf16_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
