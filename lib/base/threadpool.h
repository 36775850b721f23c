/* A small fixed-size thread pool. The caller's thread takes part as worker 0,
 * so a pool of n threads starts n-1 OS threads. One job runs at a time:
 * ef_pool_run() returns when every worker has finished its share. */
#ifndef EF_BASE_THREADPOOL_H
#define EF_BASE_THREADPOOL_H

#include <stdint.h>

#include "base/error.h"

typedef struct ef_pool ef_pool;

/* Each worker gets its index ith in [0, nth). */
typedef void (*ef_pool_fn)(void *ctx, int32_t ith, int32_t nth);

ef_status ef_pool_create(int32_t n_threads, ef_pool **out);
void ef_pool_free(ef_pool *pool);
int32_t ef_pool_size(const ef_pool *pool);

/* Runs fn on every worker (pool may be NULL: runs fn(ctx, 0, 1) inline). */
void ef_pool_run(ef_pool *pool, ef_pool_fn fn, void *ctx);

/* The contiguous share [*begin, *end) of n items for worker ith of nth. */
static inline void ef_split_range(int64_t n, int32_t ith, int32_t nth, int64_t *begin, int64_t *end) {
    int64_t per = n / nth, rem = n % nth;
    *begin = ith * per + (ith < rem ? ith : rem);
    *end = *begin + per + (ith < rem ? 1 : 0);
}

#endif
