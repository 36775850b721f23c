/* Byte-level BPE ("gpt2" vocabularies): the pre-tokenizer cuts the text
 * into chunks; each chunk's bytes become GPT-2 byte symbols, and adjacent
 * symbols merge by tokenizer.ggml.merges rank, lowest rank first and
 * leftmost on ties. With a consistent merge list this is the same as
 * GPT-2's loop (merge every occurrence of the best pair, repeat), and it
 * stays O(n log n) on long chunks such as runs of spaces. */
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/byte_symbols.h"
#include "tokenizer/merge_queue.h"
#include "tokenizer/vocab_internal.h"

/* Reused across the chunks of one call. Symbol i starts at chunk byte i, so
 * a symbol's bytes are [i, next) of the chunk. */
typedef struct bpe_work {
    const ef_vocab *v;
    ef_token_buf *out;
    char *sym_text;    /* [cap * 2] the chunk as byte symbols (1-2 bytes each) */
    size_t *text_off;  /* [cap] where byte i's symbol starts in sym_text */
    size_t *sym_len;   /* [cap] bytes of sym_text symbol i spans; 0 once merged away */
    int32_t *prev;     /* [cap] live-list neighbours, -1 at the ends */
    int32_t *next;     /* [cap] */
    char *key;         /* [cap * 2 + 2] "left right" lookup key */
    size_t cap;
    ef_merge_queue queue;
} bpe_work;

static ef_status reserve(bpe_work *w, size_t n) {
    if (n <= w->cap) return EF_OK;
    if (n > INT32_MAX / 4) return ef_err(EF_ERR_INVALID_ARG, "tokenizer: a chunk of %zu bytes is too long", n);
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n) cap *= 2;
    char *t = ef_realloc(w->sym_text, cap * 2);
    if (t) w->sym_text = t;
    size_t *o = t ? ef_realloc(w->text_off, cap * sizeof *o) : NULL;
    if (o) w->text_off = o;
    size_t *l = o ? ef_realloc(w->sym_len, cap * sizeof *l) : NULL;
    if (l) w->sym_len = l;
    int32_t *p = l ? ef_realloc(w->prev, cap * sizeof *p) : NULL;
    if (p) w->prev = p;
    int32_t *x = p ? ef_realloc(w->next, cap * sizeof *x) : NULL;
    if (x) w->next = x;
    char *k = x ? ef_realloc(w->key, cap * 2 + 2) : NULL;
    if (!k) return ef_err(EF_ERR_NO_MEMORY, "tokenizer: out of memory for a %zu-byte chunk", n);
    w->key = k;
    w->cap = cap;
    return EF_OK;
}

static ef_status try_pair(bpe_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return EF_OK;
    size_t ll = w->sym_len[left], rl = w->sym_len[right];
    memcpy(w->key, w->sym_text + w->text_off[left], ll);
    w->key[ll] = ' ';
    memcpy(w->key + ll + 1, w->sym_text + w->text_off[right], rl);
    int32_t rank = ef_strmap_get(&w->v->merge_rank, w->key, ll + 1 + rl);
    if (rank < 0) return EF_OK;
    ef_merge_cand c = {-(double)rank, left, right, ll + rl};
    return ef_merge_queue_push(&w->queue, c);
}

/* Emits symbol i (chunk bytes [first, end)): its token, else its bytes. */
static ef_status emit_symbol(bpe_work *w, const char *chunk, int32_t i, size_t end) {
    const ef_vocab *v = w->v;
    int32_t id = ef_strmap_get(&v->text_to_id, w->sym_text + w->text_off[i], w->sym_len[i]);
    if (id >= 0) return ef_token_buf_push(w->out, id);
    for (size_t b = (size_t)i; b < end; b++) {
        int32_t bt = v->byte_token[(uint8_t)chunk[b]];
        if (bt < 0) bt = v->unk;
        if (bt < 0)
            return ef_err(EF_ERR_FORMAT, "tokenizer: byte 0x%02X has no token and there is no "
                                         "unknown token", (uint8_t)chunk[b]);
        EF_TRY(ef_token_buf_push(w->out, bt));
    }
    return EF_OK;
}

static ef_status bpe_chunk(void *user, const char *chunk, size_t len) {
    bpe_work *w = user;
    EF_TRY(reserve(w, len));
    size_t t = 0;
    for (size_t i = 0; i < len; i++) {
        w->text_off[i] = t;
        w->sym_len[i] = ef_byte_symbol_utf8((uint8_t)chunk[i], w->sym_text + t);
        t += w->sym_len[i];
        w->prev[i] = (int32_t)i - 1;
        w->next[i] = i + 1 < len ? (int32_t)i + 1 : -1;
    }
    /* Llama 3 keeps a chunk that is already a token whole. */
    if (w->v->ignore_merges) {
        int32_t id = ef_strmap_get(&w->v->text_to_id, w->sym_text, t);
        if (id >= 0) return ef_token_buf_push(w->out, id);
    }
    w->queue.n = 0;
    for (size_t i = 0; i + 1 < len; i++) EF_TRY(try_pair(w, (int32_t)i, (int32_t)i + 1));
    ef_merge_cand c;
    while (ef_merge_queue_pop(&w->queue, &c)) {
        if (w->sym_len[c.left] == 0 || w->sym_len[c.right] == 0 ||
            w->sym_len[c.left] + w->sym_len[c.right] != c.size)
            continue; /* stale */
        w->sym_len[c.left] += w->sym_len[c.right];
        w->sym_len[c.right] = 0;
        w->next[c.left] = w->next[c.right];
        if (w->next[c.right] >= 0) w->prev[w->next[c.right]] = c.left;
        EF_TRY(try_pair(w, w->prev[c.left], c.left));
        EF_TRY(try_pair(w, c.left, w->next[c.left]));
    }
    for (int32_t i = 0; i >= 0; i = w->next[i]) {
        size_t end = w->next[i] >= 0 ? (size_t)w->next[i] : len;
        EF_TRY(emit_symbol(w, chunk, i, end));
    }
    return EF_OK;
}

ef_status ef_bpe_tokenize(const ef_vocab *v, const char *text, size_t len, ef_token_buf *out) {
    bpe_work w = {0};
    w.v = v;
    w.out = out;
    ef_status st = ef_pretokenize(v->pre, text, len, bpe_chunk, &w);
    ef_free(w.sym_text);
    ef_free(w.text_off);
    ef_free(w.sym_len);
    ef_free(w.prev);
    ef_free(w.next);
    ef_free(w.key);
    ef_merge_queue_free(&w.queue);
    return st;
}
