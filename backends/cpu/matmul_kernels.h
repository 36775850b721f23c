/* The matmul kernels behind ef_cpu_matmul (cpu_ops.h) and how it picks one.
 *
 * y[n][out] = x[n][in] · Wᵀ, W = {in, out}. Kernels:
 *   reference  plain C, any computable type, sequential sum per output
 *              (cpu_matmul.c); the oracle.
 *   gemv_avx2  n = 1 (decode): weight rows read and converted to F32 in
 *              registers, 4 rows at a time, one from each of four runs of
 *              the worker's rows (gemv_avx2.c).
 *   gemm_avx2  n > 1 (prefill): tokens in blocks that stay in L2, weight
 *              rows packed 4 at a time into an F32 panel per K chunk, a
 *              4-row × 3-token register tile (gemm_avx2.c; the blocking
 *              loops, shared by every level, are gemm_driver.c).
 * Both AVX2 kernels take F32, F16 and BF16 weights and reduce each output
 * in the same order (8 lanes over k ascending, the tail zero-padded, then a
 * fixed horizontal sum), so GEMV and GEMM give identical bits for a token,
 * whatever the tiling or the thread count. They differ from the reference
 * by rounding only.
 *
 * Quantized weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, TQ2_0) go to
 * qmatmul.c, a group of 256 weights at a time (qdot.h), in one of two modes:
 *   weight-only  (default) F32 activations, weights converted in registers;
 *                GEMV/GEMM pick the AVX2 group kernels, REFERENCE the plain
 *                dequantize-and-dot above;
 *   integer-dot  activations quantized per block to int8 first (one scale
 *                per 32 for the 32-element types, per 256 for the K-quants),
 *                integer products; IDOT_REFERENCE is its scalar oracle.
 * Each output is a sum over groups in ascending order inside one worker, so
 * GEMV and GEMM agree bit for bit and the thread count changes nothing. */
#ifndef EF_BACKENDS_CPU_MATMUL_KERNELS_H
#define EF_BACKENDS_CPU_MATMUL_KERNELS_H

#include <stdint.h>

#include "base/threadpool.h"
#include "model/model.h"

typedef enum ef_matmul_kernel {
    EF_MATMUL_AUTO = 0,      /* what ef_cpu_matmul picks (dispatch + EF_CPU_SIMD) */
    EF_MATMUL_REFERENCE = 1, /* scalar reference, any type */
    EF_MATMUL_GEMV = 2,      /* AVX2 GEMV, applied token by token */
    EF_MATMUL_GEMM = 3,      /* AVX2 GEMM, for any n (also n = 1) */
    EF_MATMUL_IDOT_REFERENCE = 4, /* quantized weights: scalar integer-dot */
    EF_MATMUL_IDOT = 5            /* quantized weights: AVX2 integer-dot, any n */
} ef_matmul_kernel;

/* How quantized weights are multiplied (other weight types ignore it). */
typedef enum ef_matmul_mode {
    EF_MATMUL_MODE_DEFAULT = 0,     /* the process default: EF_MATMUL_MODE, else weight-only */
    EF_MATMUL_MODE_WEIGHT_ONLY = 1, /* dequantize in registers, F32 math */
    EF_MATMUL_MODE_INTEGER_DOT = 2  /* int8 activations, integer dot products */
} ef_matmul_mode;

/* "weight-only" / "integer-dot" → the mode, or -1. */
int ef_matmul_mode_from_name(const char *name);
/* "weight-only", "integer-dot" (DEFAULT resolves first). */
const char *ef_matmul_mode_name(ef_matmul_mode mode);
/* DEFAULT resolved: EF_MATMUL_MODE from the environment (read once), else
 * weight-only; other modes come back unchanged. */
ef_matmul_mode ef_matmul_mode_resolve(ef_matmul_mode mode);

/* ef_cpu_matmul with an explicit mode: the entry point for sessions that
 * choose one (ef_cpu_matmul is this with EF_MATMUL_MODE_DEFAULT). Integer-dot
 * needs a buffer for the quantized activations (n × in × 1.25 bytes); when
 * it cannot be had the call falls back to weight-only for that call. */
void ef_cpu_matmul_mode(ef_pool *pool, ef_matmul_mode mode, const ef_tensor *w, const float *x, int32_t n,
                        float *y);

