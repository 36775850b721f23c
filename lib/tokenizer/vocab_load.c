/* Builds an ef_vocab from tokenizer.ggml.* metadata (specs.md §2), checking
 * every count, id and type before the tokenizers rely on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "tokenizer/byte_symbols.h"
#include "tokenizer/vocab_internal.h"

#define KEY_MODEL   "tokenizer.ggml.model"
#define KEY_TOKENS  "tokenizer.ggml.tokens"
#define KEY_SCORES  "tokenizer.ggml.scores"
#define KEY_TYPES   "tokenizer.ggml.token_type"
#define KEY_MERGES  "tokenizer.ggml.merges"
#define KEY_PRE     "tokenizer.ggml.pre"

/* ---- metadata readers that turn absence into defaults and report bad values ---- */

/* An optional token id: -1 when absent (or stored as -1 / 0xFFFFFFFF). */
static ef_status read_token_id(const ef_gguf *g, const char *key, int32_t n_tokens, int32_t *out) {
    uint64_t u = 0;
    ef_status st = ef_gguf_get_u64(g, key, &u);
    if (st == EF_ERR_NOT_FOUND) {
        ef_err_clear();
        return EF_OK; /* keep the default in *out */
    }
    if (st != EF_OK) {
        int32_t i = 0;
        if (ef_gguf_get_i32(g, key, &i) == EF_OK && i == -1) {
            ef_err_clear();
            *out = -1;
            return EF_OK;
        }
        return ef_err(EF_ERR_FORMAT, "%s: not a token id (needs an integer in [0, %d))", key,
                      n_tokens);
    }
    if (u == UINT32_MAX) {
        *out = -1;
        return EF_OK;
    }
    if (u >= (uint64_t)n_tokens)
        return ef_err(EF_ERR_FORMAT, "%s = %llu is out of range: the vocabulary has %d tokens", key,
                      (unsigned long long)u, n_tokens);
    *out = (int32_t)u;
    return EF_OK;
}

/* An optional bool; *out keeps its default when absent. */
static ef_status read_flag(const ef_gguf *g, const char *key, int *out) {
    int b = 0;
    ef_status st = ef_gguf_get_bool(g, key, &b);
    if (st == EF_ERR_NOT_FOUND) {
        ef_err_clear();
        return EF_OK;
    }
    if (st != EF_OK) return ef_err(EF_ERR_FORMAT, "%s: expected a bool", key);
    *out = b != 0;
    return EF_OK;
}

/* The element count of an optional array key: 0 + *present=0 when absent. */
static ef_status read_array(const ef_gguf *g, const char *key, uint32_t want_type, uint64_t want_n,
                            int *present) {
    uint32_t et = 0;
    uint64_t n = 0;
    *present = 0;
    ef_status st = ef_gguf_get_arr(g, key, &et, &n);
    if (st == EF_ERR_NOT_FOUND) {
        ef_err_clear();
        return EF_OK;
    }
    if (st != EF_OK) return ef_err(EF_ERR_FORMAT, "%s: expected an array", key);
    if (et != want_type)
        return ef_err(EF_ERR_FORMAT, "%s: array of element type %u, expected %u", key, et, want_type);
    if (want_n != UINT64_MAX && n != want_n)
        return ef_err(EF_ERR_FORMAT, "%s has %llu entries but %s has %llu", key,
                      (unsigned long long)n, KEY_TOKENS, (unsigned long long)want_n);
    *present = 1;
    return EF_OK;
}

/* ---- building blocks ---- */

