/* Sequence operations on window rings and their failure atomicity, on the
 * page store alone (no forward pass), against a shadow copy kept by the test:
 *   - a cache whose layers are all rings streams past n_ctx: the sinks and
 *     the last positions stay exact, the token ids too (a ring of them);
 *   - a wrapped ring rewinds while the next token's window is still held
 *     (up to n_batch positions) and refuses more, unchanged;
 *   - a middle range removed from a wrapped ring: the later rows move down
 *     with their keys re-rotated, exactly as ef_cpu_rope turns them;
 *   - a removal that would turn a lost position into a sink is refused;
 *   - copy, pos_range, and the info a snapshot saves;
 *   - a removal failing on a disk page that cannot be read back, at each
 *     read in turn, or on each allocation in turn, leaves the sequence
 *     byte-identical (full layers and rings) and leaks nothing;
 *   - a positional token list (an older snapshot) staged into a token ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fail_alloc.h" /* counting_malloc, counting_realloc, counting_free, g_countdown, g_live */
#include "cpu/cpu_ops.h"
#include "edgeformer/edgeformer.h"
#include "kv/kv_cache.h"
#include "kv/snapshot_import.h"
#include "model/model.h"

#define W 32      /* K and V row width of the fixture (1 KV head of 32) */
#define NCTX 64
#define PAGE 16
#define SINKS 2
#define WINDOW 12
#define MAXPOS 400

/* Ring rows of the cache under test: 20 = sinks + window + 7 (a chunk of 7
 * new rows never overwrites what it reads); 62 where some pages must be
 * outside the window, so that they can go down to disk. */
static int32_t g_ring = 20;
#define RING g_ring
#define BODY (g_ring - SINKS)
static int32_t g_ring_layer[2]; /* which layers of the last cache made are rings */

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

/* A 2-layer f32 cache: rings of RING rows (ring 1), full layers (ring 0),
 * or a ring and a full layer (ring 2: a Gemma-style mixed model, bound to
 * n_ctx); budgets of 1 byte and a spill directory send every page to disk. */
static ef_kv_cache *make_cache(int ring, const char *spill) {
    ef_kv_params *p = NULL;
    assert_int_equal(ef_kv_params_create(&p), EF_OK);
    assert_int_equal(ef_kv_params_set_page_size(p, PAGE), EF_OK);
    assert_int_equal(ef_kv_params_set_types(p, "f32", "f32"), EF_OK);
    assert_int_equal(ef_kv_params_set_n_seq_max(p, 2), EF_OK);
    if (spill) {
        for (int32_t t = EF_KV_TIER_HOT; t <= EF_KV_TIER_ZSTD; t++)
            assert_int_equal(ef_kv_params_set_tier_budget(p, t, 1), EF_OK);
        assert_int_equal(ef_kv_params_set_compression(p, 0), EF_OK);
        assert_int_equal(ef_kv_params_set_spill_dir(p, spill), EF_OK);
    }
    g_ring_layer[0] = ring != 0;
    g_ring_layer[1] = ring == 1;
    const int32_t rings[2] = {g_ring_layer[0] ? RING : 0, g_ring_layer[1] ? RING : 0};
    const int32_t windows[2] = {g_ring_layer[0] ? WINDOW : 0, g_ring_layer[1] ? WINDOW : 0};
    const ef_kv_geometry geo = {2, W, W, NCTX, ring ? SINKS : 0, rings, windows, 1};
    ef_kv_cache *kv = NULL;
    if (ef_kvi_create(g_model, p, &geo, NULL, &kv)) fail_msg("ef_kvi_create: %s", ef_last_error());
    ef_kv_params_free(p);
    return kv;
}

/* What the test expects of each position: K and V rows per layer, token id. */
typedef struct shadow {
    float k[MAXPOS][2][W], v[MAXPOS][2][W];
    int32_t tok[MAXPOS];
    int32_t n;
} shadow;

static float value(int32_t pos, int32_t il, int32_t which, int32_t c, int32_t salt) {
    return sinf(0.37f * (float)(pos + salt) + 1.3f * (float)il + 0.71f * (float)which + 0.11f * (float)c);
}

