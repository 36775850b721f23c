/* GGUF writer failures and allocation-failure injection for the reader and
 * writer: a failed write returns a clear status and leaves no file (neither
 * the target nor the temporary), and every failed allocation is reported as
 * EF_ERR_NO_MEMORY without leaking. */
#define _POSIX_C_SOURCE 200809L /* getpid, mkdir */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/gguf.h"
#include "quant/types.h"
#include "gguf_test_util.h"

#define TMP(name) EF_TEST_TMP "/gguf_wr_" name

static void tmp_name_of(const char *path, char *out, size_t cap) {
    snprintf(out, cap, "%s.tmp.%ld", path, (long)getpid());
}

static void test_missing_directory(void **state) {
    (void)state;
    const char *path = TMP("no-such-dir/model.gguf");
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "a", 1), EF_OK);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_ERR_IO);
    assert_non_null(strstr(ef_err_msg(), "no-such-dir"));
    assert_false(file_exists(path));
    char tmp[512];
    tmp_name_of(path, tmp, sizeof tmp);
    assert_false(file_exists(tmp));
    ef_gguf_writer_free(w);
}

/* Produced tensors: the bytes come from the fill function at write time. */
static ef_status fill_ramp(void *user, const char *name, void *dst, uint64_t nbytes) {
    int *calls = user;
    (*calls)++;
    (void)name;
    float *f = dst;
    for (uint64_t i = 0; i < nbytes / sizeof(float); i++) f[i] = (float)i * 0.5f;
    return EF_OK;
}

static ef_status fill_fails(void *user, const char *name, void *dst, uint64_t nbytes) {
    (void)user; (void)dst; (void)nbytes;
    return ef_err(EF_ERR_UNSUPPORTED, "producer for '%s' gave up", name);
}

static void test_fill_tensors(void **state) {
    (void)state;
    const char *path = TMP("filled.gguf");
    int calls = 0;
    float direct[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t ne_a[2] = {4, 3}, ne_b[1] = {8};
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor_fill(w, "a", EF_TYPE_F32, 2, ne_a, 48, fill_ramp, &calls), EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor(w, "b", EF_TYPE_F32, 1, ne_b, direct, sizeof direct), EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor_fill(w, "c", EF_TYPE_F32, 2, ne_a, 40, fill_ramp, &calls),
                     EF_ERR_INVALID_ARG); /* size must match the shape */
    assert_int_equal(ef_gguf_writer_add_tensor_fill(w, "d", EF_TYPE_F32, 2, ne_a, 48, NULL, NULL),
                     EF_ERR_INVALID_ARG);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_OK);
    assert_int_equal(calls, 1);
    ef_gguf_writer_free(w);

    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(path, 1, &g), EF_OK);
    const ef_gguf_tensor *a = ef_gguf_find_tensor(g, "a"), *b = ef_gguf_find_tensor(g, "b");
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 12; i++) {
        float v;
        memcpy(&v, (const char *)a->data + 4 * i, 4);
        assert_true(v == (float)i * 0.5f);
    }
    assert_memory_equal(b->data, direct, sizeof direct);
    ef_gguf_close(g);

    /* a failing producer aborts the write: its status, no file */
    const char *path2 = TMP("filled-fails.gguf");
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor_fill(w, "bad", EF_TYPE_F32, 2, ne_a, 48, fill_fails, NULL), EF_OK);
    assert_int_equal(ef_gguf_writer_write(w, path2), EF_ERR_UNSUPPORTED);
    assert_non_null(strstr(ef_err_msg(), "gave up"));
    assert_false(file_exists(path2));
    char tmp[512];
    tmp_name_of(path2, tmp, sizeof tmp);
    assert_false(file_exists(tmp));
    ef_gguf_writer_free(w);
}

/* The rename fails when the target is a directory: the temp file is removed. */
static void test_rename_failure_cleans_up(void **state) {
    (void)state;
    const char *path = TMP("target-is-a-dir");
    mkdir(path, 0755);
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    static const float data[32];
    const int64_t ne[] = {32};
    assert_int_equal(ef_gguf_writer_add_tensor(w, "t", EF_TYPE_F32, 1, ne, data, sizeof data), EF_OK);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_ERR_IO);
    assert_non_null(strstr(ef_err_msg(), "rename"));
    char tmp[512];
    tmp_name_of(path, tmp, sizeof tmp);
    assert_false(file_exists(tmp));
    ef_gguf_writer_free(w);
}

