/* Byte-level BPE training (see bpe_train.h for the algorithm and the tie
 * rule). Each word keeps its current symbol ids; each adjacent pair keeps
 * its summed count and the words it may occur in. A merge rewrites only
 * the words of its pair and adjusts the counts of the neighbouring pairs,
 * so one merge costs about the occurrences it touches, not the corpus. */
#include "tokenizer/bpe_train.h"

#include <string.h>

#include "base/alloc.h"
#include "tokenizer/byte_symbols.h"
#include "tokenizer/gpt2_keys.h"
#include "tokenizer/merge_queue.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"

#define EOT_TEXT "<|endoftext|>"
#define EOT_ID 256
#define MAX_VOCAB (1 << 24)

typedef struct bpe_pair {
    int32_t left, right;
    int64_t count;             /* occurrences summed over words, weighted by word counts */
    int32_t *words;            /* words it may occur in (stale entries are skipped) */
    int32_t n_words, cap_words;
    uint8_t dirty;             /* count changed during this merge: queue it again */
    uint8_t merged;
} bpe_pair;

struct ef_bpe_trainer {
    ef_pretokenizer *pre;
    uint64_t n_bytes;
    int trained;

    /* distinct words: text (the key of word_ids), length, count */
    ef_strmap word_ids;
    char **word_text;
    uint32_t *word_len;
    int64_t *word_count;
    size_t n_words, cap_words;

    /* per word: its symbols at sym + sym_off[w], sym_len[w] of them */
    int32_t *sym;
    size_t *sym_off;
    int32_t *sym_len;
    uint32_t *stamp;           /* last merge that rewrote the word */
    uint32_t merge_no;

    /* pairs, found by (left, right) through an open-addressing table */
    bpe_pair *pairs;
    size_t n_pairs, cap_pairs;
    int32_t *slots;            /* pair index + 1; 0 = empty; slot_cap a power of two */
    size_t slot_cap;
    int32_t *dirty;
    size_t n_dirty, cap_dirty;
    ef_merge_queue queue;

    /* the vocabulary being built */
    char **tokens;             /* [vocab_size] */
    int32_t n_tokens;
    ef_strmap token_ids;       /* token text -> id */
    char **merges;             /* "left right" */
    size_t n_merges, cap_merges;
};

static ef_status oom(const char *what) {
    return ef_err(EF_ERR_NO_MEMORY, "BPE training: out of memory (%s)", what);
}

/* Grows *arr (elements of `size` bytes) to hold at least need elements. */
static int grow(void **arr, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 1;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *na = ef_realloc(*arr, nc * size);
    if (!na) return 0;
    *arr = na;
    *cap = nc;
    return 1;
}

ef_status ef_bpe_trainer_create(ef_bpe_trainer **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_bpe_trainer_create: NULL argument");
    *out = NULL;
    ef_bpe_trainer *t = ef_calloc(1, sizeof *t);
    if (!t) return oom("trainer");
    ef_status st = ef_pretokenizer_create(EF_PRE_GPT2, &t->pre);
    if (st == EF_OK) st = ef_strmap_init(&t->word_ids, 1024);
    if (st != EF_OK) {
        ef_bpe_trainer_free(t);
        return st;
    }
    *out = t;
    return EF_OK;
}

void ef_bpe_trainer_free(ef_bpe_trainer *t) {
    if (!t) return;
    ef_pretokenizer_free(t->pre);
    ef_strmap_free(&t->word_ids);
    for (size_t i = 0; i < t->n_words; i++) ef_free(t->word_text[i]);
    ef_free(t->word_text);
    ef_free(t->word_len);
    ef_free(t->word_count);
    ef_free(t->sym);
    ef_free(t->sym_off);
    ef_free(t->sym_len);
    ef_free(t->stamp);
    for (size_t i = 0; i < t->n_pairs; i++) ef_free(t->pairs[i].words);
    ef_free(t->pairs);
    ef_free(t->slots);
    ef_free(t->dirty);
    ef_merge_queue_free(&t->queue);
    for (int32_t i = 0; t->tokens && i < t->n_tokens; i++) ef_free(t->tokens[i]);
    ef_free(t->tokens);
    ef_strmap_free(&t->token_ids);
    for (size_t i = 0; i < t->n_merges; i++) ef_free(t->merges[i]);
    ef_free(t->merges);
    ef_free(t);
}

/* ---- counting words ---- */

