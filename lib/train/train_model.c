/* The whole model's forward and backward: the layer pairs chained over one
 * activation buffer, as in llm.c's gpt2_forward/gpt2_backward. */
#include <math.h>
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
    float *v;      /* [L, N, Vw] */
    float *att;    /* [L, B, H, T, T] softmax probabilities */
    float *ctx;    /* [L, N, O] attention output before Wo */
    float *qa;     /* [L, N, ql] MLA query latent (q_lora) */
    float *rstdq;  /* [L, N] */
    float *qan;    /* [L, N, ql] */
    float *lat;    /* [L, N, lat] MLA c_kv before its norm */
    float *rstdkv; /* [L, N] */
    float *ckv;    /* [L, N, lat] */
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
    float *dv;     /* [N, Vw] */
    float *dctx;   /* [N, O] */
    float *dg;     /* [N, F] */
    float *du;     /* [N, F] */
    float *dh;     /* [N, F] */
    size_t total;
} dacts_view;

typedef struct dims {
    size_t N, C, Q, K, Vw, O, F, V, L, B, T, H, KV, ql, lat;
    ef_train_attn_widths w;
} dims;

static dims dims_of(const ef_train_model *m) {
    const ef_train_shape *s = &m->shape;
    dims d;
    d.B = (size_t)m->batch, d.T = (size_t)s->seq, d.N = d.B * d.T;
    d.C = (size_t)s->dim, d.F = (size_t)s->ff, d.V = (size_t)s->n_vocab, d.L = (size_t)s->n_layer;
    ef_train_attn_widths_of(s, &d.w);
    d.H = (size_t)s->n_head, d.KV = (size_t)d.w.KV;
    d.Q = (size_t)d.w.Q, d.K = (size_t)d.w.K, d.Vw = (size_t)d.w.Vw, d.O = (size_t)d.w.O;
    d.ql = s->mla && s->q_lora > 0 ? (size_t)s->q_lora : 0;
    d.lat = s->mla ? (size_t)s->kv_lora : 0;
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
    MAP(v, d->L * d->N * d->Vw);
    MAP(att, d->L * d->B * d->H * d->T * d->T);
    MAP(ctx, d->L * d->N * d->O);
    MAP(qa, d->L * d->N * d->ql);
    MAP(rstdq, d->ql ? d->L * d->N : 0);
    MAP(qan, d->L * d->N * d->ql);
    MAP(lat, d->L * d->N * d->lat);
    MAP(rstdkv, d->lat ? d->L * d->N : 0);
    MAP(ckv, d->L * d->N * d->lat);
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
    MAP(dv, d->N * d->Vw);
    MAP(dctx, d->N * d->O);
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
    ef_free_aligned(m->mm.pack);
    ef_free_aligned(m->mla_scratch);
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
    m->mm.threads = n_threads;
    m->mm.pack = alloc_floats(ef_tr_mm_work_floats(n_threads), "matmul packing space", &st);
    if (s->mla) m->mla_scratch = alloc_floats(ef_tr_mla_scratch_floats(s, (int64_t)d.N), "MLA scratch", &st);
    if (st == EF_OK) {
        m->cos_sin = ef_malloc(sizeof(float) * d.T * (size_t)d.w.n_rot);
        m->scratch = ef_malloc(sizeof(float) * ef_tr_attention_scratch_floats((int32_t)d.T, n_threads));
        if (!m->cos_sin || !m->scratch) st = ef_err(EF_ERR_NO_MEMORY, "training: out of memory");
    }
    if (st != EF_OK) {
        ef_train_model_free(m);
        return st;
    }
    ef_tr_rope_table(m->cos_sin, s->seq, d.w.n_rot, s->rope_base);
    return EF_OK;
}

/* Layer l's saved MLA activations. */
static ef_tr_mla_acts mla_acts_of(const acts_view *a, const dims *d, size_t l) {
    ef_tr_mla_acts m = {.qa = a->qa + l * d->N * d->ql, .rstdq = a->rstdq + (d->ql ? l * d->N : 0),
                        .qan = a->qan + l * d->N * d->ql, .lat = a->lat + l * d->N * d->lat,
                        .rstdkv = a->rstdkv + (d->lat ? l * d->N : 0),
                        .ckv = a->ckv + l * d->N * d->lat};
    return m;
}

