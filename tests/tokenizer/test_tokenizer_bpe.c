/* Byte-level BPE ("gpt2") on a hand-made vocabulary, the pre-tokenizer
 * regexes, and the importers. Expected ids are worked out in the comments;
 * the GPT-2 split lists were checked against the JavaScript regex of
 * gpt-3-encoder with node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "tok_test_util.h"
#include "tokenizer/byte_symbols.h"
#include "tokenizer/pretokenize.h"

#define G "\xC4\xA0" /* U+0120 'Ġ', the byte symbol of ' ' */

/* ids 0..255: byte b's symbol; then: */
enum { T_GT = 256, T_HE, T_GTHE, T_IN, T_GA, T_EOT, T_EE, T_TH, T_USER, T_XYZ, N_TOKENS };
static const char *const k_merged[] = {G "t", "he", G "the", "in", G "a", "<|endoftext|>", "ee",
                                       "th", "<|user|>", "xyz"};
/* rank: merge */
static const char *const k_merges[] = {
    G " t",   /* 0 */
    "h e",    /* 1 */
    "i n",    /* 2 */
    G "t he", /* 3 */
    G " a",   /* 4 */
    "e e",    /* 5 */
    "t h",    /* 6: worse than "h e" */
};

static ef_gguf_writer *bpe_writer(const char *pre) {
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    static char syms[256][3];
    const char *tokens[N_TOKENS];
    int32_t types[N_TOKENS];
    for (int b = 0; b < 256; b++) {
        size_t n = ef_byte_symbol_utf8((uint8_t)b, syms[b]);
        syms[b][n] = '\0';
        tokens[b] = syms[b];
        types[b] = EF_TOKEN_NORMAL;
    }
    for (int i = T_GT; i < N_TOKENS; i++) {
        tokens[i] = k_merged[i - T_GT];
        types[i] = EF_TOKEN_NORMAL;
    }
    types[T_EOT] = EF_TOKEN_CONTROL;
    types[T_USER] = EF_TOKEN_USER_DEFINED;
    assert_int_equal(ef_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"), EF_OK);
    if (pre) assert_int_equal(ef_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, N_TOKENS), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, types, N_TOKENS), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", k_merges, NULL,
                                                sizeof k_merges / sizeof *k_merges), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", T_EOT), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", T_EOT), EF_OK);
    assert_int_equal(ef_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 0), EF_OK);
    return w;
}

static ef_gguf *g_gguf;
static ef_vocab *g_vocab;

static int setup(void **state) {
    (void)state;
    return tt_load(bpe_writer("gpt-2"), "bpe", &g_gguf, &g_vocab) == EF_OK ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    tt_close(g_gguf, g_vocab);
    return 0;
}

static void test_byte_symbols(void **state) {
    (void)state;
    /* The printable ranges map to themselves, the rest to U+0100.. in byte order. */
    assert_int_equal(ef_byte_to_symbol('A'), 'A');
    assert_int_equal(ef_byte_to_symbol(0x00), 0x100);
    assert_int_equal(ef_byte_to_symbol(' '), 0x120);
    assert_int_equal(ef_byte_to_symbol('\n'), 0x10A);
    assert_int_equal(ef_byte_to_symbol(0x7F), 0x121);
    assert_int_equal(ef_byte_to_symbol(0xA0), 0x142);
    assert_int_equal(ef_byte_to_symbol(0xAD), 0x143);
    for (int b = 0; b < 256; b++) assert_int_equal(ef_symbol_to_byte(ef_byte_to_symbol((uint8_t)b)), b);
    assert_int_equal(ef_symbol_to_byte(0x144), -1);
    assert_int_equal(ef_symbol_to_byte(0x20), -1);
}

