/* GGUF v3 writer. Metadata values are kept already encoded (the bytes that
 * follow the type tag in the file), in insertion order; tensors are kept as
 * references to the caller's data. ef_gguf_writer_write lays the file out,
 * writes it to "<path>.tmp.<pid>" and renames it into place, so a failure
 * never leaves a partial file behind. */
#include "format/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/platform.h"

#include "base/alloc.h"
#include "format/gguf_internal.h"
#include "quant/types.h"

typedef unsigned long long ull;

typedef struct writer_kv {
    char *key;
    uint32_t type;     /* EF_GGUF_* */
    uint8_t *value;    /* [value_size] the encoded value */
    uint64_t value_size;
} writer_kv;

typedef struct writer_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    const void *data;  /* [nbytes] the caller's, not copied; NULL when fill is set */
    uint64_t nbytes;
    ef_gguf_tensor_fill_fn fill; /* produces the bytes at write time */
    void *fill_user;
} writer_tensor;

struct ef_gguf_writer {
    writer_kv *kv;     /* [n_kv] in insertion order */
    size_t n_kv, cap_kv;
    writer_tensor *tensors; /* [n_tensors] in insertion order */
    size_t n_tensors, cap_tensors;
};

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

ef_status ef_gguf_writer_create(ef_gguf_writer **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: out is NULL");
    *out = ef_calloc(1, sizeof **out);
    if (!*out) return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot allocate the writer");
    return EF_OK;
}

void ef_gguf_writer_free(ef_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        ef_free(w->kv[i].key);
        ef_free(w->kv[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++) ef_free(w->tensors[i].name);
    ef_free(w->kv);
    ef_free(w->tensors);
    ef_free(w);
}

static writer_kv *find_kv(ef_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return &w->kv[i];
    return NULL;
}

/* Stores an encoded value under `key`, taking ownership of `value` (freed on
 * failure). An existing key keeps its place and gets the new value. */
static ef_status set_encoded(ef_gguf_writer *w, const char *key, uint32_t type, uint8_t *value,
                             uint64_t size) {
    if (!w || !key) {
        ef_free(value);
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: NULL writer or key");
    }
    size_t klen = strlen(key);
    if (klen == 0 || klen > EF_GGUF_MAX_KEY_LEN) {
        ef_free(value);
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: key of length %zu is empty or longer than %u", klen,
                      EF_GGUF_MAX_KEY_LEN);
    }
    writer_kv *kv = find_kv(w, key);
    if (kv) {
        ef_free(kv->value);
        kv->type = type;
        kv->value = value;
        kv->value_size = size;
        return EF_OK;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        writer_kv *grown = ef_realloc(w->kv, cap * sizeof *grown);
        if (!grown) {
            ef_free(value);
            return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot grow the metadata list");
        }
        w->kv = grown;
        w->cap_kv = cap;
    }
    char *copy = ef_strdup(key);
    if (!copy) {
        ef_free(value);
        return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot copy key '%s'", key);
    }
    w->kv[w->n_kv++] = (writer_kv){copy, type, value, size};
    return EF_OK;
}

/* Copies `size` bytes into a fresh buffer and stores them. */
static ef_status set_bytes(ef_gguf_writer *w, const char *key, uint32_t type, const void *bytes, uint64_t size) {
    if (size > SIZE_MAX)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: value of key '%s' is too large", key ? key : "(null)");
    uint8_t *value = ef_malloc((size_t)size);
    if (!value) return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot allocate %llu bytes for key '%s'",
                              (ull)size, key ? key : "(null)");
    if (size) memcpy(value, bytes, (size_t)size);
    return set_encoded(w, key, type, value, size);
}

ef_status ef_gguf_writer_set_u32(ef_gguf_writer *w, const char *key, uint32_t v) {
    uint8_t b[4];
    put_u32(b, v);
    return set_bytes(w, key, EF_GGUF_U32, b, 4);
}

ef_status ef_gguf_writer_set_i32(ef_gguf_writer *w, const char *key, int32_t v) {
    uint8_t b[4];
    put_u32(b, (uint32_t)v);
    return set_bytes(w, key, EF_GGUF_I32, b, 4);
}

