/* Typed metadata getters: look a key up, check its type, convert. Integer
 * getters take any integer type whose value fits the target, so files that
 * store a count as u64 where another writer used u32 still load. */
#include "format/gguf.h"

#include <float.h>
#include <math.h>

#include "format/gguf_internal.h"

typedef unsigned long long ull;

static ef_status find(const ef_gguf *g, const char *key, const gguf_kv **out) {
    if (!g || !key) return ef_err(EF_ERR_INVALID_ARG, "gguf: NULL reader or key");
    *out = ef_gguf_kv_lookup(g, key);
    if (!*out) return ef_err(EF_ERR_NOT_FOUND, "gguf: key '%s' not found", key);
    return EF_OK;
}

static ef_status type_error(const gguf_kv *kv, const char *wanted) {
    return ef_err(EF_ERR_FORMAT, "gguf: key '%s' is a %s, not %s", kv->key, ef_gguf_type_name(kv->type),
                  wanted);
}

/* The integer value of an entry as sign + magnitude, so every integer type
 * fits: *neg set for negative values, *mag the absolute value. */
static int read_int(const gguf_kv *kv, int *neg, uint64_t *mag) {
    int64_t s;
    switch (kv->type) {
    case EF_GGUF_U8: *neg = 0; *mag = kv->raw[0]; return 1;
    case EF_GGUF_U16: *neg = 0; *mag = gguf_rd_u16(kv->raw); return 1;
    case EF_GGUF_U32: *neg = 0; *mag = gguf_rd_u32(kv->raw); return 1;
    case EF_GGUF_U64: *neg = 0; *mag = gguf_rd_u64(kv->raw); return 1;
    case EF_GGUF_I8: s = (int8_t)kv->raw[0]; break;
    case EF_GGUF_I16: s = (int16_t)gguf_rd_u16(kv->raw); break;
    case EF_GGUF_I32: s = (int32_t)gguf_rd_u32(kv->raw); break;
    case EF_GGUF_I64: s = (int64_t)gguf_rd_u64(kv->raw); break;
    default: return 0;
    }
    *neg = s < 0;
    /* -(s + 1) + 1 avoids overflow at INT64_MIN */
    *mag = s < 0 ? (uint64_t)(-(s + 1)) + 1u : (uint64_t)s;
    return 1;
}

static ef_status get_int(const ef_gguf *g, const char *key, int *neg, uint64_t *mag, const gguf_kv **kv) {
    EF_TRY(find(g, key, kv));
    if (!read_int(*kv, neg, mag)) return type_error(*kv, "an integer");
    return EF_OK;
}

static ef_status range_error(const gguf_kv *kv, int neg, uint64_t mag, const char *target) {
    return ef_err(EF_ERR_FORMAT, "gguf: key '%s': value %s%llu does not fit in %s", kv->key, neg ? "-" : "",
                  (ull)mag, target);
}

ef_status ef_gguf_get_u32(const ef_gguf *g, const char *key, uint32_t *out) {
    int neg = 0;
    uint64_t mag = 0;
    const gguf_kv *kv = NULL;
    EF_TRY(get_int(g, key, &neg, &mag, &kv));
    if ((neg && mag) || mag > UINT32_MAX) return range_error(kv, neg, mag, "u32");
    *out = (uint32_t)mag;
    return EF_OK;
}

ef_status ef_gguf_get_i32(const ef_gguf *g, const char *key, int32_t *out) {
    int neg = 0;
    uint64_t mag = 0;
    const gguf_kv *kv = NULL;
    EF_TRY(get_int(g, key, &neg, &mag, &kv));
    if (neg ? mag > (uint64_t)INT32_MAX + 1u : mag > (uint64_t)INT32_MAX)
        return range_error(kv, neg, mag, "i32");
    *out = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
    return EF_OK;
}

ef_status ef_gguf_get_u64(const ef_gguf *g, const char *key, uint64_t *out) {
    int neg = 0;
    uint64_t mag = 0;
    const gguf_kv *kv = NULL;
    EF_TRY(get_int(g, key, &neg, &mag, &kv));
    if (neg && mag) return range_error(kv, neg, mag, "u64");
    *out = mag;
    return EF_OK;
}

ef_status ef_gguf_get_f32(const ef_gguf *g, const char *key, float *out) {
    const gguf_kv *kv = NULL;
    EF_TRY(find(g, key, &kv));
    if (kv->type == EF_GGUF_F32) {
        *out = gguf_rd_f32(kv->raw);
        return EF_OK;
    }
    if (kv->type != EF_GGUF_F64) return type_error(kv, "f32 or f64");
    double d = gguf_rd_f64(kv->raw);
    /* Converting a finite double beyond the float range is undefined. */
    if (isfinite(d) && fabs(d) > FLT_MAX)
        return ef_err(EF_ERR_FORMAT, "gguf: key '%s': value %g does not fit in f32", kv->key, d);
    *out = (float)d;
    return EF_OK;
}

ef_status ef_gguf_get_bool(const ef_gguf *g, const char *key, int *out) {
    const gguf_kv *kv = NULL;
    EF_TRY(find(g, key, &kv));
    if (kv->type != EF_GGUF_BOOL) return type_error(kv, "bool");
    *out = kv->raw[0] != 0;
    return EF_OK;
}

ef_status ef_gguf_get_str(const ef_gguf *g, const char *key, const char **s, uint64_t *len) {
    const gguf_kv *kv = NULL;
    EF_TRY(find(g, key, &kv));
    if (kv->type != EF_GGUF_STRING) return type_error(kv, "string");
    *s = kv->str;
    *len = kv->str_len;
    return EF_OK;
}

ef_status ef_gguf_get_arr(const ef_gguf *g, const char *key, uint32_t *elem_type, uint64_t *n) {
    const gguf_kv *kv = NULL;
    EF_TRY(find(g, key, &kv));
    if (kv->type != EF_GGUF_ARRAY) return type_error(kv, "array");
    *elem_type = kv->elem_type;
    *n = kv->n_items;
    return EF_OK;
}

ef_status ef_gguf_get_arr_data(const ef_gguf *g, const char *key, const void **data) {
    const gguf_kv *kv = NULL;
    EF_TRY(find(g, key, &kv));
    if (kv->type != EF_GGUF_ARRAY) return type_error(kv, "array");
    if (!gguf_scalar_size(kv->elem_type))
        return ef_err(EF_ERR_FORMAT, "gguf: key '%s' is an array of %s, not of numbers", kv->key,
                      ef_gguf_type_name(kv->elem_type));
    *data = kv->items;
    return EF_OK;
}

ef_status ef_gguf_get_arr_str(const ef_gguf *g, const char *key, uint64_t i, const char **s,
                              uint64_t *len) {
    const gguf_kv *kv = NULL;
    EF_TRY(find(g, key, &kv));
    if (kv->type != EF_GGUF_ARRAY) return type_error(kv, "array");
    if (kv->elem_type != EF_GGUF_STRING)
        return ef_err(EF_ERR_FORMAT, "gguf: key '%s' is an array of %s, not of strings", kv->key,
                      ef_gguf_type_name(kv->elem_type));
    if (i >= kv->n_items)
        return ef_err(EF_ERR_INVALID_ARG, "gguf: key '%s': item %llu is out of range (%llu items)", kv->key,
                      (ull)i, (ull)kv->n_items);
    const uint8_t *item = kv->items + kv->str_offsets[i];
    *len = gguf_rd_u64(item);
    *s = (const char *)item + 8;
    return EF_OK;
}
