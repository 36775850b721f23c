/* The AVX-512 kernels (backends/cpu, files named _avx512) against the scalar
 * reference and the AVX2 kernels, on random data and odd sizes:
 *   - dense GEMV and GEMM (F32, F16, BF16): per-element bound against the
 *     reference and an exact double sum, GEMV ≡ GEMM bitwise, any split of
 *     the rows and 1 vs 2 threads bitwise, ef_cpu_matmul takes them;
 *   - the fused quantized row kernels (Q8_0, Q4_0, Q4_K, Q6_K): weight-only and
 *     integer-dot against the scalar group path and the AVX2 row kernels,
 *     VNNI ≡ plain AVX-512 bitwise, the level's kernel table.
 * On a processor (or build) without AVX-512 every test prints why and passes:
 * CI machines may lack it. */
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
#include "cpu/qdot.h"
#include "cpu/qdot_avx512.h"
#include "edgeformer/edgeformer.h"
#include "quant/types.h"

static uint64_t g_rng = 0x8f1bbcdcca62c1d6ull;
static uint32_t urand(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_rng >> 33);
}
static float frand(void) { return (float)urand() / 2147483648.0f - 1.0f; } /* [-1, 1) */

/* 1 when the AVX-512 kernels may run here; else says why (the test passes). */
static int have_avx512(void) {
    if (ef_cpu_simd_active() == EF_CPU_SIMD_AVX512) return 1;
    const char *why = !ef_cpu_avx512_kernels_built() ? "the AVX-512 kernels were not built (not x86-64 or no compiler flags)"
                      : ef_cpu_simd_supported() != EF_CPU_SIMD_AVX512 ? "this processor or OS has no AVX-512 F/DQ/BW/VL"
                                                                       : "EF_CPU_SIMD caps the level below avx512";
    printf("skipped: %s\n", why);
    return 0;
}

