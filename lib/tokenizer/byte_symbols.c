#include "tokenizer/byte_symbols.h"

#include "tokenizer/utf8.h"

uint32_t ef_byte_to_symbol(uint8_t b) {
    if (b <= 0x20) return 0x100u + b;                 /* 33 bytes: n = 0..32 */
    if (b >= 0x7F && b <= 0xA0) return 0x100u + 33u + (b - 0x7Fu); /* n = 33..66 */
    if (b == 0xAD) return 0x100u + 67u;               /* n = 67 */
    return b;
}

int ef_symbol_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp >= 0x100 && cp <= 0x120) return (int)(cp - 0x100);
    if (cp >= 0x121 && cp <= 0x142) return (int)(cp - 0x121 + 0x7F);
    if (cp == 0x143) return 0xAD;
    return -1;
}

size_t ef_byte_symbol_utf8(uint8_t b, char out[2]) {
    char tmp[4];
    size_t n = ef_utf8_encode(ef_byte_to_symbol(b), tmp);
    out[0] = tmp[0];
    if (n > 1) out[1] = tmp[1];
    return n;
}
