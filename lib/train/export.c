/* Export: the trained model as an F32 GGUF of architecture "edgeformer"
 * (llama's tensor names and layout, NORM RoPE; deepseek2's split MLA
 * tensors for mla*) with the tokenizer's keys. */
#include <string.h>

#include "quant/types.h"
#include "train/trainer.h"

/* MLA's split layout (deepseek2's *_mla keys: key/value_length describe
 * the cached latent row) and the window keys. */
static ef_status write_attention_keys(ef_gguf_writer *w, const ef_train_shape *s) {
    if (s->mla) {
        if (s->q_lora > 0)
            EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.q_lora_rank", (uint32_t)s->q_lora));
        EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.kv_lora_rank", (uint32_t)s->kv_lora));
        EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.key_length",
                                      (uint32_t)(s->kv_lora + s->qk_rope)));
        EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.value_length", (uint32_t)s->kv_lora));
        EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.key_length_mla",
                                      (uint32_t)(s->qk_nope + s->qk_rope)));
        EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.value_length_mla", (uint32_t)s->v_head));
        EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.rope.dimension_count", (uint32_t)s->qk_rope));
    }
    if (s->window > 0) {
        EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.sliding_window", (uint32_t)s->window));
        if (s->swa_pattern > 1)
            EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.sliding_window_pattern",
                                          (uint32_t)s->swa_pattern));
        if (s->sinks > 0)
            EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.sink_count", (uint32_t)s->sinks));
    }
    return EF_OK;
}

static ef_status write_gguf(const ef_trainer *t, ef_gguf_writer *w, const char *path) {
    const ef_train_shape *s = &t->p.shape;
    EF_TRY(ef_gguf_writer_set_str(w, "general.architecture", "edgeformer"));
    EF_TRY(ef_gguf_writer_set_str(w, "general.name", "edgeformer"));
    EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.block_count", (uint32_t)s->n_layer));
    EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.context_length", (uint32_t)s->seq));
    EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.embedding_length", (uint32_t)s->dim));
    EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.feed_forward_length", (uint32_t)s->ff));
    EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.head_count", (uint32_t)s->n_head));
    /* MLA caches one latent row: one kv head (the engine uses n_head heads) */
    EF_TRY(ef_gguf_writer_set_u32(w, "edgeformer.attention.head_count_kv",
                                  (uint32_t)(s->mla ? 1 : s->n_kv)));
    EF_TRY(ef_gguf_writer_set_f32(w, "edgeformer.attention.layer_norm_rms_epsilon", s->norm_eps));
    EF_TRY(ef_gguf_writer_set_f32(w, "edgeformer.rope.freq_base", s->rope_base));
    EF_TRY(ef_gguf_writer_set_str(w, "edgeformer.attention.type", ef_train_attn_type(s)));
    EF_TRY(write_attention_keys(w, s));
    /* the tokenizer, exactly as the trainer used it */
    for (int64_t i = 0; i < ef_gguf_n_kv(t->tok_gguf); i++)
        if (strncmp(ef_gguf_key(t->tok_gguf, i), "tokenizer.", 10) == 0)
            EF_TRY(ef_gguf_writer_copy_kv(w, t->tok_gguf, i));
    const int32_t n = ef_train_tensor_count(s);
    for (int32_t i = 0; i < n; i++) {
        ef_train_tensor_ref r;
        ef_train_tensor_at(s, &t->model.lay, i, &r);
        const int64_t ne[3] = {r.ne0, r.ne1, r.ne2};
        EF_TRY(ef_gguf_writer_add_tensor(w, r.name, EF_TYPE_F32, r.n_dims, ne,
                                         t->model.params + r.offset,
                                         (uint64_t)(r.ne0 * r.ne1 * r.ne2) * sizeof(float)));
    }
    return ef_gguf_writer_write(w, path);
}

ef_status ef_trainer_export(const ef_trainer *t, const char *path) {
    if (!t || !path) return ef_err(EF_ERR_INVALID_ARG, "ef_trainer_export: NULL argument");
    ef_gguf_writer *w;
    EF_TRY(ef_gguf_writer_create(&w));
    ef_status st = write_gguf(t, w, path);
    ef_gguf_writer_free(w);
    return st;
}
