/* Inline AVX-512 helpers shared by gemv_avx512.c, gemm_avx512.c and the
 * quantized row kernels: loading 16 weights of a row as F32 (F16 with
 * vcvtph2ps, BF16 with a 16-bit shift, in registers; a Q8_0/Q4_0 block 32
 * at a time), masked zero-padded tails, and the one horizontal sum the
 * kernels use so GEMV and GEMM agree bit for bit. Include only from files
 * compiled with the AVX-512 flags (*_avx512.c). */
#ifndef EF_BACKENDS_CPU_SIMD_AVX512_H
#define EF_BACKENDS_CPU_SIMD_AVX512_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "cpu/silu.h"
#include "quant/types.h"

#define EF_AVX512_INLINE static inline __attribute__((always_inline))

/* Asks for the two cache lines of row[0..32) (the start of an F32 C tile's row). */
EF_AVX512_INLINE void ef_avx512_prefetch_row32(const float *row) {
    _mm_prefetch((const char *)row, _MM_HINT_T0);
    _mm_prefetch((const char *)(row + 16), _MM_HINT_T0);
}

/* row[0..32) = lo, hi — or row + (lo, hi) when add: a register tile's row
 * written once into C (the training GEMM's 12×32 kernels). */
EF_AVX512_INLINE void ef_avx512_row32_out(float *row, __m512 lo, __m512 hi, int add) {
    if (add) {
        lo = _mm512_add_ps(_mm512_loadu_ps(row), lo);
        hi = _mm512_add_ps(_mm512_loadu_ps(row + 16), hi);
    }
    _mm512_storeu_ps(row, lo);
    _mm512_storeu_ps(row + 16, hi);
}

/* An F16 value stored at p (any alignment) as F32. */
EF_AVX512_INLINE float ef_avx512_load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* [16] F32: lanes 0..7 = s[0], lanes 8..15 = s[1], from the first two lanes of s. */
EF_AVX512_INLINE __m512 ef_avx512_spread2(__m128 s) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(s));
}

/* [16] F32 per-block factors of two consecutive 32-element blocks: the F16
 * scales at w0 and w1 times the activation scales da[0], da[1], each spread
 * over the 8 lanes of its block's int32 sums (ef_avx512_dot_s8). */
EF_AVX512_INLINE __m512 ef_avx512_block_scales2(const uint8_t *w0, const uint8_t *w1, const float *da) {
    uint16_t h0, h1;
    memcpy(&h0, w0, 2), memcpy(&h1, w1, 2);
    const __m128 dw = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(h0), h1, 1)); /* [2] */
    const __m128 dx = _mm_castpd_ps(_mm_load_sd((const double *)(const void *)da));  /* [2] */
    return ef_avx512_spread2(_mm_mul_ps(dw, dx));
}

/* Lane mask of the first len (0..16) lanes. */
EF_AVX512_INLINE __mmask16 ef_avx512_first16(int64_t len) { return (__mmask16)((1u << len) - 1u); }

/* 16 weights from element k of a row of `type` (F32, F16 or BF16). */
EF_AVX512_INLINE __m512 ef_avx512_load_w16(uint32_t type, const void *row, int64_t k) {
    if (type == EF_TYPE_F32) return _mm512_loadu_ps((const float *)row + k);
    const __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k)); /* [16] u16 */
    /* One zmm conversion: two 8-lane ones joined measured 0.97–1.01× in the
     * GEMM's packing (docs/benchmarks.md, "Row streams in the GEMV"). */
    if (type == EF_TYPE_F16) return _mm512_cvtph_ps(h);
    /* BF16 is the top half of an F32. */
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The last len (< 16) weights from element k, lanes ≥ len zero; the masked
 * load never touches memory past the row. */
