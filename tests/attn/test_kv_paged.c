/* Paged and quantized KV rows (backends/cpu/kv_rows.h) in the CPU attention
 * kernels. The same cache split into pages (1, 16, 17 or 64 rows, each page
 * allocated on its own at scattered addresses) gives the very same bits as
 * the one-page view, for the flash prefill and split-KV decode paths, the
 * windowed attention over a ring with sinks, and MLA's absorbed shape (K and
 * V the same latent rows). A Q8_0/Q4_0 cache gives the same bits as an F32
 * cache holding the values lib/quant dequantizes from its rows. The row
 * writer and loaders agree with lib/quant's quantizers and dequantizers.
 * Each kernel check runs with the scalar kernels and with the SIMD ones. */
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
#include "cpu/kv_rows.h"
#include "cpu/mla_ops.h"
#include "quant/types.h"

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 4503599627370496.0 - 1.0);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    assert_non_null(p);
    return p;
}

static ef_pool *g_pool2;

/* ---- caches ---- */

/* A cache in one contiguous buffer, and its values as F32. */
typedef struct {
    uint32_t type;
    int32_t width;
    int64_t n_rows;
    void *data;        /* [n_rows][row_bytes] */
    float *values;     /* [n_rows][width] what lib/quant's to_float reads from data */
    const void *slot;  /* the one-page view's page pointer */
    ef_kv_rows rows;   /* one-page view of data */
} cache;

/* Random rows of `type` (written with ef_kv_row_store), with a spread of
 * magnitudes across blocks so the quantized scales differ. */
static void cache_init(cache *c, uint32_t type, int32_t width, int64_t n_rows) {
    c->type = type;
    c->width = width;
    c->n_rows = n_rows;
    const size_t rb = ef_kv_row_bytes(type, width);
    assert_true(rb > 0);
    c->data = xcalloc((size_t)n_rows, rb);
    c->values = xcalloc((size_t)n_rows * (size_t)width, sizeof(float));
    float *src = xcalloc((size_t)width, sizeof(float)); /* [width] */
    for (int64_t r = 0; r < n_rows; r++) {
        for (int32_t i = 0; i < width; i++) src[i] = frand() * (1.0f + (float)((r + i / 32) % 5));
        ef_kv_row_store(type, src, width, (char *)c->data + (size_t)r * rb);
        ef_type_get(type)->to_float((char *)c->data + (size_t)r * rb, c->values + r * width, width);
    }
    free(src);
    c->rows = ef_kv_rows_contiguous(type, width, n_rows, c->data, &c->slot);
}

static void cache_free(cache *c) { free(c->data), free(c->values); }

/* The same rows copied into pages of page_rows rows, each allocated on its
 * own, in reverse order with other allocations between them, so pages lie
 * at scattered, non-monotonic addresses. Unused rows of the last page hold
 * 0xFF bytes (NaN in F32, F16 and as a Q8_0/Q4_0 scale): a read past the
 * cache would show in the result. */
typedef struct {
    ef_kv_rows rows;
    void **pages;      /* [n_pages] */
    void **junk;       /* [n_pages] allocations between the pages */
} paged;

static paged paged_copy(const ef_kv_rows *src, int64_t n_rows, int32_t page_rows) {
    paged p;
    const int64_t n_pages = (n_rows + page_rows - 1) / page_rows;
    const size_t page_bytes = (size_t)page_rows * src->row_bytes;
    p.pages = xcalloc((size_t)n_pages, sizeof(void *));
    p.junk = xcalloc((size_t)n_pages, sizeof(void *));
    for (int64_t i = n_pages - 1; i >= 0; i--) {
        p.junk[i] = xcalloc(1 + (size_t)(i * 37 % 200), 1);
        p.pages[i] = malloc(page_bytes);
        assert_non_null(p.pages[i]);
        memset(p.pages[i], 0xFF, page_bytes);
        for (int64_t r = 0; r < page_rows && i * page_rows + r < n_rows; r++)
            memcpy((char *)p.pages[i] + (size_t)r * src->row_bytes, ef_kv_row(src, i * page_rows + r), src->row_bytes);
    }
    p.rows = *src;
    p.rows.page_rows = page_rows;
    p.rows.n_pages = n_pages;
    p.rows.pages = (const void *const *)p.pages;
    return p;
}

