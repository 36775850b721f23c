/* Limits: each must end in a specific status, never a crash or a hang, and
 * leave the handles usable:
 *   - a full context (EF_ERR_CONTEXT_FULL, context unchanged);
 *   - an exceeded memory budget (EF_ERR_BUDGET);
 *   - a 1 MB prompt through tokenize and generate with a small context;
 *   - invalid token ids everywhere ids are taken;
 *   - a model file truncated after loading with mmap off (copy-on-load);
 *   - paths that are not regular files (directory, /dev/null, FIFO, empty,
 *     missing, a /proc file that claims size 0), given to every reader that
 *     takes a path: model load, snapshot restore, training checkpoint
 *     load, quantization input. */
#define _GNU_SOURCE /* mkfifo, ftruncate */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgeformer/edgeformer.h"

static ef_model *load(const char *path, int use_mmap) {
    ef_model_params *p = NULL;
    assert_int_equal(ef_model_params_create(&p), EF_OK);
    assert_int_equal(ef_model_params_set_mmap(p, use_mmap), EF_OK);
    ef_model *m = NULL;
    ef_status st = ef_model_load(path, p, &m);
    if (st != EF_OK) fail_msg("loading %s: %s", path, ef_last_error());
    ef_model_params_free(p);
    return m;
}

static ef_session *open_session(ef_model *m, int32_t n_ctx, uint64_t budget, ef_status want) {
    ef_session_params *p = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, n_ctx), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 2), EF_OK);
    assert_int_equal(ef_session_params_set_memory_budget(p, budget), EF_OK);
    ef_session *s = NULL;
    ef_status st = ef_session_create(m, p, &s);
    if (st != want) fail_msg("session n_ctx %d budget %llu: got %s (%s), want %s", (int)n_ctx,
                             (unsigned long long)budget, ef_status_str(st), ef_last_error(), ef_status_str(want));
    ef_session_params_free(p);
    if (st == EF_OK) {
        ef_sampler_params *sp = NULL;
        assert_int_equal(ef_sampler_params_create(&sp), EF_OK);
        assert_int_equal(ef_sampler_params_set_temperature(sp, 0.0f), EF_OK);
        assert_int_equal(ef_session_set_sampler(s, sp), EF_OK);
        ef_sampler_params_free(sp);
    } else {
        assert_null(s);
    }
    return s;
}

static void test_full_context(void **state) {
    (void)state;
    ef_model *m = load(REL_MODEL, 1);
    ef_session *s = open_session(m, 16, 0, EF_OK);
    int32_t toks[17];
    for (int i = 0; i < 17; i++) toks[i] = 1 + i;

    /* more than fits at once: refused, nothing kept */
    assert_int_equal(ef_session_eval(s, toks, 17, 0), EF_ERR_CONTEXT_FULL);
    assert_int_equal(ef_session_n_past(s), 0);
    assert_non_null(strstr(ef_session_errmsg(s), "context"));

    /* exactly full, then one more */
    assert_int_equal(ef_session_eval(s, toks, 16, 0), EF_OK);
    assert_int_equal(ef_session_n_past(s), 16);
    const float *before = NULL;
    assert_int_equal(ef_session_logits(s, -1, &before), EF_OK);
    float first = before[0];
    assert_int_equal(ef_session_eval(s, toks, 1, 0), EF_ERR_CONTEXT_FULL);
    assert_int_equal(ef_session_n_past(s), 16);
    const float *after = NULL;
    assert_int_equal(ef_session_logits(s, -1, &after), EF_OK);
    assert_true(after[0] == first); /* the last logits survive the refusal */

    /* generate on a full context stops at once, cleanly */
    ef_status st = ef_session_generate(s, "more", 4, 8, NULL, NULL);
    assert_true(st == EF_OK || st == EF_ERR_CONTEXT_FULL);
    assert_int_equal(ef_session_n_past(s), 16);

    /* reset makes the session usable again */
    assert_int_equal(ef_session_reset(s), EF_OK);
    assert_int_equal(ef_session_n_past(s), 0);
    assert_int_equal(ef_session_eval(s, toks, 4, 0), EF_OK);
    ef_session_free(s);
    ef_model_free(m);
}

