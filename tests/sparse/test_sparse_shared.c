/* Sparse decode across threads and sessions: the logits do not depend on the
 * session's thread count (the accumulation sums fixed parts of the active
 * list in a fixed order); the neuron-row layout of ffn_down is built once
 * per model and shared, and sessions using it (one after the other,
 * interleaved, or created on two threads at once) give the logits of a
 * session that ran alone. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/session.h"
#include "edgeformer/edgeformer.h"
#include "exec/ffn_sparse.h"
#include "model/model.h"

#define N_TOK 20
#define N_LAYER_MAX 16
#ifndef THR
#define THR 0.2f /* |silu(gate)| cut-off: skips about half the neurons of the fixtures */
#endif

static ef_model *load(const char *path) {
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(path, NULL, &m), EF_OK);
    return m;
}

/* A session with sparse decode on at fixed per-layer thresholds (the
 * fixtures carry no calibration): thr for every layer. */
static ef_session *sparse_session(ef_model *m, int32_t threads, float thr) {
    ef_session_params *p = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, 64), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, threads), EF_OK);
    assert_int_equal(ef_session_params_set_kv_type(p, "f32"), EF_OK);
    ef_session *s = NULL;
    assert_int_equal(ef_session_create(m, p, &s), EF_OK);
    ef_session_params_free(p);
    float t[N_LAYER_MAX];
    assert_true(ef_model_n_layer(m) <= N_LAYER_MAX);
    for (int i = 0; i < N_LAYER_MAX; i++) t[i] = thr;
    assert_int_equal(ef_exec_set_sparsity(s->exec, 0.5f, t), EF_OK);
    return s;
}

static void tokens_of(int32_t *t, int32_t n, int32_t n_vocab) {
    uint32_t x = 77;
    for (int32_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        t[i] = 3 + (int32_t)((x >> 8) % (uint32_t)(n_vocab - 3));
    }
}

/* One decode step: token t[i] after i tokens (the first 4 prefilled at i == 4). */
static void step(ef_session *s, const int32_t *t, int32_t i, float *logits, int32_t n_vocab) {
    if (i == 4) assert_int_equal(ef_session_eval(s, t, 4, 0), EF_OK);
    else assert_int_equal(ef_session_eval(s, t + i - 1, 1, 0), EF_OK);
    const float *l;
    assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
    memcpy(logits, l, sizeof(float) * (size_t)n_vocab);
}

/* Logits [N_TOK][n_vocab] (rows from 4 on) of one session decoding alone. */
static float *decode_all(ef_session *s, const int32_t *t, int32_t n_vocab) {
    float *out = calloc((size_t)N_TOK * (size_t)n_vocab, sizeof(float));
    assert_non_null(out);
    for (int32_t i = 4; i < N_TOK; i++) step(s, t, i, out + (size_t)i * n_vocab, n_vocab);
    return out;
}

static double skipped(const ef_session *s) {
    double v = -1;
    assert_int_equal(ef_session_stat(s, EF_STAT_SPARSE_SKIPPED, &v), EF_OK);
    return v;
}

/* 1 and 2 threads: the same bits, with a real share of neurons skipped. */
static void check_threads(const char *path) {
    ef_model *m = load(path);
    const int32_t n_vocab = ef_model_n_vocab(m);
    int32_t t[N_TOK];
    tokens_of(t, N_TOK, n_vocab);
    ef_session *s1 = sparse_session(m, 1, THR), *s2 = sparse_session(m, 2, THR);
    float *a = decode_all(s1, t, n_vocab), *b = decode_all(s2, t, n_vocab);
    const double sk = skipped(s1);
    print_message("%s: 1 vs 2 threads, %.1f%% skipped\n", path, 100 * sk);
    assert_true(sk > 0.1 && sk < 0.9);
    assert_true(skipped(s2) == sk);
    assert_memory_equal(a, b, sizeof(float) * (size_t)N_TOK * (size_t)n_vocab);
    free(a), free(b);
    ef_session_free(s1);
    ef_session_free(s2);
    ef_model_free(m);
}

static void test_threads_same_bits(void **state) {
    (void)state;
    check_threads(SP_F16);
    check_threads(SP_Q8);
    check_threads(SP_Q4);
    check_threads(SP_WIDE_Q8); /* n_ff 640: several parts per worker */
}

/* Two sessions on one model share one layout and, decoding interleaved
 * (each its own tokens), give the logits each gave alone. */