static void paged_free(paged *p) {
    for (int64_t i = 0; i < p->rows.n_pages; i++) free(p->pages[i]), free(p->junk[i]);
    free(p->pages), free(p->junk);
}

/* An F32 cache holding c's values (what the quantized rows decode to). */
static ef_kv_rows values_view(const cache *c, const void **slot) {
    return ef_kv_rows_contiguous(EF_TYPE_F32, c->width, c->n_rows, c->values, slot);
}

static float *random_floats(size_t n, float amp) {
    float *x = xcalloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = amp * frand();
    return x;
}

/* ---- kernel runs ---- */

typedef enum { PATH_PREFILL, PATH_DECODE } attn_path;

/* out: [n_tok][n_head*head_dim] = flash attention of q over (k, v). */
static void run_flash(const ef_attn_shape *s, const float *q, const ef_kv_rows *k, const ef_kv_rows *v,
                      attn_path path, float *out) {
    const int32_t n_kv = s->n_past + s->n_tok;
    float *scratch = xcalloc(2 * ef_cpu_flash_scratch_floats(s), sizeof(float));       /* 2 workers */
    float *partial = xcalloc(ef_cpu_flash_partial_floats(s, n_kv, s->n_tok), sizeof(float));
    const ef_kv_view kv = {*k, *v};
    if (path == PATH_PREFILL) ef_cpu_flash_attn_prefill(g_pool2, s, q, &kv, scratch, out);
    else ef_cpu_flash_attn_decode(g_pool2, s, q, &kv, scratch, partial, out);
    free(scratch), free(partial);
}

/* out: [n_tok][n_head][dv] = ef_cpu_attn_ext of q with a's shape over (k, v). */
static void run_ext(const ef_attn_ext *shape, const float *q, const ef_kv_rows *k, const ef_kv_rows *v,
                    float *out) {
    ef_attn_ext a = *shape;
    a.k = *k;
    a.v = *v;
    float *scratch = xcalloc(2 * (size_t)ef_cpu_attn_ext_scratch_floats(&a), sizeof(float)); /* 2 workers */
    ef_cpu_attn_ext(g_pool2, &a, q, scratch, out);
    free(scratch);
}

/* No NaN leaked in (e.g. from a page's unused rows) and the result is not trivial. */
static void assert_sane(const float *x, size_t n) {
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        assert_false(isnan(x[i]));
        nonzero |= x[i] != 0.0f;
    }
    assert_true(nonzero);
}

/* Runs check(type) with the scalar kernels, then with the best this CPU has. */
static void at_each_simd_level(void (*check)(uint32_t), uint32_t type) {
    const ef_cpu_simd levels[2] = {EF_CPU_SIMD_SCALAR, ef_cpu_simd_supported()};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && levels[1] == levels[0]) break;
        ef_cpu_simd_force((int)levels[i]);
        assert_int_equal(ef_cpu_simd_active(), levels[i]);
        check(type);
    }
    ef_cpu_simd_force(-1);
}

static const int32_t k_page_rows[] = {1, 16, 17, 64};
enum { N_PAGE_ROWS = sizeof k_page_rows / sizeof k_page_rows[0] };

/* ---- flash attention over pages ---- */

/* GQA shapes {n_head_kv, group, head_dim} and the (n_tok, n_past) of each call. */
static const int32_t k_gqa[][3] = {{2, 2, 64}, {1, 4, 32}, {2, 3, 40}};
static const int32_t k_calls[][2] = {{70, 0}, {1, 0}, {3, 63}, {1, 200}, {2, 256}, {20, 300}, {1, 600}};
enum { N_GQA = sizeof k_gqa / sizeof k_gqa[0], N_CALLS = sizeof k_calls / sizeof k_calls[0], MAX_KV = 601 };