static int64_t meta_int(const ef_model *m, const char *key) {
    char buf[64];
    size_t need = 0;
    assert_int_equal(ef_model_meta_get(m, key, buf, sizeof buf, &need), EF_OK);
    return atoll(buf);
}

/* Creates an n_ctx session under `budget` and fills its context 8 tokens at
 * a time; returns the first failure (a refused batch must leave the context
 * as it was) and, when peak is given, the session's peak memory. */
static ef_status fill_context(ef_model *m, int32_t n_ctx, uint64_t budget, const int32_t *toks8, double *peak) {
    ef_session_params *sp = NULL;
    assert_int_equal(ef_session_params_create(&sp), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(sp, n_ctx), EF_OK);
    assert_int_equal(ef_session_params_set_memory_budget(sp, budget), EF_OK);
    ef_session *s = NULL;
    ef_status st = ef_session_create(m, sp, &s);
    ef_session_params_free(sp);
    if (st != EF_OK) return st;
    int32_t filled = 0;
    while (st == EF_OK && filled + 8 <= n_ctx) {
        st = ef_session_eval(s, toks8, 8, 0);
        if (st == EF_OK) filled += 8;
    }
    assert_int_equal(ef_session_n_past(s), filled);
    if (peak) ef_session_stat(s, EF_STAT_MEMORY_PEAK, peak);
    ef_session_free(s);
    return st;
}

static void test_memory_budget(void **state) {
    (void)state;
    ef_model *m = load(REL_MODEL, 1);
    /* what a 64-token session holds once created, and at its peak over an 8-token eval */
    ef_session *s = open_session(m, 64, 0, EF_OK);
    int32_t toks[48];
    for (int i = 0; i < 48; i++) toks[i] = 5 + i;
    double used = 0, peak = 0, budget = 0;
    assert_int_equal(ef_session_stat(s, EF_STAT_MEMORY_USED, &used), EF_OK);
    assert_int_equal(ef_session_eval(s, toks, 8, 0), EF_OK);
    assert_int_equal(ef_session_stat(s, EF_STAT_MEMORY_PEAK, &peak), EF_OK);
    assert_true(used > 0 && peak >= used);
    ef_session_free(s);

    /* a 1-byte budget, and a 256-token context in a 64-token budget, are refused */
    assert_null(open_session(m, 16, 1, EF_ERR_BUDGET));
    assert_non_null(strstr(ef_last_error(), "budget"));
    /* a 256-token context in one byte less than its F16 KV cache alone
     * (n_layer x n_ctx x n_head_kv x head_dim x 2 x 2 bytes): however the
     * session plans its scratch, it cannot fill that context */
    const uint64_t kv_bytes = (uint64_t)ef_model_n_layer(m) * 256u * (uint64_t)meta_int(m, "llama.attention.head_count_kv") *
                              (uint64_t)(ef_model_n_embd(m) / meta_int(m, "llama.attention.head_count")) * 2u * 2u;
    ef_status st = fill_context(m, 256, kv_bytes - 1, toks, NULL);
    if (st != EF_ERR_BUDGET) fail_msg("256-token context in %llu bytes: %s", (unsigned long long)kv_bytes - 1, ef_status_str(st));
    assert_non_null(strstr(ef_last_error(), "budget"));
    double full_peak = 0;
    assert_int_equal(fill_context(m, 256, 0, toks, &full_peak), EF_OK);
    assert_true(full_peak > (double)kv_bytes);

    /* within budget: evaluating every row's logits over it fails, the context is kept */
    s = open_session(m, 64, (uint64_t)peak, EF_OK);
    assert_int_equal(ef_session_eval(s, toks, 8, 0), EF_OK);
    assert_int_equal(ef_session_eval(s, toks, 48, EF_EVAL_ALL_LOGITS), EF_ERR_BUDGET);
    assert_non_null(strstr(ef_session_errmsg(s), "budget"));
    assert_int_equal(ef_session_n_past(s), 8);
    ef_session_stat(s, EF_STAT_MEMORY_PEAK, &peak);
    ef_session_stat(s, EF_STAT_MEMORY_BUDGET, &budget);
    assert_true(peak <= budget);
    assert_int_equal(ef_session_eval(s, toks, 8, 0), EF_OK);
    ef_session_free(s);
    ef_model_free(m);
}

