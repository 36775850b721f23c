/* Session snapshots: ef_session_save / _save_buffer / _restore /
 * _restore_buffer. What the frames of the container (kv/snapshot_format.h)
 * hold, in this order (docs/snapshots.md has the byte layout):
 *   "meta"  model fingerprint, scope, sequence count, KV layout, n_vocab
 *   "seq "  one per sequence: id, tokens, then per layer the raw K and V rows
 *           ("seqw" instead for a streamed sequence: see produce_seq)
 *   "samp"  the sampler's params, RNG state and repetition history
 *   "logi"  the last eval's logits rows
 * Both directions stream: a save produces each frame page by page, a
 * restore checks the whole container first (kv/snapshot_format.h's
 * two-pass reader), then reads, checks and stages frame by frame (KV rows
 * straight into new pages beside the old ones) and only then swaps
 * (nothing can fail after that point), so on any error the session is
 * exactly as it was, and neither needs memory in proportion to the cache
 * beyond the restored state itself. */
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

/* The sampler frame's largest size: settings, RNG and a history of at most 2^20 ids. */
#define SAMPLER_FRAME_MAX (72 + 4ull * (1u << 20))
/* The meta frame's largest size. */
#define META_FRAME_MAX(n_layer) (256 + 4 * (uint64_t)(n_layer))

/* The largest raw frame a snapshot for this session can hold: a sequence
 * filling the cache, or logits for every position. Frames above it are
 * refused (EF_ERR_MISMATCH: their CRC is checked first, so they are real
 * state too big for this session) before anything is allocated. */
