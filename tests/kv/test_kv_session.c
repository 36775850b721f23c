/* Sessions on the paged KV cache:
 *   - a paged f32 session gives the logits of the exec's contiguous cache, bit for bit;
 *   - every tier forced (budgets of 1 byte: pages travel every step, disk in
 *     the build tree) gives the all-hot logits bit for bit (f32, f16, q8_0;
 *     window rings and MLA latents too);
 *   - fork (ef_kv_seq_copy) then eval == the same tokens in a fresh session;
 *     rewind (remove a suffix) then re-eval == the original logits;
 *   - context shift: the logits after a shift match a fresh eval of the kept
 *     tokens at their new positions (float tolerance, f32 cache);
 *     generate with context shift on runs past n_ctx;
 *   - a failing spill write fails the eval cleanly, the session stays usable;
 *   - two sessions sharing one cache on two sequences;
 *   - quantized types need head sizes that are multiples of 32. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/edgeformer.h"
#include "exec/forward.h"
#include "kv/kv_cache.h"
#include "quant/types.h"

#define NCTX 64
#define N_PROMPT 37
#define N_GEN 12

static ef_model *g_llama, *g_window, *g_mla;

static int setup(void **state) {
    (void)state;
    if (ef_model_load(KV_MODEL, NULL, &g_llama) || ef_model_load(KV_MODEL_WIN, NULL, &g_window) ||
        ef_model_load(KV_MODEL_MLA, NULL, &g_mla))
        return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ef_model_free(g_llama);
    ef_model_free(g_window);
    ef_model_free(g_mla);
    return 0;
}

typedef struct kv_opts {
    const char *type;   /* K and V */
    int32_t forced;     /* 1: budgets of 1 byte on hot/ram/zstd */
    const char *spill;  /* disk tier, or NULL */
    int32_t n_batch;    /* 0: default */
    int32_t n_seq;
} kv_opts;

static ef_session *open_session(ef_model *m, const kv_opts *o) {
    ef_session_params *sp = NULL;
    ef_kv_params *kp = NULL;
    assert_int_equal(ef_session_params_create(&sp), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(sp, NCTX), EF_OK);
    assert_int_equal(ef_session_params_set_threads(sp, 2), EF_OK);
    if (o->n_batch) assert_int_equal(ef_session_params_set_n_batch(sp, o->n_batch), EF_OK);
    assert_int_equal(ef_kv_params_create(&kp), EF_OK);
    assert_int_equal(ef_kv_params_set_page_size(kp, 16), EF_OK);
    assert_int_equal(ef_kv_params_set_types(kp, o->type, o->type), EF_OK);
    if (o->n_seq) assert_int_equal(ef_kv_params_set_n_seq_max(kp, o->n_seq), EF_OK);
    if (o->forced)
        for (int32_t t = EF_KV_TIER_HOT; t <= EF_KV_TIER_ZSTD; t++)
            assert_int_equal(ef_kv_params_set_tier_budget(kp, t, 1), EF_OK);
    assert_int_equal(ef_kv_params_set_spill_dir(kp, o->spill), EF_OK);
    assert_int_equal(ef_session_params_set_kv_params(sp, kp), EF_OK);
    ef_kv_params_free(kp);
    ef_session *s = NULL;
    ef_status st = ef_session_create(m, sp, &s);
    ef_session_params_free(sp);
    if (st) fail_msg("ef_session_create: %s", ef_last_error());
    return s;
}

static int32_t n_vocab(const ef_session *s) { (void)s; return 512; }

static void prompt_tokens(int32_t *t, int32_t n, int32_t salt) {
    for (int32_t i = 0; i < n; i++) t[i] = 1 + (i * 37 + salt * 11) % 500;
}

/* Prompt in chunks, then greedy decode; logits of every step into out
 * [(1 + N_GEN)][n_vocab]. */
