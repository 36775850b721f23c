/* GGUF writer -> reader round trips: every metadata type, arrays, string
 * arrays, F32/F16/BF16/Q8_0 tensors, alignments 32 and 64, mmap on and off;
 * copy_kv of every value type; the typed getters' conversion rules; and
 * kv_to_string's formatting and two-call pattern. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/fp16.h"
#include "format/gguf.h"
#include "quant/types.h"
#include "gguf_test_util.h"

#define TMP(name) EF_TEST_TMP "/gguf_rt_" name

/* ---- tensors used by the writer round trip ---- */
static float t_f32[3][4];        /* ne {4, 3} */
static uint16_t t_f16[8];        /* ne {8} */
static uint16_t t_bf16[2][2];    /* ne {2, 2} */
static uint8_t t_q8[2 * 2 * 34]; /* ne {64, 2}: 2 rows of 2 Q8_0 blocks */

static void fill_tensors(void) {
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) t_f32[r][c] = (float)(r * 4 + c) * 0.5f - 1.0f;
    for (int i = 0; i < 8; i++) t_f16[i] = ef_f32_to_f16((float)i - 3.5f);
    for (int i = 0; i < 4; i++) t_bf16[i / 2][i % 2] = (uint16_t)(ef_f32_bits((float)(i + 1) * 0.25f) >> 16);
    for (size_t i = 0; i < sizeof t_q8; i++) t_q8[i] = (uint8_t)(i * 13 + 5);
}

/* ---- metadata used by the writer round trip ---- */
static const uint8_t a_u8[] = {0, 7, 255};
static const int8_t a_i8[] = {-128, 0, 127};
static const uint16_t a_u16[] = {1, 65535};
static const int16_t a_i16[] = {-32768, 12, 32767};
static const uint32_t a_u32[] = {1, 2, 3, 4000000000u};
static const int32_t a_i32[] = {-5, 0, 5};
static const float a_f32[] = {0.25f, -1.5f, 3e10f};
static const uint8_t a_bool[] = {1, 0, 1};
static const uint64_t a_u64[] = {0, UINT64_MAX};
static const int64_t a_i64[] = {INT64_MIN, -1, INT64_MAX};
static const double a_f64[] = {0.1, -2.5e300};
static const char *const s_items[] = {"hello", "", "w\xc3\xb6rld", "a\0b"};
static const uint64_t s_lens[] = {5, 0, 6, 3};
static const char *const s_plain[] = {"<s>", "</s>", "<unk>"};

static const struct {
    const char *key;
    uint32_t elem;
    const void *data;
    uint64_t n, elem_size;
} k_arrays[] = {
    {"arr.u8", EF_GGUF_U8, a_u8, 3, 1},       {"arr.i8", EF_GGUF_I8, a_i8, 3, 1},
    {"arr.u16", EF_GGUF_U16, a_u16, 2, 2},    {"arr.i16", EF_GGUF_I16, a_i16, 3, 2},
    {"arr.u32", EF_GGUF_U32, a_u32, 4, 4},    {"arr.i32", EF_GGUF_I32, a_i32, 3, 4},
    {"arr.f32", EF_GGUF_F32, a_f32, 3, 4},    {"arr.bool", EF_GGUF_BOOL, a_bool, 3, 1},
    {"arr.u64", EF_GGUF_U64, a_u64, 2, 8},    {"arr.i64", EF_GGUF_I64, a_i64, 3, 8},
    {"arr.f64", EF_GGUF_F64, a_f64, 2, 8},    {"arr.empty", EF_GGUF_U32, NULL, 0, 4},
};
#define N_ARRAYS (sizeof k_arrays / sizeof k_arrays[0])

