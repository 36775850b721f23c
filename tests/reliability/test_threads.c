/* Thread safety as the public header states it, run in every build and in
 * the ThreadSanitizer build (scripts/ci-reliability.sh):
 *   - backend discovery started by several threads at once (it "runs
 *     once, on the first call to any backend function");
 *   - models loaded on several threads at once, their log lines arriving
 *     through the callback from those threads;
 *   - many sessions on one shared model from many threads (tokenize, chat
 *     template, model queries, generate, reset), with greedy results equal
 *     on every thread, and the caller's model reference dropped while the
 *     sessions still run (the last session frees the model); each thread's
 *     failing calls leave their message in its own ef_last_error() slot;
 *   - sessions on one shared KV cache (one sequence each) generating from
 *     their own threads: "their forward passes take turns";
 *   - ef_session_cancel() from another thread while sessions generate, and
 *     from the token callback.
 * Each session computes with 2 threads, so the pools' workers run too.
 * The server's concurrency (slots, watchdog, streams) is tested by
 * tests/server/server_tsan_test.py, also in the ThreadSanitizer build. */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t, nanosleep */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "edgeformer/edgeformer.h"

#define N_LOADERS 4
#define N_WORKERS 8
#define N_ROUNDS 3
#define N_GEN 8
#define N_CANCEL 4
#define N_DISCOVER 4
#define N_SHARED 4      /* sessions on one KV cache */
#define N_SHARED_GEN 24 /* tokens each generates: several 16-token pages */

/* ---- log callback: counts lines and the threads they came from ---- */

static pthread_t g_main_thread;
static atomic_long g_log_lines, g_log_lines_off_main;

static void on_log(void *user, int32_t level, const char *message) {
    (void)user;
    (void)level;
    if (!message) return;
    atomic_fetch_add(&g_log_lines, 1);
    if (!pthread_equal(pthread_self(), g_main_thread)) atomic_fetch_add(&g_log_lines_off_main, 1);
}

static int setup(void **state) {
    (void)state;
    g_main_thread = pthread_self();
    ef_set_log_callback(on_log, NULL, EF_LOG_DEBUG);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ef_set_log_callback(NULL, NULL, EF_LOG_ERROR);
    return 0;
}

static ef_session *new_session(ef_model *m, int32_t n_ctx) {
    ef_session_params *p = NULL;
    if (ef_session_params_create(&p) != EF_OK) return NULL;
    ef_session *s = NULL;
    if (ef_session_params_set_n_ctx(p, n_ctx) == EF_OK && ef_session_params_set_threads(p, 2) == EF_OK)
        (void)ef_session_create(m, p, &s);
    ef_session_params_free(p);
    if (!s) return NULL;
    ef_sampler_params *sp = NULL;
    if (ef_sampler_params_create(&sp) == EF_OK) {
        (void)ef_sampler_params_set_temperature(sp, 0.0f);
        (void)ef_session_set_sampler(s, sp);
        ef_sampler_params_free(sp);
    }
    return s;
}

/* ---- 0. backend discovery from many threads (the process's first backend call) ---- */

static void *count_backends(void *arg) {
    *(int32_t *)arg = ef_backend_count();
    return NULL;
}

static void test_backend_discovery_from_threads(void **state) {
    (void)state;
    pthread_t th[N_DISCOVER];
    int32_t count[N_DISCOVER];
    for (int i = 0; i < N_DISCOVER; i++) assert_int_equal(pthread_create(&th[i], NULL, count_backends, &count[i]), 0);
    for (int i = 0; i < N_DISCOVER; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_DISCOVER; i++) {
        assert_true(count[i] >= 1); /* cpu at least */
        assert_int_equal(count[i], count[0]);
    }
    const ef_backend *b = NULL;
    assert_int_equal(ef_backend_get(0, &b), EF_OK);
    assert_string_equal(ef_backend_name(b), "cpu");
}

/* ---- 1. concurrent loads ---- */