static void run(ef_session *s, float *out) {
    int32_t t[N_PROMPT];
    prompt_tokens(t, N_PROMPT, 0);
    const int32_t V = n_vocab(s);
    assert_int_equal(ef_session_eval(s, t, 20, 0), EF_OK);
    assert_int_equal(ef_session_eval(s, t + 20, N_PROMPT - 20, 0), EF_OK);
    for (int32_t step = 0; step <= N_GEN; step++) {
        const float *l = NULL;
        assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
        memcpy(out + (size_t)step * V, l, sizeof(float) * (size_t)V);
        if (step == N_GEN) break;
        int32_t best = 0;
        for (int32_t v = 1; v < V; v++)
            if (l[v] > l[best]) best = v;
        ef_status st = ef_session_eval(s, &best, 1, 0);
        if (st) fail_msg("decode step %d: %s", step, ef_session_errmsg(s));
    }
}

static double kv_stat(ef_session *s, int32_t key, int32_t tier) {
    double v = -1;
    assert_int_equal(ef_kv_cache_stat(ef_session_kv_cache(s), key, tier, &v), EF_OK);
    return v;
}

/* All-hot vs forced tiers: identical logits; the pages did travel. */
static void check_forced_equal(ef_model *m, const char *type, int32_t n_batch, int32_t lowest) {
    const size_t n = (size_t)(1 + N_GEN) * 512;
    float *hot = malloc(n * sizeof(float)), *forced = malloc(n * sizeof(float));
    kv_opts a = {type, 0, NULL, n_batch, 0}, b = {type, 1, lowest == EF_KV_TIER_DISK ? KV_SPILL : NULL, n_batch, 0};
    ef_session *s = open_session(m, &a);
    run(s, hot);
    assert_true(kv_stat(s, EF_KV_STAT_HIT_RATE, 0) == 1.0);
    ef_session_free(s);
    s = open_session(m, &b);
    run(s, forced);
    if (!(kv_stat(s, EF_KV_STAT_OFFLOADS, lowest) > 0 && kv_stat(s, EF_KV_STAT_RESTORES, lowest) > 0 &&
          kv_stat(s, EF_KV_STAT_HIT_RATE, 0) < 1.0))
        fail_msg("%s: pages did not travel to tier %d (offloads %g, restores %g, hit rate %g)", type, lowest,
                 kv_stat(s, EF_KV_STAT_OFFLOADS, lowest), kv_stat(s, EF_KV_STAT_RESTORES, lowest),
                 kv_stat(s, EF_KV_STAT_HIT_RATE, 0));
    ef_session_free(s);
    if (memcmp(hot, forced, n * sizeof(float)) != 0) fail_msg("%s: forced tiers change the logits", type);
    free(hot);
    free(forced);
}

static void test_tiers_bit_identical(void **state) {
    (void)state;
    check_forced_equal(g_llama, "f32", 0, EF_KV_TIER_DISK);
    check_forced_equal(g_llama, "f16", 0, EF_KV_TIER_DISK);
    check_forced_equal(g_llama, "f16", 0, EF_KV_TIER_ZSTD);
    check_forced_equal(g_llama, "f16", 8, EF_KV_TIER_DISK); /* pages also move between an eval's chunks */
    check_forced_equal(g_llama, "q8_0", 0, EF_KV_TIER_DISK);
    check_forced_equal(g_window, "f32", 32, EF_KV_TIER_DISK); /* a ring of 2 + 12 + 31 rows, which wraps */
    check_forced_equal(g_mla, "f16", 0, EF_KV_TIER_DISK);
}

/* The paged cache gives the exec's contiguous-cache logits bit for bit. */
static void test_paged_equals_contiguous(void **state) {
    (void)state;
    kv_opts o = {"f32", 0, NULL, 0, 0};
    ef_session *s = open_session(g_llama, &o);
    int32_t t[N_PROMPT];
    prompt_tokens(t, N_PROMPT, 3);
    assert_int_equal(ef_session_eval(s, t, N_PROMPT - 1, 0), EF_OK);
    assert_int_equal(ef_session_eval(s, t + N_PROMPT - 1, 1, 0), EF_OK);
    const float *paged = NULL;
    assert_int_equal(ef_session_logits(s, -1, &paged), EF_OK);

    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);
    assert_int_equal(ef_exec_create_kv(g_llama, NCTX, 512, EF_TYPE_F32, &acct, &e), EF_OK);
    float *ref = malloc(512 * sizeof(float));
    assert_int_equal(ef_exec_forward(e, pool, t, N_PROMPT - 1, 0, 0, ref, NULL), EF_OK);
    assert_int_equal(ef_exec_forward(e, pool, t + N_PROMPT - 1, 1, N_PROMPT - 1, 0, ref, NULL), EF_OK);
    assert_memory_equal(paged, ref, 512 * sizeof(float));
    free(ref);
    ef_exec_free(e, &acct);
    ef_pool_free(pool);
    ef_session_free(s);
}