static ef_status add_word(void *user, const char *chunk, size_t len) {
    ef_bpe_trainer *t = user;
    if (len == 0) return EF_OK;
    if (len > INT32_MAX) return ef_err(EF_ERR_INVALID_ARG, "BPE training: a %llu-byte word", (unsigned long long)len);
    int32_t id = ef_strmap_get(&t->word_ids, chunk, len);
    if (id >= 0) {
        t->word_count[id]++;
        return EF_OK;
    }
    if (t->n_words >= INT32_MAX - 1) return ef_err(EF_ERR_INVALID_ARG, "BPE training: too many distinct words");
    size_t cap = t->cap_words;
    if (!grow((void **)&t->word_text, &cap, t->n_words + 1, sizeof *t->word_text)) return oom("words");
    cap = t->cap_words;
    if (!grow((void **)&t->word_len, &cap, t->n_words + 1, sizeof *t->word_len)) return oom("words");
    cap = t->cap_words;
    if (!grow((void **)&t->word_count, &cap, t->n_words + 1, sizeof *t->word_count)) return oom("words");
    t->cap_words = cap;
    char *text = ef_strndup(chunk, len);
    if (!text) return oom("words");
    int inserted = 0;
    ef_status st = ef_strmap_put(&t->word_ids, text, len, (int32_t)t->n_words, &inserted);
    if (st != EF_OK) {
        ef_free(text);
        return st;
    }
    t->word_text[t->n_words] = text;
    t->word_len[t->n_words] = (uint32_t)len;
    t->word_count[t->n_words] = 1;
    t->n_words++;
    return EF_OK;
}

ef_status ef_bpe_trainer_add_text(ef_bpe_trainer *t, const char *text, size_t len) {
    if (!t || (!text && len)) return ef_err(EF_ERR_INVALID_ARG, "ef_bpe_trainer_add_text: NULL argument");
    if (t->trained) return ef_err(EF_ERR_INVALID_ARG, "BPE training: text added after training");
    t->n_bytes += len;
    return len ? ef_pretokenize(t->pre, text, len, add_word, t) : EF_OK;
}

uint64_t ef_bpe_trainer_n_bytes(const ef_bpe_trainer *t) {
    return t ? t->n_bytes : 0;
}

/* ---- pair table ---- */

static size_t pair_slot(const ef_bpe_trainer *t, int32_t a, int32_t b) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9E3779B97F4A7C15ull;
    size_t mask = t->slot_cap - 1, i = (size_t)(k >> 32) & mask;
    while (t->slots[i]) {
        const bpe_pair *p = &t->pairs[t->slots[i] - 1];
        if (p->left == a && p->right == b) break;
        i = (i + 1) & mask;
    }
    return i;
}

static ef_status rehash(ef_bpe_trainer *t, size_t cap) {
    int32_t *old = t->slots;
    size_t old_cap = t->slot_cap;
    t->slots = ef_calloc(cap, sizeof *t->slots);
    if (!t->slots) {
        t->slots = old;
        return oom("pair table");
    }
    t->slot_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i]) {
            const bpe_pair *p = &t->pairs[old[i] - 1];
            t->slots[pair_slot(t, p->left, p->right)] = old[i];
        }
    ef_free(old);
    return EF_OK;
}

/* The index of pair (a, b), added with count 0 when new. */
static ef_status pair_index(ef_bpe_trainer *t, int32_t a, int32_t b, int32_t *out) {
    if ((t->n_pairs + 1) * 2 > t->slot_cap) EF_TRY(rehash(t, t->slot_cap ? t->slot_cap * 2 : 1024));
    size_t s = pair_slot(t, a, b);
    if (!t->slots[s]) {
        if (t->n_pairs >= INT32_MAX - 1) return ef_err(EF_ERR_INVALID_ARG, "BPE training: too many pairs");
        if (!grow((void **)&t->pairs, &t->cap_pairs, t->n_pairs + 1, sizeof *t->pairs)) return oom("pairs");
        t->pairs[t->n_pairs] = (bpe_pair){.left = a, .right = b};
        t->slots[s] = (int32_t)++t->n_pairs;
    }
    *out = t->slots[s] - 1;
    return EF_OK;
}

/* Adds delta occurrences of (a, b) in word w; remembers the pair as changed. */
static ef_status pair_change(ef_bpe_trainer *t, int32_t a, int32_t b, int64_t delta, int32_t w) {
    int32_t i;
    EF_TRY(pair_index(t, a, b, &i));
    bpe_pair *p = &t->pairs[i];
    if (!p->dirty) {
        if (!grow((void **)&t->dirty, &t->cap_dirty, t->n_dirty + 1, sizeof *t->dirty)) return oom("pairs");
        t->dirty[t->n_dirty++] = i;
        p->dirty = 1;
    }
    p->count += delta;
    if (delta > 0 && (p->n_words == 0 || p->words[p->n_words - 1] != w)) {
        size_t cap = (size_t)p->cap_words;
        if (!grow((void **)&p->words, &cap, (size_t)p->n_words + 1, sizeof *p->words)) return oom("pair index");
        p->cap_words = (int32_t)cap;
        p->words[p->n_words++] = w;
    }
    return EF_OK;
}