static float *random_vec(int64_t n) {
    float *x = malloc((size_t)n * sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) x[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    return x;
}

static ef_tensor tensor_2d(uint32_t type, int64_t in, int64_t out, void *data, uint64_t nbytes) {
    ef_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "w";
    t.type = type;
    t.n_dims = 2;
    t.ne[0] = in;
    t.ne[1] = out;
    t.ne[2] = t.ne[3] = 1;
    t.data = data;
    t.nbytes = nbytes;
    return t;
}

/* ---- dense ---- */

typedef struct {
    ef_tensor t;
    void *data;
    float *f32; /* [out][in] the exact weight values */
} dense_weight;

static void make_dense(dense_weight *w, uint32_t type, int64_t in, int64_t out) {
    const size_t n = (size_t)(in * out), esize = type == EF_TYPE_F32 ? 4 : 2;
    w->f32 = malloc(n * sizeof(float));
    w->data = malloc(n * esize);
    assert_non_null(w->f32), assert_non_null(w->data);
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
    w->t = tensor_2d(type, in, out, w->data, n * esize);
}

static void free_dense(dense_weight *w) { free(w->data), free(w->f32); }

/* |got − want| and |got − exact| within rounding-order error: 2e-6 of Σ|w·x|
 * per 256 elements (a wrong lane, element or tail is off by O(1)). */
static void check_dense(const char *what, const dense_weight *w, const float *x, int32_t n, const float *got,
                        const float *want) {
    const int64_t in = w->t.ne[0], out = w->t.ne[1];
    for (int32_t t = 0; t < n; t++)
        for (int64_t r = 0; r < out; r++) {
            double mag = 0.0, exact = 0.0;
            for (int64_t k = 0; k < in; k++) {
                mag += fabs((double)w->f32[r * in + k] * x[t * in + k]);
                exact += (double)w->f32[r * in + k] * x[t * in + k];
            }
            const double bound = 2e-6 * (mag + 1e-30) * (1.0 + in / 256.0);
            const float g = got[t * out + r], e = want[t * out + r];
            if (!(fabs((double)g - e) <= bound) || !(fabs((double)g - exact) <= bound))
                fail_msg("%s %s in=%lld out=%lld n=%d t=%d r=%lld: got %.9g want %.9g exact %.9g", what,
                         ef_type_name(w->t.type), (long long)in, (long long)out, n, t, (long long)r, g, e, exact);
        }
}

static const uint32_t k_dense[] = {EF_TYPE_F32, EF_TYPE_F16, EF_TYPE_BF16};

/* GEMV/GEMM of the AVX-512 level vs the reference and the AVX2 kernels; GEMV ≡ GEMM. */
static void test_dense_vs_reference(void **state) {
    (void)state;
    if (!have_avx512()) return;
    const int64_t ins[] = {1, 15, 16, 17, 32, 255, 256, 288, 513, 1031, 4096};
    const int64_t outs[] = {1, 31, 33, 255, 257};
    const int32_t ns[] = {1, 2, 5, 6, 7, 13, 100};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t ii = 0; ii < sizeof ins / sizeof ins[0]; ii++)
            for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++) {
                const int64_t in = ins[ii], out = outs[oi];
                if (in * out > 300000) continue; /* 4096 × 31/33 covers the wide rows; keeps the test fast */
                dense_weight w;
                make_dense(&w, k_dense[ti], in, out);
                assert_true(ef_cpu_avx512_dense_ok(k_dense[ti]));
                for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                    const int32_t n = ns[ni];
                    if (n > 7 && in * out > 20000) continue;
                    const size_t cnt = (size_t)n * (size_t)out;
                    float *x = random_vec(n * in);
                    float *ref = malloc(cnt * 4), *gemv = malloc(cnt * 4), *gemm = malloc(cnt * 4), *avx2 = malloc(cnt * 4);
                    assert_non_null(ref), assert_non_null(gemv), assert_non_null(gemm), assert_non_null(avx2);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &w.t, x, n, ref);
                    for (int32_t t = 0; t < n; t++) {
                        ef_cpu_gemv_avx512(&w.t, x + t * in, gemv + t * out, 0, out);
                        ef_cpu_gemv_avx2(&w.t, x + t * in, avx2 + t * out, 0, out);
                    }
                    ef_cpu_gemm_avx512(&w.t, x, n, gemm, 0, out);
                    check_dense("avx512 gemv vs reference", &w, x, n, gemv, ref);
                    check_dense("avx512 gemv vs avx2", &w, x, n, gemv, avx2);
                    check_dense("avx512 gemm vs reference", &w, x, n, gemm, ref);
                    assert_memory_equal(gemv, gemm, cnt * 4);
                    free(x), free(ref), free(gemv), free(gemm), free(avx2);
                }
                free_dense(&w);
            }
}

/* Rows split anywhere on a row group (what threads do) and 1 vs 2 threads:
 * the same bits; ef_cpu_matmul at the AVX-512 level runs these kernels. */
static void test_dense_splits_and_threads(void **state) {
    (void)state;
    if (!have_avx512()) return;
    ef_pool *pool2 = NULL;
    assert_int_equal(ef_pool_create(2, &pool2), EF_OK);
    const struct { int64_t in, out; int32_t n; } shapes[] = {{257, 33, 1}, {768, 130, 7}, {1000, 13, 97}, {64, 101, 200}};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int64_t in = shapes[s].in, out = shapes[s].out;
            const int32_t n = shapes[s].n;
            const size_t bytes = (size_t)n * (size_t)out * 4;
            dense_weight w;
            make_dense(&w, k_dense[ti], in, out);
            float *x = random_vec(n * in);
            float *whole = malloc(bytes), *split = malloc(bytes), *y1 = malloc(bytes), *y2 = malloc(bytes);
            assert_non_null(whole), assert_non_null(split), assert_non_null(y1), assert_non_null(y2);
            ef_cpu_gemm_avx512(&w.t, x, n, whole, 0, out);
            for (int64_t cut = 0; cut <= out; cut += 4 * (1 + out / 20)) {
                memset(split, 0xff, bytes);
                ef_cpu_gemm_avx512(&w.t, x, n, split, 0, cut);
                ef_cpu_gemm_avx512(&w.t, x, n, split, cut, out);
                assert_memory_equal(whole, split, bytes);
            }
            const ef_matmul_kernel kernels[] = {EF_MATMUL_GEMV, EF_MATMUL_GEMM};
            for (int k = 0; k < 2; k++) {
                memset(y1, 0xff, bytes), memset(y2, 0xff, bytes);
                ef_cpu_matmul_with(NULL, kernels[k], &w.t, x, n, y1);
                ef_cpu_matmul_with(pool2, kernels[k], &w.t, x, n, y2);
                assert_memory_equal(y1, y2, bytes);
                assert_memory_equal(y1, whole, bytes); /* the dispatcher ran the AVX-512 kernels */
            }
            ef_cpu_matmul(pool2, &w.t, x, n, y2); /* AUTO */
            assert_memory_equal(y2, whole, bytes);
            free(x), free(whole), free(split), free(y1), free(y2);
            free_dense(&w);
        }
    ef_pool_free(pool2);
}

