/* The forward pass with the tiled attention kernel (ef_cpu_attn_ext) and an
 * F16 or F32 KV cache, on tiny random-weight llama and qwen2 models written
 * with the internal GGUF writer:
 *   - F16-cache logits stay close to F32-cache logits (relative RMS bound);
 *   - a prompt in chunks gives the same bits as in one call (F32 and F16),
 *     and 1 and 2 threads give the same bits, at every SIMD level; also on
 *     window (sinks, ring) and MLA (absorbed, expanded) models;
 *   - memory is linear in the context: at n_ctx 1024/4096/16384 the account's
 *     peak is the cache plus a near-constant remainder, no n × n term;
 *   - bad KV types, budgets and failed allocations are reported cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cpu/cpu_features.h"
#include "edgeformer/edgeformer.h"
#include "exec/forward.h"
#include "format/gguf.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "quant/types.h"

enum { N_EMBD = 128, N_HEAD = 4, N_HEAD_KV = 2, HEAD_DIM = 32, N_FF = 192, N_LAYER = 2, N_VOCAB = 272 }; /* the synthetic vocabulary needs ≥ 260 */
enum { Q_DIM = N_HEAD * HEAD_DIM, KV_DIM = N_HEAD_KV * HEAD_DIM };

static uint64_t g_rng;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 4503599627370496.0 - 1.0);
}

/* How one tensor is filled: offset + scale × uniform[-1, 1). */
typedef struct {
    float offset, scale;
} fill_spec;

static ef_status fill_tensor(void *user, const char *name, void *dst, uint64_t nbytes) {
    (void)name;
    const fill_spec *f = user;
    float *x = dst;
    for (uint64_t i = 0; i < nbytes / sizeof(float); i++) x[i] = f->offset + f->scale * frand();
    return EF_OK;
}

/* Uniform[-a, a) has variance a²/3: a = √(3/n_in) keeps activations O(1). */
static fill_spec g_matrix_in_embd, g_matrix_in_q, g_matrix_in_ff, g_norm = {1.0f, 0.1f}, g_bias = {0.0f, 0.1f},
                                                                  g_embd = {0.0f, 1.0f};

static void add(ef_gguf_writer *w, const char *name, int64_t ne0, int64_t ne1, fill_spec *f) {
    const int64_t ne[2] = {ne0, ne1 ? ne1 : 1};
    const uint64_t nbytes = (uint64_t)ne[0] * (uint64_t)ne[1] * sizeof(float);
    assert_int_equal(ef_gguf_writer_add_tensor_fill(w, name, EF_TYPE_F32, ne1 ? 2 : 1, ne, nbytes, fill_tensor, f),
                     EF_OK);
}

/* Writes and loads a tiny model of arch "llama" or "qwen2". */
static ef_model *make_model(const char *arch, uint64_t seed) {
    g_matrix_in_embd = (fill_spec){0.0f, sqrtf(3.0f / N_EMBD)};
    g_matrix_in_q = (fill_spec){0.0f, sqrtf(3.0f / Q_DIM)};
    g_matrix_in_ff = (fill_spec){0.0f, sqrtf(3.0f / N_FF)};
    g_rng = seed;
    char path[512], key[128], name[64];
    snprintf(path, sizeof path, "%s/attn_%s_%llu.gguf", EF_TEST_TMP, arch, (unsigned long long)seed);
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_vocab_write_synthetic(w, N_VOCAB), EF_OK);
    assert_int_equal(ef_gguf_writer_set_str(w, "general.architecture", arch), EF_OK);
#define U32(suffix, v)                                   \
    snprintf(key, sizeof key, "%s.%s", arch, suffix);    \
    assert_int_equal(ef_gguf_writer_set_u32(w, key, (uint32_t)(v)), EF_OK)
    U32("block_count", N_LAYER);
    U32("context_length", 16384);
    U32("embedding_length", N_EMBD);
    U32("feed_forward_length", N_FF);
    U32("attention.head_count", N_HEAD);
    U32("attention.head_count_kv", N_HEAD_KV);
