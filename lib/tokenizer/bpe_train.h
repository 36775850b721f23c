/* Byte-level BPE training in the GPT-2 style. Texts are split by the GPT-2
 * pre-tokenizer and the distinct chunks ("words") counted; training starts
 * from the 256 byte symbols and repeatedly merges the adjacent pair with
 * the highest count summed over all words (ties: the smaller left id, then
 * the smaller right id) until the vocabulary has the requested size.
 * Token ids: 0..255 the byte symbols in byte order, 256 <|endoftext|>
 * (BOS and EOS), then one token per merge in merge order. A merge whose
 * text already is a token reuses that id (and adds none). Pair counts are
 * updated incrementally from a pair -> words index, with a lazy max-heap. */
#ifndef EF_TOKENIZER_BPE_TRAIN_H
#define EF_TOKENIZER_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "format/gguf.h"

/* Smallest vocabulary: the 256 bytes and <|endoftext|>. */
#define EF_BPE_TRAIN_MIN_VOCAB 257

typedef struct ef_bpe_trainer ef_bpe_trainer;

ef_status ef_bpe_trainer_create(ef_bpe_trainer **out);
void ef_bpe_trainer_free(ef_bpe_trainer *t);

/* Pre-tokenizes text[0..len) and adds its words to the counts. */
ef_status ef_bpe_trainer_add_text(ef_bpe_trainer *t, const char *text, size_t len);

/* Bytes of text added so far. */
uint64_t ef_bpe_trainer_n_bytes(const ef_bpe_trainer *t);

/* Learns merges until there are vocab_size tokens and writes the "gpt2"
 * vocabulary keys into w. Call once. Errors: EF_ERR_INVALID_ARG (size out
 * of range, no text, or the text has too few distinct pairs to reach the
 * size), EF_ERR_NO_MEMORY. */
ef_status ef_bpe_trainer_write(ef_bpe_trainer *t, int32_t vocab_size, struct ef_gguf_writer *w);

#endif
