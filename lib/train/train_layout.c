/* The parameter layout: every tensor of the model as a slice of one flat
 * buffer, named as GGUF names it, and the random initialisation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sample/rng.h"
#include "train/train.h"

int32_t ef_train_head_dim(const ef_train_shape *s) { return s->dim / s->n_head; }

void ef_train_attn_widths_of(const ef_train_shape *s, ef_train_attn_widths *w) {
    const int32_t H = s->n_head;
    if (s->mla) {
        /* expanded MLA: H key heads of nope + rope, H value heads of v_head */
        w->dk = s->qk_nope + s->qk_rope, w->dv = s->v_head, w->KV = H, w->n_rot = s->qk_rope;
    } else {
        w->dk = w->dv = ef_train_head_dim(s), w->KV = s->n_kv, w->n_rot = w->dk;
    }
    w->Q = H * w->dk, w->K = w->KV * w->dk, w->Vw = w->KV * w->dv, w->O = H * w->dv;
}

int32_t ef_train_layer_window(const ef_train_shape *s, int32_t il) {
    if (s->window <= 0) return 0;
    const int32_t p = s->swa_pattern > 0 ? s->swa_pattern : 1;
    return p == 1 || il % p < p - 1 ? s->window : 0;
}

const char *ef_train_attn_type(const ef_train_shape *s) {
    if (s->mla) return s->window > 0 ? "mla_window" : "mla";
    if (s->window > 0) return "gqa_window";
    return s->n_kv == s->n_head ? "mha" : "gqa";
}

static ef_status check_attention(const ef_train_shape *s) {
    if (s->window < 0 || s->window > 65536 || s->sinks < 0 || s->sinks > 65536 ||
        s->swa_pattern < 0 || s->swa_pattern > 256)
        return ef_err(EF_ERR_INVALID_ARG, "training: window %d, sinks %d or window pattern %d is "
                      "out of range", (int)s->window, (int)s->sinks, (int)s->swa_pattern);
    if (!s->mla) {
        if (s->n_kv < 1 || s->dim % s->n_head != 0 || s->n_head % s->n_kv != 0)
            return ef_err(EF_ERR_INVALID_ARG,
                          "training: heads=%d kv-heads=%d must divide dim=%d and heads respectively",
                          (int)s->n_head, (int)s->n_kv, (int)s->dim);
        if ((s->dim / s->n_head) % 2 != 0)
            return ef_err(EF_ERR_INVALID_ARG, "training: head size %d must be even for RoPE",
                          (int)(s->dim / s->n_head));
        return EF_OK;
    }
    if (s->kv_lora < 1 || s->kv_lora > 16384 || s->qk_nope < 1 || s->qk_nope > 1024 ||
        s->qk_rope < 2 || s->qk_rope > 1024 || s->qk_rope % 2 != 0 || s->v_head < 1 ||
        s->v_head > 1024 || s->q_lora < 0 || s->q_lora > 16384)
        return ef_err(EF_ERR_INVALID_ARG, "training: MLA sizes kv_lora=%d q_lora=%d qk_nope=%d "
                      "qk_rope=%d (even) v_head=%d are out of range", (int)s->kv_lora,
                      (int)s->q_lora, (int)s->qk_nope, (int)s->qk_rope, (int)s->v_head);
    return EF_OK;
}

ef_status ef_train_shape_check(const ef_train_shape *s) {
    if (s->n_vocab < 2 || s->n_vocab > (1 << 24))
        return ef_err(EF_ERR_INVALID_ARG, "training: vocabulary size %d is out of range", (int)s->n_vocab);
    if (s->dim < 2 || s->dim > 16384 || s->n_layer < 1 || s->n_layer > 256 || s->ff < 1 ||
        s->ff > 65536 || s->seq < 2 || s->seq > 65536)
        return ef_err(EF_ERR_INVALID_ARG,
                      "training: shape dim=%d layers=%d ff=%d seq=%d is out of range", (int)s->dim,
                      (int)s->n_layer, (int)s->ff, (int)s->seq);
    if (s->n_head < 1 || s->n_head > 1024)
        return ef_err(EF_ERR_INVALID_ARG, "training: %d heads is out of range", (int)s->n_head);
    if (!(s->norm_eps > 0.0f) || !(s->rope_base > 1.0f))
        return ef_err(EF_ERR_INVALID_ARG, "training: norm epsilon and rope base must be positive");
    return check_attention(s);
}

