/* A fixed pool of sessions on one model, a bounded wait queue in front of
 * it, and a watchdog that cancels generations running past their deadline. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

double server_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The condition variable waits on CLOCK_MONOTONIC, like server_now(). */
static struct timespec abs_time(double t) {
    struct timespec ts;
    double whole = floor(t);
    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((t - whole) * 1e9);
    return ts;
}

/* Every 10 ms: cancel the busy slots whose deadline passed. The session's
 * cancel flag is safe to set from this thread while another runs it. The
 * cancel is repeated on every tick until the slot is released: one that
 * lands before the request's generation has started (a deadline passing
 * while the slot is reset) is cleared when the generation starts. */
static void *watchdog_main(void *arg) {
    slot_pool *pool = arg;
    pthread_mutex_lock(&pool->mu);
    while (!pool->stopping) {
        double now = server_now();
        for (int32_t i = 0; i < pool->n_slots; i++) {
            server_slot *s = &pool->slots[i];
            if (s->busy && s->deadline > 0 && now > s->deadline) {
                atomic_store(&s->timed_out, 1);
                ef_session_cancel(s->session);
            } else if (s->busy && pool->draining) {
                ef_session_cancel(s->session);
            }
        }
        struct timespec until = abs_time(now + 0.01);
        pthread_cond_timedwait(&pool->freed, &pool->mu, &until);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

ef_status slot_pool_init(slot_pool *pool, ef_model *model, const server_config *cfg) {
    memset(pool, 0, sizeof *pool);
    pool->n_slots = cfg->n_slots;
    pool->queue_max = cfg->queue_max;
    pool->slots = calloc((size_t)cfg->n_slots, sizeof *pool->slots);
    if (!pool->slots) return EF_ERR_NO_MEMORY;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->freed, &ca);
    pthread_condattr_destroy(&ca);

    ef_session_params *sp = NULL;
    ef_status st = ef_session_params_create(&sp);
    if (st == EF_OK) st = ef_session_params_set_n_ctx(sp, cfg->n_ctx);
    if (st == EF_OK) st = ef_session_params_set_threads(sp, cfg->n_threads);
    for (int32_t i = 0; st == EF_OK && i < cfg->n_slots; i++) {
        st = ef_session_create(model, sp, &pool->slots[i].session);
    }
    ef_session_params_free(sp);
    if (st == EF_OK && pthread_create(&pool->watchdog, NULL, watchdog_main, pool) != 0) st = EF_ERR_INTERNAL;
    if (st != EF_OK) {
        slot_pool_destroy(pool);
        return st;
    }
    pool->watchdog_running = 1;
    return EF_OK;
}

void slot_pool_destroy(slot_pool *pool) {
    if (!pool->slots) return;
    if (pool->watchdog_running) {
        pthread_mutex_lock(&pool->mu);
        pool->stopping = 1;
        pthread_cond_broadcast(&pool->freed);
        pthread_mutex_unlock(&pool->mu);
        pthread_join(pool->watchdog, NULL);
        pool->watchdog_running = 0;
    }
    for (int32_t i = 0; i < pool->n_slots; i++) ef_session_free(pool->slots[i].session);
    free(pool->slots);
    pool->slots = NULL;
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->mu);
}

static server_slot *find_free(slot_pool *pool) {
    for (int32_t i = 0; i < pool->n_slots; i++) {
        if (!pool->slots[i].busy) return &pool->slots[i];
    }
    return NULL;
}

slot_result slot_pool_acquire(slot_pool *pool, double deadline, double run_deadline, server_slot **out) {
    pthread_mutex_lock(&pool->mu);
    if (pool->draining) {
        pthread_mutex_unlock(&pool->mu);
        return SLOT_STOPPING;
    }
    server_slot *s = find_free(pool);
    if (!s) {
        if (pool->n_waiting >= pool->queue_max) {
            pthread_mutex_unlock(&pool->mu);
            return SLOT_QUEUE_FULL;
        }
        pool->n_waiting++;
        struct timespec until = abs_time(deadline);
        while (!(s = find_free(pool)) && !pool->draining) {
            int rc = deadline > 0 ? pthread_cond_timedwait(&pool->freed, &pool->mu, &until)
                                  : pthread_cond_wait(&pool->freed, &pool->mu);
            if (pool->draining) break;
            if (rc == ETIMEDOUT && !(s = find_free(pool))) {
                pool->n_waiting--;
                pthread_mutex_unlock(&pool->mu);
                return SLOT_WAIT_TIMEOUT;
            }
            if (s) break;
        }
        pool->n_waiting--;
        if (pool->draining) { /* woken by slot_pool_stop: this request is refused */
            pthread_mutex_unlock(&pool->mu);
            return SLOT_STOPPING;
        }
    }
    s->busy = 1;
    s->deadline = run_deadline;
    atomic_store(&s->timed_out, 0);
    pool->n_busy++;
    pthread_mutex_unlock(&pool->mu);
    /* No state leaks from the previous request. */
    ef_session_reset(s->session);
    *out = s;
    return SLOT_OK;
}

void slot_pool_release(slot_pool *pool, server_slot *slot) {
    pthread_mutex_lock(&pool->mu);
    slot->busy = 0;
    slot->deadline = 0;
    pool->n_busy--;
    /* Broadcast: the watchdog shares the condition with the waiters. */
    pthread_cond_broadcast(&pool->freed);
    pthread_mutex_unlock(&pool->mu);
}

void slot_pool_stop(slot_pool *pool) {
    pthread_mutex_lock(&pool->mu);
    pool->draining = 1;
    for (int32_t i = 0; i < pool->n_slots; i++) {
        if (pool->slots[i].busy) ef_session_cancel(pool->slots[i].session);
    }
    pthread_cond_broadcast(&pool->freed); /* wakes the queue, which then refuses */
    pthread_mutex_unlock(&pool->mu);
}

int slot_pool_wait_idle(slot_pool *pool, double seconds) {
    const double deadline = server_now() + seconds;
    pthread_mutex_lock(&pool->mu);
    while ((pool->n_busy > 0 || pool->n_waiting > 0) && server_now() < deadline) {
        struct timespec until = abs_time(server_now() + 0.01);
        pthread_cond_timedwait(&pool->freed, &pool->mu, &until);
    }
    const int idle = pool->n_busy == 0 && pool->n_waiting == 0;
    pthread_mutex_unlock(&pool->mu);
    return idle;
}

void slot_pool_counts(slot_pool *pool, int32_t *busy, int32_t *waiting) {
    pthread_mutex_lock(&pool->mu);
    *busy = pool->n_busy;
    *waiting = pool->n_waiting;
    pthread_mutex_unlock(&pool->mu);
}
