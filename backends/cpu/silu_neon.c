/* SiLU with NEON (aarch64), 4 values per step, the steps of the scalar
 * reference (silu.h) lane by lane, so the same bits. */
#include "cpu/silu.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include "cpu/simd_neon.h"

int ef_cpu_silu_neon_built(void) { return 1; }

static inline __attribute__((always_inline)) float32x4_t silu4(float32x4_t g) {
    const float32x4_t lim = vdupq_n_f32(EF_SILU_LIMIT);
    const float32x4_t a = vabsq_f32(g);                  /* [4] |g| */
    const float32x4_t t = vnegq_f32(vminq_f32(a, lim));  /* [4] −min(a, limit) */
    float32x4_t n;                                  /* [4] integral */
    const float32x4_t p = ef_neon_exp_poly(t, &n); /* [4] exp(t − n·ln 2) */
    const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t e = vmulq_f32(p, vreinterpretq_f32_s32(bits)); /* [4] exp(−a) */
    e = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(e), vcgtq_f32(a, lim))); /* 0 past the limit */
    const float32x4_t num = vbslq_f32(vcgeq_f32(g, vdupq_n_f32(0.0f)), g, vmulq_f32(g, e));
    return vdivq_f32(num, vaddq_f32(vdupq_n_f32(1.0f), e));
}

void ef_cpu_silu_neon(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, silu4(vld1q_f32(x + i)));
    for (; i < n; i++) y[i] = ef_silu_ref(x[i]);
}

#else /* not aarch64 */

int ef_cpu_silu_neon_built(void) { return 0; }
void ef_cpu_silu_neon(const float *x, float *y, int64_t n) { (void)x, (void)y, (void)n; }

#endif
