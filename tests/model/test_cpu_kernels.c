/* Reference CPU kernels against direct formulas in double precision:
 * RoPE (NORM, NEOX, partial rotation, factors, scaling), causal GQA
 * attention, matmul for F32/F16/BF16 weights, RMSNorm, SwiGLU; and the
 * same bits for any thread count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "cpu/cpu_ops.h"
#include "quant/types.h"

static uint64_t g_rng = 0x1234567ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 4503599627370496.0 - 1.0);
}
static void fill(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = frand();
}

/* ---- RoPE ---- */

enum { R_TOK = 3, R_HEADS = 2, R_HD = 10, R_ROT = 6, R_POS0 = 5 };

static void rope_direct(const float *x, float *y, ef_rope_mode mode, const ef_rope_params *p) {
    memcpy(y, x, sizeof(float) * R_TOK * R_HEADS * R_HD);
    for (int t = 0; t < R_TOK; t++)
        for (int h = 0; h < R_HEADS; h++) {
            const float *a = x + (t * R_HEADS + h) * R_HD;
            float *b = y + (t * R_HEADS + h) * R_HD;
            for (int i = 0; i < R_ROT / 2; i++) {
                double th = (R_POS0 + t) * (double)p->freq_scale * pow(p->freq_base, -2.0 * i / R_ROT);
                if (p->freq_factors) th /= p->freq_factors[i];
                int i0 = mode == EF_ROPE_NORM ? 2 * i : i;
                int i1 = mode == EF_ROPE_NORM ? 2 * i + 1 : i + R_ROT / 2;
                b[i0] = (float)(a[i0] * cos(th) - a[i1] * sin(th));
                b[i1] = (float)(a[i0] * sin(th) + a[i1] * cos(th));
            }
        }
}

static void check_rope(ef_rope_mode mode, const float *factors, float scale) {
    enum { N = R_TOK * R_HEADS * R_HD };
    float x[N], got[N], want[N];
    fill(x, N);
    memcpy(got, x, sizeof x);
    ef_rope_params p = {mode, R_ROT, 10000.0f, scale, factors};
    ef_cpu_rope(got, R_TOK, R_HEADS, R_HD, R_POS0, &p);
    rope_direct(x, want, mode, &p);
    for (int i = 0; i < N; i++) {
        assert_true(fabsf(got[i] - want[i]) < 1e-6f);
        if (i % R_HD >= R_ROT) assert_true(got[i] == x[i]); /* past n_rot: untouched */
    }
}

static void test_rope_norm(void **state) {
    (void)state;
    check_rope(EF_ROPE_NORM, NULL, 1.0f);
    const float factors[R_ROT / 2] = {1.0f, 2.5f, 4.0f};
    check_rope(EF_ROPE_NORM, factors, 0.25f);
}

static void test_rope_neox(void **state) {
    (void)state;
    check_rope(EF_ROPE_NEOX, NULL, 1.0f);
    const float factors[R_ROT / 2] = {3.0f, 1.0f, 1.5f};
    check_rope(EF_ROPE_NEOX, factors, 0.5f);
}

/* NEOX on a vector whose halves hold the even/odd dims equals NORM, permuted. */
static void test_rope_norm_neox_relation(void **state) {
    (void)state;
    enum { N = R_TOK * R_HEADS * R_HD };
    float x[N], perm[N], a[N], b[N];
    fill(x, N);
    for (int r = 0; r < R_TOK * R_HEADS; r++)
        for (int d = 0; d < R_HD; d++) {
            int src = d < R_ROT / 2 ? 2 * d : d < R_ROT ? 2 * (d - R_ROT / 2) + 1 : d;
            perm[r * R_HD + d] = x[r * R_HD + src];
        }
    memcpy(a, x, sizeof x);
    memcpy(b, perm, sizeof x);
    ef_rope_params pn = {EF_ROPE_NORM, R_ROT, 500.0f, 1.0f, NULL};
    ef_rope_params px = {EF_ROPE_NEOX, R_ROT, 500.0f, 1.0f, NULL};
    ef_cpu_rope(a, R_TOK, R_HEADS, R_HD, R_POS0, &pn);
    ef_cpu_rope(b, R_TOK, R_HEADS, R_HD, R_POS0, &px);
    for (int r = 0; r < R_TOK * R_HEADS; r++)
        for (int d = 0; d < R_HD; d++) {
            int src = d < R_ROT / 2 ? 2 * d : d < R_ROT ? 2 * (d - R_ROT / 2) + 1 : d;
            assert_true(fabsf(b[r * R_HD + d] - a[r * R_HD + src]) < 1e-6f);
        }
}

