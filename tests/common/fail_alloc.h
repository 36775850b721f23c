/* A test allocator for ef_set_allocator() that fails the N-th allocation:
 * set g_countdown to the number of allocations that may still succeed
 * (< 0: never fail), run the scenario, read g_failures. Once the failing
 * allocation is reached every later one fails too (g_failures counts them).
 * The counters are atomic so worker threads may allocate and free too.
 *
 *   g_countdown = n; g_failures = 0;
 *   ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL);
 *   ... the scenario ...
 *   ef_set_allocator(NULL, NULL, NULL, NULL);
 *
 * The counting_* trio does the same and also tracks g_live, the blocks
 * allocated through it and not yet freed (0 after a scenario that freed
 * everything: a leak check that works without LeakSanitizer), g_live_bytes,
 * their usable bytes (glibc's malloc_usable_size; stays 0 elsewhere, so
 * checks use g_live and messages add the bytes), and g_largest, the largest
 * size asked for. fail_alloc_arm() resets them all.
 */
#ifndef EF_TESTS_FAIL_ALLOC_H
#define EF_TESTS_FAIL_ALLOC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_usable_size */
#endif

static _Atomic long g_countdown = -1; /* allocations left before the failing one */
static _Atomic long g_failures;       /* allocations refused so far */
static _Atomic long g_live;           /* counting_*: blocks allocated and not freed */
static _Atomic long g_live_bytes;     /* counting_*: their usable bytes (glibc), else 0 */
static _Atomic size_t g_largest;      /* counting_*: largest size requested */

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

/* Arms the allocator: `countdown` allocations succeed, then all fail
 * (< 0: none fails); the failure, live-block and largest-size counters
 * restart from zero. Install counting_* with ef_set_allocator() after. */
static inline void fail_alloc_arm(long countdown) {
    atomic_store(&g_countdown, countdown);
    atomic_store(&g_failures, 0);
    atomic_store(&g_live, 0);
    atomic_store(&g_live_bytes, 0);
    atomic_store(&g_largest, 0);
}

/* The bytes a live block holds, as the C library sized it. */
static inline long fail_alloc_block_bytes(void *p) {
#ifdef __GLIBC__
    return p ? (long)malloc_usable_size(p) : 0;
#else
    (void)p;
    return 0;
#endif
}

static inline void fail_alloc_note_size(size_t size) {
    size_t seen = atomic_load(&g_largest);
    while (size > seen && !atomic_compare_exchange_weak(&g_largest, &seen, size)) {
    }
}

static inline void *counting_malloc(void *user, size_t size) {
    (void)user;
    if (fail_alloc_now()) return NULL;
    fail_alloc_note_size(size);
    void *p = malloc(size);
    if (p) {
        atomic_fetch_add(&g_live, 1);
        atomic_fetch_add(&g_live_bytes, fail_alloc_block_bytes(p));
    }
    return p;
}

/* A realloc of NULL is a new block; moving a block keeps the count. */
static inline void *counting_realloc(void *user, void *p, size_t size) {
    (void)user;
    if (fail_alloc_now()) return NULL;
    fail_alloc_note_size(size);
    const long before = fail_alloc_block_bytes(p); /* p is gone once realloc moved it */
    void *q = realloc(p, size);
    if (q) {
        if (!p) atomic_fetch_add(&g_live, 1);
        atomic_fetch_add(&g_live_bytes, fail_alloc_block_bytes(q) - before);
    }
    return q;
}

static inline void counting_free(void *user, void *p) {
    (void)user;
    if (p) {
        atomic_fetch_sub(&g_live, 1);
        atomic_fetch_sub(&g_live_bytes, fail_alloc_block_bytes(p));
    }
    free(p);
}

#endif
