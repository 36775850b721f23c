/* tokenizer.json (+ tokenizer_config.json) → tokenizer.ggml.* metadata.
 *
 * Byte-level BPE (a ByteLevel pre-tokenizer or decoder) becomes "gpt2" with
 * merges and a pre-tokenizer name; SentencePiece-style BPE ("▁" pieces,
 * byte_fallback) becomes "llama" with scores from the merge order. Tokens are
 * ordered by id; ids no entry names, and rows the embedding has beyond the
 * tokenizer, become "[PAD{id}]" UNUSED tokens. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "convert/convert.h"
#include "tokenizer/tokenizer.h"

/* The pre-tokenizer regexes Hugging Face tokenizers spell for Llama 3 and
 * Qwen2, which the engine runs under these tokenizer.ggml.pre names. */
static const char k_llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char k_qwen2_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct tok_build {
    int64_t n;            /* tokens written = embedding rows */
    const char **text;    /* [n] NUL-terminated; into the JSON trees or pad_pool */
    int32_t *type;        /* [n] EF_TOKEN_* */
    float *score;         /* [n] "llama" only */
    char *pad_pool;       /* "[PAD{id}]" texts */
    char **merges;        /* [n_merges] "left right", owned */
    int64_t n_merges;
} tok_build;

static void tok_build_free(tok_build *b) {
    ef_free(b->text);
    ef_free(b->type);
    ef_free(b->score);
    ef_free(b->pad_pool);
    for (int64_t i = 0; i < b->n_merges; i++) ef_free(b->merges[i]);
    ef_free(b->merges);
}

static int64_t find_token(const tok_build *b, const char *text) {
    for (int64_t i = 0; i < b->n; i++)
        if (b->text[i] && !strcmp(b->text[i], text)) return i;
    return -1;
}

/* A JSON integer id in [0, n). */
static int json_id(const cJSON *v, int64_t n, int64_t *out) {
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || v->valuedouble < 0 ||
        v->valuedouble >= (double)n)
        return 0;
    *out = (int64_t)v->valuedouble;
    return 1;
}

/* Does the pre-tokenizer/decoder tree hold a node of this type? */
static int has_type(const cJSON *node, const char *type) {
    if (!cJSON_IsObject(node)) return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "type");
    if (cJSON_IsString(t) && !strcmp(t->valuestring, type)) return 1;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(node, "pretokenizers");
    if (!list) list = cJSON_GetObjectItemCaseSensitive(node, "normalizers");
    if (!list) list = cJSON_GetObjectItemCaseSensitive(node, "decoders");
    for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next)
        if (has_type(c, type)) return 1;
    return 0;
}

/* Collects the regexes of Split nodes and whether ByteLevel splits by itself. */
static void scan_pre(const cJSON *node, const char **regex, int *n_split, int *byte_level_regex) {
    if (!cJSON_IsObject(node)) return;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "type");
    if (cJSON_IsString(t) && !strcmp(t->valuestring, "Split")) {
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(node, "pattern"), "Regex");
        (*n_split)++;
        if (cJSON_IsString(re)) *regex = re->valuestring;
    }
    if (cJSON_IsString(t) && !strcmp(t->valuestring, "ByteLevel")) {
        const cJSON *use = cJSON_GetObjectItemCaseSensitive(node, "use_regex");
        if (!use || cJSON_IsTrue(use)) *byte_level_regex = 1;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(node, "pretokenizers");
    for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next)
        scan_pre(c, regex, n_split, byte_level_regex);
}

static const char *pre_name(const cJSON *pre) {
    const char *regex = NULL;
    int n_split = 0, byte_level_regex = 0;
    scan_pre(pre, &regex, &n_split, &byte_level_regex);
    if (n_split == 0 && byte_level_regex) return "gpt-2";
    if (n_split == 1 && regex && !strcmp(regex, k_llama3_regex)) return "llama3";
    if (n_split == 1 && regex && !strcmp(regex, k_qwen2_regex)) return "qwen2";
    EF_LOGW("convert: tokenizer.json's pre-tokenizer is not one this engine knows "
            "(gpt-2, llama3, qwen2); writing tokenizer.ggml.pre \"default\"");
    return "default";
}

