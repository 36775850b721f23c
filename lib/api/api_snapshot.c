/* Session snapshots: ef_session_save / _save_buffer / _restore /
 * _restore_buffer. What the frames of the container (kv/snapshot_format.h)
 * hold, in this order (docs/snapshots.md has the byte layout):
 *   "meta"  model fingerprint, scope, sequence count, KV layout, n_vocab
 *   "seq "  one per sequence: id, tokens, then per layer the raw K and V rows
 *           ("seqw" instead for a streamed sequence: see put_seq)
 *   "samp"  the sampler's params, RNG state and repetition history
 *   "logi"  the last eval's logits rows
 * A restore parses and checks everything into temporaries, stages the new
 * KV pages beside the old ones, and only then swaps (nothing can fail after
 * that point), so on any error the session is exactly as it was. */
#include <string.h>

#include "api/session.h"
#include "base/alloc.h"
#include "base/platform.h"
#include "kv/kv_cache.h"
#include "kv/snapshot_format.h"
#include "kv/snapshot_import.h"
#include "model/model.h"
#include "sample/sampler.h"

#define TAG_META EF_SNAP_TAG('m', 'e', 't', 'a')
#define TAG_SEQ EF_SNAP_TAG('s', 'e', 'q', ' ')
/* A sequence that streamed past its token ring or lost positions of a
 * window ring (lib/kv): "seq " plus lost_end and the token ring. */
#define TAG_SEQ_RING EF_SNAP_TAG('s', 'e', 'q', 'w')
#define TAG_SAMPLER EF_SNAP_TAG('s', 'a', 'm', 'p')
#define TAG_LOGITS EF_SNAP_TAG('l', 'o', 'g', 'i')

enum { SCOPE_ONE_SEQ = 0, SCOPE_WHOLE = 1 };

/* ---- the session's side (the fields this file touches) ---- */

static ef_kv_cache *session_kv(const ef_session *s) { return s->kv; }

/* After the cache holds the restored tokens: the session's context length
 * follows its sequence (the caller holds the cache's lock). */
static void session_sync_context(ef_session *s) { s->n_past = ef_kvi_seq_len(s->kv, s->seq); }

/* ---- sizes ---- */

/* The largest raw frame a snapshot for this session can hold: a sequence
 * filling the cache, or logits for every position. Frames above it are
 * refused (EF_ERR_MISMATCH: their CRC is checked first, so they are real
 * state too big for this session) before anything is allocated. */
static uint64_t max_frame_bytes(const ef_session *s, const ef_kv_layout *L) {
    const uint64_t n_ctx = (uint64_t)L->n_ctx;
    const uint64_t row = (uint64_t)ef_kvi_row_bytes(session_kv(s), 0) + ef_kvi_row_bytes(session_kv(s), 1);
    uint64_t seq = 8 + 4 * n_ctx + (uint64_t)L->n_layer * (8 + n_ctx * row);
    uint64_t logits = 8 + (n_ctx + 1) * (uint64_t)s->model->hp.n_vocab * 4;
    uint64_t sampler = 72 + 4ull * (1u << 20);
    uint64_t meta = 256 + 4 * (uint64_t)L->n_layer;
    uint64_t m = seq > logits ? seq : logits;
    if (sampler > m) m = sampler;
    return meta > m ? meta : m;
}

/* ---- save ---- */

static void put_meta(ef_snap_buf *b, const ef_session *s, const ef_kv_layout *L, uint32_t scope, uint32_t n_seq) {
    ef_snap_buf_put_u64(b, ef_model_fingerprint(s->model));
    ef_snap_buf_put_u32(b, scope);
    ef_snap_buf_put_u32(b, n_seq);
    ef_snap_buf_put_u32(b, L->k_type);
    ef_snap_buf_put_u32(b, L->v_type);
    ef_snap_buf_put_u32(b, (uint32_t)L->has_v);
    ef_snap_buf_put_u32(b, (uint32_t)L->n_layer);
    ef_snap_buf_put_u32(b, (uint32_t)L->n_ctx);
    ef_snap_buf_put_u32(b, (uint32_t)L->n_sinks);
    ef_snap_buf_put_u32(b, (uint32_t)L->k_width);
    ef_snap_buf_put_u32(b, (uint32_t)L->v_width);
    ef_snap_buf_put_u64(b, ef_kvi_row_bytes(session_kv(s), 0));
    ef_snap_buf_put_u64(b, ef_kvi_row_bytes(session_kv(s), 1));
    for (int32_t il = 0; il < L->n_layer; il++) ef_snap_buf_put_u32(b, (uint32_t)L->layer_ring[il]);
    ef_snap_buf_put_u32(b, (uint32_t)s->model->hp.n_vocab);
}

