/* Removing positions [p0, p1) of a sequence: a suffix rewinds, a middle
 * range moves the later rows down by d = p1 − p0 positions and turns their
 * keys back by d (RoPE re-rotation), in full layers and in window rings.
 *
 * All or nothing: a first pass brings every page the removal reads back to
 * a raw tier and every page it writes to a writable (raw, exclusive) one,
 * and allocates its scratch. That pass can fail (a disk page that cannot be
 * read back, no memory) but changes no row, token or length, only where
 * pages live and whether they are shared. The second pass only copies bytes
 * and cannot fail.
 *
 * Window rings. A ring layer keeps the sinks [0, n_sinks) and the last
 * positions; positions [n_sinks, first_held) are gone (ef_kvq_first_held).
 * After the removal, new position j' holds old position j' (j' < p0) or
 * j' + d (j' ≥ p0), so it is held when that old position was. A removal is
 * refused (EF_ERR_UNSUPPORTED) when the next token would need a row that is
 * gone: a new sink whose old position was lost, or a position of the next
 * token's window. Positions lost this way are remembered in the sequence's
 * lost_end, so later operations never read their stale rows. */
#include <string.h>

#include "cpu/cpu_ops.h"
#include "cpu/mla_ops.h"
#include "kv/kv_internal.h"

/* One removal: the new position j' takes the rows of old position j' + shift(j'). */
typedef struct removal {
    int32_t p0, p1, d; /* the removed range, and its length */
    int32_t n, n2;     /* old and new length */
    int32_t held2;     /* first non-sink position the ring layers hold afterwards */
} removal;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* New positions whose rows move in layer il: [lo[i], hi[i]) for i = 0, 1.
 * Full layers: everything from p0. Rings: the sinks from p0, and the held
 * positions from p0 (positions below held2 keep their stale rows). */
static void moved_ranges(const ef_kv_cache *kv, const removal *r, int32_t il, int64_t lo[2], int64_t hi[2]) {
    if (kv->layer_ring[il] <= 0) {
        lo[0] = r->p0, hi[0] = r->n2;
        lo[1] = hi[1] = 0;
        return;
    }
    lo[0] = r->p0, hi[0] = min64(kv->n_sinks, r->n2);
    lo[1] = max64(r->p0, r->held2), hi[1] = r->n2;
}

/* Checks that the ring layers keep what the next token needs; sets held2. */
static ef_status plan(ef_kv_cache *kv, int32_t seq, removal *r) {
    const ef_kv_seq *q = &kv->seqs[seq];
    const int32_t S = kv->n_sinks;
    if (r->p1 < r->n && !kv->rope_ok)
        return ef_err(EF_ERR_UNSUPPORTED, "this model's keys cannot be re-rotated, so a middle range cannot be removed");
    const int32_t held = ef_kvq_first_held(kv, q);
    /* held positions [held, p0) stay; those from p1 move down by d */
    int64_t held2 = held <= r->p0 ? held : max64(r->p0, (int64_t)held - r->d);
    if (held2 < S) held2 = S;
    r->held2 = (int32_t)held2;
    if (kv->min_body == INT32_MAX) return EF_OK; /* no ring layer: every position is held */
    /* new sinks [p0, S) take old positions p1.. that may have left the ring */
    const int64_t sink_lo = max64(r->p0, (int64_t)S - r->d), sink_hi = min64(S, r->n2);
    if (sink_lo < sink_hi && sink_lo + r->d < held)
        return ef_err(EF_ERR_UNSUPPORTED,
                      "cannot remove positions [%d, %d) of KV sequence %d: position %lld would become a sink, but the "
                      "window rings no longer hold its rows (they hold %d.. besides the sinks)", (int)r->p0, (int)r->p1,
                      (int)seq, (long long)(sink_lo + r->d), (int)held);
    for (int32_t il = 0; il < kv->n_layer; il++) {
        const int32_t ring = kv->layer_ring[il];
        if (ring <= 0) continue;
        const int32_t w = kv->layer_window[il] > 0 ? kv->layer_window[il] : ring - S; /* unknown: the whole ring */
        const int64_t need = max64(S, (int64_t)r->n2 - w + 1); /* the next token sees [need, n2) besides the sinks */
        if (need < r->n2 && held2 > need)
            return ef_err(EF_ERR_UNSUPPORTED,
                          "cannot remove positions [%d, %d) of KV sequence %d: the next token would see positions "
                          "%lld..%d in window layer %d, but its ring no longer holds %lld..%lld (a wrapped ring can "
                          "rewind by at most %d positions)", (int)r->p0, (int)r->p1, (int)seq, (long long)need,
                          (int)r->n2 - 1, (int)il, (long long)need, (long long)held2 - 1,
                          (int)(ring - S - w + 1 > 0 ? ring - S - w + 1 : 0));
    }
    return EF_OK;
}

