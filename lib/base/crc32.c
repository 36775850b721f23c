/* CRC-32 by "slicing by 8": eight 256-entry tables let one step consume 8
 * bytes with 8 independent lookups (about 1 GB/s here, against ~37 MB/s for
 * the bit-by-bit loop, which matters for GiB-sized KV snapshots). The tables
 * are derived from the polynomial once, on first use. */
#include "base/crc32.h"

#include "base/platform.h"

#define CRC_POLY 0xEDB88320u

static uint32_t crc_table[8][256]; /* [k][b]: CRC of byte b followed by k zero bytes */
static ef_once_flag crc_once = EF_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (CRC_POLY & (0u - (c & 1u)));
        crc_table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++) crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^ crc_table[0][crc_table[k - 1][b] & 0xFFu];
}

uint32_t ef_crc32_bitwise(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (CRC_POLY & (0u - (crc & 1u)));
    }
    return ~crc;
}

uint32_t ef_crc32(uint32_t crc, const void *data, size_t n) {
    ef_call_once(&crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        /* little-endian assembly of the first 4 bytes, whatever the host order */
        const uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xFFu] ^ crc_table[6][(lo >> 8) & 0xFFu] ^ crc_table[5][(lo >> 16) & 0xFFu] ^
              crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
              crc_table[0][p[7]];
    }
    for (; n > 0; n--, p++) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p) & 0xFFu];
    return ~crc;
}
