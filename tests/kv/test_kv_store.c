/* The page store of lib/kv on its own (no forward pass):
 *   - rows written are read back exactly, page counts follow the rows;
 *   - a copied sequence shares pages until one side writes (copy-on-write);
 *   - remove (suffix and middle, with the keys re-rotated), keep, clear;
 *   - every tier (RAM, zstd, disk) gives back the exact bytes; pinned pages stay hot;
 *   - a failing spill write leaves the sequence and its pages as they were;
 *   - an allocation failure at each allocation of offload and restore ends
 *     in a clean status, with no allocation left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "edgeformer/edgeformer.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "quant/types.h"

#define W 32       /* K and V row width of the fixture (1 KV head of 32) */
#define NCTX 64
#define PAGE 16

static ef_model *g_model;

static int setup(void **state) {
    (void)state;
    return ef_model_load(KV_MODEL, NULL, &g_model) == EF_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ef_model_free(g_model);
    return 0;
}

/* A cache on the fixture's shape: 2 layers, rows of W, NCTX positions. */
static ef_status try_cache(const char *type, int32_t n_seq, uint64_t hot, uint64_t ram, uint64_t zstd,
                           int32_t zstd_level, const char *spill, ef_kv_cache **kv) {
    ef_kv_params *p = NULL;
    ef_status st = ef_kv_params_create(&p);
    if (!st) st = ef_kv_params_set_page_size(p, PAGE);
    if (!st) st = ef_kv_params_set_types(p, type, type);
    if (!st) st = ef_kv_params_set_n_seq_max(p, n_seq);
    if (!st) st = ef_kv_params_set_tier_budget(p, EF_KV_TIER_HOT, hot);
    if (!st) st = ef_kv_params_set_tier_budget(p, EF_KV_TIER_RAM, ram);
    if (!st) st = ef_kv_params_set_tier_budget(p, EF_KV_TIER_ZSTD, zstd);
    if (!st) st = ef_kv_params_set_compression(p, zstd_level);
    if (!st) st = ef_kv_params_set_spill_dir(p, spill);
    const int32_t ring[2] = {0, 0};
    const ef_kv_geometry geo = {2, W, W, NCTX, 0, ring, NULL, 1};
    *kv = NULL;
    if (!st) st = ef_kvi_create(g_model, p, &geo, NULL, kv);
    ef_kv_params_free(p);
    return st;
}

static ef_kv_cache *make_cache(const char *type, int32_t n_seq, uint64_t hot, uint64_t ram, uint64_t zstd,
                               int32_t zstd_level, const char *spill) {
    ef_kv_cache *kv = NULL;
    if (try_cache(type, n_seq, hot, ram, zstd, zstd_level, spill, &kv)) fail_msg("ef_kvi_create: %s", ef_last_error());
    return kv;
}

/* Deterministic row values: position, layer, K/V and column all matter. */
static float value(int32_t pos, int32_t il, int32_t which, int32_t c) {
    return sinf(0.37f * (float)pos + 1.3f * (float)il + 0.71f * (float)which + 0.11f * (float)c);
}

/* Writes positions [p0, p0+n) of seq in both layers and commits them. */
static ef_status fill(ef_kv_cache *kv, int32_t seq, int32_t p0, int32_t n, int32_t salt) {
    float k[NCTX * W], v[NCTX * W];
    int32_t tok[NCTX];
    for (int32_t il = 0; il < 2; il++) {
        for (int32_t t = 0; t < n; t++)
            for (int32_t c = 0; c < W; c++) {
                k[t * W + c] = value(p0 + t + salt, il, 0, c);
                v[t * W + c] = value(p0 + t + salt, il, 1, c);
            }
        ef_status st = ef_kvi_write_rows(kv, seq, il, p0, n, k, v);
        if (st) return st;
    }
    for (int32_t t = 0; t < n; t++) tok[t] = 10 + p0 + t;
    return ef_kvi_seq_commit(kv, seq, tok, n);
}

/* Checks rows [0, n) of seq against value(pos + salt) (F32 cache: exact). */
static void check_rows(ef_kv_cache *kv, int32_t seq, int32_t n, int32_t salt) {
    float got[NCTX * W];
    for (int32_t il = 0; il < 2; il++)
        for (int32_t which = 0; which < 2; which++) {
            assert_int_equal(ef_kvi_read_rows(kv, seq, il, which, 0, n, got), EF_OK);
            for (int32_t t = 0; t < n; t++)
                for (int32_t c = 0; c < W; c++)
                    if (got[t * W + c] != value(t + salt, il, which, c))
                        fail_msg("seq %d layer %d %s row %d col %d: %g, want %g", seq, il, which ? "V" : "K", t, c,
                                 (double)got[t * W + c], (double)value(t + salt, il, which, c));
        }
}