static void test_merges_by_rank(void **state) {
    (void)state;
    assert_string_equal(ef_vocab_model_name(g_vocab), "gpt2");
    /* " the": Ġ t h e; ranks (Ġ,t)=0 (h,e)=1 -> Ġt he -> (Ġt,he)=3 -> Ġthe. */
    TT_EXPECT(g_vocab, " the", 0, T_GTHE);
    /* "the": (t,h)=6 loses to (h,e)=1 -> t he; (t,he) is no merge. */
    TT_EXPECT(g_vocab, "the", 0, 't', T_HE);
    /* "eee": both (e,e) pairs rank 5; the leftmost merges: ee e. */
    TT_EXPECT(g_vocab, "eee", 0, T_EE, 'e');
    /* "eeee" -> ee ee */
    TT_EXPECT(g_vocab, "eeee", 0, T_EE, T_EE);
    /* "xyz" is a token, but no merge builds it: GPT-2 never reaches it. */
    TT_EXPECT(g_vocab, "xyz", 0, 'x', 'y', 'z');
    /* Chunks never merge across: "in the" = "in" " the". */
    TT_EXPECT(g_vocab, "in the", 0, T_IN, T_GTHE);
    /* Two spaces before a word: "\s+(?!\S)" leaves one space for " a". */
    TT_EXPECT(g_vocab, "in  a", 0, T_IN, ' ', T_GA);
    TT_EXPECT(g_vocab, "", 0);
    /* No BOS for GPT-2 even with ADD_SPECIAL (add_bos_token = false). */
    TT_EXPECT(g_vocab, "the", EF_TOKENIZE_ADD_SPECIAL, 't', T_HE);
}

static void test_specials_and_bytes(void **state) {
    (void)state;
    /* Without PARSE_SPECIAL the control text is plain text: "<|" "endoftext" "|>" chunks. */
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(ef_vocab_tokenize(g_vocab, "<|endoftext|>", 13, 0, &ids, &n), EF_OK);
    assert_true(n > 1);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], T_EOT);
    ef_free(ids);
    TT_EXPECT(g_vocab, "in<|endoftext|> the", EF_TOKENIZE_PARSE_SPECIAL, T_IN, T_EOT, T_GTHE);
    TT_EXPECT(g_vocab, "in<|user|>in", 0, T_IN, T_USER, T_IN);
    /* UTF-8 and invalid bytes go through as byte symbols: "é" = C3 A9. */
    TT_EXPECT(g_vocab, "\xC3\xA9", 0, 0xC3, 0xA9);
    TT_EXPECT(g_vocab, "in\xFF\xFEin", 0, T_IN, 0xFF, 0xFE, T_IN);
    tt_expect(g_vocab, "a\0b", 3, 0, (const int32_t[]){'a', 0, 'b'}, 3);
    size_t len;
    const int32_t eot_ids[] = {T_EOT, T_GTHE, T_USER};
    char *s = tt_detok(g_vocab, eot_ids, 3, 0, &len);
    assert_string_equal(s, " the<|user|>");
    free(s);
    s = tt_detok(g_vocab, eot_ids, 3, EF_DETOKENIZE_RENDER_SPECIAL, &len);
    assert_string_equal(s, "<|endoftext|> the<|user|>");
    free(s);
    char buf[8];
    assert_int_equal(ef_vocab_token_bytes(g_vocab, ' ', 0, buf, sizeof buf, &len), EF_OK);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], ' ');
    assert_int_equal(ef_vocab_token_bytes(g_vocab, T_GTHE, 0, buf, sizeof buf, &len), EF_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, " the", 4);
}

/* ---- pre-tokenizer splits ---- */

typedef struct split_list {
    char items[32][64];
    int n;
} split_list;

static ef_status collect(void *user, const char *chunk, size_t len) {
    split_list *l = user;
    assert_true(l->n < 32 && len < 64);
    memcpy(l->items[l->n], chunk, len);
    l->items[l->n][len] = '\0';
    l->n++;
    return EF_OK;
}