/* EF_CPU_SIMD=avx2 / ef_cpu_simd_force(AVX2) keeps the AVX2 kernels. */
static void test_force_avx2(void **state) {
    (void)state;
    if (!have_avx512()) return;
    dense_weight w;
    make_dense(&w, EF_TYPE_F16, 1000, 37);
    float *x = random_vec(3 * 1000);
    float a[3 * 37], b[3 * 37], c[3 * 37];
    ef_cpu_simd_force(EF_CPU_SIMD_AVX2);
    assert_int_equal(ef_cpu_simd_active(), EF_CPU_SIMD_AVX2);
    ef_cpu_matmul(NULL, &w.t, x, 3, a);
    ef_cpu_simd_force(-1);
    ef_cpu_gemm_avx2(&w.t, x, 3, b, 0, 37);
    assert_memory_equal(a, b, sizeof a);
    ef_cpu_matmul(NULL, &w.t, x, 3, c);
    assert_memory_not_equal(a, c, sizeof a); /* 16-lane sums differ from 8-lane ones somewhere */
    free(x);
    free_dense(&w);
}

/* ---- quantized row kernels ---- */

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
    w->t = tensor_2d(type, in, out, w->data, row * (uint64_t)out);
}

static void free_qweight(qweight *w) { free(w->data), free(w->f32); }

/* NULL members: the AVX2 kernel serves that mode at the AVX-512 level. */
typedef struct {
    uint32_t type;
    ef_qrow_f32_fn f32;         /* weight-only */
    ef_qrow_int_fn plain, vnni; /* integer-dot: AVX-512 BW, VNNI */
} row_kernels;

static const row_kernels k_rows[] = {
    {EF_TYPE_Q8_0, ef_qrow_q8_0_f32_avx512, ef_qrow_q8_0_int_avx512, ef_qrow_q8_0_int_avx512_vnni},
    {EF_TYPE_Q4_0, ef_qrow_q4_0_f32_avx512, ef_qrow_q4_0_int_avx512, ef_qrow_q4_0_int_avx512_vnni},
    {EF_TYPE_Q4_K, ef_qrow_q4_k_f32_avx512, NULL, NULL},
    {EF_TYPE_Q6_K, NULL, ef_qrow_q6_k_int_avx512, ef_qrow_q6_k_int_avx512_vnni},
};

/* The scalar group path for one row: weight-only (xa NULL) or integer-dot. */
static float scalar_row(uint32_t type, const uint8_t *row, const float *x, const ef_qgroup_a *xa, int64_t in) {
    const ef_qtype_ops *ops = ef_qtype_ops_get(type);
    const uint64_t group_bytes = ef_type_row_size(type, EF_QGROUP);
    float sum = 0.0f;
    ef_qgroup_w g;
    for (int64_t gi = 0; gi * EF_QGROUP < in; gi++) {
        const int64_t left = in - gi * EF_QGROUP;
        const int32_t n32 = left >= EF_QGROUP ? EF_QGROUP_CHUNKS : (int32_t)(left / 32);
        ops->unpack(row + (uint64_t)gi * group_bytes, n32, &g);
        sum += xa ? ef_qdot_int_scalar(&g, xa + gi, n32, ops->has_min) : ef_qdot_f32_scalar(&g, x + gi * EF_QGROUP, n32);
    }
    return sum;
}

