/* The flash-attention kernels (tiled prefill, split-KV decode) against a
 * direct double-precision attention on random inputs, for odd and tile-edge
 * sizes, several head dims and GQA ratios, with F32 and F16 caches; and the
 * determinism they promise: the same bits for 1 and 2 threads, for the
 * prefill and decode paths, and for a token whether it comes alone or in a
 * batch. Each check runs with the scalar reference kernels and again with
 * the SIMD ones where this CPU and build have them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "cpu/cpu_features.h"
#include "cpu/cpu_ops.h"
#include "quant/types.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 4503599627370496.0 - 1.0);
}

/* One test case's buffers. */
typedef struct {
    ef_attn_shape s;
    int32_t n_kv;
    uint32_t kv_type;
    float *q;           /* [n_tok][n_head*hd] */
    void *k, *v;        /* [n_kv][n_head_kv*hd] of kv_type */
    double *kd, *vd;    /* [n_kv][n_head_kv*hd] the cache values as the kernel reads them */
    double *want;       /* [n_tok][n_head*hd] */
    float *scratch;     /* [2][scratch_floats] (room for two workers) */
    float *partial;     /* [partial_floats] */
} attn_case;

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    assert_non_null(p);
    return p;
}

static void case_init(attn_case *c, int32_t n_tok, int32_t n_past, int32_t group, int32_t head_dim,
                      uint32_t kv_type) {
    const int32_t n_head_kv = 2;
    c->s = (ef_attn_shape){n_tok, n_past, n_head_kv * group, n_head_kv, head_dim};
    c->n_kv = n_past + n_tok;
    c->kv_type = kv_type;
    const size_t nq = (size_t)n_tok * c->s.n_head * head_dim, nkv = (size_t)c->n_kv * n_head_kv * head_dim;
    c->q = xcalloc(nq, sizeof(float));
    c->k = xcalloc(nkv, sizeof(float));
    c->v = xcalloc(nkv, sizeof(float));
    c->kd = xcalloc(nkv, sizeof(double));
    c->vd = xcalloc(nkv, sizeof(double));
    c->want = xcalloc(nq, sizeof(double));
    c->scratch = xcalloc(2 * ef_cpu_flash_scratch_floats(&c->s), sizeof(float));
    c->partial = xcalloc(ef_cpu_flash_partial_floats(&c->s, c->n_kv, n_tok), sizeof(float));
    for (size_t i = 0; i < nq; i++) c->q[i] = 3.0f * frand(); /* peaky softmax */
    for (size_t i = 0; i < nkv; i++) {
        float k = frand(), v = frand();
        if (kv_type == EF_TYPE_F16) {
            ((uint16_t *)c->k)[i] = ef_f32_to_f16(k);
            ((uint16_t *)c->v)[i] = ef_f32_to_f16(v);
            c->kd[i] = ef_f16_to_f32(((uint16_t *)c->k)[i]);
            c->vd[i] = ef_f16_to_f32(((uint16_t *)c->v)[i]);
        } else {
            ((float *)c->k)[i] = k;
            ((float *)c->v)[i] = v;
            c->kd[i] = k;
            c->vd[i] = v;
        }
    }
}

static void case_free(attn_case *c) {
    free(c->q), free(c->k), free(c->v), free(c->kd), free(c->vd), free(c->want);
    free(c->scratch), free(c->partial);
}

/* softmax(q·kᵀ/√d) v per token and head, causal, in double. */
static void attention_direct(attn_case *c) {
    const ef_attn_shape *s = &c->s;
    const int32_t hd = s->head_dim, group = s->n_head / s->n_head_kv;
    double *w = xcalloc((size_t)c->n_kv, sizeof(double)); /* [n_kv] */
    for (int32_t t = 0; t < s->n_tok; t++)
        for (int32_t h = 0; h < s->n_head; h++) {
            const int32_t kvh = h / group, n_seen = s->n_past + t + 1;
            const float *q = c->q + ((size_t)t * s->n_head + h) * hd;
            double mx = -INFINITY, sum = 0;
            for (int32_t p = 0; p < n_seen; p++) {
                const double *k = c->kd + ((size_t)p * s->n_head_kv + kvh) * hd;
                double d = 0;
                for (int32_t i = 0; i < hd; i++) d += (double)q[i] * k[i];
                w[p] = d / sqrt((double)hd);
                if (w[p] > mx) mx = w[p];
            }
            for (int32_t p = 0; p < n_seen; p++) sum += (w[p] = exp(w[p] - mx));
            double *o = c->want + ((size_t)t * s->n_head + h) * hd;
            for (int32_t i = 0; i < hd; i++) {
                double acc = 0;
                for (int32_t p = 0; p < n_seen; p++) acc += w[p] * c->vd[((size_t)p * s->n_head_kv + kvh) * hd + i];
                o[i] = acc / sum;
            }
        }
    free(w);
}

