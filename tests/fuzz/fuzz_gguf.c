/* libFuzzer target for the GGUF reader: any byte string must either be
 * rejected with a status or open into a reader whose every key, value,
 * string array item and tensor can be walked without leaving the image. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "format/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads through a volatile so the touches are not optimised away. */
static volatile uint8_t g_sink;

static void touch(const void *p, uint64_t n) {
    if (!n) return;
    const uint8_t *b = p;
    g_sink ^= b[0];
    g_sink ^= b[n - 1];
}

static uint64_t scalar_size(uint32_t type) {
    switch (type) {
    case EF_GGUF_U8: case EF_GGUF_I8: case EF_GGUF_BOOL: return 1;
    case EF_GGUF_U16: case EF_GGUF_I16: return 2;
    case EF_GGUF_U32: case EF_GGUF_I32: case EF_GGUF_F32: return 4;
    case EF_GGUF_U64: case EF_GGUF_I64: case EF_GGUF_F64: return 8;
    default: return 0;
    }
}

static void walk_kv(const ef_gguf *g, int64_t i) {
    const char *key = ef_gguf_key(g, i);
    if (ef_gguf_find_key(g, key) != i) abort(); /* lookups must agree with the index */

    size_t needed = 0;
    if (ef_gguf_kv_to_string(g, i, NULL, 0, &needed) == EF_ERR_BUFFER_TOO_SMALL) {
        char *text = malloc(needed);
        if (text) {
            if (ef_gguf_kv_to_string(g, i, text, needed, &needed) != EF_OK) abort();
            touch(text, needed);
            free(text);
        }
    }

    /* every getter, whatever the type: they must answer, not crash */
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    int b;
    const char *s;
    uint64_t len;
    (void)ef_gguf_get_u32(g, key, &u32);
    (void)ef_gguf_get_i32(g, key, &i32);
    (void)ef_gguf_get_u64(g, key, &u64);
    (void)ef_gguf_get_f32(g, key, &f32);
    (void)ef_gguf_get_bool(g, key, &b);
    if (ef_gguf_get_str(g, key, &s, &len) == EF_OK) touch(s, len);

    uint32_t elem;
    uint64_t n;
    if (ef_gguf_get_arr(g, key, &elem, &n) != EF_OK) return;
    const void *items;
    if (ef_gguf_get_arr_data(g, key, &items) == EF_OK) touch(items, n * scalar_size(elem));
    if (elem == EF_GGUF_STRING) {
        for (uint64_t k = 0; k < n; k++) {
            if (ef_gguf_get_arr_str(g, key, k, &s, &len) != EF_OK) abort();
            touch(s, len);
        }
        if (ef_gguf_get_arr_str(g, key, n, &s, &len) == EF_OK) abort(); /* one past the end */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ef_gguf *g = NULL;
    if (ef_gguf_open_memory(data, size, &g) != EF_OK) return 0;
    for (int64_t i = 0; i < ef_gguf_n_kv(g); i++) walk_kv(g, i);
    for (int64_t i = 0; i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        if (ef_gguf_find_tensor(g, t->name) != t) abort();
        if (t->nbytes == 0) abort(); /* empty tensors are rejected by the reader */
        touch(t->data, t->nbytes);
    }
    ef_gguf_close(g);
    return 0;
}