static void test_fork_and_rewind(void **state) {
    (void)state;
    kv_opts o = {"f16", 0, NULL, 0, 3};
    ef_session *s = open_session(g_llama, &o);
    int32_t p[N_PROMPT], q[5];
    prompt_tokens(p, N_PROMPT, 1);
    prompt_tokens(q, 5, 9);
    assert_int_equal(ef_session_eval(s, p, N_PROMPT, 0), EF_OK);
    /* fork: seq 2 shares seq 0's pages, then diverges with q */
    ef_kv_cache *kv = ef_session_kv_cache(s);
    assert_int_equal(ef_kv_seq_copy(kv, 0, 2), EF_OK);
    assert_int_equal(ef_session_set_seq(s, 2), EF_OK);
    assert_int_equal(ef_session_seq(s), 2);
    assert_int_equal(ef_session_n_past(s), N_PROMPT);
    assert_int_equal(ef_session_eval(s, q, 5, 0), EF_OK);
    const float *l = NULL;
    assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
    float *forked = malloc(512 * sizeof(float));
    memcpy(forked, l, 512 * sizeof(float));

    /* the same tokens in a fresh session, the same way */
    kv_opts o1 = {"f16", 0, NULL, 0, 0};
    ef_session *fresh = open_session(g_llama, &o1);
    assert_int_equal(ef_session_eval(fresh, p, N_PROMPT, 0), EF_OK);
    assert_int_equal(ef_session_eval(fresh, q, 5, 0), EF_OK);
    assert_int_equal(ef_session_logits(fresh, -1, &l), EF_OK);
    assert_memory_equal(forked, l, 512 * sizeof(float));
    ef_session_free(fresh);

    /* seq 0 was not touched by the fork's writes: q on it gives the same again */
    assert_int_equal(ef_session_set_seq(s, 0), EF_OK);
    assert_int_equal(ef_session_eval(s, q, 5, 0), EF_OK);
    assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
    assert_memory_equal(forked, l, 512 * sizeof(float));

    /* rewind: drop q and something else, evaluate q again */
    int32_t other[7];
    prompt_tokens(other, 7, 4);
    assert_int_equal(ef_kv_seq_remove(kv, 0, N_PROMPT, -1), EF_OK);
    assert_int_equal(ef_session_n_past(s), N_PROMPT);
    assert_int_equal(ef_session_eval(s, other, 7, 0), EF_OK);
    assert_int_equal(ef_kv_seq_remove(kv, 0, N_PROMPT, -1), EF_OK);
    assert_int_equal(ef_session_eval(s, q, 5, 0), EF_OK);
    assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
    assert_memory_equal(forked, l, 512 * sizeof(float));
    assert_int_equal(ef_session_set_seq(s, 3), EF_ERR_INVALID_ARG);
    free(forked);
    ef_session_free(s);
}

/* Shifts [t0, t1..t49] to [t0, t21..t49] and evaluates x; returns the
 * session (logits of x) and, in *fresh, one that evaluated the kept tokens
 * and x from scratch. */