/* Writes positions [n, n + count) of seq in chunks of at most 7 rows (what the
 * ring allows) and commits them; the shadow follows. */
static void append(ef_kv_cache *kv, int32_t seq, shadow *sh, int32_t count, int32_t salt) {
    float k[7 * W], v[7 * W];
    for (int32_t done = 0; done < count;) {
        const int32_t n = count - done < 7 ? count - done : 7, p0 = sh->n;
        int32_t tok[7];
        for (int32_t il = 0; il < 2; il++) {
            for (int32_t t = 0; t < n; t++)
                for (int32_t c = 0; c < W; c++) {
                    k[t * W + c] = sh->k[p0 + t][il][c] = value(p0 + t, il, 0, c, salt);
                    v[t * W + c] = sh->v[p0 + t][il][c] = value(p0 + t, il, 1, c, salt);
                }
            assert_int_equal(ef_kvi_write_rows(kv, seq, il, p0, n, k, v), EF_OK);
        }
        for (int32_t t = 0; t < n; t++) tok[t] = sh->tok[p0 + t] = 1 + (p0 + t + salt) % 500;
        assert_int_equal(ef_kvi_seq_commit(kv, seq, tok, n), EF_OK);
        sh->n += n;
        done += n;
    }
}

/* The shadow after removing [p0, p1): later positions move down, keys turned by −d. */
static void shadow_remove(shadow *sh, int32_t p0, int32_t p1) {
    const ef_hparams *hp = &g_model->hp;
    const ef_rope_params rope = {hp->rope_mode, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale,
                                 g_model->rope_factors};
    const int32_t d = p1 - p0;
    for (int32_t j = p0; j + d < sh->n; j++) {
        memcpy(sh->k[j], sh->k[j + d], sizeof sh->k[j]);
        memcpy(sh->v[j], sh->v[j + d], sizeof sh->v[j]);
        sh->tok[j] = sh->tok[j + d];
        for (int32_t il = 0; il < 2; il++) ef_cpu_rope(sh->k[j][il], 1, hp->n_head_kv, hp->head_dim, -d, &rope);
    }
    sh->n -= d;
}

static int64_t ring_row(int64_t pos) { return pos < SINKS ? pos : SINKS + (pos - SINKS) % BODY; }

/* The sinks and the positions [from, n) hold exactly the shadow's rows and
 * ids (full layers: every position). */
static void check_held(ef_kv_cache *kv, int32_t seq, const shadow *sh, int32_t from) {
    assert_int_equal(ef_kvi_seq_len(kv, seq), sh->n);
    ef_kv_seq_info info;
    assert_int_equal(ef_kvi_seq_info(kv, seq, &info), EF_OK);
    assert_int_equal(info.n_pos, sh->n);
    float got[W];
    for (int32_t j = 0; j < sh->n; j++) {
        const int lost = j >= SINKS && j < from;
        for (int32_t il = 0; il < 2; il++)
            for (int32_t which = 0; which < 2; which++) {
                if (lost && g_ring_layer[il]) continue;
                assert_int_equal(ef_kvi_read_rows(kv, seq, il, which, g_ring_layer[il] ? ring_row(j) : j, 1, got), EF_OK);
                const float *want = which ? sh->v[j][il] : sh->k[j][il];
                if (memcmp(got, want, sizeof got) != 0)
                    fail_msg("position %d layer %d %s: %g, want %g", j, il, which ? "V" : "K", (double)got[0],
                             (double)want[0]);
            }
        if (lost && g_ring_layer[0] && g_ring_layer[1]) continue; /* a token ring keeps the held ids only */
        const int64_t e = info.n_tok < info.n_pos && j >= SINKS ? SINKS + (j - SINKS) % (info.n_tok - SINKS) : j;
        if (info.tokens[e] != sh->tok[j]) fail_msg("position %d: token %d, want %d", j, info.tokens[e], sh->tok[j]);
    }
}

