/* exp and sigmoid with AVX2 + FMA, 8 values per step, the steps of the
 * scalar reference (exp.h) lane by lane, so the same bits. */
#include "cpu/exp.h"

#if defined(__AVX2__) && defined(__FMA__)
#include "cpu/simd_avx2.h"

int ef_cpu_exp_avx2_built(void) { return 1; }

/* 2^k for integral k ∈ [−126, 127] [8]. */
static inline __attribute__((always_inline)) __m256 pow2_8(__m256 k) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23));
}

static inline __attribute__((always_inline)) __m256 exp8(__m256 x) {
    const __m256 t = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EF_EXP_LO)), _mm256_set1_ps(EF_EXP_HI)); /* [8] */
    __m256 n;                                   /* [8] integral */
    const __m256 p = ef_avx2_exp_poly(t, &n); /* [8] exp(t − n·ln 2) */
    const __m256 n1 = _mm256_round_ps(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 n2 = _mm256_sub_ps(n, n1);
    const __m256 e = _mm256_mul_ps(_mm256_mul_ps(p, pow2_8(n1)), pow2_8(n2));
    return _mm256_blendv_ps(e, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q)); /* NaN stays */
}

static inline __attribute__((always_inline)) __m256 sigmoid8(__m256 x) {
    const __m256 e = exp8(_mm256_xor_ps(x, _mm256_set1_ps(-0.0f))); /* [8] exp(−x) */
    return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

void ef_cpu_exp_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = ef_exp_ref(x[i]);
}

void ef_cpu_sigmoid_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, sigmoid8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = ef_sigmoid_ref(x[i]);
}

#else /* built without AVX2 flags */

int ef_cpu_exp_avx2_built(void) { return 0; }
void ef_cpu_exp_avx2(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }
void ef_cpu_sigmoid_avx2(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }

#endif
