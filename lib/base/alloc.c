#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

static void *libc_malloc(void *user, size_t size) { (void)user; return malloc(size); }
static void *libc_realloc(void *user, void *p, size_t size) { (void)user; return realloc(p, size); }
static void libc_free(void *user, void *p) { (void)user; free(p); }

static ef_malloc_fn g_malloc = libc_malloc;
static ef_realloc_fn g_realloc = libc_realloc;
static ef_free_fn g_free = libc_free;
static void *g_user;

ef_status ef_set_allocator(ef_malloc_fn m, ef_realloc_fn r, ef_free_fn f, void *user) {
    if (!m && !r && !f) {
        g_malloc = libc_malloc;
        g_realloc = libc_realloc;
        g_free = libc_free;
        g_user = NULL;
        return EF_OK;
    }
    if (!m || !r || !f)
        return ef_err(EF_ERR_INVALID_ARG, "ef_set_allocator: give all three functions or none");
    g_malloc = m;
    g_realloc = r;
    g_free = f;
    g_user = user;
    return EF_OK;
}

void *ef_malloc(size_t size) { return g_malloc(g_user, size ? size : 1); }

void *ef_calloc(size_t count, size_t size) {
    uint64_t total;
    if (!ef_mul_ok(count, size, &total) || total > SIZE_MAX) return NULL;
    void *p = ef_malloc((size_t)total);
    if (p) memset(p, 0, (size_t)total);
    return p;
}

void *ef_realloc(void *ptr, size_t size) { return g_realloc(g_user, ptr, size ? size : 1); }

void ef_free(void *ptr) {
    if (ptr) g_free(g_user, ptr);
}

char *ef_strndup(const char *s, size_t n) {
    char *d = ef_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *ef_strdup(const char *s) { return ef_strndup(s, strlen(s)); }

/* Aligned blocks keep, just before the returned pointer, the raw pointer and
 * the requested size (the size lets accounts release exactly what they took). */
typedef struct { void *raw; size_t size; } aligned_hdr;
#define EF_ALIGN 64

void *ef_alloc_aligned(size_t size) {
    if (size > SIZE_MAX - EF_ALIGN - sizeof(aligned_hdr)) return NULL;
    unsigned char *raw = ef_malloc(size + EF_ALIGN + sizeof(aligned_hdr));
    if (!raw) return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(aligned_hdr));
    uintptr_t aligned = (start + EF_ALIGN - 1) & ~(uintptr_t)(EF_ALIGN - 1);
    aligned_hdr *h = (aligned_hdr *)aligned - 1;
    h->raw = raw;
    h->size = size;
    memset((void *)aligned, 0, size);
    return (void *)aligned;
}

void ef_free_aligned(void *ptr) {
    if (!ptr) return;
    aligned_hdr *h = (aligned_hdr *)ptr - 1;
    ef_free(h->raw);
}

void *ef_acct_alloc(ef_mem_account *acct, size_t size, const char *what, ef_status *status) {
    if (acct->budget && acct->used + size > acct->budget) {
        *status = ef_err(EF_ERR_BUDGET,
                         "memory budget exceeded allocating %s: needs %llu bytes in all "
                         "(%llu held + %llu more), budget is %llu bytes",
                         what, (unsigned long long)(acct->used + size),
                         (unsigned long long)acct->used, (unsigned long long)size,
                         (unsigned long long)acct->budget);
        return NULL;
    }
    void *p = ef_alloc_aligned(size);
    if (!p) {
        *status = ef_err(EF_ERR_NO_MEMORY, "out of memory allocating %s (%llu bytes)", what,
                         (unsigned long long)size);
        return NULL;
    }
    acct->used += size;
    if (acct->used > acct->peak) acct->peak = acct->used;
    return p;
}

void ef_acct_free(ef_mem_account *acct, void *ptr) {
    if (!ptr) return;
    aligned_hdr *h = (aligned_hdr *)ptr - 1;
    acct->used -= h->size;
    ef_free_aligned(ptr);
}
