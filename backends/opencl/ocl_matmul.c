/* matmul: y[n][out] = x[n][in] · Wᵀ for W {in, out}. Decode (n == 1) and
 * small batches of a non-F32 weight run the GEMV kernels straight on the
 * stored blocks; larger batches go to CLBlast's SGEMM, with non-F32 weights
 * first expanded to F32 in a scratch buffer, or, for F16 weights with
 * opencl.fp16_math=1 on a cl_khr_fp16 device, to HGEMM (ocl_matmul_half.c).
 * On CPU devices (ctx->prefill_gemv) every batch runs the GEMV kernels,
 * which beat CLBlast there. ocl_matmul_plan.h makes the choice. */
#include <clblast_c.h>

#include "ocl_internal.h"
#include "ocl_matmul_plan.h"

static ef_ocl_kernel gemv_kernel(uint32_t type) {
    switch (type) {
    case EF_BE_TYPE_F32: return EF_OCL_GEMV_F32;
    case EF_BE_TYPE_F16: return EF_OCL_GEMV_F16;
    case EF_BE_TYPE_Q8_0: return EF_OCL_GEMV_Q8_0;
    case EF_BE_TYPE_Q4_0: return EF_OCL_GEMV_Q4_0;
    case EF_BE_TYPE_Q4_K: return EF_OCL_GEMV_Q4_K;
    case EF_BE_TYPE_BF16: return EF_OCL_GEMV_BF16;
    default: return EF_OCL_KERNEL_COUNT;
    }
}

static int32_t run_gemv(ef_be_ctx *ctx, ef_ocl_kernel k, const ef_be_tensor *w, const ef_be_tensor *x,
                        const ef_be_tensor *y, cl_int in, cl_int out, size_t n) {
    const ef_ocl_arg args[] = {EF_OCL_ARG(w->buf->mem), EF_OCL_ARG(w->offset), EF_OCL_ARG(x->buf->mem),
                               EF_OCL_ARG(x->offset),   EF_OCL_ARG(y->buf->mem), EF_OCL_ARG(y->offset),
                               EF_OCL_ARG(in),          EF_OCL_ARG(out)};
    const size_t global[2] = {(size_t)out * (size_t)ctx->wg, n}, local[2] = {(size_t)ctx->wg, 1};
    return ef_ocl_run(ctx, k, 2, global, local, args, 8);
}

/* y = x · Wᵀ with W an F32 {in, out} matrix at w_off floats of w_mem. */
static int32_t run_sgemm(ef_be_ctx *ctx, cl_mem w_mem, size_t w_off, const ef_be_tensor *x, const ef_be_tensor *y,
                         size_t in, size_t out, size_t n) {
    cl_event ev = NULL;
    CLBlastStatusCode st = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, n, out, in,
                                        1.0f, x->buf->mem, (size_t)x->offset / 4, in, w_mem, w_off, in, 0.0f,
                                        y->buf->mem, (size_t)y->offset / 4, out, &ctx->queue, &ev);
    if (ev) clReleaseEvent(ev);
    if (st != CLBlastSuccess) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: CLBlastSgemm %zux%zux%zu failed: status %d", n, out, in,
                   (int)st);
        return EF_ERR_BACKEND;
    }
    return EF_OK;
}

int32_t ef_ocl_matmul(ef_be_ctx *ctx, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    int32_t st;
    if ((st = ef_ocl_check_any(ctx, w, "matmul weight")) != EF_OK ||
        (st = ef_ocl_check(ctx, x, EF_BE_TYPE_F32, "matmul x")) != EF_OK ||
        (st = ef_ocl_check(ctx, y, EF_BE_TYPE_F32, "matmul y")) != EF_OK)
        return st;
    const int64_t in = w->ne[0], out = ef_ocl_dim(w, 1);
    const ef_ocl_kernel k = gemv_kernel(w->type);
    if (k == EF_OCL_KERNEL_COUNT || ef_ocl_nelem(w) != in * out) return EF_ERR_UNSUPPORTED;
    const int64_t n = ef_ocl_nelem(x) / in;
    if (x->ne[0] != in || y->ne[0] != out || ef_ocl_nelem(y) != n * out || in > INT32_MAX || out > INT32_MAX) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: matmul shapes: w {%lld, %lld}, x ne0 %lld, y ne0 %lld",
                   (long long)in, (long long)out, (long long)x->ne[0], (long long)y->ne[0]);
        return EF_ERR_INVALID_ARG;
    }
    switch (ef_ocl_matmul_plan(w->type, n, ctx->prefill_gemv, ctx->fp16_math)) {
    case EF_OCL_MM_GEMV: return run_gemv(ctx, k, w, x, y, (cl_int)in, (cl_int)out, (size_t)n);
    case EF_OCL_MM_SGEMM:
        return run_sgemm(ctx, w->buf->mem, (size_t)w->offset / 4, x, y, (size_t)in, (size_t)out, (size_t)n);
    case EF_OCL_MM_HGEMM: return ef_ocl_matmul_hgemm(ctx, w, x, y, (size_t)in, (size_t)out, (size_t)n);
    case EF_OCL_MM_DEQUANT_SGEMM: break;
    }
    /* Expand the weight to F32 rows in scratch: [out][in] floats. */
    if ((st = ef_ocl_scratch_reserve(ctx, &ctx->dequant, (size_t)(in * out) * sizeof(float))) != EF_OK) return st;
    if ((st = ef_ocl_dequant_rows(ctx, w, NULL, out, ctx->dequant.mem, 0)) != EF_OK) return st;
    return run_sgemm(ctx, ctx->dequant.mem, 0, x, y, (size_t)in, (size_t)out, (size_t)n);
}