static ef_session *shift_and_fresh(ef_model *m, ef_session **fresh_out) {
    kv_opts o = {"f32", 0, NULL, 0, 0};
    int32_t t[50];
    prompt_tokens(t, 50, 5);
    ef_session *s = open_session(m, &o);
    assert_int_equal(ef_session_eval(s, t, 50, 0), EF_OK);
    assert_int_equal(ef_kv_seq_shift(ef_session_kv_cache(s), 0, 1, 20), EF_OK); /* keep t0, drop t1..t20 */
    assert_int_equal(ef_session_n_past(s), 30);
    const int32_t x = 99;
    assert_int_equal(ef_session_eval(s, &x, 1, 0), EF_OK);

    int32_t kept[31];
    kept[0] = t[0];
    memcpy(kept + 1, t + 21, 29 * sizeof(int32_t));
    kept[30] = x;
    ef_session *fresh = open_session(m, &o);
    assert_int_equal(ef_session_eval(fresh, kept, 31, 0), EF_OK);
    *fresh_out = fresh;
    return s;
}

/* max |a - b| over n floats, and max |b| */
static void max_diff(const float *a, const float *b, int64_t n, double *err, double *scale) {
    *err = *scale = 0;
    for (int64_t i = 0; i < n; i++) {
        *err = fmax(*err, fabs((double)a[i] - b[i]));
        *scale = fmax(*scale, fabs((double)b[i]));
    }
}

static void test_context_shift(void **state) {
    (void)state;
    /* A 1-layer model: every cached row depends on its own token only, so
     * after the shift the logits must be those of a fresh eval of the kept
     * tokens at their new positions (up to the rounding of the re-rotation). */
    ef_model *one = NULL;
    assert_int_equal(ef_model_load(KV_MODEL_L1, NULL, &one), EF_OK);
    ef_session *fresh = NULL, *s = shift_and_fresh(one, &fresh);
    const float *shifted = NULL, *want = NULL;
    assert_int_equal(ef_session_logits(s, -1, &shifted), EF_OK);
    assert_int_equal(ef_session_logits(fresh, -1, &want), EF_OK);
    double err, scale;
    max_diff(shifted, want, 512, &err, &scale);
    if (err > 1e-4 * (scale + 1)) fail_msg("context shift: max |diff| %g (logit scale %g)", err, scale);
    ef_session_free(fresh);
    ef_session_free(s);
    ef_model_free(one);
    /* Deeper models: the kept keys of layer 0 are the fresh ones (deeper
     * layers' rows also saw the dropped tokens, so they differ by design).
     * MLA: the latent part stays, the RoPE key part turns. */
    ef_model *deep[2] = {g_llama, g_mla};
    for (int d = 0; d < 2; d++) {
        s = shift_and_fresh(deep[d], &fresh);
        ef_kv_cache *kv = ef_session_kv_cache(s);
        const int64_t w = (int64_t)(ef_kvi_row_bytes(kv, 0) / sizeof(float));
        float *a = malloc(sizeof(float) * 31 * (size_t)w), *b = malloc(sizeof(float) * 31 * (size_t)w);
        assert_int_equal(ef_kvi_read_rows(kv, 0, 0, 0, 0, 31, a), EF_OK);
        assert_int_equal(ef_kvi_read_rows(ef_session_kv_cache(fresh), 0, 0, 0, 0, 31, b), EF_OK);
        max_diff(a, b, 31 * w, &err, &scale);
        if (err > 1e-5 * (scale + 1)) fail_msg("context shift, layer 0 keys: max |diff| %g (scale %g)", err, scale);
        if (ef_kvi_row_bytes(kv, 1)) { /* values move untouched */
            assert_int_equal(ef_kvi_read_rows(kv, 0, 0, 1, 0, 31, a), EF_OK);
            assert_int_equal(ef_kvi_read_rows(ef_session_kv_cache(fresh), 0, 0, 1, 0, 31, b), EF_OK);
            assert_memory_equal(a, b, sizeof(float) * 31 * (size_t)w);
        }
        free(a);
        free(b);
        ef_session_free(fresh);
        ef_session_free(s);
    }

    /* generate runs past n_ctx with context shift on, stops at the context without */
    for (int32_t shift = 0; shift < 2; shift++) {
        ef_session_params *sp = NULL;
        assert_int_equal(ef_session_params_create(&sp), EF_OK);
        assert_int_equal(ef_session_params_set_n_ctx(sp, 32), EF_OK);
        assert_int_equal(ef_session_params_set_context_shift(sp, shift, -1), EF_OK);
        ef_session *g = NULL;
        assert_int_equal(ef_session_create(g_llama, sp, &g), EF_OK);
        ef_session_params_free(sp);
        ef_sampler_params *smp = NULL;
        assert_int_equal(ef_sampler_params_create(&smp), EF_OK);
        assert_int_equal(ef_sampler_params_set_temperature(smp, 0.0f), EF_OK);
        assert_int_equal(ef_session_set_sampler(g, smp), EF_OK);
        ef_sampler_params_free(smp);
        assert_int_equal(ef_session_generate(g, "hello world", 11, 80, NULL, NULL), EF_OK);
        double reason = 0, produced = 0;
        ef_session_stat(g, EF_STAT_STOP_REASON, &reason);
        ef_session_stat(g, EF_STAT_GEN_TOKENS, &produced);
        if (shift) {
            assert_true(reason == EF_STOP_MAX_TOKENS || reason == EF_STOP_EOG);
            if (reason == EF_STOP_MAX_TOKENS) assert_true(produced == 80);
        } else {
            assert_true(reason == EF_STOP_CONTEXT_FULL || reason == EF_STOP_EOG);
        }
        assert_true(ef_session_n_past(g) <= 32);
        /* a prompt that no longer fits: with the shift on, older tokens make room */
        int32_t before = ef_session_n_past(g);
        static const char more[] = " and more";
        int32_t ids[64];
        size_t n_more = 0;
        assert_int_equal(ef_tokenize(g_llama, more, sizeof more - 1, 0, ids, 64, &n_more), EF_OK);
        assert_true(n_more > 0 && n_more < 16);
        while (ef_session_n_past(g) < 32) assert_int_equal(ef_session_eval(g, ids, 1, 0), EF_OK); /* full */
        before = ef_session_n_past(g);
        ef_status st = ef_session_generate(g, more, sizeof more - 1, 4, NULL, NULL);
        if (shift) {
            assert_int_equal(st, EF_OK);
            assert_true(ef_session_n_past(g) <= 32);
        } else {
            assert_int_equal(st, EF_ERR_CONTEXT_FULL);
            assert_int_equal(ef_session_n_past(g), before); /* a failed prompt changes nothing */
        }
        ef_session_free(g);
    }
}