/* Page-table slot of row `row` of layer il. */
static int32_t *slot_of(ef_kv_cache *kv, ef_kv_seq *q, int32_t il, int64_t row) {
    return &q->table[kv->table_off[il] + row / kv->page_rows];
}

/* Pass one for layer il: the pages of moved rows writable, their sources raw. */
static ef_status prepare_layer(ef_kv_cache *kv, ef_kv_seq *q, int32_t il, const removal *r) {
    const int32_t ring = kv->layer_ring[il];
    int64_t lo[2], hi[2];
    moved_ranges(kv, r, il, lo, hi);
    for (int i = 0; i < 2; i++)
        for (int64_t j = lo[i]; j < hi[i]; j++) {
            ef_status st = EF_OK;
            int32_t *dst = slot_of(kv, q, il, ef_attn_ring_row(j, ring, kv->n_sinks));
            if (*dst < 0) {
                const int32_t id = ef_kvp_new(kv, il, &st);
                if (id < 0) return st;
                *dst = id;
            } else if ((st = ef_kvp_make_writable(kv, dst)) != EF_OK) {
                return st;
            }
            const int32_t src = *slot_of(kv, q, il, ef_attn_ring_row(j + r->d, ring, kv->n_sinks));
            if (src < 0)
                return ef_err(EF_ERR_INTERNAL, "KV row of position %lld, layer %d is missing", (long long)(j + r->d),
                              (int)il);
            if ((st = ef_kvt_restore(kv, src)) != EF_OK) return st;
        }
    return EF_OK;
}

/* Row `row` of layer il: K bytes (which 0) or V bytes (1), in a raw page. */
static uint8_t *row_bytes(ef_kv_cache *kv, ef_kv_seq *q, int32_t il, int64_t row, int which) {
    uint8_t *data = kv->pages[*slot_of(kv, q, il, row)].data; /* [page_rows][k_row] ‖ [page_rows][v_row] */
    const int64_t in = row % kv->page_rows;
    return which ? data + (int64_t)kv->page_rows * (int64_t)kv->k_row + in * (int64_t)kv->v_row
                 : data + in * (int64_t)kv->k_row;
}

/* Turns the key of row `row` of layer il by delta positions: RoPE turns pair
 * i by pos·θ_i, so turning a key rotated for p by delta·θ_i gives exactly
 * the key for p + delta (in real numbers; in floats within rounding). */
static void rerotate_row(ef_kv_cache *kv, ef_kv_seq *q, int32_t il, int64_t row, int32_t delta) {
    const ef_model *m = kv->model;
    const ef_hparams *hp = &m->hp;
    const int mla = hp->attn_kind == EF_ATTN_MLA;
    const ef_rope_params rope = {mla ? EF_ROPE_NORM : hp->rope_mode, mla ? hp->qk_rope_dim : hp->n_rot,
                                 hp->rope_freq_base, hp->rope_freq_scale, m->rope_factors};
    float *f = kv->scratch_row; /* [k_width] one key row as F32 */
    uint8_t *k = row_bytes(kv, q, il, row, 0);
    ef_kvr_load(kv->params.k_type, k, kv->k_width, f);
    if (mla) /* only the shared RoPE key after the latent turns */
        ef_cpu_rope(f + hp->kv_lora_rank, 1, 1, hp->qk_rope_dim, delta, &rope);
    else
        ef_cpu_rope(f, 1, hp->n_head_kv, hp->head_dim, delta, &rope);
    ef_kvr_store(kv->params.k_type, f, kv->k_width, k);
}

/* Pass two for layer il (cannot fail). Rows are gathered into tmp
 * [moved][k_row ‖ v_row] first: in a ring the moves are a permutation. */
