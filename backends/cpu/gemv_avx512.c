/* AVX-512 dense GEMV/GEMM kernels (F, DQ, BW, VL). Compiled with the
 * AVX-512 flags on x86-64 (lib/CMakeLists.txt); without them this file
 * reports that none were built. */
#include "cpu/matmul_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
/* No AVX-512 kernel yet: the AVX2 ones serve this level. */
int ef_cpu_avx512_kernels_built(void) { return 0; }
#else
int ef_cpu_avx512_kernels_built(void) { return 0; }
#endif

int ef_cpu_avx512_dense_ok(uint32_t type) {
    (void)type;
    return 0;
}

void ef_cpu_gemv_avx512(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)y, (void)r0, (void)r1;
}

void ef_cpu_gemm_avx512(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)n, (void)y, (void)r0, (void)r1;
}
