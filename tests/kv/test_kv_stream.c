/* Streaming past n_ctx on models whose every layer is a window (GQA and MLA
 * windows with attention sinks), through the public session API:
 *   - 3 × n_ctx greedy decode steps; at every step the logits equal those of
 *     a fresh session that evaluates only what the step can depend on — the
 *     sinks and the last n_layer·(window − 1) + 1 tokens, at their original
 *     positions (the positions between are skipped) — within 1e-4;
 *   - after warm-up neither the session's account nor the library's live
 *     allocations (a counting allocator) change;
 *   - a snapshot saved mid-stream (past n_ctx) and restored into a fresh
 *     session continues exactly as the uninterrupted run;
 *   - a snapshot in the earlier layout (every token id by position) restores
 *     into a token ring and continues exactly;
 *   - a wrapped stream rewinds by n_batch positions and re-evaluates to the
 *     same logits; further back is refused; a context shift inside the ring;
 *   - a model with a full-attention layer still stops at n_ctx.
 *
 * Why the reference is exact: a window layer's query at p reads keys and
 * values of positions p − window + 1 .. p and the sinks. The first layer's
 * keys and values depend only on a token and its position, so by induction
 * layer l's output at p depends on the tokens of p − l·(window − 1) .. p
 * and on the sinks (whose own states see only sinks). Tokens outside that
 * range influence the streaming run only through states nothing at p reads.
 * In exact arithmetic the two runs agree; in floats the reference evaluates
 * in chunks of n_batch where the stream decodes one token at a time, and
 * the matmul kernels may round batched rows differently: hence 1e-4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fail_alloc.h" /* counting_malloc, counting_realloc, counting_free, g_live */
#include "edgeformer/edgeformer.h"
#include "kv/kv_cache.h"
#include "kv/snapshot_format.h"
#include "model/model.h"

#define NCTX 64
#define NBATCH 4
#define STEPS (3 * NCTX)
#define N_PROMPT 8

static ef_model *g_gqa, *g_mla, *g_llama;

static int setup(void **state) {
    (void)state;
    if (ef_model_load(KV_MODEL_WIN, NULL, &g_gqa) || ef_model_load(KV_MODEL_MLA_WIN, NULL, &g_mla) ||
        ef_model_load(KV_MODEL, NULL, &g_llama))
        return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ef_model_free(g_gqa);
    ef_model_free(g_mla);
    ef_model_free(g_llama);
    return 0;
}

/* n_ctx 64, prefill chunks of 4 (so the rings of sinks + window + 3 rows are
 * below n_ctx), one thread, f32 K/V (exact), pages of 16 tokens. */
static ef_session *open_session(ef_model *m) {
    ef_session_params *sp = NULL;
    ef_kv_params *kp = NULL;
    assert_int_equal(ef_session_params_create(&sp), EF_OK);
    assert_int_equal(ef_session_params_set_n_ctx(sp, NCTX), EF_OK);
    assert_int_equal(ef_session_params_set_n_batch(sp, NBATCH), EF_OK);
    assert_int_equal(ef_session_params_set_threads(sp, 1), EF_OK);
    assert_int_equal(ef_kv_params_create(&kp), EF_OK);
    assert_int_equal(ef_kv_params_set_page_size(kp, 16), EF_OK);
    assert_int_equal(ef_kv_params_set_types(kp, "f32", "f32"), EF_OK);
    assert_int_equal(ef_session_params_set_kv_params(sp, kp), EF_OK);
    ef_kv_params_free(kp);
    ef_session *s = NULL;
    ef_status st = ef_session_create(m, sp, &s);
    ef_session_params_free(sp);
    if (st) fail_msg("ef_session_create: %s", ef_last_error());
    return s;
}

static int32_t argmax(const float *row, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (row[i] > row[best]) best = i;
    return best;
}

static const float *last_logits(ef_session *s) {
    const float *l = NULL;
    assert_int_equal(ef_session_logits(s, -1, &l), EF_OK);
    return l;
}

/* Moves seq 0 of kv from position `from` to `to` without evaluating: zero
 * rows where the ring needs pages to exist, filler ids (nothing at the
 * positions the test compares reads them). */