/* Every byte a sequence shows: length, info, token store and all rows. */
typedef struct snapshot {
    int32_t n, lost, n_tok, lo, hi;
    int32_t tok[MAXPOS];
    unsigned char rows[2][2][NCTX * W * 4];
} snapshot;

static void take(ef_kv_cache *kv, int32_t seq, snapshot *s) {
    memset(s, 0, sizeof *s);
    ef_kv_seq_info info;
    assert_int_equal(ef_kvi_seq_info(kv, seq, &info), EF_OK);
    s->n = info.n_pos;
    s->lost = info.lost_end;
    s->n_tok = info.n_tok;
    memcpy(s->tok, info.tokens, sizeof(int32_t) * (size_t)info.n_tok);
    assert_int_equal(ef_kv_seq_pos_range(kv, seq, &s->lo, &s->hi), EF_OK);
    for (int32_t il = 0; il < 2; il++)
        for (int32_t which = 0; which < 2; which++)
            assert_int_equal(ef_kvi_read_rows(kv, seq, il, which, 0, ef_kvi_layer_rows(kv, il, s->n),
                                              s->rows[il][which]),
                             EF_OK);
}

static void test_stream_past_n_ctx(void **state) {
    (void)state;
    ef_kv_cache *kv = make_cache(1, NULL);
    assert_int_equal(ef_kvi_streams(kv), 1);
    static shadow sh;
    memset(&sh, 0, sizeof sh);
    append(kv, 0, &sh, 3 * NCTX + 5, 0); /* far past n_ctx */
    check_held(kv, 0, &sh, sh.n - BODY);
    double pages = -1;
    assert_int_equal(ef_kv_cache_stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_HOT, &pages), EF_OK);
    assert_true(pages == 2 * 2); /* 20 rows = 2 pages per layer, however long the stream */
    int32_t lo, hi;
    assert_int_equal(ef_kv_seq_pos_range(kv, 0, &lo, &hi), EF_OK);
    assert_int_equal(lo, 0); /* the sinks */
    assert_int_equal(hi, sh.n - 1);
    const int32_t *tok;
    int32_t n;
    assert_int_equal(ef_kvi_seq_tokens(kv, 0, &tok, &n), EF_ERR_UNSUPPORTED); /* only a ring of ids is kept */
    ef_kv_seq_info info;
    assert_int_equal(ef_kvi_seq_info(kv, 0, &info), EF_OK);
    assert_int_equal(info.n_tok, RING);
    assert_int_equal(info.extended, 1);
    /* a fork streams on separately */
    static shadow fork;
    fork = sh;
    assert_int_equal(ef_kv_seq_copy(kv, 0, 1), EF_OK);
    append(kv, 1, &fork, 30, 7);
    append(kv, 0, &sh, 11, 3);
    check_held(kv, 1, &fork, fork.n - BODY);
    check_held(kv, 0, &sh, sh.n - BODY);
    ef_kv_cache_free(kv);
}

static void test_rewind_wrapped_ring(void **state) {
    (void)state;
    ef_kv_cache *kv = make_cache(1, NULL);
    static shadow sh;
    memset(&sh, 0, sizeof sh);
    append(kv, 0, &sh, 150, 0);
    static snapshot before, after;
    take(kv, 0, &before);
    /* 8 back: the next token's window would need position 150 − 8 − 11 = 131, overwritten by 149 */
    assert_int_equal(ef_kv_seq_remove(kv, 0, 142, -1), EF_ERR_UNSUPPORTED);
    assert_non_null(strstr(ef_kv_cache_errmsg(kv), "no longer holds"));
    take(kv, 0, &after);
    assert_memory_equal(&before, &after, sizeof before);
    /* 7 back is what the ring keeps beyond the window: allowed; re-evaluated text lands exactly */
    assert_int_equal(ef_kv_seq_remove(kv, 0, 143, -1), EF_OK);
    sh.n = 143;
    check_held(kv, 0, &sh, 143 - (WINDOW - 1));
    ef_kv_seq_info info;
    assert_int_equal(ef_kvi_seq_info(kv, 0, &info), EF_OK);
    assert_int_equal(info.lost_end, 150 - BODY); /* 132..142 held, 125..131 lost to 143..149 */
    append(kv, 0, &sh, 9, 55);
    check_held(kv, 0, &sh, sh.n - (WINDOW - 1));
    /* still wrapped, so rewinding into the lost positions stays refused */
    assert_int_equal(ef_kv_seq_remove(kv, 0, 135, -1), EF_ERR_UNSUPPORTED);
    /* down into the sinks is always possible: only sinks remain */
    assert_int_equal(ef_kv_seq_remove(kv, 0, 1, -1), EF_OK);
    sh.n = 1;
    check_held(kv, 0, &sh, 1);
    assert_int_equal(ef_kvi_seq_info(kv, 0, &info), EF_OK);
    assert_int_equal(info.lost_end, 0);
    append(kv, 0, &sh, 40, 9);
    check_held(kv, 0, &sh, sh.n - BODY);
    ef_kv_cache_free(kv);
}

