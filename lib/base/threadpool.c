#include "base/threadpool.h"

#include <pthread.h>

#include "base/alloc.h"

struct ef_pool {
    int32_t n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
    uint64_t generation; /* bumped for every job */
    int32_t pending;     /* workers still running the current job */
    int stop;
    ef_pool_fn fn;
    void *ctx;
};

typedef struct { ef_pool *pool; int32_t ith; } worker_arg;

static void *worker_main(void *p) {
    worker_arg *arg = p;
    ef_pool *pool = arg->pool;
    int32_t ith = arg->ith;
    ef_free(arg);
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (!pool->stop && pool->generation == seen) pthread_cond_wait(&pool->start_cv, &pool->mu);
        if (pool->stop) {
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        seen = pool->generation;
        ef_pool_fn fn = pool->fn;
        void *ctx = pool->ctx;
        pthread_mutex_unlock(&pool->mu);

        fn(ctx, ith, pool->n);

        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done_cv);
        pthread_mutex_unlock(&pool->mu);
    }
}

ef_status ef_pool_create(int32_t n_threads, ef_pool **out) {
    if (n_threads < 1) n_threads = 1;
    ef_pool *pool = ef_calloc(1, sizeof *pool);
    if (!pool) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the thread pool");
    pool->n = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->start_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    if (n_threads > 1) {
        pool->threads = ef_calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!pool->threads) {
            ef_pool_free(pool);
            return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the thread pool");
        }
        for (int32_t i = 1; i < n_threads; i++) {
            worker_arg *arg = ef_malloc(sizeof *arg);
            if (arg) {
                arg->pool = pool;
                arg->ith = i;
            }
            if (!arg || pthread_create(&pool->threads[i - 1], NULL, worker_main, arg) != 0) {
                ef_free(arg);
                pool->n = i; /* only the started ones are joined */
                ef_pool_free(pool);
                return ef_err(EF_ERR_NO_MEMORY, "cannot start worker thread %d", (int)i);
            }
        }
    }
    *out = pool;
    return EF_OK;
}

void ef_pool_free(ef_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->mu);
    if (pool->threads)
        for (int32_t i = 1; i < pool->n; i++) pthread_join(pool->threads[i - 1], NULL);
    ef_free(pool->threads);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->start_cv);
    pthread_cond_destroy(&pool->done_cv);
    ef_free(pool);
}

int32_t ef_pool_size(const ef_pool *pool) { return pool ? pool->n : 1; }

void ef_pool_run(ef_pool *pool, ef_pool_fn fn, void *ctx) {
    if (!pool || pool->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->pending = pool->n - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->mu);

    fn(ctx, 0, pool->n);

    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done_cv, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}
