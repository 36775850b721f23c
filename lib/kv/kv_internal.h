/* The cache's private layout, shared by the files of lib/kv only. */
#ifndef EF_KV_KV_INTERNAL_H
#define EF_KV_KV_INTERNAL_H

#include <stdint.h>

#include "kv/kv_cache.h"
#include "model/model.h"

#include <stdio.h>

#include "base/platform.h"

/* One page: page_rows rows of K, then page_rows rows of V, of one layer. */
typedef struct ef_kv_page {
    void *data;        /* [page_rows][k_row] ‖ [page_rows][v_row] raw bytes; NULL below the RAM tier */
    void *zdata;       /* zstd frame of data (tier ZSTD), else NULL */
    size_t zsize;      /* bytes of zdata */
    int64_t slot;      /* slot in the spill file (tier DISK), else -1 */
    uint64_t last_use; /* kv->clock at the last read or write (LRU) */
    int32_t refs;      /* page tables that point here; 0 = free id */
    int32_t layer;
    uint8_t tier;      /* EF_KV_TIER_* */
    uint8_t pinned;    /* scratch flag of the tier pass: the next step needs it */
} ef_kv_page;

/* A sequence's epoch and the last changes that made new ones: each change
 * records the epoch it left and the leading rows it kept, so a reader that
 * saw an older epoch learns which rows it may still trust. */
#define EF_KV_EPOCH_LOG 8
typedef struct ef_kv_epochs {
    uint64_t now;                   /* unique in the process; 0 until the sequence is first used */
    uint64_t from[EF_KV_EPOCH_LOG]; /* ring of the last changes: the epoch each one left */
    int32_t kept[EF_KV_EPOCH_LOG];  /* and the rows [0, kept) it left unchanged */
    int32_t next;                   /* ring slot of the next change */
} ef_kv_epochs;

typedef struct ef_kv_seq {
    int32_t n_tokens; /* its length: positions 0..n_tokens-1 were evaluated (which are still held: ef_kvq_first_held) */
    int32_t lost_end; /* non-sink positions below it are no longer held by the ring layers (after a rewind or
                         removal in a wrapped ring); 0: only those the ring has overwritten */
    int32_t *tokens;  /* [tok_rows] token ids, position p at ef_kvq_tok_index(kv, p); NULL until first used */
    int32_t *table;   /* [table_len] page ids per layer (layer il at table_off[il]), -1 none; NULL until used */
    ef_kv_epochs epochs; /* changes to its rows other than appends (ef_kvi_seq_epoch, kv_seq.c) */
} ef_kv_seq;

typedef struct ef_kv_tier_stats {
    uint64_t bytes, raw_bytes, pages;
    uint64_t offloads, restores;
    double offload_seconds, restore_seconds;
} ef_kv_tier_stats;

struct ef_kv_cache {
    ef_model *model;         /* a reference */
    int32_t refs;            /* handle references (creator + attached sessions) */
    ef_mem_account own_acct; /* used when no account was given */
    ef_mem_account *acct;    /* pages, tables, zstd frames */
    ef_mutex *mutex;
    ef_kv_params params;     /* spill_dir owned */

    int32_t n_layer, n_ctx, n_seq_max, page_rows, n_sinks;
    int32_t k_width, v_width;
    size_t k_row, v_row;     /* bytes per row */
    size_t page_bytes;       /* page_rows * (k_row + v_row) */
    int32_t rope_ok;
    int32_t stream;          /* every layer is a ring: positions run past n_ctx with flat memory */
    int32_t min_body;        /* smallest ring − n_sinks of the ring layers (INT32_MAX: no ring layer) */
    int32_t tok_ring;        /* streaming: token ids kept in a ring of n_sinks + min_body rows; 0: by position */
    int32_t tok_rows;        /* entries of a sequence's token store: tok_ring, or n_ctx */
    int32_t *layer_ring;     /* [n_layer] */
    int32_t *layer_window;   /* [n_layer] window of ring layers (0: unknown: the whole ring is pinned) */
    int32_t *table_off;      /* [n_layer] first table entry of each layer */
    int32_t table_len;       /* entries of one sequence's table */

    ef_kv_seq *seqs;         /* [n_seq_max] */

    ef_kv_page *pages;       /* [pages_cap] */
    int32_t pages_cap;
    int32_t *free_ids;       /* [pages_cap] stack of free page ids */
    int32_t n_free;
    uint64_t clock;          /* advances on each page access */

    int32_t max_layer_pages; /* most pages one layer's table has */
    const void **view_k, **view_v; /* [max_layer_pages] page pointers of the last ef_kvi_layer_view */
    void **stage;            /* [max_layer_pages] staging pages for lower-tier pages, NULL until used */
    void *scratch_page;      /* [page_bytes] a lower-tier page decoded for reading */
    float *scratch_row;      /* [max(k_width, v_width)] one row as F32 */
    void *zstd_cctx, *zstd_dctx; /* created on first use */

