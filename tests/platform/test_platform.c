/* test_platform TMP_DIR SHARED_LIBRARY: the OS layer (base/platform.h) and the
 * pieces that sit on it, checked the same way on every target: x86-64 Linux,
 * arm64 Linux under qemu and Windows under Wine. A plain C program (no CMocka,
 * which has no mingw build in Debian); exit status = number of failed checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/platform.h"
#include "base/threadpool.h"
#include "edgeformer/edgeformer.h"
#include "tokenizer/pretokenize.h"

static int g_failures;
static const char *g_tmp;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            g_failures++;                                                     \
        }                                                                     \
    } while (0)

/* TMP_DIR/name, in a static buffer per slot. */
static const char *tmp_path(int slot, const char *name) {
    static char buf[4][1024];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", g_tmp, name);
    return buf[slot];
}

static int write_file(const char *path, const char *text) {
    FILE *f = ef_fopen(path, "wb");
    if (!f) return 0;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0) && ok;
}

/* 1 if `path` holds exactly `text`, read through the mapping layer. */
static int file_holds(const char *path, const char *text, int use_mmap) {
    ef_file_map m;
    if (ef_file_map_open(path, use_mmap, &m) != EF_OK) return 0;
    int same = m.size == strlen(text) && memcmp(m.data, text, m.size) == 0;
    ef_file_map_close(&m);
    return same;
}

static void test_file_map(void) {
    const char *p = tmp_path(0, "platform_map.bin");
    CHECK(write_file(p, "GGUF little-endian bytes"));
    CHECK(file_holds(p, "GGUF little-endian bytes", 1));
    CHECK(file_holds(p, "GGUF little-endian bytes", 0));

    ef_file_map m;
    CHECK(ef_file_map_open(p, 1, &m) == EF_OK && m.mapped == 1);
    ef_file_map_close(&m);
    CHECK(m.data == NULL);
    CHECK(ef_file_map_open(p, 0, &m) == EF_OK && m.mapped == 0);
    ef_file_map_close(&m);

    CHECK(ef_file_map_open(tmp_path(1, "no_such_file.bin"), 1, &m) == EF_ERR_IO);
    CHECK(strstr(ef_last_error(), "no_such_file.bin") != NULL);
    CHECK(write_file(tmp_path(1, "platform_empty.bin"), ""));
    CHECK(ef_file_map_open(tmp_path(1, "platform_empty.bin"), 1, &m) == EF_ERR_FORMAT);
    /* A directory is not a model file. */
    CHECK(ef_file_map_open(g_tmp, 1, &m) != EF_OK);
    ef_file_remove(p);
    ef_file_remove(tmp_path(1, "platform_empty.bin"));
}

static void test_rename_replaces(void) {
    const char *a = tmp_path(0, "platform_old.bin"), *b = tmp_path(1, "platform_new.bin.tmp");
    CHECK(write_file(a, "old contents"));
    CHECK(write_file(b, "new"));
    /* Windows' plain MoveFile refuses an existing target; ours must replace it. */
    CHECK(ef_file_rename(b, a) == EF_OK);
    CHECK(file_holds(a, "new", 1));
    CHECK(!ef_file_exists(b));
    CHECK(ef_file_rename(b, a) == EF_ERR_IO); /* source is gone */
    ef_file_remove(a);
    CHECK(!ef_file_exists(a));
}

static void test_utf8_paths(void) {
    /* "plätform-日本-ü.bin": non-ASCII must survive the UTF-8 → UTF-16 trip. */
    const char *p = tmp_path(0, "pl\xc3\xa4tform-\xe6\x97\xa5\xe6\x9c\xac-\xc3\xbc.bin");
    const char *q = tmp_path(1, "\xc3\xa9t\xc3\xa9.bin");
    CHECK(write_file(p, "utf-8 name"));
    CHECK(ef_file_exists(p));
    CHECK(file_holds(p, "utf-8 name", 1));
    CHECK(ef_file_rename(p, q) == EF_OK);
    CHECK(!ef_file_exists(p) && ef_file_exists(q));
    CHECK(file_holds(q, "utf-8 name", 0));
    ef_file_remove(q);
    CHECK(!ef_file_exists(q));
}

static void test_file_same(void) {
    const char *a = tmp_path(0, "platform_same_a.bin"), *b = tmp_path(1, "platform_same_b.bin");
    CHECK(write_file(a, "a"));
    CHECK(write_file(b, "b"));
    char dotted[1200];
    snprintf(dotted, sizeof dotted, "%s/./platform_same_a.bin", g_tmp);
    CHECK(ef_file_same(a, a));
    CHECK(ef_file_same(a, dotted));
    CHECK(!ef_file_same(a, b));
    CHECK(!ef_file_same(a, tmp_path(2, "platform_missing.bin")));
    ef_file_remove(a);
    ef_file_remove(b);
}

static void test_process_clock_cores(void) {
    CHECK(ef_process_id() > 0);
    CHECK(ef_num_cores() >= 1);
    double t0 = ef_time_now(), prev = t0;
    volatile double sink = 0;
    /* Monotonic: never goes back; advances over some work. */
    for (int i = 0; i < 2000000 && prev - t0 < 1e-3; i++) {
        sink += i * 0.5;
        double t = ef_time_now();
        CHECK(t >= prev);
        if (t < prev) break;
        prev = t;
    }
    CHECK(prev > t0);
    (void)sink;
}

