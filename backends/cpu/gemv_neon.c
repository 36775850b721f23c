/* NEON dense GEMV/GEMM kernels (aarch64). Advanced SIMD is part of every
 * aarch64 processor, so this file needs no extra flags there; elsewhere it
 * reports that none were built. */
#include "cpu/matmul_kernels.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
/* No NEON kernel yet: the scalar reference serves aarch64. */
int ef_cpu_neon_kernels_built(void) { return 0; }
#else
int ef_cpu_neon_kernels_built(void) { return 0; }
#endif

int ef_cpu_neon_matmul_ok(uint32_t type) {
    (void)type;
    return 0;
}

void ef_cpu_gemv_neon(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)y, (void)r0, (void)r1;
}

void ef_cpu_gemm_neon(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)n, (void)y, (void)r0, (void)r1;
}
