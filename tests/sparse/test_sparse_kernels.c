/* The sparse FFN kernels (backends/cpu/sparse_ops.h) for F32, F16, Q8_0 and
 * Q4_0 weights, scalar reference, AVX2, AVX-512 and NEON (where the
 * processor has them), against a dense computation in
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

#include "base/fp16.h"
#include "base/threadpool.h"
#include "cpu/cpu_features.h"
#include "cpu/matmul_kernels.h"
#include "cpu/silu.h"
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
        for (int impl = EF_SPARSE_REF; impl < EF_SPARSE_N_IMPL; impl++) {
            if (!ef_cpu_sparse_impl_ok(impl, k_types[ti])) continue;
            for (int p = 0; p < 2; p++) {
                memset(y, 0, sizeof y);
                ef_cpu_sparse_rows_with(p ? pool2 : NULL, impl, &w.t, x, idx, n_idx, y);
                for (int32_t k = 0; k < n_idx; k++) assert_float_equal(y[k], ref[k], 1e-4f * (1.0f + fabsf(ref[k])));
            }
#if defined(__aarch64__)
            /* NEON F32/F16 rows are summed as the dense NEON GEMV sums a row: its bits */
            if (impl == EF_SPARSE_NEON && (k_types[ti] == EF_TYPE_F32 || k_types[ti] == EF_TYPE_F16)) {
                float dense[200];
                ef_cpu_gemv_neon(&w.t, x, dense, 0, n_ff);
                for (int32_t k = 0; k < n_idx; k++) assert_true(y[k] == dense[idx[k]]);
            }
#endif
        }
        free_weight(&w);
    }
    ef_pool_free(pool2);
}

/* The summation order every SIMD accumulation keeps (AVX2, AVX-512, NEON),
 * in scalar C: per part (from zero), F32/F16: y[o] = fma(a_k, D[idx_k][o],
 * y[o]) for k ascending; Q8_0/Q4_0: per block of 32 neurons
 * t[o] = fma(a_k, code_k[o], t[o]) from zero over its active rows, then
 * y[o] = fma(scale[o], t[o], y[o]); the parts are then added in order. */
static void accum_fma_order(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t n_idx, float *y) {
    int32_t bounds[EF_SPARSE_MAX_PARTS + 1];
    const int32_t n_parts = ef_cpu_sparse_parts(d, idx, n_idx, bounds);
    float part[1024], t[1024]; /* [n_out] */
    assert_true(d->n_out <= 1024);
    for (int32_t p = 0; p < n_parts; p++) {
        memset(part, 0, sizeof part);
        for (int32_t k = bounds[p]; k < bounds[p + 1];) {
            const uint8_t *row = d->rows + (uint64_t)idx[k] * d->row_bytes;
            if (d->type == EF_TYPE_F32 || d->type == EF_TYPE_F16) {
                for (int64_t o = 0; o < d->n_out; o++)
                    part[o] = fmaf(a[k], d->type == EF_TYPE_F32 ? ((const float *)row)[o]
                                                                : ef_f16_to_f32(((const uint16_t *)row)[o]), part[o]);
                k++;
                continue;
            }
            const int32_t b = idx[k] / 32;
            memset(t, 0, sizeof t);
            for (; k < bounds[p + 1] && idx[k] / 32 == b; k++) {
                row = d->rows + (uint64_t)idx[k] * d->row_bytes;
                for (int64_t o = 0; o < d->n_out; o++) {
                    const uint8_t byte = row[(o / 32) * 16 + (o % 16)];
                    const float code = d->type == EF_TYPE_Q8_0 ? (float)(int8_t)row[o]
                                                               : (float)((o % 32 < 16 ? byte & 0x0F : byte >> 4) - 8);
                    t[o] = fmaf(a[k], code, t[o]);
                }
            }
            for (int64_t o = 0; o < d->n_out; o++) part[o] = fmaf(ef_f16_to_f32(d->scales[b * d->n_out + o]), t[o], part[o]);
        }
        for (int64_t o = 0; o < d->n_out; o++) y[o] = p == 0 ? part[o] : y[o] + part[o];
    }
}

/* The neuron-row layout of ffn_down holds the original's columns exactly;
 * accum through it: y = Σ_k a[k] · down[:, idx[k]], summed in parts (about
 * 280 active neurons: 5 parts) whose bits do not depend on the thread count. */
