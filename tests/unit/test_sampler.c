/* The sampler chain (lib/sample): greedy, top-k, seeds, the drawn
 * distribution against softmax, top-p, min-p, repetition penalty, NaN/inf
 * logits, option validation and allocation failures. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "sample/sampler.h"

/* ---- helpers ---- */

/* Deterministic test data independent of the sampler's own RNG. */
static uint64_t lcg_state = 12345;
static double test_uniform(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0);
}

static struct ef_sampler_params plain_params(float temperature) {
    struct ef_sampler_params p;
    ef_sampler_params_defaults(&p);
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 0;
    p.seed = 42;
    return p;
}

static ef_sampler *make_sampler(const struct ef_sampler_params *p, int32_t n_vocab) {
    ef_sampler *s = NULL;
    assert_int_equal(ef_sampler_create(p, n_vocab, &s), EF_OK);
    assert_non_null(s);
    return s;
}

static int32_t sample_one(ef_sampler *s, const float *logits) {
    int32_t t = -1;
    assert_int_equal(ef_sampler_sample(s, logits, &t), EF_OK);
    return t;
}

/* softmax(logits / T) in double, the reference the sampler must follow. */
static void reference_softmax(const float *logits, int n, double temperature, double *probs) {
    double best = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > best) best = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        probs[i] = exp(((double)logits[i] - best) / temperature);
        sum += probs[i];
    }
    for (int i = 0; i < n; i++) probs[i] /= sum;
}

/* Upper 99.9% quantile of chi-square with k degrees of freedom
 * (Wilson–Hilferty; z = 3.090 is the normal's 99.9% point). */
static double chi2_critical_999(int k) {
    double a = 2.0 / (9.0 * k);
    double c = 1.0 - a + 3.090 * sqrt(a);
    return k * c * c * c;
}

/* Draws n_draws tokens and checks the counts against probs with Pearson's
 * chi-square test; tokens with probability 0 must never appear. */
static void check_distribution(ef_sampler *s, const float *logits, const double *probs, int n, int n_draws) {
    long *counts = calloc((size_t)n, sizeof *counts);
    assert_non_null(counts);
    for (int d = 0; d < n_draws; d++) {
        int32_t t = sample_one(s, logits);
        assert_true(t >= 0 && t < n);
        counts[t]++;
    }
    double chi2 = 0.0;
    int dof = -1;
    for (int i = 0; i < n; i++) {
        if (probs[i] == 0.0) {
            if (counts[i] != 0) fail_msg("token %d has probability 0 but was drawn %ld times", i, counts[i]);
            continue;
        }
        double expected = probs[i] * n_draws;
        assert_true(expected >= 5.0); /* the test's own precondition for chi-square */
        chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
        dof++;
    }
    double crit = chi2_critical_999(dof);
    if (!(chi2 < crit)) fail_msg("chi-square %.2f >= %.2f (dof %d): draws do not follow softmax", chi2, crit, dof);
    free(counts);
}

/* ---- greedy and top-k ---- */

static void test_greedy_picks_argmax(void **state) {
    (void)state;
    enum { N = 1000 };
    static float logits[N];
    struct ef_sampler_params p = plain_params(0.0f);
    p.top_k = 40;
    p.top_p = 0.5f;
    p.min_p = 0.2f;
    ef_sampler *s = make_sampler(&p, N);
    for (int round = 0; round < 50; round++) {
        int expect = 0;
        for (int i = 0; i < N; i++) {
            logits[i] = (float)(test_uniform() * 20.0 - 10.0);
            if (logits[i] > logits[expect]) expect = i;
        }
        assert_int_equal(sample_one(s, logits), expect);
    }
    /* Ties: the lowest id wins. */
    for (int i = 0; i < N; i++) logits[i] = 0.0f;
    logits[700] = 3.0f;
    logits[300] = 3.0f;
    logits[900] = 3.0f;
    assert_int_equal(sample_one(s, logits), 300);
    ef_sampler_free(s);
}

