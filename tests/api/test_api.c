#define _POSIX_C_SOURCE 200809L
/* The public C API on a tiny generated model: argument checking, statuses,
 * messages, two-call buffers, sessions, eval, sampling, generation, budgets,
 * cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <string.h>

#include "edgeformer/edgeformer.h"

static ef_model *load(const char *path) {
    ef_model *m = NULL;
    ef_status st = ef_model_load(path, NULL, &m);
    if (st != EF_OK) fprintf(stderr, "load %s: %s\n", path, ef_last_error());
    assert_int_equal(st, EF_OK);
    return m;
}

static ef_session *session(ef_model *m, int32_t n_ctx) {
    ef_session_params *p = NULL;
    ef_session *s = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, n_ctx), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 2), EF_OK);
    assert_int_equal(ef_session_create(m, p, &s), EF_OK);
    ef_session_params_free(p);
    return s;
}

static void set_greedy(ef_session *s) {
    ef_sampler_params *sp = NULL;
    assert_int_equal(ef_sampler_params_create(&sp), EF_OK);
    assert_int_equal(ef_sampler_params_set_temperature(sp, 0.0f), EF_OK);
    assert_int_equal(ef_session_set_sampler(s, sp), EF_OK);
    ef_sampler_params_free(sp);
}

static void test_version_and_status(void **state) {
    (void)state;
    assert_int_equal(ef_version_number(), EF_VERSION_NUMBER);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", EF_VERSION_MAJOR, EF_VERSION_MINOR, EF_VERSION_PATCH);
    assert_string_equal(ef_version_string(), expect);
    assert_string_equal(ef_status_str(EF_OK), "EF_OK");
    assert_string_equal(ef_status_str(EF_ERR_FORMAT), "EF_ERR_FORMAT");
    assert_string_equal(ef_status_str(EF_ERR_BUDGET), "EF_ERR_BUDGET");
    assert_string_equal(ef_status_str(12345), "EF_ERR_UNKNOWN");
    /* every *_free(NULL) is a no-op */
    ef_model_free(NULL);
    ef_session_free(NULL);
    ef_model_params_free(NULL);
    ef_session_params_free(NULL);
    ef_sampler_params_free(NULL);
}

static void test_load_errors(void **state) {
    (void)state;
    ef_model *m = (ef_model *)0x1;
    assert_int_equal(ef_model_load(NULL, NULL, &m), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_model_load("/nonexistent/model.gguf", NULL, &m), EF_ERR_IO);
    assert_non_null(strstr(ef_last_error(), "/nonexistent/model.gguf"));
    assert_int_equal(ef_model_load("/tmp", NULL, &m), EF_ERR_IO);
    assert_non_null(strstr(ef_last_error(), "not a regular file"));
    assert_ptr_equal(m, (ef_model *)0x1); /* untouched on failure */
    ef_model_params *mp = NULL;
    assert_int_equal(ef_model_params_create(&mp), EF_OK);
    assert_int_equal(ef_model_params_set_backend(mp, "cpu"), EF_OK);
    assert_int_equal(ef_model_params_set_backend(mp, "no-such-backend"), EF_ERR_UNAVAILABLE);
    assert_int_equal(ef_model_params_set_threads(mp, -1), EF_ERR_INVALID_ARG);
    ef_model_params_free(mp);
}

