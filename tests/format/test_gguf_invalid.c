/* Malformed GGUF input: every broken image is built here, by hand or by
 * truncating a good file, and must fail with the exact status and a message
 * that names the problem and the key or tensor — never crash or read out of
 * bounds (each image is copied into a buffer of exactly its size, so the
 * sanitizer build catches any over-read). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "format/gguf.h"
#include "quant/types.h"
#include "gguf_test_util.h"

#define TMP(name) EF_TEST_TMP "/gguf_bad_" name

/* Opens b (copied to an exact-size buffer) and checks status and message. */
static void expect_bad_n(const bytes *b, size_t size, ef_status want, const char *needle1, const char *needle2) {
    uint8_t *img = malloc(size ? size : 1);
    assert_non_null(img);
    if (size) memcpy(img, b->p, size);
    ef_gguf *g = (ef_gguf *)(uintptr_t)1;
    ef_status st = ef_gguf_open_memory(img, size, &g);
    const char *msg = ef_err_msg();
    if (st != want) fail_msg("expected %s, got %s: %s", ef_status_str(want), ef_status_str(st), msg);
    assert_null(g);
    if (needle1 && !strstr(msg, needle1)) fail_msg("message lacks '%s': %s", needle1, msg);
    if (needle2 && !strstr(msg, needle2)) fail_msg("message lacks '%s': %s", needle2, msg);
    free(img);
}

static void expect_bad(const bytes *b, ef_status want, const char *needle1, const char *needle2) {
    expect_bad_n(b, b->n, want, needle1, needle2);
}

/* A good image: a few keys and two tensors. */
static void build_good(bytes *b) {
    b_header(b, 3, 2, 3);
    b_key(b, "general.architecture", EF_GGUF_STRING), b_str(b, "llama");
    b_key(b, "llama.block_count", EF_GGUF_U32), b_u32(b, 1);
    b_key(b, "tokenizer.ggml.tokens", EF_GGUF_ARRAY), b_u32(b, EF_GGUF_STRING), b_u64(b, 2);
    b_str(b, "a"), b_str(b, "b");
    const uint64_t ne_a[] = {4, 2}, ne_b[] = {32};
    b_tensor_info(b, "a", 2, ne_a, EF_TYPE_F32, 0);
    b_tensor_info(b, "b", 1, ne_b, EF_TYPE_Q8_0, 32);
    b_pad(b, 32);
    b_fill(b, 32, 3);
    b_fill(b, 34, 9);
}

static void test_good_image_opens(void **state) {
    (void)state;
    bytes b = {0};
    build_good(&b);
    ef_gguf *g = NULL;
    ef_status st = ef_gguf_open_memory(b.p, b.n, &g);
    if (st != EF_OK) fail_msg("good image: %s", ef_err_msg());
    assert_int_equal(ef_gguf_n_tensors(g), 2);
    ef_gguf_close(g);
    b_free(&b);
}

static void test_bad_magic(void **state) {
    (void)state;
    bytes b = {0};
    build_good(&b);
    b.p[3] = 'X';
    expect_bad(&b, EF_ERR_FORMAT, "magic", NULL);
    b_free(&b);
}

static void test_bad_version(void **state) {
    (void)state;
    bytes b = {0};
    build_good(&b);
    b.p[4] = 1; /* version 1 */
    expect_bad(&b, EF_ERR_UNSUPPORTED, "version 1", NULL);
    b.p[4] = 4;
    expect_bad(&b, EF_ERR_UNSUPPORTED, "version 4", NULL);
    b.p[4] = 0; /* version 0 */
    expect_bad(&b, EF_ERR_FORMAT, "version 0", NULL);
    b.p[7] = 3; /* 0x03000000: a v3 header written big-endian */
    expect_bad(&b, EF_ERR_UNSUPPORTED, "big-endian", NULL);
    b_free(&b);
}

