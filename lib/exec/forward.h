/* The forward pass of decoder-only transformers (llama, qwen2) over the CPU
 * backend's ops, with a KV cache for incremental decoding. */
#ifndef EF_EXEC_FORWARD_H
#define EF_EXEC_FORWARD_H

#include <stdint.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "model/model.h"

/* Per-session execution state: the KV cache and scratch buffers. All memory
 * is charged to the session's account. Attention is the flash kernel of the
 * CPU backend, so a token's result does not depend on the thread count or on
 * how the prompt was split into forward calls. */
typedef struct ef_exec ef_exec;

/* n_ctx: cache capacity in tokens; n_batch: most tokens per forward call;
 * kv_type: the cache's element type, EF_TYPE_F16 (half the memory; what
 * sessions use) or EF_TYPE_F32 (exact). Memory is linear in n_ctx: the
 * cache, plus scratch of O(n_batch × model dims) and split-KV partials of
 * O(n_ctx / EF_FLASH_KV_CHUNK × n_head × head_dim); never n_batch × n_ctx. */
ef_status ef_exec_create_kv(const ef_model *m, int32_t n_ctx, int32_t n_batch, uint32_t kv_type,
                            ef_mem_account *acct, ef_exec **out);

/* ef_exec_create_kv with an F32 cache. */
ef_status ef_exec_create(const ef_model *m, int32_t n_ctx, int32_t n_batch, ef_mem_account *acct,
                         ef_exec **out);

/* The cache's element type (EF_TYPE_F32 or EF_TYPE_F16). */
uint32_t ef_exec_kv_type(const ef_exec *e);
void ef_exec_free(ef_exec *e, ef_mem_account *acct);

/* Runs n_tokens (1 ≤ n ≤ n_batch) at positions n_past .. n_past+n-1, where
 * n_past is the number of tokens already cached (n_past + n ≤ n_ctx). Writes
 * logits for every token ({n_vocab} rows, row-major: logits[i*n_vocab + v])
 * when all_logits, else only for the last token (one row). Token ids must be
 * in range (the caller checks). `cancel` (may be NULL) is polled between
 * layers; when it becomes non-zero the call returns EF_ERR_CANCELLED. The
 * first call with a larger pool than before grows the per-worker attention
 * scratch (charged to the account: EF_ERR_NO_MEMORY or EF_ERR_BUDGET, with
 * the cache left as it was). */
ef_status ef_exec_forward(ef_exec *e, ef_pool *pool, const int32_t *tokens, int32_t n_tokens,
                          int32_t n_past, int32_t all_logits, float *logits,
                          const atomic_int *cancel);

#endif
