/* Session snapshots through the public API on generated tiny models
 * (llama, a sliding-window llama, deepseek2 with MLA):
 *   - save, evaluate more, restore: logits and sampled tokens identical to
 *     continuing from the saved point, in the same and in a fresh session;
 *   - a file and a buffer (two-call) hold the same bytes;
 *   - wrong model, KV types, context, scope; corrupt and truncated bytes:
 *     the documented status and the session exactly as it was;
 *   - an allocation failure at each allocation of save and of restore:
 *     a clean status, nothing leaked, the session unchanged. */
#define _POSIX_C_SOURCE 200809L /* pthreads */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/edgeformer.h"
#include "model/model.h"

#define N_CTX 48

/* ---- a counting, failing allocator ---- */

#include "common/fail_alloc.h" /* g_countdown, g_failures, g_live, counting_malloc, counting_realloc, counting_free */

/* ---- helpers ---- */

static ef_model *load(const char *path) {
    ef_model *m = NULL;
    ef_status st = ef_model_load(path, NULL, &m);
    if (st != EF_OK) fprintf(stderr, "load %s: %s\n", path, ef_last_error());
    assert_int_equal(st, EF_OK);
    return m;
}

static ef_session *session_kv(ef_model *m, int32_t n_ctx, const char *kv_type) {
    ef_session_params *p = NULL;
    ef_session *s = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, n_ctx), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 1), EF_OK);
    assert_int_equal(ef_session_params_set_n_batch(p, 4), EF_OK); /* small rings for window layers */
    assert_int_equal(ef_session_params_set_seed(p, 5), EF_OK);
    if (kv_type) assert_int_equal(ef_session_params_set_kv_type(p, kv_type), EF_OK);
    ef_status st = ef_session_create(m, p, &s);
    if (st != EF_OK) fprintf(stderr, "session: %s\n", ef_last_error());
    assert_int_equal(st, EF_OK);
    ef_session_params_free(p);
    /* a sampler whose RNG and history matter */
    ef_sampler_params *sp = NULL;
    assert_int_equal(ef_sampler_params_create(&sp), EF_OK);
    assert_int_equal(ef_sampler_params_set_temperature(sp, 1.3f), EF_OK);
    assert_int_equal(ef_sampler_params_set_top_k(sp, 0), EF_OK);
    assert_int_equal(ef_sampler_params_set_repeat_penalty(sp, 1.3f, 16), EF_OK);
    assert_int_equal(ef_sampler_params_set_seed(sp, 77), EF_OK);
    assert_int_equal(ef_session_set_sampler(s, sp), EF_OK);
    ef_sampler_params_free(sp);
    return s;
}

static ef_session *session(ef_model *m) { return session_kv(m, N_CTX, NULL); }

static void eval(ef_session *s, const int32_t *t, size_t n, uint32_t flags) {
    ef_status st = ef_session_eval(s, t, n, flags);
    if (st != EF_OK) fprintf(stderr, "eval: %s\n", ef_session_errmsg(s));
    assert_int_equal(st, EF_OK);
}

/* The session's whole snapshot (malloc'ed), through the two-call pattern. */
static uint8_t *save_buf(ef_session *s, int32_t seq, size_t *size) {
    size_t need = 0;
    assert_int_equal(ef_session_save_buffer(s, seq, NULL, 0, &need), EF_ERR_BUFFER_TOO_SMALL);
    assert_true(need > 0);
    uint8_t *b = malloc(need);
    assert_non_null(b);
    if (need > 1) assert_int_equal(ef_session_save_buffer(s, seq, b, need - 1, size), EF_ERR_BUFFER_TOO_SMALL);
    ef_status st = ef_session_save_buffer(s, seq, b, need, size);
    if (st != EF_OK) fprintf(stderr, "save: %s\n", ef_session_errmsg(s));
    assert_int_equal(st, EF_OK);
    assert_int_equal(*size, need);
    return b;
}

/* What the session does next: 3 more tokens evaluated with every row of
 * logits kept, then 4 sampled-and-fed tokens; logits of every step. */
