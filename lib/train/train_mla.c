/* Forward/backward of Multi-head Latent Attention's projections (see
 * train.h), in the expanded form: every head's key and value are made from
 * the shared latent c_kv, then ordinary attention runs (train_attention.c).
 * W_UK (attn_k_b, [H, lat, nope]) is applied as c_kv·W_UK_h, the product
 * with the transpose of what ef_tr_matmul_* computes, so it goes through a
 * transposed copy W_UKᵀ[H·nope, lat] built per call. */
#include <string.h>

#include "train/train.h"

/* Dims of one MLA layer. */
typedef struct mla_dims {
    int64_t N;
    int32_t C, H, ql, lat, rope, nope, vh, dq, T;
} mla_dims;

static mla_dims dims_of(const ef_train_shape *s, int32_t B) {
    mla_dims d = {.N = (int64_t)B * s->seq, .C = s->dim, .H = s->n_head, .ql = s->q_lora,
                  .lat = s->kv_lora, .rope = s->qk_rope, .nope = s->qk_nope, .vh = s->v_head,
                  .T = s->seq};
    d.dq = d.nope + d.rope;
    return d;
}

/* Scratch of one call, carved from one buffer. */
typedef struct mla_scratch {
    float *kva;   /* [N, lat + rope] xn·Wkv_aᵀ; backward: its gradient */
    float *kn;    /* [N, H·nope] key parts without RoPE (or their gradient) */
    float *wkbT;  /* [H·nope, lat] W_UKᵀ */
    float *dwkbT; /* [H·nope, lat] its gradient */
    float *dckv;  /* [N, lat] */
    float *dlat;  /* [N, lat] */
    float *dqan;  /* [N, ql] */
    float *dqa;   /* [N, ql] */
    size_t total;
} mla_scratch;

static void scratch_map(const mla_dims *d, float *base, mla_scratch *m) {
    const size_t N = (size_t)d->N, hn = (size_t)d->H * (size_t)d->nope, lat = (size_t)d->lat;
    const size_t ql = d->ql > 0 ? (size_t)d->ql : 0;
    size_t at = 0;
#define MAP(field, count) (m->field = base ? base + at : NULL, at += (count))
    MAP(kva, N * (lat + (size_t)d->rope));
    MAP(kn, N * hn);
    MAP(wkbT, hn * lat);
    MAP(dwkbT, hn * lat);
    MAP(dckv, N * lat);
    MAP(dlat, N * lat);
    MAP(dqan, N * ql);
    MAP(dqa, N * ql);
#undef MAP
    m->total = at;
}

size_t ef_tr_mla_scratch_floats(const ef_train_shape *s, int64_t N) {
    mla_dims d = dims_of(s, 1);
    d.N = N;
    mla_scratch m;
    scratch_map(&d, NULL, &m);
    return m.total;
}

/* The parameters (or gradients: same offsets) of layer il. */
typedef struct mla_weights {
    float *wq, *wq_a, *q_a_norm, *wq_b, *wkv_a, *kv_a_norm, *wk_b, *wv_b;
} mla_weights;

static mla_weights weights_of(const ef_train_layout *lay, const mla_dims *d, float *base,
                              int32_t il) {
    const size_t l = (size_t)il, C = (size_t)d->C, H = (size_t)d->H, lat = (size_t)d->lat;
    const size_t Q = H * (size_t)d->dq, ql = d->ql > 0 ? (size_t)d->ql : 0;
    mla_weights w = {
        .wq = base + lay->wq + l * Q * C,
        .wq_a = base + lay->wq_a + l * ql * C,
        .q_a_norm = base + lay->q_a_norm + l * ql,
        .wq_b = base + lay->wq_b + l * Q * ql,
        .wkv_a = base + lay->wkv_a + l * (lat + (size_t)d->rope) * C,
        .kv_a_norm = base + lay->kv_a_norm + l * lat,
        .wk_b = base + lay->wk_b + l * H * lat * (size_t)d->nope,
        .wv_b = base + lay->wv_b + l * H * (size_t)d->vh * lat,
    };
    return w;
}