static void expect_split(ef_pre_kind kind, const char *text, const char *const *want, int n_want) {
    ef_pretokenizer *p = NULL;
    assert_int_equal(ef_pretokenizer_create(kind, &p), EF_OK);
    split_list got = {0};
    assert_int_equal(ef_pretokenize(p, text, strlen(text), collect, &got), EF_OK);
    ef_pretokenizer_free(p);
    if (got.n != n_want) fail_msg("split of \"%s\": %d chunks, want %d", text, got.n, n_want);
    for (int i = 0; i < n_want; i++)
        if (strcmp(got.items[i], want[i]) != 0)
            fail_msg("split of \"%s\": chunk %d is \"%s\", want \"%s\"", text, i, got.items[i], want[i]);
}
#define EXPECT_SPLIT(kind, text, ...)                                         \
    do {                                                                      \
        const char *const want_[] = {__VA_ARGS__};                            \
        expect_split(kind, text, want_, (int)(sizeof want_ / sizeof *want_)); \
    } while (0)

static void test_pretokenizer_gpt2(void **state) {
    (void)state;
    EXPECT_SPLIT(EF_PRE_GPT2, "I'm 12345 a  b\n\n x", "I", "'m", " 12345", " a", " ", " b", "\n\n", " x");
    EXPECT_SPLIT(EF_PRE_GPT2, "Hello,  world!!  ", "Hello", ",", " ", " world", "!!", "  ");
    EXPECT_SPLIT(EF_PRE_GPT2, "they'RE 'll", "they", "'", "RE", " '", "ll");
    /* JavaScript's \s: U+FEFF and U+3000 are spaces, U+0085 is not. */
    EXPECT_SPLIT(EF_PRE_GPT2, "\xEF\xBB\xBF\xEF\xBB\xBF" "a", "\xEF\xBB\xBF", "\xEF\xBB\xBF", "a");
    EXPECT_SPLIT(EF_PRE_GPT2, "a\xC2\x85\xC2\x85" "b", "a", "\xC2\x85\xC2\x85", "b");
    EXPECT_SPLIT(EF_PRE_GPT2, "x\xE3\x80\x80\xE3\x80\x80y", "x", "\xE3\x80\x80", "\xE3\x80\x80", "y");
    /* Invalid UTF-8 the regex cannot match becomes a chunk of its own. */
    EXPECT_SPLIT(EF_PRE_GPT2, "ab\xFF\xFE cd", "ab", "\xFF\xFE", " cd");
}

static void test_pretokenizer_llama3_qwen2(void **state) {
    (void)state;
    /* Numbers in groups of up to three digits; case-insensitive contractions;
     * one non-letter may lead a word; newlines gather with preceding spaces. */
    EXPECT_SPLIT(EF_PRE_LLAMA3, "I'M 1234567$x  \n\n y", "I", "'M", " ", "123", "456", "7", "$x", "  \n\n", " y");
    EXPECT_SPLIT(EF_PRE_LLAMA3, "a $x", "a", " $", "x");
    EXPECT_SPLIT(EF_PRE_QWEN2, "ab 123", "ab", " ", "1", "2", "3");
    EXPECT_SPLIT(EF_PRE_LLAMA3, "hi!!\n\nok", "hi", "!!\n\n", "ok");
    int known = 0;
    assert_int_equal(ef_pre_kind_from_name("llama-bpe", 9, &known), EF_PRE_LLAMA3);
    assert_true(known);
    assert_int_equal(ef_pre_kind_from_name("qwen2", 5, &known), EF_PRE_QWEN2);
    assert_int_equal(ef_pre_kind_from_name("something-new", 13, &known), EF_PRE_GPT2);
    assert_false(known);
}

/* A vocabulary with pre = "llama3" keeps whole-token chunks (ignore_merges)
 * and adds BOS by default. */
static void test_llama3_vocab(void **state) {
    (void)state;
    ef_gguf_writer *w = bpe_writer("llama3");
    ef_gguf_writer_remove(w, "tokenizer.ggml.add_bos_token");
    ef_gguf *g;
    ef_vocab *v;
    assert_int_equal(tt_load(w, "bpe_llama3", &g, &v), EF_OK);
    /* "the" is no token, so merges run: t he */
    TT_EXPECT(v, "the", EF_TOKENIZE_ADD_SPECIAL, T_EOT, 't', T_HE);
    /* "xyz" is a token that no merge builds: llama3 keeps the chunk whole. */
    TT_EXPECT(v, "xyz", 0, T_XYZ);
    tt_close(g, v);
}