static void check_flash_pages(uint32_t type) {
    for (int g = 0; g < N_GQA; g++) {
        const int32_t n_head_kv = k_gqa[g][0], group = k_gqa[g][1], hd = k_gqa[g][2];
        const int32_t width = n_head_kv * hd;
        cache k, v;
        cache_init(&k, type, width, MAX_KV);
        cache_init(&v, type, width, MAX_KV);
        paged kp[N_PAGE_ROWS], vp[N_PAGE_ROWS];
        for (int i = 0; i < N_PAGE_ROWS; i++) {
            kp[i] = paged_copy(&k.rows, MAX_KV, k_page_rows[i]);
            vp[i] = paged_copy(&v.rows, MAX_KV, k_page_rows[(i + 1) % N_PAGE_ROWS]); /* K, V paged differently */
        }
        for (int c = 0; c < N_CALLS; c++) {
            const ef_attn_shape s = {k_calls[c][0], k_calls[c][1], n_head_kv * group, n_head_kv, hd};
            const size_t n_out = (size_t)s.n_tok * s.n_head * hd;
            float *q = random_floats(n_out, 2.0f); /* [n_tok][n_head*hd] */
            float *want = xcalloc(n_out, sizeof(float)), *got = xcalloc(n_out, sizeof(float));
            for (attn_path path = PATH_PREFILL; path <= PATH_DECODE; path++) {
                run_flash(&s, q, &k.rows, &v.rows, path, want);
                assert_sane(want, n_out);
                for (int i = 0; i < N_PAGE_ROWS; i++) {
                    run_flash(&s, q, &kp[i].rows, &vp[i].rows, path, got);
                    assert_memory_equal(got, want, n_out * sizeof(float));
                }
            }
            free(q), free(want), free(got);
        }
        for (int i = 0; i < N_PAGE_ROWS; i++) paged_free(&kp[i]), paged_free(&vp[i]);
        cache_free(&k), cache_free(&v);
    }
}

static void test_flash_pages_f32(void **state) { (void)state; at_each_simd_level(check_flash_pages, EF_TYPE_F32); }
static void test_flash_pages_f16(void **state) { (void)state; at_each_simd_level(check_flash_pages, EF_TYPE_F16); }

/* ---- windowed attention with sinks over a ring ---- */

enum { RING_SINKS = 4, RING_WINDOW = 40, RING_ROWS = 50 };

/* (n_tok, n_past) of the ring calls: before, at and long after the wrap. */
static const int32_t k_ring_calls[][2] = {{5, 0}, {3, 44}, {1, 49}, {4, 300}, {1, 777}};
enum { N_RING_CALLS = sizeof k_ring_calls / sizeof k_ring_calls[0] };

/* The window shape: GQA 4/2, dk 64, dv 32 (K and V heads of different size). */
static ef_attn_ext ring_shape(int32_t n_tok, int32_t n_past) {
    ef_attn_ext a;
    memset(&a, 0, sizeof a);
    a.n_tok = n_tok;
    a.n_past = n_past;
    a.n_head = 4;
    a.n_head_kv = 2;
    a.dk = 64;
    a.dv = 32;
    a.scale = 0.125f;
    a.window = RING_WINDOW;
    a.n_sinks = RING_SINKS;
    a.ring_rows = RING_ROWS;
    return a;
}

/* The window-with-sinks attention of a over F32 values k, v ([ring][n_head_kv*dk],
 * [ring][n_head_kv*dv]) in double, compared with out. */
