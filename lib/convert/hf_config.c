/* config.json of a Hugging Face causal LM → the hyperparameters GGUF keeps
 * under "{arch}.*", spelled as lib/model/hparams.c reads them. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "convert/convert.h"
#include "model/model.h"

/* HF class name → GGUF architecture. */
static const struct {
    const char *hf_class, *model_type, *gguf;
    int32_t arch;
} k_archs[] = {
    {"LlamaForCausalLM", "llama", "llama", EF_ARCH_LLAMA},
    {"Qwen2ForCausalLM", "qwen2", "qwen2", EF_ARCH_QWEN2},
};

/* Far above published models; keeps later size arithmetic in range. */
#define MAX_DIM (1 << 24)

static ef_status get_int(const cJSON *cfg, const char *key, int64_t def, int64_t lo, int64_t hi,
                         int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        if (def == INT64_MIN) return ef_err(EF_ERR_FORMAT, "config.json: missing '%s'", key);
        *out = def;
        return EF_OK;
    }
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return ef_err(EF_ERR_FORMAT, "config.json: '%s' must be an integer in %lld..%lld", key,
                      (long long)lo, (long long)hi);
    *out = (int64_t)v->valuedouble;
    return EF_OK;
}

static ef_status get_pos_double(const cJSON *cfg, const char *key, double def, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return ef_err(EF_ERR_FORMAT, "config.json: missing '%s'", key);
        *out = def;
        return EF_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
        return ef_err(EF_ERR_FORMAT, "config.json: '%s' must be a positive number", key);
    *out = v->valuedouble;
    return EF_OK;
}

static ef_status read_arch(const cJSON *root, ef_hf_config *cfg) {
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const char *name = NULL;
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
        name = cJSON_GetArrayItem(archs, 0)->valuestring;
    for (size_t i = 0; i < sizeof k_archs / sizeof *k_archs; i++)
        if ((name && !strcmp(name, k_archs[i].hf_class)) ||
            (!name && cJSON_IsString(mt) && !strcmp(mt->valuestring, k_archs[i].model_type))) {
            cfg->arch_name = k_archs[i].gguf;
            cfg->arch = k_archs[i].arch;
            return EF_OK;
        }
    if (!name && !cJSON_IsString(mt))
        return ef_err(EF_ERR_FORMAT, "config.json: no 'architectures' or 'model_type'");
    return ef_err(EF_ERR_UNSUPPORTED, "config.json: architecture '%s' is not supported "
                  "(LlamaForCausalLM, Qwen2ForCausalLM)", name ? name : mt->valuestring);
}

static ef_status read_rope_scaling(const cJSON *root, ef_hf_config *cfg) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    cfg->rope_scaling = EF_HF_ROPE_NONE;
    if (!rs || cJSON_IsNull(rs)) return EF_OK;
    if (!cJSON_IsObject(rs)) return ef_err(EF_ERR_FORMAT, "config.json: 'rope_scaling' is not an object");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(type)) type = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(type))
        return ef_err(EF_ERR_FORMAT, "config.json: 'rope_scaling' has no 'type' or 'rope_type'");
    const char *t = type->valuestring;
    if (!strcmp(t, "default")) return EF_OK;
    if (!strcmp(t, "dynamic")) {
        /* Dynamic NTK only changes positions past the training context. */
        EF_LOGW("convert: rope_scaling type 'dynamic' is not stored; the model runs unscaled");
        return EF_OK;
    }
    if (!strcmp(t, "linear")) {
        cfg->rope_scaling = EF_HF_ROPE_LINEAR;
        return get_pos_double(rs, "factor", -1, &cfg->rope_factor);
    }
    if (!strcmp(t, "llama3")) {
        cfg->rope_scaling = EF_HF_ROPE_LLAMA3;
        EF_TRY(get_pos_double(rs, "factor", -1, &cfg->rope_factor));
        EF_TRY(get_pos_double(rs, "low_freq_factor", -1, &cfg->low_freq_factor));
        EF_TRY(get_pos_double(rs, "high_freq_factor", -1, &cfg->high_freq_factor));
        EF_TRY(get_int(rs, "original_max_position_embeddings", INT64_MIN, 1, MAX_DIM, &cfg->rope_orig_ctx));
        if (!(cfg->high_freq_factor > cfg->low_freq_factor))
            return ef_err(EF_ERR_FORMAT, "config.json: rope_scaling high_freq_factor must exceed "
                          "low_freq_factor");
        return EF_OK;
    }
    return ef_err(EF_ERR_UNSUPPORTED, "config.json: rope_scaling type '%s' is not supported "
                  "(linear, llama3, dynamic)", t);
}