static void test_roundtrip_random(void **state) {
    (void)state;
    static const char *const alphabet[] = {"t", "h", "e", "i", "n", " ", " ", "\n", "\t", "'s", "1",
                                           ",", "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80",
                                           "\xEF\xBB\xBF", "\xC2\x85", "A"};
    uint64_t rng = 0x1234567887654321ull;
    char text[256];
    for (int iter = 0; iter < 500; iter++) {
        size_t len = 0, want = tt_rand(&rng) % 40;
        while (len < want) {
            const char *a = alphabet[tt_rand(&rng) % (sizeof alphabet / sizeof *alphabet)];
            memcpy(text + len, a, strlen(a));
            len += strlen(a);
        }
        tt_roundtrip(g_vocab, text, len);
    }
    for (int iter = 0; iter < 500; iter++) {
        size_t len = tt_rand(&rng) % 64;
        for (size_t i = 0; i < len; i++) text[i] = (char)(tt_rand(&rng) & 0xFF);
        tt_roundtrip(g_vocab, text, len);
    }
}

/* The synthetic vocabulary: exactly n_vocab tokens, loads, round-trips. */
static void test_synthetic(void **state) {
    (void)state;
    const int32_t sizes[] = {260, 300, 1000, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        ef_gguf_writer *w = NULL;
        assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
        assert_int_equal(ef_vocab_write_synthetic(w, sizes[i]), EF_OK);
        ef_gguf *g;
        ef_vocab *v;
        char name[32];
        snprintf(name, sizeof name, "synth%d", sizes[i]);
        assert_int_equal(tt_load(w, name, &g, &v), EF_OK);
        assert_int_equal(ef_vocab_n_tokens(v), sizes[i]);
        assert_int_equal(ef_vocab_bos(v), 256);
        assert_true(ef_vocab_is_eog(v, 256));
        static const char text[] = "The model said that the world was still there, 42 times.";
        tt_roundtrip(v, text, sizeof text - 1);
        int32_t *ids = NULL;
        size_t n = 0;
        assert_int_equal(ef_vocab_tokenize(v, text, sizeof text - 1, 0, &ids, &n), EF_OK);
        if (sizes[i] >= 1000) assert_true(n < (sizeof text - 1) * 2 / 3); /* merges do shorten text */
        ef_free(ids);
        tt_close(g, v);
    }
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_vocab_write_synthetic(w, 259), EF_ERR_INVALID_ARG);
    ef_gguf_writer_free(w);
}

/* ef_vocab_write_gpt2_files on a tiny encoder.json / vocab.bpe pair. */
static void test_gpt2_import(void **state) {
    (void)state;
    char enc_path[512], bpe_path[512];
    snprintf(enc_path, sizeof enc_path, "%s/tok_import_encoder.json", EF_TEST_TMP);
    snprintf(bpe_path, sizeof bpe_path, "%s/tok_import_vocab.bpe", EF_TEST_TMP);
    FILE *f = fopen(enc_path, "w");
    assert_non_null(f);
    /* Byte symbols for 'a' 'b' ' ' plus "ab", "Ġab" and the end token. */
    fputs("{\"a\": 0, \"b\": 1, \"\\u0120\": 2, \"ab\": 3, \"\\u0120ab\": 4, \"<|endoftext|>\": 5}", f);
    fclose(f);
    f = fopen(bpe_path, "w");
    assert_non_null(f);
    fputs("#version: 0.2\na b\n" G " ab\n", f);
    fclose(f);
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_vocab_write_gpt2_files(w, enc_path, bpe_path), EF_OK);
    ef_gguf *g;
    ef_vocab *v;
    /* Bytes other than a, b and space have no token: loading warns, and
     * tokenizing them fails cleanly (there is no unknown token). */
    assert_int_equal(tt_load(w, "import", &g, &v), EF_OK);
    assert_int_equal(ef_vocab_bos(v), 5);
    assert_int_equal(ef_vocab_eos(v), 5);
    assert_int_equal(ef_vocab_token_type(v, 5), EF_TOKEN_CONTROL);
    TT_EXPECT(v, "ab ab", EF_TOKENIZE_ADD_SPECIAL, 3, 4);
    TT_EXPECT(v, "ba", 0, 1, 0);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(ef_vocab_tokenize(v, "abc", 3, 0, &ids, &n), EF_ERR_FORMAT);
    assert_null(ids);
    tt_close(g, v);

    w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_vocab_write_gpt2_files(w, enc_path, "/nonexistent/vocab.bpe"), EF_ERR_IO);
    f = fopen(bpe_path, "w");
    fputs("#version: 0.2\na b c\n", f);
    fclose(f);
    assert_int_equal(ef_vocab_write_gpt2_files(w, enc_path, bpe_path), EF_ERR_FORMAT);
    f = fopen(enc_path, "w");
    fputs("{\"a\": 0, \"b\": 0}", f);
    fclose(f);
    assert_int_equal(ef_vocab_write_gpt2_files(w, enc_path, bpe_path), EF_ERR_FORMAT);
    ef_gguf_writer_free(w);
}

