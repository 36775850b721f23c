/* Backend discovery, listing, selection and sessions on a plugin, with the
 * fake plugins of this folder (fake_plugin.c). Discovery runs once per
 * process, so each scenario is its own ctest entry (argv[1]) with its own
 * EF_BACKEND_PATH / EF_BACKEND:
 *   list      plugins/: one good, ABI 2, probe unavailable, not ELF, no entry
 *             point, entry fails, table too small, missing dependency, a
 *             matmul failing on wide weights;
 *             reasons, selection, sessions, allocation failures
 *   first     plugins-high/ then plugins/: the first "fake" wins, auto picks
 *             the high-scoring one
 *   self      no EF_BACKEND_PATH: a plugin beside the (static) program is found
 *   env       EF_BACKEND=fake picks the plugin for sessions without a choice
 *   env-bad   EF_BACKEND=fakeunavail fails session creation with the reason */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/session.h"
#include "backend/backend_internal.h"
#include "edgeformer/edgeformer.h"
#include "exec/exec_backend.h"

static const ef_backend *find(const char *name) {
    for (int32_t i = 0; i < ef_backend_count(); i++) {
        const ef_backend *b = NULL;
        assert_int_equal(ef_backend_get(i, &b), EF_OK);
        if (!strcmp(ef_backend_name(b), name)) return b;
    }
    return NULL;
}

static void assert_contains(const char *text, const char *part) {
    if (!strstr(text, part)) fail_msg("'%s' does not contain '%s'", text, part);
}

static ef_model *load(const char *path, const char *backend) {
    ef_model_params *mp = NULL;
    assert_int_equal(ef_model_params_create(&mp), EF_OK);
    if (backend) assert_int_equal(ef_model_params_set_backend(mp, backend), EF_OK);
    ef_model *m = NULL;
    ef_status st = ef_model_load(path, mp, &m);
    if (st) fail_msg("load %s: %s", path, ef_last_error());
    ef_model_params_free(mp);
    return m;
}

/* A session on `backend` (NULL: no choice); the status of ef_session_create. */
static ef_status open_session(ef_model *m, const char *backend, const char *opt_key, const char *opt_value,
                              ef_session **out) {
    ef_session_params *p = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, 64), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 2), EF_OK);
    assert_int_equal(ef_session_params_set_kv_type(p, "f32"), EF_OK);
    if (backend) assert_int_equal(ef_session_params_set_backend(p, backend), EF_OK);
    if (opt_key) assert_int_equal(ef_session_params_set_backend_option(p, opt_key, opt_value), EF_OK);
    *out = NULL;
    ef_status st = ef_session_create(m, p, out);
    ef_session_params_free(p);
    return st;
}

static const int32_t k_prompt[] = {1, 17, 42, 99, 3, 250, 7, 128, 64, 5, 300, 11};
#define N_PROMPT ((int32_t)(sizeof k_prompt / sizeof k_prompt[0]))

/* logits[t][v] of every prompt token, then 8 greedy continuation tokens. */
static void run(ef_session *s, int32_t n_vocab, float *logits, int32_t *greedy) {
    assert_int_equal(ef_session_eval(s, k_prompt, N_PROMPT, EF_EVAL_ALL_LOGITS), EF_OK);
    for (int32_t t = 0; t < N_PROMPT; t++) {
        const float *row = NULL;
        assert_int_equal(ef_session_logits(s, t, &row), EF_OK);
        memcpy(logits + (size_t)t * n_vocab, row, (size_t)n_vocab * sizeof(float));
    }
    const float *last = logits + (size_t)(N_PROMPT - 1) * n_vocab;
    for (int32_t g = 0; g < 8; g++) {
        int32_t best = 0;
        for (int32_t v = 1; v < n_vocab; v++)
            if (last[v] > last[best]) best = v;
        greedy[g] = best;
        ef_status st = ef_session_eval(s, &best, 1, 0);
        if (st) fail_msg("decode step %d: %s", (int)g, ef_session_errmsg(s));
        st = ef_session_logits(s, -1, &last);
        if (st) fail_msg("logits of decode step %d: %s", (int)g, ef_session_errmsg(s));
    }
}

/* Logits and greedy tokens of `backend` against cpu; returns the largest
 * difference relative to the largest logit. */
