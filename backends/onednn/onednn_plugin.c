/*
 * onednn_plugin.c — the entry point of libedgeformer-onednn: probe, context
 * life cycle, options, threads and the op table.
 *
 * Only MATMUL runs here (F32, Q8_0 through int8, F16/BF16 converted to F32);
 * the buffers are host memory, so the host runs every other op with its own
 * CPU kernels on the mapped pointers.
 */
#include <stdio.h>
#include <string.h>

#include "onednn_internal.h"

#define ONEDNN_SCORE 50 /* below the cpu backend's 100: only matmul runs here */

static void write_err(char *err, size_t cap, const char *msg)
{
    if (err != NULL && cap > 0)
        snprintf(err, cap, "%s", msg);
}


static int32_t onednn_probe(const ef_be_host *host, ef_be_probe *out)
{
    (void)host;
    if (out == NULL)
        return ONEDNN_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    dnnl_engine_t engine = NULL;
    dnnl_status_t st = dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (st != dnnl_success) {
        snprintf(out->reason, sizeof out->reason, "oneDNN cannot create a CPU engine (status %d)", (int)st);
        return ONEDNN_OK;
    }
    dnnl_engine_destroy(engine);
    const dnnl_version_t *v = dnnl_version();
    out->available = 1;
    out->score = ONEDNN_SCORE;
    out->memory = onednn_host_ram_bytes();
    out->caps = EF_BE_CAP_HOST_MEMORY;
    snprintf(out->device, sizeof out->device, "CPU %s (oneDNN %d.%d.%d, int8 %s)", onednn_isa_name(), v->major,
             v->minor, v->patch, onednn_isa_has_vnni() ? "VNNI" : "without VNNI: split weights");
    return ONEDNN_OK;
}

/* Reads one option; returns 0 or ONEDNN_ERR_INVALID_ARG with err filled. */
static int32_t apply_option(ef_be_ctx *ctx, const ef_be_option *opt, char *err, size_t err_cap)
{
    char msg[EF_BE_REASON_MAX];
    if (opt->key == NULL || opt->value == NULL) {
        write_err(err, err_cap, "onednn: option with a NULL key or value");
        return ONEDNN_ERR_INVALID_ARG;
    }
    if (strcmp(opt->key, "onednn.int8") == 0) {
        if (strcmp(opt->value, "auto") == 0)
            ctx->int8 = onednn_isa_has_vnni() ? ONEDNN_INT8_FULL : ONEDNN_INT8_SPLIT;
        else if (strcmp(opt->value, "split") == 0)
            ctx->int8 = ONEDNN_INT8_SPLIT; /* the no-VNNI scheme, on any CPU */
        else if (strcmp(opt->value, "7bit") == 0)
            ctx->int8 = ONEDNN_INT8_7BIT;
        else if (strcmp(opt->value, "off") == 0)
            ctx->int8 = ONEDNN_INT8_OFF;
        else
            goto bad_value;
        return ONEDNN_OK;
    }
    if (strcmp(opt->key, "onednn.f16") == 0) {
        if (strcmp(opt->value, "f32") == 0)
            ctx->f16_enabled = 1;
        else if (strcmp(opt->value, "off") == 0)
            ctx->f16_enabled = 0;
        else
            goto bad_value;
        return ONEDNN_OK;
    }
    snprintf(msg, sizeof msg, "onednn: unknown option '%s' (known: onednn.int8, onednn.f16)", opt->key);
    write_err(err, err_cap, msg);
    return ONEDNN_ERR_INVALID_ARG;
bad_value:
    snprintf(msg, sizeof msg, "onednn: bad value '%s' for %s (onednn.int8: auto|split|7bit|off, onednn.f16: f32|off)",
             opt->value, opt->key);
    write_err(err, err_cap, msg);
    return ONEDNN_ERR_INVALID_ARG;
}