static void check_q(const char *what, uint32_t type, int64_t in, int64_t r, float got, float want, double mag) {
    const double err = fabs((double)got - want), tol = 4e-6 * mag * (1.0 + in / 1024.0) + 1e-5;
    if (!(err <= tol))
        fail_msg("%s %s in=%lld row %lld: %.9g vs %.9g (err %.3g > tol %.3g)", what, ef_type_name(type), (long long)in,
                 (long long)r, got, want, err, tol);
}

/* Every fused row kernel against the scalar group path and the AVX2 row
 * kernel (rounding order only: the integer sums are exact), VNNI ≡ BW. */
static void test_qrows_vs_scalar(void **state) {
    (void)state;
    if (!have_avx512()) return;
    const int vnni = ef_cpu_x86_avx512_vnni();
    if (!vnni) printf("note: no AVX-512 VNNI here; the vpdpbusd kernels are not run\n");
    const int64_t ins[] = {32, 64, 96, 256, 288, 768, 800, 4096, 5632};
    const int64_t outs[] = {1, 31, 33, 255, 257};
    for (size_t ki = 0; ki < sizeof k_rows / sizeof k_rows[0]; ki++) {
        const row_kernels *rk = &k_rows[ki];
        const ef_qtype_ops *ops = ef_qtype_ops_get(rk->type);
        assert_non_null(ops);
        for (size_t ii = 0; ii < sizeof ins / sizeof ins[0]; ii++)
            for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++) {
                const int64_t in = ins[ii], out = outs[oi];
                if (in * out > 300000 || in % ops->block) continue; /* K-quant rows are whole super-blocks */
                qweight w;
                make_qweight(&w, rk->type, in, out);
                const int64_t n_groups = (in + EF_QGROUP - 1) / EF_QGROUP;
                float *x = random_vec(in);
                ef_qgroup_a *xa = malloc((size_t)n_groups * sizeof *xa);
                assert_non_null(xa);
                ef_cpu_qmatmul_quantize_x(rk->type, x, in, 0, 1, xa);
                const uint64_t row_bytes = ef_type_row_size(rk->type, in);
                for (int64_t r = 0; r < out; r++) {
                    const uint8_t *row = w.data + row_bytes * (uint64_t)r;
                    double mag = 0.0;
                    for (int64_t k = 0; k < in; k++) mag += fabs((double)w.f32[r * in + k] * x[k]);
                    if (rk->f32) {
                        const float f = rk->f32(row, x, in);
                        check_q("weight-only vs scalar", rk->type, in, r, f, scalar_row(rk->type, row, x, NULL, in), mag);
                        check_q("weight-only vs avx2", rk->type, in, r, f, ops->row_f32_avx2(row, x, in), mag);
                    }
                    if (rk->plain) {
                        const float i = rk->plain(row, xa, in);
                        check_q("integer-dot vs scalar", rk->type, in, r, i, scalar_row(rk->type, row, NULL, xa, in), mag);
                        check_q("integer-dot vs avx2", rk->type, in, r, i, ops->row_int_avx2(row, xa, in), mag);
                        if (vnni) {
                            const float v = rk->vnni(row, xa, in);
                            if (memcmp(&v, &i, sizeof v) != 0)
                                fail_msg("%s in=%lld row %lld: VNNI %.9g vs BW %.9g", ef_type_name(rk->type), (long long)in,
                                         (long long)r, v, i);
                        }
                    }
                }
                free(x), free(xa);
                free_qweight(&w);
            }
    }
}

/* The AVX-512 level's kernel table holds these row kernels (VNNI when the
 * processor has it); the AVX2 level does not. */
static void test_qtable(void **state) {
    (void)state;
    if (!have_avx512()) return;
    for (size_t ki = 0; ki < sizeof k_rows / sizeof k_rows[0]; ki++) {
        ef_qkernels k;
        assert_true(ef_qkernels_resolve(k_rows[ki].type, EF_CPU_SIMD_AVX512, &k));
        const row_kernels *rk = &k_rows[ki];
        const ef_qtype_ops *ops = ef_qtype_ops_get(rk->type);
        const int dense = ef_cpu_avx512_dense_ok(rk->type); /* weight-only runs gemv/gemm_avx512.c */
        assert_ptr_equal(k.row_f32, rk->f32 && !dense ? rk->f32 : ops->row_f32_avx2);
        assert_ptr_equal(k.row_int, !rk->plain ? ops->row_int_avx2 : ef_cpu_x86_avx512_vnni() ? rk->vnni : rk->plain);
        assert_non_null(k.unpack), assert_non_null(k.dot_f32), assert_non_null(k.dot_int);
        assert_true(ef_qkernels_resolve(k_rows[ki].type, EF_CPU_SIMD_AVX2, &k));
        assert_ptr_equal(k.row_f32, ops->row_f32_avx2);
        assert_ptr_equal(k.row_int, ops->row_int_avx2);
    }
}

