/* The AVX-512 quantized kernels per weight type (qdot.h's ef_qkernels).
 * Members left NULL run the AVX2 kernels. The integer-dot members are the
 * VNNI (vpdpbusd) kernels when the processor has AVX-512 VNNI, else the
 * plain AVX-512 BW ones (same bits): the table is chosen at run time. */
#include "cpu/cpu_features.h"
#include "cpu/matmul_kernels.h"
#include "cpu/qdot_avx512.h"

#include <stddef.h>

#include "quant/types.h"

/* {unpack, row_int, row_f32, dot_f32, dot_int, rows_int} */
/* Weight-only Q8_0 / Q4_0 run the dense kernels at this level (ef_cpu_simd_qdense). */
static const ef_qkernels k_q8_0 = {NULL, ef_qrow_q8_0_int_avx512, NULL, NULL, NULL, ef_qrows_q8_0_int_avx512};
static const ef_qkernels k_q8_0_vnni = {NULL, ef_qrow_q8_0_int_avx512_vnni, NULL, NULL, NULL,
                                          ef_qrows_q8_0_int_avx512_vnni};
static const ef_qkernels k_q4_0 = {NULL, ef_qrow_q4_0_int_avx512, NULL, NULL, NULL, ef_qrows_q4_0_int_avx512};
static const ef_qkernels k_q4_0_vnni = {NULL, ef_qrow_q4_0_int_avx512_vnni, NULL, NULL, NULL,
                                          ef_qrows_q4_0_int_avx512_vnni};
/* Q4_K: weight-only only, Q6_K: integer-dot only (the other mode measured
 * slower than AVX2 on Zen 4; see the kernel files). */
static const ef_qkernels k_q4_k = {NULL, NULL, ef_qrow_q4_k_f32_avx512, NULL, NULL, NULL};
static const ef_qkernels k_q6_k = {NULL, ef_qrow_q6_k_int_avx512, NULL, NULL, NULL, NULL};
static const ef_qkernels k_q6_k_vnni = {NULL, ef_qrow_q6_k_int_avx512_vnni, NULL, NULL, NULL, NULL};

const ef_qkernels *ef_qkernels_avx512(uint32_t type) {
    if (!ef_cpu_avx512_kernels_built()) return NULL; /* the kernel files are stubs */
    const int vnni = ef_cpu_x86_avx512_vnni();
    switch (type) {
    case EF_TYPE_Q8_0: return vnni ? &k_q8_0_vnni : &k_q8_0;
    case EF_TYPE_Q4_0: return vnni ? &k_q4_0_vnni : &k_q4_0;
    case EF_TYPE_Q4_K: return &k_q4_k;
    case EF_TYPE_Q6_K: return vnni ? &k_q6_k_vnni : &k_q6_k;
    default: return NULL;
    }
}