ef_status ef_gguf_writer_set_u64(ef_gguf_writer *w, const char *key, uint64_t v) {
    uint8_t b[8];
    put_u64(b, v);
    return set_bytes(w, key, EF_GGUF_U64, b, 8);
}

ef_status ef_gguf_writer_set_f32(ef_gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t b[4];
    put_u32(b, u);
    return set_bytes(w, key, EF_GGUF_F32, b, 4);
}

ef_status ef_gguf_writer_set_bool(ef_gguf_writer *w, const char *key, int v) {
    uint8_t b = v ? 1 : 0;
    return set_bytes(w, key, EF_GGUF_BOOL, &b, 1);
}

ef_status ef_gguf_writer_set_str(ef_gguf_writer *w, const char *key, const char *s) {
    if (!s) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: string for key '%s' is NULL", key ? key : "(null)");
    size_t len = strlen(s);
    uint8_t *value = ef_malloc(8 + len);
    if (!value) return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot allocate a string of %zu bytes", len);
    put_u64(value, len);
    memcpy(value + 8, s, len);
    return set_encoded(w, key, EF_GGUF_STRING, value, 8 + len);
}

ef_status ef_gguf_writer_set_arr(ef_gguf_writer *w, const char *key, uint32_t elem_type, const void *data,
                                 uint64_t n) {
    const char *k = key ? key : "(null)";
    uint64_t item = gguf_scalar_size(elem_type);
    if (!item)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: key '%s': element type %u is not a number type", k,
                      elem_type);
    uint64_t bytes, total;
    if (!ef_mul_ok(n, item, &bytes) || !ef_add_ok(bytes, 12, &total) || total > SIZE_MAX)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: key '%s': array of %llu items is too large", k, (ull)n);
    if (n && !data) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: key '%s': array data is NULL", k);
    uint8_t *value = ef_malloc((size_t)total);
    if (!value) return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot allocate %llu bytes for key '%s'",
                              (ull)total, k);
    put_u32(value, elem_type);
    put_u64(value + 4, n);
    if (bytes) memcpy(value + 12, data, (size_t)bytes); /* items are host order = little-endian */
    return set_encoded(w, key, EF_GGUF_ARRAY, value, total);
}

ef_status ef_gguf_writer_set_arr_str(ef_gguf_writer *w, const char *key, const char *const *strs,
                                     const uint64_t *lens, uint64_t n) {
    const char *k = key ? key : "(null)";
    if (n && !strs) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: key '%s': strings are NULL", k);
    uint64_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i]) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: key '%s': string %llu is NULL", k, (ull)i);
        uint64_t len = lens ? lens[i] : strlen(strs[i]);
        if (!ef_add_ok(total, 8, &total) || !ef_add_ok(total, len, &total) || total > SIZE_MAX)
            return ef_err(EF_ERR_INVALID_ARG, "gguf writer: key '%s': string array is too large", k);
    }
    uint8_t *value = ef_malloc((size_t)total);
    if (!value) return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot allocate %llu bytes for key '%s'",
                              (ull)total, k);
    put_u32(value, EF_GGUF_STRING);
    put_u64(value + 4, n);
    uint8_t *p = value + 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = lens ? lens[i] : strlen(strs[i]);
        put_u64(p, len);
        if (len) memcpy(p + 8, strs[i], (size_t)len);
        p += 8 + len;
    }
    return set_encoded(w, key, EF_GGUF_ARRAY, value, total);
}

ef_status ef_gguf_writer_copy_kv(ef_gguf_writer *w, const ef_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_kv)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: metadata index %lld is out of range", (long long)i);
    const gguf_kv *kv = &g->kv[i];
    /* The reader validated the encoding, so its bytes can be copied verbatim. */
    return set_bytes(w, kv->key, kv->type, kv->raw, kv->raw_size);
}

void ef_gguf_writer_remove(ef_gguf_writer *w, const char *key) {
    if (!w || !key) return;
    writer_kv *kv = find_kv(w, key);
    if (!kv) return;
    ef_free(kv->key);
    ef_free(kv->value);
    size_t i = (size_t)(kv - w->kv);
    memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
    w->n_kv--;
}

