/* The byte-level BPE pre-tokenizer: splits text into the chunks that BPE
 * merges within, using the regex tokenizer.ggml.pre names, run by PCRE2 in
 * UTF + UCP mode (JIT when available). Invalid UTF-8 never matches the
 * regex; each run of bytes the regex skips becomes a chunk of its own, so
 * every input byte lands in exactly one chunk. */
#ifndef EF_TOKENIZER_PRETOKENIZE_H
#define EF_TOKENIZER_PRETOKENIZE_H

#include <stddef.h>

#include "base/error.h"

typedef struct ef_pretokenizer ef_pretokenizer;

/* Which split rules to use. */
typedef enum {
    EF_PRE_GPT2 = 0, /* "gpt-2", "default" and unknown names */
    EF_PRE_LLAMA3,   /* "llama3", "llama-bpe" */
    EF_PRE_QWEN2     /* "qwen2" */
} ef_pre_kind;

/* The kind for a tokenizer.ggml.pre value (name NULL = absent); sets
 * *known to 0 for names that fall back to GPT-2's rules. */
ef_pre_kind ef_pre_kind_from_name(const char *name, size_t len, int *known);

/* The PCRE2 pattern of a kind (documentation and tests). */
const char *ef_pre_pattern(ef_pre_kind kind);

ef_status ef_pretokenizer_create(ef_pre_kind kind, ef_pretokenizer **out);
void ef_pretokenizer_free(ef_pretokenizer *p);

/* Called for each chunk, in order; a non-OK status stops the split. */
typedef ef_status (*ef_chunk_fn)(void *user, const char *chunk, size_t len);

/* Splits text[0..len) and hands each chunk to fn. Thread-safe. */
ef_status ef_pretokenize(const ef_pretokenizer *p, const char *text, size_t len, ef_chunk_fn fn,
                         void *user);

#endif