    /* the disk tier: one spill file of page_bytes slots */
    char *spill_path;
    FILE *spill;             /* NULL when not open */
    int64_t spill_slots;     /* slots in the file */
    int64_t *free_slots;     /* [free_slots_cap] */
    int64_t n_free_slots, free_slots_cap;

    ef_kv_tier_stats tier[EF_KV_N_TIERS];
    uint64_t reads_hot, reads_total;

    char errmsg[EF_KV_ERRMSG_MAX];
};

/* ---- kv_pages.c ---- */
/* A new exclusive, hot page of layer il (zeroed); -1 on failure (status set). */
int32_t ef_kvp_new(ef_kv_cache *kv, int32_t il, ef_status *st);
void ef_kvp_ref(ef_kv_cache *kv, int32_t id);
/* Drops a reference; frees the page (any tier) at zero. */
void ef_kvp_unref(ef_kv_cache *kv, int32_t id);
/* Makes *id writable: raw (restored from a lower tier) and exclusive (copied if shared). */
ef_status ef_kvp_make_writable(ef_kv_cache *kv, int32_t *id);
/* Raw bytes of page id for reading: its data, or decoded into kv->scratch_page. */
ef_status ef_kvp_read(ef_kv_cache *kv, int32_t id, const uint8_t **bytes);
/* Frees every page and the pool. */
void ef_kvp_free_all(ef_kv_cache *kv);

/* ---- kv_tiers.c ---- */
/* Moves LRU pages down until every tier is within its budget. */
ef_status ef_kvt_enforce(ef_kv_cache *kv);
/* Brings page id back to the RAM tier or above (raw data). */
ef_status ef_kvt_restore(ef_kv_cache *kv, int32_t id);
/* Decodes a non-raw page into dst [page_bytes] without moving it. */
ef_status ef_kvt_decode(ef_kv_cache *kv, int32_t id, void *dst);
/* Drops a page's lower-tier copy (zstd frame, spill slot) and its stats. */
void ef_kvt_drop(ef_kv_cache *kv, ef_kv_page *p);
void ef_kvt_free(ef_kv_cache *kv);
/* Stats bookkeeping when a page enters/leaves a tier. */
void ef_kvt_count(ef_kv_cache *kv, const ef_kv_page *p, int sign);

/* ---- kv_spill.c ---- */
ef_status ef_kvs_open(ef_kv_cache *kv);
ef_status ef_kvs_write(ef_kv_cache *kv, const void *bytes, int64_t *slot);
ef_status ef_kvs_read(ef_kv_cache *kv, int64_t slot, void *bytes);
void ef_kvs_release(ef_kv_cache *kv, int64_t slot);
void ef_kvs_close(ef_kv_cache *kv);

/* ---- kv_seq.c ---- */
/* Allocates seq's tokens and table on first use. */
ef_status ef_kvq_ensure(ef_kv_cache *kv, int32_t seq);
/* Drops every page of seq and empties it (a new epoch). */
void ef_kvq_clear(ef_kv_cache *kv, int32_t seq);
/* Drops the pages of seq that hold no row of its first n_tokens positions. */
void ef_kvq_trim_pages(ef_kv_cache *kv, int32_t seq, int32_t n_tokens);
/* The sequence operations behind ef_kv_seq_* (arguments checked by the caller). */
ef_status ef_kvq_copy(ef_kv_cache *kv, int32_t src, int32_t dst);
/* The first non-sink position the ring layers still hold for q: positions
 * [n_sinks, first) are gone (overwritten in the ring, or lost by a rewind);
 * n_sinks when nothing is lost (and always for a cache without ring layers). */
int32_t ef_kvq_first_held(const ef_kv_cache *kv, const ef_kv_seq *q);
/* Entry of position p in a sequence's token store. */
static inline int64_t ef_kvq_tok_index(const ef_kv_cache *kv, int64_t p) {
    if (kv->tok_ring <= 0 || p < kv->n_sinks) return p;
    return kv->n_sinks + (p - kv->n_sinks) % (kv->tok_ring - kv->n_sinks);
}
/* Token-store entries a sequence of n positions uses. */
static inline int32_t ef_kvq_tok_used(const ef_kv_cache *kv, int32_t n) {
    return kv->tok_ring > 0 && n > kv->tok_ring ? kv->tok_ring : n;
}

/* ---- kv_remove.c ---- */
/* Removes positions [p0, p1) of seq, all or nothing (arguments checked by the caller). */
ef_status ef_kvq_remove(ef_kv_cache *kv, int32_t seq, int32_t p0, int32_t p1);

/* Row conversion (kv_rows.c). */
void ef_kvr_store(uint32_t type, const float *src, int32_t width, void *dst);
void ef_kvr_load(uint32_t type, const void *src, int32_t width, float *dst);

#endif
