/* RMSNorm and RoPE: the per-row and per-head ops of a layer's input. */
#include "ocl_internal.h"

int32_t ef_ocl_rmsnorm(ef_be_ctx *ctx, const ef_be_tensor *x, const ef_be_tensor *w, float eps, const ef_be_tensor *y) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    int32_t st;
    if ((st = ef_ocl_check(ctx, x, EF_BE_TYPE_F32, "rmsnorm x")) != EF_OK ||
        (st = ef_ocl_check(ctx, w, EF_BE_TYPE_F32, "rmsnorm w")) != EF_OK ||
        (st = ef_ocl_check(ctx, y, EF_BE_TYPE_F32, "rmsnorm y")) != EF_OK)
        return st;
    const int64_t dim = x->ne[0], rows = ef_ocl_nelem(x) / dim;
    if (w->ne[0] != dim || ef_ocl_nelem(y) != rows * dim || dim > INT32_MAX) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: rmsnorm: w or y does not match rows of %lld", (long long)dim);
        return EF_ERR_INVALID_ARG;
    }
    const cl_int d = (cl_int)dim;
    const ef_ocl_arg args[] = {EF_OCL_ARG(x->buf->mem), EF_OCL_ARG(x->offset), EF_OCL_ARG(w->buf->mem),
                               EF_OCL_ARG(w->offset),   EF_OCL_ARG(y->buf->mem), EF_OCL_ARG(y->offset),
                               EF_OCL_ARG(d),           EF_OCL_ARG(eps)};
    const size_t global[1] = {(size_t)rows * (size_t)ctx->wg}, local[1] = {(size_t)ctx->wg};
    return ef_ocl_run(ctx, EF_OCL_RMSNORM, 1, global, local, args, 8);
}

int32_t ef_ocl_rope(ef_be_ctx *ctx, const ef_be_tensor *x, int32_t pos0, const ef_be_rope *p) {
    if (!ctx || !p) return EF_ERR_INVALID_ARG;
    int32_t st;
    if ((st = ef_ocl_check(ctx, x, EF_BE_TYPE_F32, "rope x")) != EF_OK) return st;
    const cl_int head_dim = (cl_int)x->ne[0], n_heads = (cl_int)ef_ocl_dim(x, 1);
    const int64_t n_tok = ef_ocl_dim(x, 2) * ef_ocl_dim(x, 3);
    if (p->n_rot <= 0 || p->n_rot % 2 || p->n_rot > head_dim ||
        (p->mode != EF_BE_ROPE_NORM && p->mode != EF_BE_ROPE_NEOX)) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: rope: n_rot %d / mode %d with head_dim %d", p->n_rot,
                   p->mode, head_dim);
        return EF_ERR_INVALID_ARG;
    }
    const cl_int has_factors = p->freq_factors != NULL;
    if (has_factors) {
        const size_t bytes = (size_t)(p->n_rot / 2) * sizeof(float);
        if ((st = ef_ocl_scratch_reserve(ctx, &ctx->factors, bytes)) != EF_OK) return st;
        cl_int err = clEnqueueWriteBuffer(ctx->queue, ctx->factors.mem, CL_TRUE, 0, bytes, p->freq_factors, 0, NULL,
                                          NULL);
        if (err != CL_SUCCESS) return ef_ocl_fail(ctx, "clEnqueueWriteBuffer (freq_factors)", err);
    }
    const cl_mem factors = has_factors ? ctx->factors.mem : NULL;
    const cl_int pos = pos0, n_rot = p->n_rot, mode = p->mode;
    const float base = p->freq_base, fscale = p->freq_scale;
    const ef_ocl_arg args[] = {EF_OCL_ARG(x->buf->mem), EF_OCL_ARG(x->offset), EF_OCL_ARG(head_dim),
                               EF_OCL_ARG(n_heads),     EF_OCL_ARG(pos),       EF_OCL_ARG(n_rot),
                               EF_OCL_ARG(mode),        EF_OCL_ARG(base),      EF_OCL_ARG(fscale),
                               EF_OCL_ARG(factors),     EF_OCL_ARG(has_factors)};
    const size_t global[2] = {(size_t)(n_rot / 2), (size_t)n_tok}; /* each item: one pair of every head */
    return ef_ocl_run(ctx, EF_OCL_ROPE, 2, global, NULL, args, 11);
}