static void onednn_shutdown(ef_be_ctx *ctx)
{
    if (ctx == NULL)
        return;
    onednn_prim_cache_clear(ctx);
    if (ctx->stream != NULL)
        dnnl_stream_destroy(ctx->stream);
    if (ctx->engine != NULL)
        dnnl_engine_destroy(ctx->engine);
    onednn_free(ctx, ctx->xq);
    onednn_free(ctx, ctx->row_step);
    ef_be_host host = ctx->host;
    host.free(host.user, ctx);
}

static int32_t onednn_init(const ef_be_host *host, const ef_be_option *opts, int32_t n_opts, ef_be_ctx **out,
                           char *err, size_t err_cap)
{
    if (out == NULL || host == NULL || host->alloc == NULL || host->free == NULL || n_opts < 0 ||
        (n_opts > 0 && opts == NULL)) {
        write_err(err, err_cap, "onednn: init needs a host with alloc/free and an out pointer");
        return ONEDNN_ERR_INVALID_ARG;
    }
    *out = NULL;
    ef_be_ctx *ctx = host->alloc(host->user, sizeof *ctx);
    if (ctx == NULL) {
        write_err(err, err_cap, "onednn: out of memory");
        return ONEDNN_ERR_NO_MEMORY;
    }
    memset(ctx, 0, sizeof *ctx);
    /* the host may be an older, smaller struct: copy what it has */
    size_t host_size = host->size < sizeof ctx->host ? host->size : sizeof ctx->host;
    memcpy(&ctx->host, host, host_size);
    ctx->f16_enabled = 1;
    /* without VNNI, u8 x s8 pairs are summed in saturating 16-bit: 2 * 255 * 63 fits, 2 * 255 * 127 does not */
    ctx->int8 = onednn_isa_has_vnni() ? ONEDNN_INT8_FULL : ONEDNN_INT8_SPLIT;
    for (int32_t i = 0; i < n_opts; i++) {
        int32_t st = apply_option(ctx, &opts[i], err, err_cap);
        if (st != ONEDNN_OK) {
            onednn_log(&ctx->host, EF_BE_LOG_ERROR, "%s", err != NULL && err_cap > 0 ? err : "onednn: bad option");
            onednn_shutdown(ctx);
            return st;
        }
    }
    if (dnnl_engine_create(&ctx->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags) != dnnl_success) {
        write_err(err, err_cap, "onednn: cannot create a CPU engine and stream");
        onednn_shutdown(ctx);
        return ONEDNN_ERR_UNAVAILABLE;
    }
    static const char *const scheme_names[] = {"off", "full-range s8", "split s8 (2 passes)", "7-bit s8"};
    onednn_log(&ctx->host, EF_BE_LOG_INFO, "onednn: ISA %s, Q8_0 as %s, F16/BF16 %s", onednn_isa_name(),
               scheme_names[ctx->int8], ctx->f16_enabled ? "as F32" : "off");
    *out = ctx;
    return ONEDNN_OK;
}

static int32_t onednn_set_threads(ef_be_ctx *ctx, int32_t n_threads)
{
    if (ctx == NULL || n_threads < 0)
        return ONEDNN_ERR_INVALID_ARG;
    ctx->n_threads = n_threads;
    return ONEDNN_OK;
}

static int32_t onednn_synchronize(ef_be_ctx *ctx)
{
    if (ctx == NULL)
        return ONEDNN_ERR_INVALID_ARG;
    /* matmul waits on its stream before returning: nothing is in flight */
    return ONEDNN_OK;
}

static int32_t onednn_supports(ef_be_ctx *ctx, uint32_t op, uint32_t type)
{
    if (ctx == NULL || op != EF_BE_OP_MATMUL)
        return 0;
    switch (type) {
    case EF_BE_TYPE_F32: return 1;
    case EF_BE_TYPE_Q8_0: return ctx->int8 != ONEDNN_INT8_OFF;
    case EF_BE_TYPE_F16:
    case EF_BE_TYPE_BF16: return ctx->f16_enabled;
    default: return 0;
    }
}

/* ---- ops the host runs itself (supports() says 0 for them) ---- */

static int32_t unsupported_op(ef_be_ctx *ctx, const char *op)
{
    if (ctx != NULL)
        onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: %s is not implemented by this backend", op);
    return ONEDNN_ERR_UNSUPPORTED;
}