#define HUGE_PROMPT (1u << 20)

static void test_huge_prompt(void **state) {
    (void)state;
    ef_model *m = load(REL_MODEL, 1);
    static const char sentence[] = "The quick brown fox jumps over the lazy dog, again and again. ";
    char *text = malloc(HUGE_PROMPT);
    assert_non_null(text);
    for (size_t i = 0; i < HUGE_PROMPT; i++) text[i] = sentence[i % (sizeof sentence - 1)];

    /* the size query of the two-call pattern, then the real call */
    size_t n = 0;
    assert_int_equal(ef_tokenize(m, text, HUGE_PROMPT, EF_TOKENIZE_ADD_SPECIAL, NULL, 0, &n),
                     EF_ERR_BUFFER_TOO_SMALL);
    assert_true(n > HUGE_PROMPT / 16);
    int32_t *ids = malloc(n * sizeof *ids);
    assert_non_null(ids);
    size_t n2 = 0;
    assert_int_equal(ef_tokenize(m, text, HUGE_PROMPT, EF_TOKENIZE_ADD_SPECIAL, ids, n, &n2), EF_OK);
    assert_int_equal(n2, n);
    free(ids);

    /* generate with a 64-token context: a clean refusal, the session stays usable */
    ef_session *s = open_session(m, 64, 0, EF_OK);
    assert_int_equal(ef_session_generate(s, text, HUGE_PROMPT, 4, NULL, NULL), EF_ERR_CONTEXT_FULL);
    assert_non_null(strstr(ef_session_errmsg(s), "context"));
    assert_int_equal(ef_session_n_past(s), 0);
    assert_int_equal(ef_session_generate(s, "Hello", 5, 4, NULL, NULL), EF_OK);
    assert_true(ef_session_n_past(s) > 0);
    ef_session_free(s);
    free(text);
    ef_model_free(m);
}

static void test_invalid_token_ids(void **state) {
    (void)state;
    ef_model *m = load(REL_MODEL, 1);
    const int32_t n_vocab = ef_model_n_vocab(m);
    const int32_t bad[] = {-1, n_vocab, INT32_MAX, INT32_MIN};
    ef_session *s = open_session(m, 32, 0, EF_OK);
    int32_t ok[2] = {1, 2};
    assert_int_equal(ef_session_eval(s, ok, 2, 0), EF_OK);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int32_t mixed[3] = {3, bad[i], 4}; /* a bad id in the middle: nothing of the batch is kept */
        assert_int_equal(ef_session_eval(s, mixed, 3, 0), EF_ERR_INVALID_ARG);
        assert_int_equal(ef_session_n_past(s), 2);
        char buf[16];
        size_t len = 0;
        assert_int_equal(ef_detokenize(m, &bad[i], 1, 0, buf, sizeof buf, &len), EF_ERR_INVALID_ARG);
        assert_null(ef_token_text(m, bad[i]));
        assert_int_equal(ef_token_is_eog(m, bad[i]), 0);
    }
    /* logits rows that were not kept, or do not exist */
    const float *l = NULL;
    assert_int_equal(ef_session_logits(s, 0, &l), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_logits(s, 1000, &l), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_logits(s, INT32_MIN, &l), EF_ERR_INVALID_ARG);
    /* a NULL token array with a count */
    assert_int_equal(ef_session_eval(s, NULL, 3, 0), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_n_past(s), 2);
    assert_int_equal(ef_session_eval(s, ok, 2, 0), EF_OK);
    ef_session_free(s);
    ef_model_free(m);
}

/* Copies src to dst; returns its size. */
static long copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        assert_int_equal(fwrite(buf, 1, n, out), n);
        total += (long)n;
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
    return total;
}

/* Greedy logits of a short prompt on a fresh session. */
static void prompt_logits(ef_model *m, float *out, int32_t n_vocab) {
    ef_session *s = open_session(m, 32, 0, EF_OK);
    int32_t toks[5] = {1, 20, 30, 40, 50};
    assert_int_equal(ef_session_eval(s, toks, 5, 0), EF_OK);
    const float *l = NULL;
    assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
    memcpy(out, l, (size_t)n_vocab * sizeof *out);
    assert_int_equal(ef_session_generate(s, " and", 4, 4, NULL, NULL), EF_OK);
    ef_session_free(s);
}

