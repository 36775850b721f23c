/* Sparse MLP end to end on generated fixture models: the session option and
 * its errors, threshold 0 against the dense path, calibration (the skipped
 * fraction at each level matches the target on the calibration text), ReLU
 * models (exact zeros: sparse == dense), static masks (smaller model, same
 * logits as the dense model with the pruned neurons zeroed), and malformed
 * metadata. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/session.h"
#include "api/sparsity_prune.h"
#include "edgeformer/edgeformer.h"
#include "exec/ffn_sparse.h"
#include "format/gguf.h"
#include "model/sparsity.h"
#include "quant/types.h"

#define N_TOK 24

/* A file in the test folder, distinct per run mode (the scalar run of this
 * program may run at the same time as the default one). buf: [512]. */
static const char *tmp_path(char *buf, const char *name) {
    const char *simd = getenv("EF_CPU_SIMD");
    snprintf(buf, 512, "%s/sparse_%s%s%s.gguf", EF_TEST_TMP, name, simd ? "_simd" : "", simd ? simd : "");
    return buf;
}

static ef_model *load(const char *path) {
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(path, NULL, &m), EF_OK);
    return m;
}

static ef_session *session(ef_model *m, float level, ef_status expect) {
    ef_session_params *p = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(p, 128), EF_OK);
    assert_int_equal(ef_session_params_set_threads(p, 2), EF_OK);
    assert_int_equal(ef_session_params_set_kv_type(p, "f32"), EF_OK);
    assert_int_equal(ef_session_params_set_sparsity(p, level), EF_OK);
    ef_session *s = NULL;
    assert_int_equal(ef_session_create(m, p, &s), expect);
    ef_session_params_free(p);
    return s;
}

static void tokens_of(int32_t *t, int32_t n, int32_t n_vocab, uint32_t seed) {
    uint32_t x = seed;
    for (int32_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        t[i] = 3 + (int32_t)((x >> 8) % (uint32_t)(n_vocab - 3));
    }
}

/* Logits [n][n_vocab] of a prompt prefilled with its first 4 tokens, then
 * decoded one token at a time (the sparse path runs only in decode). */
