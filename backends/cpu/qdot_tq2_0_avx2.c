/* TQ2_0 into the unpacked group form of qdot.h with AVX2 (scalar
 * reference: qdot_tq2_0.c; the bytes must match): bits 2j..2j+1 of byte l
 * of the 32-byte half h are digit t of element 128h + 32j + l; q = t - 1. */
#include "cpu/qdot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

void ef_qunpack_tq2_0_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int h = 0; h < 2; h++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(src + 32 * h)); /* [32] */
        for (int j = 0; j < 4; j++) {
            const __m256i t = _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * j)), three); /* [32] 0..3 */
            _mm256_storeu_si256((__m256i *)(g->q + 128 * h + 32 * j), _mm256_sub_epi8(t, one));
        }
    }
    uint16_t hd;
    memcpy(&hd, src + 64, 2);
    _mm256_storeu_si256((__m256i *)g->scale, _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)g->min, _mm256_setzero_si256());
    _mm256_storeu_ps(g->d, _mm256_set1_ps(_cvtsh_ss(hd)));
    _mm256_storeu_ps(g->dmin, _mm256_setzero_ps());
}

#else

void ef_qunpack_tq2_0_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_tq2_0(src, n32, g); }

#endif