static void skip_positions(ef_kv_cache *kv, int32_t from, int32_t to) {
    ef_kv_layout L;
    ef_kvi_layout(kv, &L);
    float *zero = calloc((size_t)(L.k_width > L.v_width ? L.k_width : L.v_width), sizeof(float));
    assert_non_null(zero);
    for (int32_t il = 0; il < L.n_layer; il++)
        for (int32_t p = to - L.layer_ring[il] > from ? to - L.layer_ring[il] : from; p < to; p++)
            assert_int_equal(ef_kvi_write_rows(kv, 0, il, p, 1, zero, L.has_v ? zero : NULL), EF_OK);
    static int32_t filler[4 * NCTX];
    assert_true(to - from <= 4 * NCTX);
    assert_int_equal(ef_kvi_seq_commit(kv, 0, filler, to - from), EF_OK);
    free(zero);
}

/* The logits at position p of a fresh session that evaluates the sinks, skips
 * to p − n_layer·(window − 1) (skip_positions) and evaluates hist[start..p]
 * at their original positions. */
static void reference(ef_model *m, const int32_t *hist, int32_t p, float *out) {
    const int32_t sinks = m->hp.n_sinks, reach = m->hp.n_layer * (m->layers[0].n_swa - 1);
    int32_t start = p - reach;
    if (start < sinks) start = 0; /* nothing to skip: the whole history */
    ef_session *r = open_session(m);
    if (start > 0) {
        assert_int_equal(ef_session_eval(r, hist, (size_t)sinks, 0), EF_OK);
        skip_positions(ef_session_kv_cache(r), sinks, start);
    }
    assert_int_equal(ef_session_eval(r, hist + start, (size_t)(p + 1 - start), 0), EF_OK);
    assert_int_equal(ef_session_n_past(r), p + 1);
    memcpy(out, last_logits(r), sizeof(float) * (size_t)m->hp.n_vocab);
    ef_session_free(r);
}

static void check_stream(ef_model *m) {
    for (int32_t il = 0; il < m->hp.n_layer; il++) assert_true(m->layers[il].n_swa > 0);
    const int32_t V = m->hp.n_vocab;
    float *ref = malloc(sizeof(float) * (size_t)V);
    int32_t *hist = malloc(sizeof(int32_t) * (STEPS + 1));
    assert_true(ref && hist);
    fail_alloc_arm(-1);
    assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
    ef_session *s = open_session(m);
    assert_int_equal(ef_kvi_streams(ef_session_kv_cache(s)), 1);
    for (int32_t i = 0; i < N_PROMPT; i++) hist[i] = 1 + (i * 37) % (V - 1);
    assert_int_equal(ef_session_eval(s, hist, N_PROMPT, 0), EF_OK);
    double used0 = -1, peak0 = -1;
    long live0 = -1;
    double worst = 0;
    for (int32_t p = N_PROMPT - 1; p < STEPS; p++) {
        const float *l = last_logits(s);
        reference(m, hist, p, ref);
        for (int32_t v = 0; v < V; v++) {
            const double d = fabs((double)l[v] - (double)ref[v]);
            if (d > worst) worst = d;
            if (!(d <= 1e-4)) fail_msg("position %d, logit %d: stream %g, reference %g", p, v, (double)l[v],
                                       (double)ref[v]);
        }
        double used = 0, peak = 0;
        assert_int_equal(ef_session_stat(s, EF_STAT_MEMORY_USED, &used), EF_OK);
        assert_int_equal(ef_session_stat(s, EF_STAT_MEMORY_PEAK, &peak), EF_OK);
        if (p == NCTX / 2) { /* warm-up: the rings (17 rows) are full and have wrapped */
            used0 = used;
            peak0 = peak;
            live0 = atomic_load(&g_live);
        } else if (p > NCTX / 2) {
            if (used != used0 || peak != peak0 || atomic_load(&g_live) != live0)
                fail_msg("position %d: memory moved: used %g (was %g), peak %g (was %g), live blocks %ld (was %ld)", p,
                         used, used0, peak, peak0, (long)atomic_load(&g_live), live0);
        }
        hist[p + 1] = argmax(l, V);
        ef_status st = ef_session_eval(s, &hist[p + 1], 1, 0);
        if (st) fail_msg("decode at position %d: %s", p + 1, ef_session_errmsg(s));
    }
    assert_int_equal(ef_session_n_past(s), STEPS + 1); /* 3 × n_ctx */
    print_message("  %s: %d positions, worst |Δlogit| %.3g\n", m->hp.attn_kind == EF_ATTN_MLA ? "mla" : "gqa",
                  STEPS + 1, worst);
    ef_session_free(s);
    assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
    free(ref);
    free(hist);
}

