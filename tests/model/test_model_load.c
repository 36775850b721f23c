/* ef_model_from_gguf on good and broken models written with the internal
 * GGUF writer: each broken model gets the right status and a message that
 * names the key or tensor; allocation failures are reported cleanly at
 * every step; and a good model then loads and runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "exec/forward.h"
#include "format/gguf.h"
#include "model/model.h"
#include "quant/types.h"

enum { N_EMBD = 256, N_HEAD = 4, N_HEAD_KV = 2, HEAD_DIM = 64, N_FF = 256, N_VOCAB = 300 };

/* A model description that each test breaks in one way. */
typedef struct {
    const char *arch;
    int64_t block_count; /* written value */
    int32_t n_layer;     /* layers of tensors written */
    int32_t head_count, head_count_kv;
    int32_t vocab_tokens, embd_rows;
    const char *omit_key, *omit_tensor, *misshape_tensor, *q4k_tensor;
    int tied;
} spec;

static spec good_spec(void) {
    spec s = {"llama", 2, 2, N_HEAD, N_HEAD_KV, N_VOCAB, N_VOCAB, NULL, NULL, NULL, NULL, 0};
    return s;
}

static float *g_data; /* small random weights shared by every tensor */

static void add(ef_gguf_writer *w, const spec *s, const char *name, int64_t ne0, int64_t ne1) {
    if (s->omit_tensor && !strcmp(s->omit_tensor, name)) return;
    if (s->misshape_tensor && !strcmp(s->misshape_tensor, name)) {
        if (ne1) ne1 /= 2; /* a matrix loses half its rows, a vector half its length */
        else ne0 /= 2;
    }
    int64_t ne[2] = {ne0, ne1 ? ne1 : 1};
    uint32_t type = EF_TYPE_F32;
    if (s->q4k_tensor && !strcmp(s->q4k_tensor, name)) type = EF_TYPE_IQ2_XXS;
    uint64_t nbytes = ef_type_row_size(type, ne0) * (uint64_t)ne[1];
    assert_int_equal(ef_gguf_writer_add_tensor(w, name, type, ne1 ? 2 : 1, ne, g_data, nbytes), EF_OK);
}

static void write_model(const spec *s, const char *path) {
    ef_gguf_writer *w = NULL;
    char key[128], name[64];
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    assert_int_equal(ef_vocab_write_synthetic(w, s->vocab_tokens), EF_OK);
    assert_int_equal(ef_gguf_writer_set_str(w, "general.architecture", s->arch), EF_OK);
#define U32(suffix, v)                                                        \
    snprintf(key, sizeof key, "%s.%s", s->arch, suffix);                      \
    assert_int_equal(ef_gguf_writer_set_u32(w, key, (uint32_t)(v)), EF_OK)
    U32("block_count", s->block_count);
    U32("context_length", 128);
    U32("embedding_length", N_EMBD);
    U32("feed_forward_length", N_FF);
    U32("attention.head_count", s->head_count);
    U32("attention.head_count_kv", s->head_count_kv);
#undef U32
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", s->arch);
    assert_int_equal(ef_gguf_writer_set_f32(w, key, 1e-5f), EF_OK);
    if (s->omit_key) ef_gguf_writer_remove(w, s->omit_key);

    const int64_t q_dim = N_HEAD * HEAD_DIM, kv_dim = N_HEAD_KV * HEAD_DIM;
    add(w, s, "token_embd.weight", N_EMBD, s->embd_rows);
    for (int il = 0; il < s->n_layer; il++) {
        struct { const char *suffix; int64_t ne0, ne1; } t[] = {
            {"attn_norm.weight", N_EMBD, 0}, {"attn_q.weight", N_EMBD, q_dim},
            {"attn_k.weight", N_EMBD, kv_dim}, {"attn_v.weight", N_EMBD, kv_dim},
            {"attn_output.weight", q_dim, N_EMBD}, {"ffn_norm.weight", N_EMBD, 0},
            {"ffn_gate.weight", N_EMBD, N_FF}, {"ffn_up.weight", N_EMBD, N_FF},
            {"ffn_down.weight", N_FF, N_EMBD}, {"attn_q.bias", q_dim, 0},
            {"attn_k.bias", kv_dim, 0}, {"attn_v.bias", kv_dim, 0}};
        int n = !strcmp(s->arch, "qwen2") ? 12 : 9;
        for (int i = 0; i < n; i++) {
            snprintf(name, sizeof name, "blk.%d.%s", il, t[i].suffix);
            add(w, s, name, t[i].ne0, t[i].ne1);
        }
    }
    add(w, s, "output_norm.weight", N_EMBD, 0);
    if (!s->tied) add(w, s, "output.weight", N_EMBD, s->embd_rows);
    assert_int_equal(ef_gguf_writer_write(w, path), EF_OK);
    ef_gguf_writer_free(w);
}