static double stat(const ef_kv_cache *kv, int32_t key, int32_t tier) {
    double v = -1;
    assert_int_equal(ef_kv_cache_stat(kv, key, tier, &v), EF_OK);
    return v;
}

static void test_rows_and_pages(void **state) {
    (void)state;
    ef_kv_cache *kv = make_cache("f32", 2, 0, 0, 0, 1, NULL);
    assert_int_equal(fill(kv, 0, 0, 20, 0), EF_OK);
    assert_int_equal(fill(kv, 0, 20, 17, 0), EF_OK);
    check_rows(kv, 0, 37, 0);
    assert_int_equal(ef_kvi_seq_len(kv, 0), 37);
    assert_true(stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_HOT) == 2 * 3); /* 37 rows = 3 pages per layer */
    assert_true(stat(kv, EF_KV_STAT_PAGE_BYTES, 0) == PAGE * W * 4 * 2);
    assert_true(stat(kv, EF_KV_STAT_TOKENS, 0) == 37);
    const int32_t *tok = NULL;
    int32_t n = 0;
    assert_int_equal(ef_kvi_seq_tokens(kv, 0, &tok, &n), EF_OK);
    assert_int_equal(n, 37);
    assert_int_equal(tok[36], 10 + 36);
    /* past the positions: refused, nothing committed */
    assert_int_equal(fill(kv, 0, 37, 30, 0), EF_ERR_CONTEXT_FULL);
    assert_int_equal(ef_kvi_seq_len(kv, 0), 37);
    int32_t lo, hi;
    assert_int_equal(ef_kv_seq_pos_range(kv, 0, &lo, &hi), EF_OK);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 36);
    assert_int_equal(ef_kv_seq_pos_range(kv, 1, &lo, &hi), EF_OK);
    assert_int_equal(lo, -1);
    assert_int_equal(hi, -1);
    assert_int_equal(ef_kv_seq_pos_range(kv, 2, &lo, &hi), EF_ERR_INVALID_ARG);
    assert_string_equal(ef_kv_cache_type(kv, 0), "f32");
    ef_kv_cache_free(kv);
}

static void test_copy_on_write(void **state) {
    (void)state;
    ef_kv_cache *kv = make_cache("f32", 3, 0, 0, 0, 1, NULL);
    assert_int_equal(fill(kv, 0, 0, 40, 0), EF_OK);
    assert_int_equal(ef_kv_seq_copy(kv, 0, 1), EF_OK);
    assert_true(stat(kv, EF_KV_STAT_SHARED_PAGES, 0) == 6);
    assert_true(stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_HOT) == 6); /* a fork costs no pages */
    /* seq 1 overwrites positions 30..39 with other values (rewind, new text) */
    assert_int_equal(ef_kv_seq_remove(kv, 1, 30, -1), EF_OK);
    assert_int_equal(fill(kv, 1, 30, 10, 1000), EF_OK);
    /* rows 30, 31 are in page 1, copied; page 2 was dropped by the rewind and made anew */
    assert_true(stat(kv, EF_KV_STAT_SHARED_PAGES, 0) == 2);
    assert_true(stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_HOT) == 10);
    check_rows(kv, 0, 40, 0); /* the source never sees the fork's writes */
    float got[W];
    assert_int_equal(ef_kvi_read_rows(kv, 1, 1, 0, 35, 1, got), EF_OK);
    assert_true(got[3] == value(35 + 1000, 1, 0, 3));
    assert_int_equal(ef_kvi_read_rows(kv, 1, 1, 0, 29, 1, got), EF_OK);
    assert_true(got[3] == value(29, 1, 0, 3));
    /* keep drops the others; clearing everything frees every page */
    assert_int_equal(ef_kv_seq_keep(kv, 1), EF_OK);
    assert_int_equal(ef_kvi_seq_len(kv, 0), 0);
    assert_true(stat(kv, EF_KV_STAT_SHARED_PAGES, 0) == 0);
    assert_true(stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_HOT) == 6);
    assert_int_equal(ef_kv_seq_clear(kv, -1), EF_OK);
    assert_true(stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_HOT) == 0);
    assert_int_equal(ef_kv_seq_copy(kv, 0, 3), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_kv_seq_clear(kv, 5), EF_ERR_INVALID_ARG);
    ef_kv_cache_free(kv);
}