/* One sequence: id, n tokens, tokens, then per layer rows, K rows, V rows.
 * A streamed sequence (*tag "seqw"): id, n positions, lost_end, n_tok, the
 * n_tok ids of its token ring, then the same rows. */
static ef_status put_seq(ef_snap_buf *b, ef_kv_cache *kv, const ef_kv_layout *L, int32_t seq, uint32_t *tag) {
    ef_kv_seq_info info;
    EF_TRY(ef_kvi_seq_info(kv, seq, &info));
    const int32_t n = info.n_pos;
    *tag = info.extended ? TAG_SEQ_RING : TAG_SEQ;
    ef_snap_buf_put_u32(b, (uint32_t)seq);
    ef_snap_buf_put_u32(b, (uint32_t)n);
    if (info.extended) {
        ef_snap_buf_put_u32(b, (uint32_t)info.lost_end);
        ef_snap_buf_put_u32(b, (uint32_t)info.n_tok);
    }
    for (int32_t i = 0; i < info.n_tok; i++) ef_snap_buf_put_u32(b, (uint32_t)info.tokens[i]);
    for (int32_t il = 0; il < L->n_layer; il++) {
        const int64_t rows = ef_kvi_layer_rows(kv, il, n);
        ef_snap_buf_put_u64(b, (uint64_t)rows);
        for (int32_t which = 0; which <= (L->has_v ? 1 : 0); which++) {
            const size_t bytes = (size_t)rows * ef_kvi_row_bytes(kv, which);
            if (bytes == 0 || !ef_snap_buf_reserve(b, bytes)) break;
            EF_TRY(ef_kvi_read_rows(kv, seq, il, which, 0, rows, b->data + b->len)); /* [rows][row bytes] */
            b->len += bytes;
        }
    }
    if (b->failed) return ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory saving KV sequence %d", (int)seq);
    return EF_OK;
}

/* Writes every frame of the snapshot; the caller holds the cache's lock. */
static ef_status write_frames(ef_session *s, int32_t seq, ef_snap_writer *w) {
    ef_kv_cache *kv = session_kv(s);
    ef_kv_layout L;
    ef_kvi_layout(kv, &L);
    if (seq != EF_SEQ_ALL && (seq < 0 || seq >= L.n_seq_max))
        return ef_err(EF_ERR_INVALID_ARG, "snapshot: sequence %d is outside the KV cache's 0..%d", (int)seq,
                      (int)L.n_seq_max - 1);
    uint32_t n_seq = 0;
    for (int32_t q = 0; q < L.n_seq_max; q++)
        n_seq += seq == EF_SEQ_ALL ? ef_kvi_seq_len(kv, q) > 0 : q == seq;
    ef_snap_buf b = {0};
    put_meta(&b, s, &L, seq == EF_SEQ_ALL ? SCOPE_WHOLE : SCOPE_ONE_SEQ, n_seq);
    ef_status st = b.failed ? ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory") : EF_OK;
    if (st == EF_OK) st = ef_snap_write_frame(w, TAG_META, b.data, b.len);
    for (int32_t q = 0; st == EF_OK && q < L.n_seq_max; q++) {
        if (seq == EF_SEQ_ALL ? ef_kvi_seq_len(kv, q) == 0 : q != seq) continue;
        b.len = 0;
        uint32_t tag = TAG_SEQ;
        st = put_seq(&b, kv, &L, q, &tag);
        if (st == EF_OK) st = ef_snap_write_frame(w, tag, b.data, b.len);
    }
    if (st == EF_OK) {
        b.len = 0;
        size_t need = ef_sampler_state_encode(s->sampler, NULL, 0);
        if (ef_snap_buf_reserve(&b, need)) {
            ef_sampler_state_encode(s->sampler, b.data, need);
            b.len = need;
        }
        st = b.failed ? ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory saving the sampler")
                      : ef_snap_write_frame(w, TAG_SAMPLER, b.data, b.len);
    }
    if (st == EF_OK) {
        const size_t floats = (size_t)s->n_logit_rows * (size_t)s->model->hp.n_vocab;
        b.len = 0;
        ef_snap_buf_put_u32(&b, (uint32_t)s->n_logit_rows);
        ef_snap_buf_put_u32(&b, (uint32_t)s->logits_all);
        ef_snap_buf_put(&b, s->logits, floats * sizeof(float)); /* [n_logit_rows][n_vocab] */
        st = b.failed ? ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory saving the logits")
                      : ef_snap_write_frame(w, TAG_LOGITS, b.data, b.len);
    }
    ef_snap_buf_free(&b);
    if (st == EF_OK) st = ef_snap_writer_finish(w);
    return st;
}