static void test_stream_gqa_window(void **state) {
    (void)state;
    check_stream(g_gqa);
}

static void test_stream_mla_window(void **state) {
    (void)state;
    check_stream(g_mla);
}

/* Greedy decode of n steps from the session's last logits, logits into out [n][V]. */
static void decode(ef_session *s, int32_t n, int32_t V, float *out) {
    for (int32_t i = 0; i < n; i++) {
        const float *l = last_logits(s);
        memcpy(out + (size_t)i * V, l, sizeof(float) * (size_t)V);
        int32_t tok = argmax(l, V);
        assert_int_equal(ef_session_eval(s, &tok, 1, 0), EF_OK);
    }
}

static void check_snapshot_mid_stream(ef_model *m) {
    const int32_t V = m->hp.n_vocab, N = 50;
    float *a = malloc(sizeof(float) * (size_t)V * N), *b = malloc(sizeof(float) * (size_t)V * N);
    assert_true(a && b);
    ef_session *s = open_session(m);
    int32_t prompt[N_PROMPT];
    for (int32_t i = 0; i < N_PROMPT; i++) prompt[i] = 3 + i * 5;
    assert_int_equal(ef_session_eval(s, prompt, N_PROMPT, 0), EF_OK);
    for (int32_t i = 0; i < 2 * NCTX + 1; i += N) decode(s, N, V, a); /* to position 2 · n_ctx + 50 */
    const int32_t at = ef_session_n_past(s);
    assert_true(at > NCTX);
    size_t need = 0;
    assert_int_equal(ef_session_save_buffer(s, EF_SEQ_ALL, NULL, 0, &need), EF_ERR_BUFFER_TOO_SMALL);
    unsigned char *snap = malloc(need);
    assert_int_equal(ef_session_save_buffer(s, EF_SEQ_ALL, snap, need, &need), EF_OK);
    int found = 0; /* the streamed sequence travels in a "seqw" frame (the frame tag is never compressed) */
    for (size_t i = 0; i + 4 <= need; i++) found |= memcmp(snap + i, "seqw", 4) == 0;
    assert_true(found);
    decode(s, N, V, a); /* the uninterrupted run */
    ef_session *r = open_session(m);
    assert_int_equal(ef_session_restore_buffer(r, EF_SEQ_ALL, snap, need), EF_OK);
    assert_int_equal(ef_session_n_past(r), at);
    decode(r, N, V, b);
    assert_memory_equal(a, b, sizeof(float) * (size_t)V * N); /* same rows, same positions: bit for bit */
    /* the restored session streams on, and so does a restore into a used session */
    assert_int_equal(ef_session_restore_buffer(s, EF_SEQ_ALL, snap, need), EF_OK);
    decode(s, N, V, b);
    assert_memory_equal(a, b, sizeof(float) * (size_t)V * N);
    ef_session_free(r);
    ef_session_free(s);
    free(snap);
    free(a);
    free(b);
}

static void test_snapshot_mid_stream(void **state) {
    (void)state;
    check_snapshot_mid_stream(g_gqa);
    check_snapshot_mid_stream(g_mla);
}

/* The snapshot an earlier build wrote for a streaming session that had not
 * yet passed n_ctx: its "seqw" frame rewritten as a "seq " frame with every
 * token id by position. It restores into a token ring and continues exactly. */
