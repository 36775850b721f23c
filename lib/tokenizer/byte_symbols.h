/* GPT-2's reversible map from bytes to printable code points, so that byte-
 * level BPE vocabularies can store every byte string as visible text:
 * '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF stand for themselves; the 68
 * other bytes (controls, space, DEL, C1, NBSP, soft hyphen), in increasing
 * order, get U+0100, U+0101, ... (so space is U+0120 'Ġ', '\n' is U+010A 'Ċ'). */
#ifndef EF_TOKENIZER_BYTE_SYMBOLS_H
#define EF_TOKENIZER_BYTE_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

/* The code point that stands for byte b. */
uint32_t ef_byte_to_symbol(uint8_t b);

/* The byte a code point stands for, or -1 when it is not a byte symbol. */
int ef_symbol_to_byte(uint32_t cp);

/* Writes the UTF-8 of byte b's symbol into out[2]; returns its length (1 or 2). */
size_t ef_byte_symbol_utf8(uint8_t b, char out[2]);

#endif
