/* Training data sources and the token cache: the WikiText raw layout (its
 * own validation file), a folder of *.txt files, and the tokenized-dataset
 * cache (reused, and rebuilt when corrupt or truncated). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
#include "base/platform.h"
#include "train/trainer.h"

#include "common/fail_alloc.h" /* g_countdown, g_failures, failing_malloc, ... */

#define TMP(name) EF_TEST_TMP "/traindata_" name

static const char k_train[] = "The quick brown fox jumps over the lazy dog.\nA small model reads. ";
static const char k_valid[] = "Validation text, not like the training part at all!\n";

static void write_text(const char *path, const char *text, int reps) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < reps; i++) assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static char *repeat(const char *text, int reps) {
    size_t n = strlen(text);
    char *s = malloc(n * (size_t)reps + 1);
    assert_non_null(s);
    for (int i = 0; i < reps; i++) memcpy(s + n * (size_t)i, text, n);
    s[n * (size_t)reps] = '\0';
    return s;
}

/* Appends the direct tokenization of `text` to ids[*n..]. */
static void tokenize_into(const ef_vocab *v, const char *text, int32_t *ids, size_t *n, size_t cap) {
    int32_t *t;
    size_t k;
    assert_int_equal(ef_vocab_tokenize(v, text, strlen(text), 0, &t, &k), EF_OK);
    assert_true(*n + k <= cap);
    memcpy(ids + *n, t, sizeof(int32_t) * k);
    *n += k;
    ef_free(t);
}

static ef_train_params *tiny_params(const char *data, const char *cache) {
    ef_train_params *p;
    assert_int_equal(ef_train_params_create(&p), EF_OK);
    const struct { const char *k; int64_t v; } ints[] = {
        {"dim", 16}, {"layers", 1}, {"heads", 2}, {"kv_heads", 1}, {"ff", 32}, {"seq", 8},
        {"batch", 2}, {"steps", 2}, {"warmup", 1}, {"threads", 1}, {"seed", 3}, {"eval_batches", 1}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        assert_int_equal(ef_train_params_set_int(p, ints[i].k, ints[i].v), EF_OK);
    assert_int_equal(ef_train_params_set_str(p, "vocab", "synthetic:300"), EF_OK);
    assert_int_equal(ef_train_params_set_str(p, "data", data), EF_OK);
    if (cache) assert_int_equal(ef_train_params_set_str(p, "token_cache", cache), EF_OK);
    return p;
}

static ef_trainer *make(const char *data, const char *cache) {
    ef_train_params *p = tiny_params(data, cache);
    ef_trainer *t = NULL;
    ef_status st = ef_trainer_create(p, &t);
    if (st != EF_OK) print_message("%s\n", ef_last_error());
    assert_int_equal(st, EF_OK);
    ef_train_params_free(p);
    return t;
}

/* wikitext:DIR trains on wiki.train.raw and validates on wiki.valid.raw. */
static void test_wikitext(void **state) {
    (void)state;
    make_dir(TMP("wiki"));
    write_text(TMP("wiki/wiki.train.raw"), k_train, 6);
    write_text(TMP("wiki/wiki.valid.raw"), k_valid, 3);
    write_text(TMP("wiki/wiki.test.raw"), "unused test part", 1);
    ef_trainer *t = make("wikitext:" TMP("wiki"), NULL);

    int32_t want[4096];
    size_t n_train = 0, n_all = 0;
    char *tr = repeat(k_train, 6), *va = repeat(k_valid, 3);
    tokenize_into(t->vocab, tr, want, &n_train, 4096);
    n_all = n_train;
    tokenize_into(t->vocab, va, want, &n_all, 4096);
    free(tr);
    free(va);
    assert_int_equal(t->data.n_train, (int64_t)n_train);
    assert_int_equal(t->data.n_tokens, (int64_t)n_all);
    assert_memory_equal(t->data.tokens, want, sizeof(int32_t) * n_all);

    float loss, val;
    assert_int_equal(ef_trainer_step(t, &loss), EF_OK);
    assert_int_equal(ef_trainer_evaluate(t, &val), EF_OK);
    assert_true(loss > 0 && val > 0 && val < 100);
    ef_trainer_free(t);

    /* a missing validation file is an I/O error naming it */
    make_dir(TMP("wiki_novalid"));
    write_text(TMP("wiki_novalid/wiki.train.raw"), k_train, 6);
    ef_train_params *p = tiny_params("wikitext:" TMP("wiki_novalid"), NULL);
    assert_int_equal(ef_trainer_create(p, &t), EF_ERR_IO);
    assert_non_null(strstr(ef_last_error(), "wiki.valid.raw"));
    ef_train_params_free(p);
}

/* Every validation window lies in the wiki.valid.raw part. */
static void test_wikitext_val_windows(void **state) {
    (void)state;
    ef_trainer *t = make("wikitext:" TMP("wiki"), NULL);
    for (int64_t i = 0; i < t->p.eval_batches; i++) {
        ef_train_data_val(t, i);
        for (int b = 0; b < t->p.batch; b++) {
            /* each window must be found starting at or after n_train */
            int found = 0;
            for (int64_t s = t->data.n_train; !found && s + t->p.shape.seq <= t->data.n_tokens; s++)
                found = !memcmp(t->inputs + b * t->p.shape.seq, t->data.tokens + s,
                                sizeof(int32_t) * (size_t)t->p.shape.seq);
            assert_true(found);
        }
    }
    ef_trainer_free(t);
}

/* A folder's *.txt files, in sorted name order, other files ignored; as
 * "dir:DIR" and as a plain folder path. */
static void test_txt_dir(void **state) {
    (void)state;
    make_dir(TMP("txt"));
    const char *texts[3] = {"first file, sorted first. ", "second: a.txt\n", "third b text. "};
    write_text(TMP("txt/b.txt"), texts[2], 20);
    write_text(TMP("txt/10.txt"), texts[0], 20);
    write_text(TMP("txt/a.txt"), texts[1], 20);
    write_text(TMP("txt/notes.md"), "ignored", 20);
    ef_trainer *t = make("dir:" TMP("txt"), NULL);
    int32_t want[8192];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        char *s = repeat(texts[i], 20);
        tokenize_into(t->vocab, s, want, &n, 8192);
        free(s);
    }
    assert_int_equal(t->data.n_tokens, (int64_t)n);
    assert_memory_equal(t->data.tokens, want, sizeof(int32_t) * n);
    ef_trainer *u = make(TMP("txt"), NULL);
    assert_int_equal(u->data.n_tokens, (int64_t)n);
    assert_memory_equal(u->data.tokens, want, sizeof(int32_t) * n);
    ef_trainer_free(t);
    ef_trainer_free(u);

    make_dir(TMP("txt_empty"));
    ef_train_params *p = tiny_params("dir:" TMP("txt_empty"), NULL);
    assert_int_equal(ef_trainer_create(p, &t), EF_ERR_IO);
    ef_train_params_free(p);
}