EF_AVX512_INLINE __m512 ef_avx512_load_w_tail(uint32_t type, const void *row, int64_t k, int64_t len) {
    const __mmask16 m = ef_avx512_first16(len);
    if (type == EF_TYPE_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k); /* [16] u16, 0 is +0.0 */
    if (type == EF_TYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 1 for the quantized types the dense kernels also take (weight-only):
 * Q8_0 and Q4_0, whose weights d·q are exact in F32 (an F16 scale times a
 * code of at most 8 bits), so the dense order holds for them unchanged. */
EF_AVX512_INLINE int ef_avx512_dense_q(uint32_t type) { return type == EF_TYPE_Q8_0 || type == EF_TYPE_Q4_0; }

/* The 32 weights (exact F32) of the Q8_0 or Q4_0 block holding element k
 * (k a multiple of 32): w0 = elements 0..15, w1 = 16..31. Q8_0: f16 d,
 * i8 q[32]; Q4_0: f16 d, u8 qs[16] with element j in the low nibble of
 * qs[j] and j+16 in the high one, minus 8. */
EF_AVX512_INLINE void ef_avx512_load_q32(uint32_t type, const void *row, int64_t k, __m512 *w0, __m512 *w1) {
    __m128i q0, q1; /* [16] int8 codes of elements 0..15, 16..31 */
    const uint8_t *blk;
    if (type == EF_TYPE_Q8_0) {
        blk = (const uint8_t *)row + k / 32 * 34;
        q0 = _mm_loadu_si128((const __m128i *)(blk + 2));
        q1 = _mm_loadu_si128((const __m128i *)(blk + 18));
    } else {
        blk = (const uint8_t *)row + k / 32 * 18;
        const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2)); /* [16] u8 */
        const __m128i m4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
        q0 = _mm_sub_epi8(_mm_and_si128(v, m4), eight);
        q1 = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), eight);
    }
    const __m512 d = _mm512_set1_ps(ef_avx512_load_f16(blk));
    *w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d);
    *w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d);
}

/* The sum of 16 lanes, always in this order: (lo 8 + hi 8), then halves
 * pairwise down to one lane. */
EF_AVX512_INLINE float ef_avx512_hsum(__m512 v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); /* [8] */
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));           /* [4] */
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                                  /* [2] */
    s = _mm_add_ss(s, _mm_movehdup_ps(s));                                                   /* [1] */
    return _mm_cvtss_f32(s);
}

/* The four ef_avx512_hsum of a0..a3 at once: [hsum(a0), .., hsum(a3)].
 * The same additions in the same pairs (halves of 8, then of 4, then lanes
 * 0+2 and 1+3, then those two), so each result has hsum's bits. */
EF_AVX512_INLINE __m128 ef_avx512_hsum4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    const __m512 h01 = _mm512_add_ps(_mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(3, 2, 3, 2))); /* [8 | 8] */
    const __m512 h23 = _mm512_add_ps(_mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(3, 1, 3, 1))); /* [4|4|4|4] */
    const __m512 t = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));    /* lanes 0+2, 1+3 */
    const __m512 u = _mm512_add_ps(t, _mm512_permute_ps(t, _MM_SHUFFLE(2, 3, 0, 1)));    /* lane 0 of each 4 */
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                         12, 8, 4, 0), u));
}

/* Σ u·a of each 4 consecutive pairs of unsigned u (≤ 128) and signed a
 * (|a| ≤ 127): [64] of each → [16] int32, no pair sum saturating. vnni 1:
 * vpdpbusd, else vpmaddubsw + vpmaddwd; the results are the same integers. */
EF_AVX512_INLINE __m512i ef_avx512_dot_u8(__m512i u, __m512i a, int vnni) {
#if defined(__AVX512VNNI__)
    if (vnni) return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, a);
#else
    (void)vnni;
#endif
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, a), _mm512_set1_epi16(1));
}

/* Σ w·a of each 4 consecutive int8 pairs (64 of each → [16] int32), as
 * |w| · (a with w's sign), the unsigned×signed form (|w| ≤ 128). */
EF_AVX512_INLINE __m512i ef_avx512_dot_s8(__m512i w, __m512i a, int vnni) {
    const __m512i aw = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a); /* [64] */
    return ef_avx512_dot_u8(_mm512_abs_epi8(w), aw, vnni);
}

/* silu.h's ef_exp_poly_ref lane by lane (the same steps, so the same bits):
 * *n = rint(t·log2 e), returns exp(t − n·ln 2) [16]. */
EF_AVX512_INLINE __m512 ef_avx512_exp_poly(__m512 t, __m512 *n) {
    *n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(EF_SILU_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(*n, _mm512_set1_ps(-EF_SILU_LN2_HI), t);
    r = _mm512_fmadd_ps(*n, _mm512_set1_ps(-EF_SILU_LN2_LO), r);
    __m512 p = _mm512_set1_ps(EF_SILU_C7);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EF_SILU_C6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EF_SILU_C5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EF_SILU_C4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EF_SILU_C3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EF_SILU_C2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
}

#endif