static void *load_one(void *arg) {
    ef_status *st = arg;
    ef_model *m = NULL;
    *st = ef_model_load(REL_MODEL, NULL, &m);
    if (*st == EF_OK && ef_model_n_vocab(m) <= 0) *st = EF_ERR_INTERNAL;
    ef_model_free(m);
    return NULL;
}

static void test_concurrent_loads_log_from_threads(void **state) {
    (void)state;
    atomic_store(&g_log_lines, 0);
    atomic_store(&g_log_lines_off_main, 0);
    pthread_t th[N_LOADERS];
    ef_status st[N_LOADERS];
    for (int i = 0; i < N_LOADERS; i++) assert_int_equal(pthread_create(&th[i], NULL, load_one, &st[i]), 0);
    for (int i = 0; i < N_LOADERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(st[i], EF_OK);
    }
    /* every load logs at least one line ("loaded ..."), all off the main thread */
    assert_true(atomic_load(&g_log_lines_off_main) >= N_LOADERS);
}

/* ---- 2. many sessions on one shared model ---- */

typedef struct worker {
    ef_model *model;
    int index;
    pthread_barrier_t *created; /* all sessions exist before main drops its reference */
    ef_status status;
    int32_t out[N_ROUNDS][N_GEN];
    int32_t n_out[N_ROUNDS];
    char where[96];
} worker;

static int32_t record(void *user, int32_t token, const char *text, size_t len) {
    (void)text;
    (void)len;
    int32_t *slot = user; /* slot[0] is the count, then the tokens */
    if (token >= 0 && slot[0] < N_GEN) slot[1 + slot[0]++] = token;
    return 0;
}

static ef_status fail_at(worker *w, ef_status st, const char *where) {
    if (st != EF_OK && w->status == EF_OK) {
        w->status = st;
        snprintf(w->where, sizeof w->where, "%s", where);
    }
    return st;
}

/* Read-only calls on the shared model, as any thread may make them. */
static void query_model(worker *w) {
    ef_model *m = w->model;
    int32_t ids[64];
    size_t n = 0;
    fail_at(w, ef_tokenize(m, "shared model, many threads", 26, EF_TOKENIZE_ADD_SPECIAL, ids, 64, &n), "tokenize");
    char text[256];
    size_t len = 0;
    fail_at(w, ef_detokenize(m, ids, n, 0, text, sizeof text, &len), "detokenize");
    const char *roles[2] = {"system", "user"}, *contents[2] = {"Be brief.", "Hi"};
    char chat[512];
    size_t need = 0;
    /* the tiny model has no template: this logs a fallback warning from this thread */
    fail_at(w, ef_chat_apply_template(m, roles, contents, 2, 1, chat, sizeof chat, &need), "chat template");
    char meta[128];
    fail_at(w, ef_model_meta_get(m, "general.architecture", meta, sizeof meta, &need), "meta");
    if (ef_model_n_layer(m) <= 0 || ef_model_tensor_count(m) <= 0) fail_at(w, EF_ERR_INTERNAL, "model queries");
    /* A failing call on the shared model: its message is this thread's,
     * whatever the other threads fail with meanwhile. */
    char key[48];
    snprintf(key, sizeof key, "missing.key.of.thread.%d", w->index);
    if (ef_model_meta_get(m, key, meta, sizeof meta, &need) != EF_ERR_NOT_FOUND || !strstr(ef_last_error(), key))
        fail_at(w, EF_ERR_INTERNAL, "thread-local error message");
}

static void *run_worker(void *arg) {
    worker *w = arg;
    ef_session *s = new_session(w->model, 64);
    if (!s) fail_at(w, EF_ERR_NO_MEMORY, "session create");
    pthread_barrier_wait(w->created);
    if (!s) return NULL;
    for (int r = 0; r < N_ROUNDS && w->status == EF_OK; r++) {
        query_model(w);
        int32_t slot[1 + N_GEN] = {0};
        if (fail_at(w, ef_session_generate(s, "Once upon a time", 16, N_GEN, record, slot), "generate") != EF_OK)
            break;
        w->n_out[r] = slot[0];
        memcpy(w->out[r], slot + 1, sizeof w->out[r]);
        fail_at(w, ef_session_reset(s), "reset");
    }
    ef_session_free(s); /* the last one also frees the model */
    return NULL;
}