/* Runs one kernel, parallel over output rows. GEMV/GEMM need
 * ef_cpu_avx2_matmul_ok(w->type) and an AVX2 processor: callers check
 * ef_cpu_simd_supported() first. */
void ef_cpu_matmul_with(ef_pool *pool, ef_matmul_kernel kernel, const ef_tensor *w,
                        const float *x, int32_t n, float *y);

/* 1 when gemv_avx2.c / gemm_avx2.c were compiled with AVX2+FMA+F16C. */
int ef_cpu_avx2_kernels_built(void);
/* 1 when the AVX-512 kernel files (*_avx512.c) were compiled with their flags. */
int ef_cpu_avx512_kernels_built(void);
/* 1 when the NEON kernel files (*_neon.c) were built (aarch64 only). */
int ef_cpu_neon_kernels_built(void);
/* 1 when the AVX2 kernels handle weights of this type (F32, F16, BF16 and
 * the quantized types of qdot.h). */
int ef_cpu_avx2_matmul_ok(uint32_t type);
/* 1 when the type has quantized (qmatmul.c) kernels, integer-dot included. */
int ef_cpu_qmatmul_ok(uint32_t type);

/* Quantized weights, output rows [r0, r1) of n tokens (qmatmul.c).
 * x: [n][in] F32 (weight-only) or xa: [n][groups] (integer-dot, else NULL);
 * y: [n][out]. level: the ef_cpu_simd level whose unpackers/dots run
 * (0 = the scalar references); token_block: tokens sharing each unpacked
 * group (1 = GEMV order; results do not depend on it). */
struct ef_qgroup_a;
void ef_cpu_qmatmul_rows(const ef_tensor *w, const float *x, const struct ef_qgroup_a *xa, int32_t n, float *y,
                         int64_t r0, int64_t r1, int level, int32_t token_block);
/* Quantizes tokens [t0, t1) of x ([n][in]) for integer-dot against weights
 * of `type`: xa: [n][ceil(in/256)] groups. */
void ef_cpu_qmatmul_quantize_x(uint32_t type, const float *x, int64_t in, int32_t t0, int32_t t1,
                               struct ef_qgroup_a *xa);

/* The dense (F32/F16/BF16) and quantized SIMD kernels of one ef_cpu_simd
 * level (simd_matmul.c): 1 when `level` has kernels for `type`. */
int ef_cpu_simd_matmul_ok(int level, uint32_t type);
/* GEMV / GEMM of dense weights at `level` (x86: AVX-512 where it has the
 * type, else AVX2; aarch64: NEON). Shapes as the AVX2 kernels below. */
void ef_cpu_simd_gemv(int level, const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1);
void ef_cpu_simd_gemm(int level, const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1);

/* AVX-512 dense kernels (gemv_avx512.c, ...): 1 when they take `type`. */
int ef_cpu_avx512_dense_ok(uint32_t type);
void ef_cpu_gemv_avx512(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1);
void ef_cpu_gemm_avx512(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1);
/* Weight-only quantized rows on a level's dense kernels (simd_matmul.c):
 * at the AVX-512 level Q8_0 and Q4_0 (exact d·q in F32) run
 * ef_cpu_gemv_avx512 token by token when token_block is 1, else
 * ef_cpu_gemm_avx512 (the same order: GEMV ≡ GEMM). Returns 1 when it ran,
 * 0 for other levels and types (the caller runs its own kernels). */
int ef_cpu_simd_qdense(int level, const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1,
                       int32_t token_block);
/* NEON kernels (gemv_neon.c, ...): 1 when they take `type` (dense or quantized). */
int ef_cpu_neon_matmul_ok(uint32_t type);
void ef_cpu_gemv_neon(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1);
void ef_cpu_gemm_neon(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1);

/* Output rows [r0, r1) of one token: y[r] = x · W[r]. x: [in]; y: [out]. */
void ef_cpu_gemv_avx2(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1);

/* Output rows [r0, r1) of n tokens. x: [n][in]; y: [n][out]. */
void ef_cpu_gemm_avx2(const ef_tensor *w, const float *x, int32_t n, float *y, int64_t r0, int64_t r1);

/* Rows handled together by both AVX2 kernels; threads split work in
 * multiples of it so tiles line up (results do not depend on it). */
#define EF_MATMUL_ROW_GROUP 4

#endif
