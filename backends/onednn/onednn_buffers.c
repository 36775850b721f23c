/*
 * onednn_buffers.c — buffers are host memory from host->alloc; map returns
 * the pointer. Each buffer also owns the converted weights read from it.
 */
#include <string.h>

#include "onednn_internal.h"

/* host->alloc gives no alignment promise beyond malloc's; oneDNN is happiest
 * with 64-byte rows, so buffers are over-allocated and aligned by hand. */
#define ONEDNN_BUF_ALIGN 64u

typedef struct buffer_block {
    ef_be_buffer buf;
    void *raw; /* what host->alloc returned */
} buffer_block;

int32_t onednn_buffer_alloc(ef_be_ctx *ctx, uint64_t bytes, uint32_t flags, ef_be_buffer **out)
{
    if (ctx == NULL || out == NULL)
        return ONEDNN_ERR_INVALID_ARG;
    *out = NULL;
    if (bytes > SIZE_MAX - ONEDNN_BUF_ALIGN - sizeof(buffer_block))
        return ONEDNN_ERR_NO_MEMORY;
    buffer_block *b = onednn_alloc(ctx, sizeof *b);
    if (b == NULL)
        return ONEDNN_ERR_NO_MEMORY;
    memset(b, 0, sizeof *b);
    b->raw = onednn_alloc(ctx, (size_t)bytes + ONEDNN_BUF_ALIGN);
    if (b->raw == NULL) {
        onednn_free(ctx, b);
        onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: cannot allocate a buffer of %llu bytes",
                   (unsigned long long)bytes);
        return ONEDNN_ERR_NO_MEMORY;
    }
    uintptr_t p = ((uintptr_t)b->raw + ONEDNN_BUF_ALIGN - 1) & ~(uintptr_t)(ONEDNN_BUF_ALIGN - 1);
    b->buf.data = (uint8_t *)p;
    b->buf.bytes = bytes;
    b->buf.flags = flags;
    *out = &b->buf;
    return ONEDNN_OK;
}

static void derived_free(ef_be_ctx *ctx, onednn_derived *d)
{
    onednn_free(ctx, d->f32);
    onednn_free(ctx, d->s8);
    onednn_free(ctx, d->scale);
    onednn_free(ctx, d->s8_lo);
    onednn_free(ctx, d->scale_hi);
    onednn_free(ctx, d);
}

void onednn_derived_invalidate(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, uint64_t bytes)
{
    onednn_derived **link = &buf->derived;
    while (*link != NULL) {
        onednn_derived *d = *link;
        int overlaps = d->offset < offset + bytes && offset < d->offset + d->src_bytes;
        if (overlaps) {
            *link = d->next;
            derived_free(ctx, d);
        } else {
            link = &d->next;
        }
    }
}

void onednn_buffer_free(ef_be_ctx *ctx, ef_be_buffer *buf)
{
    if (ctx == NULL || buf == NULL)
        return;
    onednn_derived_invalidate(ctx, buf, 0, UINT64_MAX / 2);
    buffer_block *b = (buffer_block *)buf; /* buf is the first member */
    onednn_free(ctx, b->raw);
    onednn_free(ctx, b);
}

static int range_ok(const ef_be_buffer *buf, uint64_t offset, uint64_t bytes)
{
    return offset <= buf->bytes && bytes <= buf->bytes - offset;
}

int32_t onednn_buffer_upload(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, const void *src, uint64_t bytes)
{
    if (ctx == NULL || buf == NULL || (src == NULL && bytes > 0) || !range_ok(buf, offset, bytes)) {
        if (ctx != NULL)
            onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: upload outside the buffer or without data");
        return ONEDNN_ERR_INVALID_ARG;
    }
    onednn_derived_invalidate(ctx, buf, offset, bytes);
    if (bytes > 0)
        memcpy(buf->data + offset, src, (size_t)bytes);
    return ONEDNN_OK;
}

int32_t onednn_buffer_download(ef_be_ctx *ctx, ef_be_buffer *buf, uint64_t offset, void *dst, uint64_t bytes)
{
    if (ctx == NULL || buf == NULL || (dst == NULL && bytes > 0) || !range_ok(buf, offset, bytes)) {
        if (ctx != NULL)
            onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: download outside the buffer or without a destination");
        return ONEDNN_ERR_INVALID_ARG;
    }
    if (bytes > 0)
        memcpy(dst, buf->data + offset, (size_t)bytes);
    return ONEDNN_OK;
}

void *onednn_buffer_map(ef_be_ctx *ctx, ef_be_buffer *buf)
{
    if (ctx == NULL || buf == NULL)
        return NULL;
    buf->mapped = 1;
    return buf->data;
}

int32_t onednn_buffer_unmap(ef_be_ctx *ctx, ef_be_buffer *buf)
{
    if (ctx == NULL || buf == NULL)
        return ONEDNN_ERR_INVALID_ARG;
    /* The host may have written weights through the map: converted copies
     * of a non-weight buffer are stale. Weight buffers are "written once"
     * (EF_BE_BUF_WEIGHTS): their copies stay, so mapping the weights to
     * read an embedding row does not force a re-conversion per token. */
    if (buf->mapped && !(buf->flags & EF_BE_BUF_WEIGHTS))
        onednn_derived_invalidate(ctx, buf, 0, UINT64_MAX / 2);
    buf->mapped = 0;
    return ONEDNN_OK;
}