/* vocab + added_tokens → text/type by id. */
static ef_status fill_tokens(tok_build *b, const cJSON *model, const cJSON *added) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return ef_err(EF_ERR_FORMAT, "tokenizer.json: model.vocab is not an object");
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int64_t id;
        if (!json_id(e, b->n, &id))
            return ef_err(EF_ERR_FORMAT, "tokenizer.json: token '%s' has id outside 0..%lld (the "
                          "embedding has %lld rows)", e->string, (long long)b->n - 1, (long long)b->n);
        if (b->text[id])
            return ef_err(EF_ERR_FORMAT, "tokenizer.json: tokens '%s' and '%s' share id %lld",
                          b->text[id], e->string, (long long)id);
        b->text[id] = e->string;
        b->type[id] = EF_TOKEN_NORMAL;
    }
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a; a = a->next) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        int64_t id;
        if (!cJSON_IsString(content) || !json_id(cJSON_GetObjectItemCaseSensitive(a, "id"), b->n, &id))
            return ef_err(EF_ERR_FORMAT, "tokenizer.json: an added token has no content or an id "
                          "outside 0..%lld", (long long)b->n - 1);
        b->text[id] = content->valuestring;
        b->type[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special"))
                          ? EF_TOKEN_CONTROL : EF_TOKEN_USER_DEFINED;
    }
    int64_t n_pad = 0;
    for (int64_t i = 0; i < b->n; i++) n_pad += !b->text[i];
    if (!n_pad) return EF_OK;
    b->pad_pool = ef_malloc((size_t)n_pad * 24);
    if (!b->pad_pool) return ef_err(EF_ERR_NO_MEMORY, "tokenizer: out of memory");
    char *p = b->pad_pool;
    for (int64_t i = 0; i < b->n; i++)
        if (!b->text[i]) {
            int len = snprintf(p, 24, "[PAD%lld]", (long long)i);
            b->text[i] = p;
            b->type[i] = EF_TOKEN_UNUSED;
            p += len + 1;
        }
    return EF_OK;
}

/* merges as "a b" strings or ["a", "b"] pairs → "a b". */
static ef_status fill_merges(tok_build *b, const cJSON *model) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return ef_err(EF_ERR_FORMAT, "tokenizer.json: model.merges is not an array");
    int n = cJSON_GetArraySize(merges);
    b->merges = ef_calloc(n ? (size_t)n : 1, sizeof *b->merges);
    if (!b->merges) return ef_err(EF_ERR_NO_MEMORY, "tokenizer: out of memory for %d merges", n);
    for (const cJSON *m = merges->child; m; m = m->next) {
        const char *l, *r = NULL;
        if (cJSON_IsString(m)) {
            l = m->valuestring;
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 0)) && cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            l = cJSON_GetArrayItem(m, 0)->valuestring;
            r = cJSON_GetArrayItem(m, 1)->valuestring;
        } else {
            return ef_err(EF_ERR_FORMAT, "tokenizer.json: merge %lld is neither \"a b\" nor [\"a\", \"b\"]",
                          (long long)b->n_merges);
        }
        size_t ll = strlen(l), rl = r ? strlen(r) : 0;
        char *s = ef_malloc(ll + rl + 2);
        if (!s) return ef_err(EF_ERR_NO_MEMORY, "tokenizer: out of memory for the merges");
        memcpy(s, l, ll + 1);
        if (r) {
            s[ll] = ' ';
            memcpy(s + ll + 1, r, rl + 1);
        }
        b->merges[b->n_merges++] = s;
    }
    return EF_OK;
}

/* Tokens sorted by text, for the merge-result lookups. */
typedef struct text_id {
    const char *text;
    int32_t id;
} text_id;

static int cmp_text_id(const void *a, const void *b) {
    return strcmp(((const text_id *)a)->text, ((const text_id *)b)->text);
}

