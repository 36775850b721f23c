/* IEEE half and bfloat16 conversions (portable C; SIMD paths live in backends). */
#ifndef EF_BASE_FP16_H
#define EF_BASE_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t ef_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float ef_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float ef_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        if (man == 0) return ef_bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return ef_bits_f32(sign | 0x7f800000u | (man << 13));
    return ef_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Round to nearest even, with overflow to inf and subnormals. */
static inline uint16_t ef_f32_to_f16(float f) {
    uint32_t x = ef_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* ≥ 65520 rounds to inf */
    if (absx < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24 */
        uint32_t half = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((absx >> 13) - (112u << 10));
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

static inline float ef_bf16_to_f32(uint16_t b) { return ef_bits_f32((uint32_t)b << 16); }

static inline uint16_t ef_f32_to_bf16(float f) {
    uint32_t x = ef_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

#endif