static void test_huge_counts(void **state) {
    (void)state;
    bytes b = {0};
    b_header(&b, 3, 0, (uint64_t)1 << 40);
    expect_bad(&b, EF_ERR_FORMAT, "metadata count", "limit");
    b_free(&b);
    b_header(&b, 3, UINT64_MAX, 0);
    expect_bad(&b, EF_ERR_FORMAT, "tensor count", "limit");
    b_free(&b);
    /* within the limits but far more than the bytes that follow */
    b_header(&b, 3, 1000, 1000);
    b_key(&b, "k", EF_GGUF_U8), b_u8(&b, 1);
    expect_bad(&b, EF_ERR_FORMAT, "1000 metadata entries", "1000 tensors");
    b_free(&b);
}

static void test_huge_string_lengths(void **state) {
    (void)state;
    bytes b = {0};
    /* key length */
    b_header(&b, 3, 0, 1);
    b_u64(&b, (uint64_t)1 << 63);
    b_raw(&b, "key", 3), b_u32(&b, EF_GGUF_U8), b_u8(&b, 0);
    expect_bad(&b, EF_ERR_FORMAT, "key has length 9223372036854775808", "metadata entry 0");
    b_free(&b);
    /* string value length */
    b_header(&b, 3, 0, 1);
    b_key(&b, "my.string", EF_GGUF_STRING), b_u64(&b, UINT64_MAX - 3), b_raw(&b, "abc", 3);
    expect_bad(&b, EF_ERR_FORMAT, "my.string", "length 18446744073709551612");
    b_free(&b);
    /* string array item length */
    b_header(&b, 3, 0, 1);
    b_key(&b, "my.tokens", EF_GGUF_ARRAY), b_u32(&b, EF_GGUF_STRING), b_u64(&b, 2);
    b_str(&b, "ok"), b_u64(&b, 1000), b_raw(&b, "short", 5);
    expect_bad(&b, EF_ERR_FORMAT, "my.tokens", "item 1");
    b_free(&b);
    /* tensor name length */
    b_header(&b, 3, 1, 0);
    b_u64(&b, (uint64_t)1 << 40), b_raw(&b, "name", 4);
    b_u32(&b, 1), b_u64(&b, 32), b_u32(&b, EF_TYPE_F32), b_u64(&b, 0);
    expect_bad(&b, EF_ERR_FORMAT, "tensor 0", "tensor name has length");
    b_free(&b);
}

static void test_key_limits(void **state) {
    (void)state;
    bytes b = {0};
    /* empty key */
    b_header(&b, 3, 0, 1);
    b_key(&b, "", EF_GGUF_U32), b_u32(&b, 0);
    expect_bad(&b, EF_ERR_FORMAT, "empty key", NULL);
    b_free(&b);
    /* key with a NUL byte */
    b_header(&b, 3, 0, 1);
    b_u64(&b, 3), b_raw(&b, "a\0b", 3), b_u32(&b, EF_GGUF_U8), b_u8(&b, 0);
    expect_bad(&b, EF_ERR_FORMAT, "NUL", NULL);
    b_free(&b);
    /* key longer than the limit */
    b_header(&b, 3, 0, 1);
    b_u64(&b, EF_GGUF_MAX_KEY_LEN + 1);
    for (uint32_t i = 0; i <= EF_GGUF_MAX_KEY_LEN; i++) b_u8(&b, 'k');
    b_u32(&b, EF_GGUF_U8), b_u8(&b, 0);
    expect_bad(&b, EF_ERR_FORMAT, "key length 65536", "limit");
    b_free(&b);
}

static void test_bad_value_types(void **state) {
    (void)state;
    bytes b = {0};
    b_header(&b, 3, 0, 1);
    b_key(&b, "odd.type", 13), b_u32(&b, 0);
    expect_bad(&b, EF_ERR_FORMAT, "odd.type", "unknown value type 13");
    b_free(&b);
    b_header(&b, 3, 0, 1);
    b_key(&b, "odd.elem", EF_GGUF_ARRAY), b_u32(&b, 99), b_u64(&b, 0);
    expect_bad(&b, EF_ERR_FORMAT, "odd.elem", "unknown element type 99");
    b_free(&b);
    /* a scalar cut short at the end of the file */
    b_header(&b, 3, 0, 1);
    b_key(&b, "short.u64", EF_GGUF_U64), b_u32(&b, 0);
    expect_bad(&b, EF_ERR_FORMAT, "short.u64", "truncated");
    b_free(&b);
}

