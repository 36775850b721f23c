/* The matmul path choice of the OpenCL plugin (ocl_matmul_plan.h), for
 * every kind of device, without one: HGEMM is taken only for F16 weights,
 * only when fp16 math was asked for AND the device has cl_khr_fp16, and only
 * where the fp32 path would expand the weight for SGEMM. */
#include <stdio.h>

#include "ocl_matmul_plan.h"

static int g_failures;

static void expect(int ok, const char *what) {
    if (!ok) {
        printf("FAIL: %s\n", what);
        g_failures++;
    }
}

static const char *path_name(ef_ocl_matmul_path p) {
    switch (p) {
    case EF_OCL_MM_GEMV: return "gemv";
    case EF_OCL_MM_SGEMM: return "sgemm";
    case EF_OCL_MM_DEQUANT_SGEMM: return "dequant+sgemm";
    default: return "hgemm";
    }
}

int main(void) {
    /* fp16 math: asked × device extension */
    expect(ef_ocl_fp16_math_on(1, 1) == 1, "asked, device has cl_khr_fp16 -> on");
    expect(ef_ocl_fp16_math_on(1, 0) == 0, "asked, no cl_khr_fp16 (PoCL) -> off");
    expect(ef_ocl_fp16_math_on(0, 1) == 0, "not asked -> off");
    expect(ef_ocl_fp16_math_on(0, 0) == 0, "neither -> off");

    /* {type, n, prefill_gemv, asked, device fp16, expected} */
    static const struct {
        uint32_t type;
        int64_t n;
        int32_t prefill_gemv, asked, fp16;
        ef_ocl_matmul_path want;
    } cases[] = {
        {EF_BE_TYPE_F16, 13, 0, 1, 1, EF_OCL_MM_HGEMM},         /* GPU prefill, asked, fp16 device */
        {EF_BE_TYPE_F16, 13, 0, 1, 0, EF_OCL_MM_DEQUANT_SGEMM}, /* asked on a device without fp16 */
        {EF_BE_TYPE_F16, 13, 0, 0, 1, EF_OCL_MM_DEQUANT_SGEMM}, /* fp16 device, not asked */
        {EF_BE_TYPE_F16, 1, 0, 1, 1, EF_OCL_MM_GEMV},           /* decode keeps fp32 accumulation */
        {EF_BE_TYPE_F16, 8, 0, 1, 1, EF_OCL_MM_GEMV},           /* small batches too */
        {EF_BE_TYPE_F16, 9, 0, 1, 1, EF_OCL_MM_HGEMM},
        {EF_BE_TYPE_F16, 13, 1, 1, 1, EF_OCL_MM_GEMV},          /* CPU devices' batched GEMV */
        {EF_BE_TYPE_F32, 13, 0, 1, 1, EF_OCL_MM_SGEMM},         /* F32 weights never go to half */
        {EF_BE_TYPE_F32, 2, 0, 0, 0, EF_OCL_MM_SGEMM},
        {EF_BE_TYPE_F32, 1, 0, 0, 0, EF_OCL_MM_GEMV},
        {EF_BE_TYPE_BF16, 13, 0, 1, 1, EF_OCL_MM_DEQUANT_SGEMM},
        {EF_BE_TYPE_Q8_0, 13, 0, 1, 1, EF_OCL_MM_DEQUANT_SGEMM},
        {EF_BE_TYPE_Q4_0, 3, 0, 1, 1, EF_OCL_MM_GEMV},
        {EF_BE_TYPE_Q4_K, 64, 0, 1, 1, EF_OCL_MM_DEQUANT_SGEMM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ef_ocl_matmul_path got = ef_ocl_matmul_plan(
            cases[i].type, cases[i].n, cases[i].prefill_gemv, ef_ocl_fp16_math_on(cases[i].asked, cases[i].fp16));
        char what[160];
        snprintf(what, sizeof what, "case %zu: type %u n %lld prefill_gemv %d asked %d fp16 %d: %s, want %s", i,
                 (unsigned)cases[i].type, (long long)cases[i].n, (int)cases[i].prefill_gemv, (int)cases[i].asked,
                 (int)cases[i].fp16, path_name(got), path_name(cases[i].want));
        expect(got == cases[i].want, what);
    }
    printf("%d failure(s)\n", g_failures);
    return g_failures ? 1 : 0;
}