/* The cache format on its own: small, large and negative ids. */
static void test_cache_roundtrip(void **state) {
    (void)state;
    int32_t ids[] = {0, 5, 70000, 3, 16777215, 0, 0, 1, 299, 2147483647, -1, 123};
    const int64_t n = (int64_t)(sizeof ids / sizeof ids[0]);
    uint64_t bytes = 0;
    assert_int_equal(ef_token_cache_write(TMP("roundtrip.eftok"), ids, n, &bytes), EF_OK);
    assert_true(bytes > 0);
    int32_t *back;
    int64_t m;
    assert_int_equal(ef_token_cache_read(TMP("roundtrip.eftok"), &back, &m), 1);
    assert_int_equal(m, n);
    assert_memory_equal(back, ids, sizeof ids);
    ef_free(back);
    assert_int_equal(ef_token_cache_read(TMP("no_such.eftok"), &back, &m), 0);
    assert_null(back);
}

static void find_cache(void *user, const char *name) {
    size_t n = strlen(name);
    if (n > 6 && !strcmp(name + n - 6, ".eftok"))
        snprintf(user, 512, "%s/%s", TMP("cache"), name);
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Rewrites the first `keep` bytes of path, byte `flip` xor-ed with 0x5A. */
static void damage(const char *path, long keep, long flip) {
    long n = file_size(path);
    unsigned char *buf = malloc((size_t)n);
    assert_non_null(buf);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    if (flip >= 0) buf[flip] ^= 0x5A;
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, (size_t)keep, f), (size_t)keep);
    fclose(f);
    free(buf);
}

/* Runs a trainer on the cached file; checks whether it read the cache and
 * that its ids are `want`. */
static void run_cached(const int32_t *want, int64_t n, int expect_hit) {
    const int64_t hits = ef_token_cache_hits, writes = ef_token_cache_writes;
    ef_trainer *t = make(TMP("cached.txt"), TMP("cache"));
    assert_int_equal(ef_token_cache_hits - hits, expect_hit);
    assert_int_equal(ef_token_cache_writes - writes, !expect_hit);
    assert_int_equal(t->data.n_tokens, n);
    assert_memory_equal(t->data.tokens, want, sizeof(int32_t) * (size_t)n);
    ef_trainer_free(t);
}

