/* SiLU with AVX2 + FMA, 8 values per step, the steps of the scalar
 * reference (silu.h) lane by lane, so the same bits. */
#include "cpu/silu.h"

#if defined(__AVX2__) && defined(__FMA__)
#include "cpu/simd_avx2.h"

int ef_cpu_silu_avx2_built(void) { return 1; }

static inline __attribute__((always_inline)) __m256 silu8(__m256 g) {
    const __m256 lim = _mm256_set1_ps(EF_SILU_LIMIT);
    const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), g);          /* [8] |g| */
    const __m256 t = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_min_ps(a, lim)); /* [8] −min(a, limit) */
    __m256 n;                                   /* [8] integral */
    const __m256 p = ef_avx2_exp_poly(t, &n); /* [8] exp(t − n·ln 2) */
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));       /* [8] exp(−a) */
    e = _mm256_andnot_ps(_mm256_cmp_ps(a, lim, _CMP_GT_OQ), e);   /* 0 past the limit */
    const __m256 num = _mm256_blendv_ps(_mm256_mul_ps(g, e), g, _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_GE_OQ));
    return _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

void ef_cpu_silu_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, silu8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = ef_silu_ref(x[i]);
}

#else /* built without AVX2 flags */

int ef_cpu_silu_avx2_built(void) { return 0; }
void ef_cpu_silu_avx2(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }

#endif
