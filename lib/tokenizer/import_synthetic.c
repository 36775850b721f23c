/* ef_vocab_write_synthetic: a self-contained byte-level BPE vocabulary for
 * random-weight test models. Ids 0..255 are the GPT-2 byte symbols (in
 * byte order), 256..259 control tokens, and the rest merges built from
 * common English letter pairs and words (each word spelled out left to
 * right, with and without its leading space "Ġ"), then ever longer letter
 * strings until exactly n_vocab tokens exist. */
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/byte_symbols.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"

static const char *const k_controls[] = {"<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"};
#define N_CONTROLS 4
#define FIRST_MERGED (256 + N_CONTROLS)

static const char *const k_pairs[] = {
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ti", "es", "or", "te", "of",
    "ed", "is", "it", "al", "ar", "st", "to", "nt", "ng", "se", "ha", "as", "ou", "io", "le",
    "ve", "co", "me", "de", "hi", "ri", "ro", "ic", "ne", "ea", "ra", "ce", "li", "ch", "ll",
    "be", "ma", "si", "om", "ur"};
static const char *const k_words[] = {
    "the", "of", "and", "to", "in", "is", "was", "that", "for", "it", "with", "as", "his", "on",
    "be", "at", "by", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which",
    "one", "you", "were", "her", "all", "she", "there", "would", "their", "we", "him", "been",
    "has", "when", "who", "will", "more", "no", "if", "out", "so", "said", "what", "up", "its",
    "about", "into", "than", "them", "can", "only", "other", "new", "some", "could", "time",
    "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like", "our",
    "over", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before",
    "must", "through", "back", "years", "where", "much", "your", "way", "well", "down",
    "should", "because", "each", "just", "those", "people", "how", "too", "little", "state",
    "good", "very", "make", "world", "still", "own", "see", "men", "work", "long", "get",
    "here", "between", "both", "life", "being", "under", "never", "day", "same", "another",
    "know", "while", "last", "might", "us", "great", "old", "year", "off", "come", "since",
    "against", "go", "came", "right", "used", "take", "three", "The", "It", "He", "In", "This",
    "model", "token", "edge", "former"};
static const char k_letters[] = "etaoinshrdlucmfwypvbgkjqxz";

typedef struct synth {
    int32_t n_vocab;
    int32_t n;           /* tokens so far */
    char **tokens;       /* [n_vocab] owned texts */
    char **merges;       /* [n_vocab] owned "left right" texts */
    int32_t n_merges;
    ef_strmap seen;      /* token text -> id */
} synth;

static ef_status add_token(synth *s, const char *text, size_t len, int32_t *id) {
    char *t = ef_strndup(text, len);
    if (!t) return ef_err(EF_ERR_NO_MEMORY, "synthetic vocabulary: out of memory");
    int inserted = 0;
    ef_status st = ef_strmap_put(&s->seen, t, len, s->n, &inserted);
    if (st != EF_OK || !inserted) {
        ef_free(t);
        return st;
    }
    s->tokens[s->n] = t;
    *id = s->n++;
    return EF_OK;
}

/* Adds the token left+right with its merge, unless it exists or the vocabulary is full. */
static ef_status add_merge(synth *s, const char *left, const char *right) {
    if (s->n >= s->n_vocab) return EF_OK;
    size_t ll = strlen(left), rl = strlen(right);
    char buf[256];
    if (ll + rl + 2 > sizeof buf) return EF_OK;
    memcpy(buf, left, ll);
    memcpy(buf + ll, right, rl + 1);
    if (ef_strmap_get(&s->seen, buf, ll + rl) >= 0) return EF_OK;
    char *m = ef_malloc(ll + rl + 2);
    if (!m) return ef_err(EF_ERR_NO_MEMORY, "synthetic vocabulary: out of memory");
    memcpy(m, left, ll);
    m[ll] = ' ';
    memcpy(m + ll + 1, right, rl + 1);
    int32_t id = -1;
    ef_status st = add_token(s, buf, ll + rl, &id);
    if (st != EF_OK || id < 0) {
        ef_free(m);
        return st;
    }
    s->merges[s->n_merges++] = m;
    return EF_OK;
}

