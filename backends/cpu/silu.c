/* SiLU over arrays (silu.h): the scalar reference loop and the dispatch to
 * the AVX2 / AVX-512 / NEON kernels. */
#include "cpu/silu.h"

#include "cpu/cpu_features.h"

int ef_cpu_silu_level_ok(int level) {
    const ef_cpu_simd hw = ef_cpu_simd_supported();
    switch (level) {
    case EF_CPU_SIMD_SCALAR: return 1;
    case EF_CPU_SIMD_AVX2: return ef_cpu_silu_avx2_built() && ef_cpu_simd_x86(hw);
    case EF_CPU_SIMD_AVX512: return ef_cpu_silu_avx512_built() && hw == EF_CPU_SIMD_AVX512;
    case EF_CPU_SIMD_NEON:
    case EF_CPU_SIMD_NEON_DOTPROD: return ef_cpu_silu_neon_built() && ef_cpu_simd_arm(hw);
    default: return 0;
    }
}

void ef_cpu_silu_with(int level, const float *x, float *y, int64_t n) {
    switch (level) {
    case EF_CPU_SIMD_AVX2: ef_cpu_silu_avx2(x, y, n); return;
    case EF_CPU_SIMD_AVX512: ef_cpu_silu_avx512(x, y, n); return;
    case EF_CPU_SIMD_NEON:
    case EF_CPU_SIMD_NEON_DOTPROD: ef_cpu_silu_neon(x, y, n); return;
    default:
        for (int64_t i = 0; i < n; i++) y[i] = ef_silu_ref(x[i]);
        return;
    }
}

void ef_cpu_silu(const float *x, float *y, int64_t n) {
    const int level = (int)ef_cpu_simd_active();
    ef_cpu_silu_with(ef_cpu_silu_level_ok(level) ? level : EF_CPU_SIMD_SCALAR, x, y, n);
}
