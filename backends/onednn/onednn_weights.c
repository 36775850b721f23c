/*
 * onednn_weights.c — weights converted once into what oneDNN 2.6 computes
 * with: F16/BF16 -> F32 (it has no f16/bf16 matmul on AVX2), and Q8_0 ->
 * per-output-channel s8 (it takes one scale per output channel, not per
 * 32-element block). The copies hang off the buffer they were read from.
 *
 * Without VNNI, oneDNN sums pairs of u8 x s8 products in saturating 16-bit
 * arithmetic, so |s8| must stay <= 63. The split scheme keeps 8-bit weights
 * anyway: q = 2 hi + lo, two GEMMs, the second added to the first.
 */
#include <math.h>
#include <string.h>

#include "onednn_internal.h"

float onednn_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13); /* rebias 15 -> 127 */
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* subnormal half: mant * 2^-24, exact in f32 */
        float f = (float)mant * 0x1p-24f;
        memcpy(&bits, &f, sizeof bits);
        bits |= sign;
    }
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

float onednn_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

void onednn_requant_q8_0_rows(const ef_be_block_q8_0 *src, int64_t in, int64_t out, int32_t qmax, int8_t *q,
                              float *scale)
{
    const int64_t n_blocks = in / EF_BE_QK;
    for (int64_t r = 0; r < out; r++) {
        const ef_be_block_q8_0 *row = src + r * n_blocks; /* [n_blocks] */
        int8_t *qrow = q + r * in;                        /* [in] */
        /* the row's largest |weight| sets the per-channel step */
        float amax = 0.0f;
        for (int64_t b = 0; b < n_blocks; b++) {
            float d = fabsf(onednn_f16_to_f32(row[b].d));
            int32_t m = 0;
            for (int i = 0; i < EF_BE_QK; i++) {
                int32_t a = row[b].qs[i] < 0 ? -row[b].qs[i] : row[b].qs[i];
                m = a > m ? a : m;
            }
            amax = fmaxf(amax, d * (float)m);
        }
        float step = amax / (float)qmax;
        scale[r] = step;
        float inv = step > 0.0f ? 1.0f / step : 0.0f;
        for (int64_t b = 0; b < n_blocks; b++) {
            float d = onednn_f16_to_f32(row[b].d) * inv;
            for (int i = 0; i < EF_BE_QK; i++) {
                long v = lrintf(d * (float)row[b].qs[i]);
                v = v > qmax ? qmax : v < -qmax ? -qmax : v;
                qrow[b * EF_BE_QK + i] = (int8_t)v;
            }
        }
    }
}

void onednn_split_s8(int8_t *q, int8_t *lo, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = q[i] / 2; /* C division truncates toward zero: |hi| <= 63 */
        lo[i] = (int8_t)(q[i] - 2 * hi);
        q[i] = (int8_t)hi;
    }
}

static uint64_t source_bytes(uint32_t type, int64_t in, int64_t out)
{
    switch (type) {
    case EF_BE_TYPE_F32: return (uint64_t)in * (uint64_t)out * 4u;
    case EF_BE_TYPE_F16:
    case EF_BE_TYPE_BF16: return (uint64_t)in * (uint64_t)out * 2u;
    case EF_BE_TYPE_Q8_0: return (uint64_t)(in / EF_BE_QK) * (uint64_t)out * sizeof(ef_be_block_q8_0);
    default: return 0;
    }
}

static int32_t build_f32(ef_be_ctx *ctx, const uint16_t *src, uint32_t type, onednn_derived *d)
{
    size_t n = (size_t)d->in * (size_t)d->out;
    d->f32 = onednn_alloc(ctx, n * sizeof(float)); /* [out][in] */
    if (d->f32 == NULL)
        return ONEDNN_ERR_NO_MEMORY;
    if (type == EF_BE_TYPE_F16) {
        for (size_t i = 0; i < n; i++)
            d->f32[i] = onednn_f16_to_f32(src[i]);
    } else {
        for (size_t i = 0; i < n; i++)
            d->f32[i] = onednn_bf16_to_f32(src[i]);
    }
    return ONEDNN_OK;
}

static int32_t build_int8(ef_be_ctx *ctx, const ef_be_block_q8_0 *src, onednn_derived *d)
{
    const size_t n = (size_t)d->in * (size_t)d->out;
    const int split = ctx->int8 == ONEDNN_INT8_SPLIT;
    d->s8 = onednn_alloc(ctx, n);                                 /* [out][in] */
    d->scale = onednn_alloc(ctx, (size_t)d->out * sizeof(float)); /* [out] */
    if (d->s8 == NULL || d->scale == NULL)
        return ONEDNN_ERR_NO_MEMORY;
    if (split) {
        d->s8_lo = onednn_alloc(ctx, n);                                 /* [out][in] */
        d->scale_hi = onednn_alloc(ctx, (size_t)d->out * sizeof(float)); /* [out] */
        if (d->s8_lo == NULL || d->scale_hi == NULL)
            return ONEDNN_ERR_NO_MEMORY;
    }
    onednn_requant_q8_0_rows(src, d->in, d->out, ctx->int8 == ONEDNN_INT8_7BIT ? 63 : 127, d->s8, d->scale);
    if (split) {
        onednn_split_s8(d->s8, d->s8_lo, n);
        for (int64_t j = 0; j < d->out; j++)
            d->scale_hi[j] = 2.0f * d->scale[j];
    }
    return ONEDNN_OK;
}

int32_t onednn_derived_get(ef_be_ctx *ctx, const ef_be_tensor *w, onednn_kind kind, const onednn_derived **out)
{
    ef_be_buffer *buf = w->buf;
    const int64_t in = w->ne[0], out_dim = w->ne[1];
    for (onednn_derived *d = buf->derived; d != NULL; d = d->next) {
        if (d->offset == w->offset && d->src_type == w->type && d->in == in && d->out == out_dim && d->kind == kind) {
            *out = d;
            return ONEDNN_OK;
        }
    }
    uint64_t src_bytes = source_bytes(w->type, in, out_dim);
    if (src_bytes == 0 || w->offset > buf->bytes || src_bytes > buf->bytes - w->offset ||
        (w->type == EF_BE_TYPE_Q8_0 && in % EF_BE_QK != 0)) {
        onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: weight {%lld, %lld} of type %u does not fit its buffer",
                   (long long)in, (long long)out_dim, w->type);
        return ONEDNN_ERR_INVALID_ARG;
    }
    onednn_derived *d = onednn_alloc(ctx, sizeof *d);
    if (d == NULL)
        return ONEDNN_ERR_NO_MEMORY;
    memset(d, 0, sizeof *d);
    d->offset = w->offset;
    d->src_bytes = src_bytes;
    d->src_type = w->type;
    d->in = in;
    d->out = out_dim;
    d->kind = kind;
    const void *src = buf->data + w->offset;
    int32_t st = kind == ONEDNN_KIND_INT8 ? build_int8(ctx, src, d) : build_f32(ctx, src, w->type, d);
    if (st != ONEDNN_OK) {
        onednn_free(ctx, d->f32);
        onednn_free(ctx, d->s8);
        onednn_free(ctx, d->scale);
        onednn_free(ctx, d->s8_lo);
        onednn_free(ctx, d->scale_hi);
        onednn_free(ctx, d);
        onednn_log(&ctx->host, EF_BE_LOG_ERROR, "onednn: out of memory converting a {%lld, %lld} weight",
                   (long long)in, (long long)out_dim);
        return st;
    }
    d->next = buf->derived;
    buf->derived = d;
    ctx->n_derived_built++;
    *out = d;
    return ONEDNN_OK;
}