/* Spells a word out as merges: ((w0 w1) w2) ... The word is in byte symbols. */
static ef_status add_word(synth *s, const char *word) {
    char prefix[256];
    size_t plen = 0;
    const char *p = word;
    /* First symbol: one UTF-8 character ("Ġ" is two bytes). */
    size_t first = ((uint8_t)*p >= 0xC0) ? 2 : 1;
    if (strlen(word) >= sizeof prefix) return EF_OK;
    memcpy(prefix, p, first);
    plen = first;
    prefix[plen] = '\0';
    p += first;
    while (*p && s->n < s->n_vocab) {
        char next[2] = {*p, '\0'};
        EF_TRY(add_merge(s, prefix, next));
        prefix[plen++] = *p++;
        prefix[plen] = '\0';
    }
    return EF_OK;
}

static ef_status build(synth *s) {
    for (int b = 0; b < 256; b++) {
        char sym[3] = {0};
        size_t n = ef_byte_symbol_utf8((uint8_t)b, sym);
        int32_t id;
        EF_TRY(add_token(s, sym, n, &id));
    }
    for (int i = 0; i < N_CONTROLS; i++) {
        int32_t id;
        EF_TRY(add_token(s, k_controls[i], strlen(k_controls[i]), &id));
    }
    for (size_t i = 0; i < sizeof k_pairs / sizeof *k_pairs; i++) {
        char l[2] = {k_pairs[i][0], 0}, r[2] = {k_pairs[i][1], 0};
        EF_TRY(add_merge(s, l, r));
    }
    for (size_t i = 0; i < sizeof k_words / sizeof *k_words && s->n < s->n_vocab; i++) {
        char spaced[64] = "\xC4\xA0"; /* "Ġ" = the byte symbol of ' ' */
        strncat(spaced, k_words[i], sizeof spaced - 3);
        EF_TRY(add_word(s, spaced));
        EF_TRY(add_word(s, k_words[i]));
    }
    /* Then extend existing merged tokens by one letter each, breadth first. */
    for (int32_t base = FIRST_MERGED; s->n < s->n_vocab; base++) {
        if (base >= s->n) return ef_err(EF_ERR_INTERNAL, "synthetic vocabulary: ran out of tokens");
        for (const char *c = k_letters; *c && s->n < s->n_vocab; c++) {
            char r[2] = {*c, 0};
            EF_TRY(add_merge(s, s->tokens[base], r));
        }
    }
    return EF_OK;
}

static ef_status write_keys(struct ef_gguf_writer *w, const synth *s) {
    int32_t *types = ef_malloc((size_t)s->n_vocab * sizeof *types);
    if (!types) return ef_err(EF_ERR_NO_MEMORY, "synthetic vocabulary: out of memory");
    for (int32_t i = 0; i < s->n_vocab; i++)
        types[i] = i >= 256 && i < FIRST_MERGED ? EF_TOKEN_CONTROL : EF_TOKEN_NORMAL;
    ef_status st = ef_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (st == EF_OK) st = ef_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    if (st == EF_OK)
        st = ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)s->tokens,
                                        NULL, (uint64_t)s->n_vocab);
    if (st == EF_OK)
        st = ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, types,
                                    (uint64_t)s->n_vocab);
    if (st == EF_OK)
        st = ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)s->merges,
                                        NULL, (uint64_t)s->n_merges);
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 256);
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 256);
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 257);
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", 259);
    if (st == EF_OK) st = ef_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
    ef_free(types);
    return st;
}

ef_status ef_vocab_write_synthetic(struct ef_gguf_writer *w, int32_t n_vocab) {
    if (!w) return ef_err(EF_ERR_INVALID_ARG, "ef_vocab_write_synthetic: NULL writer");
    if (n_vocab < FIRST_MERGED || n_vocab > (1 << 24))
        return ef_err(EF_ERR_INVALID_ARG, "ef_vocab_write_synthetic: n_vocab = %d (need %d..%d)",
                      n_vocab, FIRST_MERGED, 1 << 24);
    synth s = {0};
    s.n_vocab = n_vocab;
    s.tokens = ef_calloc((size_t)n_vocab, sizeof *s.tokens);
    s.merges = ef_calloc((size_t)n_vocab, sizeof *s.merges);
    ef_status st = s.tokens && s.merges ? ef_strmap_init(&s.seen, (size_t)n_vocab)
                                        : ef_err(EF_ERR_NO_MEMORY, "synthetic vocabulary: out of memory");
    if (st == EF_OK) st = build(&s);
    if (st == EF_OK) st = write_keys(w, &s);
    for (int32_t i = 0; s.tokens && i < s.n; i++) ef_free(s.tokens[i]);
    for (int32_t i = 0; s.merges && i < s.n_merges; i++) ef_free(s.merges[i]);
    ef_free(s.tokens);
    ef_free(s.merges);
    ef_strmap_free(&s.seen);
    return st;
}