static void check_ring_direct(const ef_attn_ext *a, const float *q, const float *k, const float *v,
                              const float *out) {
    const int32_t group = a->n_head / a->n_head_kv;
    double w[1024]; /* [visible positions] */
    for (int32_t t = 0; t < a->n_tok; t++)
        for (int32_t h = 0; h < a->n_head; h++) {
            const int64_t pos = (int64_t)a->n_past + t;
            const int32_t g = h / group;
            const float *qh = q + ((int64_t)t * a->n_head + h) * a->dk; /* [dk] */
            int64_t rows[1024];
            int32_t n = 0;
            double mx = -INFINITY, sum = 0;
            for (int64_t p = 0; p <= pos; p++) {
                if (pos - p >= a->window && p >= a->n_sinks) continue;
                assert_true(n < 1024);
                rows[n] = ef_attn_ring_row(p, a->ring_rows, a->n_sinks);
                double d = 0;
                for (int32_t i = 0; i < a->dk; i++) d += (double)qh[i] * k[rows[n] * a->n_head_kv * a->dk + g * a->dk + i];
                w[n] = d * a->scale;
                if (w[n] > mx) mx = w[n];
                n++;
            }
            for (int32_t j = 0; j < n; j++) sum += (w[j] = exp(w[j] - mx));
            for (int32_t i = 0; i < a->dv; i++) {
                double acc = 0;
                for (int32_t j = 0; j < n; j++) acc += w[j] * v[rows[j] * a->n_head_kv * a->dv + g * a->dv + i];
                assert_true(fabs(acc / sum - out[((int64_t)t * a->n_head + h) * a->dv + i]) < 1e-5);
            }
        }
}

static void check_ring_pages(uint32_t type) {
    cache k, v;
    cache_init(&k, type, 2 * 64, RING_ROWS);
    cache_init(&v, type, 2 * 32, RING_ROWS);
    for (int c = 0; c < N_RING_CALLS; c++) {
        const ef_attn_ext a = ring_shape(k_ring_calls[c][0], k_ring_calls[c][1]);
        const size_t n_out = (size_t)a.n_tok * a.n_head * a.dv;
        float *q = random_floats((size_t)a.n_tok * a.n_head * a.dk, 2.0f); /* [n_tok][n_head][dk] */
        float *want = xcalloc(n_out, sizeof(float)), *got = xcalloc(n_out, sizeof(float));
        run_ext(&a, q, &k.rows, &v.rows, want);
        assert_sane(want, n_out);
        check_ring_direct(&a, q, k.values, v.values, want);
        for (int i = 0; i < N_PAGE_ROWS; i++) {
            paged kp = paged_copy(&k.rows, RING_ROWS, k_page_rows[i]);
            paged vp = paged_copy(&v.rows, RING_ROWS, k_page_rows[N_PAGE_ROWS - 1 - i]);
            run_ext(&a, q, &kp.rows, &vp.rows, got);
            assert_memory_equal(got, want, n_out * sizeof(float));
            paged_free(&kp), paged_free(&vp);
        }
        free(q), free(want), free(got);
    }
    cache_free(&k), cache_free(&v);
}

static void test_ring_pages_f32(void **state) { (void)state; at_each_simd_level(check_ring_pages, EF_TYPE_F32); }
static void test_ring_pages_f16(void **state) { (void)state; at_each_simd_level(check_ring_pages, EF_TYPE_F16); }

/* ---- MLA's absorbed shape: one shared latent head, K = V = its rows ---- */

enum { MLA_LAT = 64, MLA_ROPE = 32, MLA_DA = MLA_LAT + MLA_ROPE, MLA_HEADS = 4, MLA_ROWS = 300 };

static void check_mla_pages(uint32_t type) {
    cache lat;
    cache_init(&lat, type, MLA_DA, MLA_ROWS);
    static const int32_t calls[][2] = {{70, 0}, {1, 150}, {3, 296}};
    for (int c = 0; c < 3; c++) {
        const int32_t n_tok = calls[c][0], n_past = calls[c][1];
        const size_t n_out = (size_t)n_tok * MLA_HEADS * MLA_DA;
        float *q = random_floats(n_out, 1.0f); /* [n_tok][H][da] */
        float *want = xcalloc(n_out, sizeof(float)), *got = xcalloc(n_out, sizeof(float));
        ef_attn_ext a;
        memset(&a, 0, sizeof a);
        a.n_tok = n_tok, a.n_past = n_past, a.n_head = MLA_HEADS, a.n_head_kv = 1;
        a.dk = a.dv = MLA_DA, a.scale = 0.1f;
        const ef_attn_shape s = {n_tok, n_past, MLA_HEADS, 1, MLA_DA};
        for (attn_path path = PATH_PREFILL; path <= PATH_DECODE; path++) {
            run_flash(&s, q, &lat.rows, &lat.rows, path, want);
            assert_sane(want, n_out);
            for (int i = 0; i < N_PAGE_ROWS; i++) {
                paged p = paged_copy(&lat.rows, MLA_ROWS, k_page_rows[i]);
                run_flash(&s, q, &p.rows, &p.rows, path, got);
                assert_memory_equal(got, want, n_out * sizeof(float));
                paged_free(&p);
            }
        }
        run_ext(&a, q, &lat.rows, &lat.rows, want);
        assert_sane(want, n_out);
        for (int i = 0; i < N_PAGE_ROWS; i++) {
            paged p = paged_copy(&lat.rows, MLA_ROWS, k_page_rows[i]);
            run_ext(&a, q, &p.rows, &p.rows, got);
            assert_memory_equal(got, want, n_out * sizeof(float));
            paged_free(&p);
        }
        free(q), free(want), free(got);
    }
    cache_free(&lat);
}