static void write_model(const char *path, uint32_t alignment) {
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_gguf_writer_set_str(w, "general.architecture", "llama"), EF_OK);
    if (alignment) assert_int_equal(ef_gguf_writer_set_u32(w, "general.alignment", alignment), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "test.u32", 1), EF_OK);
    assert_int_equal(ef_gguf_writer_set_i32(w, "test.i32", -123456), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u64(w, "test.u64", 0x123456789abcdefull), EF_OK);
    assert_int_equal(ef_gguf_writer_set_f32(w, "test.f32", 1e-5f), EF_OK);
    assert_int_equal(ef_gguf_writer_set_bool(w, "test.true", 7), EF_OK);
    assert_int_equal(ef_gguf_writer_set_bool(w, "test.false", 0), EF_OK);
    assert_int_equal(ef_gguf_writer_set_str(w, "test.removed", "gone"), EF_OK);
    for (size_t i = 0; i < N_ARRAYS; i++)
        assert_int_equal(ef_gguf_writer_set_arr(w, k_arrays[i].key, k_arrays[i].elem, k_arrays[i].data,
                                                k_arrays[i].n), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr_str(w, "arr.str", s_items, s_lens, 4), EF_OK);
    assert_int_equal(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", s_plain, NULL, 3), EF_OK);
    /* replacing keeps the key's place (and may change its type); removing drops it */
    assert_int_equal(ef_gguf_writer_set_u32(w, "test.u32", 42), EF_OK);
    ef_gguf_writer_remove(w, "test.removed");
    ef_gguf_writer_remove(w, "test.never-set");

    const int64_t ne_f32[] = {4, 3}, ne_f16[] = {8}, ne_bf16[] = {2, 2}, ne_q8[] = {64, 2};
    assert_int_equal(ef_gguf_writer_add_tensor(w, "t.f32", EF_TYPE_F32, 2, ne_f32, t_f32, sizeof t_f32), EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor(w, "t.f16", EF_TYPE_F16, 1, ne_f16, t_f16, sizeof t_f16), EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor(w, "t.bf16", EF_TYPE_BF16, 2, ne_bf16, t_bf16, sizeof t_bf16),
                     EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor(w, "t.q8_0", EF_TYPE_Q8_0, 2, ne_q8, t_q8, sizeof t_q8), EF_OK);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_OK);
    ef_gguf_writer_free(w);
}

static void check_tensor(const ef_gguf *g, int64_t idx, const char *name, uint32_t type, uint32_t n_dims,
                         const int64_t *ne, const void *data, uint64_t nbytes, uint32_t align) {
    const ef_gguf_tensor *t = ef_gguf_tensor_at(g, idx);
    assert_non_null(t);
    assert_ptr_equal(ef_gguf_find_tensor(g, name), t);
    assert_string_equal(t->name, name);
    assert_int_equal(t->type, type);
    assert_int_equal(t->n_dims, n_dims);
    for (uint32_t d = 0; d < 4; d++) assert_int_equal(t->ne[d], d < n_dims ? ne[d] : 1);
    assert_int_equal(t->nbytes, nbytes);
    assert_int_equal(t->offset % align, 0);
    /* mapped pages and the reader's buffer are both at least 64-byte aligned */
    assert_int_equal((uintptr_t)t->data % align, 0);
    assert_memory_equal(t->data, data, nbytes);
}