static void test_remove_middle_rerotates(void **state) {
    (void)state;
    ef_kv_cache *kv = make_cache("f32", 1, 0, 0, 0, 1, NULL);
    assert_int_equal(fill(kv, 0, 0, 50, 0), EF_OK);
    assert_int_equal(ef_kv_seq_shift(kv, 0, 4, 10), EF_OK); /* = remove [4, 14) */
    assert_int_equal(ef_kvi_seq_len(kv, 0), 40);
    const int32_t *tok = NULL;
    int32_t n = 0;
    assert_int_equal(ef_kvi_seq_tokens(kv, 0, &tok, &n), EF_OK);
    assert_int_equal(tok[3], 13);
    assert_int_equal(tok[4], 10 + 14);
    const ef_hparams *hp = &g_model->hp;
    const ef_rope_params rope = {hp->rope_mode, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale,
                                 g_model->rope_factors};
    for (int32_t il = 0; il < 2; il++) {
        float k[W], v[W], want[W];
        for (int32_t t = 0; t < 40; t++) {
            const int32_t from = t < 4 ? t : t + 10;
            assert_int_equal(ef_kvi_read_rows(kv, 0, il, 0, t, 1, k), EF_OK);
            assert_int_equal(ef_kvi_read_rows(kv, 0, il, 1, t, 1, v), EF_OK);
            for (int32_t c = 0; c < W; c++) want[c] = value(from, il, 0, c);
            if (t >= 4) ef_cpu_rope(want, 1, hp->n_head_kv, hp->head_dim, -10, &rope);
            for (int32_t c = 0; c < W; c++) {
                assert_true(k[c] == want[c]); /* the store turns exactly as ef_cpu_rope does */
                assert_true(v[c] == value(from, il, 1, c)); /* values move untouched */
            }
        }
    }
    assert_int_equal(ef_kv_seq_remove(kv, 0, 30, 20), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_kv_seq_remove(kv, 0, 0, 41), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_kv_cache_errmsg(kv), "remove"));
    ef_kv_cache_free(kv);
}

/* Every tier gives the bytes back; only the pinned (newest) pages stay hot. */
static void check_tiers(const char *type, int32_t zstd_level, const char *spill, int32_t want_tier) {
    ef_kv_cache *kv = make_cache(type, 1, 1, 1, 1, zstd_level, spill);
    ef_kv_cache *ref = make_cache(type, 1, 0, 0, 0, 1, NULL);
    for (int32_t p = 0; p < 60; p += 6) {
        assert_int_equal(fill(kv, 0, p, 6, 0), EF_OK);
        assert_int_equal(fill(ref, 0, p, 6, 0), EF_OK);
    }
    assert_true(stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_HOT) == 2); /* the page each layer writes next */
    assert_true(stat(kv, EF_KV_STAT_PAGES, want_tier) == 6);
    assert_true(stat(kv, EF_KV_STAT_OFFLOADS, want_tier) >= 6);
    const size_t rb = ef_kvi_row_bytes(kv, 0);
    unsigned char *a = malloc(rb * NCTX), *b = malloc(rb * NCTX);
    for (int32_t il = 0; il < 2; il++)
        for (int32_t which = 0; which < 2; which++) {
            assert_int_equal(ef_kvi_read_rows(kv, 0, il, which, 0, 60, a), EF_OK);
            assert_int_equal(ef_kvi_read_rows(ref, 0, il, which, 0, 60, b), EF_OK);
            assert_memory_equal(a, b, rb * 60);
        }
    /* the page view restores into staging: still the same bytes, the pages stay below */
    ef_kv_rows k, v;
    assert_int_equal(ef_kvi_layer_view(kv, 0, 1, 60, &k, &v), EF_OK);
    for (int32_t r = 0; r < 60; r++) {
        assert_int_equal(ef_kvi_read_rows(ref, 0, 1, 1, r, 1, b), EF_OK);
        assert_memory_equal(ef_kv_row(&v, r), b, rb);
    }
    if (want_tier != EF_KV_TIER_RAM) /* RAM pages are read where they are */
        assert_true(stat(kv, EF_KV_STAT_RESTORES, want_tier) >= 3);
    assert_true(stat(kv, EF_KV_STAT_HIT_RATE, 0) < 1.0);
    ef_kvi_end_step(kv);
    if (want_tier == EF_KV_TIER_ZSTD) /* compressed: fewer bytes than raw */
        assert_true(stat(kv, EF_KV_STAT_BYTES, want_tier) < stat(kv, EF_KV_STAT_RAW_BYTES, want_tier));
    /* writing into a page below (a rewind) brings it back first */
    assert_int_equal(ef_kv_seq_remove(kv, 0, 5, -1), EF_OK);
    assert_int_equal(ef_kv_seq_remove(ref, 0, 5, -1), EF_OK);
    assert_int_equal(fill(kv, 0, 5, 3, 77), EF_OK);
    assert_int_equal(fill(ref, 0, 5, 3, 77), EF_OK);
    assert_int_equal(ef_kvi_read_rows(kv, 0, 0, 0, 0, 8, a), EF_OK);
    assert_int_equal(ef_kvi_read_rows(ref, 0, 0, 0, 0, 8, b), EF_OK);
    assert_memory_equal(a, b, rb * 8);
    free(a);
    free(b);
    ef_kv_cache_free(ref);
    ef_kv_cache_free(kv);
}

