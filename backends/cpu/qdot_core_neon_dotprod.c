/* The integer-dot group kernel with SDOT (Armv8.2 dotprod): four int8
 * products summed per int32 lane in one instruction; otherwise as
 * ef_qdot_int_neon (qdot_core_neon.c), whose bits it gives. Compiled with
 * +dotprod (lib/CMakeLists.txt, files *_dotprod.c on aarch64); called only
 * at EF_CPU_SIMD_NEON_DOTPROD. */
#include "cpu/qdot_neon.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

float ef_qdot_int_neon_dotprod(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min) {
    float sum = 0.0f;
    const int32x4_t zero = vdupq_n_s32(0);
    for (int32_t c = 0; c < n32; c++) {
        const int32x4_t h0 = vdotq_s32(zero, vld1q_s8(g->q + 32 * c), vld1q_s8(a->q + 32 * c));           /* [4] */
        const int32x4_t h1 = vdotq_s32(zero, vld1q_s8(g->q + 32 * c + 16), vld1q_s8(a->q + 32 * c + 16)); /* [4] */
        const int32_t isum = vaddvq_s32(vmlaq_n_s32(vmulq_n_s32(h0, g->scale[2 * c]), h1, g->scale[2 * c + 1]));
        const int32_t msum = g->min[2 * c] * a->bsum[2 * c] + g->min[2 * c + 1] * a->bsum[2 * c + 1];
        sum = ef_qdot_int_chunk(sum, g->d[c], g->dmin[c], a->d[c], isum, msum, has_min);
    }
    return sum;
}

#elif defined(__aarch64__) /* a compiler without +dotprod: the NEON kernel (same bits) */

float ef_qdot_int_neon_dotprod(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min) {
    return ef_qdot_int_neon(g, a, n32, has_min);
}

#endif