static void test_mla_pages_f32(void **state) { (void)state; at_each_simd_level(check_mla_pages, EF_TYPE_F32); }
static void test_mla_pages_f16(void **state) { (void)state; at_each_simd_level(check_mla_pages, EF_TYPE_F16); }

/* ---- quantized caches: the same bits as F32 holding the decoded values ---- */

static void check_quantized(uint32_t type) {
    /* flash, GQA 2 × 2 heads of 64 (and 1 × 4 of 32), paged by 16 and 17 */
    for (int g = 0; g < 2; g++) {
        const int32_t n_head_kv = k_gqa[g][0], group = k_gqa[g][1], hd = k_gqa[g][2];
        cache k, v;
        cache_init(&k, type, n_head_kv * hd, MAX_KV);
        cache_init(&v, type, n_head_kv * hd, MAX_KV);
        const void *ks, *vs;
        const ef_kv_rows k32 = values_view(&k, &ks), v32 = values_view(&v, &vs);
        paged kp = paged_copy(&k.rows, MAX_KV, 16), vp = paged_copy(&v.rows, MAX_KV, 17);
        for (int c = 0; c < N_CALLS; c++) {
            const ef_attn_shape s = {k_calls[c][0], k_calls[c][1], n_head_kv * group, n_head_kv, hd};
            const size_t n_out = (size_t)s.n_tok * s.n_head * hd;
            float *q = random_floats(n_out, 2.0f);
            float *want = xcalloc(n_out, sizeof(float)), *got = xcalloc(n_out, sizeof(float));
            for (attn_path path = PATH_PREFILL; path <= PATH_DECODE; path++) {
                run_flash(&s, q, &k32, &v32, path, want);
                assert_sane(want, n_out);
                run_flash(&s, q, &k.rows, &v.rows, path, got);
                assert_memory_equal(got, want, n_out * sizeof(float));
                run_flash(&s, q, &kp.rows, &vp.rows, path, got);
                assert_memory_equal(got, want, n_out * sizeof(float));
            }
            free(q), free(want), free(got);
        }
        paged_free(&kp), paged_free(&vp);
        cache_free(&k), cache_free(&v);
    }
    /* window with sinks over a ring */
    {
        cache k, v;
        cache_init(&k, type, 2 * 64, RING_ROWS);
        cache_init(&v, type, 2 * 32, RING_ROWS);
        const void *ks, *vs;
        const ef_kv_rows k32 = values_view(&k, &ks), v32 = values_view(&v, &vs);
        paged kp = paged_copy(&k.rows, RING_ROWS, 17), vp = paged_copy(&v.rows, RING_ROWS, 1);
        for (int c = 0; c < N_RING_CALLS; c++) {
            const ef_attn_ext a = ring_shape(k_ring_calls[c][0], k_ring_calls[c][1]);
            const size_t n_out = (size_t)a.n_tok * a.n_head * a.dv;
            float *q = random_floats((size_t)a.n_tok * a.n_head * a.dk, 2.0f);
            float *want = xcalloc(n_out, sizeof(float)), *got = xcalloc(n_out, sizeof(float));
            run_ext(&a, q, &k32, &v32, want);
            assert_sane(want, n_out);
            run_ext(&a, q, &kp.rows, &vp.rows, got);
            assert_memory_equal(got, want, n_out * sizeof(float));
            free(q), free(want), free(got);
        }
        paged_free(&kp), paged_free(&vp);
        cache_free(&k), cache_free(&v);
    }
    /* MLA absorbed: flash and ext over the latent rows */
    {
        cache lat;
        cache_init(&lat, type, MLA_DA, MLA_ROWS);
        const void *slot;
        const ef_kv_rows l32 = values_view(&lat, &slot);
        paged p = paged_copy(&lat.rows, MLA_ROWS, 16);
        const int32_t n_tok = 5, n_past = 200;
        const size_t n_out = (size_t)n_tok * MLA_HEADS * MLA_DA;
        float *q = random_floats(n_out, 1.0f);
        float *want = xcalloc(n_out, sizeof(float)), *got = xcalloc(n_out, sizeof(float));
        const ef_attn_shape s = {n_tok, n_past, MLA_HEADS, 1, MLA_DA};
        for (attn_path path = PATH_PREFILL; path <= PATH_DECODE; path++) {
            run_flash(&s, q, &l32, &l32, path, want);
            run_flash(&s, q, &p.rows, &p.rows, path, got);
            assert_memory_equal(got, want, n_out * sizeof(float));
        }
        ef_attn_ext a;
        memset(&a, 0, sizeof a);
        a.n_tok = n_tok, a.n_past = n_past, a.n_head = MLA_HEADS, a.n_head_kv = 1;
        a.dk = a.dv = MLA_DA, a.scale = 0.1f;
        run_ext(&a, q, &l32, &l32, want);
        run_ext(&a, q, &p.rows, &p.rows, got);
        assert_memory_equal(got, want, n_out * sizeof(float));
        free(q), free(want), free(got);
        paged_free(&p);
        cache_free(&lat);
    }
}