static void test_tiers_lossless(void **state) {
    (void)state;
    check_tiers("f32", 0, NULL, EF_KV_TIER_RAM); /* nothing below RAM enabled */
    check_tiers("f16", 3, NULL, EF_KV_TIER_ZSTD);
    check_tiers("f32", 1, NULL, EF_KV_TIER_ZSTD);
    check_tiers("q8_0", 1, NULL, EF_KV_TIER_ZSTD);
    check_tiers("q4_0", 0, KV_SPILL, EF_KV_TIER_DISK);
    check_tiers("f16", 1, KV_SPILL, EF_KV_TIER_DISK);
}

static int g_fail_writes; /* spill writes that fail; <0: all */
static int fail_writes(void) {
    if (g_fail_writes == 0) return 0;
    if (g_fail_writes > 0) g_fail_writes--;
    return 1;
}

static void test_spill_failure(void **state) {
    (void)state;
    ef_kv_cache *kv = make_cache("f32", 1, 1, 1, 0, 0, KV_SPILL);
    assert_int_equal(fill(kv, 0, 0, 30, 0), EF_OK);
    const double on_disk = stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_DISK);
    assert_true(on_disk >= 2);
    ef_kvi_spill_fail_hook = fail_writes;
    g_fail_writes = -1;
    assert_int_equal(fill(kv, 0, 30, 20, 0), EF_ERR_IO); /* the disk is "full" */
    assert_non_null(strstr(ef_last_error(), "no space"));
    assert_int_equal(ef_kvi_seq_len(kv, 0), 30);  /* nothing committed */
    assert_true(stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_DISK) == on_disk); /* no page lost or moved */
    check_rows(kv, 0, 30, 0);
    g_fail_writes = 0; /* the disk has room again: the same tokens go in */
    ef_kvi_spill_fail_hook = NULL;
    assert_int_equal(fill(kv, 0, 30, 20, 0), EF_OK);
    check_rows(kv, 0, 50, 0);
    ef_kv_cache_free(kv);
    /* an unusable directory is refused at creation */
    ef_kv_params *p = NULL;
    assert_int_equal(ef_kv_params_create(&p), EF_OK);
    assert_int_equal(ef_kv_params_set_spill_dir(p, KV_SPILL "/no/such/dir"), EF_OK);
    assert_int_equal(ef_kv_params_set_n_ctx(p, NCTX), EF_OK);
    ef_kv_cache *bad = NULL;
    assert_int_equal(ef_kv_cache_create(g_model, p, &bad), EF_ERR_IO);
    assert_null(bad);
    ef_kv_params_free(p);
}

/* ---- allocation failures ---- */
#include "common/fail_alloc.h" /* g_countdown, g_failures, g_live, counting_malloc, counting_realloc, counting_free */

/* Offload (commit past the budgets) and restore (views, rewrites), failing
 * the n-th allocation; returns the first failure. */
static ef_status tier_scenario(const char *spill) {
    ef_kv_cache *kv = NULL;
    ef_status st = try_cache("f16", 2, 1, 1, 1, 1, spill, &kv);
    if (st) return st;
    st = fill(kv, 0, 0, 40, 0);
    if (!st) st = ef_kv_seq_copy(kv, 0, 1);
    if (!st) {
        ef_kv_rows k, v;
        st = ef_kvi_layer_view(kv, 0, 0, 40, &k, &v);
        ef_kvi_end_step(kv);
    }
    if (!st) st = ef_kv_seq_remove(kv, 1, 3, 9); /* rewrites and re-rotates pages below */
    if (!st) st = fill(kv, 1, 34, 6, 5);
    ef_kv_cache_free(kv);
    return st;
}

static void test_alloc_failures(void **state) {
    (void)state;
    const char *spills[2] = {NULL, KV_SPILL};
    for (int s = 0; s < 2; s++) {
        long points = 0;
        for (long n = 0;; n++) {
            g_countdown = n;
            g_failures = 0;
            g_live = 0;
            assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
            ef_status st = tier_scenario(spills[s]);
            assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
            if (g_live != 0) fail_msg("allocation %ld failing: %ld allocations leaked", n, g_live);
            if (g_failures == 0) {
                assert_int_equal(st, EF_OK);
                break;
            }
            points++;
            if (st != EF_ERR_NO_MEMORY) fail_msg("allocation %ld: %s (%s)", n, ef_status_str(st), ef_last_error());
        }
        print_message("  KV tiers %s spill: %ld allocation points, each failed cleanly\n", spills[s] ? "with" : "without",
                      points);
        assert_true(points > 20);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_and_pages),
        cmocka_unit_test(test_copy_on_write),
        cmocka_unit_test(test_remove_middle_rerotates),
        cmocka_unit_test(test_tiers_lossless),
        cmocka_unit_test(test_spill_failure),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
