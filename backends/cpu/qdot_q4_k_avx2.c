/* Q4_K and Q5_K with AVX2: the unpackers into the group form of qdot.h
 * (scalar references: qdot_q4_k.c; the bytes must match) and Q4_K's fused
 * integer-dot row kernel (scalar reference: the group path, qdot_core.c).
 * Each 32 bytes of qs hold sub-blocks 2j (low nibbles) and 2j+1 (high
 * nibbles); Q5_K adds bit s of qh[l] as bit 4. The codes are unsigned, so
 * maddubs takes them as they are; the mins use the activation sums. Q4_K
 * also has a fused weight-only row kernel. */
#include "cpu/qdot.h"

void ef_qunpack_k_scales(const uint8_t *blk, ef_qgroup_w *g); /* qdot_q4_k.c */

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

/* qh == NULL: Q4_K. */
static inline void unpack_k(const uint8_t *blk, const uint8_t *qh, const uint8_t *qs, ef_qgroup_w *g) {
    ef_qunpack_k_scales(blk, g);
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i hbits = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256(); /* [32] */
    for (int j = 0; j < 4; j++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * j)); /* [32] u8 */
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if (qh) {
            /* bit s of qh → bit 4: shift the 16-bit lanes right by s (bits do not cross into the kept one) */
            const __m256i b_lo = _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j)), one);
            const __m256i b_hi = _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j + 1)), one);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(b_lo, 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(b_hi, 4));
        }
        _mm256_storeu_si256((__m256i *)(g->q + 64 * j), lo);
        _mm256_storeu_si256((__m256i *)(g->q + 64 * j + 32), hi);
    }
}

void ef_qunpack_q4_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    unpack_k(src, NULL, src + 16, g);
}

void ef_qunpack_q5_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    (void)n32;
    unpack_k(src, src + 16, src + 48, g);
}

/* The 8 scales and 8 mins (6 bits each) of a Q4_K/Q5_K super-block, from
 * the 12 scale bytes read as three little-endian words w0, w1, w2 (bytes
 * 0-3, 4-7, 8-11), following the layout in lib/quant/k_quants_q4_q5.c:
 *   sc[0..3] = w0 & 63,  m[0..3] = w1 & 63   (per byte)
 *   sc[4..7] = (w2 & 15) | (w0 >> 6) << 4,  m[4..7] = (w2 >> 4) | (w1 >> 6) << 4. */
static inline void k_scales_mins(const uint8_t *scales, uint8_t sc[8], uint8_t m[8]) {
    uint32_t w0, w1, w2;
    memcpy(&w0, scales, 4), memcpy(&w1, scales + 4, 4), memcpy(&w2, scales + 8, 4);
    const uint32_t low6 = 0x3f3f3f3fu, low4 = 0x0f0f0f0fu, low2 = 0x03030303u;
    const uint32_t sc_lo = w0 & low6, m_lo = w1 & low6;
    const uint32_t sc_hi = (w2 & low4) | ((w0 >> 6) & low2) << 4;
    const uint32_t m_hi = ((w2 >> 4) & low4) | ((w1 >> 6) & low2) << 4;
    memcpy(sc, &sc_lo, 4), memcpy(sc + 4, &sc_hi, 4);
    memcpy(m, &m_lo, 4), memcpy(m + 4, &m_hi, 4);
}

float ef_qrow_q4_k_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();  /* [8] lane sums of the scale terms */
    __m256 mins = _mm256_setzero_ps(); /* [8] lane sums of dmin·d_a·m·Σa */
    for (int64_t sb = 0; sb < in / 256; sb++, row += 144) {
        const ef_qgroup_a *a = xa + sb;
        uint8_t sc[8], m[8];
        k_scales_mins(row + 4, sc, m);
        uint16_t hd[2];
        memcpy(hd, row, 4);
        __m256i isum = _mm256_setzero_si256(); /* [8] i32 */
        for (int j = 0; j < 4; j++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(row + 16 + 32 * j)); /* [32] u8 */
            const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(a->q + 64 * j)));
            const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(a->q + 64 * j + 32)));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j])));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(hd[0]) * a->d[0]), _mm256_cvtepi32_ps(isum), acc);
        /* m[s] twice (one per 16-element half) against the per-16 activation sums */
        const __m128i m8 = _mm_loadl_epi64((const __m128i *)m);                     /* [8] u8 */
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));        /* [16] */
        const __m256i msum = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)a->bsum)); /* [8] i32 */
        mins = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(hd[1]) * a->d[0]), _mm256_cvtepi32_ps(msum), mins);
    }
    return ef_avx2_hsum(acc) - ef_avx2_hsum(mins);
}

/* Σ c[i]·x[i] over 32 unsigned byte codes (8 lanes) and, in *xsum, Σ x[i]. x: [32]. */
static inline __m256 dot32_u8(__m256i c, const float *x, __m256 *xsum) {
    const __m128i c0 = _mm256_castsi256_si128(c), c1 = _mm256_extracti128_si256(c, 1);
    const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
    const __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
    __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c0)), x0);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c0, 8))), x1, s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c1)), x2, s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c1, 8))), x3, s);
    *xsum = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
    return s;
}

/* Weight-only: per sub-block of 32, Σ q·x and Σ x in registers, then
 * d·sc·Σqx - dmin·m·Σx: the weights are never formed one by one. */
float ef_qrow_q4_k_f32_avx2(const uint8_t *row, const float *x, int64_t in) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();  /* [8] lane sums of the scale terms */
    __m256 mins = _mm256_setzero_ps(); /* [8] lane sums of the min terms */
    for (int64_t sb = 0; sb < in / 256; sb++, row += 144, x += 256) {
        uint8_t sc[8], m[8];
        k_scales_mins(row + 4, sc, m);
        uint16_t hd[2];
        memcpy(hd, row, 4);
        const float d = _cvtsh_ss(hd[0]), dmin = _cvtsh_ss(hd[1]);
        for (int j = 0; j < 4; j++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(row + 16 + 32 * j)); /* [32] u8 */
            __m256 xs;
            __m256 qx = dot32_u8(_mm256_and_si256(v, m4), x + 64 * j, &xs);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[2 * j]), qx, acc);
            mins = _mm256_fmadd_ps(_mm256_set1_ps(dmin * (float)m[2 * j]), xs, mins);
            qx = dot32_u8(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), x + 64 * j + 32, &xs);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[2 * j + 1]), qx, acc);
            mins = _mm256_fmadd_ps(_mm256_set1_ps(dmin * (float)m[2 * j + 1]), xs, mins);
        }
    }
    return ef_avx2_hsum(acc) - ef_avx2_hsum(mins);
}

#else

float ef_qrow_q4_k_f32_avx2(const uint8_t *row, const float *x, int64_t in) {
    (void)row, (void)x, (void)in;
    return 0.0f; /* never dispatched without AVX2 */
}

float ef_qrow_q4_k_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f; /* never dispatched without AVX2 */
}

void ef_qunpack_q4_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q4_k(src, n32, g); }
void ef_qunpack_q5_k_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q5_k(src, n32, g); }

#endif