/* ---- attention ---- */

static void attention_naive(const ef_attn_shape *s, const float *q, const float *k, const float *v,
                            double *out) {
    int hd = s->head_dim, group = s->n_head / s->n_head_kv;
    for (int t = 0; t < s->n_tok; t++)
        for (int h = 0; h < s->n_head; h++) {
            int kvh = h / group, n_seen = s->n_past + t + 1;
            double w[64], mx = -1e300, sum = 0;
            for (int p = 0; p < n_seen; p++) {
                double d = 0;
                for (int i = 0; i < hd; i++)
                    d += (double)q[(t * s->n_head + h) * hd + i] * k[(p * s->n_head_kv + kvh) * hd + i];
                w[p] = d / sqrt((double)hd);
                if (w[p] > mx) mx = w[p];
            }
            for (int p = 0; p < n_seen; p++) sum += (w[p] = exp(w[p] - mx));
            for (int i = 0; i < hd; i++) {
                double o = 0;
                for (int p = 0; p < n_seen; p++) o += w[p] / sum * v[(p * s->n_head_kv + kvh) * hd + i];
                out[(t * s->n_head + h) * hd + i] = o;
            }
        }
}

static void check_attention(int n_head_kv) {
    const ef_attn_shape s = {3, 5, 4, n_head_kv, 8};
    const int n_kv = s.n_past + s.n_tok;
    float q[3 * 4 * 8], k[8 * 4 * 8], v[8 * 4 * 8], scores[4 * 8], out1[3 * 4 * 8], out2[3 * 4 * 8];
    double want[3 * 4 * 8];
    fill(q, 3 * 4 * 8);
    fill(k, n_kv * n_head_kv * 8);
    fill(v, n_kv * n_head_kv * 8);
    for (int i = 0; i < 3 * 4 * 8; i++) q[i] *= 3.0f; /* peaky softmax */
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(3, &pool), EF_OK);
    ef_cpu_attention(NULL, &s, q, k, v, scores, out1);
    ef_cpu_attention(pool, &s, q, k, v, scores, out2);
    ef_pool_free(pool);
    attention_naive(&s, q, k, v, want);
    assert_memory_equal(out1, out2, sizeof out1);
    for (int i = 0; i < 3 * 4 * 8; i++) assert_true(fabs(out1[i] - want[i]) < 1e-5);
}

static void test_attention_mha(void **state) { (void)state; check_attention(4); }
static void test_attention_gqa(void **state) { (void)state; check_attention(2); }
static void test_attention_mqa(void **state) { (void)state; check_attention(1); }

/* ---- matmul ---- */

enum { M_IN = 320, M_OUT = 37, M_N = 3 }; /* M_IN > one 256-element chunk */