static void check_model(const char *path, int use_mmap, uint32_t align) {
    ef_gguf *g = NULL;
    ef_status st = ef_gguf_open(path, use_mmap, &g);
    if (st != EF_OK) fail_msg("open: %s", ef_err_msg());
    assert_int_equal(ef_gguf_version(g), 3);
    assert_int_equal(ef_gguf_alignment(g), align);
    size_t fsize = 0;
    uint8_t *whole = read_whole(path, &fsize);
    assert_non_null(whole);
    assert_int_equal(ef_gguf_file_size(g), fsize);
    free(whole);

    /* insertion order, with the replaced key in its first place and the removed one gone */
    int64_t base = align == 32 ? 0 : 1; /* general.alignment was set second when given */
    assert_string_equal(ef_gguf_key(g, 0), "general.architecture");
    assert_string_equal(ef_gguf_key(g, base + 1), "test.u32");
    assert_string_equal(ef_gguf_key(g, base + 2), "test.i32");
    assert_int_equal(ef_gguf_n_kv(g), base + 1 + 6 + N_ARRAYS + 2);
    assert_int_equal(ef_gguf_find_key(g, "test.removed"), -1);
    assert_null(ef_gguf_key(g, ef_gguf_n_kv(g)));
    assert_null(ef_gguf_key(g, -1));
    assert_int_equal(ef_gguf_kv_type(g, ef_gguf_find_key(g, "test.u32")), EF_GGUF_U32);
    assert_int_equal(ef_gguf_kv_type(g, ef_gguf_find_key(g, "test.f32")), EF_GGUF_F32);
    assert_int_equal(ef_gguf_kv_type(g, ef_gguf_find_key(g, "arr.str")), EF_GGUF_ARRAY);
    for (int64_t i = 0; i < ef_gguf_n_kv(g); i++)
        assert_int_equal(ef_gguf_find_key(g, ef_gguf_key(g, i)), i);

    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    int b;
    const char *s;
    uint64_t len;
    assert_int_equal(ef_gguf_get_u32(g, "test.u32", &u32), EF_OK);
    assert_int_equal(u32, 42);
    assert_int_equal(ef_gguf_get_i32(g, "test.i32", &i32), EF_OK);
    assert_int_equal(i32, -123456);
    assert_int_equal(ef_gguf_get_u64(g, "test.u64", &u64), EF_OK);
    assert_true(u64 == 0x123456789abcdefull);
    assert_int_equal(ef_gguf_get_f32(g, "test.f32", &f32), EF_OK);
    assert_true(f32 == 1e-5f);
    assert_int_equal(ef_gguf_get_bool(g, "test.true", &b), EF_OK);
    assert_int_equal(b, 1);
    assert_int_equal(ef_gguf_get_bool(g, "test.false", &b), EF_OK);
    assert_int_equal(b, 0);
    assert_int_equal(ef_gguf_get_str(g, "general.architecture", &s, &len), EF_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "llama", 5);

    for (size_t i = 0; i < N_ARRAYS; i++) {
        uint32_t et;
        uint64_t n;
        const void *data;
        assert_int_equal(ef_gguf_get_arr(g, k_arrays[i].key, &et, &n), EF_OK);
        assert_int_equal(et, k_arrays[i].elem);
        assert_int_equal(n, k_arrays[i].n);
        assert_int_equal(ef_gguf_get_arr_data(g, k_arrays[i].key, &data), EF_OK);
        if (n) assert_memory_equal(data, k_arrays[i].data, n * k_arrays[i].elem_size);
    }
    uint32_t et;
    uint64_t n;
    assert_int_equal(ef_gguf_get_arr(g, "arr.str", &et, &n), EF_OK);
    assert_int_equal(et, EF_GGUF_STRING);
    assert_int_equal(n, 4);
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(ef_gguf_get_arr_str(g, "arr.str", i, &s, &len), EF_OK);
        assert_int_equal(len, s_lens[i]);
        if (len) assert_memory_equal(s, s_items[i], len);
    }
    assert_int_equal(ef_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n), EF_OK);
    assert_int_equal(n, 3);
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(ef_gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len), EF_OK);
        assert_int_equal(len, strlen(s_plain[i]));
        assert_memory_equal(s, s_plain[i], len);
    }

    assert_int_equal(ef_gguf_n_tensors(g), 4);
    const int64_t ne_f32[] = {4, 3}, ne_f16[] = {8}, ne_bf16[] = {2, 2}, ne_q8[] = {64, 2};
    check_tensor(g, 0, "t.f32", EF_TYPE_F32, 2, ne_f32, t_f32, sizeof t_f32, align);
    check_tensor(g, 1, "t.f16", EF_TYPE_F16, 1, ne_f16, t_f16, sizeof t_f16, align);
    check_tensor(g, 2, "t.bf16", EF_TYPE_BF16, 2, ne_bf16, t_bf16, sizeof t_bf16, align);
    check_tensor(g, 3, "t.q8_0", EF_TYPE_Q8_0, 2, ne_q8, t_q8, sizeof t_q8, align);
    assert_null(ef_gguf_find_tensor(g, "t.missing"));
    assert_null(ef_gguf_tensor_at(g, 4));

    /* the element values decode as written */
    float tmp[8];
    ef_type_get(EF_TYPE_F16)->to_float(ef_gguf_find_tensor(g, "t.f16")->data, tmp, 8);
    for (int i = 0; i < 8; i++) assert_true(tmp[i] == (float)i - 3.5f);
    ef_type_get(EF_TYPE_BF16)->to_float(ef_gguf_find_tensor(g, "t.bf16")->data, tmp, 4);
    for (int i = 0; i < 4; i++) assert_true(tmp[i] == (float)(i + 1) * 0.25f);
    ef_gguf_close(g);
}