static ef_tr_attn_dims attn_dims_of(const ef_train_model *m, const dims *d, size_t l) {
    const ef_tr_attn_dims ad = {.B = (int32_t)d->B, .T = (int32_t)d->T, .H = (int32_t)d->H,
                                .KV = (int32_t)d->KV, .dk = d->w.dk, .dv = d->w.dv,
                                .scale = 1.0f / sqrtf((float)d->w.dk),
                                .window = ef_train_layer_window(&m->shape, (int32_t)l),
                                .sinks = m->shape.sinks};
    return ad;
}

/* q, k, v of layer l from xn1: the GQA projections with RoPE, or MLA's. */
static void qkv_fwd(ef_train_model *m, ef_pool *pool, const dims *d, const acts_view *a, size_t l,
                    const float *xn1, float *q, float *k, float *v) {
    const ef_train_layout *P = &m->lay;
    const float *p = m->params;
    const int64_t N = (int64_t)d->N;
    const int32_t C = (int32_t)d->C, B = (int32_t)d->B, T = (int32_t)d->T;
    if (m->shape.mla) {
        const ef_tr_mla_acts ma = mla_acts_of(a, d, l);
        ef_tr_mla_fwd(pool, &m->shape, P, p, (int32_t)l, B, m->cos_sin, xn1, &ma, q, k, v,
                      m->mla_scratch, &m->mm);
        return;
    }
    ef_tr_matmul_fwd(pool, q, xn1, p + P->wq + l * d->Q * d->C, N, C, (int32_t)d->Q, &m->mm);
    ef_tr_matmul_fwd(pool, k, xn1, p + P->wk + l * d->K * d->C, N, C, (int32_t)d->K, &m->mm);
    ef_tr_matmul_fwd(pool, v, xn1, p + P->wv + l * d->K * d->C, N, C, (int32_t)d->K, &m->mm);
    ef_tr_rope_fwd(pool, q, m->cos_sin, B, T, (int32_t)d->H, d->w.dk);
    ef_tr_rope_fwd(pool, k, m->cos_sin, B, T, (int32_t)d->KV, d->w.dk);
}