static void test_model_queries(void **state) {
    (void)state;
    ef_model *m = load(API_MODEL);
    assert_string_equal(ef_model_arch(m), "llama");
    assert_true(ef_model_n_params(m) > 0);
    assert_true(ef_model_n_vocab(m) > 0);
    assert_true(ef_model_n_layer(m) >= 1);
    assert_true(ef_model_n_ctx_train(m) > 0);

    /* metadata: two-call pattern */
    size_t need = 0;
    assert_int_equal(ef_model_meta_get(m, "general.architecture", NULL, 0, &need), EF_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(need, strlen("llama") + 1);
    char buf[64];
    assert_int_equal(ef_model_meta_get(m, "general.architecture", buf, 3, &need), EF_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ef_model_meta_get(m, "general.architecture", buf, sizeof buf, &need), EF_OK);
    assert_string_equal(buf, "llama");
    assert_int_equal(ef_model_meta_get(m, "llama.block_count", buf, sizeof buf, &need), EF_OK);
    char expect[16];
    snprintf(expect, sizeof expect, "%d", (int)ef_model_n_layer(m));
    assert_string_equal(buf, expect);
    assert_int_equal(ef_model_meta_get(m, "no.such.key", buf, sizeof buf, &need), EF_ERR_NOT_FOUND);
    assert_non_null(strstr(ef_last_error(), "no.such.key"));
    int64_t n_kv = ef_model_meta_count(m);
    assert_true(n_kv > 5);
    int found = 0;
    for (int64_t i = 0; i < n_kv; i++) {
        assert_int_equal(ef_model_meta_key(m, i, buf, sizeof buf, &need), EF_OK);
        if (!strcmp(buf, "general.architecture")) found = 1;
    }
    assert_true(found);
    assert_int_equal(ef_model_meta_key(m, n_kv, buf, sizeof buf, &need), EF_ERR_INVALID_ARG);

    /* tensors */
    int64_t n_t = ef_model_tensor_count(m);
    assert_true(n_t > 0);
    int saw_embd = 0;
    for (int64_t i = 0; i < n_t; i++) {
        const char *name;
        uint32_t type;
        int32_t nd;
        int64_t ne[4];
        assert_int_equal(ef_model_tensor_info(m, i, &name, &type, &nd, ne), EF_OK);
        if (!strcmp(name, "token_embd.weight")) {
            saw_embd = 1;
            assert_int_equal(nd, 2);
            assert_int_equal(ne[0], ef_model_n_embd(m));
            assert_int_equal(ne[1], ef_model_n_vocab(m));
        }
    }
    assert_true(saw_embd);
    assert_int_equal(ef_model_tensor_info(m, n_t, NULL, NULL, NULL, NULL), EF_ERR_INVALID_ARG);
    assert_string_equal(ef_tensor_type_name(0), "F32");
    assert_string_equal(ef_tensor_type_name(12), "Q4_K");
    ef_model_free(m);
}

static void test_tokenize_roundtrip(void **state) {
    (void)state;
    ef_model *m = load(API_MODEL);
    const char *text = "Hello, world! naïve café — 123 tokens\n\n  spaced";
    size_t n = 0;
    assert_int_equal(ef_tokenize(m, text, strlen(text), 0, NULL, 0, &n), EF_ERR_BUFFER_TOO_SMALL);
    assert_true(n > 0);
    int32_t ids[256];
    assert_true(n <= 256);
    assert_int_equal(ef_tokenize(m, text, strlen(text), 0, ids, 256, &n), EF_OK);
    size_t len = 0;
    assert_int_equal(ef_detokenize(m, ids, n, 0, NULL, 0, &len), EF_ERR_BUFFER_TOO_SMALL);
    char out[512];
    assert_int_equal(ef_detokenize(m, ids, n, 0, out, sizeof out, &len), EF_OK);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(out, text, len);
    int32_t bad = ef_model_n_vocab(m);
    assert_int_equal(ef_detokenize(m, &bad, 1, 0, out, sizeof out, &len), EF_ERR_INVALID_ARG);
    assert_null(ef_token_text(m, -1));
    assert_non_null(ef_token_text(m, 0));
    ef_model_free(m);
}

static void test_eval_and_logits(void **state) {
    (void)state;
    ef_model *m = load(API_MODEL);
    ef_session *s = session(m, 64);
    const float *lg = NULL;
    assert_int_equal(ef_session_logits(s, -1, &lg), EF_ERR_STATE);
    assert_true(strlen(ef_session_errmsg(s)) > 0);

    int32_t toks[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(ef_session_eval(s, toks, 8, EF_EVAL_ALL_LOGITS), EF_OK);
    assert_int_equal(ef_session_n_past(s), 8);
    int32_t nv = ef_model_n_vocab(m);
    float last[4096];
    assert_true(nv <= 4096);
    assert_int_equal(ef_session_logits(s, -1, &lg), EF_OK);
    memcpy(last, lg, (size_t)nv * sizeof(float));
    const float *row7 = NULL;
    assert_int_equal(ef_session_logits(s, 7, &row7), EF_OK);
    assert_memory_equal(row7, last, (size_t)nv * sizeof(float));
    for (int32_t i = 0; i < nv; i++) assert_true(isfinite(last[i]));
    assert_int_equal(ef_session_logits(s, 8, &lg), EF_ERR_INVALID_ARG);

    /* the same tokens one at a time give the same last logits (KV cache) */
    ef_session *s2 = session(m, 64);
    for (int i = 0; i < 8; i++) assert_int_equal(ef_session_eval(s2, &toks[i], 1, 0), EF_OK);
    assert_int_equal(ef_session_logits(s2, -1, &lg), EF_OK);
    for (int32_t i = 0; i < nv; i++) assert_float_equal(lg[i], last[i], 1e-4);
    assert_int_equal(ef_session_logits(s2, 0, &lg), EF_ERR_INVALID_ARG); /* only the last row kept */

    /* bad token ids and a full context leave the session as it was */
    int32_t bad = nv;
    assert_int_equal(ef_session_eval(s2, &bad, 1, 0), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_session_errmsg(s2), "outside the vocabulary"));
    assert_int_equal(ef_session_n_past(s2), 8);
    int32_t many[64] = {0};
    assert_int_equal(ef_session_eval(s2, many, 57, 0), EF_ERR_CONTEXT_FULL);
    assert_int_equal(ef_session_n_past(s2), 8);
    assert_int_equal(ef_session_eval(s2, many, 56, 0), EF_OK);
    assert_int_equal(ef_session_n_past(s2), 64);
    assert_int_equal(ef_session_reset(s2), EF_OK);
    assert_int_equal(ef_session_n_past(s2), 0);
    ef_session_free(s2);
    ef_session_free(s);
    ef_model_free(m);
}

typedef struct { int calls; int stop_after; ef_session *cancel_me; char text[4096]; size_t len; } stream_ctx;

static int32_t collect(void *user, int32_t token, const char *text, size_t len) {
    stream_ctx *c = user;
    (void)token;
    c->calls++;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
    }
    if (c->cancel_me && c->calls == c->stop_after) ef_session_cancel(c->cancel_me);
    return (!c->cancel_me && c->stop_after && c->calls >= c->stop_after) ? 1 : 0;
}

