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
    EF_LOGW("%s '%.*s' is not supported; running without rope scaling", r->key,
            (int)(len > 64 ? 64 : len), s);
    return EF_OK;
}

/* edgeformer.attention.type: "mha" and "gqa" run llama's graph; absent
 * means "gqa". The latent and window types come with the attention work. */
static ef_status read_edgeformer_attention(key_reader *r) {
    const char *key = key_of(r, "attention.type");
    if (ef_gguf_find_key(r->g, key) < 0) return EF_OK;
    const char *s;
    uint64_t len;
    EF_TRY(ef_gguf_get_str(r->g, key, &s, &len));
    if ((len == 3 && (!memcmp(s, "mha", 3) || !memcmp(s, "gqa", 3)))) return EF_OK;
    return ef_err(EF_ERR_UNSUPPORTED, "'%s' is '%.*s'; this build runs mha and gqa", key,
                  (int)(len > 64 ? 64 : len), s);
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
    if (strcmp(arch_name, "edgeformer") == 0) EF_TRY(read_edgeformer_attention(&r));
    return EF_OK;
}