static double compare_with_cpu(ef_model *m, const char *backend, uint64_t *on_backend, uint64_t *fallback) {
    const int32_t n_vocab = ef_model_n_vocab(m);
    float *ref = test_malloc((size_t)N_PROMPT * n_vocab * sizeof(float));
    float *got = test_malloc((size_t)N_PROMPT * n_vocab * sizeof(float));
    int32_t ref_tok[8], got_tok[8];
    ef_session *cpu = NULL, *be = NULL;
    assert_int_equal(open_session(m, "cpu", NULL, NULL, &cpu), EF_OK);
    assert_string_equal(ef_session_backend(cpu), "cpu");
    assert_null(cpu->xbackend);
    run(cpu, n_vocab, ref, ref_tok);
    assert_int_equal(open_session(m, backend, NULL, NULL, &be), EF_OK);
    assert_string_equal(ef_session_backend(be), backend);
    run(be, n_vocab, got, got_tok);
    ef_exec_backend_counts(be->xbackend, on_backend, fallback);
    double max_diff = 0, max_ref = 1e-6;
    for (size_t i = 0; i < (size_t)N_PROMPT * n_vocab; i++) {
        max_diff = fmax(max_diff, fabs((double)got[i] - ref[i]));
        max_ref = fmax(max_ref, fabs((double)ref[i]));
    }
    assert_memory_equal(ref_tok, got_tok, sizeof ref_tok);
    ef_session_free(cpu);
    ef_session_free(be);
    test_free(ref);
    test_free(got);
    return max_diff / max_ref;
}

/* ---- scenario "list" --------------------------------------------------------- */