static void check_matmul(uint32_t type) {
    static float w32[M_OUT * M_IN], wq[M_OUT * M_IN], x[M_N * M_IN];
    static uint16_t w16[M_OUT * M_IN];
    float y1[M_N * M_OUT], y2[M_N * M_OUT];
    fill(w32, M_OUT * M_IN);
    fill(x, M_N * M_IN);
    const void *data = w32;
    for (int i = 0; i < M_OUT * M_IN; i++) {
        if (type == EF_TYPE_F16) w16[i] = ef_f32_to_f16(w32[i]), wq[i] = ef_f16_to_f32(w16[i]);
        else if (type == EF_TYPE_BF16) w16[i] = ef_f32_to_bf16(w32[i]), wq[i] = ef_bf16_to_f32(w16[i]);
        else wq[i] = w32[i];
    }
    if (type != EF_TYPE_F32) data = w16;
    ef_tensor w = {"w", type, 2, {M_IN, M_OUT, 1, 1}, data, ef_type_row_size(type, M_IN) * M_OUT};
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(3, &pool), EF_OK);
    ef_cpu_matmul(NULL, &w, x, M_N, y1);
    ef_cpu_matmul(pool, &w, x, M_N, y2);
    ef_pool_free(pool);
    assert_memory_equal(y1, y2, sizeof y1);
    for (int t = 0; t < M_N; t++)
        for (int o = 0; o < M_OUT; o++) {
            double ref = 0, ref32 = 0;
            for (int i = 0; i < M_IN; i++) {
                ref += (double)x[t * M_IN + i] * wq[o * M_IN + i];
                ref32 += (double)x[t * M_IN + i] * w32[o * M_IN + i];
            }
            assert_true(fabs(y1[t * M_OUT + o] - ref) < 1e-4);
            /* and close to the F32 product, within the format's rounding */
            double tol = type == EF_TYPE_F32 ? 1e-4 : type == EF_TYPE_F16 ? 1e-2 : 1e-1;
            assert_true(fabs(y1[t * M_OUT + o] - ref32) < tol);
        }
}

static void test_matmul_f32(void **state) { (void)state; check_matmul(EF_TYPE_F32); }
static void test_matmul_f16(void **state) { (void)state; check_matmul(EF_TYPE_F16); }
static void test_matmul_bf16(void **state) { (void)state; check_matmul(EF_TYPE_BF16); }

/* ---- norm, swiglu, embedding ---- */

static void test_rmsnorm_swiglu_rows(void **state) {
    (void)state;
    float x[2 * 16], w[16], y[2 * 16];
    fill(x, 32);
    fill(w, 16);
    ef_cpu_rmsnorm(x, w, 2, 16, 1e-5f, y);
    for (int t = 0; t < 2; t++) {
        double ss = 0;
        for (int i = 0; i < 16; i++) ss += (double)x[t * 16 + i] * x[t * 16 + i];
        for (int i = 0; i < 16; i++)
            assert_true(fabs(y[t * 16 + i] - x[t * 16 + i] / sqrt(ss / 16 + 1e-5) * w[i]) < 1e-6);
    }
    float g[16], u[16], o[16];
    fill(g, 16);
    fill(u, 16);
    ef_cpu_swiglu(g, u, o, 16);
    for (int i = 0; i < 16; i++) assert_true(fabs(o[i] - g[i] / (1 + exp(-g[i])) * u[i]) < 1e-6);

    uint16_t emb[5 * 16];
    for (int i = 0; i < 80; i++) emb[i] = ef_f32_to_f16((float)i);
    ef_tensor e = {"emb", EF_TYPE_F16, 2, {16, 5, 1, 1}, emb, sizeof emb};
    int32_t ids[2] = {3, 1};
    ef_cpu_get_rows(&e, ids, 2, y);
    for (int i = 0; i < 16; i++) {
        assert_true(y[i] == (float)(48 + i));
        assert_true(y[16 + i] == (float)(16 + i));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope_norm),
        cmocka_unit_test(test_rope_neox),
        cmocka_unit_test(test_rope_norm_neox_relation),
        cmocka_unit_test(test_attention_mha),
        cmocka_unit_test(test_attention_gqa),
        cmocka_unit_test(test_attention_mqa),
        cmocka_unit_test(test_matmul_f32),
        cmocka_unit_test(test_matmul_f16),
        cmocka_unit_test(test_matmul_bf16),
        cmocka_unit_test(test_rmsnorm_swiglu_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
