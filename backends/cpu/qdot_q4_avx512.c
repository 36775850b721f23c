/* Q4_0 with AVX-512: the fused integer-dot row kernels (qdot_avx512.h),
 * reading the 18-byte blocks (f16 d, u8 qs[16]: low nibble of qs[j] is
 * element j, high nibble j+16; x = d·(q-8)) directly, two blocks per zmm:
 * their 32 bytes spread to 128-bit lanes [qs0, qs0, qs1, qs1], shifted by
 * 0 or 4 per lane, masked to the nibble and offset by 8 → 64 int8 codes in
 * element order, then as Q8_0 (qdot_q8_0_avx512.c). Scalar reference: the
 * group path (qdot_q4.c unpacker + qdot_core.c); AVX2 twin: qdot_q4_avx2.c.
 * Weight-only Q4_0 runs the dense kernels (gemv/gemm_avx512.c); its one-row
 * form is here too. Decode
 * reads 0.56 bytes per weight, so the unpacking work, not memory, bounds a
 * core; the sums keep a fixed order (GEMV ≡ GEMM bitwise). */
#include "cpu/qdot_avx512.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx512.h"

enum { Q4_0_BYTES = 18 };

/* [64] int8 codes minus 8 of the blocks at blk and blk + 18 (two = 0: the
 * second is absent, its codes zero). */
EF_AVX512_INLINE __m512i codes2(const uint8_t *blk, int two) {
    const __m128i v0 = _mm_loadu_si128((const __m128i *)(blk + 2)); /* [16] u8 */
    const __m128i v1 = two ? _mm_loadu_si128((const __m128i *)(blk + Q4_0_BYTES + 2)) : _mm_set1_epi8((char)0x88);
    const __m512i idx = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3);
    const __m512i v = _mm512_permutexvar_epi64(idx, _mm512_castsi256_si512(_mm256_setr_m128i(v0, v1))); /* [4][16] */
    const __m512i shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4); /* high nibbles in lanes 1, 3 */
    const __m512i q = _mm512_and_si512(_mm512_srlv_epi64(v, shift), _mm512_set1_epi8(0x0F));
    return _mm512_sub_epi8(q, _mm512_set1_epi8(8));
}

EF_AVX512_INLINE float row_int(const uint8_t *row, const ef_qgroup_a *xa, int64_t in, int vnni) {
    const int64_t nb = in / 32;
    __m512 acc = _mm512_setzero_ps(); /* [16] lane sums */
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2, row += 2 * Q4_0_BYTES) { /* b even: b and b+1 share a group of 8 */
        const ef_qgroup_a *a = xa + (b >> 3);
        const __m512i aq = _mm512_loadu_si512((const void *)(a->q + 32 * (b & 7))); /* [64] */
        const __m512i isum = ef_avx512_dot_s8(codes2(row, 1), aq, vnni);          /* [16] i32 */
        const __m512 sc = ef_avx512_block_scales2(row, row + Q4_0_BYTES, a->d + (b & 7));
        acc = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(isum), acc);
    }
    if (b < nb) { /* an odd last block: zero codes (0x88 - 8·0x11 = 0) against zero activations above it */
        const ef_qgroup_a *a = xa + (b >> 3);
        const __m512i aq = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(a->q + 32 * (b & 7))));
        const __m512i isum = ef_avx512_dot_s8(codes2(row, 0), aq, vnni);
        const __m512 sc = _mm512_maskz_mov_ps(0x00ff, _mm512_set1_ps(ef_avx512_load_f16(row) * a->d[b & 7]));
        acc = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(isum), acc);
    }
    return ef_avx512_hsum(acc);
}

float ef_qrow_q4_0_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return row_int(row, xa, in, 0);
}

float ef_qrow_q4_0_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return row_int(row, xa, in, 1);
}

/* Weight-only, one row: the order of the dense AVX-512 GEMV (gemv_avx512.c)
 * — exact d·q, one 16-lane FMA chain over k ascending, ef_avx512_hsum — so
 * a row gives the same bits here as there (the sparse FFN gathers rows
 * with it). x: [in]. */
float ef_qrow_q4_0_f32_avx512(const uint8_t *row, const float *x, int64_t in) {
    __m512 acc = _mm512_setzero_ps(); /* [16] lane sums */
    for (int64_t k = 0; k + 32 <= in; k += 32) {
        __m512 w0, w1; /* [16], [16] */
        ef_avx512_load_q32(EF_TYPE_Q4_0, row, k, &w0, &w1);
        acc = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + k + 16), _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + k), acc));
    }
    return ef_avx512_hsum(acc);
}

#else /* built without the AVX-512 flags: never dispatched */

float ef_qrow_q4_0_f32_avx512(const uint8_t *row, const float *x, int64_t in) {
    (void)row, (void)x, (void)in;
    return 0.0f;
}

float ef_qrow_q4_0_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f;
}
float ef_qrow_q4_0_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f;
}

#endif
