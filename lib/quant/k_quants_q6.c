/* Q6_K: 256 elements in 210 bytes.
 *   bytes   0-127  u8 ql[128]  low 4 bits of the codes
 *   bytes 128-191  u8 qh[64]   high 2 bits of the codes
 *   bytes 192-207  i8 sc[16]   one scale per 16 elements (element e uses sc[e/16])
 *   bytes 208-209  f16 d       (last)
 * Element e: half h = e/128, k = (e%128)/32, l = e%32;
 *   low bits:  ql[64h + l + 32*(k&1)], low nibble for k<2, high nibble for k>=2
 *   high bits: qh[32h + l] bits 2k..2k+1
 *   x = d * sc[e/16] * (code - 32)
 * Reference quantizer: per 16 elements scale = signed max / -32 (codes -32..31),
 * scales quantized to int8 against d = largest |scale| / 127. */
#include "quant/blocks.h"
#include "quant/block_util.h"
#include "quant/k_quant_fit.h"

#define QK 256
#define BLOCK_BYTES 210

void ef_dequantize_q6_k(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/256][210] */
    for (int64_t b = 0; b < n / QK; b++, blk += BLOCK_BYTES, dst += QK) {
        const uint8_t *ql = blk, *qh = blk + 128; /* [128], [64] */
        const int8_t *sc = (const int8_t *)(blk + 192); /* [16] */
        const float d = ef_load_f16(blk + 208);
        for (int e = 0; e < QK; e++) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t lo_byte = ql[64 * h + l + 32 * (k & 1)];
            const int lo = k < 2 ? lo_byte & 0x0F : lo_byte >> 4;
            const int hi = (qh[32 * h + l] >> (2 * k)) & 3;
            dst[e] = d * (float)sc[e / 16] * (float)((lo | hi << 4) - 32);
        }
    }
}

void ef_quantize_q6_k(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/256][210] */
    for (int64_t b = 0; b < n / QK; b++, blk += BLOCK_BYTES, src += QK) {
        float d;
        int8_t sc[16], q[QK]; /* [16] scales, [256] codes -32..31 */
        ef_kq_fit_symmetric(src, 16, 16, 32, 127, &d, sc, q);
        uint8_t *ql = blk, *qh = blk + 128;
        memset(blk, 0, 192);
        for (int e = 0; e < QK; e++) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const int code = q[e] + 32; /* 0..63 */
            ql[64 * h + l + 32 * (k & 1)] |= (uint8_t)((code & 0x0F) << (k < 2 ? 0 : 4));
            qh[32 * h + l] |= (uint8_t)((code >> 4) << (2 * k));
        }
        memcpy(blk + 192, sc, 16);
        ef_store_f16(blk + 208, d);
    }
}