static void test_remove_middle_of_wrapped_ring(void **state) {
    (void)state;
    ef_kv_cache *kv = make_cache(1, NULL);
    static shadow sh;
    memset(&sh, 0, sizeof sh);
    append(kv, 0, &sh, 150, 0);
    /* drop 140..142: 143..149 move down to 140..146, keys turned by −3 */
    assert_int_equal(ef_kv_seq_remove(kv, 0, 140, 143), EF_OK);
    shadow_remove(&sh, 140, 143);
    check_held(kv, 0, &sh, 150 - BODY);
    append(kv, 0, &sh, 25, 4);
    check_held(kv, 0, &sh, sh.n - BODY);
    /* a context shift keeping the sinks: the held tail moves down next to them */
    assert_int_equal(ef_kv_seq_shift(kv, 0, SINKS, sh.n - BODY - SINKS), EF_OK);
    shadow_remove(&sh, SINKS, sh.n - BODY);
    check_held(kv, 0, &sh, SINKS);
    ef_kv_seq_info info;
    assert_int_equal(ef_kvi_seq_info(kv, 0, &info), EF_OK);
    assert_int_equal(info.n_pos, RING); /* the ring is exactly full again, nothing lost */
    assert_int_equal(info.lost_end, 0);
    append(kv, 0, &sh, 30, 8);
    check_held(kv, 0, &sh, sh.n - BODY);
    /* position 1 would become old position 5, which the ring dropped long ago */
    static snapshot before, after;
    take(kv, 0, &before);
    assert_int_equal(ef_kv_seq_remove(kv, 0, 1, 5), EF_ERR_UNSUPPORTED);
    assert_non_null(strstr(ef_kv_cache_errmsg(kv), "sink"));
    take(kv, 0, &after);
    assert_memory_equal(&before, &after, sizeof before);
    ef_kv_cache_free(kv);
}

/* Random appends, rewinds, middle removals and shifts on a ring. Whatever
 * the store accepts must leave exactly what the next token reads (the sinks
 * and the last window − 1 positions) equal to the shadow; whatever it
 * refuses must leave the sequence unchanged. */
