/* Binding GGUF tensors to the weights of a llama/qwen2 model, by the names
 * the GGUF ecosystem uses, with each one's presence, type and shape checked. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "model/model.h"
#include "quant/types.h"

/* Per-layer tensors: "blk.N.<suffix>" → field of ef_layer. */
typedef struct {
    const char *suffix;
    size_t offset;
} layer_slot;

static const layer_slot k_layer_slots[] = {
    {"attn_norm.weight", offsetof(ef_layer, attn_norm)},
    {"attn_q.weight", offsetof(ef_layer, wq)},
    {"attn_k.weight", offsetof(ef_layer, wk)},
    {"attn_v.weight", offsetof(ef_layer, wv)},
    {"attn_output.weight", offsetof(ef_layer, wo)},
    {"attn_q.bias", offsetof(ef_layer, bq)},
    {"attn_k.bias", offsetof(ef_layer, bk)},
    {"attn_v.bias", offsetof(ef_layer, bv)},
    {"ffn_norm.weight", offsetof(ef_layer, ffn_norm)},
    {"ffn_gate.weight", offsetof(ef_layer, ffn_gate)},
    {"ffn_up.weight", offsetof(ef_layer, ffn_up)},
    {"ffn_down.weight", offsetof(ef_layer, ffn_down)},
    {"attn_q_a.weight", offsetof(ef_layer, wq_a)},
    {"attn_q_a_norm.weight", offsetof(ef_layer, q_a_norm)},
    {"attn_q_b.weight", offsetof(ef_layer, wq_b)},
    {"attn_kv_a_mqa.weight", offsetof(ef_layer, wkv_a_mqa)},
    {"attn_kv_a_norm.weight", offsetof(ef_layer, kv_a_norm)},
    {"attn_k_b.weight", offsetof(ef_layer, wk_b)},
    {"attn_v_b.weight", offsetof(ef_layer, wv_b)},
    {"attn_kv_b.weight", offsetof(ef_layer, wkv_b)},
    {"ffn_gate_inp.weight", offsetof(ef_layer, ffn_gate_inp)},
    {"ffn_gate_exps.weight", offsetof(ef_layer, ffn_gate_exps)},
    {"ffn_up_exps.weight", offsetof(ef_layer, ffn_up_exps)},
    {"ffn_down_exps.weight", offsetof(ef_layer, ffn_down_exps)},
    {"ffn_gate_shexp.weight", offsetof(ef_layer, ffn_gate_shexp)},
    {"ffn_up_shexp.weight", offsetof(ef_layer, ffn_up_shexp)},
    {"ffn_down_shexp.weight", offsetof(ef_layer, ffn_down_shexp)},
    {"exp_probs_b.bias", offsetof(ef_layer, exp_probs_b)},
};
#define N_LAYER_SLOTS ((int)(sizeof k_layer_slots / sizeof k_layer_slots[0]))

static const ef_tensor **layer_field(ef_layer *l, int slot) {
    return (const ef_tensor **)((char *)l + k_layer_slots[slot].offset);
}

/* Files "blk.N.x" into its layer slot; other names are left to the caller. */
static void file_layer_tensor(ef_model *m, const ef_tensor *t) {
    if (strncmp(t->name, "blk.", 4) != 0) return;
    char *end;
    long il = strtol(t->name + 4, &end, 10);
    if (end == t->name + 4 || *end != '.' || il < 0 || il >= m->hp.n_layer) return;
    for (int s = 0; s < N_LAYER_SLOTS; s++)
        if (strcmp(end + 1, k_layer_slots[s].suffix) == 0) *layer_field(&m->layers[il], s) = t;
}

