/* A test allocator for ef_set_allocator() that fails the N-th allocation:
 * set g_countdown to the number of allocations that may still succeed
 * (< 0: never fail), run the scenario, read g_failures. The counters are
 * atomic so worker threads may allocate too.
 *
 *   g_countdown = n; g_failures = 0;
 *   ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL);
 *   ... the scenario ...
 *   ef_set_allocator(NULL, NULL, NULL, NULL);
 */
#ifndef EF_TESTS_FAIL_ALLOC_H
#define EF_TESTS_FAIL_ALLOC_H

#include <stdatomic.h>
#include <stdlib.h>

static _Atomic long g_countdown = -1; /* allocations left before the failing one */
static _Atomic long g_failures;       /* allocations refused so far */

/* 1 if this allocation must fail (and counts it), else 0 (and counts down). */
static inline int fail_alloc_now(void) {
    long left = atomic_load(&g_countdown);
    while (left > 0 && !atomic_compare_exchange_weak(&g_countdown, &left, left - 1)) {
    }
    if (left == 0) {
        atomic_fetch_add(&g_failures, 1);
        return 1;
    }
    return 0;
}

static inline void *failing_malloc(void *user, size_t size) {
    (void)user;
    return fail_alloc_now() ? NULL : malloc(size);
}

static inline void *failing_realloc(void *user, void *p, size_t size) {
    (void)user;
    return fail_alloc_now() ? NULL : realloc(p, size);
}

static inline void plain_free(void *user, void *p) {
    (void)user;
    free(p);
}

#endif