static float *decode_logits(ef_session *s, const int32_t *t, int32_t n, int32_t n_vocab) {
    float *out = malloc(sizeof(float) * (size_t)n * (size_t)n_vocab);
    assert_non_null(out);
    assert_int_equal(ef_session_eval(s, t, 4, 0), EF_OK);
    for (int32_t i = 4; i < n; i++) {
        if (i > 4) assert_int_equal(ef_session_eval(s, t + i - 1, 1, 0), EF_OK);
        const float *l;
        assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
        memcpy(out + (size_t)i * n_vocab, l, sizeof(float) * (size_t)n_vocab);
    }
    return out;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static double stat(const ef_session *s, int32_t key) {
    double v = -1;
    assert_int_equal(ef_session_stat(s, key, &v), EF_OK);
    return v;
}

/* Option checks; level > 0 without thresholds or ReLU is refused. */
static void test_option_errors(void **state) {
    (void)state;
    ef_session_params *p = NULL;
    assert_int_equal(ef_session_params_create(&p), EF_OK);
    assert_int_equal(ef_session_params_set_sparsity(p, -0.1f), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_params_set_sparsity(p, 1.0f), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_params_set_sparsity(p, NAN), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_session_params_set_sparsity(NULL, 0.5f), EF_ERR_INVALID_ARG);
    ef_session_params_free(p);
    ef_model *m = load(SP_SILU);
    float lv = -1;
    assert_int_equal(ef_model_sparsity(m, &lv), 0u);
    assert_true(lv == 0.0f);
    assert_null(session(m, 0.5f, EF_ERR_UNSUPPORTED));
    ef_session *s = session(m, 0.0f, EF_OK);
    assert_true(stat(s, EF_STAT_SPARSE_SKIPPED) == 0.0);
    ef_session_free(s);
    ef_model_free(m);
}

/* The sparse path with every threshold 0 computes every neuron: the same
 * logits as the dense path up to the summation order of ffn_down. */
static void check_threshold_zero(const char *path, double tol) {
    ef_model *m = load(path);
    const int32_t n_vocab = ef_model_n_vocab(m);
    int32_t t[N_TOK];
    tokens_of(t, N_TOK, n_vocab, 5);
    ef_session *dense = session(m, 0.0f, EF_OK), *sparse = session(m, 0.0f, EF_OK);
    const float zeros[16] = {0};
    assert_true(ef_model_n_layer(m) <= 16);
    assert_int_equal(ef_exec_set_sparsity(sparse->exec, 0.0f, zeros), EF_OK);
    float *a = decode_logits(dense, t, N_TOK, n_vocab), *b = decode_logits(sparse, t, N_TOK, n_vocab);
    const size_t off = (size_t)4 * n_vocab, n = (size_t)(N_TOK - 4) * n_vocab;
    print_message("%s: threshold 0 vs dense: max |diff| %.2e\n", path, max_abs_diff(a + off, b + off, n));
    assert_true(max_abs_diff(a + off, b + off, n) <= tol);
    assert_true(stat(sparse, EF_STAT_SPARSE_SKIPPED) == 0.0);
    /* and a positive threshold does change them: the path is really taken */
    const float high[16] = {0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f,
                            0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f};
    assert_int_equal(ef_session_reset(sparse), EF_OK);
    assert_int_equal(ef_exec_set_sparsity(sparse->exec, 0.5f, high), EF_OK);
    float *c = decode_logits(sparse, t, N_TOK, n_vocab);
    assert_true(max_abs_diff(a + off, c + off, n) > tol);
    assert_true(stat(sparse, EF_STAT_SPARSE_SKIPPED) > 0.0);
    free(a), free(b), free(c);
    ef_session_free(dense);
    ef_session_free(sparse);
    ef_model_free(m);
}

static void test_threshold_zero_f32(void **state) { (void)state; check_threshold_zero(SP_SILU, 1e-4); }
static void test_threshold_zero_f16(void **state) { (void)state; check_threshold_zero(SP_F16, 1e-4); }
/* quantized: the neuron rows keep the blocks' codes and scales (no requantization) */
static void test_threshold_zero_q8_0(void **state) { (void)state; check_threshold_zero(SP_Q8, 1e-4); }
static void test_threshold_zero_q4_0(void **state) { (void)state; check_threshold_zero(SP_Q4, 1e-4); }

/* Deterministic English-like text from a small word list. */
static char *make_text(uint32_t seed, size_t n_words, size_t *len) {
    static const char *const words[] = {"the", "model", "runs", "on", "a", "small", "device", "and", "every",
                                        "token", "reads", "weights", "from", "memory", "while", "sparse",
                                        "neurons", "skip", "work", "quickly", "river", "stone", "light", "of"};
    char *s = malloc(n_words * 12 + 1);
    size_t p = 0;
    uint32_t x = seed;
    for (size_t i = 0; i < n_words; i++) {
        x = x * 1664525u + 1013904223u;
        p += (size_t)sprintf(s + p, "%s%s", i ? " " : "", words[(x >> 8) % (sizeof words / sizeof words[0])]);
    }
    *len = p;
    return s;
}

/* Calibrate, reload, and at each level decode the calibration text: the
 * fraction of skipped neurons is the level within 5 points. */
static void test_calibration_levels(void **state) {
    (void)state;
    ef_model *m = load(SP_SILU);
    size_t len;
    char *text = make_text(11, 400, &len);
    char out_buf[512];
    const char *out = tmp_path(out_buf, "calibrated");
    assert_int_equal(ef_sparsity_calibrate(m, text, len, 0.4f, out), EF_OK);
    assert_int_equal(ef_sparsity_calibrate(m, text, len, 1.5f, out), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_sparsity_calibrate(m, NULL, len, 0.5f, out), EF_ERR_INVALID_ARG);
    ef_model *c = load(out);
    float lv = 0;
    assert_int_equal(ef_model_sparsity(c, &lv), EF_SPARSITY_THRESHOLDS);
    assert_float_equal(lv, 0.4f, 1e-6f);
    size_t n_tok = 0;
    assert_int_equal(ef_tokenize(c, text, len, EF_TOKENIZE_ADD_SPECIAL, NULL, 0, &n_tok), EF_ERR_BUFFER_TOO_SMALL);
    int32_t *tok = malloc(sizeof(int32_t) * n_tok);
    assert_int_equal(ef_tokenize(c, text, len, EF_TOKENIZE_ADD_SPECIAL, tok, n_tok, &n_tok), EF_OK);
    if (n_tok > 256) n_tok = 256; /* the first calibration window */
    const float levels[] = {0.25f, 0.4f, 0.5f, 0.7f};
    for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
        ef_session_params *p = NULL;
        assert_int_equal(ef_session_params_create(&p), EF_OK);
        assert_int_equal(ef_session_params_set_n_ctx(p, 256), EF_OK);
        assert_int_equal(ef_session_params_set_sparsity(p, levels[li]), EF_OK);
        ef_session *s = NULL;
        assert_int_equal(ef_session_create(c, p, &s), EF_OK);
        ef_session_params_free(p);
        for (size_t i = 0; i < n_tok; i++) assert_int_equal(ef_session_eval(s, tok + i, 1, 0), EF_OK);
        const double skipped = stat(s, EF_STAT_SPARSE_SKIPPED);
        print_message("level %.2f: skipped %.4f\n", (double)levels[li], skipped);
        assert_true(fabs(skipped - levels[li]) <= 0.05);
        ef_session_free(s);
    }
    free(tok);
    free(text);
    ef_model_free(c);
    ef_model_free(m);
}

