/* Q4_0 with AVX-512: the fused integer-dot row kernels (qdot_avx512.h),
 * reading the 18-byte blocks (f16 d, u8 qs[16]: low nibble of qs[j] is
 * element j, high nibble j+16; x = d·(q-8)) directly, two blocks per zmm:
 * their 32 bytes spread to 128-bit lanes [qs0, qs0, qs1, qs1], shifted by
 * 0 or 4 per lane and masked → 64 unsigned nibbles q in element order;
 * Σ (q − 8)·a is taken as Σ q·a − 8·Σ a (unsigned × signed, as vpdpbusd
 * multiplies; Σ a is shared by the rows of a pass), then as Q8_0
 * (qdot_q8_0_avx512.c). Scalar reference: the
 * group path (qdot_q4.c unpacker + qdot_core.c); AVX2 twin: qdot_q4_avx2.c.
 * Weight-only Q4_0 runs the dense kernels (gemv/gemm_avx512.c); its one-row
 * form is here too. Decode
 * reads 0.56 bytes per weight, so the unpacking work, not memory, bounds a
 * core; the sums keep a fixed order (GEMV ≡ GEMM bitwise). */
#include "cpu/qdot_avx512.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx512.h"

enum { Q4_0_BYTES = 18 };

/* [64] unsigned nibbles (0..15) of the blocks at blk and blk + 18 (two = 0:
 * the second is absent, its nibbles 8, against zero activations). */
EF_AVX512_INLINE __m512i nibbles2(const uint8_t *blk, int two) {
    const __m128i v0 = _mm_loadu_si128((const __m128i *)(blk + 2)); /* [16] u8 */
    const __m128i v1 = two ? _mm_loadu_si128((const __m128i *)(blk + Q4_0_BYTES + 2)) : _mm_set1_epi8((char)0x88);
    const __m512i idx = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3);
    const __m512i v = _mm512_permutexvar_epi64(idx, _mm512_castsi256_si512(_mm256_setr_m128i(v0, v1))); /* [4][16] */
    const __m512i shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4); /* high nibbles in lanes 1, 3 */
    return _mm512_and_si512(_mm512_srlv_epi64(v, shift), _mm512_set1_epi8(0x0F));
}

/* [16] int32 Σ (q − 8)·a per 4 elements, as Σ q·a − 8·Σ a: the same
 * integers as the signed codes would give, without the sign handling;
 * asum8 = 8·Σ a per 4 elements, shared by every row against these a. */
EF_AVX512_INLINE __m512i dot_codes(__m512i q, __m512i aq, __m512i asum8, int vnni) {
    return _mm512_sub_epi32(ef_avx512_dot_u8(q, aq, vnni), asum8);
}

/* 8·Σ a per 4 elements of aq. */
EF_AVX512_INLINE __m512i act_sum8(__m512i aq, int vnni) {
    return _mm512_slli_epi32(ef_avx512_dot_u8(_mm512_set1_epi8(1), aq, vnni), 3);
}

/* out[r] = rows[r] · activations for r < R (1 or EF_QROWS, a constant
 * after inlining): one [16] lane-sum chain per row, blocks ascending, then
 * ef_avx512_hsum, so a row's bits do not depend on R. The rows share each
 * activation load and stream side by side. */
EF_AVX512_INLINE void rows_int(const uint8_t *const *rows, int R, const ef_qgroup_a *xa, int64_t in, int vnni,
                               float *out) {
    const int64_t nb = in / 32;
    __m512 acc[EF_QROWS]; /* [R][16] lane sums */
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) { /* b even: b and b+1 share a group of 8 */
        const ef_qgroup_a *a = xa + (b >> 3);
        const __m512i aq = _mm512_loadu_si512((const void *)(a->q + 32 * (b & 7))); /* [64] */
        const __m512i asum8 = act_sum8(aq, vnni);                                   /* [16] i32 */
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = rows[r] + b * Q4_0_BYTES;
            const __m512i isum = dot_codes(nibbles2(blk, 1), aq, asum8, vnni); /* [16] i32 */
            const __m512 sc = ef_avx512_block_scales2(blk, blk + Q4_0_BYTES, a->d + (b & 7));
            acc[r] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(isum), acc[r]);
        }
    }
    if (b < nb) { /* an odd last block: the absent block's nibbles meet zero activations */
        const ef_qgroup_a *a = xa + (b >> 3);
        const __m512i aq = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(a->q + 32 * (b & 7))));
        const __m512i asum8 = act_sum8(aq, vnni);
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = rows[r] + b * Q4_0_BYTES;
            const __m512i isum = dot_codes(nibbles2(blk, 0), aq, asum8, vnni);
            const __m512 sc = _mm512_maskz_mov_ps(0x00ff, _mm512_set1_ps(ef_avx512_load_f16(blk) * a->d[b & 7]));
            acc[r] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(isum), acc[r]);
        }
    }
    if (R == EF_QROWS) {
        _mm_storeu_ps(out, ef_avx512_hsum4(acc[0], acc[1], acc[2], acc[3]));
        return;
    }
    for (int r = 0; r < R; r++) out[r] = ef_avx512_hsum(acc[r]);
}

EF_AVX512_INLINE float row_int(const uint8_t *row, const ef_qgroup_a *xa, int64_t in, int vnni) {
    float out;
    rows_int(&row, 1, xa, in, vnni, &out);
    return out;
}

float ef_qrow_q4_0_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return row_int(row, xa, in, 0);
}

float ef_qrow_q4_0_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return row_int(row, xa, in, 1);
}

void ef_qrows_q4_0_int_avx512(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    rows_int(rows, EF_QROWS, xa, in, 0, out);
}

void ef_qrows_q4_0_int_avx512_vnni(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    rows_int(rows, EF_QROWS, xa, in, 1, out);
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
void ef_qrows_q4_0_int_avx512(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    (void)rows, (void)xa, (void)in, (void)out;
}
void ef_qrows_q4_0_int_avx512_vnni(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    (void)rows, (void)xa, (void)in, (void)out;
}

#endif
