/* matmul in half precision: y[n][out] = x[n][in] · Wᵀ for an F16 W {in,
 * out} with CLBlast's HGEMM, used only with opencl.fp16_math=1 on a device
 * with cl_khr_fp16 (ocl_matmul_plan.h). x is rounded to half, products are
 * summed in half (CLBlast's HGEMM accumulates in its operand type), y is
 * widened back to F32. Expected NMSE against fp32 is about u²·in/6 with
 * u = 2⁻¹¹ (3e-5 at in = 768); the tests allow u²·in. What it buys on a
 * GPU: the weight is read as stored (no F32 copy in scratch) and the
 * device's fp16 rate. */
#include <clblast_c.h>

#include "ocl_internal.h"

#define HALF_ONE ((cl_half)0x3C00u)
#define HALF_ZERO ((cl_half)0x0000u)

static ef_be_tensor half_rows(ef_be_buffer *b, uint64_t offset, int64_t ne0, int64_t ne1) {
    ef_be_tensor t = {b, offset, EF_BE_TYPE_F16, 2, {ne0, ne1, 1, 1}};
    return t;
}

int32_t ef_ocl_matmul_hgemm(ef_be_ctx *ctx, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y,
                            size_t in, size_t out, size_t n) {
    if (w->offset % 2 != 0) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: HGEMM needs an F16 weight at an even byte offset, got %llu",
                   (unsigned long long)w->offset);
        return EF_ERR_INVALID_ARG;
    }
    const size_t x_halfs = n * in, y_halfs = n * out;
    int32_t st = ef_ocl_scratch_reserve(ctx, &ctx->half_xy, (x_halfs + y_halfs) * 2);
    if (st != EF_OK) return st;
    ef_be_buffer scratch = {ctx->half_xy.mem, (uint64_t)ctx->half_xy.bytes, NULL};
    const ef_be_tensor xh = half_rows(&scratch, 0, (int64_t)in, (int64_t)n);                       /* [n][in] */
    const ef_be_tensor yh = half_rows(&scratch, (uint64_t)x_halfs * 2, (int64_t)out, (int64_t)n); /* [n][out] */
    if ((st = ef_ocl_convert(ctx, x, &xh)) != EF_OK) return st;
    cl_event ev = NULL;
    const CLBlastStatusCode cs =
        CLBlastHgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, n, out, in, HALF_ONE,
                     scratch.mem, 0, in, w->buf->mem, (size_t)w->offset / 2, in, HALF_ZERO, scratch.mem, x_halfs, out,
                     &ctx->queue, &ev);
    if (ev) clReleaseEvent(ev);
    if (cs != CLBlastSuccess) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: CLBlastHgemm %zux%zux%zu failed: status %d", n, out, in,
                   (int)cs);
        return EF_ERR_BACKEND;
    }
    return ef_ocl_convert(ctx, &yh, y);
}