static void random_operations(int ring, int32_t max_pos) {
    ef_kv_cache *kv = make_cache(ring, NULL);
    static shadow sh;
    static snapshot before, after;
    memset(&sh, 0, sizeof sh);
    uint32_t rng = 12345;
    int accepted = 0, refused = 0;
    for (int op = 0; op < 400; op++) {
        rng = rng * 1664525u + 1013904223u;
        const uint32_t r = rng >> 8;
        if (sh.n < 3 || r % 3 == 0 || sh.n + 30 >= max_pos) {
            if (sh.n + 30 >= max_pos) { /* make room: a big shift */
                const int32_t d = sh.n - BODY - SINKS;
                if (ef_kv_seq_shift(kv, 0, SINKS, d) == EF_OK) shadow_remove(&sh, SINKS, SINKS + d);
                else fail_msg("op %d: shift of %d after the sinks refused: %s", op, d, ef_kv_cache_errmsg(kv));
            } else {
                append(kv, 0, &sh, 1 + (int32_t)(r / 3 % 25), op);
            }
        } else {
            const int32_t p1 = r % 2 ? sh.n : 1 + (int32_t)((r >> 4) % (uint32_t)sh.n);
            const int32_t p0 = (int32_t)((r >> 12) % (uint32_t)p1);
            take(kv, 0, &before);
            const ef_status st = ef_kv_seq_remove(kv, 0, p0, p1);
            if (st == EF_OK) {
                shadow_remove(&sh, p0, p1);
                accepted++;
            } else {
                if (st != EF_ERR_UNSUPPORTED) fail_msg("op %d: remove [%d, %d): %s", op, p0, p1, ef_status_str(st));
                take(kv, 0, &after);
                if (memcmp(&before, &after, sizeof before) != 0) fail_msg("op %d: a refused removal changed the sequence", op);
                refused++;
            }
        }
        check_held(kv, 0, &sh, sh.n - (WINDOW - 1));
    }
    print_message("  %s: %d removals accepted, %d refused\n", ring == 1 ? "rings" : "ring + full layer", accepted,
                  refused);
    assert_true(accepted > 20 && refused > 20);
    ef_kv_cache_free(kv);
}

static void test_random_ring_operations(void **state) {
    (void)state;
    random_operations(1, MAXPOS);   /* streaming */
    random_operations(2, NCTX + 1); /* a mixed model: n_ctx bounds it, the ring layer wraps */
}

/* ---- a removal failing on a disk page that cannot be read back ---- */

static int g_reads_left; /* spill reads that succeed before one fails; <0: none fails */
static int fail_read(void) {
    if (g_reads_left < 0) return 0;
    if (g_reads_left == 0) return 1;
    g_reads_left--;
    return 0;
}

/* Removes [p0, p1) from a copy of the scenario with the k-th spill read
 * failing, for k = 0, 1, ... until it succeeds: every failure leaves the
 * sequence as it was. Returns the reads that could fail. */
static int check_all_or_nothing(int ring, int32_t n, int32_t p0, int32_t p1) {
    int failures = 0;
    g_ring = 62;
    for (int k = 0;; k++) {
        ef_kv_cache *kv = make_cache(ring, KV_SPILL);
        static shadow sh;
        memset(&sh, 0, sizeof sh);
        append(kv, 0, &sh, n, 0);
        double on_disk = 0;
        assert_int_equal(ef_kv_cache_stat(kv, EF_KV_STAT_PAGES, EF_KV_TIER_DISK, &on_disk), EF_OK);
        assert_true(on_disk >= 2);
        static snapshot before, after;
        take(kv, 0, &before);
        g_reads_left = k;
        ef_kvi_spill_read_fail_hook = fail_read;
        const ef_status st = ef_kv_seq_remove(kv, 0, p0, p1);
        ef_kvi_spill_read_fail_hook = NULL;
        g_reads_left = -1;
        if (st == EF_OK) {
            shadow_remove(&sh, p0, p1);
            check_held(kv, 0, &sh, ring ? (n > RING ? n - BODY : SINKS) : 0);
            ef_kv_cache_free(kv);
            g_ring = 20;
            return failures;
        }
        assert_int_equal(st, EF_ERR_IO);
        assert_non_null(strstr(ef_kv_cache_errmsg(kv), "injected"));
        take(kv, 0, &after);
        if (memcmp(&before, &after, sizeof before) != 0) fail_msg("read %d failing changed the sequence", k);
        failures++;
        /* and the sequence still works: the same removal goes through now */
        assert_int_equal(ef_kv_seq_remove(kv, 0, p0, p1), EF_OK);
        ef_kv_cache_free(kv);
    }
}

static void test_removal_all_or_nothing(void **state) {
    (void)state;
    assert_true(check_all_or_nothing(0, 60, 5, 12) >= 3);  /* full layers: pages 0..3 of both layers on disk */
    assert_true(check_all_or_nothing(1, 130, 80, 83) >= 2); /* a wrapped ring (the window's pages stay hot) */
    assert_true(check_all_or_nothing(1, 50, 3, 9) >= 2);    /* a ring not yet wrapped */
}