static void test_many_sessions_on_one_model(void **state) {
    (void)state;
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(REL_MODEL, NULL, &m), EF_OK);
    atomic_store(&g_log_lines_off_main, 0);
    pthread_barrier_t created;
    assert_int_equal(pthread_barrier_init(&created, NULL, N_WORKERS + 1), 0);
    static worker w[N_WORKERS];
    pthread_t th[N_WORKERS];
    for (int i = 0; i < N_WORKERS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].model = m;
        w[i].index = i;
        w[i].created = &created;
        assert_int_equal(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
    }
    pthread_barrier_wait(&created);
    ef_model_free(m); /* the sessions keep it alive from here on */
    for (int i = 0; i < N_WORKERS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&created);
    for (int i = 0; i < N_WORKERS; i++) {
        if (w[i].status != EF_OK) fail_msg("worker %d: %s failed: %s", i, w[i].where, ef_status_str(w[i].status));
        for (int r = 0; r < N_ROUNDS; r++) {
            /* greedy decoding of one prompt: identical on every thread and round */
            assert_true(w[i].n_out[r] > 0);
            assert_int_equal(w[i].n_out[r], w[0].n_out[0]);
            assert_memory_equal(w[i].out[r], w[0].out[0], (size_t)w[0].n_out[0] * sizeof(int32_t));
        }
    }
    assert_true(atomic_load(&g_log_lines_off_main) >= N_WORKERS); /* one fallback warning each */
}

/* ---- 3. sessions sharing one KV cache, each on its own thread ---- */

static const char shared_prompt[] = "Once upon a time a cat lived by the sea in a small old house";

typedef struct shared_job {
    ef_session *s;
    ef_status status;
    int32_t out[1 + N_SHARED_GEN]; /* count, then the tokens */
} shared_job;

static int32_t record_shared(void *user, int32_t token, const char *text, size_t len) {
    (void)text;
    (void)len;
    int32_t *out = user; /* out[0] is the count, then the tokens */
    if (out[0] < N_SHARED_GEN) out[1 + out[0]++] = token;
    return 0;
}

static void *run_shared(void *arg) {
    shared_job *j = arg;
    j->status = ef_session_generate(j->s, shared_prompt, strlen(shared_prompt), N_SHARED_GEN, record_shared, j->out);
    return NULL;
}