#undef U32
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    assert_int_equal(ef_gguf_writer_set_f32(w, key, 1e-5f), EF_OK);

    const int qwen = !strcmp(arch, "qwen2");
    add(w, "token_embd.weight", N_EMBD, N_VOCAB, &g_embd);
    for (int il = 0; il < N_LAYER; il++) {
        struct { const char *suffix; int64_t ne0, ne1; fill_spec *f; } t[] = {
            {"attn_norm.weight", N_EMBD, 0, &g_norm},  {"attn_q.weight", N_EMBD, Q_DIM, &g_matrix_in_embd},
            {"attn_k.weight", N_EMBD, KV_DIM, &g_matrix_in_embd}, {"attn_v.weight", N_EMBD, KV_DIM, &g_matrix_in_embd},
            {"attn_output.weight", Q_DIM, N_EMBD, &g_matrix_in_q}, {"ffn_norm.weight", N_EMBD, 0, &g_norm},
            {"ffn_gate.weight", N_EMBD, N_FF, &g_matrix_in_embd}, {"ffn_up.weight", N_EMBD, N_FF, &g_matrix_in_embd},
            {"ffn_down.weight", N_FF, N_EMBD, &g_matrix_in_ff}, {"attn_q.bias", Q_DIM, 0, &g_bias},
            {"attn_k.bias", KV_DIM, 0, &g_bias}, {"attn_v.bias", KV_DIM, 0, &g_bias}};
        for (int i = 0; i < (qwen ? 12 : 9); i++) {
            snprintf(name, sizeof name, "blk.%d.%s", il, t[i].suffix);
            add(w, name, t[i].ne0, t[i].ne1, t[i].f);
        }
    }
    add(w, "output_norm.weight", N_EMBD, 0, &g_norm);
    add(w, "output.weight", N_EMBD, N_VOCAB, &g_matrix_in_embd);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_OK);
    ef_gguf_writer_free(w);

    ef_gguf *g = NULL;
    ef_model *m = NULL;
    assert_int_equal(ef_gguf_open(path, 1, &g), EF_OK);
    assert_int_equal(ef_model_from_gguf(g, &m), EF_OK);
    return m;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    assert_non_null(p);
    return p;
}

/* The prompts: the first nine calls of k_chunks make SHORT_PROMPT, all of
 * them LONG_PROMPT. 525 positions run past two 256-position chunks of the
 * attention kernel, so prefill and decode merge three chunk states and the
 * order of the merges shows in the bits (with two it would not: a + b is
 * b + a in floating point). The calls cross tile (64) and chunk (256)
 * edges and take both kernel paths (≤ 4 tokens: split-KV, past one chunk
 * and past two; more: tiled). The scalar level, by far the slowest, runs
 * the short prompt, which still crosses a chunk edge. */
static const int32_t k_chunks[] = {1, 3, 60, 4, 2, 130, 65, 3, 4, 130, 118, 3, 1, 1};
enum { SHORT_PROMPT = 272, LONG_PROMPT = 525, N_GEN = 4, MAX_POS = LONG_PROMPT + N_GEN };

/* An exec over MAX_POS positions with calls of up to n_batch tokens. */
static ef_exec_opts opts(uint32_t kv_type, int32_t mla_mode, int32_t n_batch) {
    return (ef_exec_opts){MAX_POS, n_batch, kv_type, mla_mode, 0, -1, -1};
}

/* Logits of the first n_prompt positions of the prompt, in the calls of
 * k_chunks (NULL: one call, which ef_exec_forward splits at n_batch), then
 * N_GEN decode steps fed with fixed tokens: out [n_prompt + N_GEN][n_vocab].
 * Returns the account's peak. */
