/* Hyperparameters from "{arch}.*" metadata keys, as GGUF converters write
 * them (specs.md §2), with llama.cpp's defaults and sanity limits. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "model/model.h"

/* Far above any published model, far below what overflows the size math. */
#define EF_MAX_LAYERS   512
#define EF_MAX_EMBD     65536
#define EF_MAX_HEADS    4096
#define EF_MAX_HEAD_DIM 4096
#define EF_MAX_FF       (1 << 20)
#define EF_MAX_CTX      (1 << 24)

typedef struct {
    const ef_gguf *g;
    const char *arch;
    char key[128]; /* the last key built */
} key_reader;

static const char *key_of(key_reader *r, const char *suffix) {
    snprintf(r->key, sizeof r->key, "%s.%s", r->arch, suffix);
    return r->key;
}

static ef_status missing(const char *key) {
    return ef_err(EF_ERR_FORMAT, "missing hyperparameter '%s'", key);
}

/* Required integer in [lo, hi]. */
static ef_status read_int(key_reader *r, const char *suffix, int32_t lo, int32_t hi, int32_t *out) {
    const char *key = key_of(r, suffix);
    if (ef_gguf_find_key(r->g, key) < 0) return missing(key);
    EF_TRY(ef_gguf_get_i32(r->g, key, out));
    if (*out < lo || *out > hi)
        return ef_err(EF_ERR_FORMAT, "hyperparameter '%s' is %d, expected %d..%d", key, (int)*out,
                      (int)lo, (int)hi);
    return EF_OK;
}

/* Optional integer in [lo, hi], `def` when absent. */
static ef_status read_int_or(key_reader *r, const char *suffix, int32_t def, int32_t lo, int32_t hi,
                             int32_t *out) {
    if (ef_gguf_find_key(r->g, key_of(r, suffix)) < 0) {
        *out = def;
        return EF_OK;
    }
    return read_int(r, suffix, lo, hi, out);
}

/* Optional positive finite float, `def` when absent (required when def < 0). */
static ef_status read_pos_float(key_reader *r, const char *suffix, float def, float *out) {
    const char *key = key_of(r, suffix);
    if (ef_gguf_find_key(r->g, key) < 0) {
        if (def < 0) return missing(key);
        *out = def;
        return EF_OK;
    }
    EF_TRY(ef_gguf_get_f32(r->g, key, out));
    if (!(*out > 0.0f) || !isfinite(*out))
        return ef_err(EF_ERR_FORMAT, "hyperparameter '%s' is %g, expected a positive number", key,
                      (double)*out);
    return EF_OK;
}

/* rope.scaling.type: "linear" sets freq_scale = 1/factor; "none" or absent
 * leaves 1; anything else is warned about and ignored. */
static ef_status read_rope_scaling(key_reader *r, ef_hparams *hp) {
    hp->rope_freq_scale = 1.0f;
    const char *key = key_of(r, "rope.scaling.type");
    if (ef_gguf_find_key(r->g, key) < 0) return EF_OK;
    const char *s;
    uint64_t len;
    EF_TRY(ef_gguf_get_str(r->g, key, &s, &len));
    if (len == 4 && memcmp(s, "none", 4) == 0) return EF_OK;
    if (len == 6 && memcmp(s, "linear", 6) == 0) {
        float factor;
        EF_TRY(read_pos_float(r, "rope.scaling.factor", -1.0f, &factor));
        hp->rope_freq_scale = 1.0f / factor;
        return EF_OK;
    }
    if (len == 4 && memcmp(s, "yarn", 4) == 0) {
        EF_TRY(read_pos_float(r, "rope.scaling.factor", -1.0f, &hp->yarn_factor));
        EF_TRY(read_int_or(r, "rope.scaling.original_context_length", hp->n_ctx_train, 1, EF_MAX_CTX,
                           &hp->yarn_orig_ctx));
        hp->yarn_log_mul = 0.0f;
        if (ef_gguf_find_key(r->g, key_of(r, "rope.scaling.yarn_log_multiplier")) >= 0)
            EF_TRY(ef_gguf_get_f32(r->g, r->key, &hp->yarn_log_mul));
        if (!isfinite(hp->yarn_log_mul) || hp->yarn_log_mul < 0.0f || hp->yarn_log_mul > 10.0f)
            return ef_err(EF_ERR_FORMAT, "hyperparameter '%s' is %g, expected 0..10", r->key,
                          (double)hp->yarn_log_mul);
        return EF_OK;
    }
    EF_LOGW("%s '%.*s' is not supported; running without rope scaling", r->key,
            (int)(len > 64 ? 64 : len), s);
    return EF_OK;
}

/* The latent ranks and head dims of Multi-head Latent Attention. deepseek2
 * files with attention.key_length_mla hold attn_k_b/attn_v_b (key_length is
 * then kv_lora + rope); without them, the legacy attn_kv_b whose key_length
 * is nope + rope and value_length the value head. */
