/* The KV-cache manager behind the public ef_kv_cache handle (lib/kv):
 *   - a page = page_rows cache rows of ONE layer: K rows, then V rows (MLA:
 *     one latent row per token, no V); pages are refcounted and shared
 *     copy-on-write between sequences (kv_pages.c);
 *   - per sequence: token ids and, per layer, a page table over the layer's
 *     rows (position = row, or ring row for window layers) (kv_seq.c); when
 *     every layer is a ring, positions run past n_ctx and the ids are a ring
 *     too (streaming); removals are all or nothing (kv_remove.c);
 *   - tiers hot → RAM → zstd RAM → disk with byte budgets, LRU by last use
 *     (kv_tiers.c, kv_spill.c); reads decode lower-tier pages into staging
 *     pages held for one eval (kv_io.c), so nothing is promoted by reading;
 *     writes bring a page back to hot first (kv_pages.c).
 * Internal functions are ef_kvi_*; unless a comment says otherwise they
 * expect the caller to hold the cache's lock (ef_kvi_lock) when the cache
 * may be shared. Not part of any public contract. */
#ifndef EF_KV_KV_CACHE_H
#define EF_KV_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/error.h"
#include "cpu/kv_rows.h"
#include "edgeformer/edgeformer.h"

#define EF_KV_ERRMSG_MAX 512

/* The public ef_kv_params (kv_params.c). */
struct ef_kv_params {
    int32_t page_size;      /* tokens per page, 16..4096 */
    uint32_t k_type, v_type; /* EF_TYPE_F32/F16/Q8_0/Q4_0 */
    int32_t n_ctx;          /* 0 = the session's (or the model's, capped at 4096) */
    int32_t n_seq_max;
    uint64_t budget[EF_KV_N_TIERS]; /* bytes; 0 = unlimited (the disk tier's is ignored) */
    char *spill_dir;        /* NULL: no disk tier */
    int32_t zstd_level;     /* 0: no compressed tier */
};

/* Copies src into dst (dst's strings are replaced; on failure dst is unchanged). */
ef_status ef_kvi_params_copy(ef_kv_params *dst, const ef_kv_params *src);
/* Fills defaults (no allocation). */
void ef_kvi_params_defaults(ef_kv_params *p);

/* What the cache layout depends on beyond ef_kv_params: the exec's plan. */
typedef struct ef_kv_geometry {
    int32_t n_layer;
    int32_t k_width, v_width; /* elements per K / V row (v_width 0: MLA, no V) */
    int32_t n_ctx;            /* positions per sequence */
    int32_t n_sinks;          /* sink rows of ring layers */
    const int32_t *layer_ring; /* [n_layer] ring rows (0: row = position); copied */
    const int32_t *layer_window; /* [n_layer] window of each layer (0: full), or NULL (unknown); copied */
    int32_t rope_ok;          /* keys can be re-rotated (context shift) */
} ef_kv_geometry;

/* Creates a cache charged to acct (NULL: the cache's own account). */
ef_status ef_kvi_create(ef_model *model, const ef_kv_params *params, const ef_kv_geometry *geo,
                        ef_mem_account *acct, ef_kv_cache **out);
/* Reference counting: the creator holds one; sessions that attach add one. */
void ef_kvi_retain(ef_kv_cache *kv);
void ef_kvi_release(ef_kv_cache *kv);

/* The cache's lock: sessions sharing a cache take turns in forward. */
void ef_kvi_lock(ef_kv_cache *kv);
void ef_kvi_unlock(ef_kv_cache *kv);

/* ---- for snapshots (lib/kv/snapshot*.c) and the session ---- */
/* tokens[n] of seq by position; EF_ERR_UNSUPPORTED once a streaming
 * sequence has run past its token ring (use ef_kvi_seq_info). */
ef_status ef_kvi_seq_tokens(const ef_kv_cache *kv, int32_t seq, const int32_t **tokens, int32_t *n);
/* 1 when every layer is a window ring: sequences may run past n_ctx
 * (streaming), their token ids kept in a ring of the last positions. */
int32_t ef_kvi_streams(const ef_kv_cache *kv);
/* Entries of the token store a sequence of n positions has: n, or the
 * token ring's rows once a streaming sequence has wrapped it. */
int32_t ef_kvi_token_rows(const ef_kv_cache *kv, int32_t n);
/* What a snapshot keeps of a sequence besides its rows. */
typedef struct ef_kv_seq_info {
    int32_t n_pos;         /* the sequence's length (next position); past n_ctx only when the cache streams */
    int32_t lost_end;      /* non-sink positions below it are no longer held (0: only what n_pos implies) */
    const int32_t *tokens; /* [n_tok] the token store: ef_kvi_token_rows(n_pos) ids; position p at entry
                              n_sinks + (p − n_sinks) % (n_tok − n_sinks) once n_pos > n_tok, else at p */
    int32_t n_tok;
    int32_t extended;      /* 1: lost_end is set or the token store has wrapped; 0: the plain tokens[n_pos] */
} ef_kv_seq_info;
ef_status ef_kvi_seq_info(const ef_kv_cache *kv, int32_t seq, ef_kv_seq_info *out);
int32_t ef_kvi_n_layer(const ef_kv_cache *kv);
/* Rows a sequence of n_tokens occupies in layer il (ring layers: at most their ring). */
int64_t ef_kvi_layer_rows(const ef_kv_cache *kv, int32_t il, int32_t n_tokens);
/* Bytes of one K (which 0) or V (which 1) row; 0 if the cache has none (MLA V). */
size_t ef_kvi_row_bytes(const ef_kv_cache *kv, int32_t which);
/* EF_TYPE_* of K (0) or V (1); for MLA's missing V, the K type. */
uint32_t ef_kvi_type(const ef_kv_cache *kv, int32_t which);
/* Raw row bytes [n][row_bytes] of rows row0.. of (seq, layer il), any tier. */
ef_status ef_kvi_read_rows(ef_kv_cache *kv, int32_t seq, int32_t il, int32_t which, int64_t row0, int64_t n,
                           void *dst);
