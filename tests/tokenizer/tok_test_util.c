#include "tok_test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"

ef_status tt_load(ef_gguf_writer *w, const char *name, ef_gguf **g, ef_vocab **v) {
    char path[512];
    snprintf(path, sizeof path, "%s/tok_%s.gguf", EF_TEST_TMP, name);
    *g = NULL;
    *v = NULL;
    ef_status st = ef_gguf_writer_write(w, path);
    ef_gguf_writer_free(w);
    if (st != EF_OK) fail_msg("writing %s: %s", path, ef_err_msg());
    st = ef_gguf_open(path, 0, g);
    if (st != EF_OK) fail_msg("opening %s: %s", path, ef_err_msg());
    st = ef_vocab_load(*g, v);
    if (st != EF_OK) {
        ef_gguf_close(*g);
        *g = NULL;
    }
    return st;
}

void tt_close(ef_gguf *g, ef_vocab *v) {
    ef_vocab_free(v);
    ef_gguf_close(g);
}

static void print_ids(char *buf, size_t cap, const int32_t *ids, size_t n) {
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && k + 16 < cap; i++) k += (size_t)snprintf(buf + k, cap - k, " %d", ids[i]);
}

void tt_expect(const ef_vocab *v, const char *text, size_t len, uint32_t flags,
               const int32_t *want, size_t n_want) {
    if (len == (size_t)-1) len = strlen(text);
    int32_t *ids = NULL;
    size_t n = 0;
    ef_status st = ef_vocab_tokenize(v, text, len, flags, &ids, &n);
    if (st != EF_OK) fail_msg("tokenize \"%s\": %s", text, ef_err_msg());
    int same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!same) {
        char got_s[1024], want_s[1024];
        print_ids(got_s, sizeof got_s, ids, n);
        print_ids(want_s, sizeof want_s, want, n_want);
        ef_free(ids);
        fail_msg("tokenize \"%s\" (flags %u):\n  got: %s\n want: %s", text, flags, got_s, want_s);
    }
    ef_free(ids);
}

char *tt_detok(const ef_vocab *v, const int32_t *ids, size_t n, uint32_t flags, size_t *len) {
    size_t need = 0;
    ef_status st = ef_vocab_detokenize(v, ids, n, flags, NULL, 0, &need);
    if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) fail_msg("detokenize: %s", ef_err_msg());
    char *buf = malloc(need + 1);
    assert_non_null(buf);
    size_t got = 0;
    st = ef_vocab_detokenize(v, ids, n, flags, buf, need, &got);
    if (st != EF_OK) fail_msg("detokenize: %s", ef_err_msg());
    assert_int_equal(got, need);
    buf[got] = '\0';
    *len = got;
    return buf;
}

void tt_roundtrip(const ef_vocab *v, const char *text, size_t len) {
    int32_t *ids = NULL;
    size_t n = 0;
    ef_status st = ef_vocab_tokenize(v, text, len, 0, &ids, &n);
    if (st != EF_OK) fail_msg("tokenize: %s", ef_err_msg());
    size_t back_len = 0;
    char *back = tt_detok(v, ids, n, 0, &back_len);
    ef_free(ids);
    if (back_len != len || memcmp(back, text, len) != 0) {
        char hex_in[200] = "", hex_out[200] = "";
        for (size_t i = 0; i < len && i < 60; i++) sprintf(hex_in + 3 * i, "%02x ", (uint8_t)text[i]);
        for (size_t i = 0; i < back_len && i < 60; i++) sprintf(hex_out + 3 * i, "%02x ", (uint8_t)back[i]);
        free(back);
        fail_msg("round trip differs:\n  in  (%zu): %s\n  out (%zu): %s", len, hex_in, back_len, hex_out);
    }
    free(back);
}

/* ---- counting allocator ---- */

static long g_live, g_countdown;
static int g_failed;

static void *count_malloc(void *user, size_t size) {
    (void)user;
    if (g_countdown > 0 && --g_countdown == 0) {
        g_failed = 1;
        return NULL;
    }
    void *p = malloc(size);
    if (p) g_live++;
    return p;
}
static void *count_realloc(void *user, void *ptr, size_t size) {
    (void)user;
    if (g_countdown > 0 && --g_countdown == 0) {
        g_failed = 1;
        return NULL;
    }
    void *p = realloc(ptr, size);
    if (p && !ptr) g_live++;
    return p;
}
static void count_free(void *user, void *ptr) {
    (void)user;
    if (ptr) g_live--;
    free(ptr);
}

void tt_alloc_install(void) {
    g_live = 0;
    g_countdown = 0;
    g_failed = 0;
    ef_set_allocator(count_malloc, count_realloc, count_free, NULL);
}
void tt_alloc_uninstall(void) { ef_set_allocator(NULL, NULL, NULL, NULL); }
void tt_fail_after(long k) {
    g_countdown = k;
    g_failed = 0;
}
long tt_live(void) { return g_live; }
int tt_failed(void) { return g_failed; }

uint32_t tt_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return (uint32_t)(x >> 32);
}