static void test_cache(void **state) {
    (void)state;
    make_dir(TMP("cache"));
    char path[512] = "";
    ef_dir_each(TMP("cache"), find_cache, path); /* left by an earlier run */
    if (path[0]) remove(path);
    path[0] = '\0';
    write_text(TMP("cached.txt"), k_train, 10);

    ef_trainer *t = make(TMP("cached.txt"), NULL); /* no cache: reference ids */
    const int64_t n = t->data.n_tokens;
    int32_t *want = malloc(sizeof(int32_t) * (size_t)n);
    assert_non_null(want);
    memcpy(want, t->data.tokens, sizeof(int32_t) * (size_t)n);
    ef_trainer_free(t);

    const int64_t writes0 = ef_token_cache_writes;
    ef_trainer *first = make(TMP("cached.txt"), TMP("cache"));
    assert_int_equal(ef_token_cache_writes - writes0, 1);
    assert_memory_equal(first->data.tokens, want, sizeof(int32_t) * (size_t)n);
    ef_trainer_free(first);
    assert_int_equal(ef_dir_each(TMP("cache"), find_cache, path), EF_OK);
    assert_true(path[0] != '\0');

    run_cached(want, n, 1); /* second run: read from the cache */

    /* proof the ids come from the file: a valid cache of other ids is used */
    int32_t *rev = malloc(sizeof(int32_t) * (size_t)n);
    assert_non_null(rev);
    for (int64_t i = 0; i < n; i++) rev[i] = want[n - 1 - i];
    assert_int_equal(ef_token_cache_write(path, rev, n, NULL), EF_OK);
    run_cached(rev, n, 1);
    free(rev);
    /* restore the real ids (a rebuild) by damaging that file */
    long size = file_size(path);
    damage(path, size, size - 1); /* last payload byte */
    run_cached(want, n, 0);
    run_cached(want, n, 1);
    size = file_size(path);
    damage(path, size, 26); /* the CRC field */
    run_cached(want, n, 0);
    damage(path, file_size(path) / 2, -1); /* truncated */
    run_cached(want, n, 0);
    damage(path, 10, -1); /* truncated inside the header */
    run_cached(want, n, 0);
    run_cached(want, n, 1);
    free(want);
}

/* ---- every allocation failing once: clean errors, no leaks (LeakSanitizer) ---- */
static void remove_cache_file(void *user, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", (const char *)user, name);
    remove(path);
}

static ef_status try_create(const char *data, const char *cache) {
    ef_train_params *p;
    ef_status st = ef_train_params_create(&p);
    if (st != EF_OK) return st;
    const struct { const char *k; int64_t v; } ints[] = {
        {"dim", 8}, {"layers", 1}, {"heads", 2}, {"kv_heads", 1}, {"ff", 16}, {"seq", 8},
        {"batch", 1}, {"threads", 1}};
    for (size_t i = 0; st == EF_OK && i < sizeof ints / sizeof ints[0]; i++)
        st = ef_train_params_set_int(p, ints[i].k, ints[i].v);
    if (st == EF_OK) st = ef_train_params_set_str(p, "vocab", "synthetic:260");
    if (st == EF_OK) st = ef_train_params_set_str(p, "data", data);
    if (st == EF_OK && cache) st = ef_train_params_set_str(p, "token_cache", cache);
    ef_trainer *t = NULL;
    if (st == EF_OK) st = ef_trainer_create(p, &t);
    ef_trainer_free(t);
    ef_train_params_free(p);
    return st;
}

static ef_status alloc_scenario(void) {
    ef_dir_each(TMP("acache"), remove_cache_file, (void *)TMP("acache"));
    ef_status st = try_create("wikitext:" TMP("wiki"), TMP("acache")); /* writes the cache */
    if (st == EF_OK) st = try_create("wikitext:" TMP("wiki"), TMP("acache")); /* reads it */
    if (st == EF_OK) st = try_create(TMP("txt"), NULL);
    return st;
}

static void test_alloc_failures(void **state) {
    (void)state;
    make_dir(TMP("acache"));
    assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL), EF_OK);
    long n;
    for (n = 0;; n++) {
        g_countdown = n;
        g_failures = 0;
        ef_status st = alloc_scenario();
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            break;
        }
        /* EF_OK too: a cache that cannot be written or read is only a warning */
        if (st != EF_OK && st != EF_ERR_NO_MEMORY) fprintf(stderr, "allocation %ld: %s\n", n, ef_last_error());
        assert_true(st == EF_OK || st == EF_ERR_NO_MEMORY);
    }
    g_countdown = -1;
    ef_set_allocator(NULL, NULL, NULL, NULL);
    print_message("%ld allocation sites failed cleanly\n", n);
    assert_true(n > 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wikitext),
        cmocka_unit_test(test_wikitext_val_windows),
        cmocka_unit_test(test_txt_dir),
        cmocka_unit_test(test_cache_roundtrip),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
