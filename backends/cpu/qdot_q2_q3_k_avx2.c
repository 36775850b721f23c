/* Q2_K and Q3_K into the unpacked group form of qdot.h with AVX2 (scalar
 * references: qdot_q2_q3_k.c; the bytes must match). Both store 2-bit
 * codes alike: bits 2j..2j+1 of byte l of the 32-byte half h are element
 * 128h + 32j + l, so one shift and mask per (h, j) gives 32 codes; Q3_K's
 * third bit is bit 4h+j of hmask[l] (a clear bit subtracts 4). */
#include "cpu/qdot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

static inline float load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Bits shift..shift+1 of each byte (shifts up to 6 stay inside the byte after the mask). */
static inline __m256i bits2(__m256i v, int shift) {
    return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(shift)), _mm256_set1_epi8(3));
}

/* The 256 2-bit codes of qs[64], minus offset, into q. */
static inline void codes2(const uint8_t *qs, int offset, int8_t *q) {
    const __m256i off = _mm256_set1_epi8((char)offset);
    for (int h = 0; h < 2; h++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * h)); /* [32] */
        for (int j = 0; j < 4; j++)
            _mm256_storeu_si256((__m256i *)(q + 128 * h + 32 * j), _mm256_sub_epi8(bits2(v, 2 * j), off));
    }
}

void ef_qunpack_q2_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    codes2(src + 16, 0, g->q);
    const __m128i s = _mm_loadu_si128((const __m128i *)src); /* [16] low nibble sc, high nibble m */
    const __m128i m4 = _mm_set1_epi8(0x0F);
    _mm256_storeu_si256((__m256i *)g->scale, _mm256_cvtepu8_epi16(_mm_and_si128(s, m4)));
    _mm256_storeu_si256((__m256i *)g->min, _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4)));
    _mm256_storeu_ps(g->d, _mm256_set1_ps(load_f16(src + 80)));
    _mm256_storeu_ps(g->dmin, _mm256_set1_ps(load_f16(src + 82)));
}

void ef_qunpack_q3_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    const __m256i hm = _mm256_loadu_si256((const __m256i *)src); /* [32] hmask */
    const __m256i one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    for (int h = 0; h < 2; h++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(src + 32 + 32 * h)); /* [32] */
        for (int j = 0; j < 4; j++) {
            const __m256i high = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(4 * h + j)), one);
            const __m256i u = _mm256_or_si256(bits2(v, 2 * j), _mm256_slli_epi16(high, 2)); /* [32] 0..7 */
            _mm256_storeu_si256((__m256i *)(g->q + 128 * h + 32 * j), _mm256_sub_epi8(u, four));
        }
    }
    const uint8_t *sc = src + 96; /* [12] */
    for (int i = 0; i < 16; i++) {
        const int lo = i < 8 ? sc[i] & 15 : sc[i - 8] >> 4;
        const int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        g->scale[i] = (int16_t)((lo | hi << 4) - 32);
    }
    _mm256_storeu_si256((__m256i *)g->min, _mm256_setzero_si256());
    _mm256_storeu_ps(g->d, _mm256_set1_ps(load_f16(src + 108)));
    _mm256_storeu_ps(g->dmin, _mm256_setzero_ps());
}

#else

void ef_qunpack_q2_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q2_k(src, n32, g); }
void ef_qunpack_q3_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q3_k(src, n32, g); }

#endif