/* With mmap off the whole file is read at load (copy-on-load), so a file
 * that shrinks or is rewritten afterwards cannot reach the model. (With
 * mmap on, touching a page past the new end raises SIGBUS: see
 * docs/security.md.) */
static void test_file_truncated_after_load(void **state) {
    (void)state;
    const char *copy = EF_TEST_TMP "/rel_shrinking.gguf";
    long size = copy_file(REL_MODEL, copy);
    assert_true(size > 4096);
    ef_model *m = load(copy, 0);
    const int32_t n_vocab = ef_model_n_vocab(m);
    float *want = malloc((size_t)n_vocab * sizeof *want), *got = malloc((size_t)n_vocab * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    prompt_logits(m, want, n_vocab);

    /* shrink to a header's worth, then scribble over what is left */
    assert_int_equal(truncate(copy, 64), 0);
    FILE *f = fopen(copy, "r+b");
    assert_non_null(f);
    char junk[64];
    memset(junk, 0xFF, sizeof junk);
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    fclose(f);

    prompt_logits(m, got, n_vocab);
    assert_memory_equal(want, got, (size_t)n_vocab * sizeof *want);
    ef_model_free(m);

    /* and loading the damaged file now is a clean format error */
    ef_model *bad = NULL;
    ef_model_params *p = NULL;
    assert_int_equal(ef_model_params_create(&p), EF_OK);
    assert_int_equal(ef_model_params_set_mmap(p, 0), EF_OK);
    assert_int_equal(ef_model_load(copy, p, &bad), EF_ERR_FORMAT);
    assert_null(bad);
    ef_model_params_free(p);
    unlink(copy);
    free(want);
    free(got);
}

static void expect_load_error(const char *path, ef_status want) {
    for (int use_mmap = 0; use_mmap <= 1; use_mmap++) {
        ef_model_params *p = NULL;
        assert_int_equal(ef_model_params_create(&p), EF_OK);
        assert_int_equal(ef_model_params_set_mmap(p, use_mmap), EF_OK);
        ef_model *m = NULL;
        ef_status st = ef_model_load(path, p, &m);
        ef_model_params_free(p);
        if (st != want)
            fail_msg("load '%s' (mmap %d): got %s (%s), want %s", path, use_mmap, ef_status_str(st),
                     ef_last_error(), ef_status_str(want));
        assert_null(m);
        assert_true(ef_last_error()[0] != '\0');
    }
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_limits: a reader blocked on a FIFO\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(3);
    _exit(2);
}

static void test_paths_that_are_not_files(void **state) {
    (void)state;
    expect_load_error(EF_TEST_TMP, EF_ERR_IO);            /* a directory */
    expect_load_error("/dev/null", EF_ERR_IO);            /* a character device */
    expect_load_error(EF_TEST_TMP "/rel_no_such_file.gguf", EF_ERR_IO);
    expect_load_error("", EF_ERR_IO);
    expect_load_error("/proc/self/status", EF_ERR_FORMAT); /* a regular file whose size reads 0 */

    const char *empty = EF_TEST_TMP "/rel_empty.gguf";
    FILE *f = fopen(empty, "wb");
    assert_non_null(f);
    fclose(f);
    expect_load_error(empty, EF_ERR_FORMAT);
    unlink(empty);

    /* A FIFO with no writer: opening it must not block. */
    const char *fifo = EF_TEST_TMP "/rel_fifo.gguf";
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    signal(SIGALRM, on_alarm);
    alarm(20);
    expect_load_error(fifo, EF_ERR_IO);
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    unlink(fifo);

    /* the converter's folder argument too */
    assert_int_equal(ef_convert_hf("/dev/null", EF_TEST_TMP "/rel_conv.gguf", "f16", NULL, NULL), EF_ERR_IO);
    assert_int_equal(ef_convert_hf(EF_TEST_TMP "/rel_no_dir", EF_TEST_TMP "/rel_conv.gguf", "f16", NULL, NULL),
                     EF_ERR_IO);
}

/* The other path readers: a session snapshot, a training checkpoint, a
 * quantizer input. Each refuses `path` with `want` and leaves its handle
 * as it was. */
static void expect_readers_error(ef_session *s, ef_trainer *t, const char *path, ef_status want) {
    const int32_t n_past = ef_session_n_past(s);
    ef_status st = ef_session_restore(s, EF_SEQ_ALL, path);
    if (st != want)
        fail_msg("restore '%s': got %s (%s), want %s", path, ef_status_str(st), ef_last_error(), ef_status_str(want));
    assert_int_equal(ef_session_n_past(s), n_past);
    const int64_t step = ef_trainer_step_count(t);
    st = ef_trainer_load(t, path);
    if (st != want)
        fail_msg("trainer load '%s': got %s (%s), want %s", path, ef_status_str(st), ef_last_error(),
                 ef_status_str(want));
    assert_int_equal(ef_trainer_step_count(t), step);
    ef_quant_profile *q = NULL;
    assert_int_equal(ef_quant_profile_create("balanced", &q), EF_OK);
    const char *out = EF_TEST_TMP "/rel_limits_q8.gguf";
    st = ef_quantize_file(path, out, q, NULL, NULL, NULL, NULL);
    ef_quant_profile_free(q);
    if (st != want)
        fail_msg("quantize '%s': got %s (%s), want %s", path, ef_status_str(st), ef_last_error(), ef_status_str(want));
    assert_int_equal(access(out, F_OK), -1); /* no output for a refused input */
}

static void test_other_readers_refuse_non_files(void **state) {
    (void)state;
    ef_model *m = load(REL_MODEL, 1);
    ef_session *s = open_session(m, 64, 0, EF_OK);
    const int32_t prompt[3] = {1, 2, 3};
    assert_int_equal(ef_session_eval(s, prompt, 3, 0), EF_OK);
    ef_train_params *tp = NULL;
    ef_trainer *t = NULL;
    assert_int_equal(ef_train_params_create(&tp), EF_OK);
    static const char *const keys[] = {"dim", "layers", "heads", "kv_heads", "ff", "seq", "batch", "threads"};
    static const int64_t values[] = {8, 1, 2, 1, 8, 4, 1, 1};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(ef_train_params_set_int(tp, keys[i], values[i]), EF_OK);
    assert_int_equal(ef_train_params_set_str(tp, "vocab", "synthetic:260"), EF_OK);
    assert_int_equal(ef_train_params_set_str(tp, "text", "a short text to train on, long enough for a window or two."),
                     EF_OK);
    assert_int_equal(ef_trainer_create(tp, &t), EF_OK);
    ef_train_params_free(tp);

    expect_readers_error(s, t, EF_TEST_TMP, EF_ERR_IO); /* a directory */
    expect_readers_error(s, t, "/dev/null", EF_ERR_IO);
    expect_readers_error(s, t, EF_TEST_TMP "/rel_no_such_file", EF_ERR_IO);
    expect_readers_error(s, t, "", EF_ERR_IO);
    const char *empty = EF_TEST_TMP "/rel_empty_input";
    FILE *f = fopen(empty, "wb");
    assert_non_null(f);
    fclose(f);
    expect_readers_error(s, t, empty, EF_ERR_FORMAT);
    unlink(empty);
    const char *fifo = EF_TEST_TMP "/rel_fifo_input";
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    signal(SIGALRM, on_alarm);
    alarm(20);
    expect_readers_error(s, t, fifo, EF_ERR_IO);
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    unlink(fifo);

    /* both handles still work */
    assert_int_equal(ef_session_eval(s, prompt, 1, 0), EF_OK);
    float loss = 0;
    assert_int_equal(ef_trainer_step(t, &loss), EF_OK);
    ef_trainer_free(t);
    ef_session_free(s);
    ef_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_context),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_huge_prompt),
        cmocka_unit_test(test_invalid_token_ids),
        cmocka_unit_test(test_file_truncated_after_load),
        cmocka_unit_test(test_paths_that_are_not_files),
        cmocka_unit_test(test_other_readers_refuse_non_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