static ef_status load(const spec *s, ef_model **m) {
    char path[512];
    snprintf(path, sizeof path, "%s/model_load_case.gguf", EF_TEST_TMP);
    write_model(s, path);
    ef_gguf *g = NULL;
    ef_status st = ef_gguf_open(path, 0, &g);
    assert_int_equal(st, EF_OK);
    return ef_model_from_gguf(g, m);
}

/* Loads a broken model: expects `status` and every needle in the message. */
static void expect_failure(const spec *s, ef_status status, const char *needle1, const char *needle2) {
    ef_model *m = (ef_model *)&m; /* must be reset to NULL */
    ef_status st = load(s, &m);
    const char *msg = ef_err_msg();
    print_message("  -> %s\n", msg);
    assert_int_equal(st, status);
    assert_null(m);
    assert_non_null(strstr(msg, needle1));
    if (needle2) assert_non_null(strstr(msg, needle2));
}

static void test_unknown_arch(void **state) {
    (void)state;
    spec s = good_spec();
    s.arch = "gpt-neox";
    expect_failure(&s, EF_ERR_UNSUPPORTED, "gpt-neox", NULL);
}

static void test_absurd_block_count(void **state) {
    (void)state;
    spec s = good_spec();
    s.block_count = 100000;
    expect_failure(&s, EF_ERR_FORMAT, "llama.block_count", "100000");
    s.block_count = 0;
    expect_failure(&s, EF_ERR_FORMAT, "llama.block_count", NULL);
}

static void test_missing_tensor(void **state) {
    (void)state;
    spec s = good_spec();
    s.omit_tensor = "blk.1.ffn_up.weight";
    expect_failure(&s, EF_ERR_FORMAT, "blk.1.ffn_up.weight", "missing");
    s = good_spec();
    s.n_layer = 1; /* block_count says 2 */
    expect_failure(&s, EF_ERR_FORMAT, "blk.1.", NULL);
    s = good_spec();
    s.arch = "qwen2";
    s.omit_tensor = "blk.0.attn_k.bias";
    expect_failure(&s, EF_ERR_FORMAT, "blk.0.attn_k.bias", NULL);
}

static void test_wrong_shape(void **state) {
    (void)state;
    spec s = good_spec();
    s.misshape_tensor = "blk.0.attn_k.weight";
    expect_failure(&s, EF_ERR_FORMAT, "blk.0.attn_k.weight", "expected {256, 128}");
    s = good_spec();
    s.misshape_tensor = "output_norm.weight";
    expect_failure(&s, EF_ERR_FORMAT, "output_norm.weight", "expected {256}");
}

static void test_head_count_kv_not_dividing(void **state) {
    (void)state;
    spec s = good_spec();
    s.head_count_kv = 3;
    expect_failure(&s, EF_ERR_FORMAT, "head_count_kv", NULL);
}

static void test_vocab_size_mismatch(void **state) {
    (void)state;
    spec s = good_spec();
    s.embd_rows = N_VOCAB + 20;
    expect_failure(&s, EF_ERR_FORMAT, "token_embd.weight", "300");
}

static void test_unsupported_type(void **state) {
    (void)state;
    spec s = good_spec();
    s.q4k_tensor = "blk.1.attn_q.weight";
    expect_failure(&s, EF_ERR_UNSUPPORTED, "blk.1.attn_q.weight", "IQ2_XXS");
}

static void test_missing_hparam(void **state) {
    (void)state;
    spec s = good_spec();
    s.omit_key = "llama.embedding_length";
    expect_failure(&s, EF_ERR_FORMAT, "llama.embedding_length", NULL);
    s.omit_key = "llama.attention.layer_norm_rms_epsilon";
    expect_failure(&s, EF_ERR_FORMAT, "llama.attention.layer_norm_rms_epsilon", NULL);
}

