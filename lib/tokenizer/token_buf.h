/* A growable array of token ids (the tokenizers' output). */
#ifndef EF_TOKENIZER_TOKEN_BUF_H
#define EF_TOKENIZER_TOKEN_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct ef_token_buf {
    int32_t *ids; /* [cap], the first n used */
    size_t n;
    size_t cap;
} ef_token_buf;

ef_status ef_token_buf_push(ef_token_buf *b, int32_t id);
void ef_token_buf_free(ef_token_buf *b);

#endif