static void test_old_snapshot_restores(void **state) {
    (void)state;
    ef_model *m = g_gqa;
    const int32_t V = m->hp.n_vocab, N = 40;
    float *a = malloc(sizeof(float) * (size_t)V * N), *b = malloc(sizeof(float) * (size_t)V * N);
    int32_t hist[NCTX];
    assert_true(a && b);
    ef_session *s = open_session(m);
    hist[0] = 11;
    assert_int_equal(ef_session_eval(s, hist, 1, 0), EF_OK);
    for (int32_t p = 0; p < 44; p++) { /* to position 44: past the 17-row rings, below n_ctx */
        hist[p + 1] = argmax(last_logits(s), V);
        assert_int_equal(ef_session_eval(s, &hist[p + 1], 1, 0), EF_OK);
    }
    const int32_t n = ef_session_n_past(s);
    size_t need = 0;
    assert_int_equal(ef_session_save_buffer(s, EF_SEQ_ALL, NULL, 0, &need), EF_ERR_BUFFER_TOO_SMALL);
    unsigned char *snap = malloc(need);
    assert_int_equal(ef_session_save_buffer(s, EF_SEQ_ALL, snap, need, &need), EF_OK);
    /* rewrite it frame by frame */
    ef_snap_reader r;
    assert_int_equal(ef_snap_reader_init(&r, snap, need, UINT64_MAX), EF_OK);
    ef_snap_writer *w = NULL;
    assert_int_equal(ef_snap_writer_open_mem(&w), EF_OK);
    int rewritten = 0;
    for (;;) {
        ef_snap_frame f = {0};
        assert_int_equal(ef_snap_reader_next(&r, &f), EF_OK);
        if (f.tag == EF_SNAP_TAG_END) {
            ef_snap_frame_release(&f);
            break;
        }
        if (f.tag == EF_SNAP_TAG('s', 'e', 'q', 'w')) {
            /* id, n, lost, n_tok, n_tok ids, rows → id, n, n ids, rows */
            ef_snap_cur c = {f.data, f.size, 0};
            const uint32_t id = ef_snap_cur_u32(&c), pos = ef_snap_cur_u32(&c), lost = ef_snap_cur_u32(&c),
                           n_tok = ef_snap_cur_u32(&c);
            assert_int_equal(pos, n);
            assert_int_equal(lost, 0);
            assert_true(n_tok < pos);
            assert_non_null(ef_snap_cur_bytes(&c, 4ull * n_tok));
            ef_snap_buf out = {0};
            ef_snap_buf_put_u32(&out, id);
            ef_snap_buf_put_u32(&out, pos);
            for (uint32_t i = 0; i < pos; i++) ef_snap_buf_put_u32(&out, (uint32_t)hist[i]);
            ef_snap_buf_put(&out, c.p, (size_t)c.n);
            assert_false(out.failed);
            assert_int_equal(ef_snap_write_frame(w, EF_SNAP_TAG('s', 'e', 'q', ' '), out.data, out.len), EF_OK);
            ef_snap_buf_free(&out);
            rewritten++;
        } else {
            assert_int_equal(ef_snap_write_frame(w, f.tag, f.data, f.size), EF_OK);
        }
        ef_snap_frame_release(&f);
    }
    ef_snap_reader_close(&r);
    assert_int_equal(rewritten, 1);
    assert_int_equal(ef_snap_writer_finish(w), EF_OK);
    size_t old_size = 0;
    const uint8_t *old = ef_snap_writer_bytes(w, &old_size);
    decode(s, N, V, a);
    ef_session *t = open_session(m);
    assert_int_equal(ef_session_restore_buffer(t, EF_SEQ_ALL, old, old_size), EF_OK);
    assert_int_equal(ef_session_n_past(t), n);
    decode(t, N, V, b);
    assert_memory_equal(a, b, sizeof(float) * (size_t)V * N);
    /* the restored ring of ids is the one the original session kept */
    ef_kv_seq_info i1, i2;
    assert_int_equal(ef_kvi_seq_info(ef_session_kv_cache(s), 0, &i1), EF_OK);
    assert_int_equal(ef_kvi_seq_info(ef_session_kv_cache(t), 0, &i2), EF_OK);
    assert_int_equal(i1.n_tok, i2.n_tok);
    assert_memory_equal(i1.tokens, i2.tokens, sizeof(int32_t) * (size_t)i1.n_tok);
    ef_snap_writer_free(w);
    ef_session_free(t);
    ef_session_free(s);
    free(snap);
    free(a);
    free(b);
}

