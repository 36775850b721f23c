/* The AVX2 micro-kernel of the transposed-operand GEMM (matmul_grad.h): a
 * 6×16 tile of C in 12 ymm accumulators; per k, two 8-float loads of the B
 * micro-panel and six broadcasts of the A one (12 FMAs per 8 loads), with
 * A packed k-major or as rows; and the packing of a stored Bᵀ by 8×8
 * register transposes (the AVX-512 level uses it too). Each
 * output is one fma chain over k ascending from 0, then one addition into
 * C, as the scalar reference in matmul_grad.c. */
#include "cpu/matmul_grad.h"

#if defined(__AVX2__) && defined(__FMA__)
#include "cpu/simd_avx2.h"

enum { MR = EF_GEMM_AVX2_MR, NR = EF_GEMM_AVX2_NR };

/* c[6][ldc] (+)= A·B over kc: A element (i, k) at ap[i·a_row + k·a_k]
 * (a constant layout per caller: [kc][6] or [6][kc]); bp: [kc][16]. */
static inline __attribute__((always_inline)) void tile_6x16(int64_t kc, const float *ap, int64_t a_row,
                                                            int64_t a_k, const float *bp, float *c, int64_t ldc,
                                                            int add) {
    __m256 acc[MR][2]; /* [row][two 8-float halves] */
#pragma GCC unroll 12 /* keeps the accumulators in registers, no stack copies */
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(bp + k * NR), b1 = _mm256_load_ps(bp + k * NR + 8); /* [16] */
        for (int i = 0; i < MR; i++) {
            const __m256 a = _mm256_broadcast_ss(ap + i * a_row + k * a_k);
            acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        float *row = c + i * ldc; /* [16] */
        if (add) {
            acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(row), acc[i][0]);
            acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(row + 8), acc[i][1]);
        }
        _mm256_storeu_ps(row, acc[i][0]);
        _mm256_storeu_ps(row + 8, acc[i][1]);
    }
}

/* ap: [kc][6] (k-major, packed from a stored Aᵀ) */
void ef_gemm_ukernel_avx2(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_6x16(kc, ap, 1, MR, bp, c, ldc, add);
}
/* ap: [6][kc] (row-major rows of A) */
void ef_gemm_ukernel_rows_avx2(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_6x16(kc, ap, kc, 1, bp, c, ldc, add);
}

void ef_gemm_pack_bt_avx2(const float *B, int64_t ldb, int64_t kc, int64_t cols, int nr, float *dst) {
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8]; /* [column][8 k] → [k][8 columns] */
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(B + (c + i) * ldb + k);
            ef_avx2_transpose8x8(r);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (k + i) * nr + c, r[i]);
        }
        for (; k < kc; k++)
            for (int i = 0; i < 8; i++) dst[k * nr + c + i] = B[(c + i) * ldb + k];
    }
    for (; c < cols; c++)
        for (int64_t k = 0; k < kc; k++) dst[k * nr + c] = B[c * ldb + k];
    for (; c < nr; c++)
        for (int64_t k = 0; k < kc; k++) dst[k * nr + c] = 0.0f;
}

#else /* built without the AVX2 flags: never selected (ef_cpu_avx2_kernels_built is 0) */

void ef_gemm_ukernel_avx2(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    (void)kc, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}
void ef_gemm_ukernel_rows_avx2(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    (void)kc, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}
void ef_gemm_pack_bt_avx2(const float *B, int64_t ldb, int64_t kc, int64_t cols, int nr, float *dst) {
    (void)B, (void)ldb, (void)kc, (void)cols, (void)nr, (void)dst;
}

#endif
