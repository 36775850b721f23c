/* Tiers: hot → RAM → zstd RAM → disk. Pages move down by least recent use
 * when a tier is over its budget (never pages the next step needs: a window
 * layer's ring, its sink page, the page the next token is written to), and
 * come back (restore) only to be written; reads decode in place. On the CPU
 * backend hot and RAM pages are both host memory, so hot → RAM is a label. */
#include <string.h>

#include "base/platform.h"
#include "cpu/mla_ops.h"
#include "kv/kv_internal.h"
#include "quant/types.h"

#ifndef EF_NO_ZSTD
#include <zstd.h>
#endif

static uint64_t tier_bytes_of(const ef_kv_cache *kv, const ef_kv_page *p) {
    return p->tier == EF_KV_TIER_ZSTD ? (uint64_t)p->zsize : (uint64_t)kv->page_bytes;
}

void ef_kvt_count(ef_kv_cache *kv, const ef_kv_page *p, int sign) {
    ef_kv_tier_stats *t = &kv->tier[p->tier];
    if (sign > 0) {
        t->pages++;
        t->bytes += tier_bytes_of(kv, p);
        t->raw_bytes += kv->page_bytes;
    } else {
        t->pages--;
        t->bytes -= tier_bytes_of(kv, p);
        t->raw_bytes -= kv->page_bytes;
    }
}

void ef_kvt_drop(ef_kv_cache *kv, ef_kv_page *p) {
    if (p->zdata) ef_acct_free(kv->acct, p->zdata);
    p->zdata = NULL;
    p->zsize = 0;
    if (p->slot >= 0) ef_kvs_release(kv, p->slot);
    p->slot = -1;
}

#ifndef EF_NO_ZSTD
/* F16 pages compress better as two planes (dependencies.md): the low bytes
 * of every element stay raw, only the high bytes go through zstd. */
static int split_planes(const ef_kv_cache *kv) {
    return kv->params.k_type == EF_TYPE_F16 && (kv->v_width == 0 || kv->params.v_type == EF_TYPE_F16);
}

/* zstd frame of a raw page into a new buffer from the account. */
static ef_status compress_page(ef_kv_cache *kv, const uint8_t *raw, void **out, size_t *out_size) {
    if (!kv->zstd_cctx && !(kv->zstd_cctx = ZSTD_createCCtx()))
        return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the zstd context of the KV cache");
    const size_t n = kv->page_bytes;
    const int planes = split_planes(kv);
    /* work: [n] the high-byte plane, then the frame (planes), or the frame */
    uint8_t *work = ef_malloc(n + ZSTD_compressBound(n));
    if (!work) return ef_err(EF_ERR_NO_MEMORY, "out of memory compressing a KV page");
    const uint8_t *src = raw;
    size_t src_n = n, head = 0;
    uint8_t *frame = work + n;
    if (planes) {
        /* output: [n/2] low bytes raw ‖ zstd(high bytes) */
        head = n / 2;
        for (size_t i = 0; i < head; i++) work[i] = raw[2 * i + 1];
        src = work;
        src_n = head;
    }
    const size_t z = ZSTD_compressCCtx(kv->zstd_cctx, frame, ZSTD_compressBound(n), src, src_n,
                                       kv->params.zstd_level);
    if (ZSTD_isError(z)) {
        ef_free(work);
        return ef_err(EF_ERR_INTERNAL, "zstd failed compressing a KV page: %s", ZSTD_getErrorName(z));
    }
    ef_status st = EF_OK;
    uint8_t *buf = ef_acct_alloc(kv->acct, head + z, "a compressed KV page", &st);
    if (!buf) {
        ef_free(work);
        return st;
    }
    for (size_t i = 0; i < head; i++) buf[i] = raw[2 * i];
    memcpy(buf + head, frame, z);
    ef_free(work);
    *out = buf;
    *out_size = head + z;
    return EF_OK;
}