typedef struct continuation {
    float *logits; /* [7][n_vocab] */
    int32_t tokens[4];
} continuation;

static void run_continuation(ef_session *s, ef_model *m, continuation *c) {
    const int32_t n_vocab = ef_model_n_vocab(m);
    c->logits = malloc(sizeof(float) * 7 * (size_t)n_vocab);
    const int32_t more[3] = {11, 12, 13};
    eval(s, more, 3, EF_EVAL_ALL_LOGITS);
    for (int i = 0; i < 3; i++) {
        const float *l = NULL;
        assert_int_equal(ef_session_logits(s, i, &l), EF_OK);
        memcpy(c->logits + (size_t)i * n_vocab, l, sizeof(float) * (size_t)n_vocab);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ef_session_sample(s, &c->tokens[i]), EF_OK);
        eval(s, &c->tokens[i], 1, 0);
        const float *l = NULL;
        assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
        memcpy(c->logits + (size_t)(3 + i) * n_vocab, l, sizeof(float) * (size_t)n_vocab);
    }
}

static void expect_same_continuation(const continuation *a, const continuation *b, ef_model *m) {
    assert_memory_equal(a->logits, b->logits, sizeof(float) * 7 * (size_t)ef_model_n_vocab(m));
    assert_memory_equal(a->tokens, b->tokens, sizeof a->tokens);
}

/* A session with some history: a prompt of n tokens and 2 sampled tokens. */
static void warm_up(ef_session *s, int32_t n) {
    int32_t prompt[40];
    for (int32_t i = 0; i < n; i++) prompt[i] = 3 + (i * 37) % 250;
    eval(s, prompt, (size_t)n, EF_EVAL_ALL_LOGITS);
    for (int i = 0; i < 2; i++) {
        int32_t t;
        assert_int_equal(ef_session_sample(s, &t), EF_OK);
        eval(s, &t, 1, 0);
    }
}

/* ---- tests ---- */

static void check_continue_equivalence(const char *path, int32_t n_prompt) {
    ef_model *m = load(path);
    ef_session *s = session(m);
    warm_up(s, n_prompt);
    size_t size = 0;
    uint8_t *snap = save_buf(s, EF_SEQ_ALL, &size);

    continuation orig, again, fresh;
    run_continuation(s, m, &orig);
    /* back to the saved point in the same session */
    assert_int_equal(ef_session_restore_buffer(s, EF_SEQ_ALL, snap, size), EF_OK);
    assert_int_equal(ef_session_n_past(s), n_prompt + 2);
    size_t size2 = 0;
    uint8_t *snap2 = save_buf(s, EF_SEQ_ALL, &size2);
    assert_int_equal(size2, size);
    assert_memory_equal(snap2, snap, size); /* the state is exactly the saved one */
    run_continuation(s, m, &again);
    expect_same_continuation(&orig, &again, m);

    /* and in a fresh session of the same model, from a one-sequence snapshot */
    ef_session *s2 = session(m);
    assert_int_equal(ef_session_restore_buffer(s2, EF_SEQ_ALL, snap, size), EF_OK);
    run_continuation(s2, m, &fresh);
    expect_same_continuation(&orig, &fresh, m);

    free(orig.logits);
    free(again.logits);
    free(fresh.logits);
    free(snap);
    free(snap2);
    ef_session_free(s2);
    ef_session_free(s);
    ef_model_free(m);
}

static void test_continue_llama(void **state) {
    (void)state;
    check_continue_equivalence(MODEL_A, 9);
}

/* more tokens than the window rings hold */
static void test_continue_window(void **state) {
    (void)state;
    check_continue_equivalence(MODEL_SWA, 30);
}

static void test_continue_mla(void **state) {
    (void)state;
    check_continue_equivalence(MODEL_MLA, 9);
}