static void test_roundtrip_align32(void **state) {
    (void)state;
    fill_tensors();
    write_model(TMP("a32.gguf"), 0);
    check_model(TMP("a32.gguf"), 1, 32);
    check_model(TMP("a32.gguf"), 0, 32);
}

static void test_roundtrip_align64(void **state) {
    (void)state;
    fill_tensors();
    write_model(TMP("a64.gguf"), 64);
    check_model(TMP("a64.gguf"), 1, 64);
    check_model(TMP("a64.gguf"), 0, 64);
}

/* A written file is also readable by the opener that takes memory. */
static void test_roundtrip_memory(void **state) {
    (void)state;
    fill_tensors();
    write_model(TMP("mem.gguf"), 0);
    size_t size = 0;
    uint8_t *img = read_whole(TMP("mem.gguf"), &size);
    assert_non_null(img);
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open_memory(img, size, &g), EF_OK);
    assert_int_equal(ef_gguf_n_tensors(g), 4);
    assert_memory_equal(ef_gguf_find_tensor(g, "t.q8_0")->data, t_q8, sizeof t_q8);
    ef_gguf_close(g);
    free(img);
}

/* ---- every value type, built by hand ---- */

/* A tensor-less image holding one entry of each value type, nested arrays
 * included, in the exact layout the writer produces. */
static void build_all_types(bytes *b) {
    b_header(b, 3, 0, 21);
    b_key(b, "v.u8", EF_GGUF_U8), b_u8(b, 200);
    b_key(b, "v.i8", EF_GGUF_I8), b_u8(b, (uint8_t)-5);
    b_key(b, "v.u16", EF_GGUF_U16), b_u16(b, 65000);
    b_key(b, "v.i16", EF_GGUF_I16), b_u16(b, (uint16_t)-300);
    b_key(b, "v.u32", EF_GGUF_U32), b_u32(b, 4000000000u);
    b_key(b, "v.i32", EF_GGUF_I32), b_u32(b, (uint32_t)-7);
    b_key(b, "v.f32", EF_GGUF_F32), b_f32(b, 0.1f);
    b_key(b, "v.bool", EF_GGUF_BOOL), b_u8(b, 1);
    b_key(b, "v.str", EF_GGUF_STRING), b_str(b, "hello world");
    b_key(b, "v.u64", EF_GGUF_U64), b_u64(b, UINT64_MAX);
    b_key(b, "v.i64", EF_GGUF_I64), b_u64(b, (uint64_t)INT64_MIN);
    b_key(b, "v.f64", EF_GGUF_F64), b_f64(b, 0.1);
    b_key(b, "a.u32", EF_GGUF_ARRAY), b_u32(b, EF_GGUF_U32), b_u64(b, 3);
    for (uint32_t i = 1; i <= 3; i++) b_u32(b, i);
    b_key(b, "a.i32x10", EF_GGUF_ARRAY), b_u32(b, EF_GGUF_I32), b_u64(b, 10);
    for (uint32_t i = 0; i < 10; i++) b_u32(b, i);
    b_key(b, "a.str", EF_GGUF_ARRAY), b_u32(b, EF_GGUF_STRING), b_u64(b, 2);
    b_str(b, "a"), b_str(b, "b");
    b_key(b, "a.nested", EF_GGUF_ARRAY), b_u32(b, EF_GGUF_ARRAY), b_u64(b, 2); /* [[1, 2], [3]] */
    b_u32(b, EF_GGUF_U32), b_u64(b, 2), b_u32(b, 1), b_u32(b, 2);
    b_u32(b, EF_GGUF_U32), b_u64(b, 1), b_u32(b, 3);
    b_key(b, "a.nested_str", EF_GGUF_ARRAY), b_u32(b, EF_GGUF_ARRAY), b_u64(b, 2); /* [[x, yz], []] */
    b_u32(b, EF_GGUF_STRING), b_u64(b, 2), b_str(b, "x"), b_str(b, "yz");
    b_u32(b, EF_GGUF_STRING), b_u64(b, 0);
    b_key(b, "a.empty", EF_GGUF_ARRAY), b_u32(b, EF_GGUF_F32), b_u64(b, 0);
    b_key(b, "a.bool", EF_GGUF_ARRAY), b_u32(b, EF_GGUF_BOOL), b_u64(b, 2), b_u8(b, 0), b_u8(b, 1);
    b_key(b, "v.f32big", EF_GGUF_F32), b_f32(b, 1e30f);
    b_key(b, "v.f64big", EF_GGUF_F64), b_f64(b, 1e300);
}