/* wkbT[h·nope + i, r] = wk_b[h, r, i] */
static void transpose_wkb(float *wkbT, const float *wk_b, const mla_dims *d) {
    for (int32_t h = 0; h < d->H; h++)
        for (int32_t r = 0; r < d->lat; r++)
            for (int32_t i = 0; i < d->nope; i++)
                wkbT[((int64_t)h * d->nope + i) * d->lat + r] =
                    wk_b[((int64_t)h * d->lat + r) * d->nope + i];
}

void ef_tr_mla_fwd(ef_pool *pool, const ef_train_shape *s, const ef_train_layout *lay,
                   const float *params, int32_t il, int32_t B, const float *cos_sin,
                   const float *xn, const ef_tr_mla_acts *a, float *q, float *k, float *v,
                   float *scratch, const ef_tr_mm *mm) {
    const mla_dims d = dims_of(s, B);
    const mla_weights w = weights_of(lay, &d, (float *)params, il);
    mla_scratch sc;
    scratch_map(&d, scratch, &sc);
    const int32_t lr = d.lat + d.rope, Q = d.H * d.dq, HN = d.H * d.nope;
    const float eps = s->norm_eps;

    if (d.ql > 0) {
        ef_tr_matmul_fwd(pool, a->qa, xn, w.wq_a, d.N, d.C, d.ql, mm);               /* [N, ql] */
        ef_tr_rmsnorm_fwd(pool, a->qan, a->rstdq, a->qa, w.q_a_norm, d.N, d.ql, eps);  /* [N, ql] */
        ef_tr_matmul_fwd(pool, q, a->qan, w.wq_b, d.N, d.ql, Q, mm);                 /* [N, H, dq] */
    } else {
        ef_tr_matmul_fwd(pool, q, xn, w.wq, d.N, d.C, Q, mm);                        /* [N, H, dq] */
    }
    ef_tr_rope_part_fwd(pool, q, cos_sin, B, d.T, d.H, d.dq, d.nope, d.rope);

    ef_tr_matmul_fwd(pool, sc.kva, xn, w.wkv_a, d.N, d.C, lr, mm); /* [N, lat + rope] */
    for (int64_t n = 0; n < d.N; n++)
        memcpy(a->lat + n * d.lat, sc.kva + n * lr, sizeof(float) * (size_t)d.lat);
    ef_tr_rmsnorm_fwd(pool, a->ckv, a->rstdkv, a->lat, w.kv_a_norm, d.N, d.lat, eps); /* [N, lat] */
    ef_tr_rope_part_fwd(pool, sc.kva, cos_sin, B, d.T, 1, lr, d.lat, d.rope);        /* k_pe */

    transpose_wkb(sc.wkbT, w.wk_b, &d);
    ef_tr_matmul_fwd(pool, sc.kn, a->ckv, sc.wkbT, d.N, d.lat, HN, mm);     /* [N, H, nope] */
    ef_tr_matmul_fwd(pool, v, a->ckv, w.wv_b, d.N, d.lat, d.H * d.vh, mm);  /* [N, H, v] */
    for (int64_t n = 0; n < d.N; n++)
        for (int32_t h = 0; h < d.H; h++) {
            float *kh = k + (n * d.H + h) * d.dq; /* [dq] */
            memcpy(kh, sc.kn + (n * d.H + h) * d.nope, sizeof(float) * (size_t)d.nope);
            memcpy(kh + d.nope, sc.kva + n * lr + d.lat, sizeof(float) * (size_t)d.rope);
        }
}

