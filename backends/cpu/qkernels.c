/* Which quantized kernels a SIMD level runs (qdot.h): the scalar
 * references, overlaid by each level's table from the bottom of its
 * architecture up, so a wider level only needs the kernels it improves. */
#include "cpu/cpu_features.h"
#include "cpu/qdot.h"

#include <stddef.h>

/* Copies the non-NULL members of `t` over `k`. */
static void overlay(ef_qkernels *k, const ef_qkernels *t) {
    if (!t) return;
    if (t->unpack) k->unpack = t->unpack;
    if (t->row_int) k->row_int = t->row_int, k->rows_int = t->rows_int; /* a pair: the same bits */
    if (t->row_f32) k->row_f32 = t->row_f32;
    if (t->dot_f32) k->dot_f32 = t->dot_f32;
    if (t->dot_int) k->dot_int = t->dot_int;
}

int ef_qkernels_resolve(uint32_t type, int level, ef_qkernels *out) {
    const ef_qtype_ops *ops = ef_qtype_ops_get(type);
    if (!ops) return 0;
    *out = (ef_qkernels){ops->unpack, NULL, NULL, ef_qdot_f32_scalar, ef_qdot_int_scalar, NULL};
    const ef_cpu_simd l = (ef_cpu_simd)level;
    if (ef_cpu_simd_x86(l)) {
        const ef_qkernels avx2 = {ops->unpack_avx2, ops->row_int_avx2, ops->row_f32_avx2, ef_qdot_f32_avx2,
                                  ef_qdot_int_avx2, ops->rows_int_avx2};
        overlay(out, &avx2);
        if (l == EF_CPU_SIMD_AVX512) overlay(out, ef_qkernels_avx512(type));
    } else if (ef_cpu_simd_arm(l)) {
        overlay(out, ef_qkernels_neon(type, 0));
        if (l == EF_CPU_SIMD_NEON_DOTPROD) overlay(out, ef_qkernels_neon(type, 1));
    }
    return 1;
}
