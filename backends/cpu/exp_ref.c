/* exp and sigmoid over arrays (exp.h): the scalar reference loops and the
 * dispatch to the AVX2 / AVX-512 / NEON kernels. */
#include "cpu/exp.h"

#include "cpu/cpu_features.h"

int ef_cpu_exp_level_ok(int level) {
    const ef_cpu_simd hw = ef_cpu_simd_supported();
    switch (level) {
    case EF_CPU_SIMD_SCALAR: return 1;
    case EF_CPU_SIMD_AVX2: return ef_cpu_exp_avx2_built() && ef_cpu_simd_x86(hw);
    case EF_CPU_SIMD_AVX512: return ef_cpu_exp_avx512_built() && hw == EF_CPU_SIMD_AVX512;
    case EF_CPU_SIMD_NEON:
    case EF_CPU_SIMD_NEON_DOTPROD: return ef_cpu_exp_neon_built() && ef_cpu_simd_arm(hw);
    default: return 0;
    }
}

int ef_cpu_exp_level(void) {
    const int level = (int)ef_cpu_simd_active();
    return ef_cpu_exp_level_ok(level) ? level : EF_CPU_SIMD_SCALAR;
}

void ef_cpu_exp_with(int level, const float *x, float *y, int64_t n) {
    switch (level) {
    case EF_CPU_SIMD_AVX2: ef_cpu_exp_avx2(x, y, n); return;
    case EF_CPU_SIMD_AVX512: ef_cpu_exp_avx512(x, y, n); return;
    case EF_CPU_SIMD_NEON:
    case EF_CPU_SIMD_NEON_DOTPROD: ef_cpu_exp_neon(x, y, n); return;
    default:
        for (int64_t i = 0; i < n; i++) y[i] = ef_exp_ref(x[i]);
        return;
    }
}

void ef_cpu_sigmoid_with(int level, const float *x, float *y, int64_t n) {
    switch (level) {
    case EF_CPU_SIMD_AVX2: ef_cpu_sigmoid_avx2(x, y, n); return;
    case EF_CPU_SIMD_AVX512: ef_cpu_sigmoid_avx512(x, y, n); return;
    case EF_CPU_SIMD_NEON:
    case EF_CPU_SIMD_NEON_DOTPROD: ef_cpu_sigmoid_neon(x, y, n); return;
    default:
        for (int64_t i = 0; i < n; i++) y[i] = ef_sigmoid_ref(x[i]);
        return;
    }
}

void ef_cpu_exp(const float *x, float *y, int64_t n) { ef_cpu_exp_with(ef_cpu_exp_level(), x, y, n); }

void ef_cpu_sigmoid(const float *x, float *y, int64_t n) { ef_cpu_sigmoid_with(ef_cpu_exp_level(), x, y, n); }
