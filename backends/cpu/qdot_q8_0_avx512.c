/* Q8_0 with AVX-512: the fused integer-dot row kernels (qdot_avx512.h),
 * reading the 34-byte blocks (f16 d, i8 q[32]) directly, two blocks per
 * zmm register: 64 int8 products summed 4 at a time (vpdpbusd, or
 * vpmaddubsw + vpmaddwd without VNNI) into [16] int32 — lanes 0..7 block
 * b, 8..15 block b+1 — then one FMA by d_w·d_a spread per block. Scalar
 * reference: the group path (qdot_q8_0.c unpacker + qdot_core.c); AVX2
 * twin: qdot_q8_0_avx2.c. Weight-only Q8_0 runs the dense kernels
 * (gemv/gemm_avx512.c, exact d·q in F32); its one-row form is here too. The sums keep a fixed order, so
 * GEMV and GEMM agree bit for bit. */
#include "cpu/qdot_avx512.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx512.h"

enum { Q8_0_BYTES = 34 };

/* [64] int8: the codes of blocks at blk and blk + 34 (the second may be absent: zero). */
EF_AVX512_INLINE __m512i codes2(const uint8_t *blk, int two) {
    const __m256i q0 = _mm256_loadu_si256((const __m256i *)(blk + 2)); /* [32] */
    const __m256i q1 = two ? _mm256_loadu_si256((const __m256i *)(blk + Q8_0_BYTES + 2)) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
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
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = rows[r] + b * Q8_0_BYTES;
            const __m512i isum = ef_avx512_dot_s8(codes2(blk, 1), aq, vnni); /* [16] i32 */
            const __m512 sc = ef_avx512_block_scales2(blk, blk + Q8_0_BYTES, a->d + (b & 7));
            acc[r] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(isum), acc[r]);
        }
    }
    if (b < nb) { /* an odd last block: the upper half is zero codes × zero factor */
        const ef_qgroup_a *a = xa + (b >> 3);
        const __m512i aq = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(a->q + 32 * (b & 7))));
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = rows[r] + b * Q8_0_BYTES;
            const __m512i isum = ef_avx512_dot_s8(codes2(blk, 0), aq, vnni);
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

float ef_qrow_q8_0_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return row_int(row, xa, in, 0);
}

float ef_qrow_q8_0_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    return row_int(row, xa, in, 1);
}

void ef_qrows_q8_0_int_avx512(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    rows_int(rows, EF_QROWS, xa, in, 0, out);
}

void ef_qrows_q8_0_int_avx512_vnni(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    rows_int(rows, EF_QROWS, xa, in, 1, out);
}

/* Weight-only, one row: the order of the dense AVX-512 GEMV (gemv_avx512.c)
 * — exact d·q, one 16-lane FMA chain over k ascending, ef_avx512_hsum — so
 * a row gives the same bits here as there (the sparse FFN gathers rows
 * with it). x: [in]. */
float ef_qrow_q8_0_f32_avx512(const uint8_t *row, const float *x, int64_t in) {
    __m512 acc = _mm512_setzero_ps(); /* [16] lane sums */
    for (int64_t k = 0; k + 32 <= in; k += 32) {
        __m512 w0, w1; /* [16], [16] */
        ef_avx512_load_q32(EF_TYPE_Q8_0, row, k, &w0, &w1);
        acc = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + k + 16), _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + k), acc));
    }
    return ef_avx512_hsum(acc);
}

#else /* built without the AVX-512 flags: never dispatched */

float ef_qrow_q8_0_f32_avx512(const uint8_t *row, const float *x, int64_t in) {
    (void)row, (void)x, (void)in;
    return 0.0f;
}

float ef_qrow_q8_0_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f;
}
float ef_qrow_q8_0_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f;
}
void ef_qrows_q8_0_int_avx512(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    (void)rows, (void)xa, (void)in, (void)out;
}
void ef_qrows_q8_0_int_avx512_vnni(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    (void)rows, (void)xa, (void)in, (void)out;
}

#endif
