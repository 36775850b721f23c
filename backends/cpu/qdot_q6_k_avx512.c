/* Q6_K with AVX-512: the fused integer-dot row kernels (qdot_avx512.h),
 * reading the 210-byte super-blocks (u8 ql[128], u8 qh[64], i8 sc[16],
 * f16 d; per half h of 128 elements, ql[64h .. 64h+63] give the low
 * nibbles of elements 0..63 and the high nibbles of 64..127 in order, and
 * qh[32h + l] bits 2k..2k+1 are the top bits of element 32k + l;
 * x = d·sc[e/16]·(code − 32)). Scalar reference: the group path
 * (qdot_q6_k.c + qdot_core.c); AVX2 twin: qdot_q6_k_avx2.c.
 * 64 unsigned codes (0..63) per zmm in element order against the
 * activations, 4-products summed (vpdpbusd, or vpmaddubsw + vpmaddwd),
 * times the per-16 scales in int32 (exact); the offset comes off once per
 * super-block, Σ(c−32)a = Σca − 32·Σa, from the per-16 activation sums.
 * The sums keep a fixed order (GEMV ≡ GEMM bitwise).
 * Integer-dot only: a weight-only zmm kernel (codes − 32 widened to F32
 * per sub-block) ran 3-6 % slower than the AVX2 one on Zen 4 (the
 * widening is the work, and zmm widening costs two ymm ones there), so the
 * AVX2 kernel serves that mode. */
#include "cpu/qdot_avx512.h"

#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx512.h"

enum { Q6_K_BYTES = 210 };

/* The 128 codes (0..63) of half h: out[0] elements 0..63, out[1] 64..127. */
EF_AVX512_INLINE void codes_half(const uint8_t *blk, int h, __m512i out[2]) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
    const __m512i l = _mm512_loadu_si512((const void *)(blk + 64 * h));                    /* [64] ql */
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));          /* [32] */
    const __m512i q2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1); /* k 0 | k 1 bits at 0..1 */
    const __m512i h01 = _mm512_slli_epi16(_mm512_and_si512(q2, m2), 4);                    /* top bits, elements 0..63 */
    const __m512i h23 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(q2, 4), m2), 4); /* elements 64..127 */
    out[0] = _mm512_or_si512(_mm512_and_si512(l, m4), h01);
    out[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), h23);
}

EF_AVX512_INLINE float row_int(const uint8_t *row, const ef_qgroup_a *xa, int64_t in, int vnni) {
    (void)vnni; /* unused where the compiler lacks VNNI */
    /* lane l of a 64-element 4-sum vector belongs to sub-block l/4 (16 elements) */
    const __m512i quad = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();    /* [16] lane sums */
    __m256 offset = _mm256_setzero_ps(); /* [8] lane sums of d·d_a·32·sc·Σa */
    for (int64_t sb = 0; sb < in / 256; sb++, row += Q6_K_BYTES) {
        const ef_qgroup_a *a = xa + sb;
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)(row + 192)); /* [16] i8 */
        const __m512i scv = _mm512_cvtepi8_epi32(sc8);                      /* [16] i32 */
        __m512i isum = _mm512_setzero_si512();                              /* [16] i32 */
        for (int h = 0; h < 2; h++) {
            __m512i c[2];
            codes_half(row, h, c);
            for (int p = 0; p < 2; p++) {
                const __m512i aq = _mm512_loadu_si512((const void *)(a->q + 128 * h + 64 * p)); /* [64] */
                __m512i dot;
#if defined(__AVX512VNNI__)
                if (vnni) dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[p], aq);
                else
#endif
                    dot = _mm512_madd_epi16(_mm512_maddubs_epi16(c[p], aq), _mm512_set1_epi16(1));
                const __m512i s4 = _mm512_permutexvar_epi32(_mm512_add_epi32(quad, _mm512_set1_epi32(8 * h + 4 * p)), scv);
                isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot, s4));
            }
        }
        const __m256i corr = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8),
                                               _mm256_loadu_si256((const __m256i *)a->bsum)); /* [8] i32 */
        const float dd = ef_avx512_load_f16(row + 208) * a->d[0];
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dd), _mm512_cvtepi32_ps(isum), acc);
        offset = _mm256_fmadd_ps(_mm256_set1_ps(dd * 32.0f), _mm256_cvtepi32_ps(corr), offset);
    }
    const __m128 o4 = _mm_add_ps(_mm256_castps256_ps128(offset), _mm256_extractf128_ps(offset, 1)); /* [4] */
    __m128 s = _mm_add_ps(o4, _mm_movehl_ps(o4, o4));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return ef_avx512_hsum(acc) - _mm_cvtss_f32(s);
}

float ef_qrow_q6_k_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return row_int(row, xa, in, 0);
}

float ef_qrow_q6_k_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return row_int(row, xa, in, 1);
}

#else /* built without the AVX-512 flags: never dispatched */

float ef_qrow_q6_k_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f;
}
float ef_qrow_q6_k_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f;
}

#endif
