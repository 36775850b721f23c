/* The tokenizer.ggml.* keys of a "gpt2"-model (byte-level BPE) vocabulary,
 * shared by the GPT-2 importer and the BPE trainer so both write the same
 * layout: model "gpt2", pre-tokenizer "gpt-2", tokens, types, merges and one
 * end-of-text token used as BOS and EOS (neither added automatically). */
#ifndef EF_TOKENIZER_GPT2_KEYS_H
#define EF_TOKENIZER_GPT2_KEYS_H

#include <stdint.h>

#include "base/error.h"
#include "format/gguf.h"

typedef struct ef_gpt2_keys {
    const char *const *tokens; /* [n_tokens] token texts (byte symbols) */
    const int32_t *types;      /* [n_tokens] EF_TOKEN_* */
    uint64_t n_tokens;
    const char *const *merges; /* [n_merges] "left right", best first */
    uint64_t n_merges;
    int32_t eot;               /* id of <|endoftext|>: BOS and EOS */
} ef_gpt2_keys;

ef_status ef_vocab_write_gpt2_keys(struct ef_gguf_writer *w, const ef_gpt2_keys *k);

#endif