static void test_endianness(void) {
    const uint32_t word = 0x01020304u;
    uint8_t bytes[4];
    memcpy(bytes, &word, sizeof bytes);
    CHECK(ef_host_is_little_endian() == (bytes[0] == 0x04));
    /* Every target this project tests on is little-endian. */
    CHECK(ef_host_is_little_endian() == 1);
}

typedef struct pool_job {
    int64_t n;
    int64_t *out; /* [n] */
    int seen[16]; /* [nth] workers that ran */
} pool_job;

static void fill_squares(void *ctx, int32_t ith, int32_t nth) {
    pool_job *job = ctx;
    int64_t begin, end;
    ef_split_range(job->n, ith, nth, &begin, &end);
    for (int64_t i = begin; i < end; i++) job->out[i] = i * i;
    if (ith < 16) job->seen[ith] = 1;
}

static void test_thread_pool(void) {
    ef_pool *pool = NULL;
    CHECK(ef_pool_create(4, &pool) == EF_OK);
    if (!pool) return;
    CHECK(ef_pool_size(pool) == 4);
    enum { N = 10007 };
    static int64_t out[N];
    for (int round = 0; round < 20; round++) {
        pool_job job = {.n = N, .out = out};
        memset(out, 0xff, sizeof out);
        ef_pool_run(pool, fill_squares, &job);
        int64_t bad = 0;
        for (int64_t i = 0; i < N; i++) bad += out[i] != i * i;
        CHECK(bad == 0);
        CHECK(job.seen[0] && job.seen[1] && job.seen[2] && job.seen[3]);
    }
    ef_pool_free(pool);
}

static _Atomic int g_once_runs;
static ef_once_flag g_once = EF_ONCE_INIT;
static void count_init(void) { g_once_runs++; }
static void call_once_worker(void *ctx, int32_t ith, int32_t nth) {
    (void)ctx, (void)ith, (void)nth;
    ef_call_once(&g_once, count_init);
}

static void test_call_once(void) {
    ef_pool *pool = NULL;
    CHECK(ef_pool_create(4, &pool) == EF_OK);
    for (int round = 0; round < 3; round++) ef_pool_run(pool, call_once_worker, NULL);
    ef_call_once(&g_once, count_init);
    CHECK(g_once_runs == 1);
    ef_pool_free(pool);
}

static void test_shared_library(const char *lib_path) {
    ef_dl *lib = NULL;
    CHECK(ef_dl_open(tmp_path(0, "no_such_library.so"), &lib) == EF_ERR_IO && lib == NULL);
    if (!lib_path) return;
    CHECK(ef_dl_open(lib_path, &lib) == EF_OK);
    if (!lib) return;
    /* The DLL/.so exports the public API: the same version as the static core. */
    typedef const char *(*version_fn)(void);
    void *sym = ef_dl_symbol(lib, "ef_version_string");
    CHECK(sym != NULL);
    if (sym) {
        version_fn fn;
        memcpy(&fn, &sym, sizeof fn); /* object → function pointer without a cast warning */
        CHECK(strcmp(fn(), ef_version_string()) == 0);
    }
    /* Internals stay hidden. */
    CHECK(ef_dl_symbol(lib, "ef_pool_create") == NULL);
    CHECK(ef_dl_symbol(lib, "no_such_symbol") == NULL);
    ef_dl_close(lib);
}

static void test_pretokenizer_option(void) {
    ef_pretokenizer *p = NULL;
    ef_status st = ef_pretokenizer_create(EF_PRE_GPT2, &p);
#ifdef EF_NO_PCRE2
    /* Built without PCRE2: a clean, named refusal instead of a crash. */
    CHECK(st == EF_ERR_UNSUPPORTED && p == NULL);
    CHECK(strstr(ef_last_error(), "EF_WITH_PCRE2") != NULL);
#else
    CHECK(st == EF_OK && p != NULL);
#endif
    ef_pretokenizer_free(p);
}

static void test_convert_option(void) {
#ifdef EF_NO_CJSON
    CHECK(ef_convert_hf(g_tmp, tmp_path(0, "out.gguf"), NULL, NULL, NULL) == EF_ERR_UNSUPPORTED);
    CHECK(strstr(ef_last_error(), "EF_WITH_CJSON") != NULL);
#else
    /* With cJSON a folder without config.json is a (non-"unsupported") error. */
    ef_status st = ef_convert_hf(g_tmp, tmp_path(0, "out.gguf"), NULL, NULL, NULL);
    CHECK(st != EF_OK && st != EF_ERR_UNSUPPORTED);
#endif
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: test_platform TMP_DIR [SHARED_LIBRARY]\n", stderr);
        return 2;
    }
    g_tmp = argv[1];
    test_file_map();
    test_rename_replaces();
    test_utf8_paths();
    test_file_same();
    test_process_clock_cores();
    test_endianness();
    test_thread_pool();
    test_call_once();
    test_shared_library(argc > 2 ? argv[2] : NULL);
    test_pretokenizer_option();
    test_convert_option();
    if (g_failures) fprintf(stderr, "test_platform: %d check(s) failed\n", g_failures);
    else fprintf(stderr, "test_platform: all checks passed\n");
    return g_failures;
}
