/* F32 GEMM with either operand transposed, for training: the backward
 * passes multiply by W and by doutᵀ directly instead of building transposed
 * copies and calling the forward matmul.
 *
 *   C[M, N] (+)= op(A) · op(B)      all row-major, leading dims in floats
 *   op(A) = A [M][K], or Aᵀ with A stored [K][M] (trans_a)
 *   op(B) = B [K][N], or Bᵀ with B stored [N][K] (trans_b)
 *
 * Training's three products are (y = x·Wᵀ, W {I, O} as GGUF stores it):
 *   forward  y[N, O]   = x[N, I] · Wᵀ          (trans_b)
 *   dx       dx[N, I] += dout[N, O] · W[O, I]  (no transposes)
 *   dW       dW[O, I] += doutᵀ · x[N, I]       (trans_a)
 *
 * Blocking (BLIS's loop order): N in NC columns, K in KC chunks, M in MC
 * rows; a KC×NC block of op(B) and an MC×KC block of op(A) are packed into
 * the worker's part of `work` (zero-padded to whole micro-panels), then a
 * register tile of MR×NR outputs runs over each pair of micro-panels. The
 * tile and the packing width depend on the SIMD level (scalar 4×8, AVX2
 * 6×16, AVX-512 12×32, NEON 8×8). Packing copies runs as they are stored wherever it
 * can: A's micro-panels are k-major from a stored Aᵀ but plain rows from
 * a stored A (the *_rows kernels read those), and only a stored Bᵀ is
 * transposed (8×8 in registers on x86).
 *
 * Order of the sums: every output is, per KC chunk in ascending order, one
 * fused multiply-add chain over k ascending started from 0, then added to
 * C. That is the same at every level and for every split, so the thread
 * count never changes the bits, and the SIMD levels agree with each other
 * (the scalar reference uses fmaf, which can differ where a C library's
 * fmaf is not exact). Workers split M in whole tiles.
 *
 * Mixed precision (bf16 = 1): both operands are rounded to bfloat16 (round
 * to nearest even, denormals to zero, as VCVTNEPS2BF16) while they are
 * packed, and their exact products are summed in F32. On a processor with
 * AVX512_BF16 the panels hold pairs of bfloat16 along k and VDPBF16PS adds
 * two products per lane at once (twice the F32 FMA rate); elsewhere the
 * rounded values are packed as floats and the F32 kernels above run. The
 * two agree to F32 rounding, not bit for bit (VDPBF16PS rounds its pair
 * sums in its own way); each is still independent of the thread count. */
#ifndef EF_BACKENDS_CPU_MATMUL_GRAD_H
#define EF_BACKENDS_CPU_MATMUL_GRAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"

typedef struct ef_gemm_f32 {
    int64_t M, N, K;
    const float *A; /* [M][lda], or [K][lda] when trans_a */
    int64_t lda;
    int trans_a;
    const float *B; /* [K][ldb], or [N][ldb] when trans_b */
    int64_t ldb;
    int trans_b;
    float *C;       /* [M][ldc] */
    int64_t ldc;
    int accumulate; /* 1: C += op(A)·op(B); 0: C = op(A)·op(B) */
    int bf16;       /* 1: operands rounded to bfloat16, products summed in F32 */
    /* bf16 mode only, optional: A and B already rounded (ef_cpu_f32_to_bf16),
     * the same layout and leading dimension as A and B; the AVX512_BF16
     * level packs these instead of converting (the F32 levels read A, B) */
    const uint16_t *A16, *B16;
    /* packing space for work_threads workers (ef_cpu_gemm_f32_work_floats);
     * a pool with more workers than that leaves the extra ones idle */
    float *work;
    int32_t work_threads;
} ef_gemm_f32;

/* Floats of `work` for n_threads workers (any shape). */
size_t ef_cpu_gemm_f32_work_floats(int32_t n_threads);

/* Runs the product at the active SIMD level (ef_cpu_simd_active), parallel
 * over the pool (NULL: on the caller's thread). g->work is required. */