/* Each allocation of a removal from a wrapped ring (with pages on disk and a
 * shared fork) failing in turn: a clean EF_ERR_NO_MEMORY, the sequence as it
 * was, and nothing leaked once the cache is freed. */
static void test_removal_alloc_failures(void **state) {
    (void)state;
    g_ring = 62;
    int points = 0;
    for (long n = 0;; n++) {
        fail_alloc_arm(-1);
        assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
        ef_kv_cache *kv = make_cache(1, KV_SPILL);
        static shadow sh;
        memset(&sh, 0, sizeof sh);
        append(kv, 0, &sh, 130, 0);
        assert_int_equal(ef_kv_seq_copy(kv, 0, 1), EF_OK); /* shared pages: the removal copies them first */
        static snapshot before, after;
        take(kv, 1, &before);
        atomic_store(&g_countdown, n);
        const ef_status st = ef_kv_seq_remove(kv, 1, 80, 83);
        atomic_store(&g_countdown, -1);
        const long failed = atomic_load(&g_failures);
        if (failed == 0) {
            assert_int_equal(st, EF_OK);
        } else {
            if (st != EF_ERR_NO_MEMORY) fail_msg("allocation %ld failing: %s", n, ef_status_str(st));
            take(kv, 1, &after);
            if (memcmp(&before, &after, sizeof before) != 0) fail_msg("allocation %ld failing changed the sequence", n);
            points++;
        }
        ef_kv_cache_free(kv);
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (atomic_load(&g_live) != 0) fail_msg("allocation %ld failing: %ld blocks leaked", n, (long)atomic_load(&g_live));
        if (failed == 0) break;
    }
    print_message("  %d allocations of the removal failed in turn\n", points);
    assert_true(points >= 3);
    g_ring = 20;
}

/* An older snapshot gives every id by position; a token ring keeps the last. */
static void test_stage_positional_tokens(void **state) {
    (void)state;
    ef_kv_cache *kv = make_cache(1, NULL);
    enum { N = 40 };
    int32_t tok[N];
    for (int32_t i = 0; i < N; i++) tok[i] = 100 + i;
    static float rows[2][64 * W];
    for (int32_t i = 0; i < RING * W; i++) rows[0][i] = rows[1][i] = (float)i;
    const void *lk[2] = {rows[0], rows[1]}, *lv[2] = {rows[1], rows[0]};
    ef_kv_stage *stage = NULL;
    assert_int_equal(ef_kv_stage_create(kv, &stage), EF_OK);
    assert_int_equal(ef_kv_stage_seq(stage, 0, tok, N, lk, lv), EF_OK);
    ef_kv_stage_commit(stage, 1);
    ef_kv_stage_free(stage);
    ef_kv_seq_info info;
    assert_int_equal(ef_kvi_seq_info(kv, 0, &info), EF_OK);
    assert_int_equal(info.n_pos, N);
    assert_int_equal(info.n_tok, RING);
    for (int32_t p = 0; p < N; p++)
        if (p < SINKS || p >= N - BODY) assert_int_equal(info.tokens[ring_row(p)], 100 + p);
    /* a token count that fits neither layout is refused */
    const ef_kv_seq_info bad = {N, 0, tok, 7, 1};
    assert_int_equal(ef_kv_stage_create(kv, &stage), EF_OK);
    assert_int_equal(ef_kv_stage_seq_info(stage, 0, &bad, lk, lv), EF_ERR_INVALID_ARG);
    ef_kv_stage_free(stage);
    ef_kv_cache_free(kv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_past_n_ctx),
        cmocka_unit_test(test_rewind_wrapped_ring),
        cmocka_unit_test(test_remove_middle_of_wrapped_ring),
        cmocka_unit_test(test_random_ring_operations),
        cmocka_unit_test(test_removal_all_or_nothing),
        cmocka_unit_test(test_removal_alloc_failures),
        cmocka_unit_test(test_stage_positional_tokens),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
