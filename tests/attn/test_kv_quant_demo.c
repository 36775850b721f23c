/* Quantized KV caches on the trained demo model (models/edgeformer-demo.gguf,
 * head size 32): a session whose cache holds K and V as Q8_0 (or Q4_0) reads
 * them through the dequantizing attention kernels, and its logits over a
 * passage of English stay close to those of the default F16 cache: the same
 * next-token choice almost everywhere and a small KL divergence, with Q8_0
 * closer than Q4_0. The quantized logits also differ from F16's somewhere,
 * so the quantized path is really the one taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/edgeformer.h"

#define DEMO_MODEL EF_SOURCE_DIR "/models/edgeformer-demo.gguf"

static const char k_text[] =
    "Once upon a time there was a little girl who lived in a village near the forest. Whenever she "
    "went out, the little girl wore a red riding cloak, so everyone in the village called her Little "
    "Red Riding Hood. One morning she asked her mother if she could go to visit her grandmother.";

enum { MAX_TOK = 120 };

static ef_model *g_model;

/* Logits of every position of the passage ([*n_tok][n_vocab], malloc'd)
 * with K and V of the given type. */
static float *passage_logits(const char *kv_type, int32_t *n_tok) {
    int32_t tokens[MAX_TOK];
    size_t n = 0;
    assert_int_equal(ef_tokenize(g_model, k_text, strlen(k_text), EF_TOKENIZE_ADD_SPECIAL, tokens, MAX_TOK, &n),
                     EF_OK);
    assert_true(n > 40);
    ef_kv_params *kp = NULL;
    ef_session_params *sp = NULL;
    ef_session *s = NULL;
    assert_int_equal(ef_kv_params_create(&kp), EF_OK);
    assert_int_equal(ef_kv_params_set_types(kp, kv_type, kv_type), EF_OK);
    assert_int_equal(ef_session_params_create(&sp), EF_OK);
    assert_int_equal(ef_session_params_set_kv_params(sp, kp), EF_OK);
    assert_int_equal(ef_session_params_set_threads(sp, 2), EF_OK);
    assert_int_equal(ef_session_params_set_n_batch(sp, 16), EF_OK); /* prefill in chunks: cached rows are read */
    assert_int_equal(ef_session_create(g_model, sp, &s), EF_OK);
    assert_int_equal(ef_session_eval(s, tokens, n, EF_EVAL_ALL_LOGITS), EF_OK);
    const int32_t n_vocab = ef_model_n_vocab(g_model);
    float *out = malloc(n * (size_t)n_vocab * sizeof(float));
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        const float *l = NULL;
        assert_int_equal(ef_session_logits(s, (int32_t)i, &l), EF_OK);
        memcpy(out + i * (size_t)n_vocab, l, (size_t)n_vocab * sizeof(float));
    }
    ef_session_free(s);
    ef_session_params_free(sp);
    ef_kv_params_free(kp);
    *n_tok = (int32_t)n;
    return out;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* KL(softmax(p) || softmax(q)) in nats. */
static double kl_divergence(const float *p, const float *q, int32_t n) {
    double mp = -INFINITY, mq = -INFINITY, zp = 0, zq = 0, kl = 0;
    for (int32_t i = 0; i < n; i++) mp = fmax(mp, p[i]), mq = fmax(mq, q[i]);
    for (int32_t i = 0; i < n; i++) zp += exp(p[i] - mp), zq += exp(q[i] - mq);
    for (int32_t i = 0; i < n; i++) {
        const double lp = p[i] - mp - log(zp), lq = q[i] - mq - log(zq);
        kl += exp(lp) * (lp - lq);
    }
    return kl;
}

typedef struct {
    double agree;    /* fraction of positions with the same argmax */
    double mean_kl;  /* mean KL(f16 || quantized) over positions */
    double max_diff; /* largest |logit difference| */
} closeness;

static closeness compare(const float *ref, const float *got, int32_t n_tok, int32_t n_vocab) {
    closeness c = {0, 0, 0};
    for (int32_t t = 0; t < n_tok; t++) {
        const float *a = ref + (size_t)t * n_vocab, *b = got + (size_t)t * n_vocab;
        c.agree += argmax(a, n_vocab) == argmax(b, n_vocab);
        c.mean_kl += kl_divergence(a, b, n_vocab);
        for (int32_t v = 0; v < n_vocab; v++) c.max_diff = fmax(c.max_diff, fabs((double)a[v] - b[v]));
    }
    c.agree /= n_tok;
    c.mean_kl /= n_tok;
    return c;
}

static void test_quantized_close_to_f16(void **state) {
    (void)state;
    const int32_t n_vocab = ef_model_n_vocab(g_model);
    int32_t n_ref = 0, n8 = 0, n4 = 0;
    float *ref = passage_logits("f16", &n_ref);
    float *q8 = passage_logits("q8_0", &n8);
    float *q4 = passage_logits("q4_0", &n4);
    assert_int_equal(n8, n_ref);
    assert_int_equal(n4, n_ref);
    const closeness c8 = compare(ref, q8, n_ref, n_vocab), c4 = compare(ref, q4, n_ref, n_vocab);
    print_message("q8_0 vs f16 over %d positions: argmax agreement %.3f, mean KL %.2e, max |diff| %.3g\n",
                  (int)n_ref, c8.agree, c8.mean_kl, c8.max_diff);
    print_message("q4_0 vs f16: argmax agreement %.3f, mean KL %.2e, max |diff| %.3g\n", c4.agree, c4.mean_kl,
                  c4.max_diff);
    assert_true(c8.max_diff > 0.0); /* the Q8_0 rows are really read */
    assert_true(c4.max_diff > 0.0);
    assert_true(c8.agree >= 0.95);
    assert_true(c8.mean_kl < 1e-4);
    assert_true(c4.agree >= 0.85);
    assert_true(c4.mean_kl < 1e-2);
    assert_true(c8.mean_kl < c4.mean_kl); /* more bits, closer */
    free(ref), free(q8), free(q4);
}

static int setup(void **state) {
    (void)state;
    return ef_model_load(DEMO_MODEL, NULL, &g_model) == EF_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ef_model_free(g_model);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantized_close_to_f16),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
