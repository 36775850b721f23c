/* The whole model's forward and backward: the layer pairs chained over one
 * activation buffer, as in llm.c's gpt2_forward/gpt2_backward. */
#include <string.h>

#include "base/alloc.h"
#include "train/train.h"

/* Pointers into the activation buffers for the current shape. */
typedef struct acts_view {
    float *res;    /* [L+1, N, C] residual stream: res[0] embeddings, res[l+1] layer l's output */
    float *rstd1;  /* [L, N] */
    float *xn1;    /* [L, N, C] attention-norm output */
    float *q;      /* [L, N, Q] after RoPE */
    float *k;      /* [L, N, K] after RoPE */
    float *v;      /* [L, N, K] */
    float *att;    /* [L, B, H, T, T] softmax probabilities */
    float *ctx;    /* [L, N, Q] attention output before Wo */
    float *xmid;   /* [L, N, C] residual after attention */
    float *rstd2;  /* [L, N] */
    float *xn2;    /* [L, N, C] ffn-norm output */
    float *g;      /* [L, N, F] gate projection */
    float *u;      /* [L, N, F] up projection */
    float *h;      /* [L, N, F] silu(g)·u */
    float *rstdf;  /* [N] */
    float *xnf;    /* [N, C] final-norm output */
    float *logits; /* [N, V] logits, then probabilities, then dlogits */
    float *losses; /* [N] */
    size_t total;
} acts_view;

typedef struct dacts_view {
    float *dres;   /* [N, C] gradient of the residual stream */
    float *dxn;    /* [N, C] gradient of a norm's output */
    float *dq;     /* [N, Q] */
    float *dk;     /* [N, K] */
    float *dv;     /* [N, K] */
    float *dctx;   /* [N, Q] */
    float *dg;     /* [N, F] */
    float *du;     /* [N, F] */
    float *dh;     /* [N, F] */
    size_t total;
} dacts_view;

typedef struct dims {
    size_t N, C, Q, K, F, V, L, B, T, H, KV, hd;
} dims;

static dims dims_of(const ef_train_model *m) {
    const ef_train_shape *s = &m->shape;
    dims d;
    d.B = (size_t)m->batch, d.T = (size_t)s->seq, d.N = d.B * d.T;
    d.C = (size_t)s->dim, d.F = (size_t)s->ff, d.V = (size_t)s->n_vocab, d.L = (size_t)s->n_layer;
    d.H = (size_t)s->n_head, d.KV = (size_t)s->n_kv, d.hd = (size_t)ef_train_head_dim(s);
    d.Q = d.H * d.hd, d.K = d.KV * d.hd;
    return d;
}

/* base NULL: only totals the size. */
static void acts_map(const dims *d, float *base, acts_view *a) {
    size_t at = 0;
#define MAP(field, count) (a->field = base ? base + at : NULL, at += (count))
    MAP(res, (d->L + 1) * d->N * d->C);
    MAP(rstd1, d->L * d->N);
    MAP(xn1, d->L * d->N * d->C);
    MAP(q, d->L * d->N * d->Q);
    MAP(k, d->L * d->N * d->K);
    MAP(v, d->L * d->N * d->K);
    MAP(att, d->L * d->B * d->H * d->T * d->T);
    MAP(ctx, d->L * d->N * d->Q);
    MAP(xmid, d->L * d->N * d->C);
    MAP(rstd2, d->L * d->N);
    MAP(xn2, d->L * d->N * d->C);
    MAP(g, d->L * d->N * d->F);
    MAP(u, d->L * d->N * d->F);
    MAP(h, d->L * d->N * d->F);
    MAP(rstdf, d->N);
    MAP(xnf, d->N * d->C);
    MAP(logits, d->N * d->V);
    MAP(losses, d->N);
#undef MAP
    a->total = at;
}

static void dacts_map(const dims *d, float *base, dacts_view *a) {
    size_t at = 0;
#define MAP(field, count) (a->field = base ? base + at : NULL, at += (count))
    MAP(dres, d->N * d->C);
    MAP(dxn, d->N * d->C);
    MAP(dq, d->N * d->Q);
    MAP(dk, d->N * d->K);
    MAP(dv, d->N * d->K);
    MAP(dctx, d->N * d->Q);
    MAP(dg, d->N * d->F);
    MAP(du, d->N * d->F);
    MAP(dh, d->N * d->F);
#undef MAP
    a->total = at;
}

