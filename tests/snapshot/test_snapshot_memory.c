/* Snapshots of big caches with bounded memory (issue #5): saving to a file
 * and restoring from one (or from a buffer) stream frame by frame, so the
 * extra memory they need does not grow with the context.
 *   - the peak of live bytes (an allocator that counts every block) during
 *     a save, over what was live before, is about the same for 1K and 8K
 *     tokens, and below the size of the sequence's KV rows (the old writer
 *     built each sequence's frame in memory: one to two times that);
 *   - so does the size call of a save to a buffer (two-call pattern);
 *   - a restore into a fresh session peaks at what it leaves live (the
 *     restored pages) plus the same small amount, whatever the context;
 *   - into a session with tiny tier budgets and a spill directory, a
 *     restore moves pages down while it stages them: it never holds the
 *     whole cache in memory;
 *   - noise and smooth rows (zstd frames of about the raw size and far
 *     smaller); what was
 *     restored saves to the same bytes as the original.
 * The KV rows are written through the cache's internal API (lib/kv), so
 * big contexts cost no model evaluation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/edgeformer.h"
#include "kv/kv_cache.h"

#define N_CTX 8192
#define PAGE 64
#define SMALL_N 1024
#define BIG_N 8192

/* ---- an allocator that tracks live bytes and their peak ---- */

#define HEADER 16 /* keeps malloc's 16-byte alignment */
static _Atomic long long g_cur, g_peak;

static void account(long long delta) {
    long long now = atomic_fetch_add(&g_cur, delta) + delta;
    long long peak = atomic_load(&g_peak);
    while (now > peak && !atomic_compare_exchange_weak(&g_peak, &peak, now)) {
    }
}

static void *peak_malloc(void *user, size_t n) {
    (void)user;
    unsigned char *p = malloc(n + HEADER);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    account((long long)n);
    return p + HEADER;
}

static void peak_free(void *user, void *q) {
    (void)user;
    if (!q) return;
    unsigned char *p = (unsigned char *)q - HEADER;
    size_t n;
    memcpy(&n, p, sizeof n);
    account(-(long long)n);
    free(p);
}

static void *peak_realloc(void *user, void *q, size_t n) {
    if (!q) return peak_malloc(user, n);
    unsigned char *p = (unsigned char *)q - HEADER;
    size_t old;
    memcpy(&old, p, sizeof old);
    unsigned char *grown = realloc(p, n + HEADER);
    if (!grown) return NULL;
    memcpy(grown, &n, sizeof n);
    account((long long)n - (long long)old);
    return grown + HEADER;
}

/* Live bytes now; the peak starts again from here. */
static long long peak_reset(void) {
    long long now = atomic_load(&g_cur);
    atomic_store(&g_peak, now);
    return now;
}

/* ---- helpers ---- */

static ef_model *load(const char *path) {
    ef_model *m = NULL;
    ef_status st = ef_model_load(path, NULL, &m);
    if (st != EF_OK) fprintf(stderr, "load %s: %s\n", path, ef_last_error());
    assert_int_equal(st, EF_OK);
    return m;
}

/* An f32 cache of N_CTX positions in pages of PAGE rows; tiered: a page or
 * two hot and in RAM, the rest in the spill directory. */
static ef_session *big_session(ef_model *m, int tiered) {
    ef_kv_params *kvp = NULL;
    assert_int_equal(ef_kv_params_create(&kvp), EF_OK);
    assert_int_equal(ef_kv_params_set_page_size(kvp, PAGE), EF_OK);
    assert_int_equal(ef_kv_params_set_types(kvp, "f32", "f32"), EF_OK);
    if (tiered) {
        assert_int_equal(ef_kv_params_set_tier_budget(kvp, EF_KV_TIER_HOT, 64 << 10), EF_OK);
        assert_int_equal(ef_kv_params_set_tier_budget(kvp, EF_KV_TIER_RAM, 64 << 10), EF_OK);
        assert_int_equal(ef_kv_params_set_compression(kvp, 0), EF_OK); /* no zstd tier: RAM, then disk */
        assert_int_equal(ef_kv_params_set_spill_dir(kvp, EF_TEST_TMP), EF_OK);
    }
    ef_session_params *p = NULL;
    ef_session *s = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, N_CTX), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 1), EF_OK);
    assert_int_equal(ef_session_params_set_kv_params(p, kvp), EF_OK);
    ef_status st = ef_session_create(m, p, &s);
    if (st != EF_OK) fprintf(stderr, "session: %s\n", ef_last_error());
    assert_int_equal(st, EF_OK);
    ef_session_params_free(p);
    ef_kv_params_free(kvp);
    return s;
}

