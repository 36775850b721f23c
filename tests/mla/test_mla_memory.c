/* Memory of MLA, window and chunked-prefill execution states, measured with
 * the session's own allocation counter (ef_mem_account), not with time:
 *   - the MLA cache grows by (kv_lora + rope) × layers × element bytes per token;
 *   - window layers (ring buffers) stop growing; a sink+window model streams
 *     past n_ctx with flat memory;
 *   - a 16K-token prompt fits a budget an unchunked run exceeds, with the
 *     same logits; a budget below one token's chunk is EF_ERR_BUDGET. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "cpu/cpu_ops.h"
#include "exec/forward.h"
#include "format/gguf.h"
#include "model/model.h"
#include "quant/types.h"

/* Writes a model with `edgeformer make-model ARGS` and loads it. */
static ef_model *make_model(const char *name, const char *args) {
    char path[1024], cmd[4096];
    snprintf(path, sizeof path, "%s/mla_mem_%s.gguf", EF_TEST_TMP, name);
    snprintf(cmd, sizeof cmd, "\"%s\" make-model %s -o \"%s\"", EF_CLI, args, path);
    assert_int_equal(system(cmd), 0);
    ef_gguf *g = NULL;
    ef_model *m = NULL;
    assert_int_equal(ef_gguf_open(path, 1, &g), EF_OK);
    assert_int_equal(ef_model_from_gguf(g, &m), EF_OK);
    return m;
}

/* Bytes an execution state holds right after creation. */
static uint64_t state_bytes(const ef_model *m, int32_t n_ctx, int32_t n_batch, uint32_t kv_type) {
    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    const ef_exec_opts o = {n_ctx, n_batch, kv_type, EF_MLA_AUTO, 0, -1, -1};
    assert_int_equal(ef_exec_create_opts(m, &o, &acct, &e), EF_OK);
    const uint64_t used = acct.used;
    ef_exec_free(e, &acct);
    assert_int_equal(acct.used, 0);
    return used;
}

static void test_mla_cache_per_token(void **state) {
    (void)state;
    ef_model *m = make_model("ds2", "--arch deepseek2 --preset tiny --n-layer 3 --kv-lora 40 --qk-rope 8 --q-lora 24");
    const ef_hparams *hp = &m->hp;
    assert_int_equal(hp->kv_lora_rank, 40);
    assert_int_equal(hp->qk_rope_dim, 8);
    const uint32_t types[2] = {EF_TYPE_F32, EF_TYPE_F16};
    const uint64_t elt[2] = {4, 2};
    for (int i = 0; i < 2; i++) {
        const uint64_t a = state_bytes(m, 100, 8, types[i]), b = state_bytes(m, 612, 8, types[i]);
        const uint64_t per_token = (uint64_t)(40 + 8) * 3 * elt[i];
        /* nothing but the cache scales with n_ctx (MLA's attention splits decode
         * over at most a fixed number of key ranges, not per cache chunk) */
        assert_int_equal(b - a, 512 * per_token);
        ef_mem_account acct = {0};
        ef_exec *e = NULL;
        assert_int_equal(ef_exec_create_kv(m, 64, 8, types[i], &acct, &e), EF_OK);
        assert_int_equal(ef_exec_kv_bytes_per_token(e), per_token);
        ef_exec_free(e, &acct);
    }
    /* vs. the same width with MHA heads (K and V of n_head × head_dim): ≥ 4× */
    ef_model *mha = make_model("mha", "--arch llama --preset tiny --n-layer 3 --n-head-kv 4");
    ef_mem_account acct = {0};
    ef_exec *e = NULL, *e2 = NULL;
    assert_int_equal(ef_exec_create_kv(mha, 64, 8, EF_TYPE_F16, &acct, &e), EF_OK);
    assert_int_equal(ef_exec_create_kv(m, 64, 8, EF_TYPE_F16, &acct, &e2), EF_OK);
    assert_true(ef_exec_kv_bytes_per_token(e) >= 2 * ef_exec_kv_bytes_per_token(e2));
    ef_exec_free(e, &acct);
    ef_exec_free(e2, &acct);
    ef_model_release(mha);
    ef_model_release(m);
}

