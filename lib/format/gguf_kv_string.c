/* Renders a metadata entry as text for tools and logs: numbers in decimal
 * (floats in the shortest form that reads back exactly), bools as
 * true/false, strings as-is, arrays as "[a, b, ...]" cut after 8 items to
 * "[a, ..., (N items)]". The value was validated when the file was opened,
 * so walking its encoding here stays inside the image. */
#include "format/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/sink.h"
#include "format/gguf_internal.h"

#define ARRAY_ITEMS_SHOWN 8u

typedef ef_sink sink;

static void put(sink *s, const char *p, size_t n) { ef_sink_put(s, p, n); }

static void put_str(sink *s, const char *p) { put(s, p, strlen(p)); }

/* Shortest %g precision that converts back to the same value. */
static void put_f32(sink *s, float v) {
    char tmp[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
        if (strtof(tmp, NULL) == v) break;
    }
    put_str(s, tmp);
}

static void put_f64(sink *s, double v) {
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    put_str(s, tmp);
}

/* Bytes the value of `type` at p occupies (arrays walked item by item). */
static uint64_t value_size(uint32_t type, const uint8_t *p) {
    uint64_t size = gguf_scalar_size(type);
    if (size) return size;
    if (type == EF_GGUF_STRING) return 8 + gguf_rd_u64(p);
    uint32_t elem = gguf_rd_u32(p);
    uint64_t n = gguf_rd_u64(p + 4);
    uint64_t total = 12;
    if (gguf_scalar_size(elem)) return total + n * gguf_scalar_size(elem);
    for (uint64_t i = 0; i < n; i++) total += value_size(elem, p + total);
    return total;
}

static void render(sink *s, uint32_t type, const uint8_t *p) {
    char tmp[64];
    switch (type) {
    case EF_GGUF_U8: snprintf(tmp, sizeof tmp, "%u", (unsigned)p[0]); break;
    case EF_GGUF_I8: snprintf(tmp, sizeof tmp, "%d", (int)(int8_t)p[0]); break;
    case EF_GGUF_U16: snprintf(tmp, sizeof tmp, "%u", (unsigned)gguf_rd_u16(p)); break;
    case EF_GGUF_I16: snprintf(tmp, sizeof tmp, "%d", (int)(int16_t)gguf_rd_u16(p)); break;
    case EF_GGUF_U32: snprintf(tmp, sizeof tmp, "%" PRIu32, gguf_rd_u32(p)); break;
    case EF_GGUF_I32: snprintf(tmp, sizeof tmp, "%" PRId32, (int32_t)gguf_rd_u32(p)); break;
    case EF_GGUF_U64: snprintf(tmp, sizeof tmp, "%" PRIu64, gguf_rd_u64(p)); break;
    case EF_GGUF_I64: snprintf(tmp, sizeof tmp, "%" PRId64, (int64_t)gguf_rd_u64(p)); break;
    case EF_GGUF_BOOL: snprintf(tmp, sizeof tmp, "%s", p[0] ? "true" : "false"); break;
    case EF_GGUF_F32: put_f32(s, gguf_rd_f32(p)); return;
    case EF_GGUF_F64: put_f64(s, gguf_rd_f64(p)); return;
    case EF_GGUF_STRING: put(s, (const char *)p + 8, (size_t)gguf_rd_u64(p)); return;
    case EF_GGUF_ARRAY: {
        uint32_t elem = gguf_rd_u32(p);
        uint64_t n = gguf_rd_u64(p + 4);
        const uint8_t *item = p + 12;
        put_str(s, "[");
        for (uint64_t i = 0; i < n && i < ARRAY_ITEMS_SHOWN; i++) {
            if (i) put_str(s, ", ");
            render(s, elem, item);
            item += value_size(elem, item);
        }
        if (n > ARRAY_ITEMS_SHOWN) {
            snprintf(tmp, sizeof tmp, ", ..., (%" PRIu64 " items)", n);
            put_str(s, tmp);
        }
        put_str(s, "]");
        return;
    }
    default: snprintf(tmp, sizeof tmp, "?"); break;
    }
    put_str(s, tmp);
}

ef_status ef_gguf_kv_to_string(const ef_gguf *g, int64_t i, char *buf, size_t cap, size_t *needed) {
    if (!g || !needed) return ef_err(EF_ERR_INVALID_ARG, "gguf: NULL reader or needed");
    if (i < 0 || i >= g->n_kv)
        return ef_err(EF_ERR_INVALID_ARG, "gguf: metadata index %" PRId64 " is out of range (%" PRId64 " entries)",
                      i, g->n_kv);
    if (!buf && cap) return ef_err(EF_ERR_INVALID_ARG, "gguf: buf is NULL but cap is %zu", cap);
    const gguf_kv *kv = &g->kv[i];
    /* Measure first, so a buffer that is too small is left untouched. */
    sink count = {NULL, 0, 0};
    render(&count, kv->type, kv->raw);
    *needed = count.len + 1;
    if (*needed > cap)
        return ef_err(EF_ERR_BUFFER_TOO_SMALL, "gguf: key '%s' needs %zu bytes as text, buffer has %zu",
                      kv->key, *needed, cap);
    sink out = {buf, cap, 0};
    render(&out, kv->type, kv->raw);
    buf[out.len] = '\0';
    return EF_OK;
}
