/* GGUF v3 reader and writer (see shared/reference/specs.md §2).
 *
 * The reader takes a whole file image (mapped or read) and validates every
 * count, length, offset, alignment and shape against the image size and sane
 * limits before anything else looks at it. After ef_gguf_open succeeds, all
 * pointers it hands out are in bounds. Strings in the file are not
 * NUL-terminated; keys and tensor names are copied out and terminated. */
#ifndef EF_FORMAT_GGUF_H
#define EF_FORMAT_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Metadata value types, numbered as in the file. */
enum {
    EF_GGUF_U8 = 0, EF_GGUF_I8 = 1, EF_GGUF_U16 = 2, EF_GGUF_I16 = 3,
    EF_GGUF_U32 = 4, EF_GGUF_I32 = 5, EF_GGUF_F32 = 6, EF_GGUF_BOOL = 7,
    EF_GGUF_STRING = 8, EF_GGUF_ARRAY = 9, EF_GGUF_U64 = 10, EF_GGUF_I64 = 11,
    EF_GGUF_F64 = 12, EF_GGUF_TYPE_COUNT = 13
};

/* Limits a well-formed file stays within; larger values are EF_ERR_FORMAT. */
#define EF_GGUF_MAX_KEY_LEN     65535u
#define EF_GGUF_MAX_NAME_LEN    255u      /* tensor names (ggml itself allows 63) */
#define EF_GGUF_MAX_DIMS        4u
#define EF_GGUF_MAX_TENSORS     (1u << 20)
#define EF_GGUF_MAX_KV          (1u << 20)
#define EF_GGUF_DEFAULT_ALIGNMENT 32u

typedef struct ef_gguf_tensor {
    char *name;          /* NUL-terminated copy */
    uint32_t type;       /* EF_TYPE_* (quant/types.h) */
    uint32_t n_dims;     /* 1..4 */
    int64_t ne[4];       /* ne[0] is contiguous; unused dims are 1 */
    uint64_t offset;     /* from the start of the data section */
    uint64_t nbytes;
    const void *data;    /* inside the file image */
} ef_gguf_tensor;

typedef struct ef_gguf ef_gguf;

/* Opens and validates a file. use_mmap: map it (1) or read it (0). */
ef_status ef_gguf_open(const char *path, int use_mmap, ef_gguf **out);
/* Validates an image held by the caller (kept alive and unchanged until close). */
ef_status ef_gguf_open_memory(const void *data, uint64_t size, ef_gguf **out);
void ef_gguf_close(ef_gguf *g);

uint32_t ef_gguf_version(const ef_gguf *g);
uint32_t ef_gguf_alignment(const ef_gguf *g);
uint64_t ef_gguf_file_size(const ef_gguf *g);

/* ---- metadata ---- */
int64_t ef_gguf_n_kv(const ef_gguf *g);
const char *ef_gguf_key(const ef_gguf *g, int64_t i);      /* NUL-terminated */
uint32_t ef_gguf_kv_type(const ef_gguf *g, int64_t i);     /* EF_GGUF_* */
int64_t ef_gguf_find_key(const ef_gguf *g, const char *key); /* -1 if absent */

/* Typed getters by key. They return EF_ERR_NOT_FOUND when the key is absent
 * (message names the key) and EF_ERR_FORMAT when its type does not fit:
 * integer getters accept any integer type whose value fits the target,
 * ef_gguf_get_f32 accepts F32/F64, ef_gguf_get_bool accepts BOOL. */
ef_status ef_gguf_get_u32(const ef_gguf *g, const char *key, uint32_t *out);
ef_status ef_gguf_get_i32(const ef_gguf *g, const char *key, int32_t *out);
ef_status ef_gguf_get_u64(const ef_gguf *g, const char *key, uint64_t *out);
ef_status ef_gguf_get_f32(const ef_gguf *g, const char *key, float *out);
ef_status ef_gguf_get_bool(const ef_gguf *g, const char *key, int *out);
/* String value: pointer into the image (not NUL-terminated) and its length. */
ef_status ef_gguf_get_str(const ef_gguf *g, const char *key, const char **s, uint64_t *len);