static void test_window_layers_stop_growing(void **state) {
    (void)state;
    /* every layer windowed: nothing grows with n_ctx */
    ef_model *m = make_model("gqa_win", "--arch edgeformer --attn gqa_window --window 32 --sinks 4 --preset tiny");
    assert_int_equal(state_bytes(m, 256, 8, EF_TYPE_F16), state_bytes(m, 4096, 8, EF_TYPE_F16));
    ef_model_release(m);
    ef_model *mw = make_model("mla_win", "--arch edgeformer --attn mla_window --window 32 --preset tiny");
    assert_int_equal(state_bytes(mw, 256, 8, EF_TYPE_F16), state_bytes(mw, 4096, 8, EF_TYPE_F16));
    ef_model_release(mw);
    /* Gemma-style pattern 2 over 4 layers: layers 0 and 2 windowed, 1 and 3 grow */
    ef_model *g = make_model("pattern", "--arch llama --preset tiny --n-layer 4 --window 16 --swa-pattern 2");
    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    assert_int_equal(ef_exec_create_kv(g, 256, 8, EF_TYPE_F16, &acct, &e), EF_OK);
    const uint64_t per_layer = 2ull * g->hp.n_head_kv * g->hp.head_dim * 2;
    assert_int_equal(ef_exec_kv_bytes_per_token(e), 2 * per_layer);
    ef_exec_free(e, &acct);
    ef_model_release(g);
}

/* Peak state bytes of an n-token prefill (chunks of 32) in the given MLA
 * mode; *created: bytes right after creation. */
static uint64_t prefill_peak(const ef_model *m, int32_t n, int32_t mode, uint64_t *created) {
    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(1, &pool), EF_OK);
    const ef_exec_opts o = {n, 32, EF_TYPE_F16, mode, 0, -1, -1};
    assert_int_equal(ef_exec_create_opts(m, &o, &acct, &e), EF_OK);
    *created = acct.used;
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)n);
    float *row = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
    assert_true(prompt && row);
    for (int32_t i = 0; i < n; i++) prompt[i] = (int32_t)((i * 2654435761u) % (uint32_t)m->hp.n_vocab);
    assert_int_equal(ef_exec_forward(e, pool, prompt, n, 0, 0, row, NULL), EF_OK);
    const uint64_t peak = acct.peak;
    free(prompt);
    free(row);
    ef_exec_free(e, &acct);
    ef_pool_free(pool);
    return peak;
}

/* MLA + window prefill takes the expanded path (cheaper for 32-token chunks
 * here), whose buffers hold only the ring's rows: the peak does not grow
 * with the prompt. The absorbed path allocates nothing after creation. */
static void test_window_prefill_flat(void **state) {
    (void)state;
    ef_model *m = make_model("win_prefill", "--arch edgeformer --attn mla_window --window 32 --sinks 4 --preset tiny "
                                            "--kv-lora 32 --ctx 4096");
    uint64_t created_a = 0, created_b = 0, created_abs = 0;
    const uint64_t peak_a = prefill_peak(m, 256, EF_MLA_AUTO, &created_a);
    const uint64_t peak_b = prefill_peak(m, 1024, EF_MLA_AUTO, &created_b);
    assert_int_equal(created_a, created_b);
    assert_true(peak_a > created_a); /* the expansion buffers were made: the expanded path ran */
    assert_int_equal(peak_a, peak_b);
    const uint64_t peak_abs = prefill_peak(m, 1024, EF_MLA_ABSORBED, &created_abs);
    assert_int_equal(peak_abs, created_abs);
    ef_model_release(m);
}

static int32_t argmax(const float *row, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (row[i] > row[best]) best = i;
    return best;
}