void ef_train_model_free(ef_train_model *m) {
    if (!m) return;
    ef_free_aligned(m->params);
    ef_free_aligned(m->grads);
    ef_free_aligned(m->acts);
    ef_free_aligned(m->dacts);
    ef_free(m->cos_sin);
    ef_free(m->scratch);
    ef_free_aligned(m->mm_work);
    memset(m, 0, sizeof *m);
}

static float *alloc_floats(size_t n, const char *what, ef_status *st) {
    if (*st != EF_OK) return NULL;
    if (n > SIZE_MAX / sizeof(float)) {
        *st = ef_err(EF_ERR_NO_MEMORY, "training: %s is too large", what);
        return NULL;
    }
    float *p = ef_alloc_aligned(n * sizeof(float));
    if (!p)
        *st = ef_err(EF_ERR_NO_MEMORY, "training: out of memory for %s (%zu MiB)", what,
                     n * sizeof(float) >> 20);
    return p;
}

ef_status ef_train_model_create(const ef_train_shape *s, int32_t batch, int32_t n_threads,
                                ef_train_model *m) {
    memset(m, 0, sizeof *m);
    EF_TRY(ef_train_shape_check(s));
    if (batch < 1 || batch > 4096)
        return ef_err(EF_ERR_INVALID_ARG, "training: batch %d is out of range", (int)batch);
    if (n_threads < 1) n_threads = 1;
    m->shape = *s;
    m->batch = batch;
    ef_train_layout_make(s, &m->lay);
    dims d = dims_of(m);
    acts_view a;
    dacts_view da;
    acts_map(&d, NULL, &a);
    dacts_map(&d, NULL, &da);
    m->n_acts = a.total;
    m->n_dacts = da.total;
    m->scratch_threads = n_threads;
    ef_status st = EF_OK;
    m->params = alloc_floats(m->lay.n_floats, "parameters", &st);
    m->grads = alloc_floats(m->lay.n_floats, "gradients", &st);
    m->acts = alloc_floats(m->n_acts, "activations", &st);
    m->dacts = alloc_floats(m->n_dacts, "activation gradients", &st);
    /* the largest projection backward: C→Q, C→K, Q→C, C→F, F→C or C→V */
    const int32_t io[6][2] = {{(int32_t)d.C, (int32_t)d.Q}, {(int32_t)d.C, (int32_t)d.K},
                              {(int32_t)d.Q, (int32_t)d.C}, {(int32_t)d.C, (int32_t)d.F},
                              {(int32_t)d.F, (int32_t)d.C}, {(int32_t)d.C, (int32_t)d.V}};
    size_t work = 0;
    for (int i = 0; i < 6; i++) {
        size_t w = ef_tr_matmul_work_floats((int64_t)d.N, io[i][0], io[i][1]);
        if (w > work) work = w;
    }
    m->mm_work = alloc_floats(work, "matmul scratch", &st);
    if (st == EF_OK) {
        m->cos_sin = ef_malloc(sizeof(float) * d.T * d.hd);
        m->scratch = ef_malloc(sizeof(float) * d.T * (size_t)n_threads);
        if (!m->cos_sin || !m->scratch) st = ef_err(EF_ERR_NO_MEMORY, "training: out of memory");
    }
    if (st != EF_OK) {
        ef_train_model_free(m);
        return st;
    }
    ef_tr_rope_table(m->cos_sin, s->seq, (int32_t)d.hd, s->rope_base);
    return EF_OK;
}

