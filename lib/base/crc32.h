/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib and PNG
 * compute it: the checksum of training checkpoints and snapshot frames. */
#ifndef EF_BASE_CRC32_H
#define EF_BASE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over n bytes. */
uint32_t ef_crc32(uint32_t crc, const void *data, size_t n);

/* The same, one bit at a time: the reference the table version is tested against. */
uint32_t ef_crc32_bitwise(uint32_t crc, const void *data, size_t n);

#endif
