/* The AVX-512 quantized row kernels (qdot_<family>_avx512.c), gathered per
 * weight type by qtable_avx512.c into the ef_qkernels of the AVX-512 level
 * (qdot.h). Row kernels have the shapes of qdot.h's ef_qrow_*_fn; each
 * integer-dot kernel comes twice: *_vnni with vpdpbusd (AVX-512 VNNI) and a
 * plain AVX-512 BW one (vpmaddubsw + vpmaddwd) giving the same bits, so the
 * table can be chosen at run time on processors without VNNI. None of them
 * is ever called unless the AVX-512 level was detected (and VNNI, for the
 * *_vnni ones). Scalar references: the group path of qdot_core.c.
 * Weight-only Q8_0 and Q4_0 run the dense GEMV/GEMM at this level
 * (ef_cpu_simd_qdense, matmul_kernels.h); their row kernels here give the
 * same bits per row (for callers that gather rows, as the sparse FFN). */
#ifndef EF_BACKENDS_CPU_QDOT_AVX512_H
#define EF_BACKENDS_CPU_QDOT_AVX512_H

#include <stdint.h>

#include "cpu/qdot.h"

/* ef_qrows_*: the integer-dot kernel beside them over EF_QROWS rows (same bits per row). */

/* Weight-only in the dense GEMV's order (same bits as gemv_avx512.c for a row). */
float ef_qrow_q8_0_f32_avx512(const uint8_t *row, const float *x, int64_t in);
float ef_qrow_q8_0_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q8_0_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
void ef_qrows_q8_0_int_avx512(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out);
void ef_qrows_q8_0_int_avx512_vnni(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out);

float ef_qrow_q4_0_f32_avx512(const uint8_t *row, const float *x, int64_t in); /* as Q8_0's */
float ef_qrow_q4_0_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q4_0_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
void ef_qrows_q4_0_int_avx512(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out);
void ef_qrows_q4_0_int_avx512_vnni(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out);

float ef_qrow_q4_k_f32_avx512(const uint8_t *row, const float *x, int64_t in); /* weight-only only */

/* integer-dot only */
float ef_qrow_q6_k_int_avx512(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q6_k_int_avx512_vnni(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);

#endif
