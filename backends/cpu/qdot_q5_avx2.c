/* Q5_0 and Q5_1 into the unpacked group form of qdot.h with AVX2 (scalar
 * references: qdot_q5.c; the bytes must match). The 32 fifth bits of a
 * block (qh, a little-endian u32, bit i for element i) become bytes 0x10 /
 * 0x00 with one shuffle and one compare; the nibbles as in Q4_0. */
#include "cpu/qdot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

static inline float load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Codes (0..31) of one block minus offset, stored at q[32]. */
static inline void codes5(const uint8_t *qh_bytes, const uint8_t *qs, int offset, int8_t *q) {
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, /* byte i/8 of qh */
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);       /* bit i%8 */
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), spread); /* [32] */
    const __m256i fifth = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit), _mm256_set1_epi8(0x10));
    const __m128i v = _mm_loadu_si128((const __m128i *)qs); /* [16] u8 */
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m256i low = _mm256_setr_m128i(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    const __m256i code = _mm256_sub_epi8(_mm256_or_si256(low, fifth), _mm256_set1_epi8((char)offset));
    _mm256_storeu_si256((__m256i *)q, code);
}

static inline void clear_tail(int32_t n32, ef_qgroup_w *g) {
    for (int32_t b = n32; b < 8; b++) {
        g->d[b] = g->dmin[b] = 0.0f;
        g->scale[2 * b] = g->scale[2 * b + 1] = 0;
        g->min[2 * b] = g->min[2 * b + 1] = 0;
        _mm256_storeu_si256((__m256i *)(g->q + 32 * b), _mm256_setzero_si256());
    }
}

void ef_qunpack_q5_0_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    _mm256_storeu_si256((__m256i *)g->scale, _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)g->min, _mm256_setzero_si256());
    _mm256_storeu_ps(g->dmin, _mm256_setzero_ps());
    for (int32_t b = 0; b < n32; b++, src += 22) {
        g->d[b] = load_f16(src);
        codes5(src + 2, src + 6, 16, g->q + 32 * b);
    }
    clear_tail(n32, g);
}

void ef_qunpack_q5_1_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    _mm256_storeu_si256((__m256i *)g->scale, _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)g->min, _mm256_set1_epi16(1));
    for (int32_t b = 0; b < n32; b++, src += 24) {
        g->d[b] = load_f16(src);
        g->dmin[b] = -load_f16(src + 2);
        codes5(src + 4, src + 8, 0, g->q + 32 * b);
    }
    clear_tail(n32, g);
}

#else

void ef_qunpack_q5_0_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q5_0(src, n32, g); }
void ef_qunpack_q5_1_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q5_1(src, n32, g); }

#endif