static void test_quantized_q8_0(void **state) { (void)state; at_each_simd_level(check_quantized, EF_TYPE_Q8_0); }
static void test_quantized_q4_0(void **state) { (void)state; at_each_simd_level(check_quantized, EF_TYPE_Q4_0); }

/* ---- rows: geometry, writer, loaders ---- */

static void test_row_bytes(void **state) {
    (void)state;
    assert_int_equal(ef_kv_row_bytes(EF_TYPE_F32, 96), 384);
    assert_int_equal(ef_kv_row_bytes(EF_TYPE_F16, 7), 14);
    assert_int_equal(ef_kv_row_bytes(EF_TYPE_Q8_0, 96), 3 * 34);
    assert_int_equal(ef_kv_row_bytes(EF_TYPE_Q4_0, 64), 2 * 18);
    assert_int_equal(ef_kv_row_bytes(EF_TYPE_Q8_0, 48), 0);  /* not whole blocks */
    assert_int_equal(ef_kv_row_bytes(EF_TYPE_Q4_0, 0), 0);
    assert_int_equal(ef_kv_row_bytes(EF_TYPE_Q4_K, 256), 0); /* not a KV type */
    const float buf[4] = {0};
    const void *slot = NULL;
    const ef_kv_rows r = ef_kv_rows_contiguous(EF_TYPE_F32, 2, 2, buf, &slot);
    assert_ptr_equal(slot, buf);
    assert_int_equal(r.n_pages, 1);
    assert_true(r.page_rows >= 2);
    assert_ptr_equal(ef_kv_row(&r, 1), buf + 2);
}

/* ef_kv_row_store + each loader = lib/quant's quantizer + dequantizer, for
 * whole rows and for column slices (on block edges or not), over several pages. */
