/* Forward/backward pairs of RoPE (NORM mode, as the engine; whole heads or
 * MLA's decoupled part) and causal grouped-query attention with an optional
 * sliding window and sinks (a mask). */
#include <math.h>

#include "train/train.h"

void ef_tr_rope_table(float *cos_sin, int32_t T, int32_t hd, float base) {
    const int32_t half = hd / 2;
    for (int32_t t = 0; t < T; t++)
        for (int32_t i = 0; i < half; i++) {
            /* angles in double, as the engine's kernel computes them */
            double theta = (double)t * pow((double)base, -2.0 * i / hd);
            cos_sin[((int64_t)t * half + i) * 2] = (float)cos(theta);
            cos_sin[((int64_t)t * half + i) * 2 + 1] = (float)sin(theta);
        }
}

/* Rotates dims off..off+n_rot of each head, adjacent pairs, by +θ (sign 1)
 * or −θ (sign −1). */
static void rope_apply(float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                       int32_t stride, int32_t off, int32_t n_rot, float sign) {
    const int32_t half = n_rot / 2;
    for (int32_t b = 0; b < B; b++)
        for (int32_t t = 0; t < T; t++) {
            const float *cs = cos_sin + (int64_t)t * half * 2; /* [half, 2] */
            for (int32_t h = 0; h < n_heads; h++) {
                float *v = x + (((int64_t)b * T + t) * n_heads + h) * stride + off; /* [n_rot] */
                for (int32_t i = 0; i < half; i++) {
                    const float c = cs[2 * i], s = sign * cs[2 * i + 1];
                    const float x0 = v[2 * i], x1 = v[2 * i + 1];
                    v[2 * i] = x0 * c - x1 * s;
                    v[2 * i + 1] = x0 * s + x1 * c;
                }
            }
        }
}

void ef_tr_rope_fwd(float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd) {
    rope_apply(x, cos_sin, B, T, n_heads, hd, 0, hd, 1.0f);
}

/* A rotation's Jacobian is the rotation itself, its transpose the inverse. */
void ef_tr_rope_bwd(float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd) {
    rope_apply(dx, cos_sin, B, T, n_heads, hd, 0, hd, -1.0f);
}

void ef_tr_rope_part_fwd(float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                         int32_t stride, int32_t off, int32_t n_rot) {
    rope_apply(x, cos_sin, B, T, n_heads, stride, off, n_rot, 1.0f);
}

void ef_tr_rope_part_bwd(float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                         int32_t stride, int32_t off, int32_t n_rot) {
    rope_apply(dx, cos_sin, B, T, n_heads, stride, off, n_rot, -1.0f);
}

typedef struct {
    float *ctx, *att, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dctx, *att_c;
    ef_tr_attn_dims d;
} attn_job;

/* The first visible position after the sinks for query t (the window's
 * start), so that t sees s < sinks and first ≤ s ≤ t. */
static int32_t window_first(const ef_tr_attn_dims *d, int32_t t) {
    if (d->window <= 0 || t - d->window + 1 <= 0) return 0;
    return t - d->window + 1;
}
static int visible(const ef_tr_attn_dims *d, int32_t first, int32_t s) {
    return s >= first || s < d->sinks;
}

/* a·b over n floats in 8 interleaved partial sums, combined pairwise at the
 * end: a fixed order the compiler can keep in vector registers (a plain
 * running sum is a serial chain it may not reorder). */
static inline float dot8(const float *a, const float *b, int32_t n) {
    float acc[8] = {0};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++) acc[i & 7] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Work items are (b, kv head): the query heads of one group run in order
 * inside one worker, so the group's dk/dv have a single writer. */
