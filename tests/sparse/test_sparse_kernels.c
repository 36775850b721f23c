/* The sparse FFN kernels (backends/cpu/sparse_ops.h) for F32, F16, Q8_0 and
 * Q4_0 weights, scalar reference and AVX2, against a dense computation in
 * double precision with the same neuron mask applied; and the neuron-row
 * layout of ffn_down against the original. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/threadpool.h"
#include "cpu/cpu_features.h"
#include "cpu/sparse_ops.h"
#include "quant/types.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.0f;
}

/* A weight {in, out} of `type` from random values; also its dequantized
 * values (what the kernels must compute with). */
typedef struct {
    ef_tensor t;
    void *data;
    float *deq; /* [out][in] */
} weight;

static void make_weight(weight *w, uint32_t type, int64_t in, int64_t out) {
    float *src = malloc(sizeof(float) * (size_t)(in * out));
    for (int64_t i = 0; i < in * out; i++) src[i] = frand();
    const uint64_t row = ef_type_row_size(type, in);
    assert_true(row > 0);
    w->data = malloc((size_t)(row * (uint64_t)out));
    w->deq = malloc(sizeof(float) * (size_t)(in * out));
    for (int64_t r = 0; r < out; r++) {
        assert_int_equal(ef_quantize_row(type, src + r * in, (uint8_t *)w->data + r * row, in), EF_OK);
        ef_type_get(type)->to_float((uint8_t *)w->data + r * row, w->deq + r * in, in);
    }
    w->t = (ef_tensor){.name = "w", .type = type, .n_dims = 2, .ne = {in, out, 1, 1}, .data = w->data,
                       .nbytes = row * (uint64_t)out};
    free(src);
}

static void free_weight(weight *w) {
    free(w->data);
    free(w->deq);
}

/* Every other neuron plus a few runs: irregular, ascending. */
static int32_t make_mask(int32_t n, int32_t *idx) {
    int32_t k = 0;
    for (int32_t j = 0; j < n; j++)
        if ((j % 3 == 0) || (j > n / 2 && j < n / 2 + 7) || frand() > 0.6f) idx[k++] = j;
    return k;
}

static const uint32_t k_types[] = {EF_TYPE_F32, EF_TYPE_F16, EF_TYPE_Q8_0, EF_TYPE_Q4_0};

/* rows: y[k] = W[idx[k]] · x, both implementations, 1 and 2 threads. */
static void test_rows(void **state) {
    (void)state;
    ef_pool *pool2 = NULL;
    assert_int_equal(ef_pool_create(2, &pool2), EF_OK);
    const int64_t in = 96, n_ff = 200; /* in: 3 blocks of 32; n_ff: rows */
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        weight w;
        make_weight(&w, k_types[ti], in, n_ff);
        float x[96], y[200], ref[200];
        for (int i = 0; i < in; i++) x[i] = frand();
        int32_t idx[200];
        const int32_t n_idx = make_mask((int32_t)n_ff, idx);
        assert_true(n_idx > 64 && n_idx < n_ff); /* enough to use the pool, not all */
        for (int32_t k = 0; k < n_idx; k++) {
            double s = 0;
            for (int64_t i = 0; i < in; i++) s += (double)w.deq[idx[k] * in + i] * x[i];
            ref[k] = (float)s;
        }
        for (int avx2 = 0; avx2 <= 1; avx2++) {
            if (avx2 && !ef_cpu_sparse_avx2_ok(k_types[ti])) continue;
            for (int p = 0; p < 2; p++) {
                memset(y, 0, sizeof y);
                ef_cpu_sparse_rows_with(p ? pool2 : NULL, avx2, &w.t, x, idx, n_idx, y);
                for (int32_t k = 0; k < n_idx; k++) assert_float_equal(y[k], ref[k], 1e-4f * (1.0f + fabsf(ref[k])));
            }
        }
        free_weight(&w);
    }
    ef_pool_free(pool2);
}

/* The neuron-row layout of ffn_down holds the original's columns exactly;
 * accum through it: y = Σ_k a[k] · down[:, idx[k]]. */
static void test_accum_neuron_rows(void **state) {
    (void)state;
    ef_pool *pool2 = NULL;
    assert_int_equal(ef_pool_create(2, &pool2), EF_OK);
    const int64_t n_ff = 128, n_embd = 160; /* down: {n_ff, n_embd}; neuron rows of n_embd (5 groups of 32) */
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        const uint32_t type = k_types[ti];
        weight down;
        make_weight(&down, type, n_ff, n_embd);
        assert_int_equal(ef_cpu_sparse_down_type(&down.t), type); /* each keeps its own codes */
        const uint64_t bytes = ef_cpu_sparse_down_bytes(&down.t);
        void *buf = malloc((size_t)bytes);
        ef_sparse_down d;
        assert_int_equal(ef_cpu_sparse_down_build(&down.t, buf, &d), EF_OK);
        /* every neuron's column, read back through the scalar kernel with one active neuron */
        float col[160];
        for (int32_t j = 0; j < n_ff; j++) {
            const float one = 1.0f;
            ef_cpu_sparse_accum_with(NULL, 0, &d, &j, &one, 1, col);
            for (int64_t o = 0; o < n_embd; o++) assert_true(col[o] == down.deq[o * n_ff + j]);
        }
        float a[128], y[160];
        double ref[160];
        int32_t idx[128];
        const int32_t n_idx = make_mask((int32_t)n_ff, idx);
        for (int32_t k = 0; k < n_idx; k++) a[k] = frand();
        for (int64_t o = 0; o < n_embd; o++) { /* reference over the original weight */
            ref[o] = 0;
            for (int32_t k = 0; k < n_idx; k++) ref[o] += (double)a[k] * down.deq[o * n_ff + idx[k]];
        }
        for (int avx2 = 0; avx2 <= 1; avx2++) {
            if (avx2 && !ef_cpu_sparse_avx2_ok(type)) continue;
            for (int p = 0; p < 2; p++) {
                for (int64_t o = 0; o < n_embd; o++) y[o] = 1e30f; /* must be overwritten */
                ef_cpu_sparse_accum_with(p ? pool2 : NULL, avx2, &d, idx, a, n_idx, y);
                for (int64_t o = 0; o < n_embd; o++)
                    assert_float_equal(y[o], ref[o], 1e-4f * (1.0f + fabsf((float)ref[o])));
            }
            /* no active neuron: zeros */
            ef_cpu_sparse_accum_with(pool2, avx2, &d, idx, a, 0, y);
            for (int64_t o = 0; o < n_embd; o++) assert_true(y[o] == 0.0f);
        }
        free(buf);
        free_weight(&down);
    }
    ef_pool_free(pool2);
}