void ef_train_layout_make(const ef_train_shape *s, ef_train_layout *lay) {
    ef_train_attn_widths w;
    ef_train_attn_widths_of(s, &w);
    const size_t V = (size_t)s->n_vocab, C = (size_t)s->dim, L = (size_t)s->n_layer,
                 F = (size_t)s->ff, H = (size_t)s->n_head;
    const size_t Q = (size_t)w.Q, K = (size_t)w.K, O = (size_t)w.O;
    const int mla = s->mla != 0, qlora = mla && s->q_lora > 0;
    const size_t ql = qlora ? (size_t)s->q_lora : 0, lat = mla ? (size_t)s->kv_lora : 0;
    const size_t rope = mla ? (size_t)s->qk_rope : 0, nope = mla ? (size_t)s->qk_nope : 0;
    const size_t vh = mla ? (size_t)s->v_head : 0;
    size_t at = 0;
#define TAKE(field, count) (lay->field = at, at += (count))
    TAKE(tok_embd, V * C);
    TAKE(attn_norm, L * C);
    TAKE(wq, qlora ? 0 : L * Q * C);
    TAKE(wq_a, L * ql * C);
    TAKE(q_a_norm, L * ql);
    TAKE(wq_b, L * Q * ql);
    TAKE(wkv_a, mla ? L * (lat + rope) * C : 0);
    TAKE(kv_a_norm, L * lat);
    TAKE(wk_b, L * H * lat * nope);
    TAKE(wv_b, L * H * vh * lat);
    TAKE(wk, mla ? 0 : L * K * C);
    TAKE(wv, mla ? 0 : L * K * C);
    TAKE(wo, L * C * O);
    TAKE(ffn_norm, L * C);
    TAKE(w_gate, L * F * C);
    TAKE(w_up, L * F * C);
    TAKE(w_down, L * C * F);
    TAKE(output_norm, C);
    if (s->tied)
        lay->output = lay->tok_embd;
    else
        TAKE(output, V * C);
#undef TAKE
    lay->n_floats = at;
}

/* One per-layer tensor kind: GGUF name suffix, offset of layer 0, shape. */
typedef struct layer_kind {
    const char *name;
    size_t base;
    int64_t ne0, ne1, ne2;
    int32_t n_dims;
} layer_kind;

/* The per-layer tensors of this shape, in layout order; returns the count. */
#define MAX_KINDS 16
static int32_t layer_kinds(const ef_train_shape *s, const ef_train_layout *lay,
                           layer_kind k[MAX_KINDS]) {
    ef_train_attn_widths w;
    ef_train_attn_widths_of(s, &w);
    const int64_t C = s->dim, F = s->ff, H = s->n_head;
    int32_t n = 0;
#define KIND(nm, field, a, b, c, nd) (k[n++] = (layer_kind){nm, lay->field, a, b, c, nd})
    KIND("attn_norm.weight", attn_norm, C, 1, 1, 1);
    if (s->mla) {
        const int64_t lat = s->kv_lora, rope = s->qk_rope, nope = s->qk_nope, vh = s->v_head;
        if (s->q_lora > 0) {
            KIND("attn_q_a.weight", wq_a, C, s->q_lora, 1, 2);
            KIND("attn_q_a_norm.weight", q_a_norm, s->q_lora, 1, 1, 1);
            KIND("attn_q_b.weight", wq_b, s->q_lora, w.Q, 1, 2);
        } else {
            KIND("attn_q.weight", wq, C, w.Q, 1, 2);
        }
        KIND("attn_kv_a_mqa.weight", wkv_a, C, lat + rope, 1, 2);
        KIND("attn_kv_a_norm.weight", kv_a_norm, lat, 1, 1, 1);
        KIND("attn_k_b.weight", wk_b, nope, lat, H, 3);
        KIND("attn_v_b.weight", wv_b, lat, vh, H, 3);
    } else {
        KIND("attn_q.weight", wq, C, w.Q, 1, 2);
        KIND("attn_k.weight", wk, C, w.K, 1, 2);
        KIND("attn_v.weight", wv, C, w.K, 1, 2);
    }
    KIND("attn_output.weight", wo, w.O, C, 1, 2);
    KIND("ffn_norm.weight", ffn_norm, C, 1, 1, 1);
    KIND("ffn_gate.weight", w_gate, C, F, 1, 2);
    KIND("ffn_up.weight", w_up, C, F, 1, 2);
    KIND("ffn_down.weight", w_down, F, C, 1, 2);
#undef KIND
    return n;
}

