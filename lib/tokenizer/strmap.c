/* Open addressing with linear probing; the table stays at most 70% full. */
#include "tokenizer/strmap.h"

#include <string.h>

#include "base/alloc.h"

/* FNV-1a: simple, and good enough for short token texts. */
static uint32_t hash_bytes(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static ef_status alloc_slots(ef_strmap *m, size_t cap) {
    ef_strmap_slot *slots = ef_calloc(cap, sizeof *slots);
    if (!slots) return ef_err(EF_ERR_NO_MEMORY, "token hash map: cannot allocate %zu slots", cap);
    m->slots = slots;
    m->cap = cap;
    m->count = 0;
    return EF_OK;
}

ef_status ef_strmap_init(ef_strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected + expected / 2 + 1) {
        if (cap > SIZE_MAX / 4) return ef_err(EF_ERR_NO_MEMORY, "token hash map: too many keys");
        cap *= 2;
    }
    m->slots = NULL;
    return alloc_slots(m, cap);
}

void ef_strmap_free(ef_strmap *m) {
    if (!m) return;
    ef_free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

/* Places a slot known to be absent; the table has room. */
static void place(ef_strmap_slot *slots, size_t cap, const ef_strmap_slot *s) {
    size_t i = s->hash & (cap - 1);
    while (slots[i].key) i = (i + 1) & (cap - 1);
    slots[i] = *s;
}

static ef_status grow(ef_strmap *m) {
    if (m->cap > SIZE_MAX / 2 / sizeof(ef_strmap_slot))
        return ef_err(EF_ERR_NO_MEMORY, "token hash map: too many keys");
    size_t new_cap = m->cap * 2;
    ef_strmap_slot *slots = ef_calloc(new_cap, sizeof *slots);
    if (!slots) return ef_err(EF_ERR_NO_MEMORY, "token hash map: cannot grow to %zu slots", new_cap);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) place(slots, new_cap, &m->slots[i]);
    ef_free(m->slots);
    m->slots = slots;
    m->cap = new_cap;
    return EF_OK;
}

ef_status ef_strmap_put(ef_strmap *m, const char *key, size_t len, int32_t value, int *inserted) {
    if (inserted) *inserted = 0;
    if (len > UINT32_MAX) return ef_err(EF_ERR_INVALID_ARG, "token hash map: key of %zu bytes", len);
    uint32_t h = hash_bytes(key, len);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const ef_strmap_slot *s = &m->slots[i];
        if (!s->key) break;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return EF_OK;
    }
    if ((m->count + 1) * 10 > m->cap * 7) EF_TRY(grow(m));
    ef_strmap_slot s = {key, (uint32_t)len, h, value};
    place(m->slots, m->cap, &s);
    m->count++;
    if (inserted) *inserted = 1;
    return EF_OK;
}

int32_t ef_strmap_get(const ef_strmap *m, const char *key, size_t len) {
    if (!m->slots || len > UINT32_MAX) return -1;
    uint32_t h = hash_bytes(key, len);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const ef_strmap_slot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s->value;
    }
}
