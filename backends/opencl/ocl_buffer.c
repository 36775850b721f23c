/* Device buffers: allocation (host-visible on unified memory), blocking
 * copies, maps, and the grow-on-demand scratch buffers ops share. */
#include <string.h>

#include "ocl_internal.h"

int32_t ef_ocl_buffer_alloc(ef_be_ctx *ctx, uint64_t bytes, uint32_t flags, ef_be_buffer **out) {
    if (!ctx || !out) return EF_ERR_INVALID_ARG;
    *out = NULL;
    ef_be_buffer *b = ctx->host.alloc(ctx->host.user, sizeof *b);
    if (!b) return EF_ERR_NO_MEMORY;
    memset(b, 0, sizeof *b);
    /* On integrated GPUs the driver's host-side allocation is the device
     * memory: maps become free and uploads skip a staging copy. */
    cl_mem_flags mf = CL_MEM_READ_WRITE;
    if (ctx->dev.unified || (flags & EF_BE_BUF_HOST_VISIBLE)) mf |= CL_MEM_ALLOC_HOST_PTR;
    cl_int err = CL_SUCCESS;
    b->mem = clCreateBuffer(ctx->context, mf, bytes ? (size_t)bytes : 1, NULL, &err);
    if (!b->mem) {
        ctx->host.free(ctx->host.user, b);
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: clCreateBuffer of %llu bytes failed: CL error %d",
                   (unsigned long long)bytes, (int)err);
        return EF_ERR_NO_MEMORY;
    }
    b->bytes = bytes;
    *out = b;
    return EF_OK;
}

void ef_ocl_buffer_free(ef_be_ctx *ctx, ef_be_buffer *buf) {
    if (!ctx || !buf) return;
    if (buf->mapped) ef_ocl_buffer_unmap(ctx, buf);
    /* Kernels queued on it must finish before the memory goes. */
    clFinish(ctx->queue);
    clReleaseMemObject(buf->mem);
    ctx->host.free(ctx->host.user, buf);
}

static int32_t check_range(ef_be_ctx *ctx, const ef_be_buffer *buf, uint64_t offset, const void *p, uint64_t bytes) {
    if (!ctx || !buf || (!p && bytes)) return EF_ERR_INVALID_ARG;
    if (offset > buf->bytes || bytes > buf->bytes - offset) {
        ef_ocl_log(&ctx->host, EF_BE_LOG_ERROR, "opencl: copy of %llu bytes at %llu outside a %llu-byte buffer",
                   (unsigned long long)bytes, (unsigned long long)offset, (unsigned long long)buf->bytes);
        return EF_ERR_INVALID_ARG;
    }
    return EF_OK;
}

int32_t ef_ocl_buffer_upload(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, const void *src, uint64_t bytes) {
    int32_t st = check_range(ctx, buf, offset, src, bytes);
    if (st != EF_OK || bytes == 0) return st;
    cl_int err = clEnqueueWriteBuffer(ctx->queue, buf->mem, CL_TRUE, (size_t)offset, (size_t)bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? EF_OK : ef_ocl_fail(ctx, "clEnqueueWriteBuffer", err);
}

int32_t ef_ocl_buffer_download(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, void *dst, uint64_t bytes) {
    int32_t st = check_range(ctx, buf, offset, dst, bytes);
    if (st != EF_OK || bytes == 0) return st;
    cl_int err = clEnqueueReadBuffer(ctx->queue, buf->mem, CL_TRUE, (size_t)offset, (size_t)bytes, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? EF_OK : ef_ocl_fail(ctx, "clEnqueueReadBuffer", err);
}

void *ef_ocl_buffer_map(ef_be_ctx *ctx, ef_be_buffer *buf) {
    if (!ctx || !buf) return NULL;
    if (buf->mapped) return buf->mapped;
    cl_int err = CL_SUCCESS;
    void *p = clEnqueueMapBuffer(ctx->queue, buf->mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                 buf->bytes ? (size_t)buf->bytes : 1, 0, NULL, NULL, &err);
    if (!p) {
        ef_ocl_fail(ctx, "clEnqueueMapBuffer", err);
        return NULL;
    }
    buf->mapped = p;
    return p;
}

int32_t ef_ocl_buffer_unmap(ef_be_ctx *ctx, ef_be_buffer *buf) {
    if (!ctx || !buf) return EF_ERR_INVALID_ARG;
    if (!buf->mapped) return EF_OK;
    cl_int err = clEnqueueUnmapMemObject(ctx->queue, buf->mem, buf->mapped, 0, NULL, NULL);
    buf->mapped = NULL;
    return err == CL_SUCCESS ? EF_OK : ef_ocl_fail(ctx, "clEnqueueUnmapMemObject", err);
}

int32_t ef_ocl_synchronize(ef_be_ctx *ctx) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    cl_int err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? EF_OK : ef_ocl_fail(ctx, "clFinish", err);
}

int32_t ef_ocl_scratch_reserve(ef_be_ctx *ctx, ef_ocl_scratch *s, size_t bytes) {
    if (s->mem && s->bytes >= bytes) return EF_OK;
    if (s->mem) {
        clFinish(ctx->queue); /* queued kernels may still read the old one */
        ef_ocl_scratch_release(s);
    }
    cl_int err = CL_SUCCESS;
    s->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes ? bytes : 1, NULL, &err);
    if (!s->mem) return ef_ocl_fail(ctx, "clCreateBuffer (scratch)", err);
    s->bytes = bytes;
    return EF_OK;
}

void ef_ocl_scratch_release(ef_ocl_scratch *s) {
    if (s->mem) clReleaseMemObject(s->mem);
    s->mem = NULL;
    s->bytes = 0;
}
