/* The SIMD matmul kernels of each ef_cpu_simd level (matmul_kernels.h):
 * which weight types a level takes, and its dense GEMV/GEMM. Quantized
 * types go through qmatmul.c with the level's ef_qkernels (qkernels.c). */
#include "cpu/cpu_features.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

static int dense(uint32_t type) { return type == EF_TYPE_F32 || type == EF_TYPE_F16 || type == EF_TYPE_BF16; }

int ef_cpu_simd_matmul_ok(int level, uint32_t type) {
    const ef_cpu_simd l = (ef_cpu_simd)level;
    if (ef_cpu_simd_x86(l)) return ef_cpu_avx2_matmul_ok(type);
    if (ef_cpu_simd_arm(l)) return ef_cpu_neon_matmul_ok(type);
    return 0;
}

void ef_cpu_simd_gemv(int level, const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    const ef_cpu_simd l = (ef_cpu_simd)level;
    if (l == EF_CPU_SIMD_AVX512 && dense(w->type) && ef_cpu_avx512_dense_ok(w->type))
        ef_cpu_gemv_avx512(w, x, y, r0, r1);
    else if (ef_cpu_simd_x86(l)) ef_cpu_gemv_avx2(w, x, y, r0, r1);
    else if (ef_cpu_simd_arm(l)) ef_cpu_gemv_neon(w, x, y, r0, r1);
}

void ef_cpu_simd_gemm(int level, const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1) {
    const ef_cpu_simd l = (ef_cpu_simd)level;
    if (l == EF_CPU_SIMD_AVX512 && dense(w->type) && ef_cpu_avx512_dense_ok(w->type))
        ef_cpu_gemm_avx512(w, x, n, y, r0, r1);
    else if (ef_cpu_simd_x86(l)) ef_cpu_gemm_avx2(w, x, n, y, r0, r1);
    else if (ef_cpu_simd_arm(l)) ef_cpu_gemm_neon(w, x, n, y, r0, r1);
}

int ef_cpu_simd_qdense(int level, const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1,
                       int32_t token_block) {
    if ((ef_cpu_simd)level != EF_CPU_SIMD_AVX512 || dense(w->type) || !ef_cpu_avx512_dense_ok(w->type)) return 0;
    const int64_t in = w->ne[0], out = w->ne[1];
    if (token_block == 1)
        for (int32_t t = 0; t < n; t++) ef_cpu_gemv_avx512(w, x + (int64_t)t * in, y + (int64_t)t * out, r0, r1);
    else
        ef_cpu_gemm_avx512(w, x, n, y, r0, r1);
    return 1;
}