static int g_fail; /* spill writes to fail: <0 all */
static int fail_hook(void) { return g_fail != 0; }

static void test_spill_failure_session(void **state) {
    (void)state;
    kv_opts o = {"f32", 1, KV_SPILL, 0, 0};
    ef_session *s = open_session(g_llama, &o);
    int32_t t[N_PROMPT];
    prompt_tokens(t, N_PROMPT, 2);
    assert_int_equal(ef_session_eval(s, t, 30, 0), EF_OK);
    ef_kvi_spill_fail_hook = fail_hook;
    g_fail = 1;
    assert_int_equal(ef_session_eval(s, t + 30, 7, 0), EF_ERR_IO); /* no room to spill the new pages */
    assert_non_null(strstr(ef_session_errmsg(s), "KV page"));
    assert_int_equal(ef_session_n_past(s), 30); /* nothing committed */
    g_fail = 0;
    ef_kvi_spill_fail_hook = NULL;
    assert_int_equal(ef_session_eval(s, t + 30, 7, 0), EF_OK); /* usable with the pages it had */
    const float *l = NULL;
    assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
    kv_opts h = {"f32", 0, NULL, 0, 0};
    ef_session *ref = open_session(g_llama, &h);
    assert_int_equal(ef_session_eval(ref, t, 30, 0), EF_OK);
    assert_int_equal(ef_session_eval(ref, t + 30, 7, 0), EF_OK);
    const float *want = NULL;
    assert_int_equal(ef_session_logits(ref, -1, &want), EF_OK);
    assert_memory_equal(l, want, 512 * sizeof(float));
    ef_session_free(ref);
    ef_session_free(s);
}