/* Replaces seq: tokens[ef_kvi_token_rows(kv, n)], layer_k[il] / layer_v[il] hold
 * ef_kvi_layer_rows(kv, il, n) raw rows (layer_v NULL or its entries NULL for MLA).
 * All-or-nothing. */
ef_status ef_kvi_seq_import(ef_kv_cache *kv, int32_t seq, const int32_t *tokens, int32_t n,
                            const void *const *layer_k, const void *const *layer_v);
int32_t ef_kvi_n_seq_max(const ef_kv_cache *kv);
int32_t ef_kvi_n_ctx(const ef_kv_cache *kv);
/* Bytes the cache's params allow tier EF_KV_TIER_* to hold; 0 = unlimited (kv_params.c). */
uint64_t ef_kvi_tier_budget(const ef_kv_cache *kv, int32_t tier);

/* The cache's layout, to check that a snapshot fits it. */
typedef struct ef_kv_layout {
    uint32_t k_type, v_type;  /* EF_TYPE_* (v_type = k_type when has_v is 0) */
    int32_t has_v;
    int32_t n_layer, n_ctx, n_seq_max, page_rows, n_sinks;
    int32_t k_width, v_width; /* elements per row */
    const int32_t *layer_ring; /* [n_layer] ring rows (0: none); borrowed */
} ef_kv_layout;
void ef_kvi_layout(const ef_kv_cache *kv, ef_kv_layout *out);

/* ---- for the exec and the session ---- */
/* Tokens in seq (its next position); 0 for a bad seq. */
int32_t ef_kvi_seq_len(const ef_kv_cache *kv, int32_t seq);

/* ---- sequence epochs (kv_seq.c), for copies of the rows kept elsewhere
 * (the device-resident forward pass keeps one on the backend) ----
 * The epoch of seq changes whenever rows of seq may change other than by the
 * forward pass appending rows at its end: clear, keep-only, copy onto it,
 * removal (rewind, middle range, context shift), import and snapshot
 * restore. Epochs are unique in the process (never reused, by any cache or
 * sequence); 0 for a bad seq or one never used. */
uint64_t ef_kvi_seq_epoch(const ef_kv_cache *kv, int32_t seq);
/* Leading rows of seq unchanged since it was at epoch `since`: the smallest
 * kept count of the changes made since then (INT32_MAX when the epoch is
 * still `since`), or 0 when `since` is older than the log of recent changes
 * or not an epoch of seq. */
int32_t ef_kvi_seq_rows_kept(const ef_kv_cache *kv, int32_t seq, uint64_t since);
/* Starts a new epoch of seq: rows from `first_changed` on may have changed
 * (0: any row). For code that writes a sequence's rows other than through
 * the operations above. */
void ef_kvi_seq_touch(ef_kv_cache *kv, int32_t seq, int32_t first_changed);
/* Stores n rows of K/V (F32 [n][k_width], [n][v_width]; v NULL for MLA)
 * for positions pos0.. of (seq, il), copying shared pages first. The
 * sequence's length is not changed (ef_kvi_seq_commit does that). */
ef_status ef_kvi_write_rows(ef_kv_cache *kv, int32_t seq, int32_t il, int32_t pos0, int32_t n, const float *k,
                            const float *v);
/* Rows 0..n_rows of (seq, il) as the kernels read them (v NULL: K only;
 * MLA: v = k). Pages below the RAM tier are decoded into staging pages held
 * until ef_kvi_end_step; the views stay valid until the next call. */
ef_status ef_kvi_layer_view(ef_kv_cache *kv, int32_t seq, int32_t il, int64_t n_rows, ef_kv_rows *k, ef_kv_rows *v);
/* Moves pages down the tiers between the chunks of a long eval, so a long
 * prompt does not hold all its pages hot until the end (nothing committed). */
ef_status ef_kvi_enforce_budgets(ef_kv_cache *kv);
/* Frees the staging pages of the last forward pass. */
void ef_kvi_end_step(ef_kv_cache *kv);
/* Appends tokens[n] to seq after a successful forward (positions len..len+n-1),
 * first moving pages down so the tier budgets hold; on failure (a spill
 * that could not be written) seq is unchanged and the error returned. */
ef_status ef_kvi_seq_commit(ef_kv_cache *kv, int32_t seq, const int32_t *tokens, int32_t n);
/* 1 for a cache made by ef_kv_cache_create (its own account), 0 for a session's own cache. */
int ef_kvi_has_own_account(const ef_kv_cache *kv);
/* The account pages are charged to. */
ef_mem_account *ef_kvi_account(const ef_kv_cache *kv);
/* Records the thread-local error as the cache's last message; returns st. */
ef_status ef_kvi_fail(ef_kv_cache *kv, ef_status st);

/* ---- test hooks ---- */
/* When set, called before each spill-file write; a non-zero return makes
 * the write fail as if the disk were full (EF_ERR_IO). */
extern int (*ef_kvi_spill_fail_hook)(void);
/* When set, called before each spill-file read; a non-zero return makes the
 * read fail as if the page could not be read back (EF_ERR_IO). */
extern int (*ef_kvi_spill_read_fail_hook)(void);

#endif
