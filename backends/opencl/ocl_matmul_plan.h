/* Which path a matmul takes (ocl_matmul.c), as a pure function of the
 * weight type, the batch and the context's settings, so the choice can be
 * tested without a device of every kind (opencl_matmul_plan_test.c). */
#ifndef EF_BACKENDS_OPENCL_MATMUL_PLAN_H
#define EF_BACKENDS_OPENCL_MATMUL_PLAN_H

#include <stdint.h>

#include "edgeformer/backend.h"

/* Up to this many tokens the GEMV kernels read a quantized weight once per
 * token, which beats expanding the whole matrix to F32 first. */
#define EF_OCL_GEMV_MAX_BATCH 8

typedef enum ef_ocl_matmul_path {
    EF_OCL_MM_GEMV,          /* own GEMV kernels on the stored blocks, over (row, token) */
    EF_OCL_MM_SGEMM,         /* CLBlast SGEMM on the F32 weight */
    EF_OCL_MM_DEQUANT_SGEMM, /* weight expanded to F32 in scratch, then SGEMM */
    EF_OCL_MM_HGEMM          /* CLBlast HGEMM on the F16 weight, x and y as half in scratch */
} ef_ocl_matmul_path;

/* fp16 arithmetic is on only when asked for (opencl.fp16_math=1) and the
 * device has cl_khr_fp16: without it CLBlast's HGEMM fails (PoCL: -2045). */
static inline int32_t ef_ocl_fp16_math_on(int32_t asked, int32_t device_fp16) { return asked == 1 && device_fp16; }

/* prefill_gemv: batches run the GEMV kernels (CPU devices' default);
 * fp16_math: ef_ocl_fp16_math_on. HGEMM replaces exactly the dequant + SGEMM
 * of an F16 weight, so decode and small batches keep the GEMV kernels' fp32
 * accumulation. */
static inline ef_ocl_matmul_path ef_ocl_matmul_plan(uint32_t type, int64_t n, int32_t prefill_gemv,
                                                    int32_t fp16_math) {
    if (n == 1 || prefill_gemv || (type != EF_BE_TYPE_F32 && n <= EF_OCL_GEMV_MAX_BATCH)) return EF_OCL_MM_GEMV;
    if (type == EF_BE_TYPE_F32) return EF_OCL_MM_SGEMM;
    if (type == EF_BE_TYPE_F16 && fp16_math) return EF_OCL_MM_HGEMM;
    return EF_OCL_MM_DEQUANT_SGEMM;
}

#endif