static void test_one_sequence_snapshot(void **state) {
    (void)state;
    ef_model *m = load(MODEL_A);
    ef_session *s = session(m);
    warm_up(s, 6);
    size_t n_one = 0, n_all = 0;
    uint8_t *one = save_buf(s, 0, &n_one);
    uint8_t *all = save_buf(s, EF_SEQ_ALL, &n_all);
    continuation orig, back;
    run_continuation(s, m, &orig);
    /* scopes must match */
    assert_int_equal(ef_session_restore_buffer(s, EF_SEQ_ALL, one, n_one), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_restore_buffer(s, 0, all, n_all), EF_ERR_INVALID_ARG);
    size_t dummy = 1;
    assert_int_equal(ef_session_save_buffer(s, 12345, NULL, 0, &dummy), EF_ERR_INVALID_ARG);
    assert_int_equal(dummy, 0);
    assert_int_equal(ef_session_restore_buffer(s, 0, one, n_one), EF_OK);
    run_continuation(s, m, &back);
    expect_same_continuation(&orig, &back, m);
    free(orig.logits);
    free(back.logits);
    free(one);
    free(all);
    ef_session_free(s);
    ef_model_free(m);
}

static void test_file_equals_buffer(void **state) {
    (void)state;
    ef_model *m = load(MODEL_A);
    ef_session *s = session(m);
    warm_up(s, 7);
    size_t size = 0;
    uint8_t *snap = save_buf(s, EF_SEQ_ALL, &size);
    const char *path = EF_TEST_TMP "/snapshot_session.efsnap";
    remove(path);
    assert_int_equal(ef_session_save(s, EF_SEQ_ALL, path), EF_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *disk = malloc(size + 1);
    assert_int_equal(fread(disk, 1, size + 1, f), size);
    fclose(f);
    assert_memory_equal(disk, snap, size);
    /* restore from the file continues like the buffer */
    continuation orig, back;
    run_continuation(s, m, &orig);
    assert_int_equal(ef_session_restore(s, EF_SEQ_ALL, path), EF_OK);
    run_continuation(s, m, &back);
    expect_same_continuation(&orig, &back, m);
    /* I/O errors */
    assert_int_equal(ef_session_restore(s, EF_SEQ_ALL, EF_TEST_TMP "/no_such_snapshot"), EF_ERR_IO);
    assert_int_equal(ef_session_save(s, EF_SEQ_ALL, EF_TEST_TMP "/no/such/dir/x.efsnap"), EF_ERR_IO);
    assert_true(strlen(ef_session_errmsg(s)) > 0);
    free(orig.logits);
    free(back.logits);
    free(disk);
    free(snap);
    ef_session_free(s);
    ef_model_free(m);
}

/* Restoring `bad` must fail with `want` (0: FORMAT or CORRUPT) and leave s
 * as `before` says, including its next draws. */
static void expect_refused_unchanged(ef_session *s, const uint8_t *bad, size_t n, ef_status want,
                                     const uint8_t *before, size_t before_size) {
    ef_status st = ef_session_restore_buffer(s, EF_SEQ_ALL, bad, n);
    if (want) {
        if (st != want) fprintf(stderr, "status %s: %s\n", ef_status_str(st), ef_session_errmsg(s));
        assert_int_equal(st, want);
    } else if (st != EF_ERR_FORMAT && st != EF_ERR_CORRUPT) {
        fail_msg("status %s: %s", ef_status_str(st), ef_session_errmsg(s));
    }
    assert_true(strlen(ef_session_errmsg(s)) > 0);
    size_t now_size = 0;
    uint8_t *now = save_buf(s, EF_SEQ_ALL, &now_size);
    assert_int_equal(now_size, before_size);
    assert_memory_equal(now, before, before_size);
    free(now);
}

static void test_wrong_model_and_layout(void **state) {
    (void)state;
    ef_model *a = load(MODEL_A), *b = load(MODEL_B);
    assert_true(ef_model_fingerprint(a) != 0);
    assert_true(ef_model_fingerprint(a) != ef_model_fingerprint(b)); /* same shape, other weights */
    ef_model *a2 = load(MODEL_A);
    assert_true(ef_model_fingerprint(a) == ef_model_fingerprint(a2));
    ef_model_free(a2);

    ef_session *sa = session(a), *sb = session(b);
    warm_up(sa, 8);
    warm_up(sb, 5);
    size_t na = 0, nb = 0;
    uint8_t *snap_a = save_buf(sa, EF_SEQ_ALL, &na);
    uint8_t *before_b = save_buf(sb, EF_SEQ_ALL, &nb);
    expect_refused_unchanged(sb, snap_a, na, EF_ERR_MISMATCH, before_b, nb);
    /* the draws of sb are those of a twin restored from its own snapshot */
    ef_session *twin = session(b);
    assert_int_equal(ef_session_restore_buffer(twin, EF_SEQ_ALL, before_b, nb), EF_OK);
    continuation c1, c2;
    run_continuation(sb, b, &c1);
    run_continuation(twin, b, &c2);
    expect_same_continuation(&c1, &c2, b);
    free(c1.logits);
    free(c2.logits);

    /* other KV types */
    ef_session *f32 = session_kv(a, N_CTX, "f32");
    warm_up(f32, 4);
    size_t nf = 0;
    uint8_t *before_f = save_buf(f32, EF_SEQ_ALL, &nf);
    expect_refused_unchanged(f32, snap_a, na, EF_ERR_MISMATCH, before_f, nf);
    /* a context too small for the saved tokens */
    ef_session *small = session_kv(a, 8, NULL);
    warm_up(small, 3);
    size_t ns = 0;
    uint8_t *before_s = save_buf(small, EF_SEQ_ALL, &ns);
    expect_refused_unchanged(small, snap_a, na, EF_ERR_MISMATCH, before_s, ns);

    free(before_f);
    free(before_s);
    free(snap_a);
    free(before_b);
    ef_session_free(twin);
    ef_session_free(f32);
    ef_session_free(small);
    ef_session_free(sa);
    ef_session_free(sb);
    ef_model_free(a);
    ef_model_free(b);
}

static void test_corrupt_and_truncated(void **state) {
    (void)state;
    ef_model *m = load(MODEL_A);
    ef_session *s = session(m), *other = session(m);
    warm_up(s, 6);
    warm_up(other, 9);
    size_t n = 0, nb = 0;
    uint8_t *snap = save_buf(other, EF_SEQ_ALL, &n);
    uint8_t *before = save_buf(s, EF_SEQ_ALL, &nb);
    /* truncations (every length in the headers, then a stride) */
    for (size_t len = 0; len < n; len += len < 128 ? 1 : 61) {
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, snap, len);
        expect_refused_unchanged(s, cut, len, 0, before, nb);
        free(cut);
    }
    /* single-bit flips (every bit of the first 256 bytes, then a stride) */
    uint8_t *bad = malloc(n);
    for (size_t bit = 0; bit < n * 8; bit += bit < 2048 ? 1 : 97) {
        memcpy(bad, snap, n);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        expect_refused_unchanged(s, bad, n, 0, before, nb);
    }
    /* an unknown version, named in the message */
    memcpy(bad, snap, n);
    bad[8] = 9;
    assert_int_equal(ef_session_restore_buffer(s, EF_SEQ_ALL, bad, n), EF_ERR_FORMAT);
    assert_non_null(strstr(ef_session_errmsg(s), "version 9"));
    expect_refused_unchanged(s, bad, n, EF_ERR_FORMAT, before, nb);
    free(bad);
    free(snap);
    free(before);
    ef_session_free(s);
    ef_session_free(other);
    ef_model_free(m);
}