static void test_shared_kv_cache_from_threads(void **state) {
    (void)state;
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(REL_MODEL, NULL, &m), EF_OK);
    /* the reference: a session with its own cache */
    ef_session *ref = new_session(m, 128);
    assert_non_null(ref);
    int32_t want[1 + N_SHARED_GEN] = {0};
    assert_int_equal(ef_session_generate(ref, shared_prompt, strlen(shared_prompt), N_SHARED_GEN, record_shared, want),
                     EF_OK);
    assert_true(want[0] > 0);
    ef_session_free(ref);

    /* small pages and a 1-byte budget for the hot and RAM tiers: pages move
     * to the zstd tier and back under the cache's lock while the sessions run */
    ef_kv_params *kp = NULL;
    assert_int_equal(ef_kv_params_create(&kp), EF_OK);
    assert_int_equal(ef_kv_params_set_n_seq_max(kp, N_SHARED), EF_OK);
    assert_int_equal(ef_kv_params_set_n_ctx(kp, 128), EF_OK);
    assert_int_equal(ef_kv_params_set_page_size(kp, 16), EF_OK);
    assert_int_equal(ef_kv_params_set_tier_budget(kp, EF_KV_TIER_HOT, 1), EF_OK);
    assert_int_equal(ef_kv_params_set_tier_budget(kp, EF_KV_TIER_RAM, 1), EF_OK);
    ef_kv_cache *kv = NULL;
    assert_int_equal(ef_kv_cache_create(m, kp, &kv), EF_OK);
    ef_kv_params_free(kp);
    static shared_job jobs[N_SHARED];
    pthread_t th[N_SHARED];
    for (int32_t i = 0; i < N_SHARED; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        ef_session_params *sp = NULL;
        assert_int_equal(ef_session_params_create(&sp), EF_OK);
        assert_int_equal(ef_session_params_set_kv_cache(sp, kv), EF_OK);
        assert_int_equal(ef_session_params_set_seq(sp, i), EF_OK);
        assert_int_equal(ef_session_params_set_threads(sp, 2), EF_OK);
        assert_int_equal(ef_session_create(m, sp, &jobs[i].s), EF_OK);
        ef_session_params_free(sp);
        ef_sampler_params *smp = NULL;
        assert_int_equal(ef_sampler_params_create(&smp), EF_OK);
        assert_int_equal(ef_sampler_params_set_temperature(smp, 0.0f), EF_OK);
        assert_int_equal(ef_session_set_sampler(jobs[i].s, smp), EF_OK);
        ef_sampler_params_free(smp);
    }
    ef_kv_cache_free(kv); /* the sessions keep theirs */
    ef_model_free(m);     /* and the model */
    for (int i = 0; i < N_SHARED; i++) assert_int_equal(pthread_create(&th[i], NULL, run_shared, &jobs[i]), 0);
    for (int i = 0; i < N_SHARED; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_SHARED; i++) {
        if (jobs[i].status != EF_OK) fail_msg("shared-cache session %d: %s", i, ef_session_errmsg(jobs[i].s));
        /* each sequence is its own conversation: the same greedy tokens as alone */
        assert_int_equal(jobs[i].out[0], want[0]);
        assert_memory_equal(jobs[i].out + 1, want + 1, (size_t)want[0] * sizeof(int32_t));
    }
    /* every sequence's tokens are in the one cache, and pages did travel */
    ef_kv_cache *shared = ef_session_kv_cache(jobs[0].s);
    double tokens = 0, offloads = 0, restores = 0;
    assert_int_equal(ef_kv_cache_stat(shared, EF_KV_STAT_TOKENS, 0, &tokens), EF_OK);
    assert_true(tokens >= N_SHARED * (double)(want[0] + 1));
    for (int32_t tier = EF_KV_TIER_RAM; tier <= EF_KV_TIER_ZSTD; tier++) {
        double v = 0;
        assert_int_equal(ef_kv_cache_stat(shared, EF_KV_STAT_OFFLOADS, tier, &v), EF_OK);
        offloads += v;
        assert_int_equal(ef_kv_cache_stat(shared, EF_KV_STAT_RESTORES, tier, &v), EF_OK);
        restores += v;
    }
    print_message("shared cache: %.0f tokens, %.0f page offloads, %.0f restores\n", tokens, offloads, restores);
    assert_true(offloads > 0 && restores > 0);
    for (int i = 0; i < N_SHARED; i++) ef_session_free(jobs[i].s); /* the last frees the cache and the model */
}

/* ---- 4. cancellation from another thread, and from the token callback ---- */

typedef struct gen_job {
    ef_session *s;
    ef_status status;
    atomic_int started, done;
} gen_job;

static void *run_long_generate(void *arg) {
    gen_job *j = arg;
    atomic_store(&j->started, 1);
    j->status = ef_session_generate(j->s, "x", 1, 200, NULL, NULL);
    atomic_store(&j->done, 1);
    return NULL;
}

