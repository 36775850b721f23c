/* ef_vocab_tokenize: cuts the input at special-token texts, runs the
 * vocabulary's tokenizer on the plain stretches between them, and adds
 * BOS/EOS when asked. */
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/vocab_internal.h"

/* The special token whose text starts `text`, longest first, or -1.
 * USER_DEFINED tokens always match (SentencePiece and llama.cpp treat them
 * as part of the text's vocabulary); CONTROL and UNKNOWN texts only with
 * EF_TOKENIZE_PARSE_SPECIAL. */
static int32_t match_special(const ef_vocab *v, const char *text, size_t avail, int parse_special,
                             size_t *match_len) {
    uint8_t b = (uint8_t)text[0];
    for (uint32_t k = v->special_start[b]; k < v->special_start[b + 1]; k++) {
        int32_t id = v->special[k];
        const ef_token_info *t = &v->tokens[id];
        if (t->type != EF_TOKEN_USER_DEFINED && !parse_special) continue;
        if (t->len <= avail && memcmp(text, ef_vocab_text(v, id), t->len) == 0) {
            *match_len = t->len;
            return id;
        }
    }
    return -1;
}

/* Tokenizes one stretch of plain text. *after_special tells SPM whether
 * its dummy space prefix applies (at the start and after a special token,
 * as llama.cpp does). */
static ef_status tokenize_plain(const ef_vocab *v, const char *text, size_t len, int *after_special,
                                ef_token_buf *out) {
    if (len == 0) return EF_OK;
    ef_status st;
    if (v->kind == EF_VOCAB_SPM)
        st = ef_spm_tokenize(v, text, len, v->add_space_prefix && *after_special, out);
    else
        st = ef_bpe_tokenize(v, text, len, out);
    *after_special = 0;
    return st;
}

static ef_status tokenize_into(const ef_vocab *v, const char *text, size_t len, uint32_t flags,
                               ef_token_buf *out) {
    int add_special = (flags & EF_TOKENIZE_ADD_SPECIAL) != 0;
    int parse_special = (flags & EF_TOKENIZE_PARSE_SPECIAL) != 0;
    if (add_special && v->add_bos) EF_TRY(ef_token_buf_push(out, v->bos));
    int after_special = 1;
    size_t plain_start = 0, pos = 0;
    while (pos < len) {
        size_t mlen = 0;
        int32_t id = v->n_special ? match_special(v, text + pos, len - pos, parse_special, &mlen) : -1;
        if (id < 0) {
            pos++;
            continue;
        }
        EF_TRY(tokenize_plain(v, text + plain_start, pos - plain_start, &after_special, out));
        EF_TRY(ef_token_buf_push(out, id));
        after_special = 1;
        pos += mlen;
        plain_start = pos;
    }
    EF_TRY(tokenize_plain(v, text + plain_start, len - plain_start, &after_special, out));
    if (add_special && v->add_eos) EF_TRY(ef_token_buf_push(out, v->eos));
    return EF_OK;
}

ef_status ef_vocab_tokenize(const ef_vocab *v, const char *text, size_t len, uint32_t flags,
                            int32_t **tokens, size_t *n) {
    if (!v || !tokens || !n || (!text && len))
        return ef_err(EF_ERR_INVALID_ARG, "ef_vocab_tokenize: NULL argument");
    *tokens = NULL;
    *n = 0;
    ef_token_buf out = {0};
    ef_status st = tokenize_into(v, text, len, flags, &out);
    if (st != EF_OK) {
        ef_token_buf_free(&out);
        return st;
    }
    *tokens = out.ids;
    *n = out.n;
    return EF_OK;
}