static ef_status save_to(ef_session *s, int32_t seq, ef_snap_writer *w) {
    ef_kvi_lock(session_kv(s));
    ef_status st = write_frames(s, seq, w);
    ef_kvi_unlock(session_kv(s));
    return st;
}

ef_status ef_session_save(ef_session *s, int32_t seq, const char *path) {
    if (!s || !path) return ef_err(EF_ERR_INVALID_ARG, "ef_session_save: session or path is NULL");
    ef_snap_writer *w = NULL;
    ef_status st = ef_snap_writer_open_file(path, &w);
    if (st == EF_OK) st = save_to(s, seq, w);
    ef_snap_writer_free(w); /* removes the temporary file after a failure */
    return st == EF_OK ? EF_OK : ef_session_fail(s, ef_err_prefix(st, "cannot save session to '%s'", path));
}

ef_status ef_session_save_buffer(ef_session *s, int32_t seq, void *buf, size_t cap, size_t *needed) {
    if (!s || !needed) return ef_err(EF_ERR_INVALID_ARG, "ef_session_save_buffer: session or needed is NULL");
    if (!buf && cap) return ef_session_fail(s, ef_err(EF_ERR_INVALID_ARG, "ef_session_save_buffer: buf is NULL"));
    *needed = 0;
    ef_snap_writer *w = NULL;
    ef_status st = ef_snap_writer_open_mem(&w);
    if (st == EF_OK) st = save_to(s, seq, w);
    if (st == EF_OK) {
        size_t size = 0;
        const uint8_t *bytes = ef_snap_writer_bytes(w, &size);
        *needed = size;
        if (cap < size)
            st = ef_err(EF_ERR_BUFFER_TOO_SMALL, "the snapshot needs %zu bytes, the buffer holds %zu", size, cap);
        else
            memcpy(buf, bytes, size);
    }
    ef_snap_writer_free(w);
    return st == EF_OK ? EF_OK : ef_session_fail(s, st);
}

/* ---- restore: parse and check ---- */

typedef struct restore_seq {
    int32_t id, n_tokens;
    int32_t lost_end, n_tok; /* "seqw": lost positions and token-ring ids; "seq ": 0 and n_tokens */
    int32_t *tokens;         /* [n_tok] (copied: frame bytes are unaligned) */
    const void **layer_k;    /* [n_layer] raw rows inside the frame */
    const void **layer_v;    /* [n_layer], NULL entries when the cache has no V */
    ef_snap_frame frame;
} restore_seq;

typedef struct restore_plan {
    int32_t scope;
    int32_t n_seq;
    restore_seq *seqs;       /* [n_seq] */
    ef_sampler *sampler;     /* the restored sampler (owned until applied) */
    struct ef_sampler_params sparams;
    int32_t n_logit_rows, logits_all;
    float *logits;           /* [n_logit_rows][n_vocab] restored logits (owned, charged to acct) */
    size_t logits_cap;       /* floats in logits */
    ef_kv_stage *stage;      /* the new KV pages, staged */
} restore_plan;

