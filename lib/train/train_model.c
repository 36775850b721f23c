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
    ef_free_aligned(m->p16);
    ef_free_aligned(m->a16);
    ef_free_aligned(m->d16);
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

/* The bfloat16 twins' places in m->a16 (precision bf16). */
typedef struct twins_view {
    uint16_t *xn1, *ctx, *xn2, *h; /* [L, N, C], [L, N, O], [L, N, C], [L, N, F] */
    uint16_t *xnf;                 /* [N, C] */
    size_t total;
} twins_view;

static void twins_map(const dims *d, uint16_t *base, twins_view *t) {
    size_t at = 0;
#define MAP(field, count) (t->field = base ? base + at : NULL, at += (count))
    MAP(xn1, d->L * d->N * d->C);
    MAP(ctx, d->L * d->N * d->O);
    MAP(xn2, d->L * d->N * d->C);
    MAP(h, d->L * d->N * d->F);
    MAP(xnf, d->N * d->C);
#undef MAP
    t->total = at;
}

static uint16_t *alloc_halves(size_t n, const char *what, ef_status *st) {
    if (*st != EF_OK) return NULL;
    uint16_t *p = n <= SIZE_MAX / sizeof(uint16_t) ? ef_alloc_aligned(n * sizeof(uint16_t)) : NULL;
    if (!p)
        *st = ef_err(EF_ERR_NO_MEMORY, "training: out of memory for %s (%zu MiB)", what,
                     n * sizeof(uint16_t) >> 20);
    return p;
}

ef_status ef_train_model_use_bf16(ef_train_model *m) {
    const dims d = dims_of(m);
    twins_view t;
    twins_map(&d, NULL, &t);
    size_t widest = d.C; /* of the outputs whose gradient is twinned: C, F, V, Q, K, Vw */
    const size_t widths[] = {d.F, d.V, d.Q, d.K, d.Vw};
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) widest = widths[i] > widest ? widths[i] : widest;
    ef_status st = EF_OK;
    m->p16 = alloc_halves(m->lay.n_floats, "the bfloat16 parameters", &st);
    m->a16 = alloc_halves(t.total, "the bfloat16 activations", &st);
    m->d16 = alloc_halves(d.N * widest, "the bfloat16 gradients", &st);
    if (st != EF_OK) {
        ef_free_aligned(m->p16), ef_free_aligned(m->a16), ef_free_aligned(m->d16);
        m->p16 = m->a16 = m->d16 = NULL;
        return st;
    }
    m->mm.bf16 = 1;
    return EF_OK;
}

/* With the twins allocated: src[n] in bfloat16 at base + at, which is
 * returned; else NULL (the products convert while packing, or run in F32).
 * base is a twins_view field or m->d16, NULL without twins (so no pointer
 * arithmetic happens on it then). */
