/* Quantization profiles and ef_quantize_file through the public API, plus
 * the per-tensor choices of each profile (lib/quant/profile.h). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "edgeformer/edgeformer.h"
#include "quant/profile.h"
#include "quant/types.h"

#define OUT(name) QTMP "/quantize_" name

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static ef_model *load(const char *path, const ef_quant_profile *qp) {
    ef_model_params *mp = NULL;
    ef_model *m = NULL;
    assert_int_equal(ef_model_params_create(&mp), EF_OK);
    assert_int_equal(ef_model_params_set_quant_profile(mp, qp), EF_OK);
    ef_status st = ef_model_load(path, mp, &m);
    if (st != EF_OK) fprintf(stderr, "%s\n", ef_last_error());
    assert_int_equal(st, EF_OK);
    ef_model_params_free(mp);
    return m;
}

static uint32_t type_of(const ef_model *m, const char *name) {
    for (int64_t i = 0; i < ef_model_tensor_count(m); i++) {
        const char *n;
        uint32_t t;
        assert_int_equal(ef_model_tensor_info(m, i, &n, &t, NULL, NULL), EF_OK);
        if (!strcmp(n, name)) return t;
    }
    fail_msg("no tensor %s", name);
    return 0;
}

/* Last-token logits of a fixed prompt, greedy. */
static void logits_of(ef_model *m, float *out, int32_t n_vocab) {
    ef_session *s = NULL;
    assert_int_equal(ef_session_create(m, NULL, &s), EF_OK);
    int32_t toks[6] = {3, 14, 15, 92, 65, 35};
    assert_int_equal(ef_session_eval(s, toks, 6, 0), EF_OK);
    const float *lg;
    assert_int_equal(ef_session_logits(s, -1, &lg), EF_OK);
    memcpy(out, lg, (size_t)n_vocab * sizeof(float));
    ef_session_free(s);
}

static void test_profile_choices(void **state) {
    (void)state;
    ef_quant_profile p;
    int64_t wide[2] = {256, 512}, narrow[2] = {96, 512}, vec[1] = {256};
    uint32_t t;
    assert_int_equal(ef_quant_profile_init(&p, "fast"), EF_OK);
    assert_int_equal(ef_quant_profile_choose(&p, "blk.3.attn_q.weight", 2, wide, EF_TYPE_F32, 16, &t), EF_OK);
    assert_int_equal(t, EF_TYPE_Q4_K);
    assert_int_equal(ef_quant_profile_choose(&p, "output.weight", 2, wide, EF_TYPE_F32, 16, &t), EF_OK);
    assert_int_equal(t, EF_TYPE_Q6_K);
    /* more bits in the first/last eighth and every third layer between */
    assert_int_equal(ef_quant_profile_choose(&p, "blk.0.ffn_down.weight", 2, wide, EF_TYPE_F32, 16, &t), EF_OK);
    assert_int_equal(t, EF_TYPE_Q6_K);
    assert_int_equal(ef_quant_profile_choose(&p, "blk.15.attn_v.weight", 2, wide, EF_TYPE_F32, 16, &t), EF_OK);
    assert_int_equal(t, EF_TYPE_Q6_K);
    assert_int_equal(ef_quant_profile_choose(&p, "blk.4.ffn_down.weight", 2, wide, EF_TYPE_F32, 16, &t), EF_OK);
    assert_int_equal(t, EF_TYPE_Q6_K); /* (4 - 2) % 3 == 2 */
    assert_int_equal(ef_quant_profile_choose(&p, "blk.5.ffn_down.weight", 2, wide, EF_TYPE_F32, 16, &t), EF_OK);
    assert_int_equal(t, EF_TYPE_Q4_K);
    /* norms stay as they are; rows that Q4_K cannot divide fall back */
    assert_int_equal(ef_quant_profile_choose(&p, "blk.0.attn_norm.weight", 1, vec, EF_TYPE_F32, 16, &t), EF_OK);
    assert_int_equal(t, EF_TYPE_F32);
    assert_int_equal(ef_quant_profile_choose(&p, "blk.1.attn_q.weight", 2, narrow, EF_TYPE_F32, 16, &t), EF_OK);
    assert_int_equal(t, EF_TYPE_Q5_0);
    /* a strict (caller-chosen) type does not fall back */
    assert_int_equal(ef_quant_profile_add_user_rule(&p, "*attn_q*", EF_TYPE_Q4_K, 1), EF_OK);
    assert_int_equal(ef_quant_profile_choose(&p, "blk.1.attn_q.weight", 2, narrow, EF_TYPE_F32, 16, &t),
                     EF_ERR_INVALID_ARG);
    assert_int_equal(ef_quant_profile_init(&p, "nope"), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_last_error(), "balanced"));
    assert_true(ef_glob_match("blk.*.ffn_?own.weight", "blk.12.ffn_down.weight"));
    assert_false(ef_glob_match("blk.*.ffn_down", "blk.12.ffn_down.weight"));
    assert_true(ef_glob_match("*", ""));
}