static void test_shared_cache(void **state) {
    (void)state;
    ef_kv_params *kp = NULL;
    assert_int_equal(ef_kv_params_create(&kp), EF_OK);
    assert_int_equal(ef_kv_params_set_n_seq_max(kp, 2), EF_OK);
    assert_int_equal(ef_kv_params_set_n_ctx(kp, NCTX), EF_OK);
    assert_int_equal(ef_kv_params_set_page_size(kp, 16), EF_OK);
    ef_kv_cache *kv = NULL;
    assert_int_equal(ef_kv_cache_create(g_llama, kp, &kv), EF_OK);
    ef_kv_params_free(kp);
    ef_session *s[2];
    for (int32_t i = 0; i < 2; i++) {
        ef_session_params *sp = NULL;
        assert_int_equal(ef_session_params_create(&sp), EF_OK);
        assert_int_equal(ef_session_params_set_kv_cache(sp, kv), EF_OK);
        assert_int_equal(ef_session_params_set_seq(sp, i), EF_OK);
        assert_int_equal(ef_session_create(g_llama, sp, &s[i]), EF_OK);
        ef_session_params_free(sp);
        assert_ptr_equal(ef_session_kv_cache(s[i]), kv);
        assert_int_equal(ef_session_n_ctx(s[i]), NCTX);
    }
    ef_kv_cache_free(kv); /* the sessions keep theirs */
    int32_t a[10], b[12];
    prompt_tokens(a, 10, 1);
    prompt_tokens(b, 12, 2);
    assert_int_equal(ef_session_eval(s[0], a, 10, 0), EF_OK);
    assert_int_equal(ef_session_eval(s[1], b, 12, 0), EF_OK);
    assert_int_equal(ef_session_n_past(s[0]), 10);
    assert_int_equal(ef_session_n_past(s[1]), 12);
    double tokens = 0;
    assert_int_equal(ef_kv_cache_stat(ef_session_kv_cache(s[0]), EF_KV_STAT_TOKENS, 0, &tokens), EF_OK);
    assert_true(tokens == 22);
    /* a session's own cache cannot be attached to another */
    ef_session_params *sp = NULL;
    assert_int_equal(ef_session_params_create(&sp), EF_OK);
    kv_opts o = {"f16", 0, NULL, 0, 0};
    ef_session *own = open_session(g_llama, &o);
    assert_int_equal(ef_session_params_set_kv_cache(sp, ef_session_kv_cache(own)), EF_ERR_INVALID_ARG);
    ef_session_params_free(sp);
    ef_session_free(own);
    ef_session_free(s[0]);
    ef_session_free(s[1]);
}

static void test_quantized_types(void **state) {
    (void)state;
    ef_model *hd16 = NULL;
    assert_int_equal(ef_model_load(KV_MODEL_HD16, NULL, &hd16), EF_OK);
    ef_kv_params *kp = NULL;
    assert_int_equal(ef_kv_params_create(&kp), EF_OK);
    assert_int_equal(ef_kv_params_set_types(kp, "q8_0", "f16"), EF_OK);
    assert_int_equal(ef_kv_params_set_types(kp, "q5_0", NULL), EF_ERR_INVALID_ARG);
    ef_kv_cache *kv = NULL;
    assert_int_equal(ef_kv_cache_create(hd16, kp, &kv), EF_ERR_UNSUPPORTED);
    assert_non_null(strstr(ef_last_error(), "multiples of 32"));
    assert_int_equal(ef_kv_cache_create(g_llama, kp, &kv), EF_OK);
    assert_string_equal(ef_kv_cache_type(kv, 0), "q8_0");
    assert_string_equal(ef_kv_cache_type(kv, 1), "f16");
    ef_kv_cache_free(kv);
    ef_kv_params_free(kp);
    ef_model_free(hd16);
    /* q8_0 and q4_0 logits stay near f32's */
    const size_t n = (size_t)(1 + N_GEN) * 512;
    float *ref = malloc(n * sizeof(float)), *q = malloc(n * sizeof(float));
    kv_opts o = {"f32", 0, NULL, 0, 0};
    ef_session *s = open_session(g_llama, &o);
    run(s, ref);
    ef_session_free(s);
    const char *types[2] = {"q8_0", "q4_0"};
    const double tol[2] = {0.05, 0.3};
    for (int i = 0; i < 2; i++) {
        kv_opts oq = {types[i], 0, NULL, 0, 0};
        s = open_session(g_llama, &oq);
        int32_t t[N_PROMPT];
        prompt_tokens(t, N_PROMPT, 0);
        assert_int_equal(ef_session_eval(s, t, N_PROMPT, 0), EF_OK);
        const float *l = NULL;
        assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
        double err = 0, scale = 0;
        for (int32_t v = 0; v < 512; v++) {
            err = fmax(err, fabs((double)l[v] - ref[v]));
            scale = fmax(scale, fabs((double)ref[v]));
        }
        if (err > tol[i] * scale) fail_msg("%s KV: max |diff| %g, logit scale %g", types[i], err, scale);
        ef_session_free(s);
    }
    free(ref);
    free(q);
}