/* Rewinding a wrapped stream by up to n_batch positions and evaluating the
 * same tokens again gives the same logits, bit for bit; further back is
 * refused and the stream goes on; a context shift inside the ring too. */
static void check_rewind_stream(ef_model *m) {
    const int32_t V = m->hp.n_vocab, N = 2 * NCTX + 30;
    float *logits = malloc(sizeof(float) * (size_t)V * (N + 1));
    int32_t *hist = malloc(sizeof(int32_t) * (N + 1));
    assert_true(logits && hist);
    ef_session *s = open_session(m);
    ef_kv_cache *kv = ef_session_kv_cache(s);
    hist[0] = 5;
    assert_int_equal(ef_session_eval(s, hist, 1, 0), EF_OK);
    for (int32_t p = 0; p < N; p++) {
        memcpy(logits + (size_t)p * V, last_logits(s), sizeof(float) * (size_t)V);
        hist[p + 1] = argmax(logits + (size_t)p * V, V);
        assert_int_equal(ef_session_eval(s, &hist[p + 1], 1, 0), EF_OK);
    }
    assert_int_equal(ef_session_n_past(s), N + 1);
    /* n_batch back: the rows of the next token's window are all still in the ring */
    assert_int_equal(ef_kv_seq_remove(kv, 0, N + 1 - NBATCH, -1), EF_OK);
    assert_int_equal(ef_session_n_past(s), N + 1 - NBATCH);
    for (int32_t p = N + 1 - NBATCH; p <= N; p++) {
        assert_int_equal(ef_session_eval(s, &hist[p], 1, 0), EF_OK);
        if (p < N) assert_memory_equal(last_logits(s), logits + (size_t)p * V, sizeof(float) * (size_t)V);
    }
    /* one more is gone: refused, and the session decodes on */
    assert_int_equal(ef_kv_seq_remove(kv, 0, N - NBATCH, -1), EF_ERR_UNSUPPORTED);
    assert_int_equal(ef_session_n_past(s), N + 1);
    int32_t lo = -1, hi = -1;
    assert_int_equal(ef_kv_seq_pos_range(kv, 0, &lo, &hi), EF_OK);
    assert_int_equal(lo, 0); /* the sinks */
    assert_int_equal(hi, N);
    /* a context shift after the sinks drops 10 positions; the held rows move down */
    assert_int_equal(ef_kv_seq_shift(kv, 0, m->hp.n_sinks, 10), EF_OK);
    assert_int_equal(ef_session_n_past(s), N + 1 - 10);
    int32_t tok = 9;
    for (int32_t i = 0; i < NCTX; i++) assert_int_equal(ef_session_eval(s, &tok, 1, 0), EF_OK);
    assert_int_equal(ef_session_n_past(s), N + 1 - 10 + NCTX);
    ef_session_free(s);
    free(logits);
    free(hist);
}

static void test_rewind_stream(void **state) {
    (void)state;
    check_rewind_stream(g_gqa);
    check_rewind_stream(g_mla);
}

/* Any full-attention layer: the context stays bounded by n_ctx. */
static void test_full_attention_stays_bounded(void **state) {
    (void)state;
    ef_session *s = open_session(g_llama);
    assert_int_equal(ef_kvi_streams(ef_session_kv_cache(s)), 0);
    int32_t t[NCTX];
    for (int32_t i = 0; i < NCTX; i++) t[i] = 1 + i;
    assert_int_equal(ef_session_eval(s, t, NCTX, 0), EF_OK);
    assert_int_equal(ef_session_eval(s, t, 1, 0), EF_ERR_CONTEXT_FULL);
    assert_int_equal(ef_session_n_past(s), NCTX);
    ef_session_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_gqa_window),
        cmocka_unit_test(test_stream_mla_window),
        cmocka_unit_test(test_snapshot_mid_stream),
        cmocka_unit_test(test_old_snapshot_restores),
        cmocka_unit_test(test_rewind_stream),
        cmocka_unit_test(test_full_attention_stays_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
