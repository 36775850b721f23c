/*
 * onednn_matmul.c — y[n][out] = x[n][in] · Wᵀ through cached oneDNN matmuls.
 *
 * F32 weights are read in place (W {in, out} row-major is a k x n matrix
 * with strides {1, k}); F16/BF16 weights through their F32 copy; Q8_0
 * weights through the int8 path: s8 per-channel copy x u8 activations with
 * a zero point, y[i][j] = x_step[i] * w_step[j] * Σ (xq - 128) * wq, in two
 * passes (wq = 2 hi + lo) where the CPU lacks VNNI.
 */
#include "onednn_internal.h"

static int tensor_fits(const ef_be_tensor *t, uint64_t bytes)
{
    return t->buf != NULL && t->offset <= t->buf->bytes && bytes <= t->buf->bytes - t->offset;
}

static int64_t rows_of(const ef_be_tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

static int32_t check_shapes(ef_be_ctx *ctx, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y)
{
    const int64_t in = w->ne[0], out = w->ne[1];
    int ok = in > 0 && out > 0 && w->ne[2] == 1 && w->ne[3] == 1 && x->type == EF_BE_TYPE_F32 &&
             y->type == EF_BE_TYPE_F32 && x->ne[0] == in && y->ne[0] == out && rows_of(x) == rows_of(y) &&
             rows_of(x) >= 0 && tensor_fits(x, (uint64_t)in * (uint64_t)rows_of(x) * 4u) &&
             tensor_fits(y, (uint64_t)out * (uint64_t)rows_of(y) * 4u) && w->buf != NULL;
    if (!ok) {
        onednn_log(&ctx->host, EF_BE_LOG_ERROR,
                   "onednn: matmul shapes do not match: w {%lld, %lld} x {%lld, %lld} y {%lld, %lld}",
                   (long long)w->ne[0], (long long)w->ne[1], (long long)x->ne[0], (long long)rows_of(x),
                   (long long)y->ne[0], (long long)rows_of(y));
        return ONEDNN_ERR_INVALID_ARG;
    }
    return ONEDNN_OK;
}

static int32_t run(ef_be_ctx *ctx, onednn_prim *p, void *src, void *wei, void *dst, float *scales)
{
    dnnl_status_t st;
    if ((st = dnnl_memory_set_data_handle(p->src, src)) || (st = dnnl_memory_set_data_handle(p->wei, wei)) ||
        (st = dnnl_memory_set_data_handle(p->dst, dst)))
        goto fail;
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, p->src},
        {DNNL_ARG_WEIGHTS, p->wei},
        {DNNL_ARG_DST, p->dst},
    };
    int n_args = 3;
    if (p->kind != ONEDNN_KIND_F32) {
        if ((st = dnnl_memory_set_data_handle(p->scales, scales)))
            goto fail;
        args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_OUTPUT_SCALES, p->scales};
    }
    onednn_apply_threads(ctx->n_threads);
    if ((st = dnnl_primitive_execute(p->prim, ctx->stream, n_args, args)) || (st = dnnl_stream_wait(ctx->stream)))
        goto fail;
    return ONEDNN_OK;
fail:
    onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: matmul %lldx%lldx%lld failed (dnnl status %d)", (long long)p->m,
               (long long)p->k, (long long)p->n, (int)st);
    return ONEDNN_ERR_BACKEND;
}

static int32_t matmul_int8(ef_be_ctx *ctx, const ef_be_tensor *w, float *x, float *y, int64_t m)
{
    const int64_t k = w->ne[0], n = w->ne[1];
    const onednn_derived *d;
    onednn_prim *p;
    int32_t st;
    if ((st = onednn_derived_get(ctx, w, ONEDNN_KIND_INT8, &d)) ||
        (st = onednn_prim_get(ctx, m, k, n, ONEDNN_KIND_INT8, &p)) ||
        (st = onednn_reserve(ctx, (void **)&ctx->xq, &ctx->xq_cap, (size_t)(m * k))) ||
        (st = onednn_reserve(ctx, (void **)&ctx->row_step, &ctx->row_step_cap, (size_t)m * sizeof(float))))
        return st;
    onednn_quantize_u8_rows(x, m, k, ctx->xq, ctx->row_step); /* xq [m][k], row_step [m] */
    /* the weights' steps are oneDNN's output scales, the rows' steps are applied here */
    if (d->s8_lo == NULL) {
        if ((st = run(ctx, p, ctx->xq, d->s8, y, d->scale)))
            return st;
    } else {
        /* split: y = 2 s (x · hi), then y += s (x · lo) */
        onednn_prim *acc;
        if ((st = run(ctx, p, ctx->xq, d->s8, y, d->scale_hi)) ||
            (st = onednn_prim_get(ctx, m, k, n, ONEDNN_KIND_INT8_ACC, &acc)) ||
            (st = run(ctx, acc, ctx->xq, d->s8_lo, y, d->scale)))
            return st;
    }
    for (int64_t i = 0; i < m; i++) {
        float *yr = y + i * n; /* [n] */
        for (int64_t j = 0; j < n; j++)
            yr[j] *= ctx->row_step[i];
    }
    return ONEDNN_OK;
}

int32_t onednn_matmul(ef_be_ctx *ctx, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y)
{
    if (ctx == NULL || w == NULL || x == NULL || y == NULL)
        return ONEDNN_ERR_INVALID_ARG;
    int32_t st = check_shapes(ctx, w, x, y);
    if (st != ONEDNN_OK)
        return st;
    const int64_t k = w->ne[0], n = w->ne[1], m = rows_of(x);
    if (m == 0)
        return ONEDNN_OK;
    float *xp = (float *)(x->buf->data + x->offset); /* [m][k] */
    float *yp = (float *)(y->buf->data + y->offset); /* [m][n] */
    onednn_prim *p;
    switch (w->type) {
    case EF_BE_TYPE_F32: {
        if (!tensor_fits(w, (uint64_t)k * (uint64_t)n * 4u)) {
            onednn_log(&ctx->host, EF_BE_LOG_ERROR,
                       "onednn: F32 weight {%lld, %lld} at offset %llu does not fit its buffer of %llu bytes",
                       (long long)k, (long long)n, (unsigned long long)w->offset,
                       (unsigned long long)w->buf->bytes);
            return ONEDNN_ERR_INVALID_ARG;
        }
        if ((st = onednn_prim_get(ctx, m, k, n, ONEDNN_KIND_F32, &p)))
            return st;
        return run(ctx, p, xp, w->buf->data + w->offset, yp, NULL);
    }
    case EF_BE_TYPE_F16:
    case EF_BE_TYPE_BF16: {
        if (!ctx->f16_enabled)
            break;
        const onednn_derived *d;
        if ((st = onednn_derived_get(ctx, w, ONEDNN_KIND_F32, &d)) ||
            (st = onednn_prim_get(ctx, m, k, n, ONEDNN_KIND_F32, &p)))
            return st;
        return run(ctx, p, xp, d->f32, yp, NULL);
    }
    case EF_BE_TYPE_Q8_0:
        if (ctx->int8 == ONEDNN_INT8_OFF)
            break;
        return matmul_int8(ctx, w, xp, yp, m);
    default: break;
    }
    onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: matmul with weight type %u is not supported", w->type);
    return ONEDNN_ERR_UNSUPPORTED;
}