static const uint16_t *twin(const ef_train_model *m, ef_pool *pool, uint16_t *base, size_t at, const float *src,
                            size_t n) {
    if (!m->a16) return NULL;
    uint16_t *dst = base + at;
    ef_tr_to_bf16(pool, dst, src, (int64_t)n);
    return dst;
}
/* The twin of the parameters at offset off (NULL without twins). */
static const uint16_t *param16(const ef_train_model *m, size_t off) { return m->p16 ? m->p16 + off : NULL; }

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
                    const float *xn1, const uint16_t *xn1_16, float *q, float *k, float *v) {
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
    const size_t oq = P->wq + l * d->Q * d->C, ok = P->wk + l * d->K * d->C, ov = P->wv + l * d->K * d->C;
    const ef_tr_b16 tq = {xn1_16, param16(m, oq), NULL}, tk = {xn1_16, param16(m, ok), NULL},
                    tv = {xn1_16, param16(m, ov), NULL};
    ef_tr_matmul_fwd_b16(pool, q, xn1, p + oq, N, C, (int32_t)d->Q, &m->mm, &tq);
    ef_tr_matmul_fwd_b16(pool, k, xn1, p + ok, N, C, (int32_t)d->K, &m->mm, &tk);
    ef_tr_matmul_fwd_b16(pool, v, xn1, p + ov, N, C, (int32_t)d->K, &m->mm, &tv);
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
    twins_view tw;
    twins_map(&d, m->a16, &tw);
    const int32_t C = (int32_t)d.C, F = (int32_t)d.F, O = (int32_t)d.O;
    const int64_t N = (int64_t)d.N;
    if (m->p16) ef_tr_to_bf16(pool, m->p16, p, (int64_t)P->n_floats); /* this step's weights */

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
        const uint16_t *xn1_16 = m->shape.mla ? NULL : twin(m, pool, tw.xn1, l * d.N * d.C, xn1, d.N * d.C);
        qkv_fwd(m, pool, &d, &a, l, xn1, xn1_16, q, k, v);
        const ef_tr_attn_dims ad = attn_dims_of(m, &d, l);
        ef_tr_attention_fwd(pool, ctx, att, q, k, v, &ad, &m->mm);
        const size_t wo = P->wo + l * d.C * d.O, wg = P->w_gate + l * d.F * d.C, wu = P->w_up + l * d.F * d.C,
                     wd = P->w_down + l * d.C * d.F;
        const ef_tr_b16 to = {twin(m, pool, tw.ctx, l * d.N * d.O, ctx, d.N * d.O), param16(m, wo), NULL};
        ef_tr_matmul_fwd_b16(pool, xmid, ctx, p + wo, N, O, C, &m->mm, &to);
        ef_tr_rmsnorm_fwd_add(pool, xn2, rstd2, xmid, x, p + P->ffn_norm + l * d.C, N, C, eps); /* xmid += x */
        const uint16_t *xn2_16 = twin(m, pool, tw.xn2, l * d.N * d.C, xn2, d.N * d.C);
        const ef_tr_b16 tg = {xn2_16, param16(m, wg), NULL}, tu = {xn2_16, param16(m, wu), NULL};
        ef_tr_matmul_fwd_b16(pool, g, xn2, p + wg, N, C, F, &m->mm, &tg);
        ef_tr_matmul_fwd_b16(pool, u, xn2, p + wu, N, C, F, &m->mm, &tu);
        ef_tr_swiglu_fwd(pool, h, g, u, N * F);
        const ef_tr_b16 td = {twin(m, pool, tw.h, l * d.N * d.F, h, d.N * d.F), param16(m, wd), NULL};
        ef_tr_matmul_fwd_b16(pool, xout, h, p + wd, N, F, C, &m->mm, &td);
        pending = xmid;
    }
    float *xlast = a.res + d.L * d.N * d.C; /* [N, C] */
    if (pending)
        ef_tr_rmsnorm_fwd_add(pool, a.xnf, a.rstdf, xlast, pending, p + P->output_norm, N, C, eps);
    else
        ef_tr_rmsnorm_fwd(pool, a.xnf, a.rstdf, xlast, p + P->output_norm, N, C, eps);
    const ef_tr_b16 th = {twin(m, pool, tw.xnf, 0, a.xnf, d.N * d.C), param16(m, P->output), NULL};
    ef_tr_matmul_fwd_b16(pool, a.logits, a.xnf, p + P->output, N, C, (int32_t)d.V, &m->mm, &th);
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
                    const dacts_view *da, size_t l, const float *xn1, const uint16_t *xn1_16) {
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
    const size_t oq = P->wq + l * d->Q * d->C, ok = P->wk + l * d->K * d->C, ov = P->wv + l * d->K * d->C;
    const ef_tr_b16 tq = {xn1_16, param16(m, oq), twin(m, pool, m->d16, 0, da->dq, d->N * d->Q)};
    ef_tr_matmul_bwd_b16(pool, da->dxn, 0, gr + oq, da->dq, xn1, p + oq, N, C, (int32_t)d->Q, &m->mm, &tq);
    const ef_tr_b16 tk = {xn1_16, param16(m, ok), twin(m, pool, m->d16, 0, da->dk, d->N * d->K)};
    ef_tr_matmul_bwd_b16(pool, da->dxn, 1, gr + ok, da->dk, xn1, p + ok, N, C, (int32_t)d->K, &m->mm, &tk);
    const ef_tr_b16 tv = {xn1_16, param16(m, ov), twin(m, pool, m->d16, 0, da->dv, d->N * d->K)};
    ef_tr_matmul_bwd_b16(pool, da->dxn, 1, gr + ov, da->dv, xn1, p + ov, N, C, (int32_t)d->K, &m->mm, &tv);
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
    twins_view tw;
    twins_map(&d, m->a16, &tw);
    const int32_t C = (int32_t)d.C, F = (int32_t)d.F, O = (int32_t)d.O;
    const int64_t N = (int64_t)d.N;
    const size_t NC = d.N * d.C;

    /* head: mean cross-entropy → dlogits → final norm */
    ef_tr_crossentropy_bwd(pool, a.logits, targets, N, (int32_t)d.V, scale / (float)N);
    const ef_tr_b16 th = {m->a16 ? tw.xnf : NULL, param16(m, P->output),
                          twin(m, pool, m->d16, 0, a.logits, d.N * d.V)};
    ef_tr_matmul_bwd_b16(pool, da.dxn, 0, gr + P->output, a.logits, a.xnf, p + P->output, N, C, (int32_t)d.V,
                         &m->mm, &th);
    ef_tr_rmsnorm_bwd_set(pool, da.dres, gr + P->output_norm, da.dxn, a.res + d.L * NC, p + P->output_norm,
                      a.rstdf, N, C);

    for (size_t l = d.L; l-- > 0;) {
        const float *x = a.res + l * NC;
        const float *rstd1 = a.rstd1 + l * d.N, *xn1 = a.xn1 + l * NC;
        const float *q = a.q + l * d.N * d.Q, *k = a.k + l * d.N * d.K, *v = a.v + l * d.N * d.Vw;
        const float *att = a.att + l * d.B * d.H * d.T * d.T, *ctx = a.ctx + l * d.N * d.O;
        const float *xmid = a.xmid + l * NC, *rstd2 = a.rstd2 + l * d.N, *xn2 = a.xn2 + l * NC;
        const float *g = a.g + l * d.N * d.F, *u = a.u + l * d.N * d.F, *h = a.h + l * d.N * d.F;

        const size_t wo = P->wo + l * d.C * d.O, wg = P->w_gate + l * d.F * d.C,
                     wu = P->w_up + l * d.F * d.C, wd = P->w_down + l * d.C * d.F;
        const int twins = m->a16 != NULL;
        /* xout = xmid + h·Wdᵀ: dres flows to xmid unchanged */
        const ef_tr_b16 td = {twins ? tw.h + l * d.N * d.F : NULL, param16(m, wd),
                              twin(m, pool, m->d16, 0, da.dres, NC)};
        ef_tr_matmul_bwd_b16(pool, da.dh, 0, gr + wd, da.dres, h, p + wd, N, F, C, &m->mm, &td);
        ef_tr_swiglu_bwd(pool, da.dg, da.du, da.dh, g, u, N * F);
        const uint16_t *xn2_16 = twins ? tw.xn2 + l * NC : NULL;
        const ef_tr_b16 tg = {xn2_16, param16(m, wg), twin(m, pool, m->d16, 0, da.dg, d.N * d.F)};
        ef_tr_matmul_bwd_b16(pool, da.dxn, 0, gr + wg, da.dg, xn2, p + wg, N, C, F, &m->mm, &tg);
        const ef_tr_b16 tu = {xn2_16, param16(m, wu), twin(m, pool, m->d16, 0, da.du, d.N * d.F)};
        ef_tr_matmul_bwd_b16(pool, da.dxn, 1, gr + wu, da.du, xn2, p + wu, N, C, F, &m->mm, &tu);
        ef_tr_rmsnorm_bwd(pool, da.dres, gr + P->ffn_norm + l * d.C, da.dxn, xmid,
                          p + P->ffn_norm + l * d.C, rstd2, N, C);

        /* xmid = x + ctx·Woᵀ: dres flows to x unchanged */
        const ef_tr_b16 to = {twins ? tw.ctx + l * d.N * d.O : NULL, param16(m, wo),
                              twin(m, pool, m->d16, 0, da.dres, NC)};
        ef_tr_matmul_bwd_b16(pool, da.dctx, 0, gr + wo, da.dres, ctx, p + wo, N, O, C, &m->mm, &to);
        const ef_tr_attn_dims ad = attn_dims_of(m, &d, l);
        ef_tr_attention_bwd(pool, da.dq, da.dk, da.dv, da.dctx, att, q, k, v, &ad, m->scratch, &m->mm);
        qkv_bwd(m, pool, &d, &a, &da, l, xn1, twins && !m->shape.mla ? tw.xn1 + l * NC : NULL);
        ef_tr_rmsnorm_bwd(pool, da.dres, gr + P->attn_norm + l * d.C, da.dxn, x,
                          p + P->attn_norm + l * d.C, rstd1, N, C);
    }
    ef_tr_embed_bwd(gr + P->tok_embd, da.dres, tokens, N, C);
}