static void test_generate(void **state) {
    (void)state;
    ef_model *m = load(API_MODEL);
    ef_session *a = session(m, 128), *b = session(m, 128);
    set_greedy(a);
    set_greedy(b);
    stream_ctx ca = {0}, cb = {0};
    assert_int_equal(ef_session_generate(a, "The quick brown fox", 19, 16, collect, &ca), EF_OK);
    assert_int_equal(ef_session_generate(b, "The quick brown fox", 19, 16, collect, &cb), EF_OK);
    assert_int_equal(ca.len, cb.len);
    assert_memory_equal(ca.text, cb.text, ca.len); /* greedy is deterministic */
    double v = 0;
    assert_int_equal(ef_session_stat(a, EF_STAT_PROMPT_TOKENS, &v), EF_OK);
    assert_true(v > 0);
    assert_int_equal(ef_session_stat(a, EF_STAT_GEN_TOKENS, &v), EF_OK);
    double gen = v;
    assert_int_equal(ef_session_stat(a, EF_STAT_STOP_REASON, &v), EF_OK);
    assert_true(v == EF_STOP_MAX_TOKENS || v == EF_STOP_EOG);
    if (v == EF_STOP_MAX_TOKENS) assert_true(gen == 16);
    assert_int_equal(ef_session_stat(a, 9999, &v), EF_ERR_INVALID_ARG);

    /* the callback stops generation */
    ef_session_reset(a);
    stream_ctx stop = {0};
    stop.stop_after = 3;
    assert_int_equal(ef_session_generate(a, "Once", 4, 50, collect, &stop), EF_OK);
    assert_int_equal(stop.calls, 3);
    assert_int_equal(ef_session_stat(a, EF_STAT_STOP_REASON, &v), EF_OK);
    assert_true(v == EF_STOP_CALLBACK);

    /* ef_session_cancel from the callback */
    ef_session_reset(a);
    stream_ctx cancel = {0};
    cancel.stop_after = 2;
    cancel.cancel_me = a;
    assert_int_equal(ef_session_generate(a, "Once", 4, 50, collect, &cancel), EF_ERR_CANCELLED);
    assert_int_equal(ef_session_stat(a, EF_STAT_STOP_REASON, &v), EF_OK);
    assert_true(v == EF_STOP_CANCELLED);
    assert_true(strlen(ef_session_errmsg(a)) > 0);
    /* ... and the session keeps working afterwards */
    assert_int_equal(ef_session_generate(a, " again", 6, 2, NULL, NULL), EF_OK);

    /* seeded sampling is reproducible */
    ef_sampler_params *sp = NULL;
    assert_int_equal(ef_sampler_params_create(&sp), EF_OK);
    assert_int_equal(ef_sampler_params_set_temperature(sp, 1.0f), EF_OK);
    assert_int_equal(ef_sampler_params_set_seed(sp, 99), EF_OK);
    assert_int_equal(ef_sampler_params_set_temperature(sp, -1.0f), EF_ERR_INVALID_ARG);
    stream_ctx r1 = {0}, r2 = {0};
    ef_session_reset(a);
    ef_session_reset(b);
    assert_int_equal(ef_session_set_sampler(a, sp), EF_OK);
    assert_int_equal(ef_session_set_sampler(b, sp), EF_OK);
    assert_int_equal(ef_session_generate(a, "Seeded", 6, 12, collect, &r1), EF_OK);
    assert_int_equal(ef_session_generate(b, "Seeded", 6, 12, collect, &r2), EF_OK);
    assert_int_equal(r1.len, r2.len);
    assert_memory_equal(r1.text, r2.text, r1.len);
    ef_sampler_params_free(sp);

    /* the model outlives ef_model_free while sessions hold it */
    ef_model_free(m);
    assert_int_equal(ef_session_generate(b, " more", 5, 2, NULL, NULL), EF_OK);
    ef_session_free(a);
    ef_session_free(b);
}