/* Queues every changed pair that still occurs, with its current count. */
static ef_status queue_dirty(ef_bpe_trainer *t) {
    for (size_t k = 0; k < t->n_dirty; k++) {
        bpe_pair *p = &t->pairs[t->dirty[k]];
        p->dirty = 0;
        if (p->merged || p->count <= 0) continue;
        const ef_merge_cand c = {.priority = (double)p->count, .left = p->left, .right = p->right};
        EF_TRY(ef_merge_queue_push(&t->queue, c));
    }
    t->n_dirty = 0;
    return EF_OK;
}

/* ---- training ---- */

static ef_status init_symbols(ef_bpe_trainer *t) {
    size_t total = 0;
    for (size_t w = 0; w < t->n_words; w++) total += t->word_len[w];
    t->sym = ef_malloc(total * sizeof *t->sym);
    t->sym_off = ef_malloc(t->n_words * sizeof *t->sym_off);
    t->sym_len = ef_malloc(t->n_words * sizeof *t->sym_len);
    t->stamp = ef_calloc(t->n_words, sizeof *t->stamp);
    if (!t->sym || !t->sym_off || !t->sym_len || !t->stamp) return oom("word symbols");
    size_t off = 0;
    for (size_t w = 0; w < t->n_words; w++) {
        t->sym_off[w] = off;
        t->sym_len[w] = (int32_t)t->word_len[w];
        for (uint32_t i = 0; i < t->word_len[w]; i++) t->sym[off + i] = (uint8_t)t->word_text[w][i];
        for (uint32_t i = 0; i + 1 < t->word_len[w]; i++)
            EF_TRY(pair_change(t, t->sym[off + i], t->sym[off + i + 1], t->word_count[w], (int32_t)w));
        off += t->word_len[w];
    }
    return queue_dirty(t);
}

/* Adds a token; takes ownership of text (freed on failure). */
static ef_status add_token(ef_bpe_trainer *t, char *text, size_t len) {
    ef_status st = ef_strmap_put(&t->token_ids, text, len, t->n_tokens, NULL);
    if (st != EF_OK) {
        ef_free(text);
        return st;
    }
    t->tokens[t->n_tokens++] = text;
    return EF_OK;
}

static ef_status init_vocab(ef_bpe_trainer *t, int32_t vocab_size) {
    t->tokens = ef_calloc((size_t)vocab_size, sizeof *t->tokens);
    if (!t->tokens) return oom("tokens");
    EF_TRY(ef_strmap_init(&t->token_ids, (size_t)vocab_size));
    for (int b = 0; b < 256; b++) {
        char sym[2];
        size_t n = ef_byte_symbol_utf8((uint8_t)b, sym);
        char *text = ef_strndup(sym, n);
        if (!text) return oom("tokens");
        EF_TRY(add_token(t, text, n));
    }
    char *eot = ef_strdup(EOT_TEXT);
    if (!eot) return oom("tokens");
    return add_token(t, eot, strlen(EOT_TEXT));
}

/* Records the merge "a b" and finds or adds the token a+b as *z. */
static ef_status record_merge(ef_bpe_trainer *t, int32_t a, int32_t b, int32_t *z) {
    const char *ta = t->tokens[a], *tb = t->tokens[b];
    size_t la = strlen(ta), lb = strlen(tb);
    char *merge = ef_malloc(la + lb + 2);
    if (!merge || !grow((void **)&t->merges, &t->cap_merges, t->n_merges + 1, sizeof *t->merges)) {
        ef_free(merge);
        return oom("merges");
    }
    memcpy(merge, ta, la);
    merge[la] = ' ';
    memcpy(merge + la + 1, tb, lb + 1);
    t->merges[t->n_merges++] = merge;
    char *text = ef_malloc(la + lb + 1);
    if (!text) return oom("tokens");
    memcpy(text, ta, la);
    memcpy(text + la, tb, lb + 1);
    *z = ef_strmap_get(&t->token_ids, text, la + lb);
    if (*z >= 0) { /* the same text from another merge order: reuse its id */
        ef_free(text);
        return EF_OK;
    }
    *z = t->n_tokens;
    return add_token(t, text, la + lb);
}