/* ReLU-family model: any level > 0 skips exact zeros only, so the logits
 * are the dense ones (up to summation order), and many neurons are skipped. */
static void test_relu_exact(void **state) {
    (void)state;
    ef_model *m = load(SP_RELU);
    assert_int_equal(ef_model_sparsity(m, NULL), EF_SPARSITY_RELU);
    const int32_t n_vocab = ef_model_n_vocab(m);
    int32_t t[N_TOK];
    tokens_of(t, N_TOK, n_vocab, 9);
    ef_session *dense = session(m, 0.0f, EF_OK), *sparse = session(m, 0.3f, EF_OK);
    float *a = decode_logits(dense, t, N_TOK, n_vocab), *b = decode_logits(sparse, t, N_TOK, n_vocab);
    const size_t off = (size_t)4 * n_vocab, n = (size_t)(N_TOK - 4) * n_vocab;
    assert_true(max_abs_diff(a + off, b + off, n) <= 1e-4);
    const double skipped = stat(sparse, EF_STAT_SPARSE_SKIPPED);
    print_message("relu: skipped %.4f\n", skipped);
    assert_true(skipped > 0.3 && skipped < 0.7); /* random weights: about half the gates are negative */
    free(a), free(b);
    ef_session_free(dense);
    ef_session_free(sparse);
    ef_model_free(m);
}

/* Writes `src` with the keep key removed and, for each layer, the ffn_up
 * rows of the pruned neurons zeroed: a dense model computing exactly what
 * the mask means (silu(g) * 0 = 0). */
