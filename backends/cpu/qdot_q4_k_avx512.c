/* Q4_K with AVX-512: the fused weight-only row kernel (qdot_avx512.h),
 * reading the 144-byte super-blocks (f16 d, f16 dmin, u8 scales[12],
 * u8 qs[128]; sub-block s of 32 has a 6-bit scale sc[s] and min m[s]; the
 * 32 bytes j of qs hold sub-block 2j in their low nibbles, 2j+1 in their
 * high ones; x = d·sc·q − dmin·m). Scalar reference: the group path
 * (qdot_q4_k.c unpacker + qdot_core.c); AVX2 twin: qdot_q4_k_avx2.c.
 * Per sub-block, Σ q·x and Σ x 16 lanes wide, then d·sc·Σqx − dmin·m·Σx
 * (the weights are never formed); the sums keep a fixed order (GEMV ≡ GEMM
 * bitwise).
 * Weight-only only: an integer-dot zmm kernel (codes of two sub-blocks per
 * register, activations shuffled to match, vpmaddubsw + vpmaddwd by the
 * scales) ran 5-10 % slower than the AVX2 one on Zen 4, which splits zmm
 * integer ops in two, so the AVX2 kernel serves that mode. */
#include "cpu/qdot_avx512.h"

#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx512.h"

enum { Q4_K_BYTES = 144 };

/* The 8 scales and 8 mins (6 bits each) of a super-block from its 12
 * scale bytes, read as little-endian words w0, w1, w2 (bytes 0-3, 4-7,
 * 8-11; layout of lib/quant/k_quants_q4_q5.c):
 *   sc[0..3] = w0 & 63, m[0..3] = w1 & 63 (per byte),
 *   sc[4..7] = (w2 & 15) | (w0 >> 6) << 4, m[4..7] = (w2 >> 4) | (w1 >> 6) << 4. */
static inline void scales_mins(const uint8_t *scales, uint8_t sc[8], uint8_t m[8]) {
    uint32_t w0, w1, w2;
    memcpy(&w0, scales, 4), memcpy(&w1, scales + 4, 4), memcpy(&w2, scales + 8, 4);
    const uint32_t sc_lo = w0 & 0x3f3f3f3fu, m_lo = w1 & 0x3f3f3f3fu;
    const uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 6) & 0x03030303u) << 4;
    const uint32_t m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 6) & 0x03030303u) << 4;
    memcpy(sc, &sc_lo, 4), memcpy(sc + 4, &sc_hi, 4);
    memcpy(m, &m_lo, 4), memcpy(m + 4, &m_hi, 4);
}

/* [16] Σ c·x over 32 unsigned codes (bytes 0..31 of c) and, in *xsum, [16] Σ x. x: [32]. */
EF_AVX512_INLINE __m512 dot32_u8(__m256i c, const float *x, __m512 *xsum) {
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(c)));
    const __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(c, 1)));
    *xsum = _mm512_add_ps(x0, x1);
    return _mm512_fmadd_ps(c1, x1, _mm512_mul_ps(c0, x0));
}

float ef_qrow_q4_k_f32_avx512(const uint8_t *row, const float *x, int64_t in) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m512 acc = _mm512_setzero_ps();  /* [16] lane sums of the scale terms */
    __m512 mins = _mm512_setzero_ps(); /* [16] lane sums of the min terms */
    for (int64_t sb = 0; sb < in / 256; sb++, row += Q4_K_BYTES, x += 256) {
        uint8_t sc[8], m[8];
        scales_mins(row + 4, sc, m);
        const float d = ef_avx512_load_f16(row), dmin = ef_avx512_load_f16(row + 2);
        for (int j = 0; j < 4; j++) { /* 32 bytes: sub-blocks 2j (low nibbles) and 2j+1 (high) */
            const __m256i v = _mm256_loadu_si256((const __m256i *)(row + 16 + 32 * j)); /* [32] u8 */
            __m512 xs;
            __m512 qx = dot32_u8(_mm256_and_si256(v, m4), x + 64 * j, &xs);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d * (float)sc[2 * j]), qx, acc);
            mins = _mm512_fmadd_ps(_mm512_set1_ps(dmin * (float)m[2 * j]), xs, mins);
            qx = dot32_u8(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), x + 64 * j + 32, &xs);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d * (float)sc[2 * j + 1]), qx, acc);
            mins = _mm512_fmadd_ps(_mm512_set1_ps(dmin * (float)m[2 * j + 1]), xs, mins);
        }
    }
    return ef_avx512_hsum(acc) - ef_avx512_hsum(mins);
}

#else /* built without the AVX-512 flags: never dispatched */

float ef_qrow_q4_k_f32_avx512(const uint8_t *row, const float *x, int64_t in) {
    (void)row, (void)x, (void)in;
    return 0.0f;
}

#endif