static ef_status add_tensor(ef_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data, uint64_t nbytes,
                            ef_gguf_tensor_fill_fn fill, void *fill_user) {
    if (!w || !name || !ne) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: NULL writer, name or shape");
    size_t len = strlen(name);
    if (len == 0 || len > EF_GGUF_MAX_NAME_LEN)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor name '%s' is empty or longer than %u", name,
                      EF_GGUF_MAX_NAME_LEN);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return ef_err(EF_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    const ef_type_info *info = ef_type_get(type);
    if (!info) return ef_err(EF_ERR_UNSUPPORTED, "gguf writer: tensor '%s' has unknown type id %u", name, type);
    if (n_dims < 1 || n_dims > EF_GGUF_MAX_DIMS)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor '%s': n_dims %u is outside 1..%u", name, n_dims,
                      EF_GGUF_MAX_DIMS);
    uint64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0)
            return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor '%s': dimension %u is %lld", name, d,
                          (long long)ne[d]);
        if (d > 0 && !ef_mul_ok(rows, (uint64_t)ne[d], &rows))
            return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor '%s': shape overflows", name);
    }
    if (ne[0] % info->block_size != 0)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor '%s': ne[0] = %lld is not a multiple of the %s "
                      "block size %d", name, (long long)ne[0], info->name, info->block_size);
    uint64_t row, expect;
    if (!ef_mul_ok((uint64_t)(ne[0] / info->block_size), (uint64_t)info->type_size, &row) ||
        !ef_mul_ok(row, rows, &expect))
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor '%s': byte size overflows", name);
    if (nbytes != expect)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor '%s': %llu bytes given, its %s shape needs %llu",
                      name, (ull)nbytes, info->name, (ull)expect);
    if (!data && !fill) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor '%s': data is NULL", name);

    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        writer_tensor *grown = ef_realloc(w->tensors, cap * sizeof *grown);
        if (!grown) return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot grow the tensor list");
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = ef_strdup(name);
    if (!t->name) return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot copy tensor name '%s'", name);
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < EF_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    t->fill = fill;
    t->fill_user = fill_user;
    w->n_tensors++;
    return EF_OK;
}

ef_status ef_gguf_writer_add_tensor(ef_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                    const int64_t *ne, const void *data, uint64_t nbytes) {
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, NULL, NULL);
}

ef_status ef_gguf_writer_add_tensor_fill(ef_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                         const int64_t *ne, uint64_t nbytes, ef_gguf_tensor_fill_fn fill,
                                         void *user) {
    if (!fill) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: tensor '%s': no fill function", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, NULL, nbytes, fill, user);
}

/* ---- output ---- */

typedef struct out_file {
    FILE *f;
    const char *path; /* the temporary name, for messages */
    ef_status st;     /* first failure; later writes are skipped */
} out_file;

static void emit(out_file *o, const void *p, uint64_t n) {
    if (o->st != EF_OK || n == 0) return;
    if (fwrite(p, 1, (size_t)n, o->f) != (size_t)n)
        o->st = ef_err(EF_ERR_IO, "gguf writer: cannot write '%s': %s", o->path, strerror(errno));
}

static void emit_u32(out_file *o, uint32_t v) {
    uint8_t b[4];
    put_u32(b, v);
    emit(o, b, 4);
}

static void emit_u64(out_file *o, uint64_t v) {
    uint8_t b[8];
    put_u64(b, v);
    emit(o, b, 8);
}

static void emit_str(out_file *o, const char *s) {
    size_t len = strlen(s);
    emit_u64(o, len);
    emit(o, s, len);
}

static void emit_zeros(out_file *o, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        emit(o, zeros, k);
        n -= k;
    }
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (a - x % a) % a; }

