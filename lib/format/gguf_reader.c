/* GGUF v2/v3 reader: parses a whole file image and validates every count,
 * length, type, shape, offset and alignment before handing anything out.
 * Every read goes through a cursor that knows how many bytes are left, and
 * every size computed from file data uses checked arithmetic, so a hostile
 * file yields a status and a message, never an out-of-bounds read. */
#include "format/gguf.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "format/gguf_internal.h"
#include "quant/types.h"

/* Smallest encodings, used to reject counts the remaining bytes cannot hold
 * before allocating anything for them. */
#define MIN_KV_BYTES      (8u + 1u + 4u + 1u)          /* key len, 1-byte key, type, u8 */
#define MIN_TENSOR_BYTES  (8u + 1u + 4u + 8u + 4u + 8u) /* name len, name, n_dims, ne, type, offset */
#define ARRAY_HEADER_BYTES (4u + 8u)                    /* elem type, count */
#define MAX_ELEMENTS      ((uint64_t)1 << 62)

typedef struct cursor {
    const uint8_t *p; /* [size] the image */
    uint64_t size;
    uint64_t pos;
} cursor;

static uint64_t left(const cursor *c) { return c->size - c->pos; }

typedef unsigned long long ull; /* for printf */

const char *ef_gguf_type_name(uint32_t type) {
    static const char *const names[EF_GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
    return type < EF_GGUF_TYPE_COUNT ? names[type] : "unknown";
}

/* Reads a fixed-size field; `what` names it in the truncation message. */
static ef_status read_u32(cursor *c, uint32_t *out, const char *what) {
    if (left(c) < 4)
        return ef_err(EF_ERR_FORMAT, "truncated file: %s needs 4 bytes at offset %llu, %llu left",
                      what, (ull)c->pos, (ull)left(c));
    *out = gguf_rd_u32(c->p + c->pos);
    c->pos += 4;
    return EF_OK;
}

static ef_status read_u64(cursor *c, uint64_t *out, const char *what) {
    if (left(c) < 8)
        return ef_err(EF_ERR_FORMAT, "truncated file: %s needs 8 bytes at offset %llu, %llu left",
                      what, (ull)c->pos, (ull)left(c));
    *out = gguf_rd_u64(c->p + c->pos);
    c->pos += 8;
    return EF_OK;
}

/* A length-prefixed string: points *s into the image. `what` names it. */
static ef_status read_str(cursor *c, const char **s, uint64_t *len, const char *what) {
    EF_TRY(read_u64(c, len, what));
    if (*len > left(c))
        return ef_err(EF_ERR_FORMAT,
                      "truncated file: %s has length %llu but only %llu bytes are left",
                      what, (ull)*len, (ull)left(c));
    *s = (const char *)(c->p + c->pos);
    c->pos += *len;
    return EF_OK;
}

/* Validates one value of `type` at the cursor and moves past it. `depth`
 * counts enclosing arrays. When `kv` is given (a top-level value) its
 * string/array fields are filled in. */
static ef_status parse_value(cursor *c, uint32_t type, unsigned depth, const char *key, gguf_kv *kv) {
    uint64_t size = gguf_scalar_size(type);
    if (size) {
        if (left(c) < size)
            return ef_err(EF_ERR_FORMAT,
                          "key '%s': truncated file: %s value needs %llu bytes, %llu left",
                          key, ef_gguf_type_name(type), (ull)size, (ull)left(c));
        c->pos += size;
        return EF_OK;
    }
    if (type == EF_GGUF_STRING) {
        const char *s = NULL;
        uint64_t len = 0;
        ef_status st = read_str(c, &s, &len, "string value");
        if (st != EF_OK) return ef_err_prefix(st, "key '%s'", key);
        if (kv) {
            kv->str = s;
            kv->str_len = len;
        }
        return EF_OK;
    }
    if (type != EF_GGUF_ARRAY)
        return ef_err(EF_ERR_FORMAT, "key '%s': unknown value type %u", key, type);

    if (depth + 1 > EF_GGUF_MAX_ARRAY_DEPTH)
        return ef_err(EF_ERR_FORMAT, "key '%s': arrays nested deeper than %u levels",
                      key, EF_GGUF_MAX_ARRAY_DEPTH);
    uint32_t elem = 0;
    uint64_t n = 0;
    ef_status st = read_u32(c, &elem, "array element type");
    if (st == EF_OK) st = read_u64(c, &n, "array count");
    if (st != EF_OK) return ef_err_prefix(st, "key '%s'", key);
    if (elem >= EF_GGUF_TYPE_COUNT)
        return ef_err(EF_ERR_FORMAT, "key '%s': array has unknown element type %u", key, elem);

    /* Every item needs at least this many bytes, so the count is bounded by
     * the bytes left before any per-item work or allocation. */
    uint64_t item_min = gguf_scalar_size(elem);
    if (elem == EF_GGUF_STRING) item_min = 8;
    if (elem == EF_GGUF_ARRAY) item_min = ARRAY_HEADER_BYTES;
    uint64_t need = 0;
    if (!ef_mul_ok(n, item_min, &need) || need > left(c))
        return ef_err(EF_ERR_FORMAT,
                      "key '%s': array of %llu %s items does not fit in the %llu bytes left",
                      key, (ull)n, ef_gguf_type_name(elem), (ull)left(c));
    if (kv) {
        kv->elem_type = elem;
        kv->n_items = n;
        kv->items = c->p + c->pos;
    }
    if (gguf_scalar_size(elem)) {
        c->pos += need;
        return EF_OK;
    }
    if (elem == EF_GGUF_STRING) {
        uint64_t items_start = c->pos;
        if (kv) {
            /* n * 8 <= bytes left was checked above, so this is bounded by the file. */
            kv->str_offsets = ef_malloc((size_t)(n ? n : 1) * sizeof(uint64_t));
            if (!kv->str_offsets)
                return ef_err(EF_ERR_NO_MEMORY, "key '%s': cannot allocate an index of %llu strings",
                              key, (ull)n);
        }
        for (uint64_t i = 0; i < n; i++) {
            const char *s = NULL;
            uint64_t len = 0;
            if (kv) kv->str_offsets[i] = c->pos - items_start;
            st = read_str(c, &s, &len, "string array item");
            if (st != EF_OK) return ef_err_prefix(st, "key '%s' item %llu", key, (ull)i);
        }
        return EF_OK;
    }
    /* An array of arrays: each item is a full array value one level deeper. */
    for (uint64_t i = 0; i < n; i++) EF_TRY(parse_value(c, EF_GGUF_ARRAY, depth + 1, key, NULL));
    return EF_OK;
}

static int cmp_kv_ptr(const void *a, const void *b) {
    return strcmp((*(gguf_kv *const *)a)->key, (*(gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(ef_gguf_tensor *const *)a)->name, (*(ef_gguf_tensor *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    uint64_t x = (*(ef_gguf_tensor *const *)a)->offset, y = (*(ef_gguf_tensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

static ef_status parse_header(ef_gguf *g, cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    if (c->size < 4)
        return ef_err(EF_ERR_FORMAT, "gguf: file of %llu bytes is too small to hold the magic",
                      (ull)c->size);
    if (memcmp(c->p, "GGUF", 4) != 0)
        return ef_err(EF_ERR_FORMAT,
                      "gguf: bad magic %02x %02x %02x %02x (expected \"GGUF\"): not a GGUF file",
                      c->p[0], c->p[1], c->p[2], c->p[3]);
    c->pos = 4;
    ef_status st = read_u32(c, &g->version, "version");
    if (st != EF_OK) return ef_err_prefix(st, "gguf");
    if (g->version == 0)
        return ef_err(EF_ERR_FORMAT, "gguf: invalid version 0");
    if ((g->version & 0xFFFFu) == 0)
        return ef_err(EF_ERR_UNSUPPORTED,
                      "gguf: version field 0x%08x looks byte-swapped: big-endian GGUF files are not supported",
                      g->version);
    if (g->version != 2 && g->version != 3)
        return ef_err(EF_ERR_UNSUPPORTED, "gguf: version %u is not supported (only versions 2 and 3)",
                      g->version);
    st = read_u64(c, n_tensors, "tensor count");
    if (st == EF_OK) st = read_u64(c, n_kv, "metadata count");
    if (st != EF_OK) return ef_err_prefix(st, "gguf");
    if (*n_tensors > EF_GGUF_MAX_TENSORS)
        return ef_err(EF_ERR_FORMAT, "gguf: tensor count %llu exceeds the limit of %u",
                      (ull)*n_tensors, EF_GGUF_MAX_TENSORS);
    if (*n_kv > EF_GGUF_MAX_KV)
        return ef_err(EF_ERR_FORMAT, "gguf: metadata count %llu exceeds the limit of %u",
                      (ull)*n_kv, EF_GGUF_MAX_KV);
    /* Both counts are below 2^20, so this cannot overflow. */
    uint64_t need = *n_kv * MIN_KV_BYTES + *n_tensors * MIN_TENSOR_BYTES;
    if (need > left(c))
        return ef_err(EF_ERR_FORMAT,
                      "gguf: truncated file: %llu metadata entries and %llu tensors need at least %llu "
                      "bytes, only %llu left",
                      (ull)*n_kv, (ull)*n_tensors, (ull)need, (ull)left(c));
    return EF_OK;
}

static ef_status parse_kv(ef_gguf *g, cursor *c, uint64_t n_kv) {
    g->kv = ef_calloc((size_t)(n_kv ? n_kv : 1), sizeof *g->kv);
    g->kv_by_key = ef_calloc((size_t)(n_kv ? n_kv : 1), sizeof *g->kv_by_key);
    if (!g->kv || !g->kv_by_key)
        return ef_err(EF_ERR_NO_MEMORY, "gguf: cannot allocate %llu metadata entries", (ull)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        const char *key = NULL;
        uint64_t len = 0;
        ef_status st = read_str(c, &key, &len, "key");
        if (st != EF_OK) return ef_err_prefix(st, "gguf: metadata entry %llu", (ull)i);
        if (len == 0) return ef_err(EF_ERR_FORMAT, "gguf: metadata entry %llu has an empty key", (ull)i);
        if (len > EF_GGUF_MAX_KEY_LEN)
            return ef_err(EF_ERR_FORMAT, "gguf: metadata entry %llu: key length %llu exceeds the limit of %u",
                          (ull)i, (ull)len, EF_GGUF_MAX_KEY_LEN);
        if (memchr(key, 0, (size_t)len))
            return ef_err(EF_ERR_FORMAT, "gguf: metadata entry %llu: key contains a NUL byte", (ull)i);
        kv->key = ef_strndup(key, (size_t)len);
        if (!kv->key) return ef_err(EF_ERR_NO_MEMORY, "gguf: cannot copy a key of %llu bytes", (ull)len);
        g->n_kv = (int64_t)i + 1; /* from here on close() frees this entry */
        st = read_u32(c, &kv->type, "value type");
        if (st != EF_OK) return ef_err_prefix(st, "gguf: key '%s'", kv->key);
        if (kv->type >= EF_GGUF_TYPE_COUNT)
            return ef_err(EF_ERR_FORMAT, "gguf: key '%s' has unknown value type %u", kv->key, kv->type);
        uint64_t start = c->pos;
        st = parse_value(c, kv->type, 0, kv->key, kv);
        if (st != EF_OK) return ef_err_prefix(st, "gguf");
        kv->raw = c->p + start;
        kv->raw_size = c->pos - start;
        g->kv_by_key[i] = kv;
    }
    qsort(g->kv_by_key, (size_t)n_kv, sizeof *g->kv_by_key, cmp_kv_ptr);
    for (uint64_t i = 1; i < n_kv; i++)
        if (strcmp(g->kv_by_key[i - 1]->key, g->kv_by_key[i]->key) == 0)
            return ef_err(EF_ERR_FORMAT, "gguf: duplicate key '%s'", g->kv_by_key[i]->key);
    return EF_OK;
}

static ef_status read_alignment(ef_gguf *g) {
    g->alignment = EF_GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = ef_gguf_kv_lookup(g, "general.alignment");
    if (!kv) return EF_OK;
    if (kv->type != EF_GGUF_U32)
        return ef_err(EF_ERR_FORMAT, "gguf: general.alignment must be a u32, not %s",
                      ef_gguf_type_name(kv->type));
    uint32_t a = gguf_rd_u32(kv->raw);
    if (a == 0 || (a & (a - 1)) != 0)
        return ef_err(EF_ERR_FORMAT, "gguf: general.alignment %u is not a power of two", a);
    g->alignment = a;
    return EF_OK;
}

/* Reads one tensor info (name, dims, type, offset) and checks its shape. */
static ef_status parse_tensor_info(cursor *c, uint64_t i, ef_gguf_tensor *t) {
    const char *name = NULL;
    uint64_t len = 0;
    ef_status st = read_str(c, &name, &len, "tensor name");
    if (st != EF_OK) return ef_err_prefix(st, "gguf: tensor %llu", (ull)i);
    if (len == 0) return ef_err(EF_ERR_FORMAT, "gguf: tensor %llu has an empty name", (ull)i);
    if (len > EF_GGUF_MAX_NAME_LEN)
        return ef_err(EF_ERR_FORMAT, "gguf: tensor %llu: name length %llu exceeds the limit of %u",
                      (ull)i, (ull)len, EF_GGUF_MAX_NAME_LEN);
    if (memchr(name, 0, (size_t)len))
        return ef_err(EF_ERR_FORMAT, "gguf: tensor %llu: name contains a NUL byte", (ull)i);
    t->name = ef_strndup(name, (size_t)len);
    if (!t->name) return ef_err(EF_ERR_NO_MEMORY, "gguf: cannot copy a tensor name");

    st = read_u32(c, &t->n_dims, "n_dims");
    if (st != EF_OK) return ef_err_prefix(st, "gguf: tensor '%s'", t->name);
    if (t->n_dims < 1 || t->n_dims > EF_GGUF_MAX_DIMS)
        return ef_err(EF_ERR_FORMAT, "gguf: tensor '%s': n_dims %u is outside 1..%u",
                      t->name, t->n_dims, EF_GGUF_MAX_DIMS);
    uint64_t count = 1;
    for (uint32_t d = 0; d < EF_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne = 0;
        st = read_u64(c, &ne, "dimension");
        if (st != EF_OK) return ef_err_prefix(st, "gguf: tensor '%s'", t->name);
        /* Zero-sized dimensions are rejected: no model needs an empty tensor,
         * and it would make "tensors must not overlap" ambiguous. */
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return ef_err(EF_ERR_FORMAT, "gguf: tensor '%s': dimension %u has invalid size %llu",
                          t->name, d, (ull)ne);
        if (!ef_mul_ok(count, ne, &count) || count >= MAX_ELEMENTS)
            return ef_err(EF_ERR_FORMAT, "gguf: tensor '%s': element count overflows (more than 2^62)",
                          t->name);
        t->ne[d] = (int64_t)ne;
    }
    st = read_u32(c, &t->type, "type");
    if (st == EF_OK) st = read_u64(c, &t->offset, "offset");
    if (st != EF_OK) return ef_err_prefix(st, "gguf: tensor '%s'", t->name);

    const ef_type_info *info = ef_type_get(t->type);
    if (!info)
        return ef_err(EF_ERR_UNSUPPORTED, "gguf: tensor '%s' has unknown type id %u", t->name, t->type);
    if (t->ne[0] % info->block_size != 0)
        return ef_err(EF_ERR_FORMAT,
                      "gguf: tensor '%s': ne[0] = %lld is not a multiple of the %s block size %d",
                      t->name, (long long)t->ne[0], info->name, info->block_size);
    /* nbytes = blocks per row * block bytes * rows, each step checked. */
    uint64_t row = 0, nbytes = 0;
    if (!ef_mul_ok((uint64_t)(t->ne[0] / info->block_size), (uint64_t)info->type_size, &row) ||
        !ef_mul_ok(row, count / (uint64_t)t->ne[0], &nbytes))
        return ef_err(EF_ERR_FORMAT, "gguf: tensor '%s': byte size overflows", t->name);
    t->nbytes = nbytes;
    return EF_OK;
}

static ef_status parse_tensors(ef_gguf *g, cursor *c, uint64_t n) {
    g->tensors = ef_calloc((size_t)(n ? n : 1), sizeof *g->tensors);
    g->tensor_by_name = ef_calloc((size_t)(n ? n : 1), sizeof *g->tensor_by_name);
    if (!g->tensors || !g->tensor_by_name)
        return ef_err(EF_ERR_NO_MEMORY, "gguf: cannot allocate %llu tensor infos", (ull)n);
    g->n_tensors = (int64_t)n; /* entries are zeroed, so close() can free partial ones */
    for (uint64_t i = 0; i < n; i++) {
        EF_TRY(parse_tensor_info(c, i, &g->tensors[i]));
        g->tensor_by_name[i] = &g->tensors[i];
    }

    /* The data section starts at the next multiple of the alignment. */
    uint64_t a = g->alignment;
    if (!ef_add_ok(c->pos, a - 1, &g->data_start))
        return ef_err(EF_ERR_FORMAT, "gguf: data section offset overflows");
    g->data_start -= g->data_start % a;

    for (uint64_t i = 0; i < n; i++) {
        ef_gguf_tensor *t = &g->tensors[i];
        if (t->offset % a != 0)
            return ef_err(EF_ERR_FORMAT, "gguf: tensor '%s': offset %llu is not a multiple of the alignment %u",
                          t->name, (ull)t->offset, g->alignment);
        uint64_t start = 0, end = 0;
        if (!ef_add_ok(g->data_start, t->offset, &start) || !ef_add_ok(start, t->nbytes, &end) ||
            end > g->size)
            return ef_err(EF_ERR_FORMAT,
                          "gguf: tensor '%s': data at offset %llu + %llu bytes extends past the end of "
                          "the file (data section starts at %llu, file has %llu bytes)",
                          t->name, (ull)t->offset, (ull)t->nbytes, (ull)g->data_start, (ull)g->size);
        t->data = g->image + start;
    }

    qsort(g->tensor_by_name, (size_t)n, sizeof *g->tensor_by_name, cmp_tensor_name);
    for (uint64_t i = 1; i < n; i++)
        if (strcmp(g->tensor_by_name[i - 1]->name, g->tensor_by_name[i]->name) == 0)
            return ef_err(EF_ERR_FORMAT, "gguf: duplicate tensor name '%s'", g->tensor_by_name[i]->name);

    /* Overlap check on a copy sorted by offset: each tensor must end before the next begins. */
    if (n > 1) {
        ef_gguf_tensor **by_off = ef_malloc((size_t)n * sizeof *by_off);
        if (!by_off) return ef_err(EF_ERR_NO_MEMORY, "gguf: cannot allocate the overlap check");
        for (uint64_t i = 0; i < n; i++) by_off[i] = &g->tensors[i];
        qsort(by_off, (size_t)n, sizeof *by_off, cmp_tensor_offset);
        ef_status st = EF_OK;
        for (uint64_t i = 1; i < n && st == EF_OK; i++) {
            const ef_gguf_tensor *p = by_off[i - 1], *q = by_off[i];
            if (p->offset + p->nbytes > q->offset) /* no overflow: both ends were checked above */
                st = ef_err(EF_ERR_FORMAT, "gguf: tensors '%s' and '%s' overlap in the data section",
                            p->name, q->name);
        }
        ef_free(by_off);
        if (st != EF_OK) return st;
    }
    return EF_OK;
}

static ef_status parse_image(ef_gguf *g) {
    cursor c = {g->image, g->size, 0};
    uint64_t n_tensors = 0, n_kv = 0;
    EF_TRY(parse_header(g, &c, &n_tensors, &n_kv));
    EF_TRY(parse_kv(g, &c, n_kv));
    EF_TRY(read_alignment(g));
    return parse_tensors(g, &c, n_tensors);
}

static ef_status open_image(const uint8_t *data, uint64_t size, const ef_file_map *map, ef_gguf **out) {
    ef_gguf *g = ef_calloc(1, sizeof *g);
    if (!g) {
        if (map) {
            ef_file_map m = *map;
            ef_file_map_close(&m);
        }
        return ef_err(EF_ERR_NO_MEMORY, "gguf: cannot allocate the reader");
    }
    if (map) g->map = *map;
    g->image = data;
    g->size = size;
    g->alignment = EF_GGUF_DEFAULT_ALIGNMENT;
    ef_status st = parse_image(g);
    if (st != EF_OK) {
        ef_gguf_close(g);
        return st;
    }
    *out = g;
    return EF_OK;
}

ef_status ef_gguf_open_memory(const void *data, uint64_t size, ef_gguf **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "gguf: out is NULL");
    *out = NULL;
    if (!data && size) return ef_err(EF_ERR_INVALID_ARG, "gguf: data is NULL");
    return open_image(data, size, NULL, out);
}

ef_status ef_gguf_open(const char *path, int use_mmap, ef_gguf **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "gguf: out is NULL");
    *out = NULL;
    if (!path) return ef_err(EF_ERR_INVALID_ARG, "gguf: path is NULL");
    ef_file_map map;
    EF_TRY(ef_file_map_open(path, use_mmap, &map));
    ef_status st = open_image(map.data, map.size, &map, out);
    if (st != EF_OK) return ef_err_prefix(st, "%s", path);
    return EF_OK;
}

void ef_gguf_close(ef_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        ef_free(g->kv[i].key);
        ef_free(g->kv[i].str_offsets);
    }
    ef_free(g->kv);
    ef_free(g->kv_by_key);
    for (int64_t i = 0; i < g->n_tensors; i++) ef_free(g->tensors[i].name);
    ef_free(g->tensors);
    ef_free(g->tensor_by_name);
    if (g->map.data) ef_file_map_close(&g->map);
    ef_free(g);
}

uint32_t ef_gguf_version(const ef_gguf *g) { return g ? g->version : 0; }
uint32_t ef_gguf_alignment(const ef_gguf *g) { return g ? g->alignment : 0; }
uint64_t ef_gguf_file_size(const ef_gguf *g) { return g ? g->size : 0; }

int64_t ef_gguf_n_kv(const ef_gguf *g) { return g ? g->n_kv : 0; }

const char *ef_gguf_key(const ef_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

uint32_t ef_gguf_kv_type(const ef_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? g->kv[i].type : EF_GGUF_TYPE_COUNT;
}

static int cmp_key_to_kv(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(gguf_kv *const *)elem)->key);
}

const gguf_kv *ef_gguf_kv_lookup(const ef_gguf *g, const char *key) {
    if (!g || !key || g->n_kv == 0) return NULL;
    gguf_kv *const *hit = bsearch(key, g->kv_by_key, (size_t)g->n_kv, sizeof *g->kv_by_key, cmp_key_to_kv);
    return hit ? *hit : NULL;
}

int64_t ef_gguf_find_key(const ef_gguf *g, const char *key) {
    const gguf_kv *kv = ef_gguf_kv_lookup(g, key);
    return kv ? (int64_t)(kv - g->kv) : -1;
}

int64_t ef_gguf_n_tensors(const ef_gguf *g) { return g ? g->n_tensors : 0; }

const ef_gguf_tensor *ef_gguf_tensor_at(const ef_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

static int cmp_name_to_tensor(const void *name, const void *elem) {
    return strcmp((const char *)name, (*(ef_gguf_tensor *const *)elem)->name);
}

const ef_gguf_tensor *ef_gguf_find_tensor(const ef_gguf *g, const char *name) {
    if (!g || !name || g->n_tensors == 0) return NULL;
    ef_gguf_tensor *const *hit =
        bsearch(name, g->tensor_by_name, (size_t)g->n_tensors, sizeof *g->tensor_by_name, cmp_name_to_tensor);
    return hit ? *hit : NULL;
}