static void test_replaces_existing_file(void **state) {
    (void)state;
    const char *path = TMP("replace.gguf");
    for (uint32_t v = 1; v <= 2; v++) {
        ef_gguf_writer *w = NULL;
        assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
        assert_int_equal(ef_gguf_writer_set_u32(w, "version.marker", v), EF_OK);
        assert_int_equal(ef_gguf_writer_write(w, path), EF_OK);
        ef_gguf_writer_free(w);
    }
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(path, 1, &g), EF_OK);
    uint32_t v = 0;
    assert_int_equal(ef_gguf_get_u32(g, "version.marker", &v), EF_OK);
    assert_int_equal(v, 2);
    assert_int_equal(ef_gguf_n_tensors(g), 0);
    ef_gguf_close(g);
}

static void test_rejects_bad_tensors(void **state) {
    (void)state;
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    static const uint8_t data[4096];
    const int64_t ne[] = {64, 2};
    /* nbytes must match the shape: 64x2 F32 is 512 bytes, Q8_0 is 136 */
    assert_int_equal(ef_gguf_writer_add_tensor(w, "wrong.size", EF_TYPE_F32, 2, ne, data, 256),
                     EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_err_msg(), "wrong.size"));
    assert_non_null(strstr(ef_err_msg(), "512"));
    assert_int_equal(ef_gguf_writer_add_tensor(w, "wrong.q8", EF_TYPE_Q8_0, 2, ne, data, 512),
                     EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_err_msg(), "136"));
    const int64_t odd[] = {33};
    assert_int_equal(ef_gguf_writer_add_tensor(w, "odd", EF_TYPE_Q8_0, 1, odd, data, 34), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_err_msg(), "block size"));
    assert_int_equal(ef_gguf_writer_add_tensor(w, "bad.type", 31, 2, ne, data, 512), EF_ERR_UNSUPPORTED);
    assert_non_null(strstr(ef_err_msg(), "bad.type"));
    assert_int_equal(ef_gguf_writer_add_tensor(w, "bad.dims", EF_TYPE_F32, 5, ne, data, 512),
                     EF_ERR_INVALID_ARG);
    const int64_t zero[] = {64, 0};
    assert_int_equal(ef_gguf_writer_add_tensor(w, "zero", EF_TYPE_F32, 2, zero, data, 0), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_gguf_writer_add_tensor(w, "", EF_TYPE_F32, 2, ne, data, 512), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_gguf_writer_add_tensor(w, "ok", EF_TYPE_F32, 2, ne, data, 512), EF_OK);
    assert_int_equal(ef_gguf_writer_add_tensor(w, "ok", EF_TYPE_F32, 2, ne, data, 512), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_err_msg(), "duplicate"));
    /* metadata argument checks */
    assert_int_equal(ef_gguf_writer_set_arr(w, "a", EF_GGUF_STRING, data, 1), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_gguf_writer_set_u32(w, "", 1), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_gguf_writer_set_str(w, "s", NULL), EF_ERR_INVALID_ARG);
    ef_gguf_writer_free(w);
}

static void test_rejects_bad_alignment(void **state) {
    (void)state;
    const char *path = TMP("bad-align.gguf");
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_gguf_writer_set_u32(w, "general.alignment", 48), EF_OK);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_ERR_INVALID_ARG);
    assert_non_null(strstr(ef_err_msg(), "general.alignment"));
    assert_false(file_exists(path));
    assert_int_equal(ef_gguf_writer_set_u64(w, "general.alignment", 64), EF_OK);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_ERR_INVALID_ARG);
    assert_false(file_exists(path));
    ef_gguf_writer_free(w);
}

/* ---- allocation failure injection ---- */

static long g_live;     /* allocations not yet freed */
static long g_count;    /* allocations made since the last reset */
static long g_fail_at;  /* the index of the allocation to fail, -1 for none */

