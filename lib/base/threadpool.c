/* The thread pool (threadpool.h): cheap hand-off for many small jobs.
 *
 * A forward pass runs several ef_pool_run() per layer, each lasting tens of
 * microseconds in decode, so a mutex + condition-variable round trip per job
 * (~10-50 µs to wake a sleeping thread) would cost as much as the work.
 * Instead the job is published with an atomic generation counter and the
 * completion counted with an atomic `pending`; workers and the caller spin
 * on them for a short while (pause hints, then yields; see EF_POOL_SPIN) and
 * only then block on a condition variable, so an idle pool costs no CPU.
 *
 * Sleeping without lost wake-ups: a waiter announces itself (sleepers /
 * caller_sleeping, sequentially consistent) under the mutex before
 * re-checking its condition; a publisher changes the condition (also
 * sequentially consistent) before reading the announcement, and signals
 * under the mutex. One of the two always sees the other's write. */
#include "base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "base/alloc.h"

/* Spin-wait steps before blocking: EF_POOL_SPIN_PAUSE pause hints (~25 ns
 * each on Zen 3/4), then sched_yield() calls (~0.3 µs when no one else
 * wants the core); some 30-70 µs in all on an idle machine, longer than
 * the gaps between the jobs of one forward pass. */
#define EF_POOL_SPIN_PAUSE 1024
#define EF_POOL_SPIN (EF_POOL_SPIN_PAUSE + 128)

struct ef_pool {
    int32_t n;                   /* workers, the caller's thread included */
    int32_t n_started;           /* OS threads running (n - 1 once created) */
    pthread_t *threads;          /* [n - 1] */
    ef_pool_fn fn;               /* the current job; written before generation moves */
    void *ctx;
    atomic_uint_fast64_t generation; /* bumped once per job */
    atomic_int pending;          /* workers (not the caller) still on the current job */
    atomic_int stop;
    atomic_int sleepers;         /* workers blocked, or about to block, on start_cv */
    atomic_int caller_sleeping;  /* the caller blocked, or about to block, on done_cv */
    pthread_mutex_t mu;
    pthread_cond_t start_cv;
    pthread_cond_t done_cv;
};

typedef struct { ef_pool *pool; int32_t ith; } worker_arg;

/* One step of a spin-wait: a pause hint at first; later a yield, so that on
 * a busy machine the thread being waited for gets this core. */
static inline void spin_step(int i) {
    if (i >= EF_POOL_SPIN_PAUSE) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Waits until the generation differs from `seen` or the pool stops. */
static uint64_t wait_for_job(ef_pool *pool, uint64_t seen) {
    for (int i = 0; i < EF_POOL_SPIN; i++) {
        uint64_t g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&pool->stop, memory_order_relaxed)) return g;
        spin_step(i);
    }
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->sleepers, 1);
    while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
        pthread_cond_wait(&pool->start_cv, &pool->mu);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mu);
    return atomic_load(&pool->generation);
}

static void *worker_main(void *p) {
    worker_arg *arg = p;
    ef_pool *pool = arg->pool;
    const int32_t ith = arg->ith;
    ef_free(arg);
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_job(pool, seen);
        if (atomic_load(&pool->stop)) return NULL;
        pool->fn(pool->ctx, ith, pool->n);
        if (atomic_fetch_sub(&pool->pending, 1) == 1 && atomic_load(&pool->caller_sleeping)) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->done_cv);
            pthread_mutex_unlock(&pool->mu);
        }
    }
}

/* Caller side: waits until every worker has finished the current job. */
static void wait_for_workers(ef_pool *pool) {
    for (int i = 0; i < EF_POOL_SPIN; i++) {
        if (atomic_load_explicit(&pool->pending, memory_order_acquire) == 0) return;
        spin_step(i);
    }
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->caller_sleeping, 1);
    while (atomic_load(&pool->pending) != 0) pthread_cond_wait(&pool->done_cv, &pool->mu);
    atomic_store(&pool->caller_sleeping, 0);
    pthread_mutex_unlock(&pool->mu);
}

ef_status ef_pool_create(int32_t n_threads, ef_pool **out) {
    if (n_threads < 1) n_threads = 1;
    ef_pool *pool = ef_calloc(1, sizeof *pool);
    if (!pool) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the thread pool");
    pool->n = n_threads;
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->caller_sleeping, 0);
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
                ef_pool_free(pool); /* joins the ones already started */
                return ef_err(EF_ERR_NO_MEMORY, "cannot start worker thread %d", (int)i);
            }
            pool->n_started = i;
        }
    }
    *out = pool;
    return EF_OK;
}

void ef_pool_free(ef_pool *pool) {
    if (!pool) return;
    atomic_store(&pool->stop, 1);
    pthread_mutex_lock(&pool->mu);
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->mu);
    for (int32_t i = 0; i < pool->n_started; i++) pthread_join(pool->threads[i], NULL);
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
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->generation, 1); /* publishes fn, ctx, pending */
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->start_cv);
        pthread_mutex_unlock(&pool->mu);
    }
    fn(ctx, 0, pool->n);
    wait_for_workers(pool);
}
