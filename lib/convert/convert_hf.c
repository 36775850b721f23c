/* ef_convert_hf: a Hugging Face checkpoint folder (config.json,
 * model.safetensors[.index.json], tokenizer.json) → one GGUF file.
 *
 * Tensors whose bytes need no change are written straight from the mapped
 * safetensors; converted ones are planned first and produced by the GGUF
 * writer one at a time as it writes, so peak memory is one tensor. The
 * result is loaded back before the call returns; a file that would not load
 * is removed. */
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "convert/convert.h"
#include "model/model.h"
#include "quant/types.h"

typedef struct conversion {
    const char *hf_dir;
    ef_hf_config cfg;
    ef_st_set *st;
    ef_gguf_writer *w;
    uint32_t matrix_type;
    ef_convert_job *jobs;  /* [st->n_tensors] conversions the writer carries out */
    float *rope_factors;   /* [head_dim/2] llama3 only */
    ef_progress_fn progress;
    void *user;
} conversion;

static ef_status parse_type(const char *name, uint32_t *out) {
    if (!name) name = "f16";
    int32_t t = ef_type_from_name(name);
    const ef_type_info *ti = t >= 0 ? ef_type_get((uint32_t)t) : NULL;
    if (!ti) return ef_err(EF_ERR_INVALID_ARG, "unknown output type '%s' (f32, f16, bf16, ...)", name);
    int plain = t == EF_TYPE_F32 || t == EF_TYPE_F16 || t == EF_TYPE_BF16;
    /* Integer tensor types are not weight formats. */
    int is_int = t == EF_TYPE_I8 || t == EF_TYPE_I16 || t == EF_TYPE_I32 || t == EF_TYPE_I64 ||
                 t == EF_TYPE_F64;
    if (!plain && (is_int || !ti->from_float || !ti->to_float))
        return ef_err(EF_ERR_UNSUPPORTED, "type %s not available yet", name);
    *out = (uint32_t)t;
    return EF_OK;
}

static const char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *s = path + n;
    while (s > path && s[-1] != '/') s--;
    return s;
}

/* Produces one converted tensor when the writer reaches it. */
static ef_status fill_job(void *user, const char *name, void *dst, uint64_t nbytes) {
    (void)name;
    (void)nbytes;
    return ef_convert_fill(user, dst);
}

static ef_status add_tensor(conversion *c, const ef_st_tensor *t, ef_convert_job *job) {
    char name[128];
    ef_hf_permute permute;
    int r = ef_hf_map_name(t->name, &c->cfg, name, sizeof name, &permute);
    if (r == 0) return EF_OK;
    if (r < 0)
        return ef_err(EF_ERR_UNSUPPORTED, "tensor '%s' (%s) has no GGUF counterpart in %s", t->name,
                      t->file, c->cfg.arch_name);
    if (!strcmp(name, "output.weight") && c->cfg.tie_embeddings) return EF_OK; /* tied: token_embd */
    if (t->n_dims < 1 || t->n_dims > 2)
        return ef_err(EF_ERR_FORMAT, "tensor '%s' has %d dimensions, expected 1 or 2", t->name,
                      (int)t->n_dims);
    int64_t n_heads = permute == EF_PERMUTE_Q ? c->cfg.n_head
                    : permute == EF_PERMUTE_K ? c->cfg.n_head_kv : 0;
    uint32_t type = ef_convert_pick_type(t, c->matrix_type);
    EF_TRY(ef_convert_plan(t, type, n_heads, job));
    int64_t ne[2] = {t->shape[t->n_dims - 1], t->n_dims == 2 ? t->shape[0] : 1};
    if (job->direct) /* the mapped bytes go straight out */
        return ef_gguf_writer_add_tensor(c->w, name, type, (uint32_t)t->n_dims, ne, t->data, t->nbytes);
    return ef_gguf_writer_add_tensor_fill(c->w, name, type, (uint32_t)t->n_dims, ne, job->nbytes, fill_job, job);
}