/* A session whose pages sit in every tier (tiny budgets, zstd, a spill
 * directory) saves the same bytes as an all-hot one and restores both ways. */
static ef_session *tiered_session(ef_model *m) {
    ef_kv_params *kvp = NULL;
    assert_int_equal(ef_kv_params_create(&kvp), EF_OK);
    assert_int_equal(ef_kv_params_set_page_size(kvp, 16), EF_OK);
    assert_int_equal(ef_kv_params_set_tier_budget(kvp, EF_KV_TIER_HOT, 2048), EF_OK); /* one page */
    assert_int_equal(ef_kv_params_set_tier_budget(kvp, EF_KV_TIER_RAM, 2048), EF_OK);
    assert_int_equal(ef_kv_params_set_tier_budget(kvp, EF_KV_TIER_ZSTD, 1024), EF_OK);
    assert_int_equal(ef_kv_params_set_compression(kvp, 1), EF_OK);
    assert_int_equal(ef_kv_params_set_spill_dir(kvp, EF_TEST_TMP), EF_OK);
    ef_session_params *p = NULL;
    ef_session *s = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, N_CTX), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 1), EF_OK);
    assert_int_equal(ef_session_params_set_n_batch(p, 4), EF_OK);
    assert_int_equal(ef_session_params_set_kv_params(p, kvp), EF_OK);
    ef_status st = ef_session_create(m, p, &s);
    if (st != EF_OK) fprintf(stderr, "tiered session: %s\n", ef_last_error());
    assert_int_equal(st, EF_OK);
    ef_session_params_free(p);
    ef_kv_params_free(kvp);
    ef_sampler_params *sp = NULL;
    assert_int_equal(ef_sampler_params_create(&sp), EF_OK);
    assert_int_equal(ef_sampler_params_set_temperature(sp, 1.3f), EF_OK);
    assert_int_equal(ef_sampler_params_set_top_k(sp, 0), EF_OK);
    assert_int_equal(ef_sampler_params_set_repeat_penalty(sp, 1.3f, 16), EF_OK);
    assert_int_equal(ef_sampler_params_set_seed(sp, 77), EF_OK);
    assert_int_equal(ef_session_set_sampler(s, sp), EF_OK);
    ef_sampler_params_free(sp);
    return s;
}

