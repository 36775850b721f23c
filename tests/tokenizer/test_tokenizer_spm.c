/* SentencePiece-style BPE ("llama") on a hand-made vocabulary; every
 * expected id list below is worked out by hand in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "tok_test_util.h"

#define SP "\xE2\x96\x81" /* U+2581, SentencePiece's space mark */
#define BYTE(b) (3 + (b)) /* <0xAB> tokens sit at ids 3..258 */

/* ids 0..2 specials, 3..258 bytes, then pieces with these scores: */
enum {
    T_SP = 259, T_H, T_E, T_L, T_O, T_W, T_R, T_D, /* single characters, score -100 */
    T_HE,     /* "he"     -1  */
    T_LL,     /* "ll"     -2  */
    T_LLO,    /* "llo"    -3  */
    T_SPHE,   /* "▁he"    -4  */
    T_SPHELLO,/* "▁hello" -5  */
    T_OR,     /* "or"     -6  */
    T_SPW,    /* "▁w"     -7  */
    T_LD,     /* "ld"     -8  */
    T_SPWOR,  /* "▁wor"   -9  */
    T_USER,   /* "<|user|>" user-defined */
    T_CTL,    /* "<ctl>" control */
    T_UNUSED_X, /* "xx" unused: never used for plain text here */
    N_TOKENS
};

static const char *const k_pieces[] = {
    SP, "h", "e", "l", "o", "w", "r", "d", "he", "ll", "llo", SP "he", SP "hello", "or", SP "w",
    "ld", SP "wor", "<|user|>", "<ctl>", "xx"};
static const float k_piece_scores[] = {-100, -100, -100, -100, -100, -100, -100, -100, -1, -2,
                                       -3, -4, -5, -6, -7, -8, -9, 0, 0, -50};

/* Builds the vocabulary; with_bytes = 0 leaves the <0xAB> pieces out
 * (they become unused filler so ids stay the same). */
static ef_gguf_writer *spm_writer(int with_bytes) {
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    static char byte_names[256][8];
    const char *tokens[N_TOKENS];
    float scores[N_TOKENS];
    int32_t types[N_TOKENS];
    tokens[0] = "<unk>"; types[0] = EF_TOKEN_UNKNOWN;
    tokens[1] = "<s>"; types[1] = EF_TOKEN_CONTROL;
    tokens[2] = "</s>"; types[2] = EF_TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(byte_names[b], sizeof byte_names[b], with_bytes ? "<0x%02X>" : "[%02X]", b);
        tokens[3 + b] = byte_names[b];
        types[3 + b] = with_bytes ? EF_TOKEN_BYTE : EF_TOKEN_UNUSED;
    }
    for (int i = 0; i < N_TOKENS; i++) scores[i] = 0;
    for (int i = T_SP; i < N_TOKENS; i++) {
        tokens[i] = k_pieces[i - T_SP];
        scores[i] = k_piece_scores[i - T_SP];
        types[i] = EF_TOKEN_NORMAL;
    }
    types[T_USER] = EF_TOKEN_USER_DEFINED;
    types[T_CTL] = EF_TOKEN_CONTROL;
    types[T_UNUSED_X] = EF_TOKEN_UNUSED;
    assert_int_equal(ef_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, N_TOKENS), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.scores", EF_GGUF_F32, scores, N_TOKENS), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, types, N_TOKENS), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0), EF_OK);
    return w;
}

static ef_gguf *g_gguf;
static ef_vocab *g_vocab;

static int setup(void **state) {
    (void)state;
    return tt_load(spm_writer(1), "spm", &g_gguf, &g_vocab) == EF_OK ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    tt_close(g_gguf, g_vocab);
    return 0;
}

static void test_metadata(void **state) {
    (void)state;
    assert_string_equal(ef_vocab_model_name(g_vocab), "llama");
    assert_int_equal(ef_vocab_n_tokens(g_vocab), N_TOKENS);
    assert_int_equal(ef_vocab_bos(g_vocab), 1);
    assert_int_equal(ef_vocab_eos(g_vocab), 2);
    assert_true(ef_vocab_is_eog(g_vocab, 2));
    assert_false(ef_vocab_is_eog(g_vocab, 1));
    assert_int_equal(ef_vocab_token_type(g_vocab, BYTE(0x41)), EF_TOKEN_BYTE);
    assert_string_equal(ef_vocab_token_text(g_vocab, T_SPWOR), SP "wor");
    assert_null(ef_vocab_token_text(g_vocab, N_TOKENS));
    assert_null(ef_vocab_token_text(g_vocab, -1));
}

/* "hello world" -> "▁hello▁world" = ▁ h e l l o ▁ w o r l d. Best pieces
 * first: he(-1), ll(-2), llo(-3) on "he"+"ll"+"o", ▁he(-4), ▁hello(-5) from
 * ▁he+llo, or(-6), ▁w(-7), ld(-8), ▁wor(-9) from ▁w+or; "▁world" is no
 * piece, so: ▁hello ▁wor ld. */