static ef_status load_tokens(ef_vocab *v, const ef_gguf *g) {
    uint32_t et = 0;
    uint64_t n = 0;
    ef_status st = ef_gguf_get_arr(g, KEY_TOKENS, &et, &n);
    if (st == EF_ERR_NOT_FOUND) return ef_err(EF_ERR_FORMAT, "missing %s", KEY_TOKENS);
    if (st != EF_OK || et != EF_GGUF_STRING)
        return ef_err(EF_ERR_FORMAT, "%s: expected an array of strings", KEY_TOKENS);
    if (n == 0 || n > EF_VOCAB_MAX_TOKENS)
        return ef_err(EF_ERR_FORMAT, "%s: %llu tokens (expected 1..%d)", KEY_TOKENS,
                      (unsigned long long)n, EF_VOCAB_MAX_TOKENS);
    v->n_tokens = (int32_t)n;
    v->tokens = ef_calloc((size_t)n, sizeof *v->tokens);
    if (!v->tokens) return ef_err(EF_ERR_NO_MEMORY, "vocabulary: cannot allocate %llu tokens",
                                  (unsigned long long)n);
    /* First pass: sizes, so the pool is one allocation. */
    uint64_t pool = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        if (ef_gguf_get_arr_str(g, KEY_TOKENS, i, &s, &len) != EF_OK)
            return ef_err(EF_ERR_FORMAT, "%s[%llu]: unreadable", KEY_TOKENS, (unsigned long long)i);
        if (len > UINT32_MAX || !ef_add_ok(pool, len + 1, &pool) || pool > SIZE_MAX)
            return ef_err(EF_ERR_FORMAT, "%s: token texts too large", KEY_TOKENS);
        v->tokens[i].len = (uint32_t)len;
    }
    v->text_pool = ef_malloc((size_t)pool);
    if (!v->text_pool) return ef_err(EF_ERR_NO_MEMORY, "vocabulary: cannot allocate %llu bytes of text",
                                     (unsigned long long)pool);
    EF_TRY(ef_strmap_init(&v->text_to_id, (size_t)n));
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        EF_TRY(ef_gguf_get_arr_str(g, KEY_TOKENS, i, &s, &len));
        memcpy(v->text_pool + off, s, (size_t)len);
        v->text_pool[off + len] = '\0';
        v->tokens[i].off = off;
        v->tokens[i].type = EF_TOKEN_NORMAL;
        EF_TRY(ef_strmap_put(&v->text_to_id, v->text_pool + off, (size_t)len, (int32_t)i, NULL));
        off += (size_t)len + 1;
    }
    return EF_OK;
}

static ef_status load_scores_and_types(ef_vocab *v, const ef_gguf *g) {
    int present = 0;
    const void *data = NULL;
    EF_TRY(read_array(g, KEY_SCORES, EF_GGUF_F32, (uint64_t)v->n_tokens, &present));
    if (present) {
        EF_TRY(ef_gguf_get_arr_data(g, KEY_SCORES, &data));
        for (int32_t i = 0; i < v->n_tokens; i++)
            memcpy(&v->tokens[i].score, (const char *)data + 4 * (size_t)i, 4);
    }
    EF_TRY(read_array(g, KEY_TYPES, EF_GGUF_I32, (uint64_t)v->n_tokens, &present));
    if (present) {
        EF_TRY(ef_gguf_get_arr_data(g, KEY_TYPES, &data));
        for (int32_t i = 0; i < v->n_tokens; i++) {
            int32_t t;
            memcpy(&t, (const char *)data + 4 * (size_t)i, 4);
            if (t < 0 || t > EF_TOKEN_BYTE)
                return ef_err(EF_ERR_FORMAT, "%s[%d] = %d is not a token type (0..6)", KEY_TYPES, i, t);
            v->tokens[i].type = t == 0 ? EF_TOKEN_NORMAL : t;
        }
    }
    return EF_OK;
}