static void test_two_sessions_share_layout(void **state) {
    (void)state;
    ef_model *m = load(SP_Q8);
    const int32_t n_vocab = ef_model_n_vocab(m);
    int32_t t[N_TOK], u[N_TOK];
    tokens_of(t, N_TOK, n_vocab);
    for (int i = 0; i < N_TOK; i++) u[i] = t[N_TOK - 1 - i]; /* another sequence */
    assert_null(atomic_load(&m->sparse_layout)); /* nothing before a sparse session */
    /* alone: a fresh model per reference, so the layout is built by that session */
    ef_model *ma = load(SP_Q8), *mb = load(SP_Q8);
    ef_session *ra = sparse_session(ma, 1, THR), *rb = sparse_session(mb, 1, THR);
    float *ref_a = decode_all(ra, t, n_vocab), *ref_b = decode_all(rb, u, n_vocab);
    ef_session_free(ra);
    ef_session_free(rb);
    ef_model_free(ma);
    ef_model_free(mb);
    /* together */
    ef_session *sa = sparse_session(m, 1, THR);
    ef_sparse_layout *layout = atomic_load(&m->sparse_layout);
    assert_non_null(layout);
    ef_session *sb = sparse_session(m, 2, THR);
    assert_ptr_equal(atomic_load(&m->sparse_layout), layout); /* built once */
    float *la = calloc((size_t)n_vocab, sizeof(float)), *lb = calloc((size_t)n_vocab, sizeof(float));
    for (int32_t i = 4; i < N_TOK; i++) {
        step(sa, t, i, la, n_vocab);
        step(sb, u, i, lb, n_vocab);
        assert_memory_equal(la, ref_a + (size_t)i * n_vocab, sizeof(float) * (size_t)n_vocab);
        assert_memory_equal(lb, ref_b + (size_t)i * n_vocab, sizeof(float) * (size_t)n_vocab);
    }
    /* the first session gone, the second keeps working on the model's copy */
    ef_session_free(sa);
    assert_int_equal(ef_session_reset(sb), EF_OK);
    for (int32_t i = 4; i < N_TOK; i++) {
        step(sb, u, i, lb, n_vocab);
        assert_memory_equal(lb, ref_b + (size_t)i * n_vocab, sizeof(float) * (size_t)n_vocab);
    }
    ef_session_free(sb);
    free(la), free(lb), free(ref_a), free(ref_b);
    ef_model_free(m);
}

typedef struct {
    ef_model *m;
    const int32_t *t;
    float *logits; /* [N_TOK][n_vocab] */
    ef_status st;
} racer;

/* A thread creating a sparse session and decoding (no cmocka asserts off
 * the main thread: failures come back in st). */
static void *race(void *arg) {
    racer *r = arg;
    const int32_t n_vocab = ef_model_n_vocab(r->m);
    ef_session_params *p = NULL;
    ef_session *s = NULL;
    r->st = ef_session_params_create(&p);
    if (!r->st) r->st = ef_session_params_set_n_ctx(p, 64);
    if (!r->st) r->st = ef_session_params_set_threads(p, 1);
    if (!r->st) r->st = ef_session_params_set_kv_type(p, "f32");
    if (!r->st) r->st = ef_session_create(r->m, p, &s);
    float thr[N_LAYER_MAX];
    for (int i = 0; i < N_LAYER_MAX; i++) thr[i] = THR;
    if (!r->st) r->st = ef_exec_set_sparsity(s->exec, 0.5f, thr);
    if (!r->st) r->st = ef_session_eval(s, r->t, 4, 0);
    for (int32_t i = 4; !r->st && i < N_TOK; i++) {
        if (i > 4) r->st = ef_session_eval(s, r->t + i - 1, 1, 0);
        const float *l;
        if (!r->st) r->st = ef_session_logits(s, -1, &l);
        if (!r->st) memcpy(r->logits + (size_t)i * n_vocab, l, sizeof(float) * (size_t)n_vocab);
    }
    ef_session_free(s);
    ef_session_params_free(p);
    return NULL;
}

/* Sessions created on two threads at once build the layout once and get
 * the logits of a session alone. */
static void test_sessions_on_two_threads(void **state) {
    (void)state;
    ef_model *ref_m = load(SP_F16);
    const int32_t n_vocab = ef_model_n_vocab(ref_m);
    int32_t t[N_TOK];
    tokens_of(t, N_TOK, n_vocab);
    ef_session *ref_s = sparse_session(ref_m, 1, THR);
    float *ref = decode_all(ref_s, t, n_vocab);
    ef_session_free(ref_s);
    ef_model_free(ref_m);
    for (int round = 0; round < 3; round++) {
        ef_model *m = load(SP_F16); /* a fresh model: the two sessions race to build its layout */
        racer r[2];
        pthread_t th[2];
        for (int k = 0; k < 2; k++) {
            r[k] = (racer){.m = m, .t = t, .logits = calloc((size_t)N_TOK * (size_t)n_vocab, sizeof(float))};
            assert_int_equal(pthread_create(&th[k], NULL, race, &r[k]), 0);
        }
        for (int k = 0; k < 2; k++) assert_int_equal(pthread_join(th[k], NULL), 0);
        for (int k = 0; k < 2; k++) {
            assert_int_equal(r[k].st, EF_OK);
            assert_memory_equal(r[k].logits + 4 * (size_t)n_vocab, ref + 4 * (size_t)n_vocab,
                                sizeof(float) * (size_t)(N_TOK - 4) * (size_t)n_vocab);
            free(r[k].logits);
        }
        assert_non_null(atomic_load(&m->sparse_layout));
        ef_model_free(m);
    }
    free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_two_sessions_share_layout),
        cmocka_unit_test(test_sessions_on_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
