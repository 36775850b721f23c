/* Private to lib/format: the parsed form of a GGUF image that the reader,
 * the typed getters, the text renderer and the writer's copy_kv share, plus
 * the little-endian decoding and value-size rules all of them use. */
#ifndef EF_FORMAT_GGUF_INTERNAL_H
#define EF_FORMAT_GGUF_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "base/platform.h"
#include "format/gguf.h"

/* Arrays may hold arrays, but no deeper than this (1 = flat arrays only). */
#define EF_GGUF_MAX_ARRAY_DEPTH 2u

/* One metadata entry; every pointer lies inside the validated image. */
typedef struct gguf_kv {
    char *key;               /* NUL-terminated copy */
    uint32_t type;           /* EF_GGUF_* */
    const uint8_t *raw;      /* the value's encoding (after the type tag) */
    uint64_t raw_size;       /* its size in bytes */
    /* STRING: str/str_len. ARRAY: elem_type, n_items, items (the first item's
     * encoding); string arrays also get str_offsets[n_items], each the offset
     * of an item's u64 length field from `items`. */
    const char *str;
    uint64_t str_len;
    uint32_t elem_type;
    uint64_t n_items;
    const uint8_t *items;
    uint64_t *str_offsets;
} gguf_kv;

struct ef_gguf {
    ef_file_map map;         /* owned when opened from a path (map.data != NULL) */
    const uint8_t *image;    /* [size] the whole file */
    uint64_t size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_start;     /* offset of the tensor data section */
    int64_t n_kv;
    gguf_kv *kv;             /* [n_kv] in file order */
    gguf_kv **kv_by_key;     /* [n_kv] entries sorted by key, for lookups */
    int64_t n_tensors;
    ef_gguf_tensor *tensors; /* [n_tensors] in file order */
    ef_gguf_tensor **tensor_by_name; /* [n_tensors] sorted by name */
};

static inline uint16_t gguf_rd_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t gguf_rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t gguf_rd_u64(const uint8_t *p) {
    return (uint64_t)gguf_rd_u32(p) | (uint64_t)gguf_rd_u32(p + 4) << 32;
}
static inline float gguf_rd_f32(const uint8_t *p) {
    uint32_t u = gguf_rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline double gguf_rd_f64(const uint8_t *p) {
    uint64_t u = gguf_rd_u64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Bytes of one scalar of `type`; 0 for STRING, ARRAY and unknown types. */
static inline uint64_t gguf_scalar_size(uint32_t type) {
    switch (type) {
    case EF_GGUF_U8: case EF_GGUF_I8: case EF_GGUF_BOOL: return 1;
    case EF_GGUF_U16: case EF_GGUF_I16: return 2;
    case EF_GGUF_U32: case EF_GGUF_I32: case EF_GGUF_F32: return 4;
    case EF_GGUF_U64: case EF_GGUF_I64: case EF_GGUF_F64: return 8;
    default: return 0;
    }
}

static inline int gguf_type_is_int(uint32_t type) {
    return type <= EF_GGUF_I32 || type == EF_GGUF_U64 || type == EF_GGUF_I64;
}

/* "u32", "string", ... for messages; "unknown" otherwise. */
const char *ef_gguf_type_name(uint32_t type);

/* The entry for `key`, or NULL. */
const gguf_kv *ef_gguf_kv_lookup(const ef_gguf *g, const char *key);

#endif