static void test_accum_neuron_rows(void **state) {
    (void)state;
    ef_pool *pool2 = NULL, *pool3 = NULL;
    assert_int_equal(ef_pool_create(2, &pool2), EF_OK);
    assert_int_equal(ef_pool_create(3, &pool3), EF_OK);
    enum { N_FF = 512, N_EMBD = 160 }; /* down: {n_ff, n_embd}; neuron rows of n_embd (5 groups of 32) */
    float *scratch = malloc(sizeof(float) * (size_t)ef_cpu_sparse_accum_scratch(N_EMBD));
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        const uint32_t type = k_types[ti];
        weight down;
        make_weight(&down, type, N_FF, N_EMBD);
        assert_int_equal(ef_cpu_sparse_down_type(&down.t), type); /* each keeps its own codes */
        const uint64_t bytes = ef_cpu_sparse_down_bytes(&down.t);
        void *buf = malloc((size_t)bytes);
        ef_sparse_down d;
        assert_int_equal(ef_cpu_sparse_down_build(&down.t, buf, &d), EF_OK);
        /* every neuron's column, read back through the scalar kernel with one active neuron */
        float col[N_EMBD];
        for (int32_t j = 0; j < N_FF; j++) {
            const float one = 1.0f;
            ef_cpu_sparse_accum_with(NULL, 0, &d, &j, &one, 1, col, scratch);
            for (int64_t o = 0; o < N_EMBD; o++) assert_true(col[o] == down.deq[o * N_FF + j]);
        }
        float a[N_FF], y[N_EMBD], y1[N_EMBD];
        double ref[N_EMBD];
        int32_t idx[N_FF];
        const int32_t n_idx = make_mask(N_FF, idx);
        /* the parts: several, ascending, covering the list, whole blocks of 32 for the quantized types */
        int32_t bounds[EF_SPARSE_MAX_PARTS + 1];
        const int32_t n_parts = ef_cpu_sparse_parts(&d, idx, n_idx, bounds);
        assert_true(n_parts >= 4 && n_parts <= EF_SPARSE_MAX_PARTS);
        assert_int_equal(bounds[0], 0);
        assert_int_equal(bounds[n_parts], n_idx);
        for (int32_t p = 1; p < n_parts; p++) {
            assert_true(bounds[p] > bounds[p - 1]);
            if (type == EF_TYPE_Q8_0 || type == EF_TYPE_Q4_0) assert_true(idx[bounds[p]] / 32 != idx[bounds[p] - 1] / 32);
        }
        for (int32_t k = 0; k < n_idx; k++) a[k] = frand();
        for (int64_t o = 0; o < N_EMBD; o++) { /* reference over the original weight */
            ref[o] = 0;
            for (int32_t k = 0; k < n_idx; k++) ref[o] += (double)a[k] * down.deq[o * N_FF + idx[k]];
        }
        float y_fma[N_EMBD];
        accum_fma_order(&d, idx, a, n_idx, y_fma);
        int n_simd = 0;
        for (int impl = EF_SPARSE_REF; impl < EF_SPARSE_N_IMPL; impl++) {
            if (!ef_cpu_sparse_impl_ok(impl, type)) continue;
            for (int p = 0; p < 3; p++) {
                for (int64_t o = 0; o < N_EMBD; o++) y[o] = 1e30f; /* must be overwritten */
                ef_cpu_sparse_accum_with(p == 0 ? NULL : p == 1 ? pool2 : pool3, impl, &d, idx, a, n_idx, y, scratch);
                for (int64_t o = 0; o < N_EMBD; o++)
                    assert_float_equal(y[o], ref[o], 1e-4f * (1.0f + fabsf((float)ref[o])));
                if (p == 0) memcpy(y1, y, sizeof y);
                else assert_memory_equal(y, y1, sizeof y); /* 2 and 3 threads: the same bits as 1 */
            }
            /* every SIMD level sums each output in one order (so AVX-512, AVX2 and NEON agree bit for bit) */
            if (impl != EF_SPARSE_REF) {
                assert_memory_equal(y1, y_fma, sizeof y1);
                n_simd++;
            }
            /* no active neuron: zeros */
            ef_cpu_sparse_accum_with(pool2, impl, &d, idx, a, 0, y, scratch);
            for (int64_t o = 0; o < N_EMBD; o++) assert_true(y[o] == 0.0f);
        }
#if defined(__aarch64__)
        assert_true(n_simd >= 1); /* the NEON kernels ran */
#elif defined(__x86_64__)
        assert_true(n_simd >= (ef_cpu_simd_x86(ef_cpu_simd_supported()) ? 1 : 0));
#endif
        (void)n_simd;
        free(buf);
        free_weight(&down);
    }
    free(scratch);
    ef_pool_free(pool2);
    ef_pool_free(pool3);
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
        float scratch[7 * 64]; /* [ef_cpu_sparse_accum_scratch(n_embd)] */
        assert_true(ef_cpu_sparse_accum_scratch(n_embd) <= 7 * 64);
        ef_cpu_sparse_accum(NULL, &d, idx, h, n_idx, y, scratch);
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

/* The fused gate pass: the same active list and the same bits as the gate
 * rows, activation, compaction and up rows done one after the other with
 * the same implementation; 1 and 2 threads alike; SiLU and ReLU. */
