/* Public tokenizer calls: thin, argument-checking wrappers over lib/tokenizer. */
#include <string.h>

#include "base/alloc.h"
#include "model/model.h"

ef_status ef_tokenize(const ef_model *m, const char *text, size_t text_len, uint32_t flags,
                      int32_t *tokens, size_t cap, size_t *n_tokens) {
    if (!m || (!text && text_len) || !n_tokens)
        return ef_err(EF_ERR_INVALID_ARG, "ef_tokenize: NULL argument");
    int32_t *ids = NULL;
    size_t n = 0;
    EF_TRY(ef_vocab_tokenize(m->vocab, text ? text : "", text_len, flags, &ids, &n));
    *n_tokens = n;
    ef_status st = EF_OK;
    if (!tokens || cap < n)
        st = ef_err(EF_ERR_BUFFER_TOO_SMALL, "%zu tokens needed, buffer holds %zu", n, cap);
    else if (n)
        memcpy(tokens, ids, n * sizeof *ids);
    ef_free(ids);
    return st;
}

ef_status ef_detokenize(const ef_model *m, const int32_t *tokens, size_t n_tokens, uint32_t flags,
                        char *buf, size_t cap, size_t *len) {
    if (!m || (!tokens && n_tokens) || !len)
        return ef_err(EF_ERR_INVALID_ARG, "ef_detokenize: NULL argument");
    return ef_vocab_detokenize(m->vocab, tokens, n_tokens, flags, buf, cap, len);
}

const char *ef_token_text(const ef_model *m, int32_t token) {
    return m ? ef_vocab_token_text(m->vocab, token) : NULL;
}
int32_t ef_token_bos(const ef_model *m) { return m ? ef_vocab_bos(m->vocab) : -1; }
int32_t ef_token_eos(const ef_model *m) { return m ? ef_vocab_eos(m->vocab) : -1; }
int32_t ef_token_is_eog(const ef_model *m, int32_t token) { return m ? ef_vocab_is_eog(m->vocab, token) : 0; }