static void test_merges_by_score(void **state) {
    (void)state;
    TT_EXPECT(g_vocab, "hello world", 0, T_SPHELLO, T_SPWOR, T_LD);
    /* "hello" without the prefix would end as he+llo; "he" alone is ▁he. */
    TT_EXPECT(g_vocab, "he", 0, T_SPHE);
    /* "lll": ▁ l l l; both (l,l) pairs score -2, the leftmost merges: ▁ ll l. */
    TT_EXPECT(g_vocab, "lll", 0, T_SP, T_LL, T_L);
    /* "ohe": ▁ o h e -> he merges; (o,he) and (▁,o) are no pieces. */
    TT_EXPECT(g_vocab, "ohe", 0, T_SP, T_O, T_HE);
    /* Leading and repeated spaces are pieces of their own: "▁▁he" -> ▁ ▁he. */
    TT_EXPECT(g_vocab, " he", 0, T_SP, T_SPHE);
    TT_EXPECT(g_vocab, "", 0);
}

static void test_add_special(void **state) {
    (void)state;
    TT_EXPECT(g_vocab, "hello", EF_TOKENIZE_ADD_SPECIAL, 1, T_SPHELLO);
    TT_EXPECT(g_vocab, "", EF_TOKENIZE_ADD_SPECIAL, 1);
    size_t len;
    const int32_t ids[] = {1, T_SPHELLO, T_SPWOR, T_LD, 2};
    char *s = tt_detok(g_vocab, ids, 5, 0, &len);
    assert_string_equal(s, "hello world");
    free(s);
    s = tt_detok(g_vocab, ids, 5, EF_DETOKENIZE_RENDER_SPECIAL, &len);
    assert_string_equal(s, "<s>hello world</s>");
    free(s);
}

/* Characters without pieces fall back to their UTF-8 bytes. */
static void test_byte_fallback(void **state) {
    (void)state;
    /* "hé" -> ▁ h é; é = C3 A9 has no piece. */
    TT_EXPECT(g_vocab, "h\xC3\xA9", 0, T_SP, T_H, BYTE(0xC3), BYTE(0xA9));
    /* Invalid UTF-8: a lone 0xFF and a truncated sequence stay bytes. */
    TT_EXPECT(g_vocab, "h\xFF\xE2\x96", 0, T_SP, T_H, BYTE(0xFF), BYTE(0xE2), BYTE(0x96));
    /* Text that spells a byte piece is not that piece: "<0x41>" is typed
     * characters, '<' '0' 'x' '4' '1' '>' with no pieces -> bytes. */
    TT_EXPECT(g_vocab, "<0x41>", 0, T_SP, BYTE('<'), BYTE('0'), BYTE('x'), BYTE('4'), BYTE('1'), BYTE('>'));
    /* An embedded NUL is a byte like any other. */
    tt_expect(g_vocab, "h\0h", 3, 0, (const int32_t[]){T_SP, T_H, BYTE(0), T_H}, 4);
    size_t len;
    const int32_t ids[] = {T_SP, T_H, BYTE(0xC3), BYTE(0xA9)};
    char *s = tt_detok(g_vocab, ids, 4, 0, &len);
    assert_string_equal(s, "h\xC3\xA9");
    free(s);
}

/* Without byte pieces each unknown character becomes <unk>. */
static void test_unknown_without_bytes(void **state) {
    (void)state;
    ef_gguf *g;
    ef_vocab *v;
    assert_int_equal(tt_load(spm_writer(0), "spm_nobytes", &g, &v), EF_OK);
    TT_EXPECT(v, "h\xC3\xA9l", 0, T_SP, T_H, 0, T_L);
    TT_EXPECT(v, "\xF0\x9F\x99\x82\xF0\x9F\x99\x82", 0, T_SP, 0, 0);
    tt_close(g, v);
}

static void test_special_tokens(void **state) {
    (void)state;
    /* Control texts are plain text unless asked: '<' 'c' 't' '>' are bytes, 'l' a piece. */
    TT_EXPECT(g_vocab, "<ctl>he", 0, T_SP, BYTE('<'), BYTE('c'), BYTE('t'), T_L, BYTE('>'), T_HE);
    /* With PARSE_SPECIAL the text is the token; the text after it gets the
     * dummy prefix again, as llama.cpp does: "he" -> "▁he". */
    TT_EXPECT(g_vocab, "<ctl>he", EF_TOKENIZE_PARSE_SPECIAL, T_CTL, T_SPHE);
    TT_EXPECT(g_vocab, "he<ctl>", EF_TOKENIZE_PARSE_SPECIAL, T_SPHE, T_CTL);
    TT_EXPECT(g_vocab, "<s>he</s>", EF_TOKENIZE_PARSE_SPECIAL | EF_TOKENIZE_ADD_SPECIAL, 1, 1, T_SPHE, 2);
    /* User-defined pieces are always matched, as SentencePiece does. */
    TT_EXPECT(g_vocab, "he<|user|>", 0, T_SPHE, T_USER);
    /* An unknown-type text is recognised only with PARSE_SPECIAL. */
    TT_EXPECT(g_vocab, "<unk>", EF_TOKENIZE_PARSE_SPECIAL, 0);
    size_t len;
    const int32_t ids[] = {T_CTL, T_SPHE, T_USER};
    char *s = tt_detok(g_vocab, ids, 3, 0, &len);
    assert_string_equal(s, "he<|user|>"); /* control dropped, first space dropped */
    free(s);
    s = tt_detok(g_vocab, ids, 3, EF_DETOKENIZE_RENDER_SPECIAL, &len);
    assert_string_equal(s, "<ctl>he<|user|>");
    free(s);
}