/* A produced tensor: one buffer for just this tensor, filled, written, freed. */
static void emit_filled(out_file *o, const writer_tensor *t) {
    if (o->st != EF_OK) return;
    if (t->nbytes > SIZE_MAX) {
        o->st = ef_err(EF_ERR_NO_MEMORY, "gguf writer: tensor '%s' does not fit in memory", t->name);
        return;
    }
    void *buf = ef_alloc_aligned((size_t)t->nbytes);
    if (!buf) {
        o->st = ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot allocate %llu bytes for tensor '%s'",
                       (ull)t->nbytes, t->name);
        return;
    }
    ef_status st = t->fill(t->fill_user, t->name, buf, t->nbytes);
    if (st != EF_OK)
        o->st = st; /* the producer set the message */
    else
        emit(o, buf, t->nbytes);
    ef_free_aligned(buf);
}

/* general.alignment, if set, must be a u32 power of two. */
static ef_status writer_alignment(ef_gguf_writer *w, uint32_t *out) {
    *out = EF_GGUF_DEFAULT_ALIGNMENT;
    writer_kv *kv = find_kv(w, "general.alignment");
    if (!kv) return EF_OK;
    uint32_t a = kv->type == EF_GGUF_U32 ? gguf_rd_u32(kv->value) : 0;
    if (a == 0 || (a & (a - 1)) != 0)
        return ef_err(EF_ERR_INVALID_ARG, "gguf writer: general.alignment must be a u32 power of two");
    *out = a;
    return EF_OK;
}

static void emit_file(ef_gguf_writer *w, out_file *o, uint32_t align) {
    uint64_t pos = 0; /* bytes written so far, to place the data section */
    emit(o, "GGUF", 4);
    emit_u32(o, 3);
    emit_u64(o, w->n_tensors);
    emit_u64(o, w->n_kv);
    pos += 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        const writer_kv *kv = &w->kv[i];
        emit_str(o, kv->key);
        emit_u32(o, kv->type);
        emit(o, kv->value, kv->value_size);
        pos += 8 + strlen(kv->key) + 4 + kv->value_size;
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        emit_str(o, t->name);
        emit_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) emit_u64(o, (uint64_t)t->ne[d]);
        emit_u32(o, t->type);
        emit_u64(o, offset);
        pos += 8 + strlen(t->name) + 4 + 8ull * t->n_dims + 4 + 8;
        offset += t->nbytes + pad_to(t->nbytes, align);
    }
    /* No padding after the last tensor (or after the infos when there are no
     * tensors): the file ends where its data ends, so any truncation shows. */
    if (w->n_tensors == 0) return;
    emit_zeros(o, pad_to(pos, align));
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        if (t->fill)
            emit_filled(o, t);
        else
            emit(o, t->data, t->nbytes);
        if (i + 1 < w->n_tensors) emit_zeros(o, pad_to(t->nbytes, align));
    }
}

ef_status ef_gguf_writer_write(ef_gguf_writer *w, const char *path) {
    if (!w || !path) return ef_err(EF_ERR_INVALID_ARG, "gguf writer: NULL writer or path");
    uint32_t align;
    EF_TRY(writer_alignment(w, &align));

    size_t tmp_len = strlen(path) + 32;
    char *tmp = ef_malloc(tmp_len);
    if (!tmp) return ef_err(EF_ERR_NO_MEMORY, "gguf writer: cannot allocate a file name");
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)ef_process_id());

    out_file o = {fopen(tmp, "wb"), tmp, EF_OK};
    if (!o.f) {
        ef_status st = ef_err(EF_ERR_IO, "gguf writer: cannot create '%s': %s", tmp, strerror(errno));
        ef_free(tmp);
        return st;
    }
    emit_file(w, &o, align);
    if (o.st == EF_OK && fflush(o.f) != 0)
        o.st = ef_err(EF_ERR_IO, "gguf writer: cannot write '%s': %s", tmp, strerror(errno));
    /* fclose reports errors of the last buffered write (a full disk, say). */
    if (fclose(o.f) != 0 && o.st == EF_OK)
        o.st = ef_err(EF_ERR_IO, "gguf writer: cannot close '%s': %s", tmp, strerror(errno));
    if (o.st == EF_OK) o.st = ef_file_rename(tmp, path);
    if (o.st != EF_OK) ef_file_remove(tmp);
    ef_free(tmp);
    return o.st;
}