/* Arrays: element type and count; numeric arrays expose their raw
 * little-endian data (possibly unaligned: read with memcpy); string arrays
 * are read item by item. */
ef_status ef_gguf_get_arr(const ef_gguf *g, const char *key, uint32_t *elem_type, uint64_t *n);
ef_status ef_gguf_get_arr_data(const ef_gguf *g, const char *key, const void **data);
ef_status ef_gguf_get_arr_str(const ef_gguf *g, const char *key, uint64_t i, const char **s,
                              uint64_t *len);

/* Renders metadata entry i as text (numbers in decimal, bools true/false,
 * strings as-is, arrays "[a, b, ...]" abbreviated after 8 items as
 * "[a, ..., (N items)]"). Two-call pattern; NUL-terminated; *needed counts
 * the NUL. */
ef_status ef_gguf_kv_to_string(const ef_gguf *g, int64_t i, char *buf, size_t cap, size_t *needed);

/* ---- tensors ---- */
int64_t ef_gguf_n_tensors(const ef_gguf *g);
const ef_gguf_tensor *ef_gguf_tensor_at(const ef_gguf *g, int64_t i);
const ef_gguf_tensor *ef_gguf_find_tensor(const ef_gguf *g, const char *name); /* NULL if absent */

/* ---- writer ----
 * Collects metadata and tensors, then writes a v3 file to a temporary name
 * beside `path` and renames it, so a failed write never leaves a partial
 * file. Tensor data is referenced, not copied: keep it alive until write. */
typedef struct ef_gguf_writer ef_gguf_writer;

ef_status ef_gguf_writer_create(ef_gguf_writer **out);
void ef_gguf_writer_free(ef_gguf_writer *w);
/* Setting an existing key replaces its value. */
ef_status ef_gguf_writer_set_u32(ef_gguf_writer *w, const char *key, uint32_t v);
ef_status ef_gguf_writer_set_i32(ef_gguf_writer *w, const char *key, int32_t v);
ef_status ef_gguf_writer_set_u64(ef_gguf_writer *w, const char *key, uint64_t v);
ef_status ef_gguf_writer_set_f32(ef_gguf_writer *w, const char *key, float v);
ef_status ef_gguf_writer_set_bool(ef_gguf_writer *w, const char *key, int v);
ef_status ef_gguf_writer_set_str(ef_gguf_writer *w, const char *key, const char *s);
/* Numeric array of n items of elem_type (EF_GGUF_*), data copied. */
ef_status ef_gguf_writer_set_arr(ef_gguf_writer *w, const char *key, uint32_t elem_type,
                                 const void *data, uint64_t n);
/* String array: strs[i] of lens[i] bytes (lens NULL: NUL-terminated), copied. */
ef_status ef_gguf_writer_set_arr_str(ef_gguf_writer *w, const char *key, const char *const *strs,
                                     const uint64_t *lens, uint64_t n);
/* Copies metadata entry i of a reader (any type, arrays included). */
ef_status ef_gguf_writer_copy_kv(ef_gguf_writer *w, const ef_gguf *g, int64_t i);
/* Removes a key if present. */
void ef_gguf_writer_remove(ef_gguf_writer *w, const char *key);
/* Adds a tensor; nbytes must equal the size its type and shape imply. */
ef_status ef_gguf_writer_add_tensor(ef_gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const int64_t *ne, const void *data,
                                    uint64_t nbytes);
/* Adds a tensor whose bytes are produced at write time by fill(user, name,
 * dst, nbytes), one tensor in memory at a time (converters, quantizers). A
 * fill that fails aborts the write with its status; no file is left. */
typedef ef_status (*ef_gguf_tensor_fill_fn)(void *user, const char *name, void *dst, uint64_t nbytes);
ef_status ef_gguf_writer_add_tensor_fill(ef_gguf_writer *w, const char *name, uint32_t type,
                                         uint32_t n_dims, const int64_t *ne, uint64_t nbytes,
                                         ef_gguf_tensor_fill_fn fill, void *user);
/* Writes the file (alignment from general.alignment if set, else 32). */
ef_status ef_gguf_writer_write(ef_gguf_writer *w, const char *path);

#endif
