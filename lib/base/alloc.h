/* The one internal allocator. Every allocation of the library goes through
 * it, so the host can replace it (ef_set_allocator) and tests can fail the
 * N-th allocation. Memory charged to a session also goes through an
 * ef_mem_account, which enforces the session's budget and tracks its peak. */
#ifndef EF_BASE_ALLOC_H
#define EF_BASE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

void *ef_malloc(size_t size);
void *ef_calloc(size_t count, size_t size); /* zeroed; NULL on count*size overflow */
void *ef_realloc(void *ptr, size_t size);
void ef_free(void *ptr);
char *ef_strdup(const char *s);
char *ef_strndup(const char *s, size_t n);

/* 64-byte aligned, zeroed blocks for kernels; free with ef_free_aligned. */
void *ef_alloc_aligned(size_t size);
void ef_free_aligned(void *ptr);

/* Bytes charged to one owner (a session), with an optional cap. */
typedef struct ef_mem_account {
    uint64_t used;
    uint64_t peak;
    uint64_t budget; /* 0 = unlimited */
} ef_mem_account;

/* Aligned, zeroed allocation charged to `acct`. On failure returns NULL and
 * sets *status (EF_ERR_BUDGET with the needed/limit figures, or
 * EF_ERR_NO_MEMORY) and the thread-local message naming `what`. */
void *ef_acct_alloc(ef_mem_account *acct, size_t size, const char *what, ef_status *status);
void ef_acct_free(ef_mem_account *acct, void *ptr);

/* Checked arithmetic for sizes read from untrusted files: return 0 on overflow. */
static inline int ef_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int ef_add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return 0;
    *out = a + b;
    return 1;
}

#endif