static void test_list_and_reasons(void **state) {
    (void)state;
    assert_int_equal(ef_backend_count(), 10);
    const ef_backend *cpu = NULL;
    assert_int_equal(ef_backend_get(0, &cpu), EF_OK);
    assert_string_equal(ef_backend_name(cpu), "cpu");
    assert_int_equal(ef_backend_available(cpu), 1);
    assert_int_equal(ef_backend_score(cpu), 100);
    assert_string_equal(ef_backend_path(cpu), "");
    assert_string_equal(ef_backend_unavailable_reason(cpu), "");
    assert_true(ef_backend_memory(cpu) > 0);
    assert_true(strlen(ef_backend_device(cpu)) > 0);

    const ef_backend *fake = find("fake");
    assert_non_null(fake);
    assert_int_equal(ef_backend_available(fake), 1);
    assert_int_equal(ef_backend_score(fake), 50);
    assert_string_equal(ef_backend_device(fake), "fake device");
    assert_int_equal(ef_backend_memory(fake), 1u << 20);
    assert_contains(ef_backend_path(fake), "plugins/libedgeformer-fake.so");

    const struct {
        const char *name, *reason;
    } bad[] = {
        {"fakeabi2", "built for backend ABI 2, this library speaks 1"},
        {"fakeunavail", "fake device missing"},
        {"fakenotelf", "libedgeformer-fakenotelf.so"},
        {"fakenoentry", "no entry point ef_backend_plugin_entry"},
        {"fakemissingdep", "libfakedep.so"},
        {"fakeentryfails", "the plugin's entry point failed (EF_ERR_BACKEND)"},
        {"fakesmall", "function table of 16 bytes is smaller than ABI 1's"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const ef_backend *b = find(bad[i].name);
        if (!b) fail_msg("backend %s is not listed", bad[i].name);
        assert_int_equal(ef_backend_available(b), 0);
        assert_string_equal(ef_backend_device(b), "");
        assert_contains(ef_backend_unavailable_reason(b), bad[i].reason);
    }
    const ef_backend *b = NULL;
    assert_int_equal(ef_backend_get(10, &b), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_backend_get(-1, &b), EF_ERR_INVALID_ARG);
    assert_string_equal(ef_backend_name(NULL), "");
    assert_int_equal(ef_backend_available(NULL), 0);
}

static void test_selection(void **state) {
    (void)state;
    const struct ef_backend *b = NULL;
    assert_int_equal(ef_backend_select("auto", &b), EF_OK);
    assert_string_equal(b->name, "cpu"); /* fake scores 50 < 100 */
    assert_int_equal(ef_backend_select(NULL, &b), EF_OK);
    assert_string_equal(b->name, "cpu");
    assert_int_equal(ef_backend_select("fake", &b), EF_OK);
    assert_string_equal(b->name, "fake");
    assert_int_equal(ef_backend_select("fakeabi2", &b), EF_ERR_UNAVAILABLE);
    assert_contains(ef_last_error(), "unavailable: built for backend ABI 2");
    assert_int_equal(ef_backend_select("nosuch", &b), EF_ERR_UNAVAILABLE);
    assert_contains(ef_last_error(), "nosuch");
}

static void test_session_on_fake_matches_cpu(void **state) {
    (void)state;
    ef_model *m = load(BACKEND_MODEL_F32, NULL);
    uint64_t on = 0, fb = 0;
    double rel = compare_with_cpu(m, "fake", &on, &fb);
    assert_true(rel <= 1e-4);
    assert_true(on > 0);       /* the matmuls ran on the plugin ... */
    assert_int_equal(fb, 0);   /* ... every one of them (all weights F32) */
    ef_model_free(m);
}

static void test_unsupported_type_falls_back(void **state) {
    (void)state;
    ef_model *m = load(BACKEND_MODEL_Q8, NULL);
    uint64_t on = 0, fb = 0;
    double rel = compare_with_cpu(m, "fake", &on, &fb);
    assert_true(rel == 0.0); /* Q8_0 is not claimed: the same cpu kernels ran */
    assert_true(fb > 0);
    ef_model_free(m);
}

/* A matmul the device fails (the 512-row output head) stays on cpu from then
 * on; the rest still runs on the plugin and the answers do not change. */
static void test_failing_matmul_falls_back(void **state) {
    (void)state;
    ef_model *m = load(BACKEND_MODEL_F32, NULL);
    uint64_t on = 0, fb = 0;
    double rel = compare_with_cpu(m, "fakeflaky", &on, &fb);
    assert_true(rel <= 1e-4);
    assert_true(on > 0);
    assert_true(fb > 0);
    assert_true(fb <= 1 + 8 + 1); /* the output head of the prompt and of each greedy step */
    ef_model_free(m);
}

static void test_session_errors_and_options(void **state) {
    (void)state;
    ef_model *m = load(BACKEND_MODEL_F32, NULL);
    ef_session *s = NULL;
    assert_int_equal(open_session(m, "fakeabi2", NULL, NULL, &s), EF_ERR_UNAVAILABLE);
    assert_null(s);
    assert_contains(ef_last_error(), "built for backend ABI 2");
    assert_int_equal(open_session(m, "fakeunavail", NULL, NULL, &s), EF_ERR_UNAVAILABLE);
    assert_contains(ef_last_error(), "unavailable: fake device missing");
    /* options: the plugin's own keys go to it, unknown ones are refused, others' are ignored */
    assert_int_equal(open_session(m, "fake", "fake.mode", "x", &s), EF_OK);
    ef_session_free(s);
    assert_int_equal(open_session(m, "fake", "fake.bogus", "1", &s), EF_ERR_INVALID_ARG);
    assert_contains(ef_last_error(), "unknown option 'fake.bogus'");
    assert_int_equal(open_session(m, "fake", "opencl.device", "any", &s), EF_OK);
    ef_session_free(s);
    assert_int_equal(open_session(m, "cpu", "cpu.bogus", "1", &s), EF_ERR_INVALID_ARG);
    /* params checks */
    ef_session_params *p = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_backend(NULL, "cpu"), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_params_set_backend(p, ""), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_params_set_backend(p, NULL), EF_OK);
    assert_int_equal(ef_session_params_set_backend_option(p, NULL, "x"), EF_ERR_INVALID_ARG);
    for (int i = 0; i < 16; i++) {
        char key[32];
        snprintf(key, sizeof key, "fake.k%d", i);
        assert_int_equal(ef_session_params_set_backend_option(p, key, "v"), EF_OK);
    }
    assert_int_equal(ef_session_params_set_backend_option(p, "fake.k3", "again"), EF_OK); /* replaces */
    assert_int_equal(ef_session_params_set_backend_option(p, "fake.k16", "v"), EF_ERR_INVALID_ARG);
    ef_session_params_free(p);
    assert_string_equal(ef_session_backend(NULL), "");
    ef_model_free(m);
}

