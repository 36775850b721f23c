/* Ternary formats: 256 elements of {-1, 0, +1} * d.
 * TQ2_0, 66 bytes: u8 qs[64], f16 d (last). Element e: bits 2k..2k+1 of
 *   qs[32*(e/128) + e%32] with k = (e%128)/32 hold t in 0..2; x = (t-1)*d.
 * TQ1_0, 54 bytes: u8 qs[48], u8 qh[4], f16 d (last). Bytes hold base-3
 *   digits t0..t4 (first digit most significant) as v = sum t_i*3^(4-i),
 *   stored as ceil(v*256/243) so digit i comes back as
 *   ((u8)(byte * 3^i) * 3) >> 8. Digit i of
 *   qs[m], m < 32:    element 32i + m       (elements 0..159)
 *   qs[32+m], m < 16: element 160 + 16i + m (elements 160..239)
 *   qh[j], j < 4:     element 240 + 4i + j  (4 digits, i < 4; v carries a 0 last digit)
 *   x = (t-1)*d.
 * Reference quantizers (as ggml's): d = amax, t = round(x/d) + 1, so only
 * weights that are already ternary survive exactly. */
#include "quant/blocks.h"
#include "quant/block_util.h"

#define QK 256

static const uint8_t k_pow3[5] = {1, 3, 9, 27, 81};

void ef_dequantize_tq2_0(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/256][66] */
    for (int64_t b = 0; b < n / QK; b++, blk += 66, dst += QK) {
        const float d = ef_load_f16(blk + 64);
        for (int e = 0; e < QK; e++) {
            const int t = (blk[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            dst[e] = (float)(t - 1) * d;
        }
    }
}

static float amax_of(const float *x, int n) { return fabsf(ef_signed_absmax(x, n)); }

void ef_quantize_tq2_0(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/256][66] */
    for (int64_t b = 0; b < n / QK; b++, blk += 66, src += QK) {
        const float d = amax_of(src, QK);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        memset(blk, 0, 64);
        for (int e = 0; e < QK; e++) {
            const int t = ef_round_clamp(src[e] * id, -1, 1) + 1;
            blk[32 * (e / 128) + e % 32] |= (uint8_t)(t << (2 * ((e % 128) / 32)));
        }
        ef_store_f16(blk + 64, d);
    }
}

/* Element that digit i of packed byte `byte_index` (0..51) holds. */
static int tq1_element(int byte_index, int i) {
    if (byte_index < 32) return 32 * i + byte_index;
    if (byte_index < 48) return 160 + 16 * i + (byte_index - 32);
    return 240 + 4 * i + (byte_index - 48);
}

void ef_dequantize_tq1_0(const void *src, float *dst, int64_t n) {
    const uint8_t *blk = src; /* [n/256][54] */
    for (int64_t b = 0; b < n / QK; b++, blk += 54, dst += QK) {
        const float d = ef_load_f16(blk + 52);
        for (int k = 0; k < 52; k++) {
            const int digits = k < 48 ? 5 : 4;
            for (int i = 0; i < digits; i++) {
                const uint8_t shifted = (uint8_t)(blk[k] * k_pow3[i]); /* digit i now leads */
                const int t = (shifted * 3) >> 8;
                dst[tq1_element(k, i)] = (float)(t - 1) * d;
            }
        }
    }
}

void ef_quantize_tq1_0(const float *src, void *dst, int64_t n) {
    uint8_t *blk = dst; /* [n/256][54] */
    for (int64_t b = 0; b < n / QK; b++, blk += 54, src += QK) {
        const float d = amax_of(src, QK);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int k = 0; k < 52; k++) {
            const int digits = k < 48 ? 5 : 4;
            int v = 0; /* base-3 number, first digit most significant, always 5 digits */
            for (int i = 0; i < 5; i++)
                v = 3 * v + (i < digits ? ef_round_clamp(src[tq1_element(k, i)] * id, -1, 1) + 1 : 0);
            blk[k] = (uint8_t)((v * 256 + 242) / 243);
        }
        ef_store_f16(blk + 52, d);
    }
}
