/* The forward pass of decoder-only transformers (llama, qwen2) over the CPU
 * backend's ops, with a KV cache for incremental decoding. */
#ifndef EF_EXEC_FORWARD_H
#define EF_EXEC_FORWARD_H

#include <stdint.h>

#include "base/alloc.h"
#include "base/threadpool.h"
#include "model/model.h"

/* Per-session execution state: the KV cache and scratch buffers. All memory
 * is charged to the session's account. Attention is the CPU backend's tiled
 * kernel (ef_cpu_attn_ext), so a token's result does not depend on the
 * thread count or on how the prompt was split into forward calls. */
typedef struct ef_exec ef_exec;

/* n_ctx: cache capacity in tokens; n_batch: most tokens per forward call;
 * kv_type: the cache's element type, EF_TYPE_F16 (half the memory; what
 * sessions use) or EF_TYPE_F32 (exact). Memory is linear in n_ctx: the
 * cache, plus scratch of O(n_batch × model dims) and split-KV partials of
 * O(n_ctx / EF_FLASH_KV_CHUNK × n_head × head_dim); never n_batch × n_ctx. */
ef_status ef_exec_create_kv(const ef_model *m, int32_t n_ctx, int32_t n_batch, uint32_t kv_type,
                            ef_mem_account *acct, ef_exec **out);

/* Everything ef_exec_create_opts takes. window/sinks < 0 keep the model's. */
typedef struct ef_exec_opts {
    int32_t n_ctx, n_batch;
    uint32_t kv_type;   /* EF_TYPE_F32 or EF_TYPE_F16 */
    int32_t mla_mode;   /* EF_MLA_* */
    int32_t full_cache; /* 1: window layers keep every position (masking only), no ring buffer */
    int32_t window;     /* override of the window of window layers (0: none), -1: the model's */
    int32_t sinks;      /* override of the sink count, -1: the model's */
} ef_exec_opts;

/* The full form of ef_exec_create_kv. Window layers keep a ring buffer of
 * sinks + window + n_batch − 1 rows (when below n_ctx), so their memory
 * stops growing at the window; when every layer does, positions may run
 * past n_ctx (streaming). When the account has a budget and the state does
 * not fit, n_batch is halved until it does (ef_exec_n_batch tells the
 * result; ef_exec_forward then splits longer calls into chunks); if even
 * one token per chunk does not fit, EF_ERR_BUDGET names the bytes needed. */
ef_status ef_exec_create_opts(const ef_model *m, const ef_exec_opts *o, ef_mem_account *acct, ef_exec **out);

/* The prefill chunk the state was sized for. */
int32_t ef_exec_n_batch(const ef_exec *e);

/* ef_exec_create_kv with an F32 cache. */
ef_status ef_exec_create(const ef_model *m, int32_t n_ctx, int32_t n_batch, ef_mem_account *acct,
                         ef_exec **out);

/* The cache's element type (EF_TYPE_F32 or EF_TYPE_F16). */
uint32_t ef_exec_kv_type(const ef_exec *e);
void ef_exec_free(ef_exec *e, ef_mem_account *acct);

/* Runs n_tokens (≥ 1; more than n_batch are run in chunks of n_batch) at
 * positions n_past .. n_past+n-1, where n_past is the number of tokens
 * already cached (n_past + n ≤ n_ctx unless every layer is a ring). Writes
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

/* How MLA layers attend (ignored by other models): AUTO picks per call;
 * ABSORBED folds W_UK into the query and W_UV after attention, reading only
 * the latent cache; EXPANDED decompresses the cached latents into per-head
 * K and V first (a buffer of n_ctx × n_head × (k+v) floats, grown on first
 * use). Both give the same logits within float rounding. */
enum { EF_MLA_AUTO = 0, EF_MLA_ABSORBED = 1, EF_MLA_EXPANDED = 2 };
void ef_exec_set_mla_mode(ef_exec *e, int32_t mode);
/* How quantized weights are multiplied: an ef_matmul_mode (cpu/matmul_kernels.h). */
void ef_exec_set_matmul_mode(ef_exec *e, int32_t mode);
int32_t ef_exec_matmul_mode(const ef_exec *e);

/* ---- paged KV cache (exec_kv.c) ---- */
/* ef_exec_create_opts for a paged cache: the exec keeps no cache of its
 * own (its memory is scratch only); K/V rows live in an ef_kv_cache bound
 * with ef_exec_bind_kv before each forward. layer_ring ([n_layer], or NULL
 * for the plan's) makes window layers use an existing cache's ring rows;
 * n_batch is then capped so one call never overwrites rows it reads. */
ef_status ef_exec_create_paged(const ef_model *m, const ef_exec_opts *o, const int32_t *layer_ring,
                               ef_mem_account *acct, ef_exec **out);
struct ef_kv_cache;
struct ef_kv_geometry;
/* Binds the cache and sequence a paged exec reads and writes (the caller
 * holds the cache's lock around ef_exec_forward); n_past is then the
 * sequence's length. kv NULL unbinds. */
void ef_exec_bind_kv(ef_exec *e, struct ef_kv_cache *kv, int32_t seq);
/* The layout a cache for this exec needs (layer_ring borrowed from e). */
void ef_exec_kv_geometry(const ef_exec *e, struct ef_kv_geometry *g);

/* Bytes the cache grows by per token over all layers (ring layers: 0). */
uint64_t ef_exec_kv_bytes_per_token(const ef_exec *e);

/* Bytes of cache that n_tokens cached positions occupy (ring layers count
 * at most their ring). */
uint64_t ef_exec_kv_bytes(const ef_exec *e, int64_t n_tokens);

#endif