static uint64_t run(ef_model *m, const ef_exec_opts *o, ef_pool *pool, const int32_t *chunks, int32_t n_prompt,
                    float *out) {
    const int32_t n_vocab = m->hp.n_vocab;
    int32_t tokens[MAX_POS];
    for (int i = 0; i < MAX_POS; i++) tokens[i] = (int32_t)((i * 37 + 11) % n_vocab);
    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    assert_int_equal(ef_exec_create_opts(m, o, &acct, &e), EF_OK);
    assert_int_equal(ef_exec_kv_type(e), o->kv_type);
    assert_int_equal(ef_exec_n_batch(e), o->n_batch);
    int32_t pos = 0;
    for (size_t c = 0; pos < n_prompt; c++) {
        assert_true(!chunks || c < sizeof k_chunks / sizeof k_chunks[0]);
        const int32_t n = chunks ? chunks[c] : n_prompt;
        assert_int_equal(ef_exec_forward(e, pool, tokens + pos, n, pos, 1, out + (size_t)pos * n_vocab, NULL), EF_OK);
        pos += n;
    }
    assert_int_equal(pos, n_prompt);
    for (; pos < n_prompt + N_GEN; pos++)
        assert_int_equal(ef_exec_forward(e, pool, tokens + pos, 1, pos, 0, out + (size_t)pos * n_vocab, NULL), EF_OK);
    ef_exec_free(e, &acct);
    assert_int_equal(acct.used, 0);
    return acct.peak;
}

static ef_pool *g_pool2;
static const size_t N_LOGITS = (size_t)MAX_POS * N_VOCAB;

/* F16 rounds each cached K and V element with relative error ≤ u = 2⁻¹¹
 * (≈ 4.9e-4). Attention outputs are convex mixtures of V (relative error
 * ≤ u) with weights perturbed by exp(q·δk/√d) = 1 + O(u·|score|), scores
 * O(1) here; the two layers' projections and norms carry relative errors
 * through with O(1) gain. So the logits' relative RMS error should be a small
 * multiple of u; the bound is 10u ≈ 4.9e-3. An indexing or conversion bug
 * gives O(1). It must also be non-zero: the cache really is F16. */
static void check_f16_close(const char *arch, uint64_t seed) {
    ef_model *m = make_model(arch, seed);
    float *l32 = xcalloc(N_LOGITS, sizeof(float)), *l16 = xcalloc(N_LOGITS, sizeof(float));
    const ef_exec_opts o32 = opts(EF_TYPE_F32, EF_MLA_AUTO, LONG_PROMPT);
    const ef_exec_opts o16 = opts(EF_TYPE_F16, EF_MLA_AUTO, LONG_PROMPT);
    const uint64_t peak32 = run(m, &o32, g_pool2, NULL, LONG_PROMPT, l32);
    const uint64_t peak16 = run(m, &o16, g_pool2, NULL, LONG_PROMPT, l16);
    double se = 0, ss = 0;
    for (size_t i = 0; i < N_LOGITS; i++) {
        se += ((double)l16[i] - l32[i]) * ((double)l16[i] - l32[i]);
        ss += (double)l32[i] * l32[i];
    }
    const double rel = sqrt(se / ss);
    print_message("  %s: relative RMS F16 vs F32 KV %.3e (bound %.3e); peak %llu vs %llu bytes\n", arch, rel,
                  10.0 / 2048, (unsigned long long)peak16, (unsigned long long)peak32);
    assert_true(rel > 0.0);
    assert_true(rel < 10.0 / 2048);
    assert_true(peak16 < peak32); /* the F16 cache is half the size */
    free(l32), free(l16);
    ef_model_release(m);
}

static void test_f16_close_llama(void **state) { (void)state; check_f16_close("llama", 21); }
static void test_f16_close_qwen2(void **state) { (void)state; check_f16_close("qwen2", 22); }

/* SIMD levels to test: ranks 0 (scalar) up to the best this CPU has (1:
 * AVX2 or NEON, 2: AVX-512 or NEON dotprod). ef_cpu_simd_force caps at a
 * level's rank, and levels 0, 1, 2 have ranks 0, 1, 2, so forcing rank r
 * picks the level of rank r on either architecture. */
static int simd_ranks(void) { return ef_cpu_simd_rank(ef_cpu_simd_supported()) + 1; }

/* At the scalar level, then at each SIMD level this CPU has: the prompt in
 * one call (exec options o_whole) and in the calls of k_chunks (o_parts),
 * with 2 threads, and in k_chunks with 1 thread (o_parts), then decode
 * steps: identical bits. */
