/* Q8_0: 32 elements in 34 bytes.
 *   bytes 0-1   f16 d
 *   bytes 2-33  i8 qs[32], element j = qs[j]
 *   x = qs[j] * d
 * Reference quantizer (as ggml's): d = amax / 127, q = round(x / d). */
#include "quant/blocks.h"
#include "quant/block_util.h"

#define QK 32
#define BLOCK_BYTES 34

void ef_dequantize_q8_0(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/32][34] */
    for (int64_t b = 0; b < n / QK; b++, blk += BLOCK_BYTES, dst += QK) {
        const float d = ef_load_f16(blk);
        const int8_t *qs = (const int8_t *)(blk + 2); /* [32] */
        for (int j = 0; j < QK; j++) dst[j] = (float)qs[j] * d;
    }
}

void ef_quantize_q8_0(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/32][34] */
    for (int64_t b = 0; b < n / QK; b++, blk += BLOCK_BYTES, src += QK) {
        float amax = fabsf(ef_signed_absmax(src, QK));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ef_store_f16(blk, d);
        int8_t *qs = (int8_t *)(blk + 2); /* [32] */
        for (int j = 0; j < QK; j++) qs[j] = (int8_t)ef_round_clamp(src[j] * id, -127, 127);
    }
}
