/* SentencePiece-style BPE ("llama" vocabularies), as SentencePiece's
 * bpe_model.cc and llama.cpp's SPM tokenizer do it: the text, with a dummy
 * space prefix and every space written as U+2581 "▁", starts as one symbol
 * per UTF-8 character; the adjacent pair whose concatenation is a piece with
 * the best score merges first (leftmost on ties), until no pair is a piece.
 * Symbols that are not tokens fall back to <0xAB> byte tokens, or to the
 * unknown token when the vocabulary has no byte tokens. Invalid UTF-8 bytes
 * are symbols of their own, so they always take the byte fallback. */
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/merge_queue.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_internal.h"

static const char k_space_mark[3] = {'\xE2', '\x96', '\x81'}; /* U+2581 */

typedef struct spm_symbol {
    size_t off;   /* start in the escaped text */
    size_t len;   /* bytes; 0 once merged into its left neighbour */
    int32_t prev; /* neighbours in the live list, -1 at the ends */
    int32_t next;
} spm_symbol;

typedef struct spm_work {
    const ef_vocab *v;
    const char *text;     /* [text_len] escaped text */
    spm_symbol *sym;      /* [n_sym] */
    ef_merge_queue queue;
} spm_work;

/* Pieces a merge may produce: SentencePiece merges only into normal,
 * user-defined and unused pieces (never control, unknown or byte pieces). */
static int mergeable(int32_t type) {
    return type == EF_TOKEN_NORMAL || type == EF_TOKEN_USER_DEFINED || type == EF_TOKEN_UNUSED;
}

static ef_status try_pair(spm_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return EF_OK;
    size_t size = w->sym[left].len + w->sym[right].len;
    int32_t id = ef_strmap_get(&w->v->text_to_id, w->text + w->sym[left].off, size);
    if (id < 0 || !mergeable(w->v->tokens[id].type)) return EF_OK;
    ef_merge_cand c = {w->v->tokens[id].score, left, right, size};
    return ef_merge_queue_push(&w->queue, c);
}

static ef_status emit_symbol(const ef_vocab *v, const char *s, size_t len, ef_token_buf *out) {
    int32_t id = ef_strmap_get(&v->text_to_id, s, len);
    if (id >= 0) return ef_token_buf_push(out, id);
    /* One unknown token per symbol when bytes have no tokens. */
    int all_bytes = 1;
    for (size_t i = 0; i < len; i++) all_bytes &= v->byte_token[(uint8_t)s[i]] >= 0;
    if (!all_bytes) {
        if (v->unk < 0)
            return ef_err(EF_ERR_FORMAT, "tokenizer: text has a character with no token, and the "
                                         "vocabulary has neither byte tokens nor an unknown token");
        return ef_token_buf_push(out, v->unk);
    }
    for (size_t i = 0; i < len; i++) EF_TRY(ef_token_buf_push(out, v->byte_token[(uint8_t)s[i]]));
    return EF_OK;
}

static ef_status run_merges(spm_work *w, int32_t n_sym, ef_token_buf *out) {
    for (int32_t i = 0; i + 1 < n_sym; i++) EF_TRY(try_pair(w, i, i + 1));
    ef_merge_cand c;
    while (ef_merge_queue_pop(&w->queue, &c)) {
        spm_symbol *l = &w->sym[c.left], *r = &w->sym[c.right];
        /* Stale: one side already merged elsewhere. */
        if (l->len == 0 || r->len == 0 || l->len + r->len != c.size) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = c.left;
        EF_TRY(try_pair(w, l->prev, c.left));
        EF_TRY(try_pair(w, c.left, l->next));
    }
    for (int32_t i = 0; i >= 0 && i < n_sym; i = w->sym[i].next)
        EF_TRY(emit_symbol(w->v, w->text + w->sym[i].off, w->sym[i].len, out));
    return EF_OK;
}

ef_status ef_spm_tokenize(const ef_vocab *v, const char *text, size_t len, int add_prefix,
                          ef_token_buf *out) {
    /* Escape: optional leading "▁", each ' ' -> "▁". */
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t esc_len = len + 2 * spaces + (add_prefix ? 3 : 0);
    if (esc_len > INT32_MAX) return ef_err(EF_ERR_INVALID_ARG, "tokenizer: text of %zu bytes is too long", len);
    char *esc = ef_malloc(esc_len);
    spm_symbol *sym = ef_malloc(esc_len * sizeof *sym);
    if (!esc || !sym) {
        ef_free(esc);
        ef_free(sym);
        return ef_err(EF_ERR_NO_MEMORY, "tokenizer: out of memory for %zu bytes of text", len);
    }
    size_t k = 0;
    if (add_prefix) {
        memcpy(esc, k_space_mark, 3);
        k = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + k, k_space_mark, 3);
            k += 3;
        } else {
            esc[k++] = text[i];
        }
    }
    /* One symbol per character; an invalid byte is a character of its own. */
    int32_t n_sym = 0;
    for (size_t i = 0; i < esc_len;) {
        size_t cl = ef_utf8_seq_len(esc + i, esc_len - i);
        if (cl == 0) cl = 1;
        sym[n_sym] = (spm_symbol){i, cl, n_sym - 1, -1};
        if (n_sym > 0) sym[n_sym - 1].next = n_sym;
        n_sym++;
        i += cl;
    }
    spm_work w = {v, esc, sym, {0}};
    ef_status st = run_merges(&w, n_sym, out);
    ef_merge_queue_free(&w.queue);
    ef_free(sym);
    ef_free(esc);
    return st;
}