static void write_zeroed_reference(const char *src, const char *dst) {
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(src, 1, &g), EF_OK);
    uint32_t et;
    uint64_t n;
    assert_int_equal(ef_gguf_get_arr(g, EF_SPARSITY_KEY_KEEP, &et, &n), EF_OK);
    const void *kp;
    assert_int_equal(ef_gguf_get_arr_data(g, EF_SPARSITY_KEY_KEEP, &kp), EF_OK);
    const uint8_t *keep = kp;
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_kv(g); i++) assert_int_equal(ef_gguf_writer_copy_kv(w, g, i), EF_OK);
    ef_gguf_writer_remove(w, EF_SPARSITY_KEY_KEEP);
    void *bufs[64];
    int nb = 0;
    for (int64_t i = 0; i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        int layer = -1;
        const void *data = t->data;
        if (sscanf(t->name, "blk.%d.ffn_up.weight", &layer) == 1 && strstr(t->name, "ffn_up")) {
            const int64_t n_ff = t->ne[1];
            const uint64_t row = ef_type_row_size(t->type, t->ne[0]);
            uint8_t *copy = malloc((size_t)t->nbytes);
            memcpy(copy, t->data, (size_t)t->nbytes);
            for (int64_t j = 0; j < n_ff; j++)
                if (!keep[(int64_t)layer * n_ff + j]) memset(copy + (uint64_t)j * row, 0, (size_t)row);
            bufs[nb++] = copy;
            data = copy;
        }
        assert_int_equal(ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data, t->nbytes), EF_OK);
    }
    assert_int_equal(ef_gguf_writer_write(w, dst), EF_OK);
    ef_gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    ef_gguf_close(g);
}

/* A masked model loads smaller and gives the logits of the zeroed dense model. */
static void test_static_mask(void **state) {
    (void)state;
    char ref_buf[512];
    const char *ref_path = tmp_path(ref_buf, "mask_reference");
    write_zeroed_reference(SP_MASK, ref_path);
    ef_model *masked = load(SP_MASK), *ref = load(ref_path), *full = load(SP_SILU);
    assert_int_equal(ef_model_sparsity(masked, NULL), EF_SPARSITY_MASKED);
    assert_int_equal(ef_model_sparsity(ref, NULL), 0u);
    assert_true(ef_model_size_bytes(masked) < ef_model_size_bytes(ref));
    assert_true(ef_model_size_bytes(ref) == ef_model_size_bytes(full));
    const int32_t n_vocab = ef_model_n_vocab(masked);
    int32_t t[N_TOK];
    tokens_of(t, N_TOK, n_vocab, 13);
    ef_session *a = session(masked, 0.0f, EF_OK), *b = session(ref, 0.0f, EF_OK), *c = session(full, 0.0f, EF_OK);
    /* prefill (all logits) and decode */
    assert_int_equal(ef_session_eval(a, t, N_TOK, EF_EVAL_ALL_LOGITS), EF_OK);
    assert_int_equal(ef_session_eval(b, t, N_TOK, EF_EVAL_ALL_LOGITS), EF_OK);
    assert_int_equal(ef_session_eval(c, t, N_TOK, EF_EVAL_ALL_LOGITS), EF_OK);
    double d_ref = 0, d_full = 0;
    for (int32_t i = 0; i < N_TOK; i++) {
        const float *la, *lb, *lc;
        assert_int_equal(ef_session_logits(a, i, &la), EF_OK);
        assert_int_equal(ef_session_logits(b, i, &lb), EF_OK);
        assert_int_equal(ef_session_logits(c, i, &lc), EF_OK);
        d_ref = fmax(d_ref, max_abs_diff(la, lb, (size_t)n_vocab));
        d_full = fmax(d_full, max_abs_diff(la, lc, (size_t)n_vocab));
    }
    print_message("mask: vs zeroed reference %.2e, vs unmasked %.2e\n", d_ref, d_full);
    assert_true(d_ref <= 1e-4);
    assert_true(d_full > 1e-3); /* the mask does change the model */
    ef_session_free(a), ef_session_free(b), ef_session_free(c);
    ef_model_free(masked), ef_model_free(ref), ef_model_free(full);
}

