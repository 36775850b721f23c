/* Element-wise ops (swiglu, add, scale) and the row softmax. */
#include "ocl_internal.h"

/* Both F32 with n elements each. */
static int32_t check_pair(ef_be_ctx *ctx, const ef_be_tensor *a, const ef_be_tensor *b, const char *what) {
    int32_t st;
    if ((st = ef_ocl_check(ctx, a, EF_BE_TYPE_F32, what)) != EF_OK ||
        (st = ef_ocl_check(ctx, b, EF_BE_TYPE_F32, what)) != EF_OK)
        return st;
    if (ef_ocl_nelem(a) != ef_ocl_nelem(b)) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s: %lld and %lld elements", what,
                   (long long)ef_ocl_nelem(a), (long long)ef_ocl_nelem(b));
        return EF_ERR_INVALID_ARG;
    }
    return EF_OK;
}

int32_t ef_ocl_swiglu(ef_be_ctx *ctx, const ef_be_tensor *gate, const ef_be_tensor *up, const ef_be_tensor *out) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    int32_t st;
    if ((st = check_pair(ctx, gate, up, "swiglu")) != EF_OK || (st = check_pair(ctx, gate, out, "swiglu")) != EF_OK)
        return st;
    const ef_ocl_arg args[] = {EF_OCL_ARG(gate->buf->mem), EF_OCL_ARG(gate->offset), EF_OCL_ARG(up->buf->mem),
                               EF_OCL_ARG(up->offset),     EF_OCL_ARG(out->buf->mem), EF_OCL_ARG(out->offset)};
    const size_t global[1] = {(size_t)ef_ocl_nelem(gate)};
    return ef_ocl_run(ctx, EF_OCL_SWIGLU, 1, global, NULL, args, 6);
}

int32_t ef_ocl_add(ef_be_ctx *ctx, const ef_be_tensor *y, const ef_be_tensor *x) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    int32_t st = check_pair(ctx, y, x, "add");
    if (st != EF_OK) return st;
    const ef_ocl_arg args[] = {EF_OCL_ARG(y->buf->mem), EF_OCL_ARG(y->offset), EF_OCL_ARG(x->buf->mem),
                               EF_OCL_ARG(x->offset)};
    const size_t global[1] = {(size_t)ef_ocl_nelem(y)};
    return ef_ocl_run(ctx, EF_OCL_ADD, 1, global, NULL, args, 4);
}

int32_t ef_ocl_scale(ef_be_ctx *ctx, const ef_be_tensor *y, float s) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    int32_t st = ef_ocl_check(ctx, y, EF_BE_TYPE_F32, "scale");
    if (st != EF_OK) return st;
    const ef_ocl_arg args[] = {EF_OCL_ARG(y->buf->mem), EF_OCL_ARG(y->offset), EF_OCL_ARG(s)};
    const size_t global[1] = {(size_t)ef_ocl_nelem(y)};
    return ef_ocl_run(ctx, EF_OCL_SCALE, 1, global, NULL, args, 3);
}

int32_t ef_ocl_softmax(ef_be_ctx *ctx, const ef_be_tensor *x) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    int32_t st = ef_ocl_check(ctx, x, EF_BE_TYPE_F32, "softmax");
    if (st != EF_OK) return st;
    const cl_int dim = (cl_int)x->ne[0];
    const int64_t rows = ef_ocl_nelem(x) / dim;
    const ef_ocl_arg args[] = {EF_OCL_ARG(x->buf->mem), EF_OCL_ARG(x->offset), EF_OCL_ARG(dim)};
    const size_t global[1] = {(size_t)rows * (size_t)ctx->wg}, local[1] = {(size_t)ctx->wg};
    return ef_ocl_run(ctx, EF_OCL_SOFTMAX, 1, global, local, args, 3);
}