static ef_status decompress_page(ef_kv_cache *kv, const ef_kv_page *p, uint8_t *dst) {
    if (!kv->zstd_dctx && !(kv->zstd_dctx = ZSTD_createDCtx()))
        return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the zstd context of the KV cache");
    const size_t n = kv->page_bytes;
    const uint8_t *z = p->zdata;
    if (!split_planes(kv)) {
        const size_t got = ZSTD_decompressDCtx(kv->zstd_dctx, dst, n, z, p->zsize);
        if (ZSTD_isError(got) || got != n)
            return ef_err(EF_ERR_INTERNAL, "a compressed KV page does not decompress to %zu bytes", n);
        return EF_OK;
    }
    /* the high plane is decoded into the second half of dst, then interleaved in place from the front */
    const size_t half = n / 2;
    uint8_t *high = dst + half;
    const size_t got = ZSTD_decompressDCtx(kv->zstd_dctx, high, half, z + half, p->zsize - half);
    if (ZSTD_isError(got) || got != half)
        return ef_err(EF_ERR_INTERNAL, "a compressed KV page does not decompress to %zu bytes", half);
    /* forward is safe in place: step i writes dst[2i+1] = high[2i+1-half], and 2i+1-half ≤ i (read already) */
    for (size_t i = 0; i < half; i++) {
        const uint8_t hi = high[i];
        dst[2 * i] = z[i];
        dst[2 * i + 1] = hi;
    }
    return EF_OK;
}
#endif

ef_status ef_kvt_decode(ef_kv_cache *kv, int32_t id, void *dst) {
    const ef_kv_page *p = &kv->pages[id];
    if (p->data) {
        memcpy(dst, p->data, kv->page_bytes);
        return EF_OK;
    }
    if (p->tier == EF_KV_TIER_DISK) return ef_kvs_read(kv, p->slot, dst);
#ifndef EF_NO_ZSTD
    return decompress_page(kv, p, dst);
#else
    return ef_err(EF_ERR_UNSUPPORTED, "this build has no zstd: the compressed KV tier is unavailable");
#endif
}

ef_status ef_kvt_restore(ef_kv_cache *kv, int32_t id) {
    ef_kv_page *p = &kv->pages[id];
    if (p->tier == EF_KV_TIER_HOT) return EF_OK;
    const double t0 = ef_time_now();
    const uint8_t from = p->tier;
    if (!p->data) {
        ef_status st = EF_OK;
        void *data = ef_acct_alloc(kv->acct, kv->page_bytes, "a restored KV page", &st);
        if (!data) return st;
        st = ef_kvt_decode(kv, id, data);
        if (st) {
            ef_acct_free(kv->acct, data);
            return st;
        }
        ef_kvt_count(kv, p, -1);
        ef_kvt_drop(kv, p);
        p->data = data;
    } else {
        ef_kvt_count(kv, p, -1);
    }
    p->tier = EF_KV_TIER_HOT;
    ef_kvt_count(kv, p, +1);
    kv->tier[from].restores++;
    kv->tier[from].restore_seconds += ef_time_now() - t0;
    return EF_OK;
}

/* The tier a page of tier t moves to, or -1 when none below is enabled. */
static int next_tier(const ef_kv_cache *kv, int t) {
    if (t == EF_KV_TIER_HOT) return EF_KV_TIER_RAM;
#ifndef EF_NO_ZSTD
    if (t == EF_KV_TIER_RAM && kv->params.zstd_level > 0) return EF_KV_TIER_ZSTD;
#endif
    if (t <= EF_KV_TIER_ZSTD && kv->params.spill_dir) return EF_KV_TIER_DISK;
    return -1;
}

/* Moves page id from its tier to `to`; on failure it stays where it was. */
static ef_status move_down(ef_kv_cache *kv, int32_t id, int to) {
    ef_kv_page *p = &kv->pages[id];
    const double t0 = ef_time_now();
    ef_status st = EF_OK;
    if (to == EF_KV_TIER_RAM) {
        /* host memory either way on this backend */
    } else if (to == EF_KV_TIER_ZSTD) {
#ifndef EF_NO_ZSTD
        void *z = NULL;
        size_t zn = 0;
        st = compress_page(kv, p->data, &z, &zn);
        if (st) return st;
        ef_kvt_count(kv, p, -1);
        ef_acct_free(kv->acct, p->data);
        p->data = NULL;
        p->zdata = z;
        p->zsize = zn;
        p->tier = (uint8_t)to;
        ef_kvt_count(kv, p, +1);
        goto done;
#endif
    } else {
        const void *raw = p->data;
        if (!raw) {
            st = ef_kvt_decode(kv, id, kv->scratch_page);
            if (st) return st;
            raw = kv->scratch_page;
        }
        int64_t slot = -1;
        st = ef_kvs_write(kv, raw, &slot);
        if (st) return st;
        ef_kvt_count(kv, p, -1);
        ef_kvt_drop(kv, p);
        ef_acct_free(kv->acct, p->data);
        p->data = NULL;
        p->slot = slot;
        p->tier = (uint8_t)to;
        ef_kvt_count(kv, p, +1);
        goto done;
    }
    ef_kvt_count(kv, p, -1);
    p->tier = (uint8_t)to;
    ef_kvt_count(kv, p, +1);
done:
    kv->tier[to].offloads++;
    kv->tier[to].offload_seconds += ef_time_now() - t0;
    return EF_OK;
}