/* Writes src with a keep mask: layer il keeps the neurons j with
 * (j * 7 + il) % 160 < keep_per_layer[il] (scattered, a different set and
 * count per layer). The fixtures have 2 layers of 160 neurons. */
static void write_per_layer_mask(const char *src, const char *dst, const int32_t keep_per_layer[2]) {
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(src, 1, &g), EF_OK);
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_kv(g); i++) assert_int_equal(ef_gguf_writer_copy_kv(w, g, i), EF_OK);
    uint8_t keep[2 * 160]; /* [n_layer][n_ff] */
    for (int il = 0; il < 2; il++)
        for (int j = 0; j < 160; j++) keep[il * 160 + j] = (j * 7 + il) % 160 < keep_per_layer[il];
    assert_int_equal(ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_KEEP, EF_GGUF_U8, keep, 2 * 160), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        assert_int_equal(ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes), EF_OK);
    }
    assert_int_equal(ef_gguf_writer_write(w, dst), EF_OK);
    ef_gguf_writer_free(w);
    ef_gguf_close(g);
}

/* Masks keeping a different count per layer (per-layer n_ff): each layer
 * has its own FFN width, and prefill, dense decode and sparse decode at
 * threshold 0 all give the logits of the zeroed dense model. A count that
 * is not whole blocks of a quantized ffn_down is refused. */
static void check_per_layer_mask(const char *src, const char *name, double tol) {
    char path_buf[512], ref_buf[512], ref_name[64];
    snprintf(ref_name, sizeof ref_name, "%s_reference", name);
    const char *path = tmp_path(path_buf, name), *ref_path = tmp_path(ref_buf, ref_name);
    const int32_t keep[2] = {64, 128};
    write_per_layer_mask(src, path, keep);
    write_zeroed_reference(path, ref_path);
    ef_model *masked = load(path), *ref = load(ref_path);
    assert_int_equal(ef_model_sparsity(masked, NULL), EF_SPARSITY_MASKED);
    assert_int_equal(masked->hp.n_ff, 128); /* the widest layer */
    assert_int_equal(ef_layer_n_ff(&masked->layers[0]), 64);
    assert_int_equal(ef_layer_n_ff(&masked->layers[1]), 128);
    assert_int_equal(masked->layers[0].ffn_down->ne[0], 64);
    assert_true(ef_model_size_bytes(masked) < ef_model_size_bytes(ref));
    const int32_t n_vocab = ef_model_n_vocab(masked);
    int32_t t[N_TOK];
    tokens_of(t, N_TOK, n_vocab, 29);
    /* prefill, all logits */
    ef_session *a = session(masked, 0.0f, EF_OK), *b = session(ref, 0.0f, EF_OK);
    assert_int_equal(ef_session_eval(a, t, N_TOK, EF_EVAL_ALL_LOGITS), EF_OK);
    assert_int_equal(ef_session_eval(b, t, N_TOK, EF_EVAL_ALL_LOGITS), EF_OK);
    double d = 0;
    for (int32_t i = 0; i < N_TOK; i++) {
        const float *la, *lb;
        assert_int_equal(ef_session_logits(a, i, &la), EF_OK);
        assert_int_equal(ef_session_logits(b, i, &lb), EF_OK);
        d = fmax(d, max_abs_diff(la, lb, (size_t)n_vocab));
    }
    /* decode, dense and through the sparse path with every threshold 0 */
    ef_session *sp = session(masked, 0.0f, EF_OK);
    const float zeros[16] = {0};
    assert_int_equal(ef_exec_set_sparsity(sp->exec, 0.0f, zeros), EF_OK);
    assert_int_equal(ef_session_reset(a), EF_OK);
    assert_int_equal(ef_session_reset(b), EF_OK);
    float *la = decode_logits(a, t, N_TOK, n_vocab), *lb = decode_logits(b, t, N_TOK, n_vocab);
    float *ls = decode_logits(sp, t, N_TOK, n_vocab);
    const size_t off = (size_t)4 * n_vocab, n = (size_t)(N_TOK - 4) * n_vocab;
    const double d_dec = max_abs_diff(la + off, lb + off, n), d_sparse = max_abs_diff(ls + off, lb + off, n);
    print_message("%s: per-layer mask (64, 128 of 160) vs zeroed reference: prefill %.2e, decode %.2e, "
                  "sparse decode %.2e\n", name, d, d_dec, d_sparse);
    assert_true(d <= tol && d_dec <= tol && d_sparse <= tol);
    free(la), free(lb), free(ls);
    ef_session_free(a), ef_session_free(b), ef_session_free(sp);
    ef_model_free(masked), ef_model_free(ref);
}