static void test_array_count_overflow(void **state) {
    (void)state;
    bytes b = {0};
    /* 2^61 + 1 u64 items: the byte count overflows 64 bits */
    b_header(&b, 3, 0, 1);
    b_key(&b, "big.arr", EF_GGUF_ARRAY), b_u32(&b, EF_GGUF_U64), b_u64(&b, ((uint64_t)1 << 61) + 1);
    b_u64(&b, 1);
    expect_bad(&b, EF_ERR_FORMAT, "big.arr", "does not fit");
    b_free(&b);
    /* a count that does not overflow but exceeds the bytes left */
    b_header(&b, 3, 0, 1);
    b_key(&b, "short.arr", EF_GGUF_ARRAY), b_u32(&b, EF_GGUF_U32), b_u64(&b, 1000);
    b_u32(&b, 1);
    expect_bad(&b, EF_ERR_FORMAT, "short.arr", "1000 u32 items");
    b_free(&b);
    /* string array count too large for even the length fields */
    b_header(&b, 3, 0, 1);
    b_key(&b, "str.arr", EF_GGUF_ARRAY), b_u32(&b, EF_GGUF_STRING), b_u64(&b, UINT64_MAX / 4);
    b_str(&b, "x");
    expect_bad(&b, EF_ERR_FORMAT, "str.arr", "does not fit");
    b_free(&b);
}

static void test_nested_array_too_deep(void **state) {
    (void)state;
    bytes b = {0};
    b_header(&b, 3, 0, 1); /* [[[1]]] */
    b_key(&b, "deep.arr", EF_GGUF_ARRAY), b_u32(&b, EF_GGUF_ARRAY), b_u64(&b, 1);
    b_u32(&b, EF_GGUF_ARRAY), b_u64(&b, 1);
    b_u32(&b, EF_GGUF_U32), b_u64(&b, 1), b_u32(&b, 1);
    expect_bad(&b, EF_ERR_FORMAT, "deep.arr", "nested deeper");
    b_free(&b);
}

static void test_duplicate_key(void **state) {
    (void)state;
    bytes b = {0};
    b_header(&b, 3, 0, 3);
    b_key(&b, "dup.key", EF_GGUF_U32), b_u32(&b, 1);
    b_key(&b, "other", EF_GGUF_U32), b_u32(&b, 2);
    b_key(&b, "dup.key", EF_GGUF_STRING), b_str(&b, "again");
    expect_bad(&b, EF_ERR_FORMAT, "duplicate key", "dup.key");
    b_free(&b);
}

static void test_bad_alignment(void **state) {
    (void)state;
    bytes b = {0};
    const uint32_t bad[] = {0, 48, 3};
    for (size_t i = 0; i < 3; i++) {
        b_header(&b, 3, 0, 1);
        b_key(&b, "general.alignment", EF_GGUF_U32), b_u32(&b, bad[i]);
        expect_bad(&b, EF_ERR_FORMAT, "general.alignment", "power of two");
        b_free(&b);
    }
    b_header(&b, 3, 0, 1);
    b_key(&b, "general.alignment", EF_GGUF_U64), b_u64(&b, 32);
    expect_bad(&b, EF_ERR_FORMAT, "general.alignment", "must be a u32");
    b_free(&b);
}

/* One tensor "w" with the given shape/type/offset, then `data` bytes. */
static void build_tensor(bytes *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset,
                         size_t data) {
    b_header(b, 3, 1, 0);
    b_tensor_info(b, "w", n_dims, ne, type, offset);
    b_pad(b, 32);
    b_fill(b, data, 0);
}

static void test_bad_n_dims(void **state) {
    (void)state;
    bytes b = {0};
    const uint64_t ne[] = {4, 1, 1, 1, 1};
    build_tensor(&b, 0, ne, EF_TYPE_F32, 0, 64);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "n_dims 0");
    b_free(&b);
    build_tensor(&b, 5, ne, EF_TYPE_F32, 0, 64);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "n_dims 5");
    b_free(&b);
}

