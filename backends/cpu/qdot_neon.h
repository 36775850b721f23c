/* The NEON (aarch64) quantized kernels behind qtable_neon.c's tables (see
 * qdot.h for the group form they read). Two levels:
 *   NEON          group dots (weight-only: codes → F32, FMA with x;
 *                 integer-dot: vmull_s8 products, pairs summed with
 *                 vpaddl/vpadal), unpackers, fused Q8_0/Q4_0/Q4_K/Q6_K rows;
 *   NEON dotprod  the integer-dot kernels again with SDOT (files named
 *                 *_dotprod.c, compiled with +dotprod; called only when
 *                 ef_cpu_simd_active() is EF_CPU_SIMD_NEON_DOTPROD).
 * The integer-dot kernels form each 32-element chunk's integer sum exactly
 * and then apply the scalar reference's float expression in its order, so
 * NEON, NEON dotprod and the scalar reference give the same bits; the
 * weight-only ones differ from the reference by rounding order only. The
 * unpackers give the same bytes as the scalar ones (qdot_<family>.c).
 * Built only on aarch64; elsewhere these names are not defined. */
#ifndef EF_BACKENDS_CPU_QDOT_NEON_H
#define EF_BACKENDS_CPU_QDOT_NEON_H

#include <stdint.h>

#include "cpu/qdot.h"

/* Group dots (qdot_core_neon.c, qdot_core_neon_dotprod.c). */
float ef_qdot_f32_neon(const ef_qgroup_w *g, const float *x, int32_t n32);
float ef_qdot_int_neon(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min);
float ef_qdot_int_neon_dotprod(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min);

/* Unpackers, same bytes as the scalar references (qdot_<family>_neon.c). */
void ef_qunpack_q4_0_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_q4_1_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_q5_0_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_q5_1_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_q4_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_q5_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_q6_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_q2_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_q3_k_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);
void ef_qunpack_tq2_0_neon(const uint8_t *src, int32_t n32, ef_qgroup_w *g);

/* Fused row kernels (qdot_q8_0_neon.c, qdot_q4_neon.c, qdot_q4_k_neon.c,
 * qdot_q6_k_neon.c, qdot_rows_neon_dotprod.c).
 * Integer-dot: the same bits as the group path; weight-only: rounding order. */
float ef_qrow_q8_0_int_neon(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q8_0_f32_neon(const uint8_t *row, const float *x, int64_t in);
float ef_qrow_q4_0_int_neon(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q4_0_f32_neon(const uint8_t *row, const float *x, int64_t in);
float ef_qrow_q4_k_int_neon(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q4_k_f32_neon(const uint8_t *row, const float *x, int64_t in);
float ef_qrow_q6_k_int_neon(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q6_k_f32_neon(const uint8_t *row, const float *x, int64_t in);
float ef_qrow_q8_0_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q4_0_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q4_k_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q6_k_int_neon_dotprod(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);

/* d, dmin and the 6-bit scales/mins of a Q4_K/Q5_K super-block (qdot_q4_k.c). */
void ef_qunpack_k_scales(const uint8_t *blk, ef_qgroup_w *g);

/* The scalar reference's float step for one 32-element chunk of an
 * integer-dot (ef_qdot_int_scalar): isum and msum are exact integers, and
 * this expression, kept in one place, rounds as the reference does (the
 * build compiles ISO C, so nothing is contracted into an FMA). */
static inline float ef_qdot_int_chunk(float sum, float dw, float dmin, float da, int32_t isum, int32_t msum,
                                      int has_min) {
    sum += dw * da * (float)isum;
    if (has_min) sum -= dmin * da * (float)msum;
    return sum;
}

#endif