static void test_per_layer_mask(void **state) {
    (void)state;
    check_per_layer_mask(SP_SILU, "per_layer_f32", 1e-4);
    /* Q8_0: ffn_down's kept columns are requantized, the reference keeps the file's blocks */
    check_per_layer_mask(SP_Q8, "per_layer_q8", 0.05);
    /* 40 neurons in a layer is not whole Q8_0 blocks: refused, naming the layer */
    char buf[512];
    const char *odd = tmp_path(buf, "per_layer_odd");
    const int32_t keep[2] = {64, 40};
    write_per_layer_mask(SP_Q8, odd, keep);
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(odd, NULL, &m), EF_ERR_UNSUPPORTED);
    assert_non_null(strstr(ef_last_error(), "layer 1"));
}

/* Pruning from data: the written mask keeps the same multiple of 32 neurons
 * in every layer, the copy loads smaller, and equals the zeroed dense model. */
static void test_prune_from_data(void **state) {
    (void)state;
    ef_model *m = load(SP_SILU);
    size_t len;
    char *text = make_text(17, 300, &len);
    char out_buf[512], ref_buf[512];
    const char *out = tmp_path(out_buf, "pruned"), *ref_path = tmp_path(ref_buf, "pruned_reference");
    assert_int_equal(ef_sparsity_prune(m, text, len, 0.0f, out), EF_ERR_INVALID_ARG);
    assert_int_equal(ef_sparsity_prune(m, text, len, 0.6f, out), EF_OK);
    ef_model *pruned = load(out);
    assert_int_equal(ef_model_sparsity(pruned, NULL), EF_SPARSITY_MASKED);
    assert_int_equal(pruned->hp.n_ff, 96); /* 0.6 * 160 = 96: three blocks of 32 */
    assert_true(ef_model_size_bytes(pruned) < ef_model_size_bytes(m));
    assert_int_equal(ef_sparsity_prune(pruned, text, len, 0.5f, out), EF_ERR_UNSUPPORTED); /* already masked */
    write_zeroed_reference(out, ref_path);
    ef_model *ref = load(ref_path);
    const int32_t n_vocab = ef_model_n_vocab(m);
    int32_t t[N_TOK];
    tokens_of(t, N_TOK, n_vocab, 19);
    ef_session *a = session(pruned, 0.0f, EF_OK), *b = session(ref, 0.0f, EF_OK);
    assert_int_equal(ef_session_eval(a, t, N_TOK, 0), EF_OK);
    assert_int_equal(ef_session_eval(b, t, N_TOK, 0), EF_OK);
    const float *la, *lb;
    assert_int_equal(ef_session_logits(a, -1, &la), EF_OK);
    assert_int_equal(ef_session_logits(b, -1, &lb), EF_OK);
    assert_true(max_abs_diff(la, lb, (size_t)n_vocab) <= 1e-4);
    ef_session_free(a), ef_session_free(b);
    ef_model_free(ref), ef_model_free(pruned), ef_model_free(m);
    free(text);
}