/* token_embd, output_norm, and output if untied; then the layers' tensors. */
int32_t ef_train_tensor_count(const ef_train_shape *s) {
    layer_kind k[MAX_KINDS];
    const ef_train_layout none = {0};
    return 2 + (s->tied ? 0 : 1) + layer_kinds(s, &none, k) * s->n_layer;
}

void ef_train_tensor_at(const ef_train_shape *s, const ef_train_layout *lay, int32_t i,
                        ef_train_tensor_ref *out) {
    const int64_t C = s->dim;
    memset(out, 0, sizeof *out);
    out->ne2 = 1;
    if (i == 0) {
        snprintf(out->name, sizeof out->name, "token_embd.weight");
        out->offset = lay->tok_embd, out->ne0 = C, out->ne1 = s->n_vocab, out->n_dims = 2;
        return;
    }
    if (i == 1) {
        snprintf(out->name, sizeof out->name, "output_norm.weight");
        out->offset = lay->output_norm, out->ne0 = C, out->ne1 = 1, out->n_dims = 1;
        return;
    }
    if (!s->tied && i == 2) {
        snprintf(out->name, sizeof out->name, "output.weight");
        out->offset = lay->output, out->ne0 = C, out->ne1 = s->n_vocab, out->n_dims = 2;
        return;
    }
    layer_kind k[MAX_KINDS];
    const int32_t per_layer = layer_kinds(s, lay, k);
    const int32_t j = i - (s->tied ? 2 : 3), il = j / per_layer;
    const layer_kind *kd = &k[j % per_layer];
    snprintf(out->name, sizeof out->name, "blk.%d.%s", (int)il, kd->name);
    out->ne0 = kd->ne0, out->ne1 = kd->ne1, out->ne2 = kd->ne2, out->n_dims = kd->n_dims;
    out->offset = kd->base + (size_t)il * (size_t)(kd->ne0 * kd->ne1 * kd->ne2);
}

/* Standard normal by Box-Muller from the seeded stream. */
static float normal(ef_rng *r) {
    double u1 = ef_rng_uniform(r), u2 = ef_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void ef_train_init_params(const ef_train_shape *s, const ef_train_layout *lay, uint64_t seed,
                          float *params) {
    ef_rng r;
    ef_rng_seed(&r, seed);
    const float std = 0.02f, std_proj = 0.02f / sqrtf(2.0f * (float)s->n_layer);
    int32_t n = ef_train_tensor_count(s);
    for (int32_t i = 0; i < n; i++) {
        ef_train_tensor_ref t;
        ef_train_tensor_at(s, lay, i, &t);
        float *p = params + t.offset; /* [ne2, ne1, ne0] */
        size_t count = (size_t)(t.ne0 * t.ne1 * t.ne2);
        if (t.n_dims == 1) { /* norm weights */
            for (size_t k = 0; k < count; k++) p[k] = 1.0f;
            continue;
        }
        int proj = strstr(t.name, "attn_output") || strstr(t.name, "ffn_down");
        float sd = proj ? std_proj : std;
        for (size_t k = 0; k < count; k++) p[k] = sd * normal(&r);
    }
}