static void test_tiered_cache(void **state) {
    (void)state;
    ef_model *m = load(MODEL_A);
    ef_session *tiered = tiered_session(m), *hot = session(m);
    warm_up(tiered, 30);
    warm_up(hot, 30);
    double pages[EF_KV_N_TIERS];
    for (int t = 0; t < EF_KV_N_TIERS; t++)
        assert_int_equal(ef_kv_cache_stat(ef_session_kv_cache(tiered), EF_KV_STAT_PAGES, t, &pages[t]), EF_OK);
    fprintf(stderr, "tiered pages: hot %g ram %g zstd %g disk %g\n", pages[0], pages[1], pages[2], pages[3]);
    assert_true(pages[EF_KV_TIER_RAM] > 0 && pages[EF_KV_TIER_DISK] > 0); /* pages did travel */
    size_t nt = 0, nh = 0;
    uint8_t *from_tiered = save_buf(tiered, EF_SEQ_ALL, &nt);
    uint8_t *from_hot = save_buf(hot, EF_SEQ_ALL, &nh);
    assert_int_equal(nt, nh);
    assert_memory_equal(from_tiered, from_hot, nt); /* every tier is lossless */
    continuation orig, a, b;
    run_continuation(hot, m, &orig);
    assert_int_equal(ef_session_restore_buffer(hot, EF_SEQ_ALL, from_tiered, nt), EF_OK);
    run_continuation(hot, m, &a);
    expect_same_continuation(&orig, &a, m);
    run_continuation(tiered, m, &b); /* discard: move on, then go back */
    free(b.logits);
    assert_int_equal(ef_session_restore_buffer(tiered, EF_SEQ_ALL, from_hot, nh), EF_OK);
    run_continuation(tiered, m, &b);
    expect_same_continuation(&orig, &b, m);
    free(orig.logits);
    free(a.logits);
    free(b.logits);
    free(from_tiered);
    free(from_hot);
    ef_session_free(tiered);
    ef_session_free(hot);
    ef_model_free(m);
}