static int64_t find_sorted(const text_id *order, int64_t n, const char *text) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(order[mid].text, text);
        if (c == 0) return order[mid].id;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* SentencePiece-style scores: a piece made by merge k scores -k (earlier
 * merges win); pieces no merge makes rank below all of them. */
static ef_status fill_spm_scores(tok_build *b) {
    b->score = ef_malloc((size_t)b->n * sizeof *b->score);
    text_id *order = ef_malloc((size_t)b->n * sizeof *order); /* [n] tokens by text */
    if (!b->score || !order) {
        ef_free(order);
        return ef_err(EF_ERR_NO_MEMORY, "tokenizer: out of memory");
    }
    for (int64_t i = 0; i < b->n; i++) {
        b->score[i] = -(float)(b->n_merges + i);
        order[i] = (text_id){b->text[i], (int32_t)i};
    }
    qsort(order, (size_t)b->n, sizeof *order, cmp_text_id);
    char joined[1024];
    for (int64_t k = b->n_merges - 1; k >= 0; k--) {
        const char *m = b->merges[k], *sp = strchr(m, ' ');
        size_t len = strlen(m);
        if (!sp || len >= sizeof joined) continue;
        memcpy(joined, m, (size_t)(sp - m));
        memcpy(joined + (sp - m), sp + 1, len - (size_t)(sp - m)); /* includes the NUL */
        int64_t id = find_sorted(order, b->n, joined);
        if (id >= 0) b->score[id] = -(float)k;
    }
    ef_free(order);
    for (int64_t i = 0; i < b->n; i++) {
        unsigned x;
        char tail;
        if (b->type[i] == EF_TOKEN_NORMAL && strlen(b->text[i]) == 6 &&
            sscanf(b->text[i], "<0x%2X>%c", &x, &tail) == 1)
            b->type[i] = EF_TOKEN_BYTE;
        if (b->type[i] != EF_TOKEN_NORMAL) b->score[i] = 0.0f;
    }
    return EF_OK;
}

/* tokenizer_config's "bos_token": "<s>" or {"content": "<s>", ...}. */
static const char *special_text(const cJSON *tc, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(tc, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static ef_status write_special_id(ef_gguf_writer *w, const tok_build *b, const cJSON *tc,
                                  const char *tc_key, int64_t fallback, const char *gguf_key) {
    const char *text = tc ? special_text(tc, tc_key) : NULL;
    int64_t id = text ? find_token(b, text) : -1;
    if (text && id < 0)
        EF_LOGW("convert: tokenizer_config.json's %s \"%s\" is not a token", tc_key, text);
    if (id < 0 && fallback >= 0 && fallback < b->n) id = fallback;
    if (id < 0) return EF_OK;
    return ef_gguf_writer_set_u32(w, gguf_key, (uint32_t)id);
}

static ef_status write_flag(ef_gguf_writer *w, const cJSON *tc, const char *tc_key, const char *gguf_key) {
    const cJSON *v = tc ? cJSON_GetObjectItemCaseSensitive(tc, tc_key) : NULL;
    if (!cJSON_IsBool(v)) return EF_OK;
    return ef_gguf_writer_set_bool(w, gguf_key, cJSON_IsTrue(v));
}

/* chat_template: a string, or a list of {name, template} (the "default" one). */
static ef_status write_chat_template(ef_gguf_writer *w, const cJSON *tc) {
    const cJSON *ct = tc ? cJSON_GetObjectItemCaseSensitive(tc, "chat_template") : NULL;
    const char *tmpl = cJSON_IsString(ct) ? ct->valuestring : NULL;
    for (const cJSON *c = cJSON_IsArray(ct) ? ct->child : NULL; c && !tmpl; c = c->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "template");
        if (cJSON_IsString(name) && !strcmp(name->valuestring, "default") && cJSON_IsString(t))
            tmpl = t->valuestring;
    }
    return tmpl ? ef_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl) : EF_OK;
}