static void test_model_default_backend(void **state) {
    (void)state;
    ef_model_params *mp = NULL;
    assert_int_equal(ef_model_params_create(&mp), EF_OK);
    assert_int_equal(ef_model_params_set_backend(mp, "fakeunavail"), EF_ERR_UNAVAILABLE);
    assert_contains(ef_last_error(), "fake device missing");
    assert_int_equal(ef_model_params_set_backend(mp, "auto"), EF_OK);
    ef_model_params_free(mp);

    ef_model *m = load(BACKEND_MODEL_F32, "fake");
    ef_session *s = NULL;
    assert_int_equal(open_session(m, NULL, NULL, NULL, &s), EF_OK);
    assert_string_equal(ef_session_backend(s), "fake"); /* the model's default */
    ef_session_free(s);
    assert_int_equal(open_session(m, "cpu", NULL, NULL, &s), EF_OK);
    assert_string_equal(ef_session_backend(s), "cpu"); /* the session's own choice wins */
    ef_session_free(s);
    ef_model_free(m);
    m = load(BACKEND_MODEL_F32, NULL);
    assert_int_equal(open_session(m, NULL, NULL, NULL, &s), EF_OK);
    assert_string_equal(ef_session_backend(s), "cpu"); /* auto */
    ef_session_free(s);
    ef_model_free(m);
}

/* Two sessions of one model on the plugin share its uploaded weights and
 * still give the same answers. */
static void test_two_sessions_share(void **state) {
    (void)state;
    ef_model *m = load(BACKEND_MODEL_F32, NULL);
    const int32_t n_vocab = ef_model_n_vocab(m);
    float *a = test_malloc((size_t)N_PROMPT * n_vocab * sizeof(float));
    float *b = test_malloc((size_t)N_PROMPT * n_vocab * sizeof(float));
    int32_t ta[8], tb[8];
    ef_session *s1 = NULL, *s2 = NULL;
    assert_int_equal(open_session(m, "fake", NULL, NULL, &s1), EF_OK);
    assert_int_equal(open_session(m, "fake", NULL, NULL, &s2), EF_OK);
    run(s1, n_vocab, a, ta);
    ef_session_free(s1); /* s2 keeps the shared weights alive */
    run(s2, n_vocab, b, tb);
    assert_memory_equal(a, b, (size_t)N_PROMPT * n_vocab * sizeof(float));
    assert_memory_equal(ta, tb, sizeof ta);
    ef_session_free(s2);
    ef_model_free(m);
    test_free(a);
    test_free(b);
}

/* Failing the N-th allocation, for every N, through a session on the plugin:
 * each run ends in EF_OK (a failed upload falls back to the cpu kernels) or
 * a clean EF_ERR_NO_MEMORY, with nothing leaked (LeakSanitizer). */
#include "common/fail_alloc.h" /* g_countdown, g_failures, failing_malloc, failing_realloc, plain_free */

static ef_status plugin_scenario(ef_model *m) {
    ef_session *s = NULL;
    ef_session_params *p = NULL;
    ef_status st = ef_session_params_create(&p);
    if (!st) st = ef_session_params_set_n_ctx(p, 32);
    if (!st) st = ef_session_params_set_threads(p, 1); /* no pool threads to start per run */
    if (!st) st = ef_session_params_set_backend(p, "fake");
    if (!st) st = ef_session_create(m, p, &s);
    if (!st) {
        int32_t t[3] = {1, 2, 3};
        st = ef_session_eval(s, t, 3, EF_EVAL_ALL_LOGITS);
    }
    if (!st) {
        int32_t t = 4;
        st = ef_session_eval(s, &t, 1, 0);
    }
    ef_session_free(s);
    ef_session_params_free(p);
    return st;
}

