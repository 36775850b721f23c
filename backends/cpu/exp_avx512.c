/* exp and sigmoid with AVX-512, 16 values per step (a masked step for the
 * tail), the steps of the scalar reference (exp.h) lane by lane, so the
 * same bits. */
#include "cpu/exp.h"

#if defined(__AVX512F__)
#include "cpu/simd_avx512.h"

int ef_cpu_exp_avx512_built(void) { return 1; }

/* 2^k for integral k ∈ [−126, 127] [16]. */
static inline __attribute__((always_inline)) __m512 pow2_16(__m512 k) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23));
}

static inline __attribute__((always_inline)) __m512 exp16(__m512 x) {
    const __m512 t = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EF_EXP_LO)), _mm512_set1_ps(EF_EXP_HI)); /* [16] */
    __m512 n;                                     /* [16] integral */
    const __m512 p = ef_avx512_exp_poly(t, &n); /* [16] exp(t − n·ln 2) */
    const __m512 n1 = _mm512_roundscale_ps(_mm512_mul_ps(n, _mm512_set1_ps(0.5f)), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 n2 = _mm512_sub_ps(n, n1);
    const __m512 e = _mm512_mul_ps(_mm512_mul_ps(p, pow2_16(n1)), pow2_16(n2));
    return _mm512_mask_mov_ps(e, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x); /* NaN stays */
}

static inline __attribute__((always_inline)) __m512 sigmoid16(__m512 x) {
    const __m512 e = exp16(_mm512_xor_ps(x, _mm512_set1_ps(-0.0f))); /* [16] exp(−x) */
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

void ef_cpu_exp_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, exp16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void ef_cpu_sigmoid_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, sigmoid16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, sigmoid16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

#else /* built without AVX-512 flags */

int ef_cpu_exp_avx512_built(void) { return 0; }
void ef_cpu_exp_avx512(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }
void ef_cpu_sigmoid_avx512(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }

#endif
