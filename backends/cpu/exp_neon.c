/* exp and sigmoid with NEON (aarch64), 4 values per step, the steps of the
 * scalar reference (exp.h) lane by lane, so the same bits. */
#include "cpu/exp.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include "cpu/simd_neon.h"

int ef_cpu_exp_neon_built(void) { return 1; }

/* 2^k for integral k ∈ [−126, 127] [4]. */
static inline __attribute__((always_inline)) float32x4_t pow2_4(float32x4_t k) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23));
}

static inline __attribute__((always_inline)) float32x4_t exp4(float32x4_t x) {
    /* vmaxq/vminq propagate NaN; the lane is replaced at the end anyway */
    const float32x4_t t = vminq_f32(vmaxq_f32(x, vdupq_n_f32(EF_EXP_LO)), vdupq_n_f32(EF_EXP_HI)); /* [4] */
    float32x4_t n;                                  /* [4] integral */
    const float32x4_t p = ef_neon_exp_poly(t, &n); /* [4] exp(t − n·ln 2) */
    const float32x4_t n1 = vrndq_f32(vmulq_n_f32(n, 0.5f)); /* toward zero */
    const float32x4_t n2 = vsubq_f32(n, n1);
    const float32x4_t e = vmulq_f32(vmulq_f32(p, pow2_4(n1)), pow2_4(n2));
    return vbslq_f32(vceqq_f32(x, x), e, x); /* NaN stays */
}

static inline __attribute__((always_inline)) float32x4_t sigmoid4(float32x4_t x) {
    const float32x4_t e = exp4(vnegq_f32(x)); /* [4] exp(−x) */
    return vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), e));
}

void ef_cpu_exp_neon(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, exp4(vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = ef_exp_ref(x[i]);
}

void ef_cpu_sigmoid_neon(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, sigmoid4(vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = ef_sigmoid_ref(x[i]);
}

#else /* not aarch64 */

int ef_cpu_exp_neon_built(void) { return 0; }
void ef_cpu_exp_neon(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }
void ef_cpu_sigmoid_neon(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }

#endif