static ef_status read_mla(key_reader *r, ef_hparams *hp) {
    hp->attn_kind = EF_ATTN_MLA;
    EF_TRY(read_int_or(r, "attention.q_lora_rank", 0, 0, EF_MAX_EMBD, &hp->q_lora_rank));
    EF_TRY(read_int(r, "attention.kv_lora_rank", 1, EF_MAX_EMBD, &hp->kv_lora_rank));
    hp->qk_rope_dim = hp->n_rot;
    if (ef_gguf_find_key(r->g, key_of(r, "attention.key_length_mla")) >= 0) {
        int32_t k_mla;
        EF_TRY(read_int(r, "attention.key_length_mla", hp->n_rot + 1, EF_MAX_HEAD_DIM, &k_mla));
        EF_TRY(read_int(r, "attention.value_length_mla", 1, EF_MAX_HEAD_DIM, &hp->v_head_dim));
        hp->qk_nope_dim = k_mla - hp->n_rot;
        hp->mla_split = 1;
    } else {
        /* legacy: key_length = nope + rope, value_length = v */
        int32_t v_len;
        EF_TRY(read_int_or(r, "attention.value_length", hp->head_dim, 1, EF_MAX_HEAD_DIM, &v_len));
        if (hp->head_dim <= hp->n_rot)
            return ef_err(EF_ERR_FORMAT, "'%s.attention.key_length' (%d) must exceed '%s.rope.dimension_count' (%d)",
                          r->arch, (int)hp->head_dim, r->arch, (int)hp->n_rot);
        hp->qk_nope_dim = hp->head_dim - hp->n_rot;
        hp->v_head_dim = v_len;
        hp->mla_split = 0;
    }
    /* head_dim now means the query/key head: nope + rope. */
    hp->head_dim = hp->qk_nope_dim + hp->qk_rope_dim;
    hp->n_head_kv = hp->n_head;
    return EF_OK;
}

/* The MoE FFN keys (deepseek2); absent expert_count means dense layers. */
static ef_status read_moe(key_reader *r, ef_hparams *hp) {
    EF_TRY(read_int_or(r, "expert_count", 0, 0, 4096, &hp->n_expert));
    if (hp->n_expert == 0) return EF_OK;
    EF_TRY(read_int(r, "expert_used_count", 1, hp->n_expert, &hp->n_expert_used));
    EF_TRY(read_int_or(r, "expert_shared_count", 0, 0, 64, &hp->n_expert_shared));
    EF_TRY(read_int(r, "expert_feed_forward_length", 1, EF_MAX_FF, &hp->n_ff_exp));
    EF_TRY(read_int_or(r, "leading_dense_block_count", 0, 0, hp->n_layer, &hp->n_layer_dense_lead));
    EF_TRY(read_pos_float(r, "expert_weights_scale", 1.0f, &hp->expert_weights_scale));
    hp->expert_weights_norm = 0;
    if (ef_gguf_find_key(r->g, key_of(r, "expert_weights_norm")) >= 0)
        EF_TRY(ef_gguf_get_bool(r->g, r->key, &hp->expert_weights_norm));
    int32_t gating;
    EF_TRY(read_int_or(r, "expert_gating_func", EF_MOE_SOFTMAX, 1, 2, &gating));
    hp->expert_gating = (ef_moe_gating)gating;
    int32_t groups;
    EF_TRY(read_int_or(r, "expert_group_count", 1, 1, 4096, &groups));
    if (groups > 1)
        return ef_err(EF_ERR_UNSUPPORTED, "'%s.expert_group_count' is %d; group-limited routing is not supported",
                      r->arch, (int)groups);
    return EF_OK;
}

/* attention.sliding_window (+ _pattern) and the project's attention.sink_count. */
static ef_status read_window(key_reader *r, ef_hparams *hp) {
    EF_TRY(read_int_or(r, "attention.sliding_window", 0, 0, EF_MAX_CTX, &hp->n_swa));
    EF_TRY(read_int_or(r, "attention.sliding_window_pattern", 1, 1, EF_MAX_LAYERS, &hp->swa_pattern));
    EF_TRY(read_int_or(r, "attention.sink_count", 0, 0, EF_MAX_CTX, &hp->n_sinks));
    return EF_OK;
}

/* edgeformer.attention.type: mha, gqa (llama's graph), mla, mla_window,
 * gqa_window. Absent means "gqa". Window types need attention.sliding_window. */