/* Copies SP_SILU with one key set by `set`, and expects the load to fail. */
static void expect_bad(ef_status (*set)(ef_gguf_writer *), ef_status expect) {
    char path_buf[512];
    const char *path = tmp_path(path_buf, "bad");
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(SP_SILU, 1, &g), EF_OK);
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_kv(g); i++) assert_int_equal(ef_gguf_writer_copy_kv(w, g, i), EF_OK);
    assert_int_equal(set(w), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        assert_int_equal(ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes), EF_OK);
    }
    assert_int_equal(ef_gguf_writer_write(w, path), EF_OK);
    ef_gguf_writer_free(w);
    ef_gguf_close(g);
    ef_model *m = NULL;
    assert_int_equal(ef_model_load(path, NULL, &m), expect);
    assert_null(m);
}

static ef_status set_descending_levels(ef_gguf_writer *w) {
    const float lv[2] = {0.5f, 0.25f}, th[4] = {0.1f, 0.2f, 0.1f, 0.2f};
    EF_TRY(ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_LEVELS, EF_GGUF_F32, lv, 2));
    return ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_THRESHOLDS, EF_GGUF_F32, th, 4);
}
static ef_status set_short_thresholds(ef_gguf_writer *w) {
    const float lv[2] = {0.25f, 0.5f}, th[3] = {0.1f, 0.2f, 0.1f};
    EF_TRY(ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_LEVELS, EF_GGUF_F32, lv, 2));
    return ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_THRESHOLDS, EF_GGUF_F32, th, 3);
}
static ef_status set_bad_activation(ef_gguf_writer *w) {
    return ef_gguf_writer_set_str(w, EF_SPARSITY_KEY_ACTIVATION, "gelu");
}
static ef_status set_empty_layer_mask(ef_gguf_writer *w) { /* layer 1 keeps nothing */
    uint8_t keep[2 * 160];
    for (int i = 0; i < 2 * 160; i++) keep[i] = i < 160 ? (i < 64) : 0;
    return ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_KEEP, EF_GGUF_U8, keep, 2 * 160);
}

static void test_malformed_metadata(void **state) {
    (void)state;
    expect_bad(set_descending_levels, EF_ERR_FORMAT);
    expect_bad(set_short_thresholds, EF_ERR_FORMAT);
    expect_bad(set_bad_activation, EF_ERR_FORMAT);
    expect_bad(set_empty_layer_mask, EF_ERR_FORMAT);
}

/* The threshold interpolation between grid levels. */
static void test_threshold_interpolation(void **state) {
    (void)state;
    float levels[2] = {0.25f, 0.5f}, th[4] = {0.1f, 0.3f, 0.2f, 0.4f};
    ef_sparsity_meta s = {.n_layer = 2, .n_levels = 2, .levels = levels, .thresholds = th};
    assert_float_equal(ef_sparsity_threshold(&s, 0, 0.0f), 0.0f, 1e-7f);
    assert_float_equal(ef_sparsity_threshold(&s, 0, 0.125f), 0.05f, 1e-6f);
    assert_float_equal(ef_sparsity_threshold(&s, 0, 0.25f), 0.1f, 1e-6f);
    assert_float_equal(ef_sparsity_threshold(&s, 1, 0.375f), 0.3f, 1e-6f);
    assert_float_equal(ef_sparsity_threshold(&s, 1, 0.9f), 0.4f, 1e-6f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_threshold_zero_f32),
        cmocka_unit_test(test_threshold_zero_f16),
        cmocka_unit_test(test_threshold_zero_q8_0),
        cmocka_unit_test(test_threshold_zero_q4_0),
        cmocka_unit_test(test_calibration_levels),
        cmocka_unit_test(test_relu_exact),
        cmocka_unit_test(test_static_mask),
        cmocka_unit_test(test_per_layer_mask),
        cmocka_unit_test(test_prune_from_data),
        cmocka_unit_test(test_malformed_metadata),
        cmocka_unit_test(test_threshold_interpolation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
