/* The matmul kernels behind ef_cpu_matmul (cpu_ops.h) and how it picks one.
 *
 * y[n][out] = x[n][in] · Wᵀ, W = {in, out}. Kernels:
 *   reference  plain C, any computable type, sequential sum per output
 *              (cpu_matmul.c); the oracle.
 *   gemv_avx2  n = 1 (decode): weight rows read and converted to F32 in
 *              registers, 4 rows at a time (gemv_avx2.c).
 *   gemm_avx2  n > 1 (prefill): tokens in blocks that stay in L2, weight
 *              rows packed 4 at a time into an F32 panel per K chunk, a
 *              4-row × 3-token register tile (gemm_avx2.c).
 * Both AVX2 kernels take F32, F16 and BF16 weights and reduce each output
 * in the same order (8 lanes over k ascending, the tail zero-padded, then a
 * fixed horizontal sum), so GEMV and GEMM give identical bits for a token,
 * whatever the tiling or the thread count. They differ from the reference
 * by rounding only. */
#ifndef EF_BACKENDS_CPU_MATMUL_KERNELS_H
#define EF_BACKENDS_CPU_MATMUL_KERNELS_H

#include <stdint.h>

#include "base/threadpool.h"
#include "model/model.h"

typedef enum ef_matmul_kernel {
    EF_MATMUL_AUTO = 0,      /* what ef_cpu_matmul picks (dispatch + EF_CPU_SIMD) */
    EF_MATMUL_REFERENCE = 1, /* scalar reference, any type */
    EF_MATMUL_GEMV = 2,      /* AVX2 GEMV, applied token by token */
    EF_MATMUL_GEMM = 3       /* AVX2 GEMM, for any n (also n = 1) */
} ef_matmul_kernel;

/* Runs one kernel, parallel over output rows. GEMV/GEMM need
 * ef_cpu_avx2_matmul_ok(w->type) and an AVX2 processor: callers check
 * ef_cpu_simd_supported() first. */
void ef_cpu_matmul_with(ef_pool *pool, ef_matmul_kernel kernel, const ef_tensor *w,
                        const float *x, int32_t n, float *y);

/* 1 when gemv_avx2.c / gemm_avx2.c were compiled with AVX2+FMA+F16C. */
int ef_cpu_avx2_kernels_built(void);
/* 1 when the AVX2 kernels handle weights of this type (F32, F16, BF16). */
int ef_cpu_avx2_matmul_ok(uint32_t type);

/* Output rows [r0, r1) of one token: y[r] = x · W[r]. x: [in]; y: [out]. */
void ef_cpu_gemv_avx2(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1);

/* Output rows [r0, r1) of n tokens. x: [n][in]; y: [n][out]. */
void ef_cpu_gemm_avx2(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1);

/* Rows handled together by both AVX2 kernels; threads split work in
 * multiples of it so tiles line up (results do not depend on it). */
#define EF_MATMUL_ROW_GROUP 4

#endif