static void test_context_full_stops_generation(void **state) {
    (void)state;
    ef_model *m = load(API_MODEL);
    ef_session *s = session(m, 12);
    set_greedy(s);
    stream_ctx c = {0};
    ef_status st = ef_session_generate(s, "a b c", 5, 100, collect, &c);
    assert_int_equal(st, EF_OK);
    double v = 0;
    ef_session_stat(s, EF_STAT_STOP_REASON, &v);
    if (v != EF_STOP_EOG) {
        assert_true(v == EF_STOP_CONTEXT_FULL);
        assert_int_equal(ef_session_n_past(s), 12);
    }
    ef_session_free(s);
    ef_model_free(m);
}

static void test_memory_budget(void **state) {
    (void)state;
    ef_model *m = load(API_MODEL);
    ef_session_params *p = NULL;
    ef_session *s = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, 256), EF_OK);
    assert_int_equal(ef_session_params_set_memory_budget(p, 4096), EF_OK);
    assert_int_equal(ef_session_create(m, p, &s), EF_ERR_BUDGET);
    assert_null(s);
    const char *msg = ef_last_error();
    assert_non_null(strstr(msg, "budget"));
    assert_non_null(strstr(msg, "needs"));

    /* with room, the peak is reported and stays within the budget */
    assert_int_equal(ef_session_params_set_memory_budget(p, 64u << 20), EF_OK);
    assert_int_equal(ef_session_create(m, p, &s), EF_OK);
    int32_t toks[4] = {1, 2, 3, 4};
    assert_int_equal(ef_session_eval(s, toks, 4, 0), EF_OK);
    double used = 0, peak = 0, budget = 0;
    ef_session_stat(s, EF_STAT_MEMORY_USED, &used);
    ef_session_stat(s, EF_STAT_MEMORY_PEAK, &peak);
    ef_session_stat(s, EF_STAT_MEMORY_BUDGET, &budget);
    assert_true(used > 0 && peak >= used && peak <= budget);
    /* asking for every row's logits past the budget fails cleanly */
    ef_session_free(s);
    assert_int_equal(ef_session_params_set_memory_budget(p, (uint64_t)peak + 1024), EF_OK);
    assert_int_equal(ef_session_create(m, p, &s), EF_OK);
    int32_t many[200] = {0};
    assert_int_equal(ef_session_eval(s, many, 200, EF_EVAL_ALL_LOGITS), EF_ERR_BUDGET);
    assert_non_null(strstr(ef_session_errmsg(s), "budget"));
    assert_int_equal(ef_session_n_past(s), 0);
    assert_int_equal(ef_session_eval(s, many, 200, 0), EF_OK);
    ef_session_free(s);
    ef_session_params_free(p);
    ef_model_free(m);
}

typedef struct { ef_session *s; } cancel_arg;

static void *cancel_soon(void *p) {
    cancel_arg *a = p;
    for (int i = 0; i < 20; i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
        ef_session_cancel(a->s);
    }
    return NULL;
}

static void test_cancel_from_thread(void **state) {
    (void)state;
    ef_model *m = load(API_MODEL);
    ef_session *s = session(m, 256);
    set_greedy(s);
    cancel_arg a = {s};
    pthread_t th;
    pthread_create(&th, NULL, cancel_soon, &a);
    /* long enough that the cancel lands while it runs */
    ef_status st = ef_session_generate(s, "x", 1, 200, NULL, NULL);
    pthread_join(th, NULL);
    double v = 0;
    ef_session_stat(s, EF_STAT_STOP_REASON, &v);
    if (st == EF_OK) {
        /* finished before the first cancel: must then have stopped for a normal reason */
        assert_true(v == EF_STOP_MAX_TOKENS || v == EF_STOP_EOG || v == EF_STOP_CONTEXT_FULL);
    } else {
        assert_int_equal(st, EF_ERR_CANCELLED);
        assert_true(v == EF_STOP_CANCELLED);
    }
    ef_session_free(s);
    ef_model_free(m);
}

static void test_qwen2_runs(void **state) {
    (void)state;
    ef_model *m = load(API_MODEL_Q);
    assert_string_equal(ef_model_arch(m), "qwen2");
    ef_session *s = session(m, 64);
    set_greedy(s);
    assert_int_equal(ef_session_generate(s, "hi", 2, 4, NULL, NULL), EF_OK);
    ef_session_free(s);
    ef_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_status),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_model_queries),
        cmocka_unit_test(test_tokenize_roundtrip),
        cmocka_unit_test(test_eval_and_logits),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_context_full_stops_generation),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_cancel_from_thread),
        cmocka_unit_test(test_qwen2_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
