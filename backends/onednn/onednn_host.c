/* onednn_host.c — logging and memory through the host's services. */
#include <stdarg.h>
#include <stdio.h>

#include "onednn_internal.h"

void onednn_log(const ef_be_host *host, int32_t level, const char *fmt, ...)
{
    if (host == NULL || host->log == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    host->log(host->user, level, line);
}

void *onednn_alloc(const ef_be_ctx *ctx, size_t bytes)
{
    return ctx->host.alloc(ctx->host.user, bytes == 0 ? 1 : bytes);
}

void onednn_free(const ef_be_ctx *ctx, void *ptr)
{
    if (ptr != NULL)
        ctx->host.free(ctx->host.user, ptr);
}

int32_t onednn_reserve(const ef_be_ctx *ctx, void **buf, size_t *cap, size_t bytes)
{
    if (bytes <= *cap)
        return ONEDNN_OK;
    /* grow geometrically: the token count per call changes often */
    size_t want = *cap * 2 > bytes ? *cap * 2 : bytes;
    void *p = onednn_alloc(ctx, want);
    if (p == NULL) {
        onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: cannot allocate %zu bytes of scratch", want);
        return ONEDNN_ERR_NO_MEMORY;
    }
    onednn_free(ctx, *buf);
    *buf = p;
    *cap = want;
    return ONEDNN_OK;
}