static const ef_tensor *find_top(const ef_model *m, const char *name) {
    for (int64_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* Checks type and shape ({ne0}, {ne0, ne1} or {ne0, ne1, ne2}: trailing 0s drop a dim). */
static ef_status check3(const ef_tensor *t, const char *name, int64_t ne0, int64_t ne1, int64_t ne2);

static ef_status check(const ef_tensor *t, const char *name, int64_t ne0, int64_t ne1) {
    return check3(t, name, ne0, ne1, 0);
}

static ef_status check3(const ef_tensor *t, const char *name, int64_t ne0, int64_t ne1, int64_t ne2) {
    if (!t) return ef_err(EF_ERR_FORMAT, "missing tensor '%s'", name);
    const ef_type_info *ti = ef_type_get(t->type);
    if (!ti || !ti->to_float)
        return ef_err(EF_ERR_UNSUPPORTED, "tensor '%s' has type %s, which this build cannot compute with",
                      name, ef_type_name(t->type));
    int want_dims = ne2 ? 3 : ne1 ? 2 : 1;
    int ok = t->n_dims == want_dims && t->ne[0] == ne0 && (ne1 == 0 || t->ne[1] == ne1) &&
             (ne2 == 0 || t->ne[2] == ne2);
    for (int d = want_dims; d < 4; d++) ok = ok && t->ne[d] == 1;
    if (!ok) {
        char found[96] = "";
        int len = 0;
        for (int d = 0; d < t->n_dims && len < 80; d++)
            len += snprintf(found + len, sizeof found - (size_t)len, "%s%lld", d ? ", " : "",
                            (long long)t->ne[d]);
        if (ne2)
            return ef_err(EF_ERR_FORMAT, "tensor '%s' has shape {%s}, expected {%lld, %lld, %lld}", name,
                          found, (long long)ne0, (long long)ne1, (long long)ne2);
        if (ne1)
            return ef_err(EF_ERR_FORMAT, "tensor '%s' has shape {%s}, expected {%lld, %lld}", name,
                          found, (long long)ne0, (long long)ne1);
        return ef_err(EF_ERR_FORMAT, "tensor '%s' has shape {%s}, expected {%lld}", name, found,
                      (long long)ne0);
    }
    return EF_OK;
}

#define CHECK3(field, suffix, ne0, ne1, ne2)                             \
    do {                                                                 \
        snprintf(name, sizeof name, "blk.%d.%s", (int)il, suffix);       \
        EF_TRY(check3(l->field, name, ne0, ne1, ne2));                   \
    } while (0)
#define CHECK(field, suffix, ne0, ne1) CHECK3(field, suffix, ne0, ne1, 0)

/* MLA: query (low-rank or plain), the joint latent+RoPE-key projection, and
 * the per-head up-projections in the split or the legacy layout. */
static ef_status check_mla(const ef_model *m, int32_t il) {
    const ef_hparams *hp = &m->hp;
    const ef_layer *l = &m->layers[il];
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    char name[64];
    if (hp->q_lora_rank > 0) {
        CHECK(wq_a, "attn_q_a.weight", hp->n_embd, hp->q_lora_rank);
        CHECK(q_a_norm, "attn_q_a_norm.weight", hp->q_lora_rank, 0);
        CHECK(wq_b, "attn_q_b.weight", hp->q_lora_rank, q_dim);
    } else {
        CHECK(wq, "attn_q.weight", hp->n_embd, q_dim);
    }
    CHECK(wkv_a_mqa, "attn_kv_a_mqa.weight", hp->n_embd, hp->kv_lora_rank + hp->qk_rope_dim);
    CHECK(kv_a_norm, "attn_kv_a_norm.weight", hp->kv_lora_rank, 0);
    if (hp->mla_split) {
        CHECK3(wk_b, "attn_k_b.weight", hp->qk_nope_dim, hp->kv_lora_rank, hp->n_head);
        CHECK3(wv_b, "attn_v_b.weight", hp->kv_lora_rank, hp->v_head_dim, hp->n_head);
    } else {
        CHECK(wkv_b, "attn_kv_b.weight", hp->kv_lora_rank,
              (int64_t)hp->n_head * (hp->qk_nope_dim + hp->v_head_dim));
    }
    CHECK(wo, "attn_output.weight", (int64_t)hp->n_head * hp->v_head_dim, hp->n_embd);
    return EF_OK;
}

/* MoE: router, routed experts stacked along ne[2], optional shared experts. */
static ef_status check_moe(const ef_model *m, int32_t il) {
    const ef_hparams *hp = &m->hp;
    const ef_layer *l = &m->layers[il];
    const int64_t ne = hp->n_expert, nf = hp->n_ff_exp, sh = (int64_t)hp->n_ff_exp * hp->n_expert_shared;
    char name[64];
    CHECK(ffn_gate_inp, "ffn_gate_inp.weight", hp->n_embd, ne);
    CHECK3(ffn_gate_exps, "ffn_gate_exps.weight", hp->n_embd, nf, ne);
    CHECK3(ffn_up_exps, "ffn_up_exps.weight", hp->n_embd, nf, ne);
    CHECK3(ffn_down_exps, "ffn_down_exps.weight", nf, hp->n_embd, ne);
    if (sh > 0) {
        CHECK(ffn_gate_shexp, "ffn_gate_shexp.weight", hp->n_embd, sh);
        CHECK(ffn_up_shexp, "ffn_up_shexp.weight", hp->n_embd, sh);
        CHECK(ffn_down_shexp, "ffn_down_shexp.weight", sh, hp->n_embd);
    }
    if (l->exp_probs_b) CHECK(exp_probs_b, "exp_probs_b.bias", ne, 0);
    return EF_OK;
}

static ef_status check_layer(ef_model *m, int32_t il) {
    const ef_hparams *hp = &m->hp;
    ef_layer *l = &m->layers[il];
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    char name[64];
    CHECK(attn_norm, "attn_norm.weight", hp->n_embd, 0);
    if (hp->attn_kind == EF_ATTN_MLA) {
        EF_TRY(check_mla(m, il));
    } else {
        CHECK(wq, "attn_q.weight", hp->n_embd, q_dim);
        CHECK(wk, "attn_k.weight", hp->n_embd, kv_dim);
        CHECK(wv, "attn_v.weight", hp->n_embd, kv_dim);
        CHECK(wo, "attn_output.weight", q_dim, hp->n_embd);
    }
    if (m->arch == EF_ARCH_QWEN2) {
        CHECK(bq, "attn_q.bias", q_dim, 0);
        CHECK(bk, "attn_k.bias", kv_dim, 0);
        CHECK(bv, "attn_v.bias", kv_dim, 0);
    }
    CHECK(ffn_norm, "ffn_norm.weight", hp->n_embd, 0);
    l->is_moe = hp->n_expert > 0 && il >= hp->n_layer_dense_lead;
    l->n_swa = ef_hparams_layer_is_swa(hp, il) ? hp->n_swa : 0;
    if (l->is_moe) return check_moe(m, il);
    CHECK(ffn_gate, "ffn_gate.weight", hp->n_embd, hp->n_ff);
    CHECK(ffn_up, "ffn_up.weight", hp->n_embd, hp->n_ff);
    CHECK(ffn_down, "ffn_down.weight", hp->n_ff, hp->n_embd);
    return EF_OK;
}
#undef CHECK
#undef CHECK3

/* YaRN (static, as DeepSeek applies it): frequency i keeps its value above
 * the correction range, is divided by `factor` below it, and is blended
 * linearly inside; expressed as the divisors the RoPE kernel takes. */
static ef_status yarn_factors(ef_model *m) {
    const ef_hparams *hp = &m->hp;
    const int32_t half = hp->n_rot / 2;
    m->rope_factors = ef_malloc(sizeof(float) * (size_t)half);
    if (!m->rope_factors) return ef_err(EF_ERR_NO_MEMORY, "out of memory for the YaRN frequency factors");
    const double two_pi = 6.283185307179586, base = hp->rope_freq_base, orig = hp->yarn_orig_ctx;
    /* the dim whose wavelength makes n_rot rotations over the original context */
    const double corr_fast = hp->n_rot * log(orig / (32.0 * two_pi)) / (2.0 * log(base)); /* beta_fast 32 */
    const double corr_slow = hp->n_rot * log(orig / (1.0 * two_pi)) / (2.0 * log(base));  /* beta_slow 1 */
    double lo = floor(corr_fast), hi = ceil(corr_slow);
    if (lo < 0) lo = 0;
    if (hi > hp->n_rot - 1) hi = hp->n_rot - 1;
    if (hi == lo) hi += 0.001;
    for (int32_t i = 0; i < half; i++) {
        double ramp = (i - lo) / (hi - lo);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        const double keep = 1.0 - ramp; /* weight of the unscaled frequency */
        m->rope_factors[i] = (float)(1.0 / ((1.0 - keep) / hp->yarn_factor + keep));
    }
    return EF_OK;
}

/* Llama-3 frequency factors: converted once, each must be positive. */
static ef_status bind_rope_freqs(ef_model *m) {
    m->rope_freqs = find_top(m, "rope_freqs.weight");
    if (m->hp.yarn_factor > 0.0f) {
        if (m->rope_freqs)
            return ef_err(EF_ERR_UNSUPPORTED, "rope_freqs.weight together with YaRN scaling is not supported");
        return yarn_factors(m);
    }
    if (!m->rope_freqs) return EF_OK;
    EF_TRY(check(m->rope_freqs, "rope_freqs.weight", m->hp.n_rot / 2, 0));
    m->rope_factors = ef_malloc(sizeof(float) * (size_t)(m->hp.n_rot / 2));
    if (!m->rope_factors) return ef_err(EF_ERR_NO_MEMORY, "out of memory reading rope_freqs.weight");
    ef_type_get(m->rope_freqs->type)->to_float(m->rope_freqs->data, m->rope_factors, m->hp.n_rot / 2);
    for (int32_t i = 0; i < m->hp.n_rot / 2; i++)
        if (!(m->rope_factors[i] > 0.0f) || m->rope_factors[i] > 1e30f)
            return ef_err(EF_ERR_FORMAT, "rope_freqs.weight[%d] is %g, expected a positive factor",
                          (int)i, (double)m->rope_factors[i]);
    return EF_OK;
}

#define EF_MAX_VOCAB (1 << 24)

ef_status ef_weights_bind(ef_model *m) {
    ef_hparams *hp = &m->hp;
    m->tok_embd = find_top(m, "token_embd.weight");
    if (!m->tok_embd) return ef_err(EF_ERR_FORMAT, "missing tensor 'token_embd.weight'");
    if (m->tok_embd->n_dims != 2 || m->tok_embd->ne[1] < 1 || m->tok_embd->ne[1] > EF_MAX_VOCAB)
        return ef_err(EF_ERR_FORMAT, "tensor 'token_embd.weight' must be {%d, n_vocab} with n_vocab in 1..%d",
                      (int)hp->n_embd, EF_MAX_VOCAB);
    hp->n_vocab = (int32_t)m->tok_embd->ne[1];
    EF_TRY(check(m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab));

    m->output_norm = find_top(m, "output_norm.weight");
    EF_TRY(check(m->output_norm, "output_norm.weight", hp->n_embd, 0));
    m->output = find_top(m, "output.weight");
    if (m->output)
        EF_TRY(check(m->output, "output.weight", hp->n_embd, hp->n_vocab));
    else
        m->output = m->tok_embd; /* tied embeddings */
    EF_TRY(bind_rope_freqs(m));

    m->layers = ef_calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return ef_err(EF_ERR_NO_MEMORY, "out of memory binding %d layers", (int)hp->n_layer);
    for (int64_t i = 0; i < m->n_tensors; i++) file_layer_tensor(m, &m->tensors[i]);
    for (int32_t il = 0; il < hp->n_layer; il++) EF_TRY(check_layer(m, il));
    if (m->arch != EF_ARCH_QWEN2)
        for (int32_t il = 0; il < hp->n_layer; il++)
            if (m->layers[il].bq || m->layers[il].bk || m->layers[il].bv)
                EF_LOGW("%s: layer %d has attention biases, which this architecture ignores",
                        m->arch_name, (int)il);
    return EF_OK;
}
