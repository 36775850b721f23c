/* The NEON quantized kernels per weight type (qdot.h's ef_qkernels); the
 * dotprod table adds what SDOT improves (the integer-dot kernels). Members
 * left NULL run the level below (NEON, then the scalar references): Q8_0
 * keeps the scalar unpacker, a plain copy. Fused rows: Q8_0, Q4_0, Q4_K, Q6_K. Kernels: qdot_neon.h. */
#include "cpu/qdot.h"

#include <stddef.h>

#include "quant/types.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include "cpu/qdot_neon.h"

/* Every type gets the NEON group dots; unpackers and fused rows where they
 * exist. Members: unpack, row_int, row_f32, dot_f32, dot_int. */
static const ef_qkernels k_q8_0 = {NULL, ef_qrow_q8_0_int_neon, ef_qrow_q8_0_f32_neon, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q4_0 = {ef_qunpack_q4_0_neon, ef_qrow_q4_0_int_neon, ef_qrow_q4_0_f32_neon, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q4_1 = {ef_qunpack_q4_1_neon, NULL, NULL, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q5_0 = {ef_qunpack_q5_0_neon, NULL, NULL, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q5_1 = {ef_qunpack_q5_1_neon, NULL, NULL, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q4_k = {ef_qunpack_q4_k_neon, ef_qrow_q4_k_int_neon, ef_qrow_q4_k_f32_neon, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q5_k = {ef_qunpack_q5_k_neon, NULL, NULL, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q6_k = {ef_qunpack_q6_k_neon, ef_qrow_q6_k_int_neon, ef_qrow_q6_k_f32_neon, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q2_k = {ef_qunpack_q2_k_neon, NULL, NULL, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_q3_k = {ef_qunpack_q3_k_neon, NULL, NULL, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};
static const ef_qkernels k_tq2_0 = {ef_qunpack_tq2_0_neon, NULL, NULL, ef_qdot_f32_neon, ef_qdot_int_neon, NULL};

/* SDOT: the group integer-dot for every type, fused rows for Q8_0, Q4_0, Q4_K, Q6_K. */
static const ef_qkernels k_dotprod = {NULL, NULL, NULL, NULL, ef_qdot_int_neon_dotprod, NULL};
static const ef_qkernels k_dotprod_q8_0 = {NULL, ef_qrow_q8_0_int_neon_dotprod, NULL, NULL, ef_qdot_int_neon_dotprod, NULL};
static const ef_qkernels k_dotprod_q4_0 = {NULL, ef_qrow_q4_0_int_neon_dotprod, NULL, NULL, ef_qdot_int_neon_dotprod, NULL};
static const ef_qkernels k_dotprod_q4_k = {NULL, ef_qrow_q4_k_int_neon_dotprod, NULL, NULL, ef_qdot_int_neon_dotprod, NULL};
static const ef_qkernels k_dotprod_q6_k = {NULL, ef_qrow_q6_k_int_neon_dotprod, NULL, NULL, ef_qdot_int_neon_dotprod, NULL};

static const ef_qkernels *neon_table(uint32_t type) {
    switch (type) {
    case EF_TYPE_Q8_0: return &k_q8_0;
    case EF_TYPE_Q4_0: return &k_q4_0;
    case EF_TYPE_Q4_1: return &k_q4_1;
    case EF_TYPE_Q5_0: return &k_q5_0;
    case EF_TYPE_Q5_1: return &k_q5_1;
    case EF_TYPE_Q4_K: return &k_q4_k;
    case EF_TYPE_Q5_K: return &k_q5_k;
    case EF_TYPE_Q6_K: return &k_q6_k;
    case EF_TYPE_Q2_K: return &k_q2_k;
    case EF_TYPE_Q3_K: return &k_q3_k;
    case EF_TYPE_TQ2_0: return &k_tq2_0;
    default: return NULL;
    }
}

const ef_qkernels *ef_qkernels_neon(uint32_t type, int dotprod) {
    const ef_qkernels *base = neon_table(type);
    if (!base || !dotprod) return base;
    if (type == EF_TYPE_Q8_0) return &k_dotprod_q8_0;
    if (type == EF_TYPE_Q4_0) return &k_dotprod_q4_0;
    if (type == EF_TYPE_Q4_K) return &k_dotprod_q4_k;
    if (type == EF_TYPE_Q6_K) return &k_dotprod_q6_k;
    return &k_dotprod;
}

#else /* not aarch64: no NEON kernels */

const ef_qkernels *ef_qkernels_neon(uint32_t type, int dotprod) {
    (void)type, (void)dotprod;
    return NULL;
}

#endif
