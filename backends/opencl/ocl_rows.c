/* Row expansion to F32: get_rows (embedding lookup), convert, and the
 * dequantization matmul uses before SGEMM. */
#include "ocl_internal.h"

int32_t ef_ocl_dequant_rows(ef_be_ctx *ctx, const ef_be_tensor *w, cl_mem ids, int64_t n_rows, cl_mem dst,
                            uint64_t dst_off) {
    const ef_ocl_kernel k = ef_ocl_dequant_kernel(w->type);
    if (k == EF_OCL_KERNEL_COUNT) return EF_ERR_UNSUPPORTED;
    const cl_ulong row_bytes = ef_ocl_row_bytes(w->type, w->ne[0]);
    const cl_int use_ids = ids != NULL, dim = (cl_int)w->ne[0];
    const cl_ulong d_off = dst_off;
    const ef_ocl_arg args[] = {EF_OCL_ARG(w->buf->mem), EF_OCL_ARG(w->offset), EF_OCL_ARG(row_bytes),
                               EF_OCL_ARG(ids),         EF_OCL_ARG(use_ids),   EF_OCL_ARG(dim),
                               EF_OCL_ARG(dst),         EF_OCL_ARG(d_off)};
    const size_t global[2] = {(size_t)dim, (size_t)n_rows};
    return ef_ocl_run(ctx, k, 2, global, NULL, args, 8);
}

int32_t ef_ocl_get_rows(ef_be_ctx *ctx, const ef_be_tensor *w, const int32_t *ids, int32_t n, const ef_be_tensor *y) {
    if (!ctx || n < 0 || (n > 0 && !ids)) return EF_ERR_INVALID_ARG;
    int32_t st;
    if ((st = ef_ocl_check_any(ctx, w, "get_rows table")) != EF_OK ||
        (st = ef_ocl_check(ctx, y, EF_BE_TYPE_F32, "get_rows y")) != EF_OK)
        return st;
    const int64_t dim = w->ne[0], rows = ef_ocl_nelem(w) / dim;
    if (ef_ocl_nelem(y) < (int64_t)n * dim) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: get_rows: y holds fewer than %d rows of %lld", n,
                   (long long)dim);
        return EF_ERR_INVALID_ARG;
    }
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= rows) {
            ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: get_rows: id %d outside 0..%lld", ids[i],
                       (long long)rows - 1);
            return EF_ERR_INVALID_ARG;
        }
    if (n == 0) return EF_OK;
    const size_t bytes = (size_t)n * sizeof(int32_t);
    if ((st = ef_ocl_scratch_reserve(ctx, &ctx->ids, bytes)) != EF_OK) return st;
    /* Blocking: ids is the caller's memory; the in-order queue keeps earlier
     * readers of the scratch ahead of this write. */
    cl_int err = clEnqueueWriteBuffer(ctx->queue, ctx->ids.mem, CL_TRUE, 0, bytes, ids, 0, NULL, NULL);
    if (err != CL_SUCCESS) return ef_ocl_fail(ctx, "clEnqueueWriteBuffer (ids)", err);
    return ef_ocl_dequant_rows(ctx, w, ctx->ids.mem, n, y->buf->mem, y->offset);
}

int32_t ef_ocl_convert(ef_be_ctx *ctx, const ef_be_tensor *src, const ef_be_tensor *dst) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    int32_t st;
    if ((st = ef_ocl_check_any(ctx, src, "convert src")) != EF_OK ||
        (st = ef_ocl_check_any(ctx, dst, "convert dst")) != EF_OK)
        return st;
    const int64_t n = ef_ocl_nelem(src);
    if (ef_ocl_nelem(dst) != n) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: convert: %lld elements into %lld", (long long)n,
                   (long long)ef_ocl_nelem(dst));
        return EF_ERR_INVALID_ARG;
    }
    if (src->type == EF_BE_TYPE_F32 && dst->type == EF_BE_TYPE_F16) {
        const ef_ocl_arg args[] = {EF_OCL_ARG(src->buf->mem), EF_OCL_ARG(src->offset), EF_OCL_ARG(dst->buf->mem),
                                   EF_OCL_ARG(dst->offset)};
        const size_t global[1] = {(size_t)n};
        return ef_ocl_run(ctx, EF_OCL_F32_TO_F16, 1, global, NULL, args, 4);
    }
    if (dst->type != EF_BE_TYPE_F32) return EF_ERR_UNSUPPORTED;
    /* Any claimed type -> F32: the rows of src, in order. */
    return ef_ocl_dequant_rows(ctx, src, NULL, n / src->ne[0], dst->buf->mem, dst->offset);
}
