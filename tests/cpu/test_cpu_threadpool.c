/* The thread pool: every worker runs every job exactly once with its own
 * index, ef_pool_run returns only after all of them, jobs after long idle
 * periods (workers asleep) still run, and the cost of one ef_pool_run with
 * an empty job is measured and printed (not asserted: timing is not a test). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "base/threadpool.h"

enum { MAX_T = 4, ROUNDS = 2000, TIMED_ROUNDS = 20000 };

typedef struct {
    atomic_int calls[MAX_T]; /* [worker]: jobs run */
    atomic_int bad;          /* wrong nth or ith seen */
    int32_t nth;
    int64_t sums[MAX_T];     /* [worker]: plain writes, read after ef_pool_run */
} count_job;

static void count_worker(void *ctx, int32_t ith, int32_t nth) {
    count_job *j = ctx;
    if (nth != j->nth || ith < 0 || ith >= nth) atomic_fetch_add(&j->bad, 1);
    else {
        atomic_fetch_add(&j->calls[ith], 1);
        j->sums[ith] += ith + 1;
    }
}

static void noop_worker(void *ctx, int32_t ith, int32_t nth) { (void)ctx, (void)ith, (void)nth; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_every_worker_every_job(void **state) {
    (void)state;
    for (int32_t n = 1; n <= MAX_T; n++) {
        ef_pool *pool = NULL;
        assert_int_equal(ef_pool_create(n, &pool), EF_OK);
        assert_int_equal(ef_pool_size(pool), n);
        count_job job = {.nth = n};
        for (int r = 0; r < ROUNDS; r++) {
            ef_pool_run(pool, count_worker, &job);
            /* all workers finished before ef_pool_run returned: their plain writes are visible */
            for (int32_t i = 0; i < n; i++) assert_int_equal(job.sums[i], (int64_t)(r + 1) * (i + 1));
        }
        for (int32_t i = 0; i < n; i++) assert_int_equal(atomic_load(&job.calls[i]), ROUNDS);
        assert_int_equal(atomic_load(&job.bad), 0);
        ef_pool_free(pool);
    }
}

/* Workers that went to sleep (idle past the spin) wake for the next job. */
static void test_wakes_after_idle(void **state) {
    (void)state;
    ef_pool *pool = NULL;
    assert_int_equal(ef_pool_create(3, &pool), EF_OK);
    count_job job = {.nth = 3};
    for (int r = 0; r < 5; r++) {
        struct timespec pause = {0, 20 * 1000 * 1000}; /* 20 ms: far past the spin */
        nanosleep(&pause, NULL);
        ef_pool_run(pool, count_worker, &job);
    }
    for (int32_t i = 0; i < 3; i++) assert_int_equal(atomic_load(&job.calls[i]), 5);
    ef_pool_free(pool);
    ef_pool_free(NULL);
    ef_pool_run(NULL, count_worker, &(count_job){.nth = 1}); /* NULL pool: inline */
}

static void test_measure_overhead(void **state) {
    (void)state;
    for (int32_t n = 1; n <= 2; n++) {
        ef_pool *pool = NULL;
        assert_int_equal(ef_pool_create(n, &pool), EF_OK);
        for (int r = 0; r < 1000; r++) ef_pool_run(pool, noop_worker, NULL); /* warm-up */
        /* at most TIMED_ROUNDS runs or 0.5 s: a loaded machine makes each run slow */
        const double t0 = now_s();
        int runs = 0;
        while (runs < TIMED_ROUNDS && (runs % 256 || now_s() - t0 < 0.5)) {
            ef_pool_run(pool, noop_worker, NULL);
            runs++;
        }
        const double dt = now_s() - t0;
        printf("ef_pool_run overhead, %d thread(s): %.2f us per run (empty job, %d runs)\n", (int)n,
               dt / runs * 1e6, runs);
        ef_pool_free(pool);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_worker_every_job),
        cmocka_unit_test(test_wakes_after_idle),
        cmocka_unit_test(test_measure_overhead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