static void plan_free(ef_session *s, restore_plan *p) {
    for (int32_t i = 0; p->seqs && i < p->n_seq; i++) {
        ef_free(p->seqs[i].tokens);
        ef_free(p->seqs[i].layer_k);
        ef_free(p->seqs[i].layer_v);
        ef_snap_frame_release(&p->seqs[i].frame);
    }
    ef_free(p->seqs);
    ef_sampler_free(p->sampler);
    ef_acct_free(&s->acct, p->logits);
    ef_kv_stage_free(p->stage);
    memset(p, 0, sizeof *p);
}

/* The next frame, which must carry `tag`. */
static ef_status expect_frame(ef_snap_reader *r, uint32_t tag, ef_snap_frame *f) {
    EF_TRY(ef_snap_reader_next(r, f));
    if (f->tag == tag) return EF_OK;
    char want[5], got[5];
    ef_snap_tag_name(tag, want);
    ef_snap_tag_name(f->tag, got);
    ef_snap_frame_release(f);
    return ef_err(EF_ERR_FORMAT, "snapshot: expected frame '%s', found '%s'", want, got);
}

/* The next frame, a sequence in either layout ("seq " or "seqw"). */
static ef_status expect_seq_frame(ef_snap_reader *r, ef_snap_frame *f) {
    EF_TRY(ef_snap_reader_next(r, f));
    if (f->tag == TAG_SEQ || f->tag == TAG_SEQ_RING) return EF_OK;
    char got[5];
    ef_snap_tag_name(f->tag, got);
    ef_snap_frame_release(f);
    return ef_err(EF_ERR_FORMAT, "snapshot: expected frame 'seq ' or 'seqw', found '%s'", got);
}

static ef_status check_meta(const ef_session *s, const ef_snap_frame *f, int32_t seq, restore_plan *p) {
    ef_kv_layout L;
    ef_kvi_layout(session_kv(s), &L);
    ef_snap_cur c = {f->data, f->size, 0};
    uint64_t fp = ef_snap_cur_u64(&c);
    uint32_t scope = ef_snap_cur_u32(&c), n_seq = ef_snap_cur_u32(&c);
    uint32_t k_type = ef_snap_cur_u32(&c), v_type = ef_snap_cur_u32(&c), has_v = ef_snap_cur_u32(&c);
    uint32_t n_layer = ef_snap_cur_u32(&c), n_ctx = ef_snap_cur_u32(&c), n_sinks = ef_snap_cur_u32(&c);
    uint32_t k_width = ef_snap_cur_u32(&c), v_width = ef_snap_cur_u32(&c);
    uint64_t k_row = ef_snap_cur_u64(&c), v_row = ef_snap_cur_u64(&c);
    if (c.failed) return ef_err(EF_ERR_FORMAT, "snapshot: the meta frame is too short");
    if (fp != ef_model_fingerprint(s->model))
        return ef_err(EF_ERR_MISMATCH, "snapshot was saved from another model (fingerprint %016llx, this model %016llx)",
                      (unsigned long long)fp, (unsigned long long)ef_model_fingerprint(s->model));
    if (scope != SCOPE_ONE_SEQ && scope != SCOPE_WHOLE)
        return ef_err(EF_ERR_FORMAT, "snapshot: unknown scope %u", scope);
    if (k_type != L.k_type || v_type != L.v_type || has_v != (uint32_t)L.has_v || n_layer != (uint32_t)L.n_layer ||
        n_sinks != (uint32_t)L.n_sinks || k_width != (uint32_t)L.k_width || v_width != (uint32_t)L.v_width ||
        k_row != ef_kvi_row_bytes(session_kv(s), 0) || v_row != ef_kvi_row_bytes(session_kv(s), 1))
        return ef_err(EF_ERR_MISMATCH, "snapshot KV layout (types %u/%u, %u layers, rows of %u/%u) differs from this "
                      "session's cache (types %u/%u, %d layers, rows of %d/%d)", k_type, v_type, n_layer, k_width,
                      v_width, L.k_type, L.v_type, (int)L.n_layer, (int)L.k_width, (int)L.v_width);
    for (int32_t il = 0; il < L.n_layer; il++) {
        uint32_t ring = ef_snap_cur_u32(&c);
        if (!c.failed && ring != (uint32_t)L.layer_ring[il])
            return ef_err(EF_ERR_MISMATCH, "snapshot layer %d keeps a window ring of %u rows, this session's %d "
                          "(another window, sink count or prefill chunk)", (int)il, ring, (int)L.layer_ring[il]);
    }
    uint32_t n_vocab = ef_snap_cur_u32(&c);
    if (c.failed || c.n != 0) return ef_err(EF_ERR_FORMAT, "snapshot: the meta frame has the wrong size");
    if (n_vocab != (uint32_t)s->model->hp.n_vocab)
        return ef_err(EF_ERR_MISMATCH, "snapshot vocabulary has %u tokens, this model %d", n_vocab,
                      (int)s->model->hp.n_vocab);
    (void)n_ctx; /* informative: each sequence's length is checked against this cache */
    if (scope == SCOPE_WHOLE && seq != EF_SEQ_ALL)
        return ef_err(EF_ERR_INVALID_ARG, "snapshot holds the whole session: restore it with EF_SEQ_ALL, not %d", (int)seq);
    if (scope == SCOPE_ONE_SEQ && (seq < 0 || seq >= L.n_seq_max))
        return ef_err(EF_ERR_INVALID_ARG, "snapshot holds one sequence: restore it into a sequence 0..%d, not %d",
                      (int)L.n_seq_max - 1, (int)seq);
    if (scope == SCOPE_ONE_SEQ ? n_seq != 1 : n_seq > (uint32_t)L.n_seq_max)
        return ef_err(scope == SCOPE_ONE_SEQ ? EF_ERR_FORMAT : EF_ERR_MISMATCH,
                      "snapshot holds %u sequences, this cache has room for %d", n_seq, (int)L.n_seq_max);
    p->scope = (int32_t)scope;
    p->n_seq = (int32_t)n_seq;
    return EF_OK;
}