static const struct {
    const char *key, *text;
} k_texts[] = {
    {"v.u8", "200"},
    {"v.i8", "-5"},
    {"v.u16", "65000"},
    {"v.i16", "-300"},
    {"v.u32", "4000000000"},
    {"v.i32", "-7"},
    {"v.f32", "0.1"},
    {"v.bool", "true"},
    {"v.str", "hello world"},
    {"v.u64", "18446744073709551615"},
    {"v.i64", "-9223372036854775808"},
    {"v.f64", "0.1"},
    {"a.u32", "[1, 2, 3]"},
    {"a.i32x10", "[0, 1, 2, 3, 4, 5, 6, 7, ..., (10 items)]"},
    {"a.str", "[a, b]"},
    {"a.nested", "[[1, 2], [3]]"},
    {"a.nested_str", "[[x, yz], []]"},
    {"a.empty", "[]"},
    {"a.bool", "[false, true]"},
    {"v.f32big", "1e+30"},
    {"v.f64big", "1e+300"},
};

static void test_kv_to_string(void **state) {
    (void)state;
    bytes b = {0};
    build_all_types(&b);
    ef_gguf *g = NULL;
    ef_status st = ef_gguf_open_memory(b.p, b.n, &g);
    if (st != EF_OK) fail_msg("open: %s", ef_err_msg());
    assert_int_equal(ef_gguf_n_kv(g), sizeof k_texts / sizeof k_texts[0]);
    for (size_t i = 0; i < sizeof k_texts / sizeof k_texts[0]; i++) {
        int64_t idx = ef_gguf_find_key(g, k_texts[i].key);
        assert_int_equal(idx, (int64_t)i);
        char buf[128];
        size_t needed = 0;
        assert_int_equal(ef_gguf_kv_to_string(g, idx, buf, sizeof buf, &needed), EF_OK);
        assert_string_equal(buf, k_texts[i].text);
        assert_int_equal(needed, strlen(k_texts[i].text) + 1);
    }
    /* two-call pattern: size query, too small (buffer untouched), exact fit */
    int64_t idx = ef_gguf_find_key(g, "v.str");
    size_t needed = 0;
    assert_int_equal(ef_gguf_kv_to_string(g, idx, NULL, 0, &needed), EF_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(needed, 12);
    char small[11];
    memset(small, 'Z', sizeof small);
    assert_int_equal(ef_gguf_kv_to_string(g, idx, small, sizeof small, &needed), EF_ERR_BUFFER_TOO_SMALL);
    assert_non_null(strstr(ef_err_msg(), "v.str"));
    for (size_t i = 0; i < sizeof small; i++) assert_int_equal(small[i], 'Z');
    char exact[12];
    assert_int_equal(ef_gguf_kv_to_string(g, idx, exact, sizeof exact, &needed), EF_OK);
    assert_string_equal(exact, "hello world");
    assert_int_equal(ef_gguf_kv_to_string(g, 99, exact, sizeof exact, &needed), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_gguf_kv_to_string(g, -1, exact, sizeof exact, &needed), EF_ERR_INVALID_ARG);
    ef_gguf_close(g);
    b_free(&b);
}

static void test_getters(void **state) {
    (void)state;
    bytes b = {0};
    build_all_types(&b);
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open_memory(b.p, b.n, &g), EF_OK);
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    float f = 0;
    int bl = 0;

    /* integer getters take every integer type whose value fits */
    assert_int_equal(ef_gguf_get_u32(g, "v.u8", &u32), EF_OK);
    assert_int_equal(u32, 200);
    assert_int_equal(ef_gguf_get_u32(g, "v.u16", &u32), EF_OK);
    assert_int_equal(u32, 65000);
    assert_int_equal(ef_gguf_get_u32(g, "v.u32", &u32), EF_OK);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(ef_gguf_get_i32(g, "v.i8", &i32), EF_OK);
    assert_int_equal(i32, -5);
    assert_int_equal(ef_gguf_get_i32(g, "v.i16", &i32), EF_OK);
    assert_int_equal(i32, -300);
    assert_int_equal(ef_gguf_get_i32(g, "v.u16", &i32), EF_OK);
    assert_int_equal(i32, 65000);
    assert_int_equal(ef_gguf_get_u64(g, "v.u64", &u64), EF_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(ef_gguf_get_u64(g, "v.u8", &u64), EF_OK);
    assert_int_equal(u64, 200);

    /* values that do not fit, and types that are not integers */
    u32 = 77;
    assert_int_equal(ef_gguf_get_u32(g, "v.i8", &u32), EF_ERR_FORMAT);
    assert_non_null(strstr(ef_err_msg(), "v.i8"));
    assert_int_equal(u32, 77); /* untouched on failure */
    assert_int_equal(ef_gguf_get_u32(g, "v.u64", &u32), EF_ERR_FORMAT);
    assert_non_null(strstr(ef_err_msg(), "does not fit"));
    assert_int_equal(ef_gguf_get_i32(g, "v.u32", &i32), EF_ERR_FORMAT);
    assert_int_equal(ef_gguf_get_i32(g, "v.i64", &i32), EF_ERR_FORMAT);
    assert_int_equal(ef_gguf_get_u64(g, "v.i64", &u64), EF_ERR_FORMAT);
    assert_int_equal(ef_gguf_get_u32(g, "v.f32", &u32), EF_ERR_FORMAT);
    assert_non_null(strstr(ef_err_msg(), "f32"));
    assert_int_equal(ef_gguf_get_u32(g, "v.bool", &u32), EF_ERR_FORMAT);
    assert_int_equal(ef_gguf_get_u32(g, "v.str", &u32), EF_ERR_FORMAT);
    assert_int_equal(ef_gguf_get_u32(g, "a.u32", &u32), EF_ERR_FORMAT);

    /* floats: F32 and F64 */
    assert_int_equal(ef_gguf_get_f32(g, "v.f32", &f), EF_OK);
    assert_true(f == 0.1f);
    assert_int_equal(ef_gguf_get_f32(g, "v.f64", &f), EF_OK);
    assert_true(f == (float)0.1);
    assert_int_equal(ef_gguf_get_f32(g, "v.f64big", &f), EF_ERR_FORMAT); /* beyond the f32 range */
    assert_int_equal(ef_gguf_get_f32(g, "v.u32", &f), EF_ERR_FORMAT);

    /* bool only from BOOL */
    assert_int_equal(ef_gguf_get_bool(g, "v.bool", &bl), EF_OK);
    assert_int_equal(bl, 1);
    assert_int_equal(ef_gguf_get_bool(g, "v.u8", &bl), EF_ERR_FORMAT);

    /* strings */
    const char *s;
    uint64_t len;
    assert_int_equal(ef_gguf_get_str(g, "v.str", &s, &len), EF_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(s, "hello world", 11);
    assert_int_equal(ef_gguf_get_str(g, "v.u32", &s, &len), EF_ERR_FORMAT);
    assert_non_null(strstr(ef_err_msg(), "v.u32"));

    /* arrays */
    uint32_t et;
    uint64_t n;
    const void *data;
    assert_int_equal(ef_gguf_get_arr(g, "a.nested", &et, &n), EF_OK);
    assert_int_equal(et, EF_GGUF_ARRAY);
    assert_int_equal(n, 2);
    assert_int_equal(ef_gguf_get_arr_data(g, "a.nested", &data), EF_ERR_FORMAT);
    assert_int_equal(ef_gguf_get_arr_data(g, "a.str", &data), EF_ERR_FORMAT);
    assert_int_equal(ef_gguf_get_arr_data(g, "a.u32", &data), EF_OK);
    uint32_t third;
    memcpy(&third, (const uint8_t *)data + 8, 4);
    assert_int_equal(third, 3);
    assert_int_equal(ef_gguf_get_arr_str(g, "a.str", 1, &s, &len), EF_OK);
    assert_int_equal(len, 1);
    assert_memory_equal(s, "b", 1);
    assert_int_equal(ef_gguf_get_arr_str(g, "a.str", 2, &s, &len), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_err_msg(), "out of range"));
    assert_int_equal(ef_gguf_get_arr_str(g, "a.u32", 0, &s, &len), EF_ERR_FORMAT);
    assert_int_equal(ef_gguf_get_arr(g, "v.str", &et, &n), EF_ERR_FORMAT);

    /* absent keys */
    assert_int_equal(ef_gguf_get_u32(g, "no.such.key", &u32), EF_ERR_NOT_FOUND);
    assert_non_null(strstr(ef_err_msg(), "no.such.key"));
    assert_int_equal(ef_gguf_get_str(g, "missing.str", &s, &len), EF_ERR_NOT_FOUND);
    assert_non_null(strstr(ef_err_msg(), "missing.str"));
    assert_int_equal(ef_gguf_get_arr(g, "missing.arr", &et, &n), EF_ERR_NOT_FOUND);
    assert_int_equal(ef_gguf_find_key(g, "no.such.key"), -1);
    ef_gguf_close(g);
    b_free(&b);
}

/* copy_kv copies every value type verbatim: copying all entries of the
 * hand-built image into a writer reproduces the image byte for byte. */
static void test_copy_kv_all_types(void **state) {
    (void)state;
    bytes b = {0};
    build_all_types(&b);
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open_memory(b.p, b.n, &g), EF_OK);
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_kv(g); i++) assert_int_equal(ef_gguf_writer_copy_kv(w, g, i), EF_OK);
    assert_int_equal(ef_gguf_writer_copy_kv(w, g, ef_gguf_n_kv(g)), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_gguf_writer_write(w, TMP("copy.gguf")), EF_OK);
    ef_gguf_writer_free(w);
    ef_gguf_close(g);

    size_t size = 0;
    uint8_t *img = read_whole(TMP("copy.gguf"), &size);
    assert_non_null(img);
    assert_int_equal(size, b.n);
    assert_memory_equal(img, b.p, b.n);
    free(img);
    b_free(&b);
}

/* Version 2 files share v3's layout and are accepted. */
static void test_version2(void **state) {
    (void)state;
    bytes b = {0};
    b_header(&b, 2, 1, 1);
    b_key(&b, "k", EF_GGUF_U32), b_u32(&b, 9);
    const uint64_t ne[] = {8};
    b_tensor_info(&b, "w", 1, ne, EF_TYPE_F32, 0);
    b_pad(&b, 32);
    b_fill(&b, 32, 1);
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open_memory(b.p, b.n, &g), EF_OK);
    assert_int_equal(ef_gguf_version(g), 2);
    assert_int_equal(ef_gguf_find_tensor(g, "w")->nbytes, 32);
    ef_gguf_close(g);
    b_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_align32), cmocka_unit_test(test_roundtrip_align64),
        cmocka_unit_test(test_roundtrip_memory),  cmocka_unit_test(test_kv_to_string),
        cmocka_unit_test(test_getters),           cmocka_unit_test(test_copy_kv_all_types),
        cmocka_unit_test(test_version2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
