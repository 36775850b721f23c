/* Vocabulary metadata validation: every malformed tokenizer.ggml.* key is
 * EF_ERR_FORMAT (or EF_ERR_UNSUPPORTED for unknown models) with a message
 * that names the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tok_test_util.h"

static const char *const k_tokens[] = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
#define N 6

/* A valid small llama vocabulary that each test then breaks one way. */
static ef_gguf_writer *base_writer(const char *model) {
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    const float scores[N] = {0, 0, 0, -1, -1, -0.5f};
    const int32_t types[N] = {2, 3, 3, 1, 1, 1};
    assert_int_equal(ef_gguf_writer_set_str(w, "tokenizer.ggml.model", model), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", k_tokens, NULL, N), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.scores", EF_GGUF_F32, scores, N), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, types, N), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2), EF_OK);
    if (!strcmp(model, "gpt2")) {
        const char *merges[] = {"a b"};
        assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1), EF_OK);
    }
    return w;
}

static void expect_error(ef_gguf_writer *w, const char *name, ef_status want, const char *msg_part) {
    ef_gguf *g = NULL;
    ef_vocab *v = NULL;
    ef_status st = tt_load(w, name, &g, &v);
    if (st != want) {
        tt_close(g, v);
        fail_msg("%s: got %s (%s), want %s", name, ef_status_str(st), ef_err_msg(), ef_status_str(want));
    }
    assert_null(v);
    if (!strstr(ef_err_msg(), msg_part))
        fail_msg("%s: message \"%s\" does not mention \"%s\"", name, ef_err_msg(), msg_part);
}

static void test_valid_base(void **state) {
    (void)state;
    ef_gguf *g;
    ef_vocab *v;
    assert_int_equal(tt_load(base_writer("llama"), "v_ok", &g, &v), EF_OK);
    /* "ab" -> "▁ab": ▁ is no token, so ▁ falls back (no bytes: <unk>), a b merge. */
    TT_EXPECT(v, "ab", EF_TOKENIZE_ADD_SPECIAL, 1, 0, 5);
    tt_close(g, v);
    assert_int_equal(tt_load(base_writer("gpt2"), "v_ok_gpt2", &g, &v), EF_OK);
    TT_EXPECT(v, "ab", 0, 5);
    tt_close(g, v);
}

static void test_model_key(void **state) {
    (void)state;
    ef_gguf_writer *w = base_writer("bert");
    expect_error(w, "v_bert", EF_ERR_UNSUPPORTED, "tokenizer.ggml.model");
    w = base_writer("llama");
    ef_gguf_writer_remove(w, "tokenizer.ggml.model");
    expect_error(w, "v_nomodel", EF_ERR_FORMAT, "tokenizer.ggml.model");
    w = base_writer("llama");
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.model", 1), EF_OK);
    expect_error(w, "v_model_u32", EF_ERR_FORMAT, "tokenizer.ggml.model");
}

static void test_tokens_key(void **state) {
    (void)state;
    ef_gguf_writer *w = base_writer("llama");
    ef_gguf_writer_remove(w, "tokenizer.ggml.tokens");
    expect_error(w, "v_notokens", EF_ERR_FORMAT, "tokenizer.ggml.tokens");
    w = base_writer("llama");
    const uint32_t nums[3] = {1, 2, 3};
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", EF_GGUF_U32, nums, 3), EF_OK);
    expect_error(w, "v_tokens_u32", EF_ERR_FORMAT, "tokenizer.ggml.tokens");
    w = base_writer("llama");
    assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", k_tokens, NULL, 0), EF_OK);
    expect_error(w, "v_tokens_empty", EF_ERR_FORMAT, "tokenizer.ggml.tokens");
}

static void test_counts(void **state) {
    (void)state;
    ef_gguf_writer *w = base_writer("llama");
    const float scores[4] = {0};
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.scores", EF_GGUF_F32, scores, 4), EF_OK);
    expect_error(w, "v_scores_n", EF_ERR_FORMAT, "tokenizer.ggml.scores");
    w = base_writer("llama");
    const int32_t types[N + 1] = {1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, types, N + 1), EF_OK);
    expect_error(w, "v_types_n", EF_ERR_FORMAT, "tokenizer.ggml.token_type");
    w = base_writer("llama");
    const int32_t bad_types[N] = {2, 3, 3, 1, 9, 1};
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, bad_types, N), EF_OK);
    expect_error(w, "v_types_bad", EF_ERR_FORMAT, "tokenizer.ggml.token_type");
    w = base_writer("llama");
    const double dscores[N] = {0};
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.scores", EF_GGUF_F64, dscores, N), EF_OK);
    expect_error(w, "v_scores_f64", EF_ERR_FORMAT, "tokenizer.ggml.scores");
}

static void test_ids(void **state) {
    (void)state;
    static const char *const keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                       "tokenizer.ggml.unknown_token_id",
                                       "tokenizer.ggml.padding_token_id", "tokenizer.ggml.eot_token_id"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        ef_gguf_writer *w = base_writer("llama");
        assert_int_equal(ef_gguf_writer_set_u32(w, keys[i], N), EF_OK);
        expect_error(w, "v_id_range", EF_ERR_FORMAT, keys[i]);
        w = base_writer("llama");
        assert_int_equal(ef_gguf_writer_set_str(w, keys[i], "1"), EF_OK);
        expect_error(w, "v_id_str", EF_ERR_FORMAT, keys[i]);
    }
    /* -1 means "none" */
    ef_gguf_writer *w = base_writer("llama");
    assert_int_equal(ef_gguf_writer_set_i32(w, "tokenizer.ggml.eos_token_id", -1), EF_OK);
    ef_gguf *g;
    ef_vocab *v;
    assert_int_equal(tt_load(w, "v_eos_none", &g, &v), EF_OK);
    assert_int_equal(ef_vocab_eos(v), -1);
    tt_close(g, v);
    /* add_bos_token without a BOS id */
    w = base_writer("llama");
    assert_int_equal(ef_gguf_writer_set_i32(w, "tokenizer.ggml.bos_token_id", -1), EF_OK);
    assert_int_equal(ef_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1), EF_OK);
    expect_error(w, "v_addbos_nobos", EF_ERR_FORMAT, "add_bos_token");
    w = base_writer("llama");
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.add_bos_token", 1), EF_OK);
    expect_error(w, "v_addbos_u32", EF_ERR_FORMAT, "tokenizer.ggml.add_bos_token");
}

static void test_merges(void **state) {
    (void)state;
    ef_gguf_writer *w = base_writer("gpt2");
    ef_gguf_writer_remove(w, "tokenizer.ggml.merges");
    expect_error(w, "v_nomerges", EF_ERR_FORMAT, "tokenizer.ggml.merges");
    static const char *const bad[] = {"ab", " a", "a ", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        w = base_writer("gpt2");
        const char *merges[] = {"a b", bad[i]};
        assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2), EF_OK);
        expect_error(w, "v_badmerge", EF_ERR_FORMAT, "tokenizer.ggml.merges[1]");
    }
    w = base_writer("gpt2");
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.pre", 3), EF_OK);
    expect_error(w, "v_pre_u32", EF_ERR_FORMAT, "tokenizer.ggml.pre");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_base),
        cmocka_unit_test(test_model_key),
        cmocka_unit_test(test_tokens_key),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_merges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