static ef_status build(const cJSON *tj, const cJSON *tc, const ef_hf_config *cfg, tok_build *b,
                       ef_gguf_writer *w) {
    if (!cJSON_IsObject(tj)) return ef_err(EF_ERR_FORMAT, "tokenizer.json is not a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tj, "model");
    const cJSON *mtype = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model)) return ef_err(EF_ERR_FORMAT, "tokenizer.json: no 'model' object");
    if (cJSON_IsString(mtype) && strcmp(mtype->valuestring, "BPE") != 0)
        return ef_err(EF_ERR_UNSUPPORTED, "tokenizer.json: model type '%s' is not supported (BPE only)",
                      mtype->valuestring);
    b->text = ef_calloc((size_t)b->n, sizeof *b->text);
    b->type = ef_calloc((size_t)b->n, sizeof *b->type);
    if (!b->text || !b->type) return ef_err(EF_ERR_NO_MEMORY, "tokenizer: out of memory");
    EF_TRY(fill_tokens(b, model, cJSON_GetObjectItemCaseSensitive(tj, "added_tokens")));
    EF_TRY(fill_merges(b, model));

    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(tj, "pre_tokenizer");
    const int byte_level = has_type(pre, "ByteLevel") ||
                           has_type(cJSON_GetObjectItemCaseSensitive(tj, "decoder"), "ByteLevel");
    const int spm = !byte_level && (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")) ||
                                    find_token(b, "<0x00>") >= 0);
    if (!byte_level && !spm)
        return ef_err(EF_ERR_UNSUPPORTED, "tokenizer.json: a BPE model that is neither byte-level "
                      "nor SentencePiece-style (byte_fallback)");
    if (spm) {
        EF_TRY(ef_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"));
        EF_TRY(fill_spm_scores(b));
        const char *unk = special_text(tc, "unk_token");
        const cJSON *munk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
        if (!unk && cJSON_IsString(munk)) unk = munk->valuestring;
        int64_t unk_id = unk ? find_token(b, unk) : -1;
        if (unk_id >= 0) {
            b->type[unk_id] = EF_TOKEN_UNKNOWN;
            EF_TRY(ef_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk_id));
        }
        /* A "▁" prepended by the normalizer or a Metaspace pre-tokenizer. */
        int prefix = has_type(cJSON_GetObjectItemCaseSensitive(tj, "normalizer"), "Prepend") ||
                     has_type(pre, "Metaspace");
        EF_TRY(ef_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", prefix));
        EF_TRY(ef_gguf_writer_set_arr(w, "tokenizer.ggml.scores", EF_GGUF_F32, b->score, (uint64_t)b->n));
    } else {
        EF_TRY(ef_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"));
        EF_TRY(ef_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre_name(pre)));
        EF_TRY(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)b->merges,
                                          NULL, (uint64_t)b->n_merges));
    }
    EF_TRY(ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", b->text, NULL, (uint64_t)b->n));
    EF_TRY(ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, b->type, (uint64_t)b->n));
    EF_TRY(write_special_id(w, b, tc, "bos_token", cfg->bos_id, "tokenizer.ggml.bos_token_id"));
    EF_TRY(write_special_id(w, b, tc, "eos_token", cfg->eos_id, "tokenizer.ggml.eos_token_id"));
    EF_TRY(write_special_id(w, b, tc, "pad_token", -1, "tokenizer.ggml.padding_token_id"));
    EF_TRY(write_flag(w, tc, "add_bos_token", "tokenizer.ggml.add_bos_token"));
    EF_TRY(write_flag(w, tc, "add_eos_token", "tokenizer.ggml.add_eos_token"));
    return write_chat_template(w, tc);
}

ef_status ef_hf_tokenizer_write(const char *hf_dir, const ef_hf_config *cfg, int64_t n_vocab,
                                ef_gguf_writer *w) {
    cJSON *tj = NULL, *tc = NULL;
    EF_TRY(ef_json_read_file(hf_dir, "tokenizer.json", 0, &tj));
    ef_status st = ef_json_read_file(hf_dir, "tokenizer_config.json", 1, &tc);
    tok_build b = {.n = n_vocab};
    if (st == EF_OK) st = build(tj, tc, cfg, &b, w);
    tok_build_free(&b);
    cJSON_Delete(tj);
    cJSON_Delete(tc);
    return st;
}