static void test_alloc_failures_on_plugin(void **state) {
    (void)state;
    long points = 0;
    ef_model *m = load(BACKEND_MODEL_F32, NULL); /* loaded once: the session and its plugin state are what is tested */
    for (long n = 0;; n++) {
        g_countdown = n;
        g_failures = 0;
        assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL), EF_OK);
        ef_status st = plugin_scenario(m);
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            break;
        }
        points++;
        if (st != EF_OK && st != EF_ERR_NO_MEMORY)
            fail_msg("allocation %ld: status %s: %s", n, ef_status_str(st), ef_last_error());
        assert_true(n < 100000);
    }
    ef_model_free(m);
    fprintf(stderr, "injected %ld allocation failures\n", points);
    assert_true(points > 10);
}

/* ---- scenario "first" ------------------------------------------------------- */

static void test_first_wins_and_auto(void **state) {
    (void)state;
    const ef_backend *fake = find("fake");
    assert_non_null(fake);
    assert_string_equal(ef_backend_device(fake), "fake device (first)");
    assert_contains(ef_backend_path(fake), "plugins-high/libedgeformer-fake.so");
    int n_fake = 0;
    for (int32_t i = 0; i < ef_backend_count(); i++) {
        const ef_backend *b = NULL;
        assert_int_equal(ef_backend_get(i, &b), EF_OK);
        n_fake += !strcmp(ef_backend_name(b), "fake");
    }
    assert_int_equal(n_fake, 1);
    const struct ef_backend *b = NULL;
    assert_int_equal(ef_backend_select("auto", &b), EF_OK);
    assert_string_equal(b->name, "fakehigh");
    ef_model *m = load(BACKEND_MODEL_F32, NULL);
    ef_session *s = NULL;
    assert_int_equal(open_session(m, "auto", NULL, NULL, &s), EF_OK);
    assert_string_equal(ef_session_backend(s), "fakehigh");
    ef_session_free(s);
    ef_model_free(m);
}

/* ---- scenario "self" (no EF_BACKEND_PATH; the program sits beside a plugin) -- */

static void test_found_next_to_the_program(void **state) {
    (void)state;
    const ef_backend *b = find("fakeself");
    assert_non_null(b);
    assert_int_equal(ef_backend_available(b), 1);
    assert_contains(ef_backend_path(b), "self-dir");
    assert_null(find("fake")); /* plugins/ is not searched without EF_BACKEND_PATH */
}

/* ---- scenarios "env", "env-bad" -------------------------------------------- */

static void test_env_picks(void **state) {
    (void)state;
    ef_model *m = load(BACKEND_MODEL_F32, NULL);
    ef_session *s = NULL;
    assert_int_equal(open_session(m, NULL, NULL, NULL, &s), EF_OK);
    assert_string_equal(ef_session_backend(s), "fake");
    ef_session_free(s);
    assert_int_equal(open_session(m, "cpu", NULL, NULL, &s), EF_OK);
    assert_string_equal(ef_session_backend(s), "cpu");
    ef_session_free(s);
    ef_model_free(m);
}

static void test_env_unavailable_fails(void **state) {
    (void)state;
    ef_model *m = load(BACKEND_MODEL_F32, NULL);
    ef_session *s = NULL;
    assert_int_equal(open_session(m, NULL, NULL, NULL, &s), EF_ERR_UNAVAILABLE);
    assert_contains(ef_last_error(), "backend 'fakeunavail' is unavailable: fake device missing");
    ef_model_free(m);
}

int main(int argc, char **argv) {
    const char *scenario = argc > 1 ? argv[1] : "list";
    if (!strcmp(scenario, "list")) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_list_and_reasons),
            cmocka_unit_test(test_selection),
            cmocka_unit_test(test_session_on_fake_matches_cpu),
            cmocka_unit_test(test_unsupported_type_falls_back),
            cmocka_unit_test(test_failing_matmul_falls_back),
            cmocka_unit_test(test_session_errors_and_options),
            cmocka_unit_test(test_model_default_backend),
            cmocka_unit_test(test_two_sessions_share),
            cmocka_unit_test(test_alloc_failures_on_plugin),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (!strcmp(scenario, "first")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_first_wins_and_auto)};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (!strcmp(scenario, "self")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_found_next_to_the_program)};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (!strcmp(scenario, "env")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_env_picks)};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (!strcmp(scenario, "env-bad")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_env_unavailable_fails)};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    fprintf(stderr, "unknown scenario '%s' (list, first, self, env, env-bad)\n", scenario);
    return 2;
}
