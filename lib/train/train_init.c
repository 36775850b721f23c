/* Fine-tuning: the shape and starting weights of the trainer read from a
 * GGUF the engine runs as llama (llama or edgeformer files; F32, F16 or
 * BF16 weights, quantized types need dequantizing first). */
#include <string.h>

#include "model/sparsity.h"
#include "quant/types.h"
#include "train/trainer.h"

/* What the trainer's graph does not model is refused rather than ignored. */
static ef_status check_trainable(const ef_model *m, const char *path) {
    const ef_hparams *hp = &m->hp;
    if (m->arch != EF_ARCH_LLAMA)
        return ef_err(EF_ERR_UNSUPPORTED, "fine-tuning '%s': architecture '%s' is not trainable "
                      "(llama and edgeformer are)", path, m->arch_name);
    if (hp->attn_kind == EF_ATTN_MLA && (!hp->mla_split || hp->yarn_factor > 0.0f))
        return ef_err(EF_ERR_UNSUPPORTED, "fine-tuning '%s': MLA in the legacy attn_kv_b layout or "
                      "with YaRN is not trainable (the split attn_k_b/attn_v_b layout is)", path);
    const int full_rotary = hp->attn_kind == EF_ATTN_MLA
                                ? hp->n_rot == hp->qk_rope_dim
                                : hp->n_rot == hp->head_dim && hp->head_dim * hp->n_head == hp->n_embd;
    if (m->rope_factors || hp->rope_freq_scale != 1.0f || !full_rotary)
        return ef_err(EF_ERR_UNSUPPORTED, "fine-tuning '%s': RoPE scaling, partial rotary or a "
                      "head size other than dim/heads is not trainable yet", path);
    for (int32_t il = 1; il < hp->n_layer; il++)
        if (!m->layers[il].is_moe && !m->layers[0].is_moe &&
            ef_layer_n_ff(&m->layers[il]) != ef_layer_n_ff(&m->layers[0]))
            return ef_err(EF_ERR_UNSUPPORTED, "fine-tuning '%s': its FFN width differs per layer "
                          "(a per-layer keep mask); not trainable yet", path);
    return EF_OK;
}

ef_status ef_train_init_open(const char *path, ef_train_shape *shape, ef_model **out) {
    ef_gguf *g;
    *out = NULL;
    EF_TRY(ef_gguf_open(path, 1, &g));
    ef_model *m;
    EF_TRY(ef_model_from_gguf(g, &m)); /* owns g, also on failure */
    ef_status st = check_trainable(m, path);
    if (st != EF_OK) {
        ef_model_release(m);
        return st;
    }
    const ef_hparams *hp = &m->hp;
    shape->n_vocab = hp->n_vocab;
    shape->dim = hp->n_embd;
    shape->n_layer = hp->n_layer;
    shape->n_head = hp->n_head;
    shape->n_kv = hp->n_head_kv;
    shape->ff = hp->n_ff;
    shape->norm_eps = hp->norm_eps;
    shape->rope_base = hp->rope_freq_base;
    shape->tied = m->output == m->tok_embd;
    shape->window = hp->n_swa;
    shape->swa_pattern = hp->n_swa > 0 && hp->swa_pattern > 1 ? hp->swa_pattern : 0;
    shape->sinks = hp->n_swa > 0 ? hp->n_sinks : 0;
    shape->mla = hp->attn_kind == EF_ATTN_MLA;
    if (shape->mla) {
        shape->q_lora = hp->q_lora_rank;
        shape->kv_lora = hp->kv_lora_rank;
        shape->qk_nope = hp->qk_nope_dim;
        shape->qk_rope = hp->qk_rope_dim;
        shape->v_head = hp->v_head_dim;
    }
    *out = m;
    return EF_OK;
}

ef_status ef_train_init_copy(const ef_model *m, const ef_train_shape *s, const ef_train_layout *lay,
                             float *params) {
    const int32_t n = ef_train_tensor_count(s);
    for (int32_t i = 0; i < n; i++) {
        ef_train_tensor_ref r;
        ef_train_tensor_at(s, lay, i, &r);
        const ef_tensor *t = NULL;
        for (int64_t k = 0; k < m->n_tensors && !t; k++)
            if (strcmp(m->tensors[k].name, r.name) == 0) t = &m->tensors[k];
        if (!t) return ef_err(EF_ERR_FORMAT, "fine-tuning: the model has no tensor '%s'", r.name);
        if (t->ne[0] != r.ne0 || t->ne[1] != r.ne1 || t->ne[2] != r.ne2)
            return ef_err(EF_ERR_FORMAT, "fine-tuning: tensor '%s' has shape {%lld, %lld, %lld}, "
                          "expected {%lld, %lld, %lld}", r.name, (long long)t->ne[0],
                          (long long)t->ne[1], (long long)t->ne[2], (long long)r.ne0,
                          (long long)r.ne1, (long long)r.ne2);
        if (t->type != EF_TYPE_F32 && t->type != EF_TYPE_F16 && t->type != EF_TYPE_BF16)
            return ef_err(EF_ERR_UNSUPPORTED, "fine-tuning: tensor '%s' is %s; only F32, F16 and "
                          "BF16 weights can be trained", r.name, ef_type_name(t->type));
        ef_type_get(t->type)->to_float(t->data, params + r.offset, r.ne0 * r.ne1 * r.ne2);
    }
    return EF_OK;
}