static void check_chunks_threads(ef_model *m, const ef_exec_opts *o_whole, const ef_exec_opts *o_parts) {
    const size_t n_max = (size_t)MAX_POS * (size_t)m->hp.n_vocab;
    float *whole = xcalloc(n_max, sizeof(float)), *parts = xcalloc(n_max, sizeof(float));
    float *one = xcalloc(n_max, sizeof(float));
    for (int rank = 0; rank < simd_ranks(); rank++) {
        ef_cpu_simd_force(rank);
        const int32_t n_prompt = rank == 0 ? SHORT_PROMPT : LONG_PROMPT;
        const size_t n_logits = (size_t)(n_prompt + N_GEN) * (size_t)m->hp.n_vocab;
        run(m, o_whole, g_pool2, NULL, n_prompt, whole);
        run(m, o_parts, g_pool2, k_chunks, n_prompt, parts);
        run(m, o_parts, NULL, k_chunks, n_prompt, one);
        assert_memory_equal(whole, parts, n_logits * sizeof(float));
        assert_memory_equal(whole, one, n_logits * sizeof(float));
    }
    ef_cpu_simd_force(-1);
    free(whole), free(parts), free(one);
}

/* The property on a qwen2 model (full causal attention, biases) with either
 * cache type. */
static void chunks_threads_qwen2(uint32_t kv_type) {
    ef_model *m = make_model("qwen2", 31);
    const ef_exec_opts o = opts(kv_type, EF_MLA_AUTO, LONG_PROMPT);
    check_chunks_threads(m, &o, &o);
    ef_model_release(m);
}

static void test_chunks_threads_f32(void **state) { (void)state; chunks_threads_qwen2(EF_TYPE_F32); }
static void test_chunks_threads_f16(void **state) { (void)state; chunks_threads_qwen2(EF_TYPE_F16); }

/* The same property on window (sinks, ring rows) and MLA models made with
 * `edgeformer make-model`, F16 cache. The whole prompt runs as one call;
 * the split ones with calls of at most M_RING_BATCH tokens, which gives
 * window layers (windows of 100 cross tile and chunk edges) a ring of
 * sinks + window + M_RING_BATCH − 1 = 232 rows that wraps at position 232,
 * where the one-call exec keeps every position (a ring would not be
 * shorter): both layouts must give the same bits. MLA runs one forced path
 * (absorbed or expanded), since AUTO may pick another path per chunk. */
enum { M_RING_BATCH = 130 };

static ef_model *make_cli_model(const char *name, const char *args) {
    char path[1024], cmd[4096];
    snprintf(path, sizeof path, "%s/attn_kv_%s.gguf", EF_TEST_TMP, name);
    snprintf(cmd, sizeof cmd, "\"%s\" make-model %s -o \"%s\"", EF_CLI, args, path);
    assert_int_equal(system(cmd), 0);
    ef_gguf *g = NULL;
    ef_model *m = NULL;
    assert_int_equal(ef_gguf_open(path, 1, &g), EF_OK);
    assert_int_equal(ef_model_from_gguf(g, &m), EF_OK);
    return m;
}

/* 1 when some layer of an exec of m with options o keeps a ring of fewer
 * rows than the short prompt's positions (so the ring wraps). */
static int ring_wraps(ef_model *m, const ef_exec_opts *o) {
    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    assert_int_equal(ef_exec_create_opts(m, o, &acct, &e), EF_OK);
    ef_kv_geometry g;
    ef_exec_kv_geometry(e, &g);
    int wraps = 0;
    for (int32_t il = 0; il < g.n_layer; il++) wraps |= g.layer_ring[il] > 0 && g.layer_ring[il] < SHORT_PROMPT;
    ef_exec_free(e, &acct);
    return wraps;
}

/* windowed: the model has window layers, so the split runs' ring wraps. */
static void check_model_chunks_threads(const char *name, const char *args, int32_t mla_mode, int windowed) {
    ef_model *m = make_cli_model(name, args);
    const ef_exec_opts o_whole = opts(EF_TYPE_F16, mla_mode, LONG_PROMPT);
    const ef_exec_opts o_parts = opts(EF_TYPE_F16, mla_mode, M_RING_BATCH);
    assert_int_equal(ring_wraps(m, &o_whole), 0);
    assert_int_equal(ring_wraps(m, &o_parts), windowed);
    check_chunks_threads(m, &o_whole, &o_parts);
    ef_model_release(m);
}

