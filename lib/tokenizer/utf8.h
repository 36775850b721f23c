/* UTF-8 helpers shared by the tokenizers. */
#ifndef EF_TOKENIZER_UTF8_H
#define EF_TOKENIZER_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the well-formed UTF-8 sequence starting at s (avail
 * bytes readable), or 0 when the bytes there are not valid UTF-8 (overlong
 * forms, surrogates, code points past U+10FFFF and truncation included). */
size_t ef_utf8_seq_len(const char *s, size_t avail);

/* Decodes the valid sequence at s (as measured by ef_utf8_seq_len). */
uint32_t ef_utf8_decode(const char *s, size_t seq_len);

/* Writes cp (<= U+10FFFF) as UTF-8 into out[4]; returns its length. */
size_t ef_utf8_encode(uint32_t cp, char out[4]);

#endif
