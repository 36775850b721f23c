/* ef_kv_params: the options of a KV cache (page size, types, tiers). */
#include <string.h>

#include "kv/kv_internal.h"
#include "quant/types.h"

void ef_kvi_params_defaults(ef_kv_params *p) {
    memset(p, 0, sizeof *p);
    p->page_size = 256;
    p->k_type = p->v_type = EF_TYPE_F16;
    p->n_seq_max = 1;
    p->zstd_level = 1;
}

ef_status ef_kvi_params_copy(ef_kv_params *dst, const ef_kv_params *src) {
    char *dir = NULL;
    if (src->spill_dir && !(dir = ef_strdup(src->spill_dir)))
        return ef_err(EF_ERR_NO_MEMORY, "out of memory copying the KV spill directory");
    ef_free(dst->spill_dir);
    *dst = *src;
    dst->spill_dir = dir;
    return EF_OK;
}

ef_status ef_kv_params_create(ef_kv_params **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_kv_params_create: out is NULL");
    ef_kv_params *p = ef_calloc(1, sizeof *p);
    if (!p) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating KV params");
    ef_kvi_params_defaults(p);
    *out = p;
    return EF_OK;
}

void ef_kv_params_free(ef_kv_params *p) {
    if (!p) return;
    ef_free(p->spill_dir);
    ef_free(p);
}

ef_status ef_kv_params_set_page_size(ef_kv_params *p, int32_t tokens) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "KV params is NULL");
    if (tokens < 16 || tokens > 4096)
        return ef_err(EF_ERR_INVALID_ARG, "KV page size must be 16..4096 tokens, got %d", (int)tokens);
    p->page_size = tokens;
    return EF_OK;
}

/* EF_TYPE_* of a KV element type name, or -1. */
static int32_t kv_type_from_name(const char *name) {
    static const struct { const char *name; uint32_t type; } types[] = {
        {"f32", EF_TYPE_F32}, {"f16", EF_TYPE_F16}, {"q8_0", EF_TYPE_Q8_0}, {"q4_0", EF_TYPE_Q4_0}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(name, types[i].name)) return (int32_t)types[i].type;
    return -1;
}

ef_status ef_kv_params_set_types(ef_kv_params *p, const char *k_type, const char *v_type) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "KV params is NULL");
    const int32_t k = k_type ? kv_type_from_name(k_type) : (int32_t)p->k_type;
    const int32_t v = v_type ? kv_type_from_name(v_type) : (int32_t)p->v_type;
    if (k < 0 || v < 0)
        return ef_err(EF_ERR_INVALID_ARG, "KV-cache type '%s' is not supported (f32, f16, q8_0, q4_0)",
                      k < 0 ? k_type : v_type);
    p->k_type = (uint32_t)k;
    p->v_type = (uint32_t)v;
    return EF_OK;
}

ef_status ef_kv_params_set_n_ctx(ef_kv_params *p, int32_t n_ctx) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "KV params is NULL");
    if (n_ctx < 0) return ef_err(EF_ERR_INVALID_ARG, "KV n_ctx must be >= 0, got %d", (int)n_ctx);
    p->n_ctx = n_ctx;
    return EF_OK;
}

ef_status ef_kv_params_set_n_seq_max(ef_kv_params *p, int32_t n_seq) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "KV params is NULL");
    if (n_seq < 1 || n_seq > 4096)
        return ef_err(EF_ERR_INVALID_ARG, "KV n_seq_max must be 1..4096, got %d", (int)n_seq);
    p->n_seq_max = n_seq;
    return EF_OK;
}

ef_status ef_kv_params_set_tier_budget(ef_kv_params *p, int32_t tier, uint64_t bytes) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "KV params is NULL");
    if (tier < EF_KV_TIER_HOT || tier > EF_KV_TIER_ZSTD)
        return ef_err(EF_ERR_INVALID_ARG, "KV tier %d has no budget (hot 0, ram 1, zstd 2)", (int)tier);
    p->budget[tier] = bytes;
    return EF_OK;
}

uint64_t ef_kvi_tier_budget(const ef_kv_cache *kv, int32_t tier) {
    return kv && tier >= EF_KV_TIER_HOT && tier <= EF_KV_TIER_ZSTD ? kv->params.budget[tier] : 0;
}

ef_status ef_kv_params_set_spill_dir(ef_kv_params *p, const char *dir) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "KV params is NULL");
    char *copy = NULL;
    if (dir && !(copy = ef_strdup(dir))) return ef_err(EF_ERR_NO_MEMORY, "out of memory copying the spill directory");
    ef_free(p->spill_dir);
    p->spill_dir = copy;
    return EF_OK;
}

ef_status ef_kv_params_set_compression(ef_kv_params *p, int32_t zstd_level) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "KV params is NULL");
    if (zstd_level < 0 || zstd_level > 19)
        return ef_err(EF_ERR_INVALID_ARG, "zstd level must be 0..19, got %d", (int)zstd_level);
    p->zstd_level = zstd_level;
    return EF_OK;
}
