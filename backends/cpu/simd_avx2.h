/* Inline AVX2 helpers shared by gemv_avx2.c and gemm_avx2.c: loading 8
 * weights of a row as F32 (converting F16 with F16C and BF16 with a shift,
 * in registers), zero-padded tails, and the one horizontal sum both kernels
 * use so their results agree bit for bit. Include only from files compiled
 * with -mavx2 -mfma -mf16c. */
#ifndef EF_BACKENDS_CPU_SIMD_AVX2_H
#define EF_BACKENDS_CPU_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "cpu/silu.h"
#include "quant/types.h"

#define EF_AVX2_INLINE static inline __attribute__((always_inline))

/* 8 weights starting at element k of a row of `type` (F32, F16 or BF16). */
EF_AVX2_INLINE __m256 ef_avx2_load_w8(uint32_t type, const void *row, int64_t k) {
    if (type == EF_TYPE_F32) return _mm256_loadu_ps((const float *)row + k);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)); /* [8] u16 */
    if (type == EF_TYPE_F16) return _mm256_cvtph_ps(h);
    /* BF16 is the top half of an F32. */
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* The last len (< 8) weights from element k, lanes ≥ len zero. */
EF_AVX2_INLINE __m256 ef_avx2_load_w_tail(uint32_t type, const void *row, int64_t k, int64_t len) {
    if (type == EF_TYPE_F32) {
        float tmp[8] = {0}; /* [8]: tail, zero-padded */
        memcpy(tmp, (const float *)row + k, (size_t)len * sizeof(float));
        return _mm256_loadu_ps(tmp);
    }
    uint16_t tmp[8] = {0}; /* [8]: tail, zero-padded (0 is +0.0 in F16 and BF16) */
    memcpy(tmp, (const uint16_t *)row + k, (size_t)len * sizeof(uint16_t));
    return ef_avx2_load_w8(type, tmp, 0);
}

/* Lane mask selecting the first len (0..8) lanes, for maskload. */
EF_AVX2_INLINE __m256i ef_avx2_first_lanes(int64_t len) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)len), idx);
}

/* The sum of 8 lanes, always in this order: (lo+hi) pairwise. */
EF_AVX2_INLINE float ef_avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); /* [4] */
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                       /* [2] */
    s = _mm_add_ss(s, _mm_movehdup_ps(s));                                        /* [1] */
    return _mm_cvtss_f32(s);
}

/* The four ef_avx2_hsum of a0..a3 at once: [hsum(a0), .., hsum(a3)].
 * The same additions in the same pairs (halves of 4, then lanes 0+2 and
 * 1+3, then those two), so each result has hsum's bits. */
EF_AVX2_INLINE __m128 ef_avx2_hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 s01 = _mm256_add_ps(_mm256_permute2f128_ps(a0, a1, 0x20),
                                     _mm256_permute2f128_ps(a0, a1, 0x31)); /* [4 of a0 | 4 of a1] */
    const __m256 s23 = _mm256_add_ps(_mm256_permute2f128_ps(a2, a3, 0x20), _mm256_permute2f128_ps(a2, a3, 0x31));
    const __m256 t01 = _mm256_add_ps(s01, _mm256_permute_ps(s01, _MM_SHUFFLE(1, 0, 3, 2))); /* lanes 0+2, 1+3 */
    const __m256 t23 = _mm256_add_ps(s23, _mm256_permute_ps(s23, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m256 u01 = _mm256_add_ps(t01, _mm256_permute_ps(t01, _MM_SHUFFLE(2, 3, 0, 1))); /* lane 0 of each 4 */
    const __m256 u23 = _mm256_add_ps(t23, _mm256_permute_ps(t23, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m256 m = _mm256_unpacklo_ps(u01, u23); /* [a0 a2 . . | a1 a3 . .] */
    return _mm_unpacklo_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
}

/* silu.h's ef_exp_poly_ref lane by lane (the same steps, so the same bits):
 * *n = rint(t·log2 e), returns exp(t − n·ln 2) [8]. */
EF_AVX2_INLINE __m256 ef_avx2_exp_poly(__m256 t, __m256 *n) {
    *n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(EF_SILU_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(*n, _mm256_set1_ps(-EF_SILU_LN2_HI), t);
    r = _mm256_fmadd_ps(*n, _mm256_set1_ps(-EF_SILU_LN2_LO), r);
    __m256 p = _mm256_set1_ps(EF_SILU_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EF_SILU_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EF_SILU_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EF_SILU_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EF_SILU_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EF_SILU_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    return _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
}

/* An 8×8 transpose in registers: afterwards x[j] = (x[0][j], …, x[7][j]). */
EF_AVX2_INLINE void ef_avx2_transpose8x8(__m256 x[8]) {
    __m256 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(x[k], x[k + 1]);     /* x_k[0] x_k+1[0] x_k[1] x_k+1[1] | [4], [5] */
        t[k + 1] = _mm256_unpackhi_ps(x[k], x[k + 1]); /* [2], [3] | [6], [7] */
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);         /* column 0 | 4 of rows k..k+3 */
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);     /* column 1 | 5 */
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44); /* column 2 | 6 */
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE); /* column 3 | 7 */
    }
    for (int j = 0; j < 4; j++) {
        x[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        x[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

#endif