/* Weight-only Q8_0 and Q4_0 run the dense GEMV/GEMM (exact d·q): against
 * the reference and the exact sum, GEMV ≡ GEMM, 1 ≡ 2 threads, and each
 * row's bits equal its row kernel's. */
static void test_qdense_weight_only(void **state) {
    (void)state;
    if (!have_avx512()) return;
    ef_pool *pool2 = NULL;
    assert_int_equal(ef_pool_create(2, &pool2), EF_OK);
    const uint32_t types[] = {EF_TYPE_Q8_0, EF_TYPE_Q4_0};
    const ef_qrow_f32_fn rowk[] = {ef_qrow_q8_0_f32_avx512, ef_qrow_q4_0_f32_avx512};
    const int64_t ins[] = {32, 96, 288, 768, 1056, 4096};
    const int64_t outs[] = {1, 31, 33, 255, 257};
    const int32_t ns[] = {1, 3, 7, 64};
    for (size_t ti = 0; ti < 2; ti++) {
        assert_true(ef_cpu_avx512_dense_ok(types[ti]));
        for (size_t ii = 0; ii < sizeof ins / sizeof ins[0]; ii++)
            for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++) {
                const int64_t in = ins[ii], out = outs[oi];
                if (in * out > 300000) continue;
                qweight q;
                make_qweight(&q, types[ti], in, out);
                const dense_weight view = {q.t, q.data, q.f32}; /* exact values for check_dense */
                for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                    const int32_t n = ns[ni];
                    if (n > 7 && in * out > 40000) continue;
                    const size_t cnt = (size_t)n * (size_t)out;
                    float *x = random_vec(n * in);
                    float *ref = malloc(cnt * 4), *gemv = malloc(cnt * 4), *gemm = malloc(cnt * 4), *two = malloc(cnt * 4);
                    assert_non_null(ref), assert_non_null(gemv), assert_non_null(gemm), assert_non_null(two);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &q.t, x, n, ref);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &q.t, x, n, gemv);
                    ef_cpu_matmul_with(NULL, EF_MATMUL_GEMM, &q.t, x, n, gemm);
                    ef_cpu_matmul_with(pool2, EF_MATMUL_GEMM, &q.t, x, n, two);
                    check_dense("weight-only avx512 vs reference", &view, x, n, gemv, ref);
                    assert_memory_equal(gemv, gemm, cnt * 4);
                    assert_memory_equal(gemm, two, cnt * 4);
                    const uint64_t row_bytes = ef_type_row_size(types[ti], in);
                    for (int64_t r = 0; r < out; r++) {
                        const float v = rowk[ti](q.data + row_bytes * (uint64_t)r, x + (n - 1) * in, in);
                        assert_memory_equal(&v, &gemv[(n - 1) * out + r], sizeof v);
                    }
                    free(x), free(ref), free(gemv), free(gemm), free(two);
                }
                free_qweight(&q);
            }
    }
    ef_pool_free(pool2);
}