static void test_fused_gate_up(void **state) {
    (void)state;
    ef_pool *pool2 = NULL;
    assert_int_equal(ef_pool_create(2, &pool2), EF_OK);
    enum { IN = 64, N_FF = 300 }; /* 300: four whole chunks of 64 and a short one */
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        weight gate, up;
        make_weight(&gate, k_types[ti], IN, N_FF);
        make_weight(&up, k_types[ti], IN, N_FF);
        float x[IN];
        for (int i = 0; i < IN; i++) x[i] = frand();
        for (int relu = 0; relu <= 1; relu++)
            for (int impl = EF_SPARSE_REF; impl < EF_SPARSE_N_IMPL; impl++) {
                if (!ef_cpu_sparse_impl_ok(impl, k_types[ti])) continue;
                /* one step after the other */
                int32_t all[N_FF], idx_ref[N_FF], n_ref = 0;
                float act_ref[N_FF], h_ref[N_FF];
                for (int j = 0; j < N_FF; j++) all[j] = j;
                ef_cpu_sparse_rows_with(NULL, impl, &gate.t, x, all, N_FF, act_ref);
                const float thr = relu ? 0.05f : 0.1f;
                for (int j = 0; j < N_FF; j++) {
                    const float g = act_ref[j];
                    act_ref[j] = relu ? (g > 0.0f ? g : 0.0f) : ef_silu_ref(g); /* every SiLU level has its bits */
                    if (relu ? act_ref[j] > thr : fabsf(act_ref[j]) >= thr) idx_ref[n_ref++] = j;
                }
                assert_true(n_ref > 20 && n_ref < N_FF - 20);
                ef_cpu_sparse_rows_with(NULL, impl, &up.t, x, idx_ref, n_ref, h_ref);
                for (int k = 0; k < n_ref; k++) h_ref[k] *= act_ref[idx_ref[k]];
                /* fused, 1 and 2 threads */
                const ef_sparse_gate_up g = {.gate = &gate.t, .up = &up.t, .x = x, .thr = thr, .relu = relu};
                for (int p = 0; p < 2; p++) {
                    float act[N_FF], h[N_FF];
                    int32_t idx[N_FF], count[N_FF / EF_SPARSE_GATE_CHUNK + 1];
                    const int32_t n = ef_cpu_sparse_gate_up(p ? pool2 : NULL, impl, &g, act, idx, h, count);
                    assert_int_equal(n, n_ref);
                    assert_memory_equal(idx, idx_ref, sizeof(int32_t) * (size_t)n);
                    assert_memory_equal(h, h_ref, sizeof(float) * (size_t)n);
                    assert_memory_equal(act, act_ref, sizeof act);
                }
            }
        free_weight(&gate);
        free_weight(&up);
    }
    ef_pool_free(pool2);
}

/* Other types and widths fall back to F16 neuron rows. */
static void test_fallback_layout(void **state) {
    (void)state;
    /* n_out 40: not whole groups of 32 (and an 8-wide tail for 16 lanes); 44: a 4-wide tail for 8 lanes too */
    static const int64_t widths[] = {40, 44};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int64_t n_out = widths[wi];
        weight w;
        make_weight(&w, EF_TYPE_Q8_0, 64, n_out);
        assert_int_equal(ef_cpu_sparse_down_type(&w.t), EF_TYPE_F16);
        void *buf = malloc((size_t)ef_cpu_sparse_down_bytes(&w.t));
        ef_sparse_down d;
        assert_int_equal(ef_cpu_sparse_down_build(&w.t, buf, &d), EF_OK);
        float col[44], scratch[7 * 44], y_fma[44];
        const float one = 1.0f;
        const int32_t j = 5;
        accum_fma_order(&d, &j, &one, 1, y_fma);
        for (int impl = EF_SPARSE_REF; impl < EF_SPARSE_N_IMPL; impl++) {
            if (!ef_cpu_sparse_impl_ok(impl, EF_TYPE_F16)) continue;
            ef_cpu_sparse_accum_with(NULL, impl, &d, &j, &one, 1, col, scratch);
            for (int o = 0; o < n_out; o++) assert_float_equal(col[o], w.deq[o * 64 + j], 1e-3f * (1 + fabsf(col[o])));
            if (impl != EF_SPARSE_REF) assert_memory_equal(col, y_fma, sizeof(float) * (size_t)n_out);
        }
        /* several rows over the tails: the SIMD order */
        int32_t idx[40];
        float a[40], y[44];
        for (int k = 0; k < 40; k++) {
            idx[k] = k + (k > 20 ? 3 : 0);
            a[k] = frand();
        }
        accum_fma_order(&d, idx, a, 40, y_fma);
        for (int impl = EF_SPARSE_AVX2; impl < EF_SPARSE_N_IMPL; impl++) {
            if (!ef_cpu_sparse_impl_ok(impl, EF_TYPE_F16)) continue;
            ef_cpu_sparse_accum_with(NULL, impl, &d, idx, a, 40, y, scratch);
            assert_memory_equal(y, y_fma, sizeof(float) * (size_t)n_out);
        }
        free(buf);
        free_weight(&w);
    }
    assert_true(ef_cpu_sparse_type_ok(EF_TYPE_Q4_K));
    assert_false(ef_cpu_sparse_type_ok(EF_TYPE_IQ2_XXS));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_accum_neuron_rows),
        cmocka_unit_test(test_masked_ffn_matches_dense_reference),
        cmocka_unit_test(test_fused_gate_up),
        cmocka_unit_test(test_fallback_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