static void apply_layer(ef_kv_cache *kv, ef_kv_seq *q, int32_t il, const removal *r, uint8_t *tmp) {
    const int32_t ring = kv->layer_ring[il], S = kv->n_sinks;
    const size_t kb = kv->k_row, vb = kv->v_row;
    int64_t lo[2], hi[2];
    moved_ranges(kv, r, il, lo, hi);
    if (ring <= 0) { /* rows are positions: copying upwards never overwrites a row still to be read */
        for (int64_t j = lo[0]; j < hi[0]; j++) {
            memcpy(row_bytes(kv, q, il, j, 0), row_bytes(kv, q, il, j + r->d, 0), kb);
            if (vb) memcpy(row_bytes(kv, q, il, j, 1), row_bytes(kv, q, il, j + r->d, 1), vb);
        }
    } else {
        uint8_t *t = tmp;
        for (int i = 0; i < 2; i++)
            for (int64_t j = lo[i]; j < hi[i]; j++, t += kb + vb) {
                const int64_t src = ef_attn_ring_row(j + r->d, ring, S);
                memcpy(t, row_bytes(kv, q, il, src, 0), kb);
                if (vb) memcpy(t + kb, row_bytes(kv, q, il, src, 1), vb);
            }
        t = tmp;
        for (int i = 0; i < 2; i++)
            for (int64_t j = lo[i]; j < hi[i]; j++, t += kb + vb) {
                const int64_t dst = ef_attn_ring_row(j, ring, S);
                memcpy(row_bytes(kv, q, il, dst, 0), t, kb);
                if (vb) memcpy(row_bytes(kv, q, il, dst, 1), t + kb, vb);
            }
    }
    for (int i = 0; i < 2; i++)
        for (int64_t j = lo[i]; j < hi[i]; j++) rerotate_row(kv, q, il, ef_attn_ring_row(j, ring, S), -r->d);
}

/* The token ids follow their rows (tmp: [moved] ids of a streaming ring). */
static void move_tokens(ef_kv_cache *kv, ef_kv_seq *q, const removal *r, int32_t *tmp) {
    if (kv->tok_ring <= 0) { /* by position */
        memmove(q->tokens + r->p0, q->tokens + r->p1, sizeof *q->tokens * (size_t)(r->n - r->p1));
        return;
    }
    int64_t lo[2], hi[2];
    moved_ranges(kv, r, 0, lo, hi); /* streaming: every layer is a ring with the same held positions */
    int32_t *t = tmp;
    for (int i = 0; i < 2; i++)
        for (int64_t j = lo[i]; j < hi[i]; j++) *t++ = q->tokens[ef_kvq_tok_index(kv, j + r->d)];
    t = tmp;
    for (int i = 0; i < 2; i++)
        for (int64_t j = lo[i]; j < hi[i]; j++) q->tokens[ef_kvq_tok_index(kv, j)] = *t++;
}

/* Rows one ring layer moves at most (the scratch of apply_layer). */
static int64_t most_ring_moves(const ef_kv_cache *kv, const removal *r) {
    int64_t most = 0;
    for (int32_t il = 0; il < kv->n_layer; il++) {
        if (kv->layer_ring[il] <= 0) continue;
        int64_t lo[2], hi[2], n = 0;
        moved_ranges(kv, r, il, lo, hi);
        for (int i = 0; i < 2; i++) n += hi[i] > lo[i] ? hi[i] - lo[i] : 0;
        if (n > most) most = n;
    }
    return most;
}

ef_status ef_kvq_remove(ef_kv_cache *kv, int32_t seq, int32_t p0, int32_t p1) {
    ef_kv_seq *q = &kv->seqs[seq];
    if (p0 == p1) return EF_OK;
    removal r = {p0, p1, p1 - p0, q->n_tokens, q->n_tokens - (p1 - p0), 0};
    ef_status st = plan(kv, seq, &r);
    if (st) return st;
    /* pass one: scratch, then every page raw (and writable where written) */
    const int64_t moves = r.p1 < r.n ? most_ring_moves(kv, &r) : 0;
    uint8_t *rows = moves ? ef_malloc((size_t)moves * (kv->k_row + kv->v_row)) : NULL; /* [moves][k_row ‖ v_row] */
    int32_t *ids = moves && kv->tok_ring > 0 ? ef_malloc(sizeof *ids * (size_t)moves) : NULL; /* [moves] */
    if (moves && (!rows || (kv->tok_ring > 0 && !ids))) st = ef_err(EF_ERR_NO_MEMORY, "out of memory removing "
                                                                    "positions of KV sequence %d", (int)seq);
    for (int32_t il = 0; !st && r.p1 < r.n && il < kv->n_layer; il++) st = prepare_layer(kv, q, il, &r);
    if (!st) {
        /* pass two: nothing below can fail */
        if (r.p1 < r.n) {
            for (int32_t il = 0; il < kv->n_layer; il++) apply_layer(kv, q, il, &r, rows);
            move_tokens(kv, q, &r, ids);
        }
        q->n_tokens = r.n2;
        const int64_t implied = kv->min_body < INT32_MAX ? max64(kv->n_sinks, (int64_t)r.n2 - kv->min_body) : 0;
        q->lost_end = kv->min_body < INT32_MAX && r.held2 > implied ? r.held2 : 0;
        ef_kvq_trim_pages(kv, seq, r.n2);
        ef_kvi_seq_touch(kv, seq, p0); /* rows below p0 are as they were; a rewind keeps them all */
    }
    ef_free(rows);
    ef_free(ids);
    return st;
}