/* The whole sparse FFN of one token, composed from the kernels, against a
 * dense FFN in double where the same neurons are masked out. */
static void test_masked_ffn_matches_dense_reference(void **state) {
    (void)state;
    const int64_t n_embd = 64, n_ff = 192;
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        const uint32_t type = k_types[ti];
        weight gate, up, down;
        make_weight(&gate, type, n_embd, n_ff);
        make_weight(&up, type, n_embd, n_ff);
        make_weight(&down, type, n_ff, n_embd);
        void *buf = malloc((size_t)ef_cpu_sparse_down_bytes(&down.t));
        ef_sparse_down d;
        assert_int_equal(ef_cpu_sparse_down_build(&down.t, buf, &d), EF_OK);
        float x[64], act[192], h[192], y[64];
        int32_t idx[192];
        for (int i = 0; i < n_embd; i++) x[i] = frand();
        /* gate dense (every row), activation, mask at a threshold */
        int32_t all[192];
        for (int j = 0; j < n_ff; j++) all[j] = j;
        ef_cpu_sparse_rows(NULL, &gate.t, x, all, (int32_t)n_ff, act);
        const float thr = 0.15f;
        int32_t n_idx = 0;
        for (int j = 0; j < n_ff; j++) {
            act[j] = act[j] / (1.0f + expf(-act[j]));
            if (fabsf(act[j]) >= thr) idx[n_idx++] = j;
        }
        assert_true(n_idx > 10 && n_idx < n_ff - 10);
        ef_cpu_sparse_rows(NULL, &up.t, x, idx, n_idx, h);
        for (int32_t k = 0; k < n_idx; k++) h[k] *= act[idx[k]];
        ef_cpu_sparse_accum(NULL, &d, idx, h, n_idx, y);
        /* reference: dense FFN in double with the masked neurons' products zeroed */
        double ref[64] = {0};
        for (int64_t j = 0; j < n_ff; j++) {
            double g = 0, u = 0;
            for (int64_t i = 0; i < n_embd; i++) {
                g += (double)gate.deq[j * n_embd + i] * x[i];
                u += (double)up.deq[j * n_embd + i] * x[i];
            }
            const double a = g / (1.0 + exp(-g));
            if (fabs(a) < thr) continue; /* the mask */
            for (int64_t o = 0; o < n_embd; o++) ref[o] += a * u * down.deq[o * n_ff + j];
        }
        for (int64_t o = 0; o < n_embd; o++) assert_float_equal(y[o], ref[o], 1e-4f * (1.0f + fabsf((float)ref[o])));
        free(buf);
        free_weight(&gate);
        free_weight(&up);
        free_weight(&down);
    }
}

/* Other types and widths fall back to F16 neuron rows. */
static void test_fallback_layout(void **state) {
    (void)state;
    weight w;
    make_weight(&w, EF_TYPE_Q8_0, 64, 48); /* n_out 48: not whole groups of 32 */
    assert_int_equal(ef_cpu_sparse_down_type(&w.t), EF_TYPE_F16);
    void *buf = malloc((size_t)ef_cpu_sparse_down_bytes(&w.t));
    ef_sparse_down d;
    assert_int_equal(ef_cpu_sparse_down_build(&w.t, buf, &d), EF_OK);
    float col[48];
    const float one = 1.0f;
    const int32_t j = 5;
    for (int avx2 = 0; avx2 <= 1; avx2++) {
        if (avx2 && !ef_cpu_sparse_avx2_ok(EF_TYPE_F16)) continue;
        ef_cpu_sparse_accum_with(NULL, avx2, &d, &j, &one, 1, col);
        for (int o = 0; o < 48; o++) assert_float_equal(col[o], w.deq[o * 64 + j], 1e-3f * (1 + fabsf(col[o])));
    }
    free(buf);
    free_weight(&w);
    assert_true(ef_cpu_sparse_type_ok(EF_TYPE_Q4_K));
    assert_false(ef_cpu_sparse_type_ok(EF_TYPE_IQ2_XXS));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_accum_neuron_rows),
        cmocka_unit_test(test_masked_ffn_matches_dense_reference),
        cmocka_unit_test(test_fallback_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