static int32_t op_get_rows(ef_be_ctx *ctx, const ef_be_tensor *w, const int32_t *ids, int32_t n,
                           const ef_be_tensor *y)
{
    (void)w, (void)ids, (void)n, (void)y;
    return unsupported_op(ctx, "get_rows");
}

static int32_t op_rmsnorm(ef_be_ctx *ctx, const ef_be_tensor *x, const ef_be_tensor *w, float eps,
                          const ef_be_tensor *y)
{
    (void)x, (void)w, (void)eps, (void)y;
    return unsupported_op(ctx, "rmsnorm");
}

static int32_t op_rope(ef_be_ctx *ctx, const ef_be_tensor *x, int32_t pos0, const ef_be_rope *p)
{
    (void)x, (void)pos0, (void)p;
    return unsupported_op(ctx, "rope");
}

static int32_t op_swiglu(ef_be_ctx *ctx, const ef_be_tensor *gate, const ef_be_tensor *up, const ef_be_tensor *out)
{
    (void)gate, (void)up, (void)out;
    return unsupported_op(ctx, "swiglu");
}

static int32_t op_add(ef_be_ctx *ctx, const ef_be_tensor *y, const ef_be_tensor *x)
{
    (void)y, (void)x;
    return unsupported_op(ctx, "add");
}

static int32_t op_scale(ef_be_ctx *ctx, const ef_be_tensor *y, float s)
{
    (void)y, (void)s;
    return unsupported_op(ctx, "scale");
}

static int32_t op_softmax(ef_be_ctx *ctx, const ef_be_tensor *x)
{
    (void)x;
    return unsupported_op(ctx, "softmax");
}

static int32_t op_convert(ef_be_ctx *ctx, const ef_be_tensor *src, const ef_be_tensor *dst)
{
    (void)src, (void)dst;
    return unsupported_op(ctx, "convert");
}

static int32_t op_flash_attn(ef_be_ctx *ctx, const ef_be_attn *a, const ef_be_tensor *q, const ef_be_tensor *k,
                             const ef_be_tensor *v, const ef_be_tensor *out)
{
    (void)a, (void)q, (void)k, (void)v, (void)out;
    return unsupported_op(ctx, "flash_attn");
}

EF_BACKEND_EXPORT int32_t ef_backend_plugin_entry(const ef_be_host *host, ef_be_iface *iface, size_t iface_size);

EF_BACKEND_EXPORT int32_t ef_backend_plugin_entry(const ef_be_host *host, ef_be_iface *iface, size_t iface_size)
{
    (void)host;
    if (iface == NULL || iface_size < sizeof *iface)
        return ONEDNN_ERR_INVALID_ARG; /* an older host's table: it would refuse v1 anyway */
    ef_be_iface t;
    memset(&t, 0, sizeof t);
    t.abi_version = EF_BACKEND_ABI_VERSION;
    t.size = (uint32_t)sizeof t;
    t.name = "onednn";
    t.probe = onednn_probe;
    t.init = onednn_init;
    t.shutdown = onednn_shutdown;
    t.set_threads = onednn_set_threads;
    t.buffer_alloc = onednn_buffer_alloc;
    t.buffer_free = onednn_buffer_free;
    t.buffer_upload = onednn_buffer_upload;
    t.buffer_download = onednn_buffer_download;
    t.buffer_map = onednn_buffer_map;
    t.buffer_unmap = onednn_buffer_unmap;
    t.synchronize = onednn_synchronize;
    t.supports = onednn_supports;
    t.matmul = onednn_matmul;
    t.get_rows = op_get_rows;
    t.rmsnorm = op_rmsnorm;
    t.rope = op_rope;
    t.swiglu = op_swiglu;
    t.add = op_add;
    t.scale = op_scale;
    t.softmax = op_softmax;
    t.convert = op_convert;
    t.flash_attn = op_flash_attn;
    memcpy(iface, &t, sizeof t);
    return ONEDNN_OK;
}