static void test_bad_dims(void **state) {
    (void)state;
    bytes b = {0};
    const uint64_t overflow[] = {(uint64_t)1 << 32, (uint64_t)1 << 32};
    build_tensor(&b, 2, overflow, EF_TYPE_F32, 0, 64);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "overflows");
    b_free(&b);
    const uint64_t wraps[] = {(uint64_t)1 << 33, (uint64_t)1 << 33, (uint64_t)1 << 33};
    build_tensor(&b, 3, wraps, EF_TYPE_F32, 0, 64);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "overflows");
    b_free(&b);
    const uint64_t zero[] = {4, 0};
    build_tensor(&b, 2, zero, EF_TYPE_F32, 0, 64);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "dimension 1 has invalid size 0");
    b_free(&b);
    const uint64_t negative[] = {(uint64_t)-4};
    build_tensor(&b, 1, negative, EF_TYPE_F32, 0, 64);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "invalid size");
    b_free(&b);
    /* elements fit in 2^62 but F32 bytes would not: caught by the range check */
    const uint64_t huge[] = {(uint64_t)1 << 61};
    build_tensor(&b, 1, huge, EF_TYPE_F32, 0, 64);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "past the end");
    b_free(&b);
}

static void test_block_multiple(void **state) {
    (void)state;
    bytes b = {0};
    const uint64_t ne[] = {33, 2};
    build_tensor(&b, 2, ne, EF_TYPE_Q8_0, 0, 128);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "not a multiple of the Q8_0 block size 32");
    b_free(&b);
}

static void test_unknown_tensor_type(void **state) {
    (void)state;
    bytes b = {0};
    const uint64_t ne[] = {32};
    build_tensor(&b, 1, ne, 31, 0, 128); /* a removed id */
    expect_bad(&b, EF_ERR_UNSUPPORTED, "'w'", "type id 31");
    b_free(&b);
    build_tensor(&b, 1, ne, 1000, 0, 128);
    expect_bad(&b, EF_ERR_UNSUPPORTED, "'w'", "type id 1000");
    b_free(&b);
}

static void test_offsets(void **state) {
    (void)state;
    bytes b = {0};
    const uint64_t ne[] = {8}; /* 32 bytes of F32 */
    build_tensor(&b, 1, ne, EF_TYPE_F32, 32, 32);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "past the end");
    b_free(&b);
    build_tensor(&b, 1, ne, EF_TYPE_F32, 0, 31);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "past the end");
    b_free(&b);
    build_tensor(&b, 1, ne, EF_TYPE_F32, UINT64_MAX - 31, 32); /* offset + size wraps */
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "past the end");
    b_free(&b);
    build_tensor(&b, 1, ne, EF_TYPE_F32, 4, 64);
    expect_bad(&b, EF_ERR_FORMAT, "'w'", "not a multiple of the alignment 32");
    b_free(&b);
}

static void test_overlap_and_duplicates(void **state) {
    (void)state;
    bytes b = {0};
    const uint64_t ne[] = {16}; /* 64 bytes of F32 */
    b_header(&b, 3, 3, 0);
    b_tensor_info(&b, "first", 1, ne, EF_TYPE_F32, 64);
    b_tensor_info(&b, "second", 1, ne, EF_TYPE_F32, 128);
    b_tensor_info(&b, "third", 1, ne, EF_TYPE_F32, 32); /* runs into "first" */
    b_pad(&b, 32);
    b_fill(&b, 192, 0);
    expect_bad(&b, EF_ERR_FORMAT, "'third' and 'first' overlap", NULL);
    b_free(&b);

    b_header(&b, 3, 2, 0);
    b_tensor_info(&b, "same", 1, ne, EF_TYPE_F32, 0);
    b_tensor_info(&b, "same", 1, ne, EF_TYPE_F32, 64);
    b_pad(&b, 32);
    b_fill(&b, 128, 0);
    expect_bad(&b, EF_ERR_FORMAT, "duplicate tensor name 'same'", NULL);
    b_free(&b);
}