static void test_alloc_failures(void **state) {
    (void)state;
    tt_alloc_install();
    ef_gguf_writer *w = bpe_writer("gpt-2");
    char path[512];
    snprintf(path, sizeof path, "%s/tok_bpe_oom.gguf", EF_TEST_TMP);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_OK);
    ef_gguf_writer_free(w);
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(path, 0, &g), EF_OK);
    long base = tt_live();
    ef_vocab *v = NULL;
    for (long k = 1;; k++) {
        tt_fail_after(k);
        ef_status st = ef_vocab_load(g, &v);
        int failed = tt_failed();
        tt_fail_after(0);
        if (!failed) {
            assert_int_equal(st, EF_OK);
            break;
        }
        if (st == EF_OK) {
            /* Only an optional allocation failed (PCRE2's JIT: the
             * interpreter runs instead); the vocabulary must still work. */
            TT_EXPECT(v, " the", 0, T_GTHE);
            ef_vocab_free(v);
            v = NULL;
        } else {
            assert_int_equal(st, EF_ERR_NO_MEMORY);
            assert_null(v);
        }
        assert_int_equal(tt_live(), base);
    }
    long loaded = tt_live();
    static const char text[] = "in the  eee <|endoftext|> \xC3\xA9\xFF the";
    for (long k = 1;; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        tt_fail_after(k);
        ef_status st = ef_vocab_tokenize(v, text, sizeof text - 1, EF_TOKENIZE_PARSE_SPECIAL, &ids, &n);
        int failed = tt_failed();
        tt_fail_after(0);
        if (!failed) {
            assert_int_equal(st, EF_OK);
            ef_free(ids);
            break;
        }
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_int_equal(tt_live(), loaded);
    }
    /* The synthetic writer too. */
    for (long k = 1;; k++) {
        ef_gguf_writer *sw = NULL;
        assert_int_equal(ef_gguf_writer_create(&sw), EF_OK);
        long before = tt_live();
        tt_fail_after(k);
        ef_status st = ef_vocab_write_synthetic(sw, 400);
        int failed = tt_failed();
        tt_fail_after(0);
        if (!failed) {
            assert_int_equal(st, EF_OK);
            ef_gguf_writer_free(sw);
            break;
        }
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        ef_gguf_writer_free(sw);
        (void)before;
        assert_int_equal(tt_live(), loaded);
    }
    assert_int_equal(tt_live(), loaded);
    ef_vocab_free(v);
    ef_gguf_close(g);
    tt_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_symbols),
        cmocka_unit_test(test_merges_by_rank),
        cmocka_unit_test(test_specials_and_bytes),
        cmocka_unit_test(test_pretokenizer_gpt2),
        cmocka_unit_test(test_pretokenizer_llama3_qwen2),
        cmocka_unit_test(test_llama3_vocab),
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_synthetic),
        cmocka_unit_test(test_gpt2_import),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