static void test_sinks_stream_past_n_ctx(void **state) {
    (void)state;
    ef_model *m = make_model("stream", "--arch edgeformer --attn mla_window --window 24 --sinks 4 --preset tiny");
    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(1, &pool), EF_OK);
    const ef_exec_opts o = {64, 4, EF_TYPE_F16, EF_MLA_AUTO, 0, -1, -1};
    assert_int_equal(ef_exec_create_opts(m, &o, &acct, &e), EF_OK);
    float *row = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
    assert_non_null(row);
    int32_t tok = 7;
    uint64_t used_at_ctx = 0;
    for (int32_t pos = 0; pos < 300; pos++) { /* far past n_ctx = 64 */
        assert_int_equal(ef_exec_forward(e, pool, &tok, 1, pos, 0, row, NULL), EF_OK);
        tok = argmax(row, m->hp.n_vocab);
        if (pos == 63) used_at_ctx = acct.used;
    }
    assert_int_equal(acct.used, used_at_ctx); /* flat */
    assert_int_equal(acct.peak, used_at_ctx);
    free(row);
    ef_exec_free(e, &acct);
    ef_pool_free(pool);
    ef_model_release(m);
}

static void test_long_prompt_fits_budget(void **state) {
    (void)state;
    enum { N = 16384 };
    ef_model *m = make_model("long", "--arch edgeformer --attn mla_window --window 64 --sinks 4 --preset tiny "
                                     "--n-layer 2 --ctx 32768");
    const int32_t n_vocab = m->hp.n_vocab;
    int32_t *prompt = malloc(sizeof(int32_t) * N);
    float *full = malloc(sizeof(float) * (size_t)n_vocab), *chunked = malloc(sizeof(float) * (size_t)n_vocab);
    assert_true(prompt && full && chunked);
    for (int32_t i = 0; i < N; i++) prompt[i] = (int32_t)((i * 2654435761u) % (uint32_t)n_vocab);
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);

    /* unchunked: the whole prompt in one call */
    ef_mem_account big = {0};
    ef_exec *e = NULL;
    const ef_exec_opts o = {N, N, EF_TYPE_F16, EF_MLA_AUTO, 0, -1, -1};
    assert_int_equal(ef_exec_create_opts(m, &o, &big, &e), EF_OK);
    assert_int_equal(ef_exec_n_batch(e), N);
    assert_int_equal(ef_exec_forward(e, pool, prompt, N, 0, 0, full, NULL), EF_OK);
    ef_exec_free(e, &big);

    /* a budget of a quarter of that: the engine picks a chunk that fits */
    ef_mem_account small = {.budget = big.peak / 4};
    assert_int_equal(ef_exec_create_opts(m, &o, &small, &e), EF_OK);
    assert_true(ef_exec_n_batch(e) < N);
    assert_int_equal(ef_exec_forward(e, pool, prompt, N, 0, 0, chunked, NULL), EF_OK);
    assert_true(small.peak <= small.budget);
    assert_true(big.peak > small.budget);
    for (int32_t v = 0; v < n_vocab; v++) assert_true(fabsf(full[v] - chunked[v]) <= 1e-4f);
    ef_exec_free(e, &small);

    /* too small for even one token: EF_ERR_BUDGET naming the minimum */
    ef_mem_account tiny = {.budget = 4096};
    assert_int_equal(ef_exec_create_opts(m, &o, &tiny, &e), EF_ERR_BUDGET);
    assert_null(e);
    assert_non_null(strstr(ef_err_msg(), "at least"));
    assert_int_equal(tiny.used, 0);

    free(prompt);
    free(full);
    free(chunked);
    ef_pool_free(pool);
    ef_model_release(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mla_cache_per_token),
        cmocka_unit_test(test_window_layers_stop_growing),
        cmocka_unit_test(test_sinks_stream_past_n_ctx),
        cmocka_unit_test(test_window_prefill_flat),
        cmocka_unit_test(test_long_prompt_fits_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
