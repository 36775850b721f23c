/* The NEON micro-kernel of the transposed-operand GEMM (matmul_grad.h): an
 * 8×8 tile of C in 16 four-lane accumulators; per k, two 4-float loads of
 * the B micro-panel and 16 FMAs by the eight A values. Each
 * output is one fma chain over k ascending from 0, then one addition into
 * C — the order of the x86 kernels and the scalar reference. */
#include "cpu/matmul_grad.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

enum { MR = EF_GEMM_NEON_MR, NR = EF_GEMM_NEON_NR };

/* c[8][ldc] (+)= A·B over kc: A element (i, k) at ap[i·a_row + k·a_k]
 * (a constant layout per caller: [kc][8] or [8][kc]); bp: [kc][8]. */
static inline __attribute__((always_inline)) void tile_8x8(int64_t kc, const float *ap, int64_t a_row,
                                                           int64_t a_k, const float *bp, float *c, int64_t ldc,
                                                           int add) {
    float32x4_t acc[MR][2]; /* [row][two 4-float halves] */
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < kc; k++) {
        const float32x4_t b0 = vld1q_f32(bp + k * NR), b1 = vld1q_f32(bp + k * NR + 4); /* [8] */
        for (int i = 0; i < MR; i++) {
            const float a = ap[i * a_row + k * a_k];
            acc[i][0] = vfmaq_n_f32(acc[i][0], b0, a); /* fused, as fmaf */
            acc[i][1] = vfmaq_n_f32(acc[i][1], b1, a);
        }
    }
    for (int i = 0; i < MR; i++) {
        float *row = c + i * ldc; /* [8] */
        if (add) {
            acc[i][0] = vaddq_f32(vld1q_f32(row), acc[i][0]);
            acc[i][1] = vaddq_f32(vld1q_f32(row + 4), acc[i][1]);
        }
        vst1q_f32(row, acc[i][0]);
        vst1q_f32(row + 4, acc[i][1]);
    }
}

/* ap: [kc][8] (k-major, packed from a stored Aᵀ) */
void ef_gemm_ukernel_neon(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_8x8(kc, ap, 1, MR, bp, c, ldc, add);
}
/* ap: [8][kc] (row-major rows of A) */
void ef_gemm_ukernel_rows_neon(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_8x8(kc, ap, kc, 1, bp, c, ldc, add);
}

#else /* not aarch64: never selected (ef_cpu_neon_kernels_built is 0) */

void ef_gemm_ukernel_neon(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    (void)kc, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}
void ef_gemm_ukernel_rows_neon(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    (void)kc, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}

#endif
