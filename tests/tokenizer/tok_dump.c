/* tok_dump: tokenizes texts with a vocabulary-only GGUF and prints the ids,
 * one line per text (space-separated; an empty line for no tokens).
 *
 *   tok_dump [--add-special] [--parse-special] [--roundtrip] VOCAB.gguf
 *            (--json LIST.json | FILE...)
 *
 * --json reads a JSON array of strings; otherwise each FILE is one text
 * (its exact bytes). --roundtrip also checks detokenize(tokenize(t)) == t
 * and exits 1 naming each text where it does not hold. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

static int read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 1;
}

/* Returns 0 on success, 1 on a failed round trip, 2 on an error. */
static int dump_one(const ef_vocab *v, const char *text, size_t len, uint32_t flags, int roundtrip,
                    size_t index) {
    int32_t *ids = NULL;
    size_t n = 0;
    ef_status st = ef_vocab_tokenize(v, text, len, flags, &ids, &n);
    if (st != EF_OK) {
        fprintf(stderr, "tok_dump: text %zu: tokenize failed: %s: %s\n", index, ef_status_str(st),
                ef_err_msg());
        return 2;
    }
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    int rc = 0;
    if (roundtrip) {
        size_t need = 0;
        st = ef_vocab_detokenize(v, ids, n, 0, NULL, 0, &need);
        char *back = malloc(need + 1);
        if (st == EF_OK || st == EF_ERR_BUFFER_TOO_SMALL)
            st = ef_vocab_detokenize(v, ids, n, 0, back, need, &need);
        if (st != EF_OK) {
            fprintf(stderr, "tok_dump: text %zu: detokenize failed: %s\n", index, ef_err_msg());
            rc = 2;
        } else if (need != len || memcmp(back, text, len) != 0) {
            fprintf(stderr, "tok_dump: text %zu: round trip differs (%zu bytes in, %zu out)\n",
                    index, len, need);
            rc = 1;
        }
        free(back);
    }
    ef_free(ids);
    return rc;
}

int main(int argc, char **argv) {
    uint32_t flags = 0;
    int roundtrip = 0;
    const char *json_path = NULL, *vocab_path = NULL;
    const char **files = calloc((size_t)argc, sizeof *files);
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--add-special")) flags |= EF_TOKENIZE_ADD_SPECIAL;
        else if (!strcmp(argv[i], "--parse-special")) flags |= EF_TOKENIZE_PARSE_SPECIAL;
        else if (!strcmp(argv[i], "--roundtrip")) roundtrip = 1;
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "tok_dump: unknown option %s\n", argv[i]);
            return 2;
        } else if (!vocab_path) vocab_path = argv[i];
        else files[n_files++] = argv[i];
    }
    if (!vocab_path || (!json_path && n_files == 0)) {
        fprintf(stderr, "usage: tok_dump [--add-special] [--parse-special] [--roundtrip] VOCAB.gguf "
                        "(--json LIST.json | FILE...)\n");
        return 2;
    }
    ef_gguf *g = NULL;
    ef_vocab *v = NULL;
    ef_status st = ef_gguf_open(vocab_path, 1, &g);
    if (st == EF_OK) st = ef_vocab_load(g, &v);
    if (st != EF_OK) {
        fprintf(stderr, "tok_dump: %s: %s: %s\n", vocab_path, ef_status_str(st), ef_err_msg());
        ef_gguf_close(g);
        return 2;
    }
    int worst = 0;
    if (json_path) {
        char *json = NULL;
        size_t len = 0;
        if (!read_file(json_path, &json, &len)) {
            fprintf(stderr, "tok_dump: cannot read %s\n", json_path);
            return 2;
        }
        cJSON *root = cJSON_ParseWithLength(json, len);
        if (!cJSON_IsArray(root)) {
            fprintf(stderr, "tok_dump: %s is not a JSON array of strings\n", json_path);
            return 2;
        }
        size_t i = 0;
        for (const cJSON *it = root->child; it; it = it->next, i++) {
            if (!cJSON_IsString(it)) {
                fprintf(stderr, "tok_dump: %s[%zu] is not a string\n", json_path, i);
                return 2;
            }
            int rc = dump_one(v, it->valuestring, strlen(it->valuestring), flags, roundtrip, i);
            if (rc > worst) worst = rc;
        }
        cJSON_Delete(root);
        free(json);
    } else {
        for (int i = 0; i < n_files; i++) {
            char *text = NULL;
            size_t len = 0;
            if (!read_file(files[i], &text, &len)) {
                fprintf(stderr, "tok_dump: cannot read %s\n", files[i]);
                return 2;
            }
            int rc = dump_one(v, text, len, flags, roundtrip, (size_t)i);
            if (rc > worst) worst = rc;
            free(text);
        }
    }
    free(files);
    ef_vocab_free(v);
    ef_gguf_close(g);
    return worst;
}