static ef_status load_merges(ef_vocab *v, const ef_gguf *g) {
    uint32_t et = 0;
    uint64_t n = 0;
    ef_status st = ef_gguf_get_arr(g, KEY_MERGES, &et, &n);
    if (st == EF_ERR_NOT_FOUND) return ef_err(EF_ERR_FORMAT, "missing %s (needed by gpt2 vocabularies)", KEY_MERGES);
    if (st != EF_OK || et != EF_GGUF_STRING)
        return ef_err(EF_ERR_FORMAT, "%s: expected an array of strings", KEY_MERGES);
    if (n > INT32_MAX) return ef_err(EF_ERR_FORMAT, "%s: %llu merges is too many", KEY_MERGES,
                                     (unsigned long long)n);
    uint64_t pool = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        EF_TRY(ef_gguf_get_arr_str(g, KEY_MERGES, i, &s, &len));
        if (!ef_add_ok(pool, len + 1, &pool) || pool > SIZE_MAX)
            return ef_err(EF_ERR_FORMAT, "%s: merges too large", KEY_MERGES);
    }
    v->merge_pool = ef_malloc((size_t)pool);
    if (!v->merge_pool) return ef_err(EF_ERR_NO_MEMORY, "vocabulary: cannot allocate the merges");
    EF_TRY(ef_strmap_init(&v->merge_rank, (size_t)n));
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        EF_TRY(ef_gguf_get_arr_str(g, KEY_MERGES, i, &s, &len));
        /* "left right": split at the first space after the first byte. */
        const char *sp = len > 1 ? memchr(s + 1, ' ', (size_t)len - 1) : NULL;
        if (!sp || sp + 1 == s + len)
            return ef_err(EF_ERR_FORMAT, "%s[%llu] = \"%.*s\" is not \"left right\"", KEY_MERGES,
                          (unsigned long long)i, (int)(len > 64 ? 64 : len), s);
        memcpy(v->merge_pool + off, s, (size_t)len);
        v->merge_pool[off + len] = '\0';
        /* A repeated merge keeps its first (best) rank. */
        EF_TRY(ef_strmap_put(&v->merge_rank, v->merge_pool + off, (size_t)len, (int32_t)i, NULL));
        off += (size_t)len + 1;
    }
    return EF_OK;
}

static void find_byte_tokens(ef_vocab *v) {
    int missing = 0;
    for (int b = 0; b < 256; b++) {
        char text[8];
        size_t len;
        if (v->kind == EF_VOCAB_SPM) {
            snprintf(text, sizeof text, "<0x%02X>", b);
            len = 6;
        } else {
            len = ef_byte_symbol_utf8((uint8_t)b, text);
        }
        v->byte_token[b] = ef_strmap_get(&v->text_to_id, text, len);
        missing += v->byte_token[b] < 0;
    }
    if (v->kind == EF_VOCAB_BPE && missing)
        EF_LOGW("tokenizer: %d of the 256 byte symbols are not tokens; such bytes become %s",
                missing, v->unk >= 0 ? "the unknown token" : "an error");
}

static ef_status index_byte_tokens(ef_vocab *v) {
    v->byte_of_token = ef_malloc((size_t)v->n_tokens * sizeof *v->byte_of_token);
    if (!v->byte_of_token) return ef_err(EF_ERR_NO_MEMORY, "vocabulary: out of memory");
    for (int32_t i = 0; i < v->n_tokens; i++) v->byte_of_token[i] = -1;
    for (int b = 0; b < 256; b++)
        if (v->byte_token[b] >= 0) v->byte_of_token[v->byte_token[b]] = (int16_t)b;
    return EF_OK;
}

/* Sort key of a special token: first byte, then longest first, then id. */
typedef struct special_key {
    uint8_t first;
    uint32_t len;
    int32_t id;
} special_key;