static void test_public_profile_api(void **state) {
    (void)state;
    ef_quant_profile *p = NULL;
    assert_int_equal(ef_quant_profile_create("unknown-profile", &p), EF_ERR_INVALID_ARG);
    assert_null(p);
    assert_int_equal(ef_quant_profile_create("balanced", &p), EF_OK);
    assert_string_equal(ef_quant_profile_name(p), "balanced");
    assert_int_equal(ef_quant_profile_add_rule(p, "*ffn*", "Q9_X"), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_last_error(), "Q9_X"));
    assert_int_equal(ef_quant_profile_add_rule(p, "*ffn*", "IQ2_XXS"), EF_ERR_UNSUPPORTED);
    assert_int_equal(ef_quant_profile_set_default_type(p, "q4_0"), EF_OK);
    assert_string_equal(ef_quant_profile_name(p), "custom");
    ef_quant_profile_free(p);
    ef_quant_profile_free(NULL);
}

static void test_quantize_balanced_keeps_everything(void **state) {
    (void)state;
    ef_quant_profile *p = NULL;
    assert_int_equal(ef_quant_profile_create("balanced", &p), EF_OK);
    uint64_t in = 0, out = 0;
    assert_int_equal(ef_quantize_file(QSRC, OUT("q8.gguf"), p, NULL, NULL, &in, &out), EF_OK);
    /* Q8_0 is 34 bytes per 32 weights; norms stay F32, so a bit above 34/128 */
    double ratio = (double)out / (double)in;
    assert_true(ratio > 34.0 / 128.0 && ratio < 0.30);

    ef_model *src = load(QSRC, NULL), *q = load(OUT("q8.gguf"), NULL);
    assert_int_equal(type_of(q, "blk.0.attn_q.weight"), EF_TYPE_Q8_0);
    assert_int_equal(type_of(q, "token_embd.weight"), EF_TYPE_Q8_0);
    assert_int_equal(type_of(q, "blk.0.attn_norm.weight"), EF_TYPE_F32);
    /* every metadata entry survives, with the same value */
    char k[256], a[4096], b[4096];
    size_t need;
    for (int64_t i = 0; i < ef_model_meta_count(src); i++) {
        assert_int_equal(ef_model_meta_key(src, i, k, sizeof k, &need), EF_OK);
        assert_int_equal(ef_model_meta_get(src, k, a, sizeof a, &need), EF_OK);
        assert_int_equal(ef_model_meta_get(q, k, b, sizeof b, &need), EF_OK);
        assert_string_equal(a, b);
    }
    assert_int_equal(ef_model_meta_get(q, "edgeformer.quantization.profile", a, sizeof a, &need), EF_OK);
    assert_string_equal(a, "balanced");
    /* the tokenizer came along */
    int32_t ids[64];
    size_t n1, n2;
    assert_int_equal(ef_tokenize(src, "quantized text", 14, 0, ids, 64, &n1), EF_OK);
    assert_int_equal(ef_tokenize(q, "quantized text", 14, 0, ids, 64, &n2), EF_OK);
    assert_int_equal(n1, n2);

    /* load-time quantization with the same profile gives the same weights,
     * so bit-identical logits */
    ef_model *at_load = load(QSRC, p);
    assert_int_equal(type_of(at_load, "blk.0.attn_q.weight"), EF_TYPE_Q8_0);
    assert_true(ef_model_size_bytes(at_load) < ef_model_size_bytes(src) / 3);
    int32_t nv = ef_model_n_vocab(src);
    float la[4096], lb[4096], lf[4096];
    assert_true(nv <= 4096);
    logits_of(q, la, nv);
    logits_of(at_load, lb, nv);
    logits_of(src, lf, nv);
    assert_memory_equal(la, lb, (size_t)nv * sizeof(float));
    double num = 0, den = 0;
    for (int32_t i = 0; i < nv; i++) {
        num += (la[i] - lf[i]) * (la[i] - lf[i]);
        den += lf[i] * lf[i];
    }
    assert_true(sqrt(num / den) < 0.05); /* Q8_0 stays close to F32 */
    ef_model_free(src);
    ef_model_free(q);
    ef_model_free(at_load);
    ef_quant_profile_free(p);
}

