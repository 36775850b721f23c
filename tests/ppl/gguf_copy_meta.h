/* Test helper: copy a GGUF file, changing some metadata (fixtures for the
 * perplexity and chat tests: a model that adds BOS, models with templates). */
#ifndef EF_TESTS_GGUF_COPY_META_H
#define EF_TESTS_GGUF_COPY_META_H

#include <stddef.h>

#include "base/error.h"

typedef struct meta_edit {
    const char *key;
    int is_bool;     /* 1: set a bool to bool_value; 0: set a string */
    int bool_value;
    const char *str_value;
} meta_edit;

/* Writes `out`: every metadata entry and tensor of `in`, with the edits
 * applied (an existing key is replaced, a new one added). */
ef_status gguf_copy_with_meta(const char *in, const char *out, const meta_edit *edits, size_t n_edits);

#endif