static void test_top_k_one_is_greedy(void **state) {
    (void)state;
    enum { N = 5000 };
    static float logits[N];
    const float temperatures[] = {0.1f, 0.7f, 1.0f, 3.0f, 100.0f};
    for (size_t ti = 0; ti < sizeof temperatures / sizeof temperatures[0]; ti++) {
        struct ef_sampler_params p = plain_params(temperatures[ti]);
        p.top_k = 1;
        p.seed = 7 + ti;
        ef_sampler *s = make_sampler(&p, N);
        for (int round = 0; round < 20; round++) {
            int expect = 0;
            for (int i = 0; i < N; i++) {
                logits[i] = (float)(test_uniform() * 4.0 - 2.0);
                if (logits[i] > logits[expect]) expect = i;
            }
            assert_int_equal(sample_one(s, logits), expect);
        }
        /* Tied best: lowest id, as greedy. */
        for (int i = 0; i < N; i++) logits[i] = 1.0f;
        assert_int_equal(sample_one(s, logits), 0);
        ef_sampler_free(s);
    }
}

static void test_top_k_limits_candidates(void **state) {
    (void)state;
    const float logits[8] = {0.1f, 2.0f, -1.0f, 1.5f, 0.0f, 1.8f, -3.0f, 0.2f};
    struct ef_sampler_params p = plain_params(1.0f);
    p.top_k = 3; /* keeps ids 1, 5, 3 */
    ef_sampler *s = make_sampler(&p, 8);
    const float kept_logits[3] = {2.0f, 1.8f, 1.5f};
    double kept[3];
    reference_softmax(kept_logits, 3, 1.0, kept);
    double probs[8] = {0};
    probs[1] = kept[0];
    probs[5] = kept[1];
    probs[3] = kept[2];
    check_distribution(s, logits, probs, 8, 30000);
    ef_sampler_free(s);
}

/* ---- seeds ---- */

static void draw_sequence(uint64_t seed, int32_t *out, int n) {
    float logits[16];
    for (int i = 0; i < 16; i++) logits[i] = (float)(i % 5) * 0.3f;
    struct ef_sampler_params p = plain_params(1.0f);
    p.seed = seed;
    ef_sampler *s = make_sampler(&p, 16);
    for (int i = 0; i < n; i++) out[i] = sample_one(s, logits);
    ef_sampler_free(s);
}

static void test_seed_reproducibility(void **state) {
    (void)state;
    enum { N = 200 };
    int32_t a[N], b[N], c[N];
    draw_sequence(1234, a, N);
    draw_sequence(1234, b, N);
    draw_sequence(1235, c, N);
    assert_memory_equal(a, b, sizeof a);
    int differences = 0;
    for (int i = 0; i < N; i++) differences += a[i] != c[i];
    assert_true(differences > N / 2); /* 16 near-uniform tokens: ~94% differ */

    /* Seed 0 is a valid seed, and reset replays the stream. */
    float logits[16];
    for (int i = 0; i < 16; i++) logits[i] = 0.0f;
    struct ef_sampler_params p = plain_params(1.0f);
    p.seed = 0;
    ef_sampler *s = make_sampler(&p, 16);
    int32_t first[N];
    int distinct_mask = 0;
    for (int i = 0; i < N; i++) {
        first[i] = sample_one(s, logits);
        distinct_mask |= 1 << first[i];
    }
    assert_int_equal(distinct_mask, 0xFFFF);
    ef_sampler_reset(s);
    for (int i = 0; i < N; i++) assert_int_equal(sample_one(s, logits), first[i]);
    ef_sampler_free(s);
}

/* ---- the drawn distribution ---- */

static void test_distribution_matches_softmax(void **state) {
    (void)state;
    const float logits[10] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f, 0.3f, 1.5f, -2.0f, 0.8f};
    const double temperatures[] = {1.0, 0.6, 2.5};
    for (size_t ti = 0; ti < sizeof temperatures / sizeof temperatures[0]; ti++) {
        double probs[10];
        reference_softmax(logits, 10, temperatures[ti], probs);
        struct ef_sampler_params p = plain_params((float)temperatures[ti]);
        p.seed = 99 + ti;
        ef_sampler *s = make_sampler(&p, 10);
        check_distribution(s, logits, probs, 10, 100000);
        ef_sampler_free(s);
    }
}

/* ---- top-p ---- */

/* logits = log(probs) so that softmax gives back probs exactly. */
static void logits_from_probs(const double *probs, float *logits, int n) {
    for (int i = 0; i < n; i++) logits[i] = probs[i] > 0.0 ? (float)log(probs[i]) : -INFINITY;
}