typedef enum { PATH_PREFILL, PATH_DECODE } attn_path;

static void run_path(attn_case *c, ef_pool *pool, attn_path path, float *out) {
    const void *k_page, *v_page;
    const int32_t width = c->s.n_head_kv * c->s.head_dim;
    const ef_kv_view kv = {ef_kv_rows_contiguous(c->kv_type, width, c->n_kv, c->k, &k_page),
                           ef_kv_rows_contiguous(c->kv_type, width, c->n_kv, c->v, &v_page)};
    if (path == PATH_PREFILL) ef_cpu_flash_attn_prefill(pool, &c->s, c->q, &kv, c->scratch, out);
    else ef_cpu_flash_attn_decode(pool, &c->s, c->q, &kv, c->scratch, c->partial, out);
}

static ef_pool *g_pool2;

/* Both paths, 1 and 2 threads: all four the same bits, and close to direct. */
static void check_case(int32_t n_tok, int32_t n_past, int32_t group, int32_t head_dim, uint32_t kv_type) {
    attn_case c;
    case_init(&c, n_tok, n_past, group, head_dim, kv_type);
    attention_direct(&c);
    const size_t nq = (size_t)n_tok * c.s.n_head * head_dim;
    float *outs[4];
    for (int i = 0; i < 4; i++) {
        outs[i] = xcalloc(nq, sizeof(float));
        run_path(&c, i % 2 ? g_pool2 : NULL, i < 2 ? PATH_PREFILL : PATH_DECODE, outs[i]);
    }
    double max_err = 0;
    for (size_t i = 0; i < nq; i++) {
        double err = fabs(outs[0][i] - c.want[i]);
        if (!(err <= max_err)) max_err = err; /* NaN lands here too */
    }
    print_message("  n_tok %3d n_past %3d group %d hd %2d %s: max |err| %.2e\n", (int)n_tok, (int)n_past,
                  (int)group, (int)head_dim, kv_type == EF_TYPE_F16 ? "f16" : "f32", max_err);
    /* F32 sums of ≤ 1000 terms of magnitude ≤ 1: observed ≤ 5e-7, so 4x headroom. */
    assert_true(max_err < 2e-6);
    for (int i = 1; i < 4; i++) assert_memory_equal(outs[0], outs[i], nq * sizeof(float));
    for (int i = 0; i < 4; i++) free(outs[i]);
    case_free(&c);
}

static const int32_t k_head_dims[] = {32, 64, 80};
static const int32_t k_groups[] = {1, 2, 4};

/* Every n_tok of the brief at cache lengths across tile (64) and chunk (256)
 * edges, up to 1000 positions, cycling head dims and GQA ratios. */
static void check_all_sizes(uint32_t kv_type) {
    static const int32_t cases[][2] = { /* {n_tok, n_past} */
        {1, 0},  {1, 61},  {1, 256},  {1, 870},  {3, 0},   {3, 61},    {3, 256},  {3, 870},
        {63, 0}, {63, 61}, {64, 0},   {64, 256}, {65, 61}, {65, 870},  {130, 0},  {130, 256}};
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        check_case(cases[i][0], cases[i][1], k_groups[i % 3], k_head_dims[(i / 3) % 3], kv_type);
    /* and every head dim with every ratio at least once, decode-sized */
    for (int g = 0; g < 3; g++)
        for (int d = 0; d < 3; d++) check_case(1 + g, 700 + 37 * d, k_groups[g], k_head_dims[d], kv_type);
    check_case(1, 999, 4, 80, kv_type); /* n_kv exactly 1000 */
    /* head dims that are not a multiple of 8 (the SIMD kernels' tails) */
    check_case(5, 300, 2, 20, kv_type);
    check_case(1, 500, 1, 12, kv_type);
    check_case(70, 10, 4, 4, kv_type);
}

/* Runs check(kv_type) with the scalar kernels, then with the best this CPU
 * has (if better). */
static void at_each_simd_level(void (*check)(uint32_t), uint32_t kv_type) {
    const ef_cpu_simd levels[2] = {EF_CPU_SIMD_SCALAR, ef_cpu_simd_supported()};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && levels[1] == levels[0]) break;
        ef_cpu_simd_force((int)levels[i]);
        assert_int_equal(ef_cpu_simd_active(), levels[i]);
        print_message("  -- %s kernels\n", ef_cpu_simd_name(levels[i]));
        check(kv_type);
    }
    ef_cpu_simd_force(-1);
}

