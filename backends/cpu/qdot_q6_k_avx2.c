/* Q6_K with AVX2: the unpacker into the group form of qdot.h (scalar
 * reference: qdot_q6_k.c; the bytes must match) and the fused integer-dot
 * row kernel (scalar reference: the group path, qdot_core.c). Per half h:
 * ql[0..31] and ql[32..63] give the low nibbles of k = 0, 1 and high
 * nibbles of k = 2, 3; qh[32h + l] bits 2k..2k+1 are the top two bits.
 * The fused kernel multiplies the unsigned codes (0..63) and takes the
 * offset off afterwards: Σ(c-32)a = Σca - 32·Σa, with Σa per 16 from the
 * activation sums. A fused weight-only row kernel converts the int8 codes
 * (code - 32) to F32 16 at a time, one FMA by d·sc per 16. */
#include "cpu/qdot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

void ef_qunpack_q6_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(src + 64 * h));      /* [32] */
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(src + 64 * h + 32)); /* [32] */
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(src + 128 + 32 * h)); /* [32] */
        const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                               _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
        for (int k = 0; k < 4; k++) {
            const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), m2); /* [32] 0..3 */
            const __m256i code = _mm256_or_si256(lo[k], _mm256_slli_epi16(hi, 4));
            _mm256_storeu_si256((__m256i *)(g->q + 128 * h + 32 * k), _mm256_sub_epi8(code, bias));
        }
    }
    const __m128i sc = _mm_loadu_si128((const __m128i *)(src + 192)); /* [16] i8 */
    _mm256_storeu_si256((__m256i *)g->scale, _mm256_cvtepi8_epi16(sc));
    _mm256_storeu_si256((__m256i *)g->min, _mm256_setzero_si256());
    uint16_t hd;
    memcpy(&hd, src + 208, 2);
    _mm256_storeu_ps(g->d, _mm256_set1_ps(_cvtsh_ss(hd)));
    _mm256_storeu_ps(g->dmin, _mm256_setzero_ps());
}

float ef_qrow_q6_k_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(); /* [8] lane sums */
    __m256 offset = _mm256_setzero_ps(); /* [8] lane sums of d·d_a·32·sc·Σa */
    for (int64_t sb = 0; sb < in / 256; sb++, row += 210) {
        const ef_qgroup_a *a = xa + sb;
        const int8_t *sc = (const int8_t *)(row + 192); /* [16] */
        __m256i isum = _mm256_setzero_si256();           /* [8] i32 */
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(row + 64 * h));       /* [32] */
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(row + 64 * h + 32));  /* [32] */
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(row + 128 + 32 * h)); /* [32] */
            const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                                   _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
            for (int k = 0; k < 4; k++) {
                const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), m2);
                const __m256i code = _mm256_or_si256(lo[k], _mm256_slli_epi16(hi, 4)); /* [32] 0..63 */
                const __m256i aq = _mm256_loadu_si256((const __m256i *)(a->q + 128 * h + 32 * k));
                const int s = 8 * h + 2 * k;
                const __m256i scv = _mm256_setr_m128i(_mm_set1_epi16(sc[s]), _mm_set1_epi16(sc[s + 1]));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(code, aq), scv));
            }
        }
        const __m256i corr = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)),
                                               _mm256_loadu_si256((const __m256i *)a->bsum)); /* [8] i32 */
        uint16_t hd;
        memcpy(&hd, row + 208, 2);
        const float dd = _cvtsh_ss(hd) * a->d[0];
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum), acc);
        offset = _mm256_fmadd_ps(_mm256_set1_ps(dd * 32.0f), _mm256_cvtepi32_ps(corr), offset);
    }
    return ef_avx2_hsum(acc) - ef_avx2_hsum(offset);
}

/* Σ q[i]·x[i] over 16 signed byte codes (8 lanes). x: [16]. */
static inline __m256 dot16_i8(__m128i q, const float *x) {
    const __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_loadu_ps(x));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))), _mm256_loadu_ps(x + 8), s);
}

/* Weight-only: codes - 32 as int8, per 16 elements Σ q·x in registers,
 * then one FMA by d·sc. */
float ef_qrow_q6_k_f32_avx2(const uint8_t *row, const float *x, int64_t in) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps(); /* [8] lane sums */
    for (int64_t sb = 0; sb < in / 256; sb++, row += 210, x += 256) {
        const int8_t *sc = (const int8_t *)(row + 192); /* [16] */
        uint16_t hd;
        memcpy(&hd, row + 208, 2);
        const float d = _cvtsh_ss(hd);
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(row + 64 * h));       /* [32] */
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(row + 64 * h + 32));  /* [32] */
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(row + 128 + 32 * h)); /* [32] */
            const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),
                                   _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
            for (int k = 0; k < 4; k++) {
                const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), m2);
                const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo[k], _mm256_slli_epi16(hi, 4)), bias); /* [32] */
                const float *xk = x + 128 * h + 32 * k;
                const int s = 8 * h + 2 * k;
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[s]), dot16_i8(_mm256_castsi256_si128(q), xk), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[s + 1]),
                                      dot16_i8(_mm256_extracti128_si256(q, 1), xk + 16), acc);
            }
        }
    }
    return ef_avx2_hsum(acc);
}

#else

float ef_qrow_q6_k_f32_avx2(const uint8_t *row, const float *x, int64_t in) {
    (void)row, (void)x, (void)in;
    return 0.0f; /* never dispatched without AVX2 */
}

float ef_qrow_q6_k_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f; /* never dispatched without AVX2 */
}

void ef_qunpack_q6_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q6_k(src, n32, g); }

#endif