/* Draws until every expected token has appeared and checks no other one does. */
static void check_support(ef_sampler *s, const float *logits, int n, const int *expected_set, int n_draws) {
    int *seen = calloc((size_t)n, sizeof *seen);
    assert_non_null(seen);
    for (int d = 0; d < n_draws; d++) seen[sample_one(s, logits)] = 1;
    for (int i = 0; i < n; i++)
        if (seen[i] != expected_set[i])
            fail_msg("token %d: %s", i, expected_set[i] ? "in the kept set but never drawn" : "drawn but should be cut");
    free(seen);
}

static void test_top_p_nucleus(void **state) {
    (void)state;
    /* Shuffled so that position does not follow rank. */
    const double probs[6] = {0.05, 0.30, 0.02, 0.40, 0.15, 0.08};
    float logits[6];
    logits_from_probs(probs, logits, 6);
    struct {
        float top_p;
        int kept[6];
    } cases[] = {
        {0.35f, {0, 0, 0, 1, 0, 0}},  /* 0.40 alone reaches 0.35 */
        {0.40f - 1e-4f, {0, 0, 0, 1, 0, 0}},
        {0.50f, {0, 1, 0, 1, 0, 0}},  /* 0.40 + 0.30 */
        {0.75f, {0, 1, 0, 1, 1, 0}},  /* + 0.15 = 0.85 */
        {0.90f, {0, 1, 0, 1, 1, 1}},  /* + 0.08 = 0.93 */
        {0.96f, {1, 1, 0, 1, 1, 1}},  /* + 0.05 = 0.98 */
        {1.00f, {1, 1, 1, 1, 1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct ef_sampler_params p = plain_params(1.0f);
        p.top_p = cases[c].top_p;
        p.seed = 1000 + c;
        ef_sampler *s = make_sampler(&p, 6);
        check_support(s, logits, 6, cases[c].kept, 20000);
        ef_sampler_free(s);
    }

    /* Inside the nucleus the draw is renormalised: 0.40 : 0.30 : 0.15. */
    struct ef_sampler_params p = plain_params(1.0f);
    p.top_p = 0.75f;
    ef_sampler *s = make_sampler(&p, 6);
    double expect[6] = {0, 0.30 / 0.85, 0, 0.40 / 0.85, 0.15 / 0.85, 0};
    check_distribution(s, logits, expect, 6, 50000);
    ef_sampler_free(s);
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* A large vocabulary without top-k: the nucleus comes off the heap. */
static void test_top_p_large_vocab(void **state) {
    (void)state;
    enum { N = 50000, HEAD = 12 };
    float *logits = malloc(N * sizeof *logits);
    double *probs = malloc(N * sizeof *probs);
    double *sorted = malloc(N * sizeof *sorted);
    int *kept = calloc(N, sizeof *kept);
    assert_true(logits && probs && sorted && kept);
    for (int i = 0; i < N; i++) logits[i] = (float)(test_uniform() * 2.0 - 1.0);
    for (int h = 0; h < HEAD; h++) logits[(h * 4099 + 17) % N] = 12.0f + 0.25f * (float)h;
    reference_softmax(logits, N, 1.0, probs);
    memcpy(sorted, probs, N * sizeof *sorted);
    qsort(sorted, N, sizeof *sorted, cmp_desc);
    /* top_p halfway between two cumulative sums, so rounding cannot matter. */
    double cum[HEAD];
    double acc = 0.0;
    for (int h = 0; h < HEAD; h++) cum[h] = (acc += sorted[h]);
    const int n_nucleus = 7;
    const double top_p = 0.5 * (cum[n_nucleus - 2] + cum[n_nucleus - 1]);
    assert_true(cum[n_nucleus - 1] - top_p > 1e-4 && top_p - cum[n_nucleus - 2] > 1e-4);
    for (int i = 0; i < N; i++) kept[i] = probs[i] >= sorted[n_nucleus - 1];

    struct ef_sampler_params p = plain_params(1.0f);
    p.top_p = (float)top_p;
    ef_sampler *s = make_sampler(&p, N);
    check_support(s, logits, N, kept, 1000); /* the rarest nucleus member has p ~ 0.06 */
    ef_sampler_free(s);
    free(logits);
    free(probs);
    free(sorted);
    free(kept);
}

/* ---- min-p ---- */

static void test_min_p_cut(void **state) {
    (void)state;
    const double probs[7] = {0.03, 0.50, 0.04, 0.20, 0.10, 0.12, 0.01};
    float logits[7];
    logits_from_probs(probs, logits, 7);
    struct {
        float min_p;
        int kept[7];
    } cases[] = {
        {0.10f, {0, 1, 0, 1, 1, 1, 0}}, /* floor 0.05 */
        {0.21f, {0, 1, 0, 1, 0, 1, 0}}, /* floor 0.105 */
        {0.45f, {0, 1, 0, 0, 0, 0, 0}}, /* floor 0.225 */
        {0.99f, {0, 1, 0, 0, 0, 0, 0}},
        {0.00f, {1, 1, 1, 1, 1, 1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct ef_sampler_params p = plain_params(1.0f);
        p.min_p = cases[c].min_p;
        p.seed = 2000 + c;
        ef_sampler *s = make_sampler(&p, 7);
        check_support(s, logits, 7, cases[c].kept, 20000);
        ef_sampler_free(s);
    }
    /* Survivors are renormalised: 0.50 : 0.20 : 0.10 : 0.12. */
    struct ef_sampler_params p = plain_params(1.0f);
    p.min_p = 0.1f;
    ef_sampler *s = make_sampler(&p, 7);
    double expect[7] = {0, 0.50 / 0.92, 0, 0.20 / 0.92, 0.10 / 0.92, 0.12 / 0.92, 0};
    check_distribution(s, logits, expect, 7, 50000);
    ef_sampler_free(s);
}

/* top-p then min-p, after top-k, together. */
static void test_chain_combined(void **state) {
    (void)state;
    const double probs[8] = {0.02, 0.30, 0.01, 0.25, 0.20, 0.12, 0.06, 0.04};
    float logits[8];
    logits_from_probs(probs, logits, 8);
    struct ef_sampler_params p = plain_params(1.0f);
    p.top_k = 5;      /* 0.30 0.25 0.20 0.12 0.06 (sum 0.93) */
    p.top_p = 0.85f;  /* of 0.93: 0.7905 -> 0.30 0.25 0.20 0.12 (0.87 >= 0.7905) */
    p.min_p = 0.45f;  /* floor 0.135 -> 0.30 0.25 0.20 */
    ef_sampler *s = make_sampler(&p, 8);
    double expect[8] = {0, 0.30 / 0.75, 0, 0.25 / 0.75, 0.20 / 0.75, 0, 0, 0};
    check_distribution(s, logits, expect, 8, 50000);
    ef_sampler_free(s);
}

/* ---- repetition penalty ---- */

static void test_repeat_penalty(void **state) {
    (void)state;
    struct ef_sampler_params p = plain_params(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;

    /* Positive logits are divided: 2.0 -> 1.0 < 1.5. */
    {
        const float logits[2] = {2.0f, 1.5f};
        ef_sampler *s = make_sampler(&p, 2);
        assert_int_equal(sample_one(s, logits), 0);
        /* The sampled token entered the history. */
        assert_int_equal(sample_one(s, logits), 1);
        ef_sampler_reset(s);
        assert_int_equal(sample_one(s, logits), 0);
        ef_sampler_free(s);
    }
    /* Each distinct token once: twice in the window is still 2.0 / 2 = 1.0 > 0.9. */
    {
        const float logits[2] = {2.0f, 0.9f};
        ef_sampler *s = make_sampler(&p, 2);
        ef_sampler_accept(s, 0);
        ef_sampler_accept(s, 0);
        assert_int_equal(sample_one(s, logits), 0);
        ef_sampler_free(s);
    }
    /* Negative logits are multiplied: -1.0 -> -2.0 < -1.5. */
    {
        const float logits[2] = {-1.0f, -1.5f};
        ef_sampler *s = make_sampler(&p, 2);
        assert_int_equal(sample_one(s, logits), 0);
        ef_sampler_accept(s, 1); /* window now {0, 1}: -2.0 vs -3.0 */
        assert_int_equal(sample_one(s, logits), 0);
        ef_sampler_free(s);
    }
    /* Only the last repeat_last_n tokens count. */
    {
        const float logits[3] = {2.0f, 0.5f, 1.5f};
        ef_sampler *s = make_sampler(&p, 3);
        ef_sampler_accept(s, 0);
        assert_int_equal(sample_one(s, logits), 2); /* 0 penalised: 1.0 < 1.5; history {0, 2} */
        ef_sampler_accept(s, 1);                    /* history {2, 1}: 0 has left the window */
        assert_int_equal(sample_one(s, logits), 0);
        ef_sampler_accept(s, 7);   /* out of range: ignored */
        ef_sampler_accept(s, -1);  /* out of range: ignored */
        assert_int_equal(sample_one(s, logits), 2); /* history still {1, 0} */
        ef_sampler_free(s);
    }
    /* A huge window is accepted (clamped inside) and still penalises. */
    {
        struct ef_sampler_params q = p;
        q.repeat_last_n = INT32_MAX;
        const float logits[2] = {2.0f, 1.5f};
        ef_sampler *s = make_sampler(&q, 2);
        assert_int_equal(sample_one(s, logits), 0);
        assert_int_equal(sample_one(s, logits), 1);
        ef_sampler_free(s);
    }
}

/* The penalised distribution with a sampler whose history stays put: with
 * last_n = 2 and both penalised tokens re-accepted after each draw. */
static void test_repeat_penalty_distribution(void **state) {
    (void)state;
    struct ef_sampler_params q = plain_params(1.0f);
    q.repeat_penalty = 1.5f;
    q.repeat_last_n = 2;
    const float logits[3] = {1.0f, -1.0f, 0.2f};
    const float penalised[3] = {1.0f / 1.5f, -1.5f, 0.2f};
    double expect[3];
    reference_softmax(penalised, 3, 1.0, expect);
    ef_sampler *s = make_sampler(&q, 3);
    enum { DRAWS = 60000 };
    long counts[3] = {0};
    for (int d = 0; d < DRAWS; d++) {
        ef_sampler_accept(s, 0);
        ef_sampler_accept(s, 1); /* window is exactly {0, 1} */
        counts[sample_one(s, logits)]++;
    }
    double chi2 = 0.0;
    for (int i = 0; i < 3; i++) {
        double e = expect[i] * DRAWS;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    if (!(chi2 < chi2_critical_999(2))) fail_msg("penalised draws: chi-square %.2f", chi2);
    ef_sampler_free(s);
}

/* ---- NaN / inf ---- */

static void test_nan_and_inf(void **state) {
    (void)state;
    const float nan = NAN, inf = INFINITY;
    const float temps[] = {0.0f, 1.0f};
    for (size_t ti = 0; ti < 2; ti++) {
        struct ef_sampler_params p = plain_params(temps[ti]);
        p.top_k = 0;
        ef_sampler *s = make_sampler(&p, 4);

        const float some_nan[4] = {nan, 1.0f, 5.0f, nan};
        for (int d = 0; d < 200; d++) {
            int32_t t = sample_one(s, some_nan);
            assert_true(t == 1 || t == 2);
        }
        const float all_nan[4] = {nan, nan, nan, nan};
        assert_int_equal(sample_one(s, all_nan), 0);
        const float all_neg_inf[4] = {-inf, -inf, -inf, -inf};
        assert_int_equal(sample_one(s, all_neg_inf), 0);
        const float mixed[4] = {-inf, nan, -inf, -3.0f};
        assert_int_equal(sample_one(s, mixed), 3);
        const float pos_inf[4] = {1e30f, inf, nan, -inf};
        for (int d = 0; d < 200; d++) assert_int_equal(sample_one(s, pos_inf), 1);
        ef_sampler_free(s);
    }
    /* Two +inf: both possible, nothing else. */
    struct ef_sampler_params p = plain_params(1.0f);
    ef_sampler *s = make_sampler(&p, 4);
    const float two_inf[4] = {inf, 3.0f, inf, nan};
    const int kept[4] = {1, 0, 1, 0};
    check_support(s, two_inf, 4, kept, 2000);
    ef_sampler_free(s);
    /* With every option on, too. */
    struct ef_sampler_params d;
    ef_sampler_params_defaults(&d);
    d.repeat_penalty = 1.3f;
    s = make_sampler(&d, 4);
    const float all_nan[4] = {nan, nan, nan, nan};
    assert_int_equal(sample_one(s, all_nan), 0);
    assert_int_equal(sample_one(s, two_inf) % 2, 0);
    ef_sampler_free(s);
}

/* ---- big vocabulary with the defaults ---- */

static void test_defaults_large_vocab(void **state) {
    (void)state;
    enum { N = 151936 };
    float *logits = malloc(N * sizeof *logits);
    assert_non_null(logits);
    for (int i = 0; i < N; i++) logits[i] = (float)(test_uniform() * 10.0);
    struct ef_sampler_params p;
    ef_sampler_params_defaults(&p);
    ef_sampler *s = make_sampler(&p, N);
    for (int d = 0; d < 100; d++) {
        int32_t t = sample_one(s, logits);
        assert_true(t >= 0 && t < N);
        /* top-k 40: fewer than 40 tokens may rank above the drawn one. */
        int above = 0;
        for (int i = 0; i < N; i++) above += logits[i] > logits[t];
        assert_true(above < 40);
    }
    ef_sampler_free(s);
    free(logits);
}

/* ---- option validation ---- */

static void expect_invalid(ef_status st, const char *word) {
    assert_int_equal(st, EF_ERR_INVALID_ARG);
    const char *msg = ef_last_error();
    if (!strstr(msg, word)) fail_msg("message '%s' does not mention '%s'", msg, word);
}

static void test_params_validation(void **state) {
    (void)state;
    ef_sampler_params *p = NULL;
    expect_invalid(ef_sampler_params_create(NULL), "NULL");
    assert_int_equal(ef_sampler_params_create(&p), EF_OK);
    assert_non_null(p);
    /* Documented defaults. */
    assert_true(p->temperature == 0.8f && p->top_k == 40 && p->top_p == 0.95f && p->min_p == 0.05f);
    assert_true(p->repeat_penalty == 1.0f && p->repeat_last_n == 64 && p->seed == 0);

    expect_invalid(ef_sampler_params_set_temperature(p, -0.1f), "temperature");
    expect_invalid(ef_sampler_params_set_temperature(p, NAN), "temperature");
    expect_invalid(ef_sampler_params_set_temperature(p, INFINITY), "temperature");
    expect_invalid(ef_sampler_params_set_top_k(p, -1), "top_k");
    expect_invalid(ef_sampler_params_set_top_p(p, 0.0f), "top_p");
    expect_invalid(ef_sampler_params_set_top_p(p, 1.01f), "top_p");
    expect_invalid(ef_sampler_params_set_top_p(p, NAN), "top_p");
    expect_invalid(ef_sampler_params_set_min_p(p, -0.01f), "min_p");
    expect_invalid(ef_sampler_params_set_min_p(p, 1.0f), "min_p");
    expect_invalid(ef_sampler_params_set_min_p(p, NAN), "min_p");
    expect_invalid(ef_sampler_params_set_repeat_penalty(p, 0.99f, 64), "penalty");
    expect_invalid(ef_sampler_params_set_repeat_penalty(p, NAN, 64), "penalty");
    expect_invalid(ef_sampler_params_set_repeat_penalty(p, 1.1f, -1), "last_n");
    /* Failed setters leave the options as they were. */
    assert_true(p->temperature == 0.8f && p->top_k == 40 && p->top_p == 0.95f && p->min_p == 0.05f);
    assert_true(p->repeat_penalty == 1.0f && p->repeat_last_n == 64);

    /* Boundaries that are allowed. */
    assert_int_equal(ef_sampler_params_set_temperature(p, 0.0f), EF_OK);
    assert_int_equal(ef_sampler_params_set_top_k(p, 0), EF_OK);
    assert_int_equal(ef_sampler_params_set_top_p(p, 1.0f), EF_OK);
    assert_int_equal(ef_sampler_params_set_min_p(p, 0.0f), EF_OK);
    assert_int_equal(ef_sampler_params_set_repeat_penalty(p, 1.0f, 0), EF_OK);
    assert_int_equal(ef_sampler_params_set_seed(p, UINT64_MAX), EF_OK);
    assert_true(p->temperature == 0.0f && p->top_k == 0 && p->top_p == 1.0f && p->min_p == 0.0f);
    assert_true(p->repeat_penalty == 1.0f && p->repeat_last_n == 0 && p->seed == UINT64_MAX);
    assert_int_equal(ef_sampler_params_validate(p), EF_OK);

    /* NULL options. */
    expect_invalid(ef_sampler_params_set_temperature(NULL, 1.0f), "NULL");
    expect_invalid(ef_sampler_params_set_top_k(NULL, 1), "NULL");
    expect_invalid(ef_sampler_params_set_top_p(NULL, 0.5f), "NULL");
    expect_invalid(ef_sampler_params_set_min_p(NULL, 0.5f), "NULL");
    expect_invalid(ef_sampler_params_set_repeat_penalty(NULL, 1.0f, 1), "NULL");
    expect_invalid(ef_sampler_params_set_seed(NULL, 1), "NULL");
    expect_invalid(ef_sampler_params_validate(NULL), "NULL");
    ef_sampler_params_free(p);
    ef_sampler_params_free(NULL);

    /* The internal constructor checks too. */
    struct ef_sampler_params bad;
    ef_sampler_params_defaults(&bad);
    bad.top_p = 0.0f;
    ef_sampler *s = (ef_sampler *)&bad; /* must stay untouched */
    expect_invalid(ef_sampler_create(&bad, 10, &s), "top_p");
    assert_ptr_equal(s, (ef_sampler *)&bad);
    struct ef_sampler_params good;
    ef_sampler_params_defaults(&good);
    expect_invalid(ef_sampler_create(&good, 0, &s), "n_vocab");
    expect_invalid(ef_sampler_create(NULL, 10, &s), "NULL");
    expect_invalid(ef_sampler_create(&good, 10, NULL), "NULL");
    s = make_sampler(&good, 10);
    int32_t t = 5;
    float logits[10] = {0};
    expect_invalid(ef_sampler_sample(s, NULL, &t), "NULL");
    expect_invalid(ef_sampler_sample(s, logits, NULL), "NULL");
    assert_int_equal(t, 5);
    ef_sampler_free(s);
    ef_sampler_free(NULL);
    ef_sampler_reset(NULL);
    ef_sampler_accept(NULL, 1);
}

/* ---- allocation failures ---- */

static int alloc_countdown; /* fail when it reaches 0; < 0 never */
static long live_blocks;

static void *failing_malloc(void *user, size_t size) {
    (void)user;
    if (alloc_countdown >= 0 && alloc_countdown-- == 0) return NULL;
    void *p = malloc(size);
    if (p) live_blocks++;
    return p;
}
static void *failing_realloc(void *user, void *ptr, size_t size) {
    (void)user;
    if (alloc_countdown >= 0 && alloc_countdown-- == 0) return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr) live_blocks++;
    return p;
}
static void counting_free(void *user, void *ptr) {
    (void)user;
    if (ptr) live_blocks--;
    free(ptr);
}

static void test_allocation_failures(void **state) {
    (void)state;
    struct ef_sampler_params p;
    ef_sampler_params_defaults(&p);
    p.repeat_penalty = 1.2f; /* the history buffer is allocated too */
    assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, counting_free, NULL), EF_OK);
    int failures_seen = 0;
    for (int n = 0;; n++) {
        alloc_countdown = n;
        live_blocks = 0;
        ef_sampler *s = NULL;
        ef_status st = ef_sampler_create(&p, 1000, &s);
        if (st == EF_OK) {
            assert_true(alloc_countdown >= 0); /* every allocation point was failed before */
            ef_sampler_free(s);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_null(s);
        assert_int_equal(live_blocks, 0); /* nothing leaked */
        failures_seen++;
    }
    assert_true(failures_seen >= 5); /* struct, work, flags, heap, ranked, history */

    alloc_countdown = 0;
    ef_sampler_params *op = NULL;
    assert_int_equal(ef_sampler_params_create(&op), EF_ERR_NO_MEMORY);
    assert_null(op);
    alloc_countdown = -1;
    assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_picks_argmax),
        cmocka_unit_test(test_top_k_one_is_greedy),
        cmocka_unit_test(test_top_k_limits_candidates),
        cmocka_unit_test(test_seed_reproducibility),
        cmocka_unit_test(test_distribution_matches_softmax),
        cmocka_unit_test(test_top_p_nucleus),
        cmocka_unit_test(test_top_p_large_vocab),
        cmocka_unit_test(test_min_p_cut),
        cmocka_unit_test(test_chain_combined),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_repeat_penalty_distribution),
        cmocka_unit_test(test_nan_and_inf),
        cmocka_unit_test(test_defaults_large_vocab),
        cmocka_unit_test(test_params_validation),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