static ef_session *multi_seq_session(ef_model *m) {
    ef_kv_params *kvp = NULL;
    assert_int_equal(ef_kv_params_create(&kvp), EF_OK);
    assert_int_equal(ef_kv_params_set_n_seq_max(kvp, 3), EF_OK);
    assert_int_equal(ef_kv_params_set_page_size(kvp, 16), EF_OK);
    ef_session_params *p = NULL;
    ef_session *s = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, N_CTX), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 1), EF_OK);
    assert_int_equal(ef_session_params_set_kv_params(p, kvp), EF_OK);
    assert_int_equal(ef_session_create(m, p, &s), EF_OK);
    ef_session_params_free(p);
    ef_kv_params_free(kvp);
    ef_sampler_params *sp = NULL;
    assert_int_equal(ef_sampler_params_create(&sp), EF_OK);
    assert_int_equal(ef_sampler_params_set_temperature(sp, 1.1f), EF_OK);
    assert_int_equal(ef_sampler_params_set_seed(sp, 3), EF_OK);
    assert_int_equal(ef_session_set_sampler(s, sp), EF_OK);
    ef_sampler_params_free(sp);
    return s;
}

/* Several sequences: a whole-session snapshot brings every one back (and
 * empties the others); a one-sequence snapshot goes into any sequence; an
 * allocation failure anywhere in a multi-sequence restore changes nothing. */
static void test_multi_sequence(void **state) {
    (void)state;
    ef_model *m = load(MODEL_A);
    ef_session *s = multi_seq_session(m);
    warm_up(s, 7);
    assert_int_equal(ef_session_set_seq(s, 2), EF_OK);
    warm_up(s, 11);
    size_t n_all = 0, n_one = 0;
    uint8_t *all = save_buf(s, EF_SEQ_ALL, &n_all);
    uint8_t *one0 = save_buf(s, 0, &n_one);
    continuation orig2, back2, into0, into1;
    run_continuation(s, m, &orig2);
    /* disturb every sequence, then restore the whole session */
    assert_int_equal(ef_session_set_seq(s, 1), EF_OK);
    warm_up(s, 5);
    assert_int_equal(ef_kv_seq_clear(ef_session_kv_cache(s), 0), EF_OK);
    assert_int_equal(ef_session_set_seq(s, 2), EF_OK);
    assert_int_equal(ef_session_restore_buffer(s, EF_SEQ_ALL, all, n_all), EF_OK);
    assert_int_equal(ef_session_n_past(s), 13);
    size_t n_again = 0;
    uint8_t *again = save_buf(s, EF_SEQ_ALL, &n_again); /* sequence 1 emptied, 0 and 2 back */
    assert_int_equal(n_again, n_all);
    assert_memory_equal(again, all, n_all);
    run_continuation(s, m, &back2);
    expect_same_continuation(&orig2, &back2, m);

    /* one sequence, into itself and into another: the same continuation */
    assert_int_equal(ef_session_set_seq(s, 0), EF_OK);
    assert_int_equal(ef_session_restore_buffer(s, 0, one0, n_one), EF_OK);
    assert_int_equal(ef_session_n_past(s), 9);
    run_continuation(s, m, &into0);
    assert_int_equal(ef_session_set_seq(s, 1), EF_OK);
    assert_int_equal(ef_session_restore_buffer(s, 1, one0, n_one), EF_OK);
    assert_int_equal(ef_session_n_past(s), 9);
    run_continuation(s, m, &into1);
    expect_same_continuation(&into0, &into1, m);
    assert_int_equal(ef_session_restore_buffer(s, 3, one0, n_one), EF_ERR_INVALID_ARG);

    /* allocation failures in a restore of two sequences */
    size_t nb = 0;
    uint8_t *before = save_buf(s, EF_SEQ_ALL, &nb);
    long points = 0;
    for (long k = 0;; k++) {
        g_countdown = k;
        g_failures = 0;
        g_live = 0;
        assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
        ef_status st = ef_session_restore_buffer(s, EF_SEQ_ALL, all, n_all);
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            break;
        }
        points++;
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_int_equal(g_live, 0);
        size_t now_size = 0;
        uint8_t *now = save_buf(s, EF_SEQ_ALL, &now_size);
        assert_int_equal(now_size, nb);
        assert_memory_equal(now, before, nb);
        free(now);
        assert_true(k < 10000);
    }
    print_message("  restore of two sequences: %ld allocation points, each failed cleanly\n", points);
    assert_true(points >= 5);
    free(orig2.logits);
    free(back2.logits);
    free(into0.logits);
    free(into1.logits);
    free(before);
    free(again);
    free(all);
    free(one0);
    ef_session_free(s);
    ef_model_free(m);
}

