/* ef_tokenizer_train (byte-level BPE training): the vocabulary has exactly
 * the requested size, loads with ef_vocab_load, round-trips any bytes (unseen
 * bytes, invalid and multi-byte UTF-8), is the same file on every run, and
 * bad input or an allocation failure gives a clear error without leaks.
 * bpe_train_ref.py checks the merges themselves against a Python reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#ifdef _WIN32
#include <direct.h>
#define make_dir(p) _mkdir(p)
#else
#include <sys/stat.h>
#define make_dir(p) mkdir(p, 0755)
#endif

#include "base/alloc.h"
#include "tok_test_util.h"

static const char k_text[] =
    "The jury said it did find that many of Georgia's registration and election laws\n"
    "are outmoded or inadequate and often ambiguous. It recommended that Fulton\n"
    "legislators act to have these laws studied and revised to the end of\n"
    "modernizing and improving them. The grand jury commented on a number of other\n"
    "topics, among them the Atlanta and Fulton County purchasing departments which\n"
    "it said are well operated and follow generally accepted practices.\n"
    "Caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC 123 4567 -- (ok) $5!\n";

static void tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/bpe_train_%s", EF_TEST_TMP, name);
}

static void write_file(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The training text as a file; returns its path in buf. */
static void text_file(char *buf, size_t cap) {
    tmp_path(buf, cap, "text.txt");
    write_file(buf, k_text, sizeof k_text - 1);
}

static void load(const char *path, ef_gguf **g, ef_vocab **v) {
    assert_int_equal(ef_gguf_open(path, 0, g), EF_OK);
    assert_int_equal(ef_vocab_load(*g, v), EF_OK);
}

static void test_vocab_size_and_roundtrip(void **state) {
    (void)state;
    char text[512], out[512];
    text_file(text, sizeof text);
    tmp_path(out, sizeof out, "400.gguf");
    assert_int_equal(ef_tokenizer_train(text, 400, out), EF_OK);
    ef_gguf *g;
    ef_vocab *v;
    load(out, &g, &v);
    assert_int_equal(ef_vocab_n_tokens(v), 400);
    assert_string_equal(ef_vocab_model_name(v), "gpt2");
    assert_int_equal(ef_vocab_bos(v), 256);
    assert_int_equal(ef_vocab_eos(v), 256);
    assert_string_equal(ef_vocab_token_text(v, 256), "<|endoftext|>");
    assert_int_equal(ef_vocab_token_type(v, 256), EF_TOKEN_CONTROL);
    assert_string_equal(ef_vocab_token_text(v, 32), "\xC4\xA0"); /* byte ' ' is "Ġ" */

    /* The merges compress the training text well below one token per byte. */
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(ef_vocab_tokenize(v, k_text, sizeof k_text - 1, 0, &ids, &n), EF_OK);
    assert_true(n < (sizeof k_text - 1) / 2);
    ef_free(ids);

    tt_roundtrip(v, k_text, sizeof k_text - 1);
    static const char unseen[] = "\x00\x01\x7f\x80\xff\xfe zebra QUIXOTIC \xF0\x9F\x98\x80 "
                                 "\xCE\x95\xCE\xBB\xCE\xBB \xC3\x28 \xE2\x82 tail";
    tt_roundtrip(v, unseen, sizeof unseen - 1);
    uint64_t rng = 42;
    char random[2000];
    for (size_t i = 0; i < sizeof random; i++) random[i] = (char)(tt_rand(&rng) & 0xFF);
    tt_roundtrip(v, random, sizeof random);
    tt_close(g, v);

    /* 257 tokens: bytes and <|endoftext|>, no merges. */
    tmp_path(out, sizeof out, "257.gguf");
    assert_int_equal(ef_tokenizer_train(text, 257, out), EF_OK);
    load(out, &g, &v);
    assert_int_equal(ef_vocab_n_tokens(v), 257);
    tt_roundtrip(v, k_text, sizeof k_text - 1);
    tt_close(g, v);
}

static void test_deterministic(void **state) {
    (void)state;
    char text[512], a[512], b[512];
    text_file(text, sizeof text);
    tmp_path(a, sizeof a, "det_a.gguf");
    tmp_path(b, sizeof b, "det_b.gguf");
    assert_int_equal(ef_tokenizer_train(text, 350, a), EF_OK);
    assert_int_equal(ef_tokenizer_train(text, 350, b), EF_OK);
    size_t la, lb;
    char *da = read_all(a, &la), *db = read_all(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);
}

/* A folder of *.txt files is read like the trainer's "data" folder. */
static void test_directory_data(void **state) {
    (void)state;
    char dir[512], file[600], out[512];
    tmp_path(dir, sizeof dir, "dir");
    make_dir(dir); /* may exist from an earlier run */
    snprintf(file, sizeof file, "%s/a.txt", dir);
    write_file(file, k_text, 200);
    snprintf(file, sizeof file, "%s/b.txt", dir);
    write_file(file, k_text + 200, sizeof k_text - 201);
    tmp_path(out, sizeof out, "dir.gguf");
    assert_int_equal(ef_tokenizer_train(dir, 300, out), EF_OK);
    ef_gguf *g;
    ef_vocab *v;
    load(out, &g, &v);
    assert_int_equal(ef_vocab_n_tokens(v), 300);
    tt_close(g, v);
}

static void expect_error(const char *data, int32_t vocab, ef_status want, const char *msg_part) {
    char out[512];
    tmp_path(out, sizeof out, "bad.gguf");
    ef_status st = ef_tokenizer_train(data, vocab, out);
    assert_int_equal(st, want);
    if (!strstr(ef_last_error(), msg_part)) fail_msg("message '%s' lacks '%s'", ef_last_error(), msg_part);
}

static void test_bad_input(void **state) {
    (void)state;
    char text[512], empty[512], missing[512];
    text_file(text, sizeof text);
    tmp_path(empty, sizeof empty, "empty.txt");
    write_file(empty, "", 0);
    tmp_path(missing, sizeof missing, "no_such_file.txt");
    expect_error(text, 256, EF_ERR_INVALID_ARG, "257");
    expect_error(text, 0, EF_ERR_INVALID_ARG, "257");
    expect_error(text, 1 << 25, EF_ERR_INVALID_ARG, "vocabulary size");
    expect_error(empty, 300, EF_ERR_INVALID_ARG, "no text");
    expect_error(missing, 300, EF_ERR_IO, "no_such_file.txt");
    expect_error(text, 100000, EF_ERR_INVALID_ARG, "too few distinct byte pairs");
    char out[512];
    tmp_path(out, sizeof out, "bad.gguf");
    assert_int_equal(ef_tokenizer_train(NULL, 300, out), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_tokenizer_train(text, 300, NULL), EF_ERR_INVALID_ARG);
}

/* Every allocation of a training run fails once: NO_MEMORY, nothing leaks. */
static void test_alloc_failures(void **state) {
    (void)state;
    char text[512], out[512];
    text_file(text, sizeof text);
    tmp_path(out, sizeof out, "oom.gguf");
    tt_alloc_install();
    long base = tt_live(), k;
    for (k = 1;; k++) {
        tt_fail_after(k);
        ef_status st = ef_tokenizer_train(text, 320, out);
        int failed = tt_failed();
        tt_fail_after(0);
        if (!failed) {
            assert_int_equal(st, EF_OK);
            break;
        }
        /* PCRE2's JIT memory is optional: the interpreter then runs instead. */
        if (st != EF_OK) assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_int_equal(tt_live(), base);
    }
    tt_alloc_uninstall();
    print_message("%ld allocation points\n", k - 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_size_and_roundtrip),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_directory_data),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