static void test_chunks_threads_window(void **state) {
    (void)state;
    check_model_chunks_threads("gqa_window", "--arch edgeformer --attn gqa_window --window 100 --sinks 3 --preset tiny "
                               "--ctx 1024 --seed 81", EF_MLA_AUTO, 1);
}

static void test_chunks_threads_mla(void **state) {
    (void)state;
    const char *args = "--arch edgeformer --attn mla --preset tiny --kv-lora 32 --ctx 1024 --seed 82";
    check_model_chunks_threads("mla", args, EF_MLA_ABSORBED, 0);
    check_model_chunks_threads("mla", args, EF_MLA_EXPANDED, 0);
}

static void test_chunks_threads_mla_window(void **state) {
    (void)state;
    check_model_chunks_threads("mla_window", "--arch edgeformer --attn mla_window --window 100 --sinks 3 --preset tiny "
                               "--kv-lora 32 --ctx 1024 --seed 83", EF_MLA_ABSORBED, 1);
}

/* Memory at the end of a long context: a 64-token prefill and a decode step
 * over (almost) the whole cache, with two workers. */
static uint64_t peak_at(ef_model *m, int32_t n_ctx, uint32_t kv_type) {
    enum { N_BATCH = 64 };
    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    int32_t tokens[N_BATCH];
    for (int i = 0; i < N_BATCH; i++) tokens[i] = i % N_VOCAB;
    float *logits = xcalloc((size_t)N_BATCH * N_VOCAB, sizeof(float));
    assert_int_equal(ef_exec_create_kv(m, n_ctx, N_BATCH, kv_type, &acct, &e), EF_OK);
    assert_int_equal(ef_exec_forward(e, g_pool2, tokens, 1, n_ctx - N_BATCH - 1, 0, logits, NULL), EF_OK);
    assert_int_equal(ef_exec_forward(e, g_pool2, tokens, N_BATCH, n_ctx - N_BATCH, 1, logits, NULL), EF_OK);
    for (size_t i = 0; i < (size_t)N_BATCH * N_VOCAB; i++) assert_true(isfinite(logits[i]));
    ef_exec_free(e, &acct);
    free(logits);
    return acct.peak;
}

static void test_memory_linear_in_context(void **state) {
    (void)state;
    ef_model *m = make_model("llama", 41);
    static const int32_t n_ctx[] = {1024, 4096, 16384};
    const double kv_per_token = (double)N_LAYER * KV_DIM * 2 /* K and V */ * sizeof(uint16_t);
    double rest[3];
    uint64_t peak[3];
    for (int i = 0; i < 3; i++) {
        peak[i] = peak_at(m, n_ctx[i], EF_TYPE_F16);
        rest[i] = (double)peak[i] - kv_per_token * n_ctx[i];
        print_message("  n_ctx %5d: peak %llu bytes = KV %.0f + %.0f\n", (int)n_ctx[i],
                      (unsigned long long)peak[i], kv_per_token * n_ctx[i], rest[i]);
    }
    /* Beyond the cache: activations of 64 tokens, per-worker scratch, and the
     * split-KV partials (4 tokens × 4 heads × 34 floats per 256 positions:
     * ~8.5 bytes/token, 1.7% of the cache's 512). A 64 × n_ctx score matrix
     * would add 4 MiB at 16384, an n_ctx² one 1 GiB. */
    assert_true(rest[2] < 1024.0 * 1024.0);
    assert_true(rest[2] - rest[0] < 0.03 * kv_per_token * (n_ctx[2] - n_ctx[0]));
    /* and the peak itself is a straight line in n_ctx */
    const double slope_a = (double)(peak[1] - peak[0]) / (n_ctx[1] - n_ctx[0]);
    const double slope_b = (double)(peak[2] - peak[1]) / (n_ctx[2] - n_ctx[1]);
    assert_true(fabs(slope_a - slope_b) <= 0.001 * slope_a);
    /* The F32 cache doubles the cache part; the rest differs at most by the
     * F16 path's staging rows for the new K and V (64 × KV_DIM floats each). */
    const double rest32 = (double)peak_at(m, 4096, EF_TYPE_F32) - 2 * kv_per_token * 4096;
    assert_true(rest32 <= rest[1] && rest[1] - rest32 <= 2.0 * 64 * KV_DIM * sizeof(float));
    ef_model_release(m);
}