static void test_sizes_f32(void **state) { (void)state; at_each_simd_level(check_all_sizes, EF_TYPE_F32); }
static void test_sizes_f16(void **state) { (void)state; at_each_simd_level(check_all_sizes, EF_TYPE_F16); }

/* A token's result does not depend on the batch it came in: row t of a
 * 130-token call equals that token computed alone (n_tok 1 at n_past + t) and
 * in a 3-token call. */
static void check_batch_invariance(uint32_t kv_type) {
    attn_case c;
    case_init(&c, 130, 300, 2, 64, kv_type);
    const int32_t row = c.s.n_head * c.s.head_dim;
    float *whole = xcalloc((size_t)130 * row, sizeof(float));
    float *part = xcalloc((size_t)3 * row, sizeof(float));
    run_path(&c, g_pool2, PATH_PREFILL, whole);
    const ef_attn_shape whole_shape = c.s;
    const float *q_all = c.q;
    static const int32_t starts[] = {0, 1, 63, 64, 100, 127};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        for (int32_t n = 1; n <= 3; n += 2) {
            c.s.n_tok = n;
            c.s.n_past = whole_shape.n_past + starts[i];
            c.q = (float *)q_all + (size_t)starts[i] * row;
            run_path(&c, NULL, PATH_DECODE, part);
            assert_memory_equal(part, whole + (size_t)starts[i] * row, (size_t)n * row * sizeof(float));
            run_path(&c, g_pool2, PATH_PREFILL, part);
            assert_memory_equal(part, whole + (size_t)starts[i] * row, (size_t)n * row * sizeof(float));
        }
    }
    c.q = (float *)q_all;
    free(whole);
    free(part);
    case_free(&c);
}

static void test_batch_invariance_f32(void **state) { (void)state; at_each_simd_level(check_batch_invariance, EF_TYPE_F32); }
static void test_batch_invariance_f16(void **state) { (void)state; at_each_simd_level(check_batch_invariance, EF_TYPE_F16); }

/* The flash kernel agrees with the reference kernel (ef_cpu_attention). */
static void test_matches_reference_kernel(void **state) {
    (void)state;
    attn_case c;
    case_init(&c, 65, 200, 4, 32, EF_TYPE_F32);
    const size_t nq = (size_t)65 * c.s.n_head * 32;
    float *ref = xcalloc(nq, sizeof(float)), *got = xcalloc(nq, sizeof(float));
    float *scores = xcalloc((size_t)c.s.n_head * c.n_kv, sizeof(float)); /* [n_head][n_kv] */
    ef_cpu_attention(NULL, &c.s, c.q, c.k, c.v, scores, ref);
    const void *k_page, *v_page;
    const int32_t width = c.s.n_head_kv * c.s.head_dim;
    const ef_kv_view kv = {ef_kv_rows_contiguous(EF_TYPE_F32, width, c.n_kv, c.k, &k_page),
                           ef_kv_rows_contiguous(EF_TYPE_F32, width, c.n_kv, c.v, &v_page)};
    ef_cpu_flash_attn(g_pool2, &c.s, c.q, &kv, c.scratch, NULL, got);
    for (size_t i = 0; i < nq; i++) assert_true(fabsf(ref[i] - got[i]) < 1e-5f);
    free(ref), free(got), free(scores);
    case_free(&c);
}

/* Scratch does not grow with the cache: only the partials do, by chunk. */
static void test_scratch_sizes(void **state) {
    (void)state;
    const ef_attn_shape s = {1, 0, 8, 2, 64};
    assert_true(ef_cpu_flash_scratch_floats(&s) < 64 * 1024);
    assert_int_equal(ef_cpu_flash_partial_floats(&s, 1, 1), (size_t)8 * 66);
    assert_int_equal(ef_cpu_flash_partial_floats(&s, EF_FLASH_KV_CHUNK, 1), (size_t)8 * 66);
    assert_int_equal(ef_cpu_flash_partial_floats(&s, EF_FLASH_KV_CHUNK + 1, 3), (size_t)2 * 3 * 8 * 66);
}

static int setup(void **state) {
    (void)state;
    return ef_pool_create(2, &g_pool2) == EF_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ef_pool_free(g_pool2);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_f32),
        cmocka_unit_test(test_sizes_f16),
        cmocka_unit_test(test_batch_invariance_f32),
        cmocka_unit_test(test_batch_invariance_f16),
        cmocka_unit_test(test_matches_reference_kernel),
        cmocka_unit_test(test_scratch_sizes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
