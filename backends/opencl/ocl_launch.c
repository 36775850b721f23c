/* Kernel launches and the tensor checks every op starts with. */
#include "ocl_internal.h"

int32_t ef_ocl_run(ef_be_ctx *ctx, ef_ocl_kernel k, cl_uint dims, const size_t *global, const size_t *local,
                   const ef_ocl_arg *args, cl_uint n_args) {
    cl_kernel kern = ctx->kernels[k];
    for (cl_uint i = 0; i < n_args; i++) {
        cl_int err = clSetKernelArg(kern, i, args[i].size, args[i].ptr);
        if (err != CL_SUCCESS) {
            ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s argument %u: CL error %d", ef_ocl_kernel_names[k], i,
                       (int)err);
            return EF_ERR_INTERNAL;
        }
    }
    for (cl_uint d = 0; d < dims; d++)
        if (global[d] == 0) return EF_OK; /* nothing to do */
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kern, dims, NULL, global, local, 0, NULL, NULL);
    if (err != CL_SUCCESS) return ef_ocl_fail(ctx, ef_ocl_kernel_names[k], err);
    return EF_OK;
}

int64_t ef_ocl_dim(const ef_be_tensor *t, int i) {
    return i > 0 && t->ne[i] < 1 ? 1 : t->ne[i];
}

int64_t ef_ocl_nelem(const ef_be_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < 4; i++) n *= ef_ocl_dim(t, i);
    return n;
}

uint64_t ef_ocl_row_bytes(uint32_t type, int64_t ne0) {
    if (ne0 < 0) return 0;
    switch (type) {
    case EF_BE_TYPE_F32: return (uint64_t)ne0 * 4;
    case EF_BE_TYPE_F16:
    case EF_BE_TYPE_BF16: return (uint64_t)ne0 * 2;
    case EF_BE_TYPE_Q8_0: return ne0 % EF_BE_QK ? 0 : (uint64_t)(ne0 / EF_BE_QK) * sizeof(ef_be_block_q8_0);
    case EF_BE_TYPE_Q4_0: return ne0 % EF_BE_QK ? 0 : (uint64_t)(ne0 / EF_BE_QK) * sizeof(ef_be_block_q4_0);
    case EF_BE_TYPE_Q4_K: return ne0 % EF_BE_QK_K ? 0 : (uint64_t)(ne0 / EF_BE_QK_K) * sizeof(ef_be_block_q4_k);
    default: return 0;
    }
}

ef_ocl_kernel ef_ocl_dequant_kernel(uint32_t type) {
    switch (type) {
    case EF_BE_TYPE_F32: return EF_OCL_DEQUANT_F32;
    case EF_BE_TYPE_F16: return EF_OCL_DEQUANT_F16;
    case EF_BE_TYPE_Q8_0: return EF_OCL_DEQUANT_Q8_0;
    case EF_BE_TYPE_Q4_0: return EF_OCL_DEQUANT_Q4_0;
    case EF_BE_TYPE_Q4_K: return EF_OCL_DEQUANT_Q4_K;
    case EF_BE_TYPE_BF16: return EF_OCL_DEQUANT_BF16;
    default: return EF_OCL_KERNEL_COUNT;
    }
}

int32_t ef_ocl_check_any(const ef_be_ctx *ctx, const ef_be_tensor *t, const char *what) {
    if (!t || !t->buf) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s: no tensor or buffer", what);
        return EF_ERR_INVALID_ARG;
    }
    for (int i = 0; i < 4; i++)
        if (ef_ocl_dim(t, i) < 1 || t->ne[i] > INT32_MAX) {
            ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s: dim %d is %lld", what, i, (long long)t->ne[i]);
            return EF_ERR_INVALID_ARG;
        }
    uint64_t row = ef_ocl_row_bytes(t->type, t->ne[0]);
    if (row == 0) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s: type %u with rows of %lld is not supported", what,
                   t->type, (long long)t->ne[0]);
        return EF_ERR_UNSUPPORTED;
    }
    /* rows and bytes without overflow: a wrapped product would pass the check. */
    uint64_t rows = 1;
    for (int i = 1; i < 4; i++) {
        const uint64_t d = (uint64_t)ef_ocl_dim(t, i);
        if (rows > UINT64_MAX / d / row) {
            ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s: its size overflows", what);
            return EF_ERR_INVALID_ARG;
        }
        rows *= d;
    }
    /* Elements are read through typed pointers: keep offsets aligned. */
    uint64_t align = t->type == EF_BE_TYPE_F32 ? 4 : 2;
    if (t->offset % align || t->offset > t->buf->bytes || row * rows > t->buf->bytes - t->offset) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s: %llu bytes at offset %llu do not fit a %llu-byte buffer",
                   what, (unsigned long long)(row * rows), (unsigned long long)t->offset,
                   (unsigned long long)t->buf->bytes);
        return EF_ERR_INVALID_ARG;
    }
    return EF_OK;
}

int32_t ef_ocl_check(const ef_be_ctx *ctx, const ef_be_tensor *t, uint32_t type, const char *what) {
    if (t && t->type != type) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: %s: type %u, expected %u", what, t->type, type);
        return EF_ERR_UNSUPPORTED;
    }
    return ef_ocl_check_any(ctx, t, what);
}
