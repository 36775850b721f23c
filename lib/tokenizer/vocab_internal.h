/* Private to lib/tokenizer: the loaded vocabulary that the loader, the two
 * tokenizers, the special-token splitter and the detokenizer share. */
#ifndef EF_TOKENIZER_VOCAB_INTERNAL_H
#define EF_TOKENIZER_VOCAB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretokenize.h"
#include "tokenizer/strmap.h"
#include "tokenizer/token_buf.h"
#include "tokenizer/tokenizer.h"

/* Largest vocabulary accepted (ids must fit comfortably in int32). */
#define EF_VOCAB_MAX_TOKENS (1 << 24)

typedef enum { EF_VOCAB_SPM = 0, EF_VOCAB_BPE = 1 } ef_vocab_kind;

typedef struct ef_token_info {
    size_t off;   /* text at vocab->text_pool + off, NUL-terminated */
    uint32_t len; /* bytes, without the NUL (texts may hold NULs) */
    int32_t type; /* EF_TOKEN_* (0 in the file is read as NORMAL) */
    float score;  /* SentencePiece score; 0 when absent */
} ef_token_info;

struct ef_vocab {
    ef_vocab_kind kind;
    int32_t n_tokens;
    ef_token_info *tokens;   /* [n_tokens] */
    char *text_pool;         /* every token's text, each NUL-terminated */
    ef_strmap text_to_id;    /* token text -> lowest id with that text */

    /* byte-level BPE: "left right" -> rank (position in tokenizer.ggml.merges) */
    char *merge_pool;
    ef_strmap merge_rank;
    ef_pretokenizer *pre;
    ef_pre_kind pre_kind;
    int ignore_merges;       /* llama3: a chunk that is a whole token skips merging */

    /* Byte fallback: SPM "<0xAB>" tokens, or the BPE token of byte AB's symbol; -1 if none. */
    int32_t byte_token[256];
    /* SPM: the byte a BYTE token stands for, or -1 (indexed by id). */
    int16_t *byte_of_token;

    int32_t bos, eos, unk, pad, eot; /* -1 = none */
    int add_bos, add_eos, add_space_prefix;
    int32_t *eog;            /* [n_eog] end-of-generation ids */
    size_t n_eog;

    /* Tokens matched as whole texts in the input (CONTROL, USER_DEFINED,
     * UNKNOWN with a non-empty text), grouped by first byte, longest first:
     * special[special_start[b] .. special_start[b+1]) start with byte b. */
    int32_t *special;
    size_t n_special;
    uint32_t special_start[257];
};

static inline const char *ef_vocab_text(const ef_vocab *v, int32_t id) {
    return v->text_pool + v->tokens[id].off;
}

/* The tokenizer of each kind, run on one stretch of plain text (no special
 * tokens inside). add_prefix: SPM's dummy space prefix applies here. */
ef_status ef_spm_tokenize(const ef_vocab *v, const char *text, size_t len, int add_prefix,
                          ef_token_buf *out);
ef_status ef_bpe_tokenize(const ef_vocab *v, const char *text, size_t len, ef_token_buf *out);

#endif