float ef_train_model_forward(ef_train_model *m, ef_pool *pool, const int32_t *tokens,
                             const int32_t *targets, const float **logits_out) {
    const dims d = dims_of(m);
    const ef_train_layout *P = &m->lay;
    const float *p = m->params;
    const float eps = m->shape.norm_eps;
    acts_view a;
    acts_map(&d, m->acts, &a);
    const int32_t B = (int32_t)d.B, T = (int32_t)d.T, C = (int32_t)d.C, F = (int32_t)d.F;
    const int32_t Q = (int32_t)d.Q, K = (int32_t)d.K, hd = (int32_t)d.hd;
    const int64_t N = (int64_t)d.N;

    ef_tr_embed_fwd(a.res, tokens, p + P->tok_embd, N, C);
    for (size_t l = 0; l < d.L; l++) {
        const float *x = a.res + l * d.N * d.C;   /* [N, C] */
        float *rstd1 = a.rstd1 + l * d.N;         /* [N] */
        float *xn1 = a.xn1 + l * d.N * d.C;       /* [N, C] */
        float *q = a.q + l * d.N * d.Q;           /* [N, Q] */
        float *k = a.k + l * d.N * d.K;           /* [N, K] */
        float *v = a.v + l * d.N * d.K;           /* [N, K] */
        float *att = a.att + l * d.B * d.H * d.T * d.T; /* [B, H, T, T] */
        float *ctx = a.ctx + l * d.N * d.Q;       /* [N, Q] */
        float *xmid = a.xmid + l * d.N * d.C;     /* [N, C] */
        float *rstd2 = a.rstd2 + l * d.N;         /* [N] */
        float *xn2 = a.xn2 + l * d.N * d.C;       /* [N, C] */
        float *g = a.g + l * d.N * d.F;           /* [N, F] */
        float *u = a.u + l * d.N * d.F;           /* [N, F] */
        float *h = a.h + l * d.N * d.F;           /* [N, F] */
        float *xout = a.res + (l + 1) * d.N * d.C; /* [N, C] */

        ef_tr_rmsnorm_fwd(xn1, rstd1, x, p + P->attn_norm + l * d.C, N, C, eps);
        ef_tr_matmul_fwd(pool, q, xn1, p + P->wq + l * d.Q * d.C, N, C, Q);
        ef_tr_matmul_fwd(pool, k, xn1, p + P->wk + l * d.K * d.C, N, C, K);
        ef_tr_matmul_fwd(pool, v, xn1, p + P->wv + l * d.K * d.C, N, C, K);
        ef_tr_rope_fwd(q, m->cos_sin, B, T, (int32_t)d.H, hd);
        ef_tr_rope_fwd(k, m->cos_sin, B, T, (int32_t)d.KV, hd);
        ef_tr_attention_fwd(pool, ctx, att, q, k, v, B, T, (int32_t)d.H, (int32_t)d.KV, hd);
        ef_tr_matmul_fwd(pool, xmid, ctx, p + P->wo + l * d.C * d.Q, N, Q, C);
        for (size_t i = 0; i < d.N * d.C; i++) xmid[i] += x[i];

        ef_tr_rmsnorm_fwd(xn2, rstd2, xmid, p + P->ffn_norm + l * d.C, N, C, eps);
        ef_tr_matmul_fwd(pool, g, xn2, p + P->w_gate + l * d.F * d.C, N, C, F);
        ef_tr_matmul_fwd(pool, u, xn2, p + P->w_up + l * d.F * d.C, N, C, F);
        ef_tr_swiglu_fwd(h, g, u, N * F);
        ef_tr_matmul_fwd(pool, xout, h, p + P->w_down + l * d.C * d.F, N, F, C);
        for (size_t i = 0; i < d.N * d.C; i++) xout[i] += xmid[i];
    }
    const float *xlast = a.res + d.L * d.N * d.C; /* [N, C] */
    ef_tr_rmsnorm_fwd(a.xnf, a.rstdf, xlast, p + P->output_norm, N, C, eps);
    ef_tr_matmul_fwd(pool, a.logits, a.xnf, p + P->output, N, C, (int32_t)d.V);
    float mean = 0.0f;
    if (targets) {
        ef_tr_crossentropy_fwd(pool, a.losses, a.logits, targets, N, (int32_t)d.V);
        double sum = 0.0;
        for (int64_t n = 0; n < N; n++) sum += a.losses[n];
        mean = (float)(sum / (double)N);
    }
    if (logits_out) *logits_out = a.logits;
    return mean;
}