static ef_status add_rope_freqs(conversion *c) {
    if (c->cfg.rope_scaling != EF_HF_ROPE_LLAMA3) return EF_OK;
    int64_t half = c->cfg.head_dim / 2;
    c->rope_factors = ef_malloc((size_t)half * sizeof(float)); /* [head_dim/2] */
    if (!c->rope_factors) return ef_err(EF_ERR_NO_MEMORY, "convert: out of memory");
    ef_rope_llama3_factors(&c->cfg, c->rope_factors);
    return ef_gguf_writer_add_tensor(c->w, "rope_freqs.weight", EF_TYPE_F32, 1, &half, c->rope_factors,
                                     (uint64_t)half * sizeof(float));
}

static ef_status build(conversion *c) {
    EF_TRY(ef_hf_config_read(c->hf_dir, &c->cfg));
    EF_TRY(ef_st_open_dir(c->hf_dir, &c->st));
    const ef_st_tensor *embd = ef_st_find(c->st, "model.embed_tokens.weight");
    if (!embd || embd->n_dims != 2)
        return ef_err(EF_ERR_FORMAT, "%s: no 2-D tensor 'model.embed_tokens.weight'", c->hf_dir);
    if (embd->shape[0] != c->cfg.n_vocab || embd->shape[1] != c->cfg.n_embd)
        return ef_err(EF_ERR_FORMAT, "model.embed_tokens.weight is [%lld, %lld] but config.json "
                      "says vocab_size %lld, hidden_size %lld", (long long)embd->shape[0],
                      (long long)embd->shape[1], (long long)c->cfg.n_vocab, (long long)c->cfg.n_embd);
    if (!c->cfg.tie_embeddings && !ef_st_find(c->st, "lm_head.weight"))
        EF_LOGI("convert: no lm_head.weight; the output shares token_embd");

    EF_TRY(ef_gguf_writer_create(&c->w));
    EF_TRY(ef_hf_config_write(&c->cfg, c->w));
    EF_TRY(ef_gguf_writer_set_str(c->w, "general.name", base_name(c->hf_dir)));
    EF_TRY(ef_hf_tokenizer_write(c->hf_dir, &c->cfg, c->cfg.n_vocab, c->w));
    EF_TRY(add_rope_freqs(c));
    c->jobs = ef_calloc(c->st->n_tensors ? c->st->n_tensors : 1, sizeof *c->jobs);
    if (!c->jobs) return ef_err(EF_ERR_NO_MEMORY, "convert: out of memory planning %zu tensors", c->st->n_tensors);
    for (size_t i = 0; i < c->st->n_tensors; i++) {
        EF_TRY(add_tensor(c, &c->st->tensors[i], &c->jobs[i]));
        if (c->progress && c->progress(c->user, c->st->tensors[i].name, (uint64_t)i + 1,
                                       (uint64_t)c->st->n_tensors) != 0)
            return ef_err(EF_ERR_CANCELLED, "convert: cancelled by the progress callback");
    }
    return EF_OK;
}

/* The written file must load as a model; otherwise it is removed. */
static ef_status verify(const char *out_path) {
    ef_gguf *g = NULL;
    ef_model *m = NULL;
    ef_status st = ef_gguf_open(out_path, 1, &g);
    if (st == EF_OK) st = ef_model_from_gguf(g, &m); /* takes g, also on failure */
    if (st == EF_OK) ef_model_release(m);
    if (st != EF_OK) {
        st = ef_err_prefix(st, "the converted file does not load");
        ef_file_remove(out_path);
    }
    return st;
}

ef_status ef_convert_hf(const char *hf_dir, const char *out_path, const char *type_name,
                        ef_progress_fn progress, void *user) {
    if (!hf_dir || !out_path) return ef_err(EF_ERR_INVALID_ARG, "ef_convert_hf: NULL path");
    conversion c = {.hf_dir = hf_dir, .progress = progress, .user = user};
    EF_TRY(parse_type(type_name, &c.matrix_type));
    ef_status st = build(&c);
    if (st == EF_OK) st = ef_gguf_writer_write(c.w, out_path);
    if (st == EF_OK) st = verify(out_path);
    ef_gguf_writer_free(c.w);
    ef_free(c.jobs);
    ef_free(c.rope_factors);
    ef_st_set_free(c.st);
    return st;
}
