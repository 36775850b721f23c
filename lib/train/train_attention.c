/* Forward/backward pairs of RoPE (NORM mode, as the engine) and causal
 * grouped-query attention. */
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

/* Rotates each adjacent pair by +θ (sign 1) or −θ (sign −1). */
static void rope_apply(float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                       int32_t hd, float sign) {
    const int32_t half = hd / 2;
    for (int32_t b = 0; b < B; b++)
        for (int32_t t = 0; t < T; t++) {
            const float *cs = cos_sin + (int64_t)t * half * 2; /* [half, 2] */
            for (int32_t h = 0; h < n_heads; h++) {
                float *v = x + (((int64_t)b * T + t) * n_heads + h) * hd; /* [hd] */
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
    rope_apply(x, cos_sin, B, T, n_heads, hd, 1.0f);
}

/* A rotation's Jacobian is the rotation itself, its transpose the inverse. */
void ef_tr_rope_bwd(float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd) {
    rope_apply(dx, cos_sin, B, T, n_heads, hd, -1.0f);
}

typedef struct {
    float *ctx, *att, *dq, *dk, *dv, *scratch;
    const float *q, *k, *v, *dctx, *att_c;
    int32_t B, T, H, KV, hd;
} attn_job;

/* Work items are (b, kv head): the query heads of one group run in order
 * inside one worker, so the group's dk/dv have a single writer. */
static void attn_fwd_worker(void *vctx, int32_t ith, int32_t nth) {
    const attn_job *j = vctx;
    const int32_t T = j->T, H = j->H, KV = j->KV, hd = j->hd, group = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    int64_t begin, end;
    ef_split_range((int64_t)j->B * KV, ith, nth, &begin, &end);
    for (int64_t item = begin; item < end; item++) {
        const int32_t b = (int32_t)(item / KV), kvh = (int32_t)(item % KV);
        for (int32_t h = kvh * group; h < (kvh + 1) * group; h++)
            for (int32_t t = 0; t < T; t++) {
                const float *qt = j->q + (((int64_t)b * T + t) * H + h) * hd; /* [hd] */
                float *p = j->att + (((int64_t)b * H + h) * T + t) * T;       /* [T] */
                float mx = -INFINITY;
                for (int32_t s = 0; s <= t; s++) {
                    const float *ks = j->k + (((int64_t)b * T + s) * KV + kvh) * hd; /* [hd] */
                    float d = 0.0f;
                    for (int32_t i = 0; i < hd; i++) d += qt[i] * ks[i];
                    p[s] = d * scale;
                    if (p[s] > mx) mx = p[s];
                }
                float sum = 0.0f;
                for (int32_t s = 0; s <= t; s++) {
                    p[s] = expf(p[s] - mx);
                    sum += p[s];
                }
                const float inv = 1.0f / sum;
                for (int32_t s = 0; s <= t; s++) p[s] *= inv;
                for (int32_t s = t + 1; s < T; s++) p[s] = 0.0f;
                float *ct = j->ctx + (((int64_t)b * T + t) * H + h) * hd; /* [hd] */
                for (int32_t i = 0; i < hd; i++) ct[i] = 0.0f;
                for (int32_t s = 0; s <= t; s++) {
                    const float *vs = j->v + (((int64_t)b * T + s) * KV + kvh) * hd; /* [hd] */
                    for (int32_t i = 0; i < hd; i++) ct[i] += p[s] * vs[i];
                }
            }
    }
}

void ef_tr_attention_fwd(ef_pool *pool, float *ctx, float *att, const float *q, const float *k,
                         const float *v, int32_t B, int32_t T, int32_t H, int32_t KV, int32_t hd) {
    attn_job j = {.ctx = ctx, .att = att, .q = q, .k = k, .v = v, .B = B, .T = T, .H = H, .KV = KV,
                  .hd = hd};
    ef_pool_run(pool, attn_fwd_worker, &j);
}

/* ctx_t = Σ_s p_ts v_s, p = softmax(scale·q·k):
 * dv_s += p_ts·dctx_t; dp_ts = dctx_t·v_s; ds_ts = p_ts(dp_ts − Σ_u p_tu dp_tu);
 * dq_t += scale Σ_s ds_ts k_s; dk_s += scale ds_ts q_t. */
static void attn_bwd_worker(void *vctx, int32_t ith, int32_t nth) {
    const attn_job *j = vctx;
    const int32_t T = j->T, H = j->H, KV = j->KV, hd = j->hd, group = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    float *dp = j->scratch + (int64_t)ith * T; /* [T] */
    int64_t begin, end;
    ef_split_range((int64_t)j->B * KV, ith, nth, &begin, &end);
    for (int64_t item = begin; item < end; item++) {
        const int32_t b = (int32_t)(item / KV), kvh = (int32_t)(item % KV);
        for (int32_t h = kvh * group; h < (kvh + 1) * group; h++)
            for (int32_t t = 0; t < T; t++) {
                const int64_t qi = (((int64_t)b * T + t) * H + h) * hd;
                const float *qt = j->q + qi;       /* [hd] */
                const float *dct = j->dctx + qi;   /* [hd] */
                float *dqt = j->dq + qi;           /* [hd] */
                const float *p = j->att_c + (((int64_t)b * H + h) * T + t) * T; /* [T] */
                float pdp = 0.0f;
                for (int32_t s = 0; s <= t; s++) {
                    const int64_t si = (((int64_t)b * T + s) * KV + kvh) * hd;
                    const float *vs = j->v + si; /* [hd] */
                    float *dvs = j->dv + si;     /* [hd] */
                    float d = 0.0f;
                    for (int32_t i = 0; i < hd; i++) {
                        d += dct[i] * vs[i];
                        dvs[i] += p[s] * dct[i];
                    }
                    dp[s] = d;
                    pdp += p[s] * d;
                }
                for (int32_t s = 0; s <= t; s++) {
                    const float ds = p[s] * (dp[s] - pdp) * scale;
                    const int64_t si = (((int64_t)b * T + s) * KV + kvh) * hd;
                    const float *ks = j->k + si; /* [hd] */
                    float *dks = j->dk + si;     /* [hd] */
                    for (int32_t i = 0; i < hd; i++) {
                        dqt[i] += ds * ks[i];
                        dks[i] += ds * qt[i];
                    }
                }
            }
    }
}

void ef_tr_attention_bwd(ef_pool *pool, float *dq, float *dk, float *dv, const float *dctx,
                         const float *att, const float *q, const float *k, const float *v,
                         int32_t B, int32_t T, int32_t H, int32_t KV, int32_t hd, float *scratch) {
    attn_job j = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .q = q, .k = k, .v = v,
                  .dctx = dctx, .att_c = att, .B = B, .T = T, .H = H, .KV = KV, .hd = hd};
    ef_pool_run(pool, attn_bwd_worker, &j);
}