void ef_train_model_backward(ef_train_model *m, ef_pool *pool, const int32_t *tokens,
                             const int32_t *targets, float scale) {
    const dims d = dims_of(m);
    const ef_train_layout *P = &m->lay;
    const float *p = m->params;
    float *gr = m->grads;
    acts_view a;
    dacts_view da;
    acts_map(&d, m->acts, &a);
    dacts_map(&d, m->dacts, &da);
    const int32_t B = (int32_t)d.B, T = (int32_t)d.T, C = (int32_t)d.C, F = (int32_t)d.F;
    const int32_t Q = (int32_t)d.Q, K = (int32_t)d.K, hd = (int32_t)d.hd;
    const int64_t N = (int64_t)d.N;
    const size_t NC = d.N * d.C;

    /* head: mean cross-entropy → dlogits → final norm */
    ef_tr_crossentropy_bwd(pool, a.logits, targets, N, (int32_t)d.V, scale / (float)N);
    memset(da.dxn, 0, sizeof(float) * NC);
    ef_tr_matmul_bwd(pool, da.dxn, gr + P->output, a.logits, a.xnf, p + P->output, N, C,
                     (int32_t)d.V, m->mm_work);
    memset(da.dres, 0, sizeof(float) * NC);
    ef_tr_rmsnorm_bwd(da.dres, gr + P->output_norm, da.dxn, a.res + d.L * NC, p + P->output_norm,
                      a.rstdf, N, C);

    for (size_t l = d.L; l-- > 0;) {
        const float *x = a.res + l * NC;
        const float *rstd1 = a.rstd1 + l * d.N, *xn1 = a.xn1 + l * NC;
        const float *q = a.q + l * d.N * d.Q, *k = a.k + l * d.N * d.K, *v = a.v + l * d.N * d.K;
        const float *att = a.att + l * d.B * d.H * d.T * d.T, *ctx = a.ctx + l * d.N * d.Q;
        const float *xmid = a.xmid + l * NC, *rstd2 = a.rstd2 + l * d.N, *xn2 = a.xn2 + l * NC;
        const float *g = a.g + l * d.N * d.F, *u = a.u + l * d.N * d.F, *h = a.h + l * d.N * d.F;

        /* xout = xmid + h·Wdᵀ: dres flows to xmid unchanged */
        memset(da.dh, 0, sizeof(float) * d.N * d.F);
        ef_tr_matmul_bwd(pool, da.dh, gr + P->w_down + l * d.C * d.F, da.dres, h,
                         p + P->w_down + l * d.C * d.F, N, F, C, m->mm_work);
        memset(da.dg, 0, sizeof(float) * d.N * d.F);
        memset(da.du, 0, sizeof(float) * d.N * d.F);
        ef_tr_swiglu_bwd(da.dg, da.du, da.dh, g, u, N * F);
        memset(da.dxn, 0, sizeof(float) * NC);
        ef_tr_matmul_bwd(pool, da.dxn, gr + P->w_gate + l * d.F * d.C, da.dg, xn2,
                         p + P->w_gate + l * d.F * d.C, N, C, F, m->mm_work);
        ef_tr_matmul_bwd(pool, da.dxn, gr + P->w_up + l * d.F * d.C, da.du, xn2,
                         p + P->w_up + l * d.F * d.C, N, C, F, m->mm_work);
        ef_tr_rmsnorm_bwd(da.dres, gr + P->ffn_norm + l * d.C, da.dxn, xmid,
                          p + P->ffn_norm + l * d.C, rstd2, N, C);

        /* xmid = x + ctx·Woᵀ: dres flows to x unchanged */
        memset(da.dctx, 0, sizeof(float) * d.N * d.Q);
        ef_tr_matmul_bwd(pool, da.dctx, gr + P->wo + l * d.C * d.Q, da.dres, ctx,
                         p + P->wo + l * d.C * d.Q, N, Q, C, m->mm_work);
        memset(da.dq, 0, sizeof(float) * d.N * d.Q);
        memset(da.dk, 0, sizeof(float) * d.N * d.K);
        memset(da.dv, 0, sizeof(float) * d.N * d.K);
        ef_tr_attention_bwd(pool, da.dq, da.dk, da.dv, da.dctx, att, q, k, v, B, T, (int32_t)d.H,
                            (int32_t)d.KV, hd, m->scratch);
        ef_tr_rope_bwd(da.dq, m->cos_sin, B, T, (int32_t)d.H, hd);
        ef_tr_rope_bwd(da.dk, m->cos_sin, B, T, (int32_t)d.KV, hd);
        memset(da.dxn, 0, sizeof(float) * NC);
        ef_tr_matmul_bwd(pool, da.dxn, gr + P->wq + l * d.Q * d.C, da.dq, xn1,
                         p + P->wq + l * d.Q * d.C, N, C, Q, m->mm_work);
        ef_tr_matmul_bwd(pool, da.dxn, gr + P->wk + l * d.K * d.C, da.dk, xn1,
                         p + P->wk + l * d.K * d.C, N, C, K, m->mm_work);
        ef_tr_matmul_bwd(pool, da.dxn, gr + P->wv + l * d.K * d.C, da.dv, xn1,
                         p + P->wv + l * d.K * d.C, N, C, K, m->mm_work);
        ef_tr_rmsnorm_bwd(da.dres, gr + P->attn_norm + l * d.C, da.dxn, x,
                          p + P->attn_norm + l * d.C, rstd1, N, C);
    }
    ef_tr_embed_bwd(gr + P->tok_embd, da.dres, tokens, N, C);
}
