/* Thread safety as the public header states it, run in every build and in
 * the ThreadSanitizer build (scripts/ci-reliability.sh):
 *   - models loaded on several threads at once, their log lines arriving
 *     through the callback from those threads;
 *   - many sessions on one shared model from many threads (tokenize, chat
 *     template, model queries, generate, reset), with greedy results equal
 *     on every thread, and the caller's model reference dropped while the
 *     sessions still run (the last session frees the model);
 *   - ef_session_cancel() from another thread while sessions generate.
 * Each session computes with 2 threads, so the pools' workers run too. */
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

/* ---- 3. cancellation from another thread ---- */

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_loads_log_from_threads),
        cmocka_unit_test(test_many_sessions_on_one_model),
        cmocka_unit_test(test_cancel_from_another_thread),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
