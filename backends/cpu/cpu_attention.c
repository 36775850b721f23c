/* Causal scaled dot-product attention over the KV cache, with grouped
 * queries (MHA: n_head_kv == n_head, MQA: n_head_kv == 1). One worker owns
 * whole heads, so each head's softmax and weighted sum run in one fixed
 * order. */
#include "cpu/cpu_ops.h"

#include <math.h>

typedef struct {
    const ef_attn_shape *s;
    const float *q, *k, *v; /* [n_tok][n_head*hd], [n_kv][n_head_kv*hd] x2 */
    float *scores;          /* [n_head][n_past+n_tok] */
    float *out;             /* [n_tok][n_head*hd] */
} attn_job;

static void attend_head(const attn_job *j, int32_t h) {
    const ef_attn_shape *s = j->s;
    const int32_t hd = s->head_dim;
    const int32_t q_stride = s->n_head * hd, kv_stride = s->n_head_kv * hd;
    const int32_t kvh = h / (s->n_head / s->n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = j->scores + (int64_t)h * (s->n_past + s->n_tok); /* [n_past+n_tok] */

    for (int32_t t = 0; t < s->n_tok; t++) {
        const float *qh = j->q + (int64_t)t * q_stride + (int64_t)h * hd; /* [hd] */
        float *oh = j->out + (int64_t)t * q_stride + (int64_t)h * hd;     /* [hd] */
        const int32_t n_seen = s->n_past + t + 1; /* causal: positions 0 .. n_past+t */

        float max = -INFINITY;
        for (int32_t p = 0; p < n_seen; p++) {
            const float *kp = j->k + (int64_t)p * kv_stride + (int64_t)kvh * hd; /* [hd] */
            float dot = 0.0f;
            for (int32_t d = 0; d < hd; d++) dot += qh[d] * kp[d];
            sc[p] = dot * scale;
            if (sc[p] > max) max = sc[p];
        }
        float sum = 0.0f;
        for (int32_t p = 0; p < n_seen; p++) {
            sc[p] = expf(sc[p] - max);
            sum += sc[p];
        }
        const float inv = 1.0f / sum;

        for (int32_t d = 0; d < hd; d++) oh[d] = 0.0f;
        for (int32_t p = 0; p < n_seen; p++) {
            const float *vp = j->v + (int64_t)p * kv_stride + (int64_t)kvh * hd; /* [hd] */
            const float w = sc[p] * inv;
            for (int32_t d = 0; d < hd; d++) oh[d] += w * vp[d];
        }
    }
}

static void attn_worker(void *ctx, int32_t ith, int32_t nth) {
    const attn_job *j = ctx;
    int64_t h0, h1;
    ef_split_range(j->s->n_head, ith, nth, &h0, &h1);
    for (int64_t h = h0; h < h1; h++) attend_head(j, (int32_t)h);
}

void ef_cpu_attention(ef_pool *pool, const ef_attn_shape *s, const float *q, const float *k,
                      const float *v, float *scores, float *out) {
    attn_job job = {s, q, k, v, scores, out};
    ef_pool_run(pool, attn_worker, &job);
}