/* Sequence 0 gets n positions of rows: noise (zstd barely shrinks it) or a
 * smooth ramp (it can), written straight into the cache. */
static void fill(ef_session *s, int32_t n, int smooth) {
    ef_kv_cache *kv = ef_session_kv_cache(s);
    ef_kv_layout L;
    ef_kvi_layout(kv, &L);
    enum { CHUNK = 256 };
    float *k = malloc(sizeof *k * CHUNK * (size_t)L.k_width); /* [CHUNK][k_width] */
    float *v = malloc(sizeof *v * CHUNK * (size_t)L.v_width); /* [CHUNK][v_width] */
    int32_t tokens[CHUNK];
    uint32_t x = 12345u;
    for (int32_t p0 = 0; p0 < n; p0 += CHUNK) {
        const int32_t take = n - p0 < CHUNK ? n - p0 : CHUNK;
        for (int32_t il = 0; il < L.n_layer; il++) {
            for (int32_t i = 0; i < take * L.k_width; i++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                k[i] = smooth ? (float)((p0 + i / L.k_width) % 97) : (float)(x >> 8) / (float)(1u << 24) - 0.5f;
            }
            for (int32_t i = 0; i < take * L.v_width; i++) v[i] = smooth ? 1.0f : k[i % (take * L.k_width)] * 0.5f;
            assert_int_equal(ef_kvi_write_rows(kv, 0, il, p0, take, k, L.has_v ? v : NULL), EF_OK);
        }
        for (int32_t i = 0; i < take; i++) tokens[i] = 3 + (p0 + i) % 500;
        assert_int_equal(ef_kvi_seq_commit(kv, 0, tokens, take), EF_OK);
    }
    free(k);
    free(v);
}

static uint8_t *save_buf(ef_session *s, size_t *n) {
    size_t need = 0;
    assert_int_equal(ef_session_save_buffer(s, EF_SEQ_ALL, NULL, 0, &need), EF_ERR_BUFFER_TOO_SMALL);
    uint8_t *buf = malloc(need);
    assert_int_equal(ef_session_save_buffer(s, EF_SEQ_ALL, buf, need, &need), EF_OK);
    *n = need;
    return buf;
}

static uint8_t *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

typedef struct measured {
    long long save_extra;    /* peak live bytes of a save to a file, over those before */
    long long size_extra;    /* the same for the size call of a save to a buffer (NULL, 0) */
    long long restore_extra; /* peak of a restore from that file into a fresh session, over those after */
    long long restored;      /* live bytes the restore added (the new pages, tokens, sampler) */
    long long rows;          /* bytes of the sequence's KV rows */
} measured;

/* Saves n positions to a file and restores them into a fresh session,
 * measuring both; the restored session saves the same bytes. */