static void test_tensor_name_limits(void **state) {
    (void)state;
    bytes b = {0};
    char name[EF_GGUF_MAX_NAME_LEN + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    const uint64_t ne[] = {8};
    b_header(&b, 3, 1, 0);
    b_tensor_info(&b, name, 1, ne, EF_TYPE_F32, 0);
    b_pad(&b, 32);
    b_fill(&b, 32, 0);
    expect_bad(&b, EF_ERR_FORMAT, "name length 256", "limit");
    b_free(&b);
    b_header(&b, 3, 1, 0);
    b_tensor_info(&b, "", 1, ne, EF_TYPE_F32, 0);
    b_pad(&b, 32);
    b_fill(&b, 32, 0);
    expect_bad(&b, EF_ERR_FORMAT, "empty name", NULL);
    b_free(&b);
}

/* A file written by the library, cut at every length short of its size:
 * each prefix must fail with EF_ERR_FORMAT, and the whole file must open. */
static void test_truncation_everywhere(void **state) {
    (void)state;
    static const float w1[64] = {1.0f};
    static const uint8_t q8[2 * 34] = {7};
    const char *toks[] = {"<s>", "hello", "world"};
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_gguf_writer_set_str(w, "general.architecture", "llama"), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "llama.block_count", 2), EF_OK);
    assert_int_equal(ef_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3), EF_OK);
    const int32_t types[] = {1, 1, 3};
    assert_int_equal(ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, types, 3), EF_OK);
    const int64_t ne1[] = {16, 4}, ne2[] = {64};
    assert_int_equal(ef_gguf_writer_add_tensor(w, "w1", EF_TYPE_F32, 2, ne1, w1, sizeof w1), EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor(w, "w2", EF_TYPE_Q8_0, 1, ne2, q8, sizeof q8), EF_OK);
    assert_int_equal(ef_gguf_writer_write(w, TMP("trunc.gguf")), EF_OK);
    ef_gguf_writer_free(w);

    bytes b = {0};
    size_t size = 0;
    b.p = read_whole(TMP("trunc.gguf"), &size);
    assert_non_null(b.p);
    b.n = b.cap = size;
    for (size_t len = 0; len < size; len++) expect_bad_n(&b, len, EF_ERR_FORMAT, NULL, NULL);

    /* the same through files, mapped and read (an empty file included) */
    const size_t cuts[] = {0, 3, 23, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *f = fopen(TMP("cut.gguf"), "wb");
        assert_non_null(f);
        if (cuts[i]) assert_int_equal(fwrite(b.p, 1, cuts[i], f), cuts[i]);
        fclose(f);
        for (int use_mmap = 0; use_mmap <= 1; use_mmap++) {
            ef_gguf *g = NULL;
            assert_int_equal(ef_gguf_open(TMP("cut.gguf"), use_mmap, &g), EF_ERR_FORMAT);
            assert_null(g);
            assert_non_null(strstr(ef_err_msg(), "cut.gguf"));
        }
    }

    ef_gguf *g = NULL;
    uint8_t *exact = malloc(size);
    assert_non_null(exact);
    memcpy(exact, b.p, size);
    assert_int_equal(ef_gguf_open_memory(exact, size, &g), EF_OK);
    assert_int_equal(ef_gguf_n_tensors(g), 2);
    ef_gguf_close(g);
    free(exact);
    b_free(&b);
}

static void test_missing_file(void **state) {
    (void)state;
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(TMP("does-not-exist.gguf"), 1, &g), EF_ERR_IO);
    assert_null(g);
    assert_non_null(strstr(ef_err_msg(), "does-not-exist.gguf"));
    assert_int_equal(ef_gguf_open(NULL, 1, &g), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_gguf_open_memory(NULL, 10, &g), EF_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_image_opens),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_huge_string_lengths),
        cmocka_unit_test(test_key_limits),
        cmocka_unit_test(test_bad_value_types),
        cmocka_unit_test(test_array_count_overflow),
        cmocka_unit_test(test_nested_array_too_deep),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_bad_n_dims),
        cmocka_unit_test(test_bad_dims),
        cmocka_unit_test(test_block_multiple),
        cmocka_unit_test(test_unknown_tensor_type),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_overlap_and_duplicates),
        cmocka_unit_test(test_tensor_name_limits),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_missing_file),
        /* after all of the above, a good image still opens */
        cmocka_unit_test(test_good_image_opens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