/* Replaces every (a, b) of the pair's words by z, adjusting the neighbours' counts. */
static ef_status apply_merge(ef_bpe_trainer *t, int32_t pair, int32_t z) {
    bpe_pair *p = &t->pairs[pair];
    const int32_t a = p->left, b = p->right;
    int32_t *words = p->words;
    const int32_t n = p->n_words;
    p->words = NULL; /* detached: z never forms (a, b) again */
    p->n_words = p->cap_words = 0;
    p->merged = 1;
    t->merge_no++;
    ef_status st = EF_OK;
    for (int32_t k = 0; st == EF_OK && k < n; k++) {
        const int32_t w = words[k];
        if (t->stamp[w] == t->merge_no) continue;
        t->stamp[w] = t->merge_no;
        int32_t *s = t->sym + t->sym_off[w];
        int32_t len = t->sym_len[w];
        const int64_t c = t->word_count[w];
        for (int32_t i = 0; st == EF_OK && i + 1 < len; i++) {
            if (s[i] != a || s[i + 1] != b) continue;
            if (i > 0) {
                st = pair_change(t, s[i - 1], a, -c, w);
                if (st == EF_OK) st = pair_change(t, s[i - 1], z, c, w);
            }
            if (st == EF_OK && i + 2 < len) {
                st = pair_change(t, b, s[i + 2], -c, w);
                if (st == EF_OK) st = pair_change(t, z, s[i + 2], c, w);
            }
            s[i] = z;
            memmove(s + i + 1, s + i + 2, (size_t)(len - i - 2) * sizeof *s);
            len--;
        }
        t->sym_len[w] = len;
    }
    ef_free(words);
    t->pairs[pair].count = 0;
    return st;
}

static ef_status learn(ef_bpe_trainer *t, int32_t vocab_size) {
    EF_TRY(init_vocab(t, vocab_size));
    EF_TRY(init_symbols(t));
    while (t->n_tokens < vocab_size) {
        ef_merge_cand c;
        if (!ef_merge_queue_pop(&t->queue, &c))
            return ef_err(EF_ERR_INVALID_ARG,
                          "BPE training: the text has too few distinct byte pairs for %d tokens "
                          "(it stops at %d)", (int)vocab_size, (int)t->n_tokens);
        int32_t pair;
        EF_TRY(pair_index(t, c.left, c.right, &pair));
        const bpe_pair *p = &t->pairs[pair];
        if (p->merged || p->count <= 0 || (double)p->count != c.priority) continue; /* stale */
        int32_t z = -1;
        EF_TRY(record_merge(t, c.left, c.right, &z));
        EF_TRY(apply_merge(t, pair, z));
        EF_TRY(queue_dirty(t));
    }
    return EF_OK;
}

static ef_status write_vocab(const ef_bpe_trainer *t, struct ef_gguf_writer *w) {
    int32_t *types = ef_malloc((size_t)t->n_tokens * sizeof *types);
    if (!types) return oom("token types");
    for (int32_t i = 0; i < t->n_tokens; i++) types[i] = i == EOT_ID ? EF_TOKEN_CONTROL : EF_TOKEN_NORMAL;
    const ef_gpt2_keys k = {.tokens = (const char *const *)t->tokens, .types = types,
                            .n_tokens = (uint64_t)t->n_tokens,
                            .merges = (const char *const *)t->merges, .n_merges = t->n_merges,
                            .eot = EOT_ID};
    ef_status st = ef_vocab_write_gpt2_keys(w, &k);
    ef_free(types);
    return st;
}

ef_status ef_bpe_trainer_write(ef_bpe_trainer *t, int32_t vocab_size, struct ef_gguf_writer *w) {
    if (!t || !w) return ef_err(EF_ERR_INVALID_ARG, "ef_bpe_trainer_write: NULL argument");
    if (vocab_size < EF_BPE_TRAIN_MIN_VOCAB || vocab_size > MAX_VOCAB)
        return ef_err(EF_ERR_INVALID_ARG, "BPE training: vocabulary size %d (need %d..%d: 256 bytes, "
                      "<|endoftext|> and the merges)", (int)vocab_size, EF_BPE_TRAIN_MIN_VOCAB, MAX_VOCAB);
    if (t->n_words == 0) return ef_err(EF_ERR_INVALID_ARG, "BPE training: no text to train on");
    if (t->trained) return ef_err(EF_ERR_INVALID_ARG, "BPE training: already trained");
    t->trained = 1;
    EF_TRY(learn(t, vocab_size));
    return write_vocab(t, w);
}
