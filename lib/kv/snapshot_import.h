/* Staged import of KV sequences for snapshot restores: every page of every
 * sequence is allocated and filled first, while the cache still shows its
 * old contents; commit then swaps the new page tables in and cannot fail.
 * So a restore of several sequences is all-or-nothing, even when memory
 * runs out halfway (ef_kvi_seq_import is all-or-nothing for one only).
 * The caller holds the cache's lock from the first stage call to commit
 * or free. */
#ifndef EF_KV_SNAPSHOT_IMPORT_H
#define EF_KV_SNAPSHOT_IMPORT_H

#include <stdint.h>

#include "kv/kv_cache.h"

typedef struct ef_kv_stage ef_kv_stage;

/* An empty stage for kv. Errors: EF_ERR_NO_MEMORY. */
ef_status ef_kv_stage_create(ef_kv_cache *kv, ef_kv_stage **out);
/* Stages sequence seq's new contents: tokens[n] and, per layer il,
 * ef_kvi_layer_rows(kv, il, n) raw rows in layer_k[il] (and layer_v[il]
 * when the cache has V). A sequence may be staged once. Errors:
 * EF_ERR_INVALID_ARG (bad seq, staged twice, n > n_ctx), EF_ERR_NO_MEMORY,
 * EF_ERR_BUDGET. */
ef_status ef_kv_stage_seq(ef_kv_stage *st, int32_t seq, const int32_t *tokens, int32_t n,
                          const void *const *layer_k, const void *const *layer_v);
/* The same for a sequence described by info (ef_kvi_seq_info's fields):
 * n_pos may pass n_ctx when the cache streams, tokens holds
 * ef_kvi_token_rows(kv, n_pos) ids, lost_end (0..n_pos) is kept. Errors as
 * above, and EF_ERR_INVALID_ARG for a token count or lost_end that does not
 * fit n_pos. */
ef_status ef_kv_stage_seq_info(ef_kv_stage *st, int32_t seq, const ef_kv_seq_info *info,
                               const void *const *layer_k, const void *const *layer_v);
/* The same, streamed (a restore from a file of any size): begin stages
 * the sequence's tokens and length (info as above), then each page of its
 * rows is handed out to be filled in place. Errors as above. */
ef_status ef_kv_stage_seq_begin(ef_kv_stage *st, int32_t seq, const ef_kv_seq_info *info);
/* Page `page` (0-based, in row order) of begun sequence seq, layer il,
 * allocated hot and zeroed on first use: *k_rows [page_rows][K row bytes]
 * and *v_rows [page_rows][V row bytes] (NULL when the cache has no V),
 * valid until the next ef_kv_stage_* call. Before that, pages (staged or
 * not) move down the tiers as the budgets say, so a restore holds little
 * more than the budgets, and a page asked for again comes back up. Errors:
 * EF_ERR_INVALID_ARG (seq not begun, il or page out of range),
 * EF_ERR_NO_MEMORY, EF_ERR_BUDGET, EF_ERR_IO (a spill write). */
ef_status ef_kv_stage_page(ef_kv_stage *st, int32_t seq, int32_t il, int64_t page, uint8_t **k_rows,
                           uint8_t **v_rows);
/* Makes the staged sequences the cache's; with clear_others, every other
 * sequence is emptied too; then pages move down the tiers as the budgets
 * say (a failed spill only leaves them hot, with a warning). Cannot fail;
 * the stage is then empty. */
void ef_kv_stage_commit(ef_kv_stage *st, int32_t clear_others);
/* Frees the stage and any pages not committed. NULL is a no-op. */
void ef_kv_stage_free(ef_kv_stage *st);

#endif