static void test_token_bytes(void **state) {
    (void)state;
    char buf[16];
    size_t len = 0;
    assert_int_equal(ef_vocab_token_bytes(g_vocab, T_SPHELLO, 0, buf, sizeof buf, &len), EF_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, " hello", 6);
    assert_int_equal(ef_vocab_token_bytes(g_vocab, BYTE(0xAB), 0, buf, sizeof buf, &len), EF_OK);
    assert_int_equal(len, 1);
    assert_int_equal((uint8_t)buf[0], 0xAB);
    assert_int_equal(ef_vocab_token_bytes(g_vocab, 1, 0, buf, sizeof buf, &len), EF_OK);
    assert_int_equal(len, 0);
    assert_int_equal(ef_vocab_token_bytes(g_vocab, 1, EF_DETOKENIZE_RENDER_SPECIAL, buf, sizeof buf, &len), EF_OK);
    assert_int_equal(len, 3);
    /* two-call pattern */
    assert_int_equal(ef_vocab_token_bytes(g_vocab, T_SPHELLO, 0, NULL, 0, &len), EF_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 6);
    assert_int_equal(ef_vocab_token_bytes(g_vocab, T_SPHELLO, 0, buf, 3, &len), EF_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 6);
    assert_int_equal(ef_vocab_token_bytes(g_vocab, N_TOKENS, 0, buf, sizeof buf, &len), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_vocab_token_bytes(g_vocab, -1, 0, buf, sizeof buf, &len), EF_ERR_INVALID_ARG);
    const int32_t bad[] = {T_H, N_TOKENS};
    assert_int_equal(ef_vocab_detokenize(g_vocab, bad, 2, 0, buf, sizeof buf, &len), EF_ERR_INVALID_ARG);
}

/* Random UTF-8 over the vocabulary's letters, spaces and unknown
 * characters, and random bytes: detokenize(tokenize(x)) == x. */
static void test_roundtrip_random(void **state) {
    (void)state;
    static const char *const alphabet[] = {"h", "e", "l", "o", "w", "r", "d", " ", " ", "\n", "\t",
                                           "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80", "x", "0"};
    uint64_t rng = 0x9E3779B97F4A7C15ull;
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
        /* "▁" (E2 96 81) in the input reads back as a space: avoid it. */
        for (size_t i = 0; i + 2 < len; i++)
            if (!memcmp(text + i, SP, 3)) text[i] = 'h';
        tt_roundtrip(g_vocab, text, len);
    }
}

/* Every allocation failure during load and tokenize is reported as
 * EF_ERR_NO_MEMORY and leaks nothing. */
static void test_alloc_failures(void **state) {
    (void)state;
    tt_alloc_install();
    ef_gguf_writer *w = spm_writer(1);
    char path[512];
    snprintf(path, sizeof path, "%s/tok_spm_oom.gguf", EF_TEST_TMP);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_OK);
    ef_gguf_writer_free(w);
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(path, 0, &g), EF_OK);
    long base = tt_live();
    ef_vocab *v = NULL;
    for (long k = 1;; k++) {
        tt_fail_after(k);
        ef_status st = ef_vocab_load(g, &v);
        if (!tt_failed()) {
            assert_int_equal(st, EF_OK);
            break;
        }
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_null(v);
        assert_int_equal(tt_live(), base);
    }
    tt_fail_after(0);
    long loaded = tt_live();
    static const char text[] = "hello world lll h\xC3\xA9 <ctl> he";
    for (long k = 1;; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        tt_fail_after(k);
        ef_status st = ef_vocab_tokenize(v, text, sizeof text - 1, EF_TOKENIZE_ADD_SPECIAL | EF_TOKENIZE_PARSE_SPECIAL, &ids, &n);
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
    assert_int_equal(tt_live(), loaded);
    ef_vocab_free(v);
    ef_gguf_close(g);
    tt_alloc_uninstall();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_merges_by_score),
        cmocka_unit_test(test_add_special),
        cmocka_unit_test(test_byte_fallback),
        cmocka_unit_test(test_unknown_without_bytes),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_token_bytes),
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