static void attn_fwd_worker(void *vctx, int32_t ith, int32_t nth) {
    const attn_job *j = vctx;
    const ef_tr_attn_dims *d = &j->d;
    const int32_t T = d->T, H = d->H, KV = d->KV, dk = d->dk, dv = d->dv, group = H / KV;
    int64_t begin, end;
    ef_split_range((int64_t)d->B * KV, ith, nth, &begin, &end);
    for (int64_t item = begin; item < end; item++) {
        const int32_t b = (int32_t)(item / KV), kvh = (int32_t)(item % KV);
        for (int32_t h = kvh * group; h < (kvh + 1) * group; h++)
            for (int32_t t = 0; t < T; t++) {
                const float *qt = j->q + (((int64_t)b * T + t) * H + h) * dk; /* [dk] */
                float *p = j->att + (((int64_t)b * H + h) * T + t) * T;       /* [T] */
                const int32_t first = window_first(d, t);
                float mx = -INFINITY;
                for (int32_t s = 0; s <= t; s++) {
                    if (!visible(d, first, s)) {
                        p[s] = 0.0f;
                        continue;
                    }
                    const float *ks = j->k + (((int64_t)b * T + s) * KV + kvh) * dk; /* [dk] */
                    p[s] = dot8(qt, ks, dk) * d->scale;
                    if (p[s] > mx) mx = p[s];
                }
                float sum = 0.0f;
                for (int32_t s = 0; s <= t; s++)
                    if (visible(d, first, s)) {
                        p[s] = expf(p[s] - mx);
                        sum += p[s];
                    }
                const float inv = 1.0f / sum;
                for (int32_t s = 0; s <= t; s++) p[s] *= inv;
                for (int32_t s = t + 1; s < T; s++) p[s] = 0.0f;
                float *ct = j->ctx + (((int64_t)b * T + t) * H + h) * dv; /* [dv] */
                for (int32_t i = 0; i < dv; i++) ct[i] = 0.0f;
                for (int32_t s = 0; s <= t; s++) {
                    if (!visible(d, first, s)) continue;
                    const float *vs = j->v + (((int64_t)b * T + s) * KV + kvh) * dv; /* [dv] */
                    for (int32_t i = 0; i < dv; i++) ct[i] += p[s] * vs[i];
                }
            }
    }
}

void ef_tr_attention_fwd(ef_pool *pool, float *ctx, float *att, const float *q, const float *k,
                         const float *v, const ef_tr_attn_dims *d) {
    attn_job j = {.ctx = ctx, .att = att, .q = q, .k = k, .v = v, .d = *d};
    ef_pool_run(pool, attn_fwd_worker, &j);
}

/* ctx_t = Σ_s p_ts v_s, p = softmax(scale·q·k) over the visible s:
 * dv_s += p_ts·dctx_t; dp_ts = dctx_t·v_s; ds_ts = p_ts(dp_ts − Σ_u p_tu dp_tu);
 * dq_t += scale Σ_s ds_ts k_s; dk_s += scale ds_ts q_t. Masked s have
 * p_ts = 0 and so contribute nothing. */
static void attn_bwd_worker(void *vctx, int32_t ith, int32_t nth) {
    const attn_job *j = vctx;
    const ef_tr_attn_dims *d = &j->d;
    const int32_t T = d->T, H = d->H, KV = d->KV, dk = d->dk, dv = d->dv, group = H / KV;
    float *dp = j->scratch + (int64_t)ith * T; /* [T] */
    int64_t begin, end;
    ef_split_range((int64_t)d->B * KV, ith, nth, &begin, &end);
    for (int64_t item = begin; item < end; item++) {
        const int32_t b = (int32_t)(item / KV), kvh = (int32_t)(item % KV);
        for (int32_t h = kvh * group; h < (kvh + 1) * group; h++)
            for (int32_t t = 0; t < T; t++) {
                const int64_t bt = ((int64_t)b * T + t) * H + h;
                const float *qt = j->q + bt * dk;     /* [dk] */
                const float *dct = j->dctx + bt * dv; /* [dv] */
                float *dqt = j->dq + bt * dk;         /* [dk] */
                const float *p = j->att_c + (((int64_t)b * H + h) * T + t) * T; /* [T] */
                const int32_t first = window_first(d, t);
                float pdp = 0.0f;
                for (int32_t s = 0; s <= t; s++) {
                    if (!visible(d, first, s)) continue;
                    const int64_t si = ((int64_t)b * T + s) * KV + kvh;
                    const float *vs = j->v + si * dv; /* [dv] */
                    float *dvs = j->dv + si * dv;     /* [dv] */
                    const float dot = dot8(dct, vs, dv);
                    for (int32_t i = 0; i < dv; i++) dvs[i] += p[s] * dct[i];
                    dp[s] = dot;
                    pdp += p[s] * dot;
                }
                for (int32_t s = 0; s <= t; s++) {
                    if (!visible(d, first, s)) continue;
                    const float ds = p[s] * (dp[s] - pdp) * d->scale;
                    const int64_t si = ((int64_t)b * T + s) * KV + kvh;
                    const float *ks = j->k + si * dk; /* [dk] */
                    float *dks = j->dk + si * dk;     /* [dk] */
                    for (int32_t i = 0; i < dk; i++) {
                        dqt[i] += ds * ks[i];
                        dks[i] += ds * qt[i];
                    }
                }
            }
    }
}

void ef_tr_attention_bwd(ef_pool *pool, float *dq, float *dk, float *dv, const float *dctx,
                         const float *att, const float *q, const float *k, const float *v,
                         const ef_tr_attn_dims *d, float *scratch) {
    attn_job j = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k, .v = v,
                  .dctx = dctx, .att_c = att, .d = *d};
    ef_pool_run(pool, attn_bwd_worker, &j);
}
