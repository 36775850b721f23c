/* Token ids back to bytes: SentencePiece pieces turn "▁" into spaces and
 * <0xAB> pieces into raw bytes; byte-level BPE tokens map each GPT-2 byte
 * symbol back to its byte. Control tokens render as "" unless asked. */
#include <string.h>

#include "tokenizer/byte_symbols.h"
#include "tokenizer/utf8.h"
#include "base/sink.h"
#include "tokenizer/vocab_internal.h"

typedef ef_sink out_sink;

static void put(out_sink *o, const char *s, size_t n) { ef_sink_put(o, s, n); }

static void put_spm_text(out_sink *o, const char *s, size_t n, int strip_leading_space) {
    size_t i = 0;
    if (strip_leading_space && n >= 3 && memcmp(s, "\xE2\x96\x81", 3) == 0) i = 3;
    size_t run = i; /* start of bytes not yet written */
    while (i < n) {
        if (n - i >= 3 && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            put(o, s + run, i - run);
            put(o, " ", 1);
            i += 3;
            run = i;
        } else {
            i++;
        }
    }
    put(o, s + run, n - run);
}

static void put_byte_symbols(out_sink *o, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t cl = ef_utf8_seq_len(s + i, n - i);
        int b = cl ? ef_symbol_to_byte(ef_utf8_decode(s + i, cl)) : -1;
        if (cl == 0) cl = 1;
        if (b >= 0) {
            char c = (char)b;
            put(o, &c, 1);
        } else {
            put(o, s + i, cl); /* not a byte symbol: keep the text itself */
        }
        i += cl;
    }
}

static void put_token(const ef_vocab *v, int32_t id, uint32_t flags, int strip_leading_space,
                      out_sink *o) {
    const ef_token_info *t = &v->tokens[id];
    const char *s = ef_vocab_text(v, id);
    int render = (flags & EF_DETOKENIZE_RENDER_SPECIAL) != 0;
    switch (t->type) {
    case EF_TOKEN_CONTROL:
        if (render) put(o, s, t->len);
        return;
    case EF_TOKEN_UNKNOWN:
        if (render || v->kind == EF_VOCAB_BPE) put(o, s, t->len);
        else put(o, " \xE2\x81\x87 ", 5); /* SentencePiece's surface for <unk>: " ⁇ " */
        return;
    default:
        break;
    }
    if (v->kind == EF_VOCAB_SPM) {
        if (v->byte_of_token[id] >= 0) {
            char c = (char)v->byte_of_token[id];
            put(o, &c, 1);
        } else {
            put_spm_text(o, s, t->len, strip_leading_space);
        }
    } else if (t->type == EF_TOKEN_USER_DEFINED) {
        put(o, s, t->len); /* added tokens hold plain text, not byte symbols */
    } else {
        put_byte_symbols(o, s, t->len);
    }
}

static ef_status finish(const out_sink *o, size_t cap, size_t *len) {
    *len = o->len;
    if (o->len > cap || (!o->buf && o->len > 0))
        return ef_err(EF_ERR_BUFFER_TOO_SMALL, "%zu bytes needed, buffer holds %zu", o->len, cap);
    return EF_OK;
}

ef_status ef_vocab_token_bytes(const ef_vocab *v, int32_t id, uint32_t flags, char *buf,
                               size_t cap, size_t *len) {
    if (!v || !len) return ef_err(EF_ERR_INVALID_ARG, "ef_vocab_token_bytes: NULL argument");
    if (id < 0 || id >= v->n_tokens)
        return ef_err(EF_ERR_INVALID_ARG, "token id %d is out of range [0, %d)", id, v->n_tokens);
    out_sink o = {buf, buf ? cap : 0, 0};
    put_token(v, id, flags, 0, &o);
    return finish(&o, cap, len);
}

ef_status ef_vocab_detokenize(const ef_vocab *v, const int32_t *tokens, size_t n, uint32_t flags,
                              char *buf, size_t cap, size_t *len) {
    if (!v || !len || (!tokens && n)) return ef_err(EF_ERR_INVALID_ARG, "ef_vocab_detokenize: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= v->n_tokens)
            return ef_err(EF_ERR_INVALID_ARG, "tokens[%zu] = %d is out of range [0, %d)", i,
                          tokens[i], v->n_tokens);
    out_sink o = {buf, buf ? cap : 0, 0};
    /* SentencePiece drops the dummy prefix's space from the first piece
     * (leading control tokens such as BOS do not count). */
    int at_start = v->kind == EF_VOCAB_SPM && v->add_space_prefix;
    for (size_t i = 0; i < n; i++) {
        put_token(v, tokens[i], flags, at_start, &o);
        if (v->tokens[tokens[i]].type != EF_TOKEN_CONTROL) at_start = 0;
    }
    return finish(&o, cap, len);
}