/* Marks the pages the next step of any sequence needs. */
static void mark_pinned(ef_kv_cache *kv) {
    for (int32_t id = 0; id < kv->pages_cap; id++) kv->pages[id].pinned = 0;
    for (int32_t s = 0; s < kv->n_seq_max; s++) {
        const ef_kv_seq *q = &kv->seqs[s];
        if (!q->table || q->n_tokens == 0) continue;
        for (int32_t il = 0; il < kv->n_layer; il++) {
            const int32_t *t = q->table + kv->table_off[il];
            const int32_t n_pg = (il + 1 < kv->n_layer ? kv->table_off[il + 1] : kv->table_len) - kv->table_off[il];
            const int32_t ring = kv->layer_ring[il], w = kv->layer_window[il];
            if (ring > 0 && w <= 0) { /* window unknown: the whole ring may be read next step */
                for (int32_t j = 0; j < n_pg; j++)
                    if (t[j] >= 0) kv->pages[t[j]].pinned = 1;
                continue;
            }
            if (ring > 0) { /* the sinks and the window the next token sees */
                const int64_t n = q->n_tokens;
                const int64_t from = n - w > kv->n_sinks ? n - w : kv->n_sinks;
                for (int64_t pos = kv->n_sinks > 0 ? 0 : from; pos <= n; pos = pos + 1 < kv->n_sinks || pos >= from ? pos + 1 : from) {
                    const int64_t j = ef_attn_ring_row(pos, ring, kv->n_sinks) / kv->page_rows;
                    if (j < n_pg && t[j] >= 0) kv->pages[t[j]].pinned = 1;
                }
                continue;
            }
            const int32_t last = (q->n_tokens - 1) / kv->page_rows; /* the page being filled */
            if (last < n_pg && t[last] >= 0) kv->pages[t[last]].pinned = 1;
            int32_t top = n_pg - 1; /* mid-eval: the page the next chunk goes on writing */
            while (top > last && t[top] < 0) top--;
            if (top > last) kv->pages[t[top]].pinned = 1;
        }
    }
}

/* The least recently used unpinned page in tier t, or -1. */
static int32_t lru_in(const ef_kv_cache *kv, int t) {
    int32_t best = -1;
    for (int32_t id = 0; id < kv->pages_cap; id++) {
        const ef_kv_page *p = &kv->pages[id];
        if (p->refs <= 0 || p->tier != t || p->pinned) continue;
        if (best < 0 || p->last_use < kv->pages[best].last_use) best = id;
    }
    return best;
}

ef_status ef_kvt_enforce(ef_kv_cache *kv) {
    int any = 0;
    for (int t = EF_KV_TIER_HOT; t <= EF_KV_TIER_ZSTD; t++) any |= kv->params.budget[t] > 0;
    if (!any) return EF_OK;
    mark_pinned(kv);
    for (int t = EF_KV_TIER_HOT; t <= EF_KV_TIER_ZSTD; t++) {
        const uint64_t budget = kv->params.budget[t];
        const int to = next_tier(kv, t);
        if (budget == 0 || to < 0) continue;
        while (kv->tier[t].bytes > budget) {
            const int32_t id = lru_in(kv, t);
            if (id < 0) break; /* only pinned pages left: the budget cannot be met yet */
            ef_status st = move_down(kv, id, to);
            if (st) return st;
        }
    }
    return EF_OK;
}

void ef_kvt_free(ef_kv_cache *kv) {
#ifndef EF_NO_ZSTD
    ZSTD_freeCCtx(kv->zstd_cctx);
    ZSTD_freeDCtx(kv->zstd_dctx);
#endif
    kv->zstd_cctx = kv->zstd_dctx = NULL;
}