static void check_good(const spec *s, int tied) {
    ef_model *m = NULL;
    assert_int_equal(load(s, &m), EF_OK);
    assert_non_null(m);
    assert_int_equal(m->hp.n_layer, 2);
    assert_int_equal(m->hp.n_vocab, N_VOCAB);
    assert_int_equal(m->hp.head_dim, HEAD_DIM);
    assert_int_equal(m->hp.n_rot, HEAD_DIM);
    assert_true(tied ? m->output == m->tok_embd : m->output != m->tok_embd);
    uint64_t n_params = 0;
    for (int64_t i = 0; i < m->n_tensors; i++)
        n_params += (uint64_t)(m->tensors[i].ne[0] * m->tensors[i].ne[1]);
    assert_int_equal(m->n_params, n_params);
    assert_int_equal(m->n_bytes, 4 * n_params);

    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    assert_int_equal(ef_exec_create(m, 16, 4, &acct, &e), EF_OK);
    int32_t toks[3] = {1, 2, 299};
    float logits[3 * N_VOCAB];
    assert_int_equal(ef_exec_forward(e, NULL, toks, 3, 0, 1, logits, NULL), EF_OK);
    assert_int_equal(ef_exec_forward(e, NULL, toks, 3, 14, 1, logits, NULL), EF_ERR_CONTEXT_FULL);
    atomic_int cancel = 1;
    assert_int_equal(ef_exec_forward(e, NULL, toks, 1, 3, 0, logits, &cancel), EF_ERR_CANCELLED);
    ef_exec_free(e, &acct);
    assert_int_equal(acct.used, 0);
    ef_model_release(m);
}

static void test_good_models_load(void **state) {
    (void)state;
    spec s = good_spec();
    check_good(&s, 0);
    s.tied = 1;
    check_good(&s, 1);
    s = good_spec();
    s.arch = "qwen2";
    check_good(&s, 0);
}

/* ---- allocation failures: fail the N-th allocation for every N ---- */

static _Atomic long g_fail_at, g_count, g_live; /* atomics: worker threads free too */
static void *count_malloc(void *u, size_t n) {
    (void)u;
    if (++g_count == g_fail_at) return NULL;
    void *p = malloc(n);
    if (p) g_live++;
    return p;
}
static void *count_realloc(void *u, void *p, size_t n) {
    (void)u;
    if (++g_count == g_fail_at) return NULL;
    void *q = realloc(p, n);
    if (q && !p) g_live++;
    return q;
}
static void count_free(void *u, void *p) {
    (void)u;
    if (p) g_live--;
    free(p);
}

static void test_alloc_failures(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/model_load_alloc.gguf", EF_TEST_TMP);
    spec s = good_spec();
    s.arch = "qwen2";
    write_model(&s, path);
    for (g_fail_at = 1;; g_fail_at++) {
        g_count = 0;
        g_live = 0;
        ef_set_allocator(count_malloc, count_realloc, count_free, NULL);
        ef_gguf *g = NULL;
        ef_model *m = NULL;
        ef_exec *e = NULL;
        ef_mem_account acct = {0};
        ef_status st = ef_gguf_open(path, 0, &g);
        if (st == EF_OK) st = ef_model_from_gguf(g, &m);
        if (st == EF_OK) st = ef_exec_create(m, 8, 2, &acct, &e);
        int done = st == EF_OK;
        ef_exec_free(e, &acct);
        ef_model_release(m);
        ef_set_allocator(NULL, NULL, NULL, NULL);
        if (!done) {
            if (st != EF_ERR_NO_MEMORY)
                print_message("  allocation %ld: %s (%s)\n", g_fail_at, ef_err_msg(), ef_status_str(st));
            assert_int_equal(st, EF_ERR_NO_MEMORY);
        }
        assert_int_equal(g_live, 0); /* nothing leaked on any path */
        assert_int_equal(acct.used, 0);
        if (done) break;
    }
    print_message("  %ld allocation points checked\n", g_fail_at);
}

int main(void) {
    g_data = calloc(N_EMBD * (N_VOCAB + 20), sizeof(float));
    for (int i = 0; i < N_EMBD * (N_VOCAB + 20); i++) g_data[i] = (float)((i * 37 % 101) - 50) / 500.0f;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_arch),
        cmocka_unit_test(test_absurd_block_count),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_head_count_kv_not_dividing),
        cmocka_unit_test(test_vocab_size_mismatch),
        cmocka_unit_test(test_unsupported_type),
        cmocka_unit_test(test_missing_hparam),
        cmocka_unit_test(test_good_models_load),
        cmocka_unit_test(test_alloc_failures),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_data);
    return rc;
}
