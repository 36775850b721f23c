/* ef_model: a validated GGUF bound into hyperparameters, weights and a
 * vocabulary; reference-counted, immutable after load. */
#include <string.h>

#include "base/alloc.h"
#include "model/model.h"
#include "model/sparsity.h"

static void model_destroy(ef_model *m) {
    if (!m) return;
    ef_vocab_free(m->vocab);
    if (m->owned_data)
        for (int64_t i = 0; i < m->n_tensors; i++) ef_free_aligned(m->owned_data[i]);
    ef_free(m->owned_data);
    ef_sparsity_free(m->sparsity);
    ef_sparsity_layout_free(m);
    ef_free(m->layers);
    ef_free(m->rope_factors);
    ef_free(m->tensors);
    ef_gguf_close(m->gguf);
    ef_free(m);
}

/* Reads general.architecture and checks this build runs it. */
static ef_status read_arch(ef_model *m) {
    const char *s;
    uint64_t len;
    if (ef_gguf_find_key(m->gguf, "general.architecture") < 0)
        return ef_err(EF_ERR_FORMAT, "missing key 'general.architecture'");
    EF_TRY(ef_gguf_get_str(m->gguf, "general.architecture", &s, &len));
    if (len >= sizeof m->arch_name) len = sizeof m->arch_name - 1;
    memcpy(m->arch_name, s, len);
    m->arch_name[len] = '\0';
    int32_t id = ef_arch_from_name(m->arch_name);
    if (id < 0 || strlen(m->arch_name) != len)
        return ef_err(EF_ERR_UNSUPPORTED, "unknown architecture '%s'", m->arch_name);
    m->arch = (ef_arch)id;
    return EF_OK;
}

/* Mirrors every GGUF tensor as an ef_tensor and totals params and bytes. */
static ef_status list_tensors(ef_model *m) {
    m->n_tensors = ef_gguf_n_tensors(m->gguf);
    if (m->n_tensors == 0) return EF_OK;
    m->tensors = ef_calloc((size_t)m->n_tensors, sizeof *m->tensors);
    if (!m->tensors) return ef_err(EF_ERR_NO_MEMORY, "out of memory listing %lld tensors",
                                   (long long)m->n_tensors);
    for (int64_t i = 0; i < m->n_tensors; i++) {
        const ef_gguf_tensor *gt = ef_gguf_tensor_at(m->gguf, i);
        ef_tensor *t = &m->tensors[i];
        t->name = gt->name;
        t->type = gt->type;
        t->n_dims = (int32_t)gt->n_dims;
        memcpy(t->ne, gt->ne, sizeof t->ne);
        t->data = gt->data;
        t->nbytes = gt->nbytes;
        m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        m->n_bytes += t->nbytes;
    }
    return EF_OK;
}

static ef_status check_vocab(const ef_model *m) {
    int32_t n_tok = ef_vocab_n_tokens(m->vocab);
    if (n_tok != m->hp.n_vocab)
        return ef_err(EF_ERR_FORMAT,
                      "the tokenizer has %d tokens but tensor 'token_embd.weight' has %d rows",
                      (int)n_tok, (int)m->hp.n_vocab);
    return EF_OK;
}

ef_status ef_model_from_gguf(ef_gguf *g, ef_model **out) { return ef_model_from_gguf_quant(g, NULL, out); }

ef_status ef_model_from_gguf_quant(ef_gguf *g, const struct ef_quant_profile *profile, ef_model **out) {
    *out = NULL;
    if (!g) return ef_err(EF_ERR_INVALID_ARG, "ef_model_from_gguf: no GGUF given");
    ef_model *m = ef_calloc(1, sizeof *m);
    if (!m) {
        ef_gguf_close(g);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the model");
    }
    m->gguf = g;
    atomic_init(&m->refcount, 1);

    ef_status st = read_arch(m);
    if (st == EF_OK) st = ef_hparams_read(g, m->arch_name, m->arch, &m->hp);
    if (st == EF_OK) st = list_tensors(m);
    if (st == EF_OK && profile) st = ef_model_requantize(m, profile);
    if (st == EF_OK) st = ef_weights_bind(m);
    if (st == EF_OK) st = ef_sparsity_load(m); /* after binding: a keep mask reshapes bound FFN weights */
    if (st == EF_OK) st = ef_vocab_load(g, &m->vocab);
    if (st == EF_OK) st = check_vocab(m);
    if (st != EF_OK) {
        model_destroy(m);
        return st;
    }
    *out = m;
    return EF_OK;
}

void ef_model_retain(ef_model *m) {
    if (m) atomic_fetch_add(&m->refcount, 1);
}

void ef_model_release(ef_model *m) {
    if (m && atomic_fetch_sub(&m->refcount, 1) == 1) model_destroy(m);
}
