/* The device-resident forward pass: for a llama/qwen2 model with full
 * attention on a plugin backend that has every op it needs, the whole layer
 * stack runs on the backend — activations in device buffers sized for
 * n_batch, the hot K/V of the session's sequence in per-layer device
 * buffers — and only the logits come back. The KV manager's host pages stay
 * the authoritative copy: after each chunk the new K/V rows are written
 * through to them, and before each chunk the device copy is checked against
 * the sequence's epoch (ef_kvi_seq_epoch: the KV manager starts a new one
 * whenever an operation other than an append may change rows) and the rows
 * that changed are uploaded again (a rewind keeps the rows below it; a
 * middle removal, fork, restore or clear fewer or none). A device budget
 * (kv_device_budget; by default the cache's hot-tier budget, if set)
 * bounds the rows kept on the device; a chunk that reaches past them runs
 * its attention on the host over the host pages. Models, plugins or caches
 * the path cannot serve keep the old one (weight matmuls on the backend),
 * with one log line saying why. */
#ifndef EF_EXEC_FORWARD_DEVICE_H
#define EF_EXEC_FORWARD_DEVICE_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "edgeformer/backend.h"
#include "exec/forward.h"

struct ef_fwd_device;
struct ef_exec_backend;

/* One forward chunk (n ≤ n_batch tokens at positions n_past..) on the
 * device. *ran 0: the caller runs it on the host path (the session is not
 * served, decided once and logged, or the device failed: logged, and the
 * session stays on the host path). *ran 1: done; the status is the chunk's
 * (EF_ERR_CANCELLED, a KV-manager error). */
ef_status ef_fwd_device_chunk(ef_exec *e, ef_pool *pool, const int32_t *tokens, int32_t n, int32_t n_past,
                              int32_t all_logits, float *logits, const atomic_int *cancel, int32_t *ran);

/* Frees the state and its device buffers (the binding's context held). NULL is a no-op. */
void ef_fwd_device_free(struct ef_fwd_device *d, const ef_be_iface *f, ef_be_ctx *ctx);

/* What the path did for a binding, for tests and logs. */
typedef struct ef_fwd_device_stats {
    int32_t state;            /* 1 device-resident, -1 host path (why says why), 0 not decided yet */
    const char *why;          /* "" unless state is -1 */
    uint32_t kv_type;         /* EF_BE_TYPE_F32/F16 of the device K/V */
    int32_t rows_cap;         /* K/V rows per layer on the device */
    uint64_t chunks;          /* chunks run on the device */
    uint64_t host_attn_chunks; /* of them, with attention on the host (past the device budget) */
    uint64_t resyncs;         /* chunks that found device rows they needed stale (a new epoch, another sequence) */
    uint64_t rows_uploaded;   /* rows (per layer, K and V) those uploads moved */
} ef_fwd_device_stats;
void ef_fwd_device_stats_of(struct ef_exec_backend *xb, ef_fwd_device_stats *out);

#endif
