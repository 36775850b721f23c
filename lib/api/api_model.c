/* Public model handle: options, load, free and metadata queries. The handle
 * is the internal ef_model itself (lib/model/model.h). */
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "backend/backend_internal.h"
#include "base/platform.h"
#include "model/model.h"
#include "quant/profile.h"
#include "quant/types.h"

struct ef_model_params {
    int32_t n_threads;
    int32_t use_mmap;
    char backend[EF_BACKEND_NAME_MAX]; /* default of the model's sessions; "" = EF_BACKEND, else auto */
    int32_t has_profile;
    ef_quant_profile profile; /* quantize at load when has_profile */
};

ef_status ef_model_params_create(ef_model_params **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_model_params_create: out is NULL");
    ef_model_params *p = ef_calloc(1, sizeof *p);
    if (!p) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating model params");
    p->n_threads = 0;
    p->use_mmap = 1;
    *out = p;
    return EF_OK;
}

void ef_model_params_free(ef_model_params *params) { ef_free(params); }

ef_status ef_model_params_set_threads(ef_model_params *p, int32_t n_threads) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    if (n_threads < 0 || n_threads > 1024)
        return ef_err(EF_ERR_INVALID_ARG, "threads must be in 0..1024, got %d", (int)n_threads);
    p->n_threads = n_threads;
    return EF_OK;
}

ef_status ef_model_params_set_mmap(ef_model_params *p, int32_t use_mmap) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    p->use_mmap = use_mmap ? 1 : 0;
    return EF_OK;
}

ef_status ef_model_params_set_backend(ef_model_params *p, const char *name) {
    if (!p || !name) return ef_err(EF_ERR_INVALID_ARG, "params or name is NULL");
    if (strlen(name) >= sizeof p->backend)
        return ef_err(EF_ERR_INVALID_ARG, "backend name '%s' is longer than %d bytes", name, (int)sizeof p->backend - 1);
    /* a named backend must be usable now: the message says why not */
    const struct ef_backend *b = NULL;
    if (strcmp(name, "auto") != 0) EF_TRY(ef_backend_select(name, &b));
    snprintf(p->backend, sizeof p->backend, "%s", name);
    return EF_OK;
}

ef_status ef_model_params_set_quant_profile(ef_model_params *p, const ef_quant_profile *profile) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "params is NULL");
    p->has_profile = profile != NULL;
    if (profile) p->profile = *profile;
    return EF_OK;
}

ef_status ef_model_load(const char *path, const ef_model_params *params, ef_model **out) {
    if (!path || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_model_load: path or out is NULL");
    /* GGUF data is little-endian and used in place (docs/platforms.md). */
    if (!ef_host_is_little_endian())
        return ef_err(EF_ERR_UNSUPPORTED, "ef_model_load: %s: GGUF files are little-endian; big-endian hosts are not supported", path);
    int use_mmap = params ? params->use_mmap : 1;
    ef_gguf *g = NULL;
    ef_status st = ef_gguf_open(path, use_mmap, &g);
    if (st != EF_OK) return ef_err_prefix(st, "%s", path);
    ef_model *m = NULL;
    const ef_quant_profile *profile = params && params->has_profile ? &params->profile : NULL;
    st = ef_model_from_gguf_quant(g, profile, &m); /* takes g, also on failure */
    if (st != EF_OK) return ef_err_prefix(st, "%s", path);
    if (params) ef_backend_model_default_set(m, params->backend);
    EF_LOGI("loaded %s: %s, %llu parameters, %d layers", path, m->arch_name,
            (unsigned long long)m->n_params, (int)m->hp.n_layer);
    *out = m;
    return EF_OK;
}

void ef_model_free(ef_model *model) {
    if (!model) return;
    ef_backend_model_default_forget(model);
    ef_model_release(model);
}

const char *ef_model_arch(const ef_model *m) { return m ? m->arch_name : ""; }
uint64_t ef_model_n_params(const ef_model *m) { return m ? m->n_params : 0; }
uint64_t ef_model_size_bytes(const ef_model *m) { return m ? m->n_bytes : 0; }
int32_t ef_model_n_ctx_train(const ef_model *m) { return m ? m->hp.n_ctx_train : 0; }
int32_t ef_model_n_vocab(const ef_model *m) { return m ? m->hp.n_vocab : 0; }
int32_t ef_model_n_embd(const ef_model *m) { return m ? m->hp.n_embd : 0; }
int32_t ef_model_n_layer(const ef_model *m) { return m ? m->hp.n_layer : 0; }

int64_t ef_model_meta_count(const ef_model *m) { return m ? ef_gguf_n_kv(m->gguf) : 0; }

ef_status ef_model_meta_key(const ef_model *m, int64_t index, char *buf, size_t cap, size_t *needed) {
    if (!m || !needed) return ef_err(EF_ERR_INVALID_ARG, "ef_model_meta_key: model or needed is NULL");
    if (index < 0 || index >= ef_gguf_n_kv(m->gguf))
        return ef_err(EF_ERR_INVALID_ARG, "metadata index %lld out of range (0..%lld)",
                      (long long)index, (long long)ef_gguf_n_kv(m->gguf) - 1);
    const char *key = ef_gguf_key(m->gguf, index);
    size_t n = strlen(key) + 1;
    *needed = n;
    if (!buf || cap < n)
        return ef_err(EF_ERR_BUFFER_TOO_SMALL, "key needs %zu bytes, buffer has %zu", n, cap);
    memcpy(buf, key, n);
    return EF_OK;
}

ef_status ef_model_meta_get(const ef_model *m, const char *key, char *buf, size_t cap, size_t *needed) {
    if (!m || !key || !needed) return ef_err(EF_ERR_INVALID_ARG, "ef_model_meta_get: NULL argument");
    int64_t i = ef_gguf_find_key(m->gguf, key);
    if (i < 0) return ef_err(EF_ERR_NOT_FOUND, "metadata key '%s' not found", key);
    return ef_gguf_kv_to_string(m->gguf, i, buf, cap, needed);
}

int64_t ef_model_tensor_count(const ef_model *m) { return m ? m->n_tensors : 0; }

ef_status ef_model_tensor_info(const ef_model *m, int64_t index, const char **name, uint32_t *type,
                               int32_t *n_dims, int64_t ne[4]) {
    if (!m) return ef_err(EF_ERR_INVALID_ARG, "ef_model_tensor_info: model is NULL");
    if (index < 0 || index >= m->n_tensors)
        return ef_err(EF_ERR_INVALID_ARG, "tensor index %lld out of range (0..%lld)", (long long)index,
                      (long long)m->n_tensors - 1);
    const ef_tensor *t = &m->tensors[index];
    if (name) *name = t->name;
    if (type) *type = t->type;
    if (n_dims) *n_dims = t->n_dims;
    if (ne)
        for (int d = 0; d < 4; d++) ne[d] = t->ne[d];
    return EF_OK;
}

const char *ef_tensor_type_name(uint32_t type) { return ef_type_name(type); }