static int cmp_special(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int is_special_type(int32_t t) {
    return t == EF_TOKEN_CONTROL || t == EF_TOKEN_USER_DEFINED || t == EF_TOKEN_UNKNOWN;
}

static ef_status index_specials(ef_vocab *v) {
    size_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        n += is_special_type(v->tokens[i].type) && v->tokens[i].len > 0;
    v->special = ef_malloc((n ? n : 1) * sizeof *v->special);
    if (!v->special) return ef_err(EF_ERR_NO_MEMORY, "vocabulary: out of memory");
    v->n_special = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (is_special_type(v->tokens[i].type) && v->tokens[i].len > 0) v->special[v->n_special++] = i;
    special_key *keys = ef_malloc((n ? n : 1) * sizeof *keys);
    if (!keys) return ef_err(EF_ERR_NO_MEMORY, "vocabulary: out of memory");
    for (size_t i = 0; i < n; i++) {
        const ef_token_info *t = &v->tokens[v->special[i]];
        keys[i] = (special_key){(uint8_t)v->text_pool[t->off], t->len, v->special[i]};
    }
    qsort(keys, n, sizeof *keys, cmp_special);
    for (size_t i = 0; i < n; i++) v->special[i] = keys[i].id;
    ef_free(keys);
    size_t k = 0;
    for (int b = 0; b < 256; b++) {
        v->special_start[b] = (uint32_t)k;
        while (k < v->n_special && (uint8_t)v->text_pool[v->tokens[v->special[k]].off] == b) k++;
    }
    v->special_start[256] = (uint32_t)k;
    return EF_OK;
}

/* End-of-generation ids: EOS, EOT, and control tokens chat formats end turns with. */
static ef_status collect_eog(ef_vocab *v) {
    static const char *const k_turn_ends[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|eom_id|>",
                                              "<end_of_turn>", "<|endoftext|>"};
    v->eog = ef_malloc((2 + sizeof k_turn_ends / sizeof *k_turn_ends) * sizeof *v->eog);
    if (!v->eog) return ef_err(EF_ERR_NO_MEMORY, "vocabulary: out of memory");
    v->n_eog = 0;
    if (v->eos >= 0) v->eog[v->n_eog++] = v->eos;
    if (v->eot >= 0 && v->eot != v->eos) v->eog[v->n_eog++] = v->eot;
    for (size_t i = 0; i < sizeof k_turn_ends / sizeof *k_turn_ends; i++) {
        int32_t id = ef_strmap_get(&v->text_to_id, k_turn_ends[i], strlen(k_turn_ends[i]));
        if (id < 0 || v->tokens[id].type != EF_TOKEN_CONTROL) continue;
        int dup = 0;
        for (size_t j = 0; j < v->n_eog; j++) dup |= v->eog[j] == id;
        if (!dup) v->eog[v->n_eog++] = id;
    }
    return EF_OK;
}

static ef_status load(ef_vocab *v, const ef_gguf *g) {
    const char *model;
    uint64_t model_len;
    ef_status st = ef_gguf_get_str(g, KEY_MODEL, &model, &model_len);
    if (st == EF_ERR_NOT_FOUND) return ef_err(EF_ERR_FORMAT, "missing %s", KEY_MODEL);
    if (st != EF_OK) return ef_err(EF_ERR_FORMAT, "%s: expected a string", KEY_MODEL);
    if (model_len == 5 && memcmp(model, "llama", 5) == 0) v->kind = EF_VOCAB_SPM;
    else if (model_len == 4 && memcmp(model, "gpt2", 4) == 0) v->kind = EF_VOCAB_BPE;
    else
        return ef_err(EF_ERR_UNSUPPORTED, "%s = \"%.*s\" is not supported (only \"llama\" and \"gpt2\")",
                      KEY_MODEL, (int)(model_len > 64 ? 64 : model_len), model);

    EF_TRY(load_tokens(v, g));
    EF_TRY(load_scores_and_types(v, g));

    /* Defaults as llama.cpp applies them when the keys are absent. */
    int32_t n = v->n_tokens;
    v->bos = v->eos = v->unk = v->pad = v->eot = -1;
    if (v->kind == EF_VOCAB_SPM) {
        if (n > 0) v->unk = 0;
        if (n > 1) v->bos = 1;
        if (n > 2) v->eos = 2;
        v->add_bos = 1;
        v->add_space_prefix = 1;
    }
    if (v->kind == EF_VOCAB_BPE) {
        const char *pre = NULL;
        uint64_t pre_len = 0;
        st = ef_gguf_get_str(g, KEY_PRE, &pre, &pre_len);
        if (st == EF_ERR_NOT_FOUND) {
            ef_err_clear();
            pre = NULL;
        } else if (st != EF_OK) {
            return ef_err(EF_ERR_FORMAT, "%s: expected a string", KEY_PRE);
        }
        int known = 1;
        v->pre_kind = ef_pre_kind_from_name(pre, (size_t)pre_len, &known);
        if (!known)
            EF_LOGW("tokenizer: unknown %s \"%.*s\"; using GPT-2's pre-tokenizer", KEY_PRE,
                    (int)(pre_len > 64 ? 64 : pre_len), pre);
        if (v->pre_kind == EF_PRE_LLAMA3) {
            v->add_bos = 1;
            v->ignore_merges = 1;
        }
        EF_TRY(load_merges(v, g));
        EF_TRY(ef_pretokenizer_create(v->pre_kind, &v->pre));
    }
    EF_TRY(read_token_id(g, "tokenizer.ggml.bos_token_id", n, &v->bos));
    EF_TRY(read_token_id(g, "tokenizer.ggml.eos_token_id", n, &v->eos));
    EF_TRY(read_token_id(g, "tokenizer.ggml.unknown_token_id", n, &v->unk));
    EF_TRY(read_token_id(g, "tokenizer.ggml.padding_token_id", n, &v->pad));
    EF_TRY(read_token_id(g, "tokenizer.ggml.eot_token_id", n, &v->eot));
    EF_TRY(read_flag(g, "tokenizer.ggml.add_bos_token", &v->add_bos));
    EF_TRY(read_flag(g, "tokenizer.ggml.add_eos_token", &v->add_eos));
    EF_TRY(read_flag(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix));
    if (v->add_bos && v->bos < 0)
        return ef_err(EF_ERR_FORMAT, "tokenizer.ggml.add_bos_token is set but there is no bos_token_id");
    if (v->add_eos && v->eos < 0)
        return ef_err(EF_ERR_FORMAT, "tokenizer.ggml.add_eos_token is set but there is no eos_token_id");

    find_byte_tokens(v);
    EF_TRY(index_byte_tokens(v));
    EF_TRY(index_specials(v));
    EF_TRY(collect_eog(v));
    return EF_OK;
}

ef_status ef_vocab_load(const ef_gguf *g, ef_vocab **out) {
    if (!g || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_vocab_load: NULL argument");
    *out = NULL;
    ef_vocab *v = ef_calloc(1, sizeof *v);
    if (!v) return ef_err(EF_ERR_NO_MEMORY, "vocabulary: out of memory");
    ef_status st = load(v, g);
    if (st != EF_OK) {
        ef_vocab_free(v);
        return st;
    }
    *out = v;
    return EF_OK;
}

void ef_vocab_free(ef_vocab *v) {
    if (!v) return;
    ef_free(v->tokens);
    ef_free(v->text_pool);
    ef_strmap_free(&v->text_to_id);
    ef_free(v->merge_pool);
    ef_strmap_free(&v->merge_rank);
    ef_pretokenizer_free(v->pre);
    ef_free(v->byte_of_token);
    ef_free(v->eog);
    ef_free(v->special);
    ef_free(v);
}

/* ---- accessors ---- */

int32_t ef_vocab_n_tokens(const ef_vocab *v) { return v ? v->n_tokens : 0; }
const char *ef_vocab_model_name(const ef_vocab *v) {
    if (!v) return NULL;
    return v->kind == EF_VOCAB_SPM ? "llama" : "gpt2";
}
int32_t ef_vocab_bos(const ef_vocab *v) { return v ? v->bos : -1; }
int32_t ef_vocab_eos(const ef_vocab *v) { return v ? v->eos : -1; }

int32_t ef_vocab_is_eog(const ef_vocab *v, int32_t id) {
    if (!v) return 0;
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return 1;
    return 0;
}

int32_t ef_vocab_token_type(const ef_vocab *v, int32_t id) {
    if (!v || id < 0 || id >= v->n_tokens) return 0;
    return v->tokens[id].type;
}

const char *ef_vocab_token_text(const ef_vocab *v, int32_t id) {
    if (!v || id < 0 || id >= v->n_tokens) return NULL;
    return ef_vocab_text(v, id);
}