static void *count_malloc(void *user, size_t n) {
    (void)user;
    if (g_count++ == g_fail_at) return NULL;
    void *p = malloc(n);
    if (p) g_live++;
    return p;
}
static void *count_realloc(void *user, void *p, size_t n) {
    (void)user;
    if (g_count++ == g_fail_at) return NULL;
    void *q = realloc(p, n);
    if (q && !p) g_live++;
    return q;
}
static void count_free(void *user, void *p) {
    (void)user;
    if (p) g_live--;
    free(p);
}

static void arm(long fail_at) {
    g_count = 0;
    g_fail_at = fail_at;
}

static int setup_alloc(void **state) {
    (void)state;
    g_live = 0;
    arm(-1);
    return ef_set_allocator(count_malloc, count_realloc, count_free, NULL) == EF_OK ? 0 : -1;
}
static int teardown_alloc(void **state) {
    (void)state;
    ef_set_allocator(NULL, NULL, NULL, NULL);
    return 0;
}

static const char *const k_tokens[] = {"a", "bb", "ccc"};
static const float k_weights[64];

/* Builds and writes a small model; returns the first failing status. */
static ef_status write_small(const char *path) {
    ef_gguf_writer *w = NULL;
    ef_status st = ef_gguf_writer_create(&w);
    if (st != EF_OK) return st;
    const int64_t ne[] = {32, 2};
    const uint32_t arr[] = {1, 2, 3};
    if (st == EF_OK) st = ef_gguf_writer_set_str(w, "general.architecture", "llama");
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "llama.block_count", 1);
    if (st == EF_OK) st = ef_gguf_writer_set_arr(w, "arr", EF_GGUF_U32, arr, 3);
    if (st == EF_OK) st = ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", k_tokens, NULL, 3);
    if (st == EF_OK) st = ef_gguf_writer_add_tensor(w, "w", EF_TYPE_F32, 2, ne, k_weights, sizeof k_weights);
    if (st == EF_OK) st = ef_gguf_writer_write(w, path);
    ef_gguf_writer_free(w);
    return st;
}

static void test_writer_alloc_failures(void **state) {
    (void)state;
    const char *path = TMP("alloc.gguf");
    char tmp[512];
    tmp_name_of(path, tmp, sizeof tmp);
    long n;
    for (n = 0;; n++) {
        remove(path);
        arm(n);
        ef_status st = write_small(path);
        arm(-1);
        assert_int_equal(g_live, 0);
        if (st == EF_OK) break;
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_false(file_exists(path));
        assert_false(file_exists(tmp));
    }
    assert_true(n > 3); /* the injection really hit several allocations */
}

static void test_reader_alloc_failures(void **state) {
    (void)state;
    const char *path = TMP("alloc-read.gguf");
    arm(-1);
    assert_int_equal(write_small(path), EF_OK);
    for (int mode = 0; mode < 3; mode++) { /* read, mmap, memory */
        size_t size = 0;
        uint8_t *img = read_whole(path, &size);
        assert_non_null(img);
        long n;
        for (n = 0;; n++) {
            ef_gguf *g = NULL;
            arm(n);
            ef_status st = mode == 2 ? ef_gguf_open_memory(img, size, &g) : ef_gguf_open(path, mode, &g);
            arm(-1);
            if (st == EF_OK) {
                assert_int_equal(ef_gguf_n_kv(g), 4);
                ef_gguf_close(g);
                assert_int_equal(g_live, 0);
                break;
            }
            assert_int_equal(st, EF_ERR_NO_MEMORY);
            assert_null(g);
            assert_int_equal(g_live, 0);
        }
        assert_true(n > 3);
        free(img);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_directory),
        cmocka_unit_test(test_fill_tensors),
        cmocka_unit_test(test_rename_failure_cleans_up),
        cmocka_unit_test(test_replaces_existing_file),
        cmocka_unit_test(test_rejects_bad_tensors),
        cmocka_unit_test(test_rejects_bad_alignment),
        cmocka_unit_test_setup_teardown(test_writer_alloc_failures, setup_alloc, teardown_alloc),
        cmocka_unit_test_setup_teardown(test_reader_alloc_failures, setup_alloc, teardown_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