/* The fingerprint is computed once, lazily: racing first callers agree. */
typedef struct fp_job {
    ef_model *model;
    uint64_t fp;
} fp_job;

static void *fingerprint_thread(void *arg) {
    fp_job *job = arg;
    job->fp = ef_model_fingerprint(job->model);
    return NULL;
}

static void test_fingerprint_threads(void **state) {
    (void)state;
    ef_model *fresh = load(MODEL_A), *other = load(MODEL_A);
    const uint64_t want = ef_model_fingerprint(other); /* computed on another instance */
    pthread_t th[4];
    fp_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].model = fresh;
        jobs[i].fp = 0;
        assert_int_equal(pthread_create(&th[i], NULL, fingerprint_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(jobs[i].fp == want);
    }
    assert_true(ef_model_fingerprint(fresh) == want);
    ef_model_free(fresh);
    ef_model_free(other);
}

static void test_allocation_failures(void **state) {
    (void)state;
    ef_model *m = load(MODEL_A);
    ef_session *s = session(m), *src = session(m);
    warm_up(s, 5);
    warm_up(src, 10);
    size_t n = 0, nb = 0;
    uint8_t *snap = save_buf(src, EF_SEQ_ALL, &n);
    uint8_t *before = save_buf(s, EF_SEQ_ALL, &nb);
    const char *path = EF_TEST_TMP "/snapshot_allocfail.efsnap";
    long points = 0;
    for (int op = 0; op < 3; op++) { /* save to buffer, save to file, restore */
        for (long k = 0;; k++) {
            g_countdown = k;
            g_failures = 0;
            g_live = 0;
            assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
            ef_status st;
            uint8_t *out = malloc(nb);
            size_t got = 0;
            if (op == 0)
                st = ef_session_save_buffer(s, EF_SEQ_ALL, out, nb, &got);
            else if (op == 1)
                st = ef_session_save(s, EF_SEQ_ALL, path);
            else
                st = ef_session_restore_buffer(s, EF_SEQ_ALL, snap, n);
            free(out);
            assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
            assert_int_equal(g_live, 0); /* nothing leaked, nothing kept */
            if (g_failures == 0) {
                assert_int_equal(st, EF_OK);
                break;
            }
            points++;
            if (st != EF_ERR_NO_MEMORY) fprintf(stderr, "op %d alloc %ld: %s\n", op, k, ef_session_errmsg(s));
            assert_int_equal(st, EF_ERR_NO_MEMORY);
            size_t now_size = 0;
            uint8_t *now = save_buf(s, EF_SEQ_ALL, &now_size);
            assert_int_equal(now_size, nb);
            assert_memory_equal(now, before, nb);
            free(now);
            assert_true(k < 10000);
        }
    }
    /* the last restore succeeded: s is now src's state */
    size_t na = 0;
    uint8_t *after = save_buf(s, EF_SEQ_ALL, &na);
    assert_int_equal(na, n);
    assert_memory_equal(after, snap, n);
    print_message("  save to buffer, save to file, restore: %ld allocation points, each failed cleanly\n", points);
    assert_true(points >= 6);
    free(after);
    free(snap);
    free(before);
    ef_session_free(s);
    ef_session_free(src);
    ef_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_continue_llama),
        cmocka_unit_test(test_continue_window),
        cmocka_unit_test(test_continue_mla),
        cmocka_unit_test(test_one_sequence_snapshot),
        cmocka_unit_test(test_file_equals_buffer),
        cmocka_unit_test(test_wrong_model_and_layout),
        cmocka_unit_test(test_corrupt_and_truncated),
        cmocka_unit_test(test_tiered_cache),
        cmocka_unit_test(test_fingerprint_threads),
        cmocka_unit_test(test_multi_sequence),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
