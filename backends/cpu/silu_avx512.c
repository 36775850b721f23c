/* SiLU with AVX-512, 16 values per step (a masked step for the tail), the
 * steps of the scalar reference (silu.h) lane by lane, so the same bits. */
#include "cpu/silu.h"

#if defined(__AVX512F__)
#include "cpu/simd_avx512.h"

int ef_cpu_silu_avx512_built(void) { return 1; }

static inline __attribute__((always_inline)) __m512 silu16(__m512 g) {
    const __m512 lim = _mm512_set1_ps(EF_SILU_LIMIT);
    const __m512 a = _mm512_abs_ps(g);                                   /* [16] |g| */
    const __m512 t = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_min_ps(a, lim)); /* [16] −min(a, limit) */
    __m512 n;                                     /* [16] integral */
    const __m512 p = ef_avx512_exp_poly(t, &n); /* [16] exp(t − n·ln 2) */
    const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    __m512 e = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));                   /* [16] exp(−a) */
    e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, lim, _CMP_LE_OQ), e);       /* 0 past the limit */
    const __m512 num = _mm512_mask_mul_ps(g, _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_LT_OQ), g, e);
    return _mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

void ef_cpu_silu_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, silu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, silu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

#else /* built without AVX-512 flags */

int ef_cpu_silu_avx512_built(void) { return 0; }
void ef_cpu_silu_avx512(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }

#endif
