/* The forward pass of decoder-only transformers (llama, qwen2) over the CPU
 * backend's ops, with a KV cache for incremental decoding. */
#ifndef EF_EXEC_FORWARD_H
#define EF_EXEC_FORWARD_H

#include <stdint.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "model/model.h"

/* Per-session execution state: the KV cache and scratch buffers. All memory
 * is charged to the session's account. */
typedef struct ef_exec ef_exec;

/* n_ctx: cache capacity in tokens; n_batch: most tokens per forward call. */
ef_status ef_exec_create(const ef_model *m, int32_t n_ctx, int32_t n_batch, ef_mem_account *acct,
                         ef_exec **out);
void ef_exec_free(ef_exec *e, ef_mem_account *acct);

/* Runs n_tokens (1 ≤ n ≤ n_batch) at positions n_past .. n_past+n-1, where
 * n_past is the number of tokens already cached (n_past + n ≤ n_ctx). Writes
 * logits for every token ({n_vocab} rows, row-major: logits[i*n_vocab + v])
 * when all_logits, else only for the last token (one row). Token ids must be
 * in range (the caller checks). `cancel` (may be NULL) is polled between
 * layers; when it becomes non-zero the call returns EF_ERR_CANCELLED. */
ef_status ef_exec_forward(ef_exec *e, ef_pool *pool, const int32_t *tokens, int32_t n_tokens,
                          int32_t n_past, int32_t all_logits, float *logits,
                          const atomic_int *cancel);

#endif
