#include "tokenizer/token_buf.h"

#include "base/alloc.h"

ef_status ef_token_buf_push(ef_token_buf *b, int32_t id) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof *b->ids) return ef_err(EF_ERR_NO_MEMORY, "token output too long");
        int32_t *ids = ef_realloc(b->ids, cap * sizeof *ids);
        if (!ids) return ef_err(EF_ERR_NO_MEMORY, "cannot grow token output to %zu tokens", cap);
        b->ids = ids;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
    return EF_OK;
}

void ef_token_buf_free(ef_token_buf *b) {
    ef_free(b->ids);
    b->ids = NULL;
    b->n = b->cap = 0;
}
