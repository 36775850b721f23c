/* The parameter layout: every tensor of the model as a slice of one flat
 * buffer, named as GGUF names it, and the random initialisation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sample/rng.h"
#include "train/train.h"

int32_t ef_train_head_dim(const ef_train_shape *s) { return s->dim / s->n_head; }

ef_status ef_train_shape_check(const ef_train_shape *s) {
    if (s->n_vocab < 2 || s->n_vocab > (1 << 24))
        return ef_err(EF_ERR_INVALID_ARG, "training: vocabulary size %d is out of range", (int)s->n_vocab);
    if (s->dim < 2 || s->dim > 16384 || s->n_layer < 1 || s->n_layer > 256 || s->ff < 1 ||
        s->ff > 65536 || s->seq < 2 || s->seq > 65536)
        return ef_err(EF_ERR_INVALID_ARG,
                      "training: shape dim=%d layers=%d ff=%d seq=%d is out of range", (int)s->dim,
                      (int)s->n_layer, (int)s->ff, (int)s->seq);
    if (s->n_head < 1 || s->n_kv < 1 || s->dim % s->n_head != 0 || s->n_head % s->n_kv != 0)
        return ef_err(EF_ERR_INVALID_ARG,
                      "training: heads=%d kv-heads=%d must divide dim=%d and heads respectively",
                      (int)s->n_head, (int)s->n_kv, (int)s->dim);
    if ((s->dim / s->n_head) % 2 != 0)
        return ef_err(EF_ERR_INVALID_ARG, "training: head size %d must be even for RoPE",
                      (int)(s->dim / s->n_head));
    if (!(s->norm_eps > 0.0f) || !(s->rope_base > 1.0f))
        return ef_err(EF_ERR_INVALID_ARG, "training: norm epsilon and rope base must be positive");
    return EF_OK;
}

void ef_train_layout_make(const ef_train_shape *s, ef_train_layout *lay) {
    const size_t V = (size_t)s->n_vocab, C = (size_t)s->dim, L = (size_t)s->n_layer,
                 F = (size_t)s->ff, hd = (size_t)ef_train_head_dim(s);
    const size_t Q = (size_t)s->n_head * hd, K = (size_t)s->n_kv * hd;
    size_t at = 0;
#define TAKE(field, count) (lay->field = at, at += (count))
    TAKE(tok_embd, V * C);
    TAKE(attn_norm, L * C);
    TAKE(wq, L * Q * C);
    TAKE(wk, L * K * C);
    TAKE(wv, L * K * C);
    TAKE(wo, L * C * Q);
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

/* Per layer: 9 tensors; then token_embd, output_norm, and output if untied. */
#define PER_LAYER 9
int32_t ef_train_tensor_count(const ef_train_shape *s) {
    return 2 + (s->tied ? 0 : 1) + PER_LAYER * s->n_layer;
}

void ef_train_tensor_at(const ef_train_shape *s, const ef_train_layout *lay, int32_t i,
                        ef_train_tensor_ref *out) {
    const int64_t C = s->dim, F = s->ff, hd = ef_train_head_dim(s);
    const int64_t Q = s->n_head * hd, K = s->n_kv * hd;
    memset(out, 0, sizeof *out);
    if (i == 0) {
        snprintf(out->name, sizeof out->name, "token_embd.weight");
        out->offset = lay->tok_embd, out->ne0 = C, out->ne1 = s->n_vocab;
        return;
    }
    if (i == 1) {
        snprintf(out->name, sizeof out->name, "output_norm.weight");
        out->offset = lay->output_norm, out->ne0 = C, out->ne1 = 1;
        return;
    }
    if (!s->tied && i == 2) {
        snprintf(out->name, sizeof out->name, "output.weight");
        out->offset = lay->output, out->ne0 = C, out->ne1 = s->n_vocab;
        return;
    }
    int32_t j = i - (s->tied ? 2 : 3);
    int32_t il = j / PER_LAYER;
    static const char *const names[PER_LAYER] = {
        "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
        "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"};
    /* {offset of layer 0, ne0, ne1} per kind */
    const size_t base[PER_LAYER] = {lay->attn_norm, lay->wq, lay->wk, lay->wv, lay->wo,
                                    lay->ffn_norm, lay->w_gate, lay->w_up, lay->w_down};
    const int64_t ne0[PER_LAYER] = {C, C, C, C, Q, C, C, C, F};
    const int64_t ne1[PER_LAYER] = {1, Q, K, K, C, 1, F, F, C};
    int32_t kind = j % PER_LAYER;
    snprintf(out->name, sizeof out->name, "blk.%d.%s", (int)il, names[kind]);
    out->ne0 = ne0[kind];
    out->ne1 = ne1[kind];
    out->offset = base[kind] + (size_t)il * (size_t)(ne0[kind] * ne1[kind]);
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
        float *p = params + t.offset; /* [ne1, ne0] */
        size_t count = (size_t)(t.ne0 * t.ne1);
        if (t.ne1 == 1) { /* norm weights */
            for (size_t k = 0; k < count; k++) p[k] = 1.0f;
            continue;
        }
        int proj = strstr(t.name, "attn_output") || strstr(t.name, "ffn_down");
        float sd = proj ? std_proj : std;
        for (size_t k = 0; k < count; k++) p[k] = sd * normal(&r);
    }
}