/* Through ef_cpu_matmul: GEMV ≡ GEMM and 1 ≡ 2 threads, both modes. */
static void test_qmatmul_threads(void **state) {
    (void)state;
    if (!have_avx512()) return;
    ef_pool *pool2 = NULL;
    assert_int_equal(ef_pool_create(2, &pool2), EF_OK);
    for (size_t ki = 0; ki < sizeof k_rows / sizeof k_rows[0]; ki++) {
        const int64_t in = ef_qtype_ops_get(k_rows[ki].type)->block == 256 ? 768 : 800, out = 37;
        const int32_t n = 9;
        const size_t bytes = (size_t)n * out * 4;
        qweight w;
        make_qweight(&w, k_rows[ki].type, in, out);
        float *x = random_vec(n * in);
        float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes); /* [n][out] each */
        assert_non_null(a), assert_non_null(b), assert_non_null(c);
        ef_cpu_matmul_with(NULL, EF_MATMUL_GEMV, &w.t, x, n, a);
        ef_cpu_matmul_with(pool2, EF_MATMUL_GEMM, &w.t, x, n, b);
        assert_memory_equal(a, b, bytes);
        const ef_qrow_f32_fn f32 = k_rows[ki].f32 ? k_rows[ki].f32 : ef_qtype_ops_get(w.t.type)->row_f32_avx2;
        for (int32_t t = 0; t < n; t++) /* and it is the level's kernel (Q8_0/Q4_0: the dense GEMV's bits) */
            for (int64_t r = 0; r < out; r++) {
                const float want = f32(w.data + ef_type_row_size(w.t.type, in) * (uint64_t)r, x + t * in, in);
                assert_memory_equal(&a[t * out + r], &want, sizeof want);
            }
        ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT, &w.t, x, n, a);
        ef_cpu_matmul_with(pool2, EF_MATMUL_IDOT, &w.t, x, n, b);
        assert_memory_equal(a, b, bytes);
        ef_cpu_matmul_with(NULL, EF_MATMUL_IDOT, &w.t, x + (n - 1) * in, 1, c);
        assert_memory_equal(c, a + (n - 1) * out, (size_t)out * 4);
        free(x), free(a), free(b), free(c);
        free_qweight(&w);
    }
    ef_pool_free(pool2);
}

/* The GEMVs read a worker's rows as four runs side by side: any row range
 * [r0, r1) — cut anywhere, not only on row groups — gives each row the bits
 * of the whole-range call and of the one-row form, and writes no row
 * outside it (AVX-512 for dense, Q8_0 and Q4_0 weights; AVX2 for dense). */
static void test_gemv_row_ranges(void **state) {
    (void)state;
    if (!have_avx512()) return;
    const int64_t in = 288, out = 45;
    for (int ti = 0; ti < 5; ti++) {
        const uint32_t type = ti < 3 ? k_dense[ti] : ti == 3 ? EF_TYPE_Q8_0 : EF_TYPE_Q4_0;
        dense_weight w;
        qweight q;
        const ef_tensor *t;
        if (ti < 3) make_dense(&w, type, in, out), t = &w.t;
        else make_qweight(&q, type, in, out), t = &q.t;
        float *x = random_vec(in);
        float whole[45], part[45], one[45]; /* [out] */
        for (int avx2 = 0; avx2 < (ti < 3 ? 2 : 1); avx2++) {
            void (*gemv)(const ef_tensor *, const float *, float *, int64_t, int64_t) =
                avx2 ? ef_cpu_gemv_avx2 : ef_cpu_gemv_avx512;
            gemv(t, x, whole, 0, out);
            for (int64_t r = 0; r < out; r++) gemv(t, x, one, r, r + 1); /* y is indexed by row: one[r] */
            assert_memory_equal(whole, one, sizeof whole);
            for (int64_t r0 = 0; r0 < out; r0 += 3)
                for (int64_t r1 = r0; r1 <= out; r1 += 5) {
                    memset(part, 0xff, sizeof part);
                    gemv(t, x, part, r0, r1);
                    for (int64_t r = 0; r < out; r++) {
                        uint32_t bits;
                        memcpy(&bits, &part[r], 4);
                        if (r >= r0 && r < r1) assert_memory_equal(&part[r], &whole[r], 4);
                        else assert_int_equal(bits, 0xffffffffu); /* untouched */
                    }
                }
        }
        free(x);
        if (ti < 3) free_dense(&w);
        else free_qweight(&q);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_vs_reference),
        cmocka_unit_test(test_dense_splits_and_threads),
        cmocka_unit_test(test_force_avx2),
        cmocka_unit_test(test_qrows_vs_scalar),
        cmocka_unit_test(test_qtable),
        cmocka_unit_test(test_qdense_weight_only),
        cmocka_unit_test(test_qmatmul_threads),
        cmocka_unit_test(test_gemv_row_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
