/* AVX2 dot products over unpacked groups (see qdot.h; scalar references in
 * qdot_core.c, which these match up to rounding order).
 *   weight-only: codes → F32 in registers (cvtepi8 → cvtps), one FMA per
 *     8 weights forms d*scale*q - dmin*min, a second multiplies by x;
 *   integer-dot: |w| · sign(w)·a with maddubs (u8×s8 → 16 pair sums of at
 *     most 2·128·127, no saturation), madd by the per-16 scales → 8 int32
 *     lanes per 32 elements, then one F32 FMA by d_w·d_a per chunk. */
#include "cpu/qdot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

float ef_qdot_f32_avx2(const ef_qgroup_w *g, const float *x, int32_t n32) {
    __m256 acc = _mm256_setzero_ps(); /* [8] lane sums */
    for (int32_t c = 0; c < n32; c++) {
        for (int h = 0; h < 2; h++) { /* the chunk's two 16-element halves */
            const int s = 2 * c + h;
            const __m256 coef = _mm256_set1_ps(g->d[c] * (float)g->scale[s]);  /* [8] */
            const __m256 off = _mm256_set1_ps(g->dmin[c] * (float)g->min[s]);  /* [8] */
            for (int k = 0; k < 2; k++) {
                const int i = 16 * s + 8 * k;
                const __m128i q8 = _mm_loadl_epi64((const __m128i *)(g->q + i));       /* [8] i8 */
                const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));          /* [8] */
                const __m256 w = _mm256_fmsub_ps(q, coef, off);                         /* [8] weights */
                acc = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + i), acc);
            }
        }
    }
    return ef_avx2_hsum(acc);
}

float ef_qdot_int_avx2(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min) {
    __m256 acc = _mm256_setzero_ps(); /* [8] lane sums */
    for (int32_t c = 0; c < n32; c++) {
        const __m256i wq = _mm256_loadu_si256((const __m256i *)(g->q + 32 * c)); /* [32] i8 */
        const __m256i aq = _mm256_loadu_si256((const __m256i *)(a->q + 32 * c)); /* [32] i8 */
        const __m256i prod = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(aq, wq)); /* [16] i16 */
        const __m256i sc = _mm256_setr_m128i(_mm_set1_epi16(g->scale[2 * c]), _mm_set1_epi16(g->scale[2 * c + 1]));
        const __m256i isum = _mm256_madd_epi16(prod, sc); /* [8] i32 */
        acc = _mm256_fmadd_ps(_mm256_set1_ps(g->d[c] * a->d[c]), _mm256_cvtepi32_ps(isum), acc);
    }
    float sum = ef_avx2_hsum(acc);
    if (has_min) {
        for (int32_t c = 0; c < n32; c++) {
            const int32_t msum = g->min[2 * c] * a->bsum[2 * c] + g->min[2 * c + 1] * a->bsum[2 * c + 1];
            sum -= g->dmin[c] * a->d[c] * (float)msum;
        }
    }
    return sum;
}

#else /* built without AVX2 flags: never dispatched; the scalar kernels stand in */

float ef_qdot_f32_avx2(const ef_qgroup_w *g, const float *x, int32_t n32) { return ef_qdot_f32_scalar(g, x, n32); }
float ef_qdot_int_avx2(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min) {
    return ef_qdot_int_scalar(g, a, n32, has_min);
}

#endif