static void *cancel_all(void *arg) {
    gen_job *jobs = arg;
    for (;;) {
        int running = 0;
        for (int i = 0; i < N_CANCEL; i++) {
            if (atomic_load(&jobs[i].done)) continue;
            running = 1;
            if (atomic_load(&jobs[i].started)) ef_session_cancel(jobs[i].s);
        }
        if (!running) return NULL;
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void test_cancel_from_another_thread(void **state) {
    (void)state;
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(REL_MODEL, NULL, &m), EF_OK);
    static gen_job jobs[N_CANCEL];
    pthread_t gen[N_CANCEL], canceller;
    for (int i = 0; i < N_CANCEL; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].s = new_session(m, 256);
        assert_non_null(jobs[i].s);
    }
    for (int i = 0; i < N_CANCEL; i++) assert_int_equal(pthread_create(&gen[i], NULL, run_long_generate, &jobs[i]), 0);
    assert_int_equal(pthread_create(&canceller, NULL, cancel_all, jobs), 0);
    for (int i = 0; i < N_CANCEL; i++) pthread_join(gen[i], NULL);
    pthread_join(canceller, NULL);
    int cancelled = 0;
    for (int i = 0; i < N_CANCEL; i++) {
        double reason = 0;
        cancelled += jobs[i].status == EF_ERR_CANCELLED;
        assert_int_equal(ef_session_stat(jobs[i].s, EF_STAT_STOP_REASON, &reason), EF_OK);
        if (jobs[i].status == EF_OK) {
            assert_true(reason == EF_STOP_MAX_TOKENS || reason == EF_STOP_EOG || reason == EF_STOP_CONTEXT_FULL);
        } else {
            assert_int_equal(jobs[i].status, EF_ERR_CANCELLED);
            assert_true(reason == EF_STOP_CANCELLED);
        }
        /* the flag is cleared by the next call: the session still works */
        assert_int_equal(ef_session_reset(jobs[i].s), EF_OK);
        assert_int_equal(ef_session_generate(jobs[i].s, "y", 1, 2, NULL, NULL), EF_OK);
        ef_session_free(jobs[i].s);
    }
    /* 200 tokens take far longer than the canceller's 2 ms period */
    print_message("%d of %d generations cancelled\n", cancelled, N_CANCEL);
    assert_true(cancelled >= 1);
    ef_model_free(m);
}

typedef struct cancel_at {
    ef_session *s;
    int32_t seen, at;
} cancel_at;

static int32_t cancel_in_callback(void *user, int32_t token, const char *text, size_t len) {
    (void)token;
    (void)text;
    (void)len;
    cancel_at *c = user;
    if (++c->seen == c->at) ef_session_cancel(c->s);
    return 0; /* keep going: the cancel flag alone must stop it */
}

static void test_cancel_from_token_callback(void **state) {
    (void)state;
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(REL_MODEL, NULL, &m), EF_OK);
    ef_session *s = new_session(m, 128);
    assert_non_null(s);
    cancel_at c = {s, 0, 3};
    assert_int_equal(ef_session_generate(s, "x", 1, 100, cancel_in_callback, &c), EF_ERR_CANCELLED);
    double reason = 0, generated = 0;
    assert_int_equal(ef_session_stat(s, EF_STAT_STOP_REASON, &reason), EF_OK);
    assert_true(reason == EF_STOP_CANCELLED);
    assert_int_equal(ef_session_stat(s, EF_STAT_GEN_TOKENS, &generated), EF_OK);
    assert_true(generated >= 3 && generated < 100);
    assert_int_equal(c.seen, (int32_t)generated);
    /* the next call clears the flag */
    c.at = -1;
    assert_int_equal(ef_session_generate(s, "y", 1, 2, cancel_in_callback, &c), EF_OK);
    ef_session_free(s);
    ef_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_discovery_from_threads), /* first: nothing has discovered yet */
        cmocka_unit_test(test_concurrent_loads_log_from_threads),
        cmocka_unit_test(test_many_sessions_on_one_model),
        cmocka_unit_test(test_shared_kv_cache_from_threads),
        cmocka_unit_test(test_cancel_from_another_thread),
        cmocka_unit_test(test_cancel_from_token_callback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