static void test_bad_kv_type_and_budget(void **state) {
    (void)state;
    ef_model *m = make_model("llama", 51);
    ef_mem_account acct = {0};
    ef_exec *e = (ef_exec *)&acct;
    assert_int_equal(ef_exec_create_kv(m, 128, 16, EF_TYPE_Q8_0, &acct, &e), EF_ERR_INVALID_ARG);
    assert_null(e);
    assert_non_null(strstr(ef_err_msg(), "KV-cache type"));

    /* A budget below the cache: EF_ERR_BUDGET, nothing held. */
    acct.budget = 1000;
    assert_int_equal(ef_exec_create_kv(m, 128, 16, EF_TYPE_F16, &acct, &e), EF_ERR_BUDGET);
    assert_null(e);
    assert_int_equal(acct.used, 0);

    /* A budget that fits creation exactly: growing the attention scratch for
     * two workers fails cleanly, one worker still runs. */
    acct.budget = 0;
    assert_int_equal(ef_exec_create_kv(m, 128, 16, EF_TYPE_F16, &acct, &e), EF_OK);
    acct.budget = acct.used;
    const uint64_t used = acct.used;
    int32_t tok = 5;
    float logits[N_VOCAB];
    assert_int_equal(ef_exec_forward(e, g_pool2, &tok, 1, 0, 0, logits, NULL), EF_ERR_BUDGET);
    assert_int_equal(acct.used, used);
    assert_int_equal(ef_exec_forward(e, NULL, &tok, 1, 0, 0, logits, NULL), EF_OK);
    acct.budget = 0;
    assert_int_equal(ef_exec_forward(e, g_pool2, &tok, 1, 1, 0, logits, NULL), EF_OK);
    assert_true(acct.used > used);
    ef_exec_free(e, &acct);
    assert_int_equal(acct.used, 0);
    ef_model_release(m);
}

/* Fails the n-th allocation of create + forward, for every n. */
static long g_countdown, g_failures;
static void *failing_malloc(void *user, size_t size) {
    (void)user;
    if (g_countdown == 0) return g_failures++, NULL;
    if (g_countdown > 0) g_countdown--;
    return malloc(size);
}
static void *failing_realloc(void *user, void *p, size_t size) {
    (void)user;
    if (g_countdown == 0) return g_failures++, NULL;
    if (g_countdown > 0) g_countdown--;
    return realloc(p, size);
}
static void plain_free(void *user, void *p) {
    (void)user;
    free(p);
}

static void test_allocation_failures(void **state) {
    (void)state;
    ef_model *m = make_model("qwen2", 61);
    int32_t toks[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float logits[N_VOCAB];
    for (long n = 0;; n++) {
        ef_mem_account acct = {0};
        ef_exec *e = NULL;
        g_countdown = n;
        g_failures = 0;
        assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL), EF_OK);
        ef_status st = ef_exec_create_kv(m, 64, 8, EF_TYPE_F16, &acct, &e);
        if (st == EF_OK) st = ef_exec_forward(e, g_pool2, toks, 8, 0, 0, logits, NULL);
        ef_exec_free(e, &acct);
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        assert_int_equal(acct.used, 0);
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            assert_true(n > 5); /* the failures above did hit create and forward */
            break;
        }
        assert_int_equal(st, EF_ERR_NO_MEMORY);
    }
    ef_model_release(m);
}

static int setup(void **state) {
    (void)state;
    return ef_pool_create(2, &g_pool2) == EF_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ef_pool_free(g_pool2);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_close_llama),
        cmocka_unit_test(test_f16_close_qwen2),
        cmocka_unit_test(test_chunks_threads_f32),
        cmocka_unit_test(test_chunks_threads_f16),
        cmocka_unit_test(test_chunks_threads_window),
        cmocka_unit_test(test_chunks_threads_mla),
        cmocka_unit_test(test_chunks_threads_mla_window),
        cmocka_unit_test(test_memory_linear_in_context),
        cmocka_unit_test(test_bad_kv_type_and_budget),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
