/* A small open-addressing hash map from byte strings to int32 values, used
 * for the tokenizer's text -> id and merge "a b" -> rank lookups. Keys are
 * not copied: they must outlive the map (they point into the vocab's pools). */
#ifndef EF_TOKENIZER_STRMAP_H
#define EF_TOKENIZER_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct ef_strmap_slot {
    const char *key;   /* NULL = empty slot */
    uint32_t len;
    uint32_t hash;
    int32_t value;
} ef_strmap_slot;

typedef struct ef_strmap {
    ef_strmap_slot *slots; /* [cap], cap a power of two */
    size_t cap;
    size_t count;
} ef_strmap;

/* Sizes the table for `expected` keys (it grows past that as needed). */
ef_status ef_strmap_init(ef_strmap *m, size_t expected);
void ef_strmap_free(ef_strmap *m);

/* Inserts key -> value unless the key is present; *inserted (may be NULL)
 * says which. An existing key keeps its first value. */
ef_status ef_strmap_put(ef_strmap *m, const char *key, size_t len, int32_t value, int *inserted);

/* The value for key, or -1 when absent. */
int32_t ef_strmap_get(const ef_strmap *m, const char *key, size_t len);

#endif