/* ---- allocation failures through sessions whose pages travel ---- */
#include "common/fail_alloc.h" /* g_countdown, g_failures, g_live, counting_malloc, counting_realloc, counting_free */

/* Load, a session with every tier forced, prompt, fork, decode; the first
 * failure, with the context checked to be unchanged by a failed eval. */
static ef_status session_scenario(void) {
    ef_model *m = NULL;
    ef_session *s = NULL;
    ef_session_params *sp = NULL;
    ef_kv_params *kp = NULL;
    ef_status st = ef_model_load(KV_MODEL, NULL, &m);
    if (!st) st = ef_session_params_create(&sp);
    if (!st) st = ef_session_params_set_n_ctx(sp, NCTX);
    if (!st) st = ef_session_params_set_threads(sp, 1);
    if (!st) st = ef_kv_params_create(&kp);
    if (!st) st = ef_kv_params_set_page_size(kp, 16);
    if (!st) st = ef_kv_params_set_n_seq_max(kp, 2);
    for (int32_t t = EF_KV_TIER_HOT; !st && t <= EF_KV_TIER_ZSTD; t++) st = ef_kv_params_set_tier_budget(kp, t, 1);
    if (!st) st = ef_kv_params_set_spill_dir(kp, KV_SPILL);
    if (!st) st = ef_session_params_set_kv_params(sp, kp);
    if (!st) st = ef_session_create(m, sp, &s);
    int32_t t[N_PROMPT];
    prompt_tokens(t, N_PROMPT, 6);
    if (!st) st = ef_session_eval(s, t, 20, 0);
    if (!st) st = ef_kv_seq_copy(ef_session_kv_cache(s), 0, 1);
    if (!st) st = ef_session_set_seq(s, 1);
    for (int32_t i = 20; !st && i < 26; i++) {
        st = ef_session_eval(s, t + i, 1, 0);
        if (st && ef_session_n_past(s) != i) fail_msg("a failed eval moved the context to %d", ef_session_n_past(s));
    }
    ef_session_free(s);
    ef_session_params_free(sp);
    ef_kv_params_free(kp);
    ef_model_free(m);
    return st;
}

static void test_session_alloc_failures(void **state) {
    (void)state;
    long points = 0;
    for (long n = 0;; n++) {
        g_countdown = n;
        g_failures = 0;
        g_live = 0;
        assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
        ef_status st = session_scenario();
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (g_live != 0) fail_msg("allocation %ld failing: %ld allocations leaked", n, g_live);
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            break;
        }
        points++;
        if (st != EF_ERR_NO_MEMORY) fail_msg("allocation %ld: %s (%s)", n, ef_status_str(st), ef_last_error());
    }
    print_message("  %ld allocation points, each failed cleanly\n", points);
    assert_true(points > 50);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paged_equals_contiguous),
        cmocka_unit_test(test_tiers_bit_identical),
        cmocka_unit_test(test_fork_and_rewind),
        cmocka_unit_test(test_context_shift),
        cmocka_unit_test(test_spill_failure_session),
        cmocka_unit_test(test_shared_cache),
        cmocka_unit_test(test_quantized_types),
        cmocka_unit_test(test_session_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