void ef_cpu_gemm_f32(ef_pool *pool, const ef_gemm_f32 *g);
/* The same at an explicit level (tests compare levels): EF_CPU_SIMD_AVX512,
 * EF_CPU_SIMD_AVX2, EF_CPU_SIMD_NEON(_DOTPROD) or anything else for the
 * scalar reference; a level this build or processor lacks runs the next one
 * down (the scalar reference off its architecture). */
void ef_cpu_gemm_f32_at(ef_pool *pool, const ef_gemm_f32 *g, int level);

/* The micro-kernels: c[MR][ldc] = (add ? c : 0) + Σ_k a[·][k] ⊗ bp[k][NR]
 * over k < kc, one fma chain per output from 0, then one addition into c.
 * ap: the A micro-panel, k-major [kc][MR] (packed from a stored Aᵀ) or, for
 * the *_rows kernels, [MR][kc] (rows of A copied as they are); bp: [kc][NR].
 * Panels are 64-byte aligned. */
typedef void (*ef_gemm_ukernel_fn)(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc,
                                   int add);
#define EF_GEMM_AVX2_MR 6
#define EF_GEMM_AVX2_NR 16
#define EF_GEMM_AVX512_MR 12
#define EF_GEMM_AVX512_NR 32
#define EF_GEMM_NEON_MR 8
#define EF_GEMM_NEON_NR 8
void ef_gemm_ukernel_avx2(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add);
void ef_gemm_ukernel_rows_avx2(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add);
void ef_gemm_ukernel_avx512(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add);
void ef_gemm_ukernel_rows_avx512(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add);
void ef_gemm_ukernel_neon(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add);
void ef_gemm_ukernel_rows_neon(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add);
/* One B micro-panel from a stored Bᵀ (matmul_grad_avx2.c; x86 levels):
 * dst[k][nr] = B[c·ldb + k] for c < cols, 0 for cols ≤ c < nr; k < kc. */
void ef_gemm_pack_bt_avx2(const float *B, int64_t ldb, int64_t kc, int64_t cols, int nr, float *dst);

/* x rounded to bfloat16 and back (the scalar reference of the packing's
 * rounding): to nearest even, a denormal to ±0, a NaN kept a (quiet) NaN. */
float ef_gemm_round_bf16(float x);
/* dst[i] = the bfloat16 bits of src[i] rounded as above, i < n (the
 * AVX512_BF16 instructions where the processor has them). */
void ef_cpu_f32_to_bf16(uint16_t *dst, const float *src, int64_t n);
void ef_cpu_f32_to_bf16_avx512(uint16_t *dst, const float *src, int64_t n);

/* The AVX512_BF16 level of bf16 mode (matmul_grad_avx512bf16.c). A panel's
 * k extent is kp = ceil(kc / 2) 32-bit pairs {op(·)[2p], op(·)[2p+1]}
 * (the low half first, a zero past kc); the micro-kernels take kp.
 * pack_a: A micro-panels of mr rows at ap + p·kp, k-major [kp][mr] from a
 * stored Aᵀ, rows [mr][kp] from a stored A (as pack_a of the F32 level);
 * pack_b: bp[q][kp][nr] for the nc columns from j0; tmp: room for
 * [nr][kp] pairs (a stored Bᵀ's rows, converted before the transpose). */
#define EF_GEMM_BF16_MR 12
#define EF_GEMM_BF16_NR 32
int ef_cpu_avx512bf16_kernels_built(void);
void ef_gemm_ukernel_bf16_avx512(int64_t kp, const float *ap, const float *bp, float *c, int64_t ldc, int add);
void ef_gemm_ukernel_rows_bf16_avx512(int64_t kp, const float *ap, const float *bp, float *c, int64_t ldc,
                                      int add);
/* The rows kernel reading A's pairs in place, rows a_row pairs apart (the
 * A16 twin itself, when its rows hold whole pairs): no packing of A. */
void ef_gemm_ukernel_rows_ld_bf16_avx512(int64_t kp, const float *ap, int64_t a_row, const float *bp, float *c,
                                         int64_t ldc, int add);
void ef_gemm_pack_a_bf16_avx512(const ef_gemm_f32 *g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr,
                                float *ap);
void ef_gemm_pack_b_bf16_avx512(const ef_gemm_f32 *g, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                                float *bp, float *tmp);

#endif