void ef_tr_mla_bwd(ef_pool *pool, const ef_train_shape *s, const ef_train_layout *lay,
                   const float *params, float *grads, int32_t il, int32_t B,
                   const float *cos_sin, const float *xn, const ef_tr_mla_acts *a, float *dq,
                   float *dk, const float *dv, float *dxn, float *scratch, const ef_tr_mm *mm) {
    const mla_dims d = dims_of(s, B);
    const mla_weights w = weights_of(lay, &d, (float *)params, il);
    const mla_weights g = weights_of(lay, &d, grads, il);
    mla_scratch sc;
    scratch_map(&d, scratch, &sc);
    const int32_t lr = d.lat + d.rope, Q = d.H * d.dq, HN = d.H * d.nope;
    float *dkva = sc.kva; /* [N, lat + rope] */
    float *dkn = sc.kn;   /* [N, H, nope] */

    /* v = c_kv·W_UVᵀ and k_nope = c_kv·W_UK: both feed dc_kv */
    memset(sc.dckv, 0, sizeof(float) * (size_t)(d.N * d.lat));
    ef_tr_matmul_bwd(pool, sc.dckv, g.wv_b, dv, a->ckv, w.wv_b, d.N, d.lat, d.H * d.vh, mm);
    /* k_h = [k_nope_h ‖ k_pe]: k_pe is shared, so its gradient sums over heads */
    memset(dkva, 0, sizeof(float) * (size_t)(d.N * lr));
    for (int64_t n = 0; n < d.N; n++)
        for (int32_t h = 0; h < d.H; h++) {
            const float *dkh = dk + (n * d.H + h) * d.dq; /* [dq] */
            memcpy(dkn + (n * d.H + h) * d.nope, dkh, sizeof(float) * (size_t)d.nope);
            float *dpe = dkva + n * lr + d.lat; /* [rope] */
            for (int32_t i = 0; i < d.rope; i++) dpe[i] += dkh[d.nope + i];
        }
    transpose_wkb(sc.wkbT, w.wk_b, &d);
    memset(sc.dwkbT, 0, sizeof(float) * (size_t)HN * (size_t)d.lat);
    ef_tr_matmul_bwd(pool, sc.dckv, sc.dwkbT, dkn, a->ckv, sc.wkbT, d.N, d.lat, HN, mm);
    for (int32_t h = 0; h < d.H; h++) /* dW_UK[h, r, i] += dW_UKᵀ[h·nope + i, r] */
        for (int32_t r = 0; r < d.lat; r++)
            for (int32_t i = 0; i < d.nope; i++)
                g.wk_b[((int64_t)h * d.lat + r) * d.nope + i] +=
                    sc.dwkbT[((int64_t)h * d.nope + i) * d.lat + r];
    ef_tr_rope_part_bwd(pool, dkva, cos_sin, B, d.T, 1, lr, d.lat, d.rope);
    ef_tr_rmsnorm_bwd_set(pool, sc.dlat, g.kv_a_norm, sc.dckv, a->lat, w.kv_a_norm, a->rstdkv, d.N, d.lat);
    for (int64_t n = 0; n < d.N; n++)
        memcpy(dkva + n * lr, sc.dlat + n * d.lat, sizeof(float) * (size_t)d.lat);
    ef_tr_matmul_bwd(pool, dxn, g.wkv_a, dkva, xn, w.wkv_a, d.N, d.C, lr, mm);

    ef_tr_rope_part_bwd(pool, dq, cos_sin, B, d.T, d.H, d.dq, d.nope, d.rope);
    if (d.ql > 0) {
        memset(sc.dqan, 0, sizeof(float) * (size_t)(d.N * d.ql));
        ef_tr_matmul_bwd(pool, sc.dqan, g.wq_b, dq, a->qan, w.wq_b, d.N, d.ql, Q, mm);
        ef_tr_rmsnorm_bwd_set(pool, sc.dqa, g.q_a_norm, sc.dqan, a->qa, w.q_a_norm, a->rstdq, d.N, d.ql);
        ef_tr_matmul_bwd(pool, dxn, g.wq_a, sc.dqa, xn, w.wq_a, d.N, d.C, d.ql, mm);
    } else {
        ef_tr_matmul_bwd(pool, dxn, g.wq, dq, xn, w.wq, d.N, d.C, Q, mm);
    }
}
