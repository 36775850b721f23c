/* The AVX-512 micro-kernel of the transposed-operand GEMM (matmul_grad.h):
 * a 12×32 tile of C in 24 zmm accumulators; per k, two 16-float loads of
 * the B micro-panel and twelve broadcasts of the A one (24 FMAs per 14
 * loads), with A packed k-major or as rows. Each output is one fma chain over k ascending from 0, then one
 * addition into C — the order of the AVX2 kernel and the scalar reference,
 * so the levels agree bit for bit. */
#include "cpu/matmul_grad.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include "cpu/simd_avx512.h"

enum { MR = EF_GEMM_AVX512_MR, NR = EF_GEMM_AVX512_NR };

/* c[12][ldc] (+)= A·B over kc: A element (i, k) at ap[i·a_row + k·a_k]
 * (a constant layout per caller: [kc][12] or [12][kc]); bp: [kc][32]. */
static inline __attribute__((always_inline)) void tile_12x32(int64_t kc, const float *ap, int64_t a_row,
                                                             int64_t a_k, const float *bp, float *c, int64_t ldc,
                                                             int add) {
    __m512 acc[MR][2]; /* [row][two 16-float halves] */
#pragma GCC unroll 12 /* keeps the accumulators in registers, no stack copies */
    for (int i = 0; i < MR; i++) {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        ef_avx512_prefetch_row32(c + i * ldc); /* C's tile is read last: fetched while the k loop runs */
    }
    for (int64_t k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(bp + k * NR), b1 = _mm512_load_ps(bp + k * NR + 16); /* [32] */
        for (int i = 0; i < MR; i++) {
            const __m512 a = _mm512_set1_ps(ap[i * a_row + k * a_k]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) ef_avx512_row32_out(c + i * ldc, acc[i][0], acc[i][1], add);
}

/* ap: [kc][12] (k-major, packed from a stored Aᵀ) */
void ef_gemm_ukernel_avx512(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_12x32(kc, ap, 1, MR, bp, c, ldc, add);
}
/* ap: [12][kc] (row-major rows of A) */
void ef_gemm_ukernel_rows_avx512(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_12x32(kc, ap, kc, 1, bp, c, ldc, add);
}

#else /* built without the AVX-512 flags: never selected (ef_cpu_avx512_kernels_built is 0) */

void ef_gemm_ukernel_avx512(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    (void)kc, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}
void ef_gemm_ukernel_rows_avx512(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    (void)kc, (void)ap, (void)bp, (void)c, (void)ldc, (void)add;
}

#endif