/* Parses one "seq " frame into q (pointers into the frame, which q keeps). */
static ef_status check_seq(const ef_session *s, restore_plan *p, int32_t index, int32_t into, restore_seq *q) {
    ef_kv_cache *kv = session_kv(s);
    ef_kv_layout L;
    ef_kvi_layout(kv, &L);
    ef_snap_cur c = {q->frame.data, q->frame.size, 0};
    uint32_t id = ef_snap_cur_u32(&c), n = ef_snap_cur_u32(&c);
    const int ring = q->frame.tag == TAG_SEQ_RING;
    uint32_t lost_end = ring ? ef_snap_cur_u32(&c) : 0, n_tok = ring ? ef_snap_cur_u32(&c) : n;
    if (c.failed) return ef_err(EF_ERR_FORMAT, "snapshot: sequence frame %d is too short", (int)index);
    if (n > (uint32_t)(ef_kvi_streams(kv) ? INT32_MAX : L.n_ctx)) /* a streaming cache has no context bound */
        return ef_err(EF_ERR_MISMATCH, "snapshot sequence %u holds %u tokens, this cache only %d", id, n, (int)L.n_ctx);
    if (ring && (lost_end > n || n_tok != (uint32_t)ef_kvi_token_rows(kv, (int32_t)n)))
        return ef_err(EF_ERR_FORMAT, "snapshot sequence %u: %u token ids and lost_end %u do not fit %u positions", id,
                      n_tok, lost_end, n);
    if (p->scope == SCOPE_WHOLE) {
        if (id >= (uint32_t)L.n_seq_max)
            return ef_err(EF_ERR_MISMATCH, "snapshot sequence %u does not exist in this cache (0..%d)", id,
                          (int)L.n_seq_max - 1);
        for (int32_t j = 0; j < index; j++)
            if (p->seqs[j].id == (int32_t)id) return ef_err(EF_ERR_FORMAT, "snapshot holds sequence %u twice", id);
        into = (int32_t)id;
    }
    q->id = into;
    q->n_tokens = (int32_t)n;
    q->lost_end = (int32_t)lost_end;
    q->n_tok = (int32_t)n_tok;
    const uint8_t *raw = ef_snap_cur_bytes(&c, 4ull * n_tok);
    if (!raw) return ef_err(EF_ERR_FORMAT, "snapshot sequence %u is truncated in its tokens", id);
    q->tokens = ef_malloc(sizeof *q->tokens * (n_tok ? n_tok : 1));
    q->layer_k = ef_calloc((size_t)L.n_layer, sizeof *q->layer_k);
    q->layer_v = ef_calloc((size_t)L.n_layer, sizeof *q->layer_v);
    if (!q->tokens || !q->layer_k || !q->layer_v)
        return ef_err(EF_ERR_NO_MEMORY, "out of memory restoring sequence %u", id);
    const int32_t n_vocab = s->model->hp.n_vocab;
    for (uint32_t i = 0; i < n_tok; i++) {
        int32_t t = (int32_t)((uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 | (uint32_t)raw[4 * i + 2] << 16 |
                              (uint32_t)raw[4 * i + 3] << 24);
        if (t < 0 || t >= n_vocab)
            return ef_err(EF_ERR_FORMAT, "snapshot sequence %u: token %u has id %d, outside 0..%d", id, i, (int)t,
                          (int)n_vocab - 1);
        q->tokens[i] = t;
    }
    for (int32_t il = 0; il < L.n_layer; il++) {
        uint64_t rows = ef_snap_cur_u64(&c);
        if (!c.failed && rows != (uint64_t)ef_kvi_layer_rows(kv, il, (int32_t)n))
            return ef_err(EF_ERR_FORMAT, "snapshot sequence %u, layer %d: %llu rows where %lld belong", id, (int)il,
                          (unsigned long long)rows, (long long)ef_kvi_layer_rows(kv, il, (int32_t)n));
        q->layer_k[il] = ef_snap_cur_bytes(&c, rows * ef_kvi_row_bytes(kv, 0));
        if (L.has_v) q->layer_v[il] = ef_snap_cur_bytes(&c, rows * ef_kvi_row_bytes(kv, 1));
        if (c.failed) return ef_err(EF_ERR_FORMAT, "snapshot sequence %u is truncated in layer %d", id, (int)il);
    }
    if (c.n != 0) return ef_err(EF_ERR_FORMAT, "snapshot sequence %u has %llu extra bytes", id, (unsigned long long)c.n);
    return EF_OK;
}

static ef_status check_logits(ef_session *s, const ef_snap_frame *f, restore_plan *p) {
    ef_snap_cur c = {f->data, f->size, 0};
    uint32_t rows = ef_snap_cur_u32(&c), all = ef_snap_cur_u32(&c);
    const size_t n_vocab = (size_t)s->model->hp.n_vocab;
    if (c.failed || all > 1 || (all == 0 && rows > 1) || rows > (uint32_t)ef_kvi_n_ctx(session_kv(s)) + 1)
        return ef_err(EF_ERR_FORMAT, "snapshot: the logits frame is malformed");
    if (c.n != (uint64_t)rows * n_vocab * sizeof(float))
        return ef_err(EF_ERR_FORMAT, "snapshot: the logits frame holds %llu bytes, %u rows of %zu logits expected",
                      (unsigned long long)c.n, rows, n_vocab);
    p->n_logit_rows = (int32_t)rows;
    p->logits_all = (int32_t)all;
    p->logits_cap = (size_t)(rows ? rows : 1) * n_vocab;
    ef_status st = EF_OK;
    p->logits = ef_acct_alloc(&s->acct, p->logits_cap * sizeof(float), "restored logits", &st);
    if (!p->logits) return st;
    if (rows) memcpy(p->logits, c.p, (size_t)c.n); /* [rows][n_vocab] */
    return EF_OK;
}

/* Everything but the swap: parse, check, decode the sampler, stage pages. */
static ef_status prepare(ef_session *s, int32_t seq, const void *data, uint64_t size, restore_plan *p) {
    ef_kv_cache *kv = session_kv(s);
    ef_kv_layout L;
    ef_kvi_layout(kv, &L);
    ef_snap_reader r;
    EF_TRY(ef_snap_reader_init(&r, data, size, max_frame_bytes(s, &L)));
    ef_snap_frame f = {0};
    ef_status st = expect_frame(&r, TAG_META, &f);
    if (st == EF_OK) st = check_meta(s, &f, seq, p);
    ef_snap_frame_release(&f);
    if (st == EF_OK && !(p->seqs = ef_calloc((size_t)(p->n_seq ? p->n_seq : 1), sizeof *p->seqs)))
        st = ef_err(EF_ERR_NO_MEMORY, "out of memory restoring a snapshot");
    for (int32_t i = 0; st == EF_OK && i < p->n_seq; i++) {
        st = expect_seq_frame(&r, &p->seqs[i].frame);
        if (st == EF_OK) st = check_seq(s, p, i, seq, &p->seqs[i]);
    }
    if (st == EF_OK) st = expect_frame(&r, TAG_SAMPLER, &f);
    if (st == EF_OK) {
        st = ef_sampler_state_decode(f.data, (size_t)f.size, s->model->hp.n_vocab, &p->sampler);
        ef_snap_frame_release(&f);
        /* settings out of range are a malformed snapshot, not a bad argument */
        if (st == EF_ERR_INVALID_ARG) st = ef_err_prefix(EF_ERR_FORMAT, "snapshot sampler");
    }
    if (st == EF_OK) {
        ef_sampler_view v;
        ef_sampler_get_view(p->sampler, &v);
        p->sparams = v.params;
        st = expect_frame(&r, TAG_LOGITS, &f);
    }
    if (st == EF_OK) {
        st = check_logits(s, &f, p);
        ef_snap_frame_release(&f);
    }
    if (st == EF_OK) st = expect_frame(&r, EF_SNAP_TAG_END, &f);
    ef_snap_reader_close(&r);
    if (st == EF_OK) st = ef_kv_stage_create(kv, &p->stage);
    for (int32_t i = 0; st == EF_OK && i < p->n_seq; i++) {
        const restore_seq *q = &p->seqs[i];
        const ef_kv_seq_info info = {q->n_tokens, q->lost_end, q->tokens, q->n_tok, q->frame.tag == TAG_SEQ_RING};
        st = ef_kv_stage_seq_info(p->stage, q->id, &info, q->layer_k, (const void *const *)q->layer_v);
    }
    return st;
}

/* The swap: nothing here can fail. */
static void apply(ef_session *s, restore_plan *p) {
    ef_kv_stage_commit(p->stage, p->scope == SCOPE_WHOLE);
    ef_sampler_free(s->sampler);
    s->sampler = p->sampler;
    p->sampler = NULL;
    s->sparams = p->sparams;
    ef_acct_free(&s->acct, s->logits);
    s->logits = p->logits;
    s->logits_cap = p->logits_cap;
    p->logits = NULL;
    s->n_logit_rows = p->n_logit_rows;
    s->logits_all = p->logits_all;
    session_sync_context(s);
}

static ef_status restore_from(ef_session *s, int32_t seq, const void *data, uint64_t size) {
    restore_plan p;
    memset(&p, 0, sizeof p);
    ef_kv_cache *kv = session_kv(s);
    ef_kvi_lock(kv);
    ef_status st = prepare(s, seq, data, size, &p);
    if (st == EF_OK) apply(s, &p);
    plan_free(s, &p);
    ef_kvi_unlock(kv);
    return st;
}

ef_status ef_session_restore_buffer(ef_session *s, int32_t seq, const void *buf, size_t size) {
    if (!s || (!buf && size)) return ef_err(EF_ERR_INVALID_ARG, "ef_session_restore_buffer: session or buf is NULL");
    ef_status st = restore_from(s, seq, buf, size);
    return st == EF_OK ? EF_OK : ef_session_fail(s, ef_err_prefix(st, "cannot restore session"));
}

ef_status ef_session_restore(ef_session *s, int32_t seq, const char *path) {
    if (!s || !path) return ef_err(EF_ERR_INVALID_ARG, "ef_session_restore: session or path is NULL");
    ef_file_map map;
    ef_status st = ef_file_map_open(path, 1, &map);
    if (st == EF_OK) {
        st = restore_from(s, seq, map.data, map.size);
        ef_file_map_close(&map);
    }
    return st == EF_OK ? EF_OK : ef_session_fail(s, ef_err_prefix(st, "cannot restore session from '%s'", path));
}
