/* make_spm_model IN.gguf OUT.gguf: copies a model (e.g. from `edgeformer
 * make-model`, whose synthetic vocabulary is gpt2-style and needs PCRE2) and
 * replaces its tokenizer with a SentencePiece-style ("llama") vocabulary of the
 * same size, so builds without PCRE2 (Windows) can load and run it.
 *
 * Vocabulary: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then
 * "▁", the letters, and ever longer pieces built by appending one letter to
 * an earlier piece (so every piece is reachable by a merge), best score first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 "▁" */
enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_BYTE = 6 };

static const char k_letters[] = "etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ";

typedef struct spm_vocab {
    char **tokens;   /* [n] NUL-terminated pieces */
    float *scores;   /* [n] higher merges first */
    int32_t *types;  /* [n] TYPE_* */
    uint64_t n;
} spm_vocab;

static void vocab_free(spm_vocab *v) {
    for (uint64_t i = 0; v->tokens && i < v->n; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->scores);
    free(v->types);
}

static int push(spm_vocab *v, uint64_t cap, const char *text, int32_t type) {
    if (v->n == cap) return 0;
    char *copy = malloc(strlen(text) + 1);
    if (!copy) return -1;
    strcpy(copy, text);
    v->tokens[v->n] = copy;
    v->types[v->n] = type;
    v->scores[v->n] = type == TYPE_NORMAL ? -(float)v->n : 0.0f;
    v->n++;
    return 0;
}

/* Fills exactly n_vocab tokens (n_vocab ≥ 300). */
static int build_vocab(uint64_t n_vocab, spm_vocab *v) {
    memset(v, 0, sizeof *v);
    v->tokens = calloc(n_vocab, sizeof *v->tokens);
    v->scores = calloc(n_vocab, sizeof *v->scores);
    v->types = calloc(n_vocab, sizeof *v->types);
    if (!v->tokens || !v->scores || !v->types) return -1;
    if (push(v, n_vocab, "<unk>", TYPE_UNKNOWN) || push(v, n_vocab, "<s>", TYPE_CONTROL) ||
        push(v, n_vocab, "</s>", TYPE_CONTROL))
        return -1;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        if (push(v, n_vocab, name, TYPE_BYTE)) return -1;
    }
    const uint64_t first_piece = v->n;
    if (push(v, n_vocab, SPACE_MARK, TYPE_NORMAL)) return -1;
    for (const char *c = k_letters; *c; c++) {
        char one[2] = {*c, 0};
        if (push(v, n_vocab, one, TYPE_NORMAL)) return -1;
    }
    /* Extend pieces breadth-first: piece + letter, lower-case letters only. */
    for (uint64_t base = first_piece; v->n < n_vocab && base < v->n; base++) {
        for (const char *c = k_letters; *c >= 'a' && *c <= 'z' && v->n < n_vocab; c++) {
            char piece[64];
            if (strlen(v->tokens[base]) + 2 > sizeof piece) break;
            snprintf(piece, sizeof piece, "%s%c", v->tokens[base], *c);
            if (push(v, n_vocab, piece, TYPE_NORMAL)) return -1;
        }
    }
    return v->n == n_vocab ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fputs("usage: make_spm_model IN.gguf OUT.gguf\n", stderr);
        return 2;
    }
    ef_gguf *g = NULL;
    ef_gguf_writer *w = NULL;
    spm_vocab v = {0};
    uint32_t elem = 0;
    uint64_t n_vocab = 0;
    ef_status st = ef_gguf_open(argv[1], 1, &g);
    if (st == EF_OK) st = ef_gguf_get_arr(g, "tokenizer.ggml.tokens", &elem, &n_vocab);
    if (st == EF_OK && (n_vocab < 300 || build_vocab(n_vocab, &v) != 0))
        st = ef_err(EF_ERR_INVALID_ARG, "cannot build a %llu-token vocabulary", (unsigned long long)n_vocab);
    if (st == EF_OK) st = ef_gguf_writer_create(&w);
    /* Every key but the old tokenizer's. */
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_kv(g); i++)
        if (strncmp(ef_gguf_key(g, i), "tokenizer.", 10) != 0) st = ef_gguf_writer_copy_kv(w, g, i);
    if (st == EF_OK) st = ef_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (st == EF_OK)
        st = ef_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, NULL, v.n);
    if (st == EF_OK) st = ef_gguf_writer_set_arr(w, "tokenizer.ggml.scores", EF_GGUF_F32, v.scores, v.n);
    if (st == EF_OK) st = ef_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", EF_GGUF_I32, v.types, v.n);
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (st == EF_OK) st = ef_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        st = ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    if (st == EF_OK) st = ef_gguf_writer_write(w, argv[2]);
    if (st != EF_OK) fprintf(stderr, "make_spm_model: %s\n", ef_err_msg());
    ef_gguf_writer_free(w);
    ef_gguf_close(g);
    vocab_free(&v);
    return st == EF_OK ? 0 : 1;
}
