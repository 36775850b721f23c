/* Fails the N-th allocation, for every N, through the sparse-MLP paths:
 * loading a masked model (neurons dropped at load; also a mask keeping a
 * different count per layer), a sparse session on a
 * ReLU model and its decode, calibration and pruning writing files. Each run must
 * end in EF_OK or a clean EF_ERR_NO_MEMORY, leak nothing (LeakSanitizer in
 * the ASan build) and never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sparsity_prune.h"
#include "edgeformer/edgeformer.h"
#include "format/gguf.h"

#include "common/fail_alloc.h" /* g_countdown, g_failures, failing_malloc, failing_realloc, plain_free */

static ef_status sparse_decode(const char *path, float level) {
    ef_model *m = NULL;
    ef_session *s = NULL;
    ef_session_params *p = NULL;
    ef_status st = ef_model_load(path, NULL, &m);
    if (st == EF_OK) st = ef_session_params_create(&p);
    if (st == EF_OK) st = ef_session_params_set_n_ctx(p, 32);
    if (st == EF_OK) st = ef_session_params_set_threads(p, 1);
    if (st == EF_OK) st = ef_session_params_set_sparsity(p, level);
    if (st == EF_OK) st = ef_session_create(m, p, &s);
    const int32_t t[4] = {5, 6, 7, 8};
    if (st == EF_OK) st = ef_session_eval(s, t, 2, 0);
    for (int i = 2; st == EF_OK && i < 4; i++) st = ef_session_eval(s, t + i, 1, 0);
    ef_session_free(s);
    ef_session_params_free(p);
    ef_model_free(m);
    return st;
}

static ef_status calibrate(void) {
    ef_model *m = NULL;
    ef_status st = ef_model_load(SP_SILU, NULL, &m);
    static const char text[] = "the model runs on a small device and every token reads weights from memory";
    if (st == EF_OK) st = ef_sparsity_calibrate(m, text, sizeof text - 1, 0.5f, EF_TEST_TMP "/sparse_alloc_cal.gguf");
    if (st == EF_OK) st = ef_sparsity_prune(m, text, sizeof text - 1, 0.5f, EF_TEST_TMP "/sparse_alloc_pruned.gguf");
    ef_model_free(m);
    return st;
}

#define PER_LAYER_PATH EF_TEST_TMP "/sparse_alloc_per_layer.gguf"

/* SP_SILU with a keep mask of 64 and 128 of its 160 neurons in layers 0
 * and 1 (per-layer n_ff), written once with the plain allocator. */
static void write_per_layer_mask(void) {
    ef_gguf *g = NULL;
    assert_int_equal(ef_gguf_open(SP_SILU, 1, &g), EF_OK);
    ef_gguf_writer *w = NULL;
    assert_int_equal(ef_gguf_writer_create(&w), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_kv(g); i++) assert_int_equal(ef_gguf_writer_copy_kv(w, g, i), EF_OK);
    uint8_t keep[2 * 160]; /* [n_layer][n_ff] */
    for (int j = 0; j < 2 * 160; j++) keep[j] = j < 160 ? j % 5 < 2 : j % 5 < 4; /* 64, then 128 */
    assert_int_equal(ef_gguf_writer_set_arr(w, "edgeformer.sparsity.keep", EF_GGUF_U8, keep, 2 * 160), EF_OK);
    for (int64_t i = 0; i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        assert_int_equal(ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes), EF_OK);
    }
    assert_int_equal(ef_gguf_writer_write(w, PER_LAYER_PATH), EF_OK);
    ef_gguf_writer_free(w);
    ef_gguf_close(g);
}

static ef_status scenario(void) {
    ef_status st = sparse_decode(SP_MASK, 0.0f);
    if (st == EF_OK) st = sparse_decode(PER_LAYER_PATH, 0.0f);
    if (st == EF_OK) st = sparse_decode(SP_RELU, 0.5f);
    if (st == EF_OK) st = calibrate();
    return st;
}

static void test_every_allocation_fails_cleanly(void **state) {
    (void)state;
    write_per_layer_mask();
    long points = 0;
    for (long n = 0;; n++) {
        g_countdown = n;
        g_failures = 0;
        assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL), EF_OK);
        ef_status st = scenario();
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK); /* no injected failure: must succeed */
            break;
        }
        points++;
        if (st != EF_ERR_NO_MEMORY)
            fprintf(stderr, "allocation %ld: status %s: %s\n", n, ef_status_str(st), ef_last_error());
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_true(n < 200000);
    }
    fprintf(stderr, "injected %ld allocation failures\n", points);
    assert_true(points > 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