static measured measure(ef_model *m, int32_t n, int smooth) {
    const char *path = EF_TEST_TMP "/snapshot_memory.efsnap";
    ef_session *src = big_session(m, 0);
    fill(src, n, smooth);
    ef_kv_cache *kv = ef_session_kv_cache(src);
    measured r;
    r.rows = 0;
    for (int32_t il = 0; il < ef_kvi_n_layer(kv); il++)
        r.rows += (long long)ef_kvi_layer_rows(kv, il, n) * (long long)(ef_kvi_row_bytes(kv, 0) + ef_kvi_row_bytes(kv, 1));

    ef_session *dst = big_session(m, 0);
    long long before = peak_reset();
    assert_int_equal(ef_session_save(src, EF_SEQ_ALL, path), EF_OK);
    r.save_extra = atomic_load(&g_peak) - before;
    assert_true(atomic_load(&g_cur) == before); /* nothing kept */
    size_t need = 0;
    before = peak_reset();
    assert_int_equal(ef_session_save_buffer(src, EF_SEQ_ALL, NULL, 0, &need), EF_ERR_BUFFER_TOO_SMALL);
    r.size_extra = atomic_load(&g_peak) - before;
    /* noise barely compresses (f32's exponent bytes a little); smooth rows do */
    if (smooth)
        assert_true(need < (size_t)r.rows / 4);
    else
        assert_true(need > (size_t)r.rows / 2);

    const uint64_t epoch = ef_kvi_seq_epoch(ef_session_kv_cache(dst), 0);
    before = peak_reset();
    ef_status st = ef_session_restore(dst, EF_SEQ_ALL, path);
    if (st != EF_OK) fprintf(stderr, "restore: %s\n", ef_session_errmsg(dst));
    assert_int_equal(st, EF_OK);
    const long long after = atomic_load(&g_cur);
    r.restore_extra = atomic_load(&g_peak) - after;
    r.restored = after - before;
    assert_true(ef_kvi_seq_epoch(ef_session_kv_cache(dst), 0) != epoch); /* copies of the old rows are stale */
    size_t na = 0, nb = 0;
    uint8_t *a = read_file(path, &na), *b = save_buf(dst, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    ef_session_free(dst);
    ef_session_free(src);
    remove(path);
    print_message("  %d positions (%s, %lld bytes of rows): save +%lld bytes (size call +%lld), restore +%lld over "
                  "the %lld it keeps\n", (int)n, smooth ? "smooth" : "noise", r.rows, r.save_extra, r.size_extra,
                  r.restore_extra, r.restored);
    return r;
}

/* The counting allocator is installed while no handle exists (as
 * ef_set_allocator requires) and removed once they are all gone. */
static void peak_on(void) {
    atomic_store(&g_cur, 0);
    atomic_store(&g_peak, 0);
    assert_int_equal(ef_set_allocator(peak_malloc, peak_realloc, peak_free, NULL), EF_OK);
}

static void peak_off(void) {
    assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
    assert_true(atomic_load(&g_cur) == 0); /* nothing leaked */
}

static void check_bounded(int smooth) {
    peak_on();
    ef_model *m = load(MODEL_A);
    measured small = measure(m, SMALL_N, smooth), big = measure(m, BIG_N, smooth);
    assert_true(big.rows >= 7 * small.rows); /* 8x the context */
    /* the extra memory is the same, within a few pages, for 8x the context */
    const long long slack = 8 * PAGE * 1024;
    assert_true(big.save_extra <= small.save_extra + slack);
    assert_true(big.size_extra <= small.size_extra + slack);
    assert_true(big.restore_extra <= small.restore_extra + slack);
    /* and well below the rows themselves (the old writer needed 1-2x them) */
    assert_true(big.save_extra < big.rows / 2);
    assert_true(big.size_extra < big.rows / 2);
    assert_true(big.restore_extra < big.rows / 2);
    assert_true(big.restored >= big.rows); /* the restore did bring the rows */
    ef_model_free(m);
    peak_off();
}

static void test_bounded_raw(void **state) {
    (void)state;
    check_bounded(0);
}

static void test_bounded_zstd(void **state) {
    (void)state;
    check_bounded(1);
}

/* With tiny budgets and a spill directory, a restore stages its pages down
 * the tiers as it goes: its peak stays far below the cache's size. */
static void test_restore_into_tiers(void **state) {
    (void)state;
    peak_on();
    ef_model *m = load(MODEL_A);
    const char *path = EF_TEST_TMP "/snapshot_memory_tiers.efsnap";
    ef_session *src = big_session(m, 0);
    fill(src, BIG_N, 0);
    assert_int_equal(ef_session_save(src, EF_SEQ_ALL, path), EF_OK);
    ef_kv_cache *kv = ef_session_kv_cache(src);
    long long rows = 0;
    for (int32_t il = 0; il < ef_kvi_n_layer(kv); il++)
        rows += (long long)ef_kvi_layer_rows(kv, il, BIG_N) * (long long)(ef_kvi_row_bytes(kv, 0) + ef_kvi_row_bytes(kv, 1));

    ef_session *dst = big_session(m, 1);
    fill(dst, 100, 1); /* something to replace */
    const long long before = peak_reset();
    ef_status st = ef_session_restore(dst, EF_SEQ_ALL, path);
    if (st != EF_OK) fprintf(stderr, "restore: %s\n", ef_session_errmsg(dst));
    assert_int_equal(st, EF_OK);
    const long long extra = atomic_load(&g_peak) - before;
    double disk = 0;
    assert_int_equal(ef_kv_cache_stat(ef_session_kv_cache(dst), EF_KV_STAT_PAGES, EF_KV_TIER_DISK, &disk), EF_OK);
    print_message("  restore of %lld bytes of rows into tiny budgets: +%lld bytes at the peak, %g pages on disk\n", rows,
                  extra, disk);
    assert_true(extra < rows / 4);
    assert_true(disk * PAGE >= BIG_N); /* most pages went to disk */
    size_t na = 0, nb = 0;
    uint8_t *a = read_file(path, &na), *b = save_buf(dst, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na); /* the tiers are lossless */
    free(a);
    free(b);
    ef_session_free(dst);
    ef_session_free(src);
    remove(path);
    ef_model_free(m);
    peak_off();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_raw),
        cmocka_unit_test(test_bounded_zstd),
        cmocka_unit_test(test_restore_into_tiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