static ef_status read_edgeformer_attention(key_reader *r, ef_hparams *hp) {
    const char *key = key_of(r, "attention.type");
    if (ef_gguf_find_key(r->g, key) < 0) return EF_OK;
    const char *s;
    uint64_t len;
    EF_TRY(ef_gguf_get_str(r->g, key, &s, &len));
    char type[16] = "";
    if (len < sizeof type) memcpy(type, s, len);
    const int mla = !strcmp(type, "mla") || !strcmp(type, "mla_window");
    const int window = !strcmp(type, "mla_window") || !strcmp(type, "gqa_window");
    if (!mla && !window && strcmp(type, "mha") && strcmp(type, "gqa"))
        return ef_err(EF_ERR_UNSUPPORTED, "'%s' is '%.*s'; expected mha, gqa, mla, mla_window or gqa_window",
                      key, (int)(len > 64 ? 64 : len), s);
    if (mla) {
        /* MLA runs in the split layout only (deepseek2's *_mla keys); a file
         * declaring mla without its latent ranks is a layout we do not know. */
        if (ef_gguf_find_key(r->g, key_of(r, "attention.kv_lora_rank")) < 0 ||
            ef_gguf_find_key(r->g, key_of(r, "attention.key_length_mla")) < 0)
            return ef_err(EF_ERR_UNSUPPORTED,
                          "'%s.attention.type' is '%s' but '%s.attention.kv_lora_rank' or "
                          "'%s.attention.key_length_mla' is missing; this build runs MLA only with them",
                          r->arch, type, r->arch, r->arch);
        EF_TRY(read_mla(r, hp));
    }
    if (window && hp->n_swa == 0)
        return ef_err(EF_ERR_FORMAT, "'%s' is '%s' but '%s.attention.sliding_window' is missing or 0", key,
                      type, r->arch);
    return EF_OK;
}

int32_t ef_hparams_layer_is_swa(const ef_hparams *hp, int32_t il) {
    if (hp->n_swa <= 0) return 0;
    const int32_t p = hp->swa_pattern > 0 ? hp->swa_pattern : 1;
    return p == 1 || il % p < p - 1;
}

ef_status ef_hparams_read(const ef_gguf *g, const char *arch_name, ef_arch arch, ef_hparams *hp) {
    key_reader r = {.g = g, .arch = arch_name};
    memset(hp, 0, sizeof *hp);
    EF_TRY(read_int(&r, "block_count", 1, EF_MAX_LAYERS, &hp->n_layer));
    EF_TRY(read_int(&r, "context_length", 1, EF_MAX_CTX, &hp->n_ctx_train));
    EF_TRY(read_int(&r, "embedding_length", 1, EF_MAX_EMBD, &hp->n_embd));
    EF_TRY(read_int(&r, "feed_forward_length", 1, EF_MAX_FF, &hp->n_ff));
    EF_TRY(read_int(&r, "attention.head_count", 1, EF_MAX_HEADS, &hp->n_head));
    EF_TRY(read_int_or(&r, "attention.head_count_kv", hp->n_head, 1, EF_MAX_HEADS, &hp->n_head_kv));
    if (hp->n_head % hp->n_head_kv != 0)
        return ef_err(EF_ERR_FORMAT,
                      "'%s.attention.head_count' (%d) is not a multiple of "
                      "'%s.attention.head_count_kv' (%d)",
                      arch_name, (int)hp->n_head, arch_name, (int)hp->n_head_kv);

    /* Head size: attention.key_length, else n_embd / n_head exactly. */
    if (ef_gguf_find_key(g, key_of(&r, "attention.key_length")) >= 0) {
        EF_TRY(read_int(&r, "attention.key_length", 1, EF_MAX_HEAD_DIM, &hp->head_dim));
    } else {
        if (hp->n_embd % hp->n_head != 0)
            return ef_err(EF_ERR_FORMAT,
                          "'%s.embedding_length' (%d) is not a multiple of "
                          "'%s.attention.head_count' (%d) and no '%s.attention.key_length' is given",
                          arch_name, (int)hp->n_embd, arch_name, (int)hp->n_head, arch_name);
        hp->head_dim = hp->n_embd / hp->n_head;
        if (hp->head_dim > EF_MAX_HEAD_DIM)
            return ef_err(EF_ERR_FORMAT, "head size %d (from '%s.embedding_length') exceeds %d",
                          (int)hp->head_dim, arch_name, EF_MAX_HEAD_DIM);
    }

    EF_TRY(read_int_or(&r, "rope.dimension_count", hp->head_dim, 2, hp->head_dim, &hp->n_rot));
    if (hp->n_rot % 2 != 0)
        return ef_err(EF_ERR_FORMAT, "'%s.rope.dimension_count' is %d, expected an even number",
                      arch_name, (int)hp->n_rot);
    EF_TRY(read_pos_float(&r, "attention.layer_norm_rms_epsilon", -1.0f, &hp->norm_eps));
    EF_TRY(read_pos_float(&r, "rope.freq_base", 10000.0f, &hp->rope_freq_base));
    EF_TRY(read_rope_scaling(&r, hp));
    hp->rope_mode = arch == EF_ARCH_QWEN2 ? EF_ROPE_NEOX : EF_ROPE_NORM;
    hp->expert_weights_scale = 1.0f;
    EF_TRY(read_window(&r, hp));
    if (arch == EF_ARCH_DEEPSEEK2) {
        EF_TRY(read_mla(&r, hp));
        EF_TRY(read_moe(&r, hp));
    }
    if (strcmp(arch_name, "edgeformer") == 0) EF_TRY(read_edgeformer_attention(&r, hp));

    /* Score scale: 1/sqrt(query head), times mscale² under YaRN (DeepSeek). */
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (hp->yarn_factor > 0.0f && hp->yarn_log_mul > 0.0f) {
        const float mscale = 1.0f + hp->yarn_log_mul * logf(hp->yarn_factor);
        hp->kq_scale *= mscale * mscale;
    }
    return EF_OK;
}