static ef_status read_config(const cJSON *root, ef_hf_config *cfg) {
    if (!cJSON_IsObject(root)) return ef_err(EF_ERR_FORMAT, "config.json is not a JSON object");
    EF_TRY(read_arch(root, cfg));
    const int qwen = cfg->arch == EF_ARCH_QWEN2;
    EF_TRY(get_int(root, "hidden_size", INT64_MIN, 1, MAX_DIM, &cfg->n_embd));
    EF_TRY(get_int(root, "num_hidden_layers", INT64_MIN, 1, 512, &cfg->n_layer));
    EF_TRY(get_int(root, "num_attention_heads", INT64_MIN, 1, 4096, &cfg->n_head));
    EF_TRY(get_int(root, "num_key_value_heads", cfg->n_head, 1, 4096, &cfg->n_head_kv));
    EF_TRY(get_int(root, "intermediate_size", INT64_MIN, 1, MAX_DIM, &cfg->n_ff));
    EF_TRY(get_int(root, "max_position_embeddings", qwen ? 32768 : 2048, 1, MAX_DIM, &cfg->n_ctx));
    EF_TRY(get_int(root, "vocab_size", INT64_MIN, 1, MAX_DIM, &cfg->n_vocab));
    EF_TRY(get_pos_double(root, "rms_norm_eps", 1e-6, &cfg->norm_eps));
    EF_TRY(get_pos_double(root, "rope_theta", 10000.0, &cfg->rope_theta));
    EF_TRY(get_int(root, "bos_token_id", -1, -1, MAX_DIM, &cfg->bos_id));
    EF_TRY(get_int(root, "eos_token_id", -1, -1, MAX_DIM, &cfg->eos_id));
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(root, "head_dim");
    cfg->head_dim_given = hd && !cJSON_IsNull(hd);
    if (cfg->head_dim_given) {
        EF_TRY(get_int(root, "head_dim", INT64_MIN, 2, 4096, &cfg->head_dim));
    } else {
        if (cfg->n_embd % cfg->n_head)
            return ef_err(EF_ERR_FORMAT, "config.json: hidden_size %lld is not a multiple of "
                          "num_attention_heads %lld", (long long)cfg->n_embd, (long long)cfg->n_head);
        cfg->head_dim = cfg->n_embd / cfg->n_head;
    }
    if (cfg->head_dim % 2)
        return ef_err(EF_ERR_FORMAT, "config.json: head size %lld is odd", (long long)cfg->head_dim);
    if (cfg->n_head % cfg->n_head_kv)
        return ef_err(EF_ERR_FORMAT, "config.json: num_attention_heads %lld is not a multiple of "
                      "num_key_value_heads %lld", (long long)cfg->n_head, (long long)cfg->n_head_kv);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (tie && !cJSON_IsBool(tie))
        return ef_err(EF_ERR_FORMAT, "config.json: 'tie_word_embeddings' must be true or false");
    cfg->tie_embeddings = cJSON_IsTrue(tie);
    return read_rope_scaling(root, cfg);
}

ef_status ef_hf_config_read(const char *hf_dir, ef_hf_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = NULL;
    EF_TRY(ef_json_read_file(hf_dir, "config.json", 0, &root));
    ef_status st = read_config(root, cfg);
    cJSON_Delete(root);
    return st;
}

ef_status ef_hf_config_write(const ef_hf_config *cfg, ef_gguf_writer *w) {
    char key[96];
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", cfg->arch_name, suffix), key)
    EF_TRY(ef_gguf_writer_set_str(w, "general.architecture", cfg->arch_name));
    EF_TRY(ef_gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)cfg->n_ctx));
    EF_TRY(ef_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)cfg->n_embd));
    EF_TRY(ef_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)cfg->n_layer));
    EF_TRY(ef_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)cfg->n_ff));
    EF_TRY(ef_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)cfg->n_head));
    EF_TRY(ef_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)cfg->n_head_kv));
    EF_TRY(ef_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), (float)cfg->norm_eps));
    EF_TRY(ef_gguf_writer_set_f32(w, KEY("rope.freq_base"), (float)cfg->rope_theta));
    EF_TRY(ef_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)cfg->head_dim));
    EF_TRY(ef_gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)cfg->n_vocab));
    if (cfg->head_dim_given) {
        EF_TRY(ef_gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)cfg->head_dim));
        EF_TRY(ef_gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)cfg->head_dim));
    }
    if (cfg->rope_scaling == EF_HF_ROPE_LINEAR) {
        EF_TRY(ef_gguf_writer_set_str(w, KEY("rope.scaling.type"), "linear"));
        EF_TRY(ef_gguf_writer_set_f32(w, KEY("rope.scaling.factor"), (float)cfg->rope_factor));
    }
#undef KEY
    return EF_OK;
}