static void check_round_trip(uint32_t type, int32_t width) {
    enum { N_ROWS = 7, PAGE_ROWS = 3 };
    const size_t rb = ef_kv_row_bytes(type, width);
    const ef_type_info *info = ef_type_get(type);
    uint8_t *stored = xcalloc(N_ROWS, rb), *ref = xcalloc(N_ROWS, rb);
    float *src = xcalloc((size_t)N_ROWS * width, sizeof(float));  /* [N_ROWS][width] */
    float *want = xcalloc((size_t)N_ROWS * width, sizeof(float)); /* [N_ROWS][width] */
    for (int32_t r = 0; r < N_ROWS; r++)
        for (int32_t i = 0; i < width; i++)
            src[r * width + i] = r == 0 ? 0.0f : frand() * (r == 1 ? 70000.0f : (float)(1 + i % 9)); /* zero, overflowing f16, mixed */
    for (int32_t r = 0; r < N_ROWS; r++) {
        ef_kv_row_store(type, src + r * width, width, stored + r * rb);
        assert_int_equal(ef_quantize_row(type, src + r * width, ref + r * rb, width), EF_OK);
        info->to_float(ref + r * rb, want + r * width, width);
    }
    assert_memory_equal(stored, ref, N_ROWS * rb);

    const void *slot;
    const ef_kv_rows whole = ef_kv_rows_contiguous(type, width, N_ROWS, stored, &slot);
    paged p = paged_copy(&whole, N_ROWS, PAGE_ROWS);
    ef_kv_load_fn loaders[2] = {ef_kv_rows_load, NULL};
    if (ef_cpu_simd_x86(ef_cpu_simd_supported()) && ef_kv_rows_avx2_built()) loaders[1] = ef_kv_rows_load_avx2;
    if (ef_cpu_simd_arm(ef_cpu_simd_supported()) && ef_kv_rows_neon_built()) loaders[1] = ef_kv_rows_load_neon;
    const int32_t step = type == EF_TYPE_F16 ? 1 : 32;
    float *got = xcalloc((size_t)N_ROWS * width, sizeof(float)); /* [N_ROWS][width] */
    for (int li = 0; li < 2 && loaders[li]; li++) {
        const ef_kv_rows *views[2] = {&whole, &p.rows};
        for (int vi = 0; vi < 2; vi++) {
            /* every row at once, across page boundaries */
            memset(got, 0, (size_t)N_ROWS * width * sizeof(float));
            loaders[li](views[vi], 0, N_ROWS, 0, width, got, width);
            assert_memory_equal(got, want, (size_t)N_ROWS * width * sizeof(float));
            /* column slices of rows 2..5, into a wider destination: on block
             * edges (step), then cutting blocks anywhere (steps 7 and 5) */
            for (int pass = 0; pass < 2; pass++) {
                const int32_t col_step = pass ? 7 : step * 3, len0 = pass ? 1 : step, len_step = pass ? 5 : step * 2;
                for (int32_t col0 = 0; col0 < width; col0 += col_step)
                    for (int32_t ncols = len0; col0 + ncols <= width; ncols += len_step) {
                        loaders[li](views[vi], 2, 4, col0, ncols, got, width + 5);
                        for (int32_t i = 0; i < 4; i++)
                            assert_memory_equal(got + (int64_t)i * (width + 5), want + (int64_t)(2 + i) * width + col0,
                                                (size_t)ncols * sizeof(float));
                    }
            }
        }
    }
    paged_free(&p);
    free(stored), free(ref), free(src), free(want), free(got);
}

static void test_round_trip(void **state) {
    (void)state;
    static const uint32_t types[] = {EF_TYPE_F32, EF_TYPE_F16, EF_TYPE_Q8_0, EF_TYPE_Q4_0};
    static const int32_t widths[] = {32, 96, 256};
    for (int t = 0; t < 4; t++)
        for (int w = 0; w < 3; w++) check_round_trip(types[t], widths[w]);
    check_round_trip(EF_TYPE_F16, 13); /* F16 rows need no blocks */
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
        cmocka_unit_test(test_row_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_flash_pages_f32),
        cmocka_unit_test(test_flash_pages_f16),
        cmocka_unit_test(test_ring_pages_f32),
        cmocka_unit_test(test_ring_pages_f16),
        cmocka_unit_test(test_mla_pages_f32),
        cmocka_unit_test(test_mla_pages_f16),
        cmocka_unit_test(test_quantized_q8_0),
        cmocka_unit_test(test_quantized_q4_0),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