static uint64_t max_frame_bytes(const ef_session *s, const ef_kv_layout *L) {
    const uint64_t n_ctx = (uint64_t)L->n_ctx;
    const uint64_t row = (uint64_t)ef_kvi_row_bytes(session_kv(s), 0) + ef_kvi_row_bytes(session_kv(s), 1);
    uint64_t seq = 16 + 4 * n_ctx + (uint64_t)L->n_layer * (8 + n_ctx * row); /* "seqw" has the longer head */
    uint64_t logits = 8 + (n_ctx + 1) * (uint64_t)s->model->hp.n_vocab * 4;
    uint64_t sampler = SAMPLER_FRAME_MAX;
    uint64_t meta = META_FRAME_MAX(L->n_layer);
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

/* One sequence's frame, produced page by page (any tier) so saving needs
 * one page of rows whatever the context: id, n tokens, tokens, then per
 * layer rows, K rows, V rows. A streamed sequence (tag "seqw"): id, n
 * positions, lost_end, n_tok, the n_tok ids of its token ring, then the
 * same rows. */
typedef struct seq_producer {
    ef_kv_cache *kv;
    const ef_kv_layout *L;
    int32_t seq;
    ef_kv_seq_info info;
    uint8_t *rows; /* [page_rows][max(K, V row bytes)] one page's rows at a time */
} seq_producer;

static uint64_t seq_frame_bytes(const seq_producer *p) {
    uint64_t n = 8 + (p->info.extended ? 8 : 0) + 4ull * (uint64_t)p->info.n_tok;
    const uint64_t row = (uint64_t)ef_kvi_row_bytes(p->kv, 0) + ef_kvi_row_bytes(p->kv, 1);
    for (int32_t il = 0; il < p->L->n_layer; il++) n += 8 + (uint64_t)ef_kvi_layer_rows(p->kv, il, p->info.n_pos) * row;
    return n;
}

static ef_status produce_seq(void *ctx, ef_snap_sink *k) {
    const seq_producer *p = ctx;
    const ef_kv_seq_info *info = &p->info;
    EF_TRY(ef_snap_sink_put_u32(k, (uint32_t)p->seq));
    EF_TRY(ef_snap_sink_put_u32(k, (uint32_t)info->n_pos));
    if (info->extended) {
        EF_TRY(ef_snap_sink_put_u32(k, (uint32_t)info->lost_end));
        EF_TRY(ef_snap_sink_put_u32(k, (uint32_t)info->n_tok));
    }
    for (int32_t i = 0; i < info->n_tok; i++) EF_TRY(ef_snap_sink_put_u32(k, (uint32_t)info->tokens[i]));
    const int64_t page = p->L->page_rows;
    for (int32_t il = 0; il < p->L->n_layer; il++) {
        const int64_t rows = ef_kvi_layer_rows(p->kv, il, info->n_pos);
        EF_TRY(ef_snap_sink_put_u64(k, (uint64_t)rows));
        for (int32_t which = 0; which <= (p->L->has_v ? 1 : 0); which++) {
            const size_t rb = ef_kvi_row_bytes(p->kv, which);
            for (int64_t r0 = 0; r0 < rows; r0 += page) {
                const int64_t take = rows - r0 < page ? rows - r0 : page;
                EF_TRY(ef_kvi_read_rows(p->kv, p->seq, il, which, r0, take, p->rows)); /* [take][rb] */
                EF_TRY(ef_snap_sink_put(k, p->rows, (size_t)take * rb));
            }
        }
    }
    return EF_OK;
}

static ef_status write_seq(ef_snap_writer *w, ef_kv_cache *kv, const ef_kv_layout *L, int32_t seq, uint8_t *rows) {
    seq_producer p = {kv, L, seq, {0}, rows};
    EF_TRY(ef_kvi_seq_info(kv, seq, &p.info));
    return ef_snap_write_frame_stream(w, p.info.extended ? TAG_SEQ_RING : TAG_SEQ, seq_frame_bytes(&p), produce_seq,
                                      &p);
}

/* The logits frame, streamed from the session's buffer: rows, all-rows
 * flag, then [rows][n_vocab] floats. */
static ef_status produce_logits(void *ctx, ef_snap_sink *k) {
    const ef_session *s = ctx;
    EF_TRY(ef_snap_sink_put_u32(k, (uint32_t)s->n_logit_rows));
    EF_TRY(ef_snap_sink_put_u32(k, (uint32_t)s->logits_all));
    const size_t floats = (size_t)s->n_logit_rows * (size_t)s->model->hp.n_vocab;
    return ef_snap_sink_put(k, s->logits, floats * sizeof(float));
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
    const size_t row_max = ef_kvi_row_bytes(kv, 0) > ef_kvi_row_bytes(kv, 1) ? ef_kvi_row_bytes(kv, 0)
                                                                             : ef_kvi_row_bytes(kv, 1);
    uint8_t *rows = NULL; /* [page_rows][row_max] */
    if (st == EF_OK && n_seq > 0 && !(rows = ef_malloc((size_t)L.page_rows * row_max)))
        st = ef_err(EF_ERR_NO_MEMORY, "snapshot: out of memory for one page of KV rows");
    for (int32_t q = 0; st == EF_OK && q < L.n_seq_max; q++) {
        if (seq == EF_SEQ_ALL ? ef_kvi_seq_len(kv, q) == 0 : q != seq) continue;
        st = write_seq(w, kv, &L, q, rows);
    }
    ef_free(rows);
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
    ef_snap_buf_free(&b);
    if (st == EF_OK) {
        const uint64_t bytes = 8 + (uint64_t)s->n_logit_rows * (uint64_t)s->model->hp.n_vocab * sizeof(float);
        st = ef_snap_write_frame_stream(w, TAG_LOGITS, bytes, produce_logits, s);
    }
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
    /* straight into the caller's buffer; past its end bytes are only counted */
    ef_snap_writer *w = NULL;
    ef_status st = ef_snap_writer_open_buffer(buf, cap, &w);
    if (st == EF_OK) st = save_to(s, seq, w);
    if (st == EF_OK) {
        const uint64_t size = ef_snap_writer_size(w);
        if (size > SIZE_MAX) {
            st = ef_err(EF_ERR_NO_MEMORY, "the snapshot needs %llu bytes, more than this host can address",
                        (unsigned long long)size);
        } else {
            *needed = (size_t)size;
            if (cap < size)
                st = ef_err(EF_ERR_BUFFER_TOO_SMALL, "the snapshot needs %zu bytes, the buffer holds %zu", (size_t)size,
                            cap);
        }
    }
    ef_snap_writer_free(w);
    return st == EF_OK ? EF_OK : ef_session_fail(s, st);
}

/* ---- restore: read, check and stage, streaming ---- */

typedef struct restore_plan {
    int32_t scope;
    int32_t n_seq;
    int32_t *seq_ids;        /* [n_seq] sequences staged so far (to refuse one twice) */
    ef_sampler *sampler;     /* the restored sampler (owned until applied) */
    struct ef_sampler_params sparams;
    int32_t n_logit_rows, logits_all;
    float *logits;           /* [n_logit_rows][n_vocab] restored logits (owned, charged to acct) */
    size_t logits_cap;       /* floats in logits */
    ef_kv_stage *stage;      /* the new KV pages, staged */
} restore_plan;

static void plan_free(ef_session *s, restore_plan *p) {
    ef_free(p->seq_ids);
    ef_sampler_free(p->sampler);
    ef_acct_free(&s->acct, p->logits);
    ef_kv_stage_free(p->stage);
    memset(p, 0, sizeof *p);
}

/* The next frame, which must carry `tag` (or, with alt non-zero, alt). */
static ef_status expect_frame(ef_snap_stream *r, uint32_t tag, uint32_t alt, uint32_t *got, uint64_t *raw) {
    EF_TRY(ef_snap_stream_next(r, got, raw));
    if (*got == tag || (alt && *got == alt)) return EF_OK;
    char want[5], want_alt[5], found[5];
    ef_snap_tag_name(tag, want);
    ef_snap_tag_name(alt, want_alt);
    ef_snap_tag_name(*got, found);
    return ef_err(EF_ERR_FORMAT, "snapshot: expected frame '%s'%s%s%s, found '%s'", want, alt ? " or '" : "",
                  alt ? want_alt : "", alt ? "'" : "", found);
}

/* A small frame (meta, sampler) read whole into a fresh buffer [raw]. */
static ef_status read_small_frame(ef_snap_stream *r, uint64_t raw, uint64_t limit, const char *what, uint8_t **out) {
    *out = NULL;
    if (raw > limit)
        return ef_err(EF_ERR_FORMAT, "snapshot: the %s frame holds %llu bytes, more than %llu", what,
                      (unsigned long long)raw, (unsigned long long)limit);
    uint8_t *buf = ef_malloc(raw ? (size_t)raw : 1);
    if (!buf) return ef_err(EF_ERR_NO_MEMORY, "out of memory reading the snapshot's %s frame", what);
    ef_status st = ef_snap_stream_read(r, buf, raw);
    if (st != EF_OK) {
        ef_free(buf);
        return st;
    }
    *out = buf;
    return EF_OK;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static ef_status check_meta(const ef_session *s, const uint8_t *data, uint64_t size, int32_t seq, restore_plan *p) {
    ef_kv_layout L;
    ef_kvi_layout(session_kv(s), &L);
    ef_snap_cur c = {data, size, 0};
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

/* One sequence frame ("seq " or "seqw"), checked and staged page by page:
 * its rows go from the stream straight into the staged pages. */
static ef_status restore_seq(const ef_session *s, ef_snap_stream *r, restore_plan *p, int32_t index, int32_t into,
                             int ring) {
    ef_kv_cache *kv = session_kv(s);
    ef_kv_layout L;
    ef_kvi_layout(kv, &L);
    uint8_t head[16];
    EF_TRY(ef_snap_stream_read(r, head, ring ? 16 : 8));
    const uint32_t id = le32(head), n = le32(head + 4);
    const uint32_t lost_end = ring ? le32(head + 8) : 0, n_tok = ring ? le32(head + 12) : n;
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
            if (p->seq_ids[j] == (int32_t)id) return ef_err(EF_ERR_FORMAT, "snapshot holds sequence %u twice", id);
        into = (int32_t)id;
    }
    p->seq_ids[index] = into;
    if (4ull * n_tok > ef_snap_stream_left(r))
        return ef_err(EF_ERR_FORMAT, "snapshot sequence %u is truncated in its tokens", id);
    int32_t *tokens = ef_malloc(sizeof *tokens * (n_tok ? n_tok : 1)); /* [n_tok] */
    if (!tokens) return ef_err(EF_ERR_NO_MEMORY, "out of memory restoring sequence %u", id);
    ef_status st = ef_snap_stream_read(r, tokens, 4ull * n_tok);
    const int32_t n_vocab = s->model->hp.n_vocab;
    for (uint32_t i = 0; st == EF_OK && i < n_tok; i++) {
        const int32_t t = (int32_t)le32((const uint8_t *)&tokens[i]); /* little-endian in place */
        if (t < 0 || t >= n_vocab)
            st = ef_err(EF_ERR_FORMAT, "snapshot sequence %u: token %u has id %d, outside 0..%d", id, i, (int)t,
                        (int)n_vocab - 1);
        tokens[i] = t;
    }
    const ef_kv_seq_info info = {(int32_t)n, (int32_t)lost_end, tokens, (int32_t)n_tok, ring};
    if (st == EF_OK) st = ef_kv_stage_seq_begin(p->stage, into, &info);
    ef_free(tokens);
    if (st != EF_OK) return st;
    for (int32_t il = 0; il < L.n_layer; il++) {
        uint8_t le[8];
        EF_TRY(ef_snap_stream_read(r, le, 8));
        const uint64_t rows = (uint64_t)le32(le) | (uint64_t)le32(le + 4) << 32;
        if (rows != (uint64_t)ef_kvi_layer_rows(kv, il, (int32_t)n))
            return ef_err(EF_ERR_FORMAT, "snapshot sequence %u, layer %d: %llu rows where %lld belong", id, (int)il,
                          (unsigned long long)rows, (long long)ef_kvi_layer_rows(kv, il, (int32_t)n));
        for (int32_t which = 0; which <= (L.has_v ? 1 : 0); which++) {
            const size_t rb = ef_kvi_row_bytes(kv, which);
            for (uint64_t r0 = 0; r0 < rows; r0 += (uint64_t)L.page_rows) {
                const uint64_t take = rows - r0 < (uint64_t)L.page_rows ? rows - r0 : (uint64_t)L.page_rows;
                uint8_t *k_rows = NULL, *v_rows = NULL;
                EF_TRY(ef_kv_stage_page(p->stage, into, il, (int64_t)(r0 / (uint64_t)L.page_rows), &k_rows, &v_rows));
                EF_TRY(ef_snap_stream_read(r, which ? v_rows : k_rows, take * rb)); /* [take][rb] */
            }
        }
    }
    if (ef_snap_stream_left(r) != 0)
        return ef_err(EF_ERR_FORMAT, "snapshot sequence %u has %llu extra bytes", id,
                      (unsigned long long)ef_snap_stream_left(r));
    return EF_OK;
}

static ef_status restore_logits(ef_session *s, ef_snap_stream *r, restore_plan *p) {
    uint8_t head[8];
    EF_TRY(ef_snap_stream_read(r, head, 8));
    const uint32_t rows = le32(head), all = le32(head + 4);
    const size_t n_vocab = (size_t)s->model->hp.n_vocab;
    if (all > 1 || (all == 0 && rows > 1) || rows > (uint32_t)ef_kvi_n_ctx(session_kv(s)) + 1)
        return ef_err(EF_ERR_FORMAT, "snapshot: the logits frame is malformed");
    const uint64_t left = ef_snap_stream_left(r);
    if (left != (uint64_t)rows * n_vocab * sizeof(float))
        return ef_err(EF_ERR_FORMAT, "snapshot: the logits frame holds %llu bytes, %u rows of %zu logits expected",
                      (unsigned long long)left, rows, n_vocab);
    p->n_logit_rows = (int32_t)rows;
    p->logits_all = (int32_t)all;
    p->logits_cap = (size_t)(rows ? rows : 1) * n_vocab;
    ef_status st = EF_OK;
    p->logits = ef_acct_alloc(&s->acct, p->logits_cap * sizeof(float), "restored logits", &st);
    if (!p->logits) return st;
    return ef_snap_stream_read(r, p->logits, left); /* [rows][n_vocab] */
}

/* Everything but the swap: check the container, then read, check and
 * stage frame by frame. Nothing of the session changes here. */
static ef_status prepare(ef_session *s, int32_t seq, ef_snap_stream *r, restore_plan *p) {
    ef_kv_cache *kv = session_kv(s);
    ef_kv_layout L;
    ef_kvi_layout(kv, &L);
    EF_TRY(ef_snap_stream_verify(r));
    uint32_t tag = 0;
    uint64_t raw = 0;
    uint8_t *buf = NULL;
    EF_TRY(expect_frame(r, TAG_META, 0, &tag, &raw));
    EF_TRY(read_small_frame(r, raw, META_FRAME_MAX(L.n_layer), "meta", &buf));
    ef_status st = check_meta(s, buf, raw, seq, p);
    ef_free(buf);
    if (st != EF_OK) return st;
    p->seq_ids = ef_calloc((size_t)(p->n_seq ? p->n_seq : 1), sizeof *p->seq_ids);
    if (!p->seq_ids) return ef_err(EF_ERR_NO_MEMORY, "out of memory restoring a snapshot");
    EF_TRY(ef_kv_stage_create(kv, &p->stage));
    for (int32_t i = 0; i < p->n_seq; i++) {
        EF_TRY(expect_frame(r, TAG_SEQ, TAG_SEQ_RING, &tag, &raw));
        EF_TRY(restore_seq(s, r, p, i, seq, tag == TAG_SEQ_RING));
    }
    EF_TRY(expect_frame(r, TAG_SAMPLER, 0, &tag, &raw));
    EF_TRY(read_small_frame(r, raw, SAMPLER_FRAME_MAX, "sampler", &buf));
    st = ef_sampler_state_decode(buf, (size_t)raw, s->model->hp.n_vocab, &p->sampler);
    ef_free(buf);
    /* settings out of range are a malformed snapshot, not a bad argument */
    if (st == EF_ERR_INVALID_ARG) st = ef_err_prefix(EF_ERR_FORMAT, "snapshot sampler");
    if (st != EF_OK) return st;
    ef_sampler_view v;
    ef_sampler_get_view(p->sampler, &v);
    p->sparams = v.params;
    EF_TRY(expect_frame(r, TAG_LOGITS, 0, &tag, &raw));
    EF_TRY(restore_logits(s, r, p));
    return expect_frame(r, EF_SNAP_TAG_END, 0, &tag, &raw);
}

/* The swap: nothing here can fail. */
static void apply(ef_session *s, restore_plan *p) {
    /* EPOCH: every sequence this replaces or empties starts a new epoch
     * (ef_kv_stage_commit: ef_kvq_clear, then ef_kvi_seq_touch on the
     * restored rows), so device-resident copies of its rows are dropped. */
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

/* Restores from r (closed here). */
static ef_status restore_from(ef_session *s, int32_t seq, ef_snap_stream *r) {
    restore_plan p;
    memset(&p, 0, sizeof p);
    ef_kv_cache *kv = session_kv(s);
    ef_kvi_lock(kv);
    ef_kv_layout L;
    ef_kvi_layout(kv, &L);
    ef_snap_stream_set_limit(r, max_frame_bytes(s, &L));
    ef_status st = prepare(s, seq, r, &p);
    if (st == EF_OK) apply(s, &p);
    plan_free(s, &p);
    ef_kvi_unlock(kv);
    ef_snap_stream_close(r);
    return st;
}

ef_status ef_session_restore_buffer(ef_session *s, int32_t seq, const void *buf, size_t size) {
    if (!s || (!buf && size)) return ef_err(EF_ERR_INVALID_ARG, "ef_session_restore_buffer: session or buf is NULL");
    ef_snap_stream *r = NULL;
    ef_status st = ef_snap_stream_open_mem(buf, size, 0, &r);
    if (st == EF_OK) st = restore_from(s, seq, r);
    return st == EF_OK ? EF_OK : ef_session_fail(s, ef_err_prefix(st, "cannot restore session"));
}

ef_status ef_session_restore(ef_session *s, int32_t seq, const char *path) {
    if (!s || !path) return ef_err(EF_ERR_INVALID_ARG, "ef_session_restore: session or path is NULL");
    ef_snap_stream *r = NULL;
    ef_status st = ef_snap_stream_open_file(path, 0, &r);
    if (st == EF_OK) st = restore_from(s, seq, r);
    return st == EF_OK ? EF_OK : ef_session_fail(s, ef_err_prefix(st, "cannot restore session from '%s'", path));
}
