/* Helpers for the GGUF tests: a byte builder that writes GGUF fields by
 * hand (so tests can build both good and deliberately broken images without
 * going through the library's writer), and small file utilities. */
#ifndef EF_TESTS_GGUF_TEST_UTIL_H
#define EF_TESTS_GGUF_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static inline void b_raw(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) abort(); /* test helper: out of memory is fatal */
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static inline void b_u8(bytes *b, uint8_t v) { b_raw(b, &v, 1); }
static inline void b_u16(bytes *b, uint16_t v) {
    uint8_t t[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    b_raw(b, t, 2);
}
static inline void b_u32(bytes *b, uint32_t v) {
    uint8_t t[4];
    for (int i = 0; i < 4; i++) t[i] = (uint8_t)(v >> (8 * i));
    b_raw(b, t, 4);
}
static inline void b_u64(bytes *b, uint64_t v) {
    uint8_t t[8];
    for (int i = 0; i < 8; i++) t[i] = (uint8_t)(v >> (8 * i));
    b_raw(b, t, 8);
}
static inline void b_f32(bytes *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    b_u32(b, u);
}
static inline void b_f64(bytes *b, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    b_u64(b, u);
}
static inline void b_str(bytes *b, const char *s) {
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static inline void b_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b_raw(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
/* key + type tag; the caller appends the value */
static inline void b_key(bytes *b, const char *key, uint32_t type) {
    b_str(b, key);
    b_u32(b, type);
}
static inline void b_tensor_info(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                                 uint32_t type, uint64_t offset) {
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}
static inline void b_pad(bytes *b, size_t align) {
    while (b->n % align) b_u8(b, 0);
}
static inline void b_fill(bytes *b, size_t n, uint8_t seed) {
    for (size_t i = 0; i < n; i++) b_u8(b, (uint8_t)(seed + i * 7));
}
static inline void b_free(bytes *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Reads a whole file into a malloc'ed buffer; NULL on failure. */
static inline uint8_t *read_whole(const char *path, size_t *size) {
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) {
        fclose(f);
        return NULL;
    }
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

static inline int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

#endif