static void test_fast_profile_mix(void **state) {
    (void)state;
    ef_quant_profile *p = NULL;
    assert_int_equal(ef_quant_profile_create("fast", &p), EF_OK);
    assert_int_equal(ef_quant_profile_keep_embeddings(p, "Q8_0"), EF_OK);
    assert_int_equal(ef_quantize_file(QSRC, OUT("fast.gguf"), p, NULL, NULL, NULL, NULL), EF_OK);
    ef_model *m = load(OUT("fast.gguf"), NULL);
    assert_int_equal(type_of(m, "token_embd.weight"), EF_TYPE_Q8_0);  /* keep_embeddings wins */
    assert_int_equal(type_of(m, "blk.2.attn_q.weight"), EF_TYPE_Q4_K);
    assert_int_equal(type_of(m, "blk.0.ffn_down.weight"), EF_TYPE_Q6_K); /* 8 layers: first eighth */
    assert_int_equal(type_of(m, "blk.7.ffn_down.weight"), EF_TYPE_Q6_K);
    assert_int_equal(type_of(m, "blk.2.ffn_down.weight"), EF_TYPE_Q4_K);
    ef_session *s = NULL;
    assert_int_equal(ef_session_create(m, NULL, &s), EF_OK);
    assert_int_equal(ef_session_generate(s, "hello", 5, 4, NULL, NULL), EF_OK);
    ef_session_free(s);
    ef_model_free(m);
    ef_quant_profile_free(p);
}

static int32_t cancel_at_third(void *user, const char *item, uint64_t done, uint64_t total) {
    int *calls = user;
    (void)item;
    (void)done;
    (void)total;
    return ++*calls == 3;
}

static void test_failures_leave_no_file(void **state) {
    (void)state;
    ef_quant_profile *p = NULL;
    assert_int_equal(ef_quant_profile_create("balanced", &p), EF_OK);
    /* never over the input */
    assert_int_equal(ef_quantize_file(QSRC, QSRC, p, NULL, NULL, NULL, NULL), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_last_error(), "overwrite"));
    /* cancelled from the progress callback */
    int calls = 0;
    assert_int_equal(ef_quantize_file(QSRC, OUT("cancelled.gguf"), p, cancel_at_third, &calls, NULL, NULL),
                     EF_ERR_CANCELLED);
    assert_false(exists(OUT("cancelled.gguf")));
    /* an explicit type that does not divide the rows: Q4_K on a 64-wide model */
    ef_quant_profile_free(p);
    assert_int_equal(ef_quant_profile_create("balanced", &p), EF_OK);
    assert_int_equal(ef_quant_profile_set_default_type(p, "Q4_K"), EF_OK);
    assert_int_equal(ef_quantize_file(API_NARROW, OUT("narrow.gguf"), p, NULL, NULL, NULL, NULL),
                     EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_last_error(), "block size"));
    assert_false(exists(OUT("narrow.gguf")));
    /* a missing input */
    assert_int_equal(ef_quantize_file(QTMP "/no-such.gguf", OUT("x.gguf"), p, NULL, NULL, NULL, NULL), EF_ERR_IO);
    ef_quant_profile_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_choices),
        cmocka_unit_test(test_public_profile_api),
        cmocka_unit_test(test_quantize_balanced_keeps_everything),
        cmocka_unit_test(test_fast_profile_mix),
        cmocka_unit_test(test_failures_leave_no_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