float ef_train_model_forward(ef_train_model *m, ef_pool *pool, const int32_t *tokens,
                             const int32_t *targets, const float **logits_out) {
    const dims d = dims_of(m);
    const ef_train_layout *P = &m->lay;
    const float *p = m->params;
    const float eps = m->shape.norm_eps;
    acts_view a;
    acts_map(&d, m->acts, &a);
    const int32_t C = (int32_t)d.C, F = (int32_t)d.F, O = (int32_t)d.O;
    const int64_t N = (int64_t)d.N;

    ef_tr_embed_fwd(a.res, tokens, p + P->tok_embd, N, C);
    /* Each residual add runs inside the norm that reads the sum next
     * (ef_tr_rmsnorm_fwd_add): a layer's output is h·Wdᵀ until the next
     * norm adds `pending` (that layer's xmid) to it. */
    const float *pending = NULL; /* [N, C] or NULL */
    for (size_t l = 0; l < d.L; l++) {
        float *x = a.res + l * d.N * d.C;         /* [N, C] */
        float *rstd1 = a.rstd1 + l * d.N;         /* [N] */
        float *xn1 = a.xn1 + l * d.N * d.C;       /* [N, C] */
        float *q = a.q + l * d.N * d.Q;           /* [N, Q] */
        float *k = a.k + l * d.N * d.K;           /* [N, K] */
        float *v = a.v + l * d.N * d.Vw;          /* [N, Vw] */
        float *att = a.att + l * d.B * d.H * d.T * d.T; /* [B, H, T, T] */
        float *ctx = a.ctx + l * d.N * d.O;       /* [N, O] */
        float *xmid = a.xmid + l * d.N * d.C;     /* [N, C] */
        float *rstd2 = a.rstd2 + l * d.N;         /* [N] */
        float *xn2 = a.xn2 + l * d.N * d.C;       /* [N, C] */
        float *g = a.g + l * d.N * d.F;           /* [N, F] */
        float *u = a.u + l * d.N * d.F;           /* [N, F] */
        float *h = a.h + l * d.N * d.F;           /* [N, F] */
        float *xout = a.res + (l + 1) * d.N * d.C; /* [N, C] */

        if (pending)
            ef_tr_rmsnorm_fwd_add(pool, xn1, rstd1, x, pending, p + P->attn_norm + l * d.C, N, C, eps);
        else
            ef_tr_rmsnorm_fwd(pool, xn1, rstd1, x, p + P->attn_norm + l * d.C, N, C, eps);
        qkv_fwd(m, pool, &d, &a, l, xn1, q, k, v);
        const ef_tr_attn_dims ad = attn_dims_of(m, &d, l);
        ef_tr_attention_fwd(pool, ctx, att, q, k, v, &ad, &m->mm);
        ef_tr_matmul_fwd(pool, xmid, ctx, p + P->wo + l * d.C * d.O, N, O, C, &m->mm);
        ef_tr_rmsnorm_fwd_add(pool, xn2, rstd2, xmid, x, p + P->ffn_norm + l * d.C, N, C, eps); /* xmid += x */
        ef_tr_matmul_fwd(pool, g, xn2, p + P->w_gate + l * d.F * d.C, N, C, F, &m->mm);
        ef_tr_matmul_fwd(pool, u, xn2, p + P->w_up + l * d.F * d.C, N, C, F, &m->mm);
        ef_tr_swiglu_fwd(pool, h, g, u, N * F);
        ef_tr_matmul_fwd(pool, xout, h, p + P->w_down + l * d.C * d.F, N, F, C, &m->mm);
        pending = xmid;
    }
    float *xlast = a.res + d.L * d.N * d.C; /* [N, C] */
    if (pending)
        ef_tr_rmsnorm_fwd_add(pool, a.xnf, a.rstdf, xlast, pending, p + P->output_norm, N, C, eps);
    else
        ef_tr_rmsnorm_fwd(pool, a.xnf, a.rstdf, xlast, p + P->output_norm, N, C, eps);
    ef_tr_matmul_fwd(pool, a.logits, a.xnf, p + P->output, N, C, (int32_t)d.V, &m->mm);
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

/* dxn (zeroed here) += the gradient through layer l's q/k/v projections;
 * the projection weights' gradients are added. dq, dk are consumed. */
static void qkv_bwd(ef_train_model *m, ef_pool *pool, const dims *d, const acts_view *a,
                    const dacts_view *da, size_t l, const float *xn1) {
    const ef_train_layout *P = &m->lay;
    const float *p = m->params;
    float *gr = m->grads;
    const int64_t N = (int64_t)d->N;
    const int32_t C = (int32_t)d->C, B = (int32_t)d->B, T = (int32_t)d->T;
    if (m->shape.mla) {
        const ef_tr_mla_acts ma = mla_acts_of(a, d, l);
        memset(da->dxn, 0, sizeof(float) * d->N * d->C);
        ef_tr_mla_bwd(pool, &m->shape, P, p, gr, (int32_t)l, B, m->cos_sin, xn1, &ma, da->dq,
                      da->dk, da->dv, da->dxn, m->mla_scratch, &m->mm);
        return;
    }
    ef_tr_rope_bwd(pool, da->dq, m->cos_sin, B, T, (int32_t)d->H, d->w.dk);
    ef_tr_rope_bwd(pool, da->dk, m->cos_sin, B, T, (int32_t)d->KV, d->w.dk);
    ef_tr_matmul_bwd_set(pool, da->dxn, gr + P->wq + l * d->Q * d->C, da->dq, xn1,
                         p + P->wq + l * d->Q * d->C, N, C, (int32_t)d->Q, &m->mm);
    ef_tr_matmul_bwd(pool, da->dxn, gr + P->wk + l * d->K * d->C, da->dk, xn1,
                     p + P->wk + l * d->K * d->C, N, C, (int32_t)d->K, &m->mm);
    ef_tr_matmul_bwd(pool, da->dxn, gr + P->wv + l * d->K * d->C, da->dv, xn1,
                     p + P->wv + l * d->K * d->C, N, C, (int32_t)d->K, &m->mm);
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
    const int32_t C = (int32_t)d.C, F = (int32_t)d.F, O = (int32_t)d.O;
    const int64_t N = (int64_t)d.N;
    const size_t NC = d.N * d.C;

    /* head: mean cross-entropy → dlogits → final norm */
    ef_tr_crossentropy_bwd(pool, a.logits, targets, N, (int32_t)d.V, scale / (float)N);
    ef_tr_matmul_bwd_set(pool, da.dxn, gr + P->output, a.logits, a.xnf, p + P->output, N, C,
                         (int32_t)d.V, &m->mm);
    ef_tr_rmsnorm_bwd_set(pool, da.dres, gr + P->output_norm, da.dxn, a.res + d.L * NC, p + P->output_norm,
                      a.rstdf, N, C);

    for (size_t l = d.L; l-- > 0;) {
        const float *x = a.res + l * NC;
        const float *rstd1 = a.rstd1 + l * d.N, *xn1 = a.xn1 + l * NC;
        const float *q = a.q + l * d.N * d.Q, *k = a.k + l * d.N * d.K, *v = a.v + l * d.N * d.Vw;
        const float *att = a.att + l * d.B * d.H * d.T * d.T, *ctx = a.ctx + l * d.N * d.O;
        const float *xmid = a.xmid + l * NC, *rstd2 = a.rstd2 + l * d.N, *xn2 = a.xn2 + l * NC;
        const float *g = a.g + l * d.N * d.F, *u = a.u + l * d.N * d.F, *h = a.h + l * d.N * d.F;

        /* xout = xmid + h·Wdᵀ: dres flows to xmid unchanged */
        ef_tr_matmul_bwd_set(pool, da.dh, gr + P->w_down + l * d.C * d.F, da.dres, h,
                             p + P->w_down + l * d.C * d.F, N, F, C, &m->mm);
        ef_tr_swiglu_bwd(pool, da.dg, da.du, da.dh, g, u, N * F);
        ef_tr_matmul_bwd_set(pool, da.dxn, gr + P->w_gate + l * d.F * d.C, da.dg, xn2,
                             p + P->w_gate + l * d.F * d.C, N, C, F, &m->mm);
        ef_tr_matmul_bwd(pool, da.dxn, gr + P->w_up + l * d.F * d.C, da.du, xn2,
                         p + P->w_up + l * d.F * d.C, N, C, F, &m->mm);
        ef_tr_rmsnorm_bwd(pool, da.dres, gr + P->ffn_norm + l * d.C, da.dxn, xmid,
                          p + P->ffn_norm + l * d.C, rstd2, N, C);

        /* xmid = x + ctx·Woᵀ: dres flows to x unchanged */
        ef_tr_matmul_bwd_set(pool, da.dctx, gr + P->wo + l * d.C * d.O, da.dres, ctx,
                             p + P->wo + l * d.C * d.O, N, O, C, &m->mm);
        const ef_tr_attn_dims ad = attn_dims_of(m, &d, l);
        ef_tr_attention_bwd(pool, da.dq, da.dk, da.dv, da.dctx, att, q, k, v, &ad, m->scratch, &m->mm);
        qkv_bwd(m, pool, &d, &a, &da, l, xn1);
        ef_tr_rmsnorm_bwd(pool, da.dres, gr + P->attn_norm + l * d.C, da.dxn, x,
                          p + P->attn_norm + l * d.C, rstd1, N, C);
    }
    ef_tr_embed_bwd(gr + P->tok_embd, da.dres, tokens, N, C);
}
