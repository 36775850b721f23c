/* The public trainer: settings by key, creation, the optimizer step and
 * evaluation. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/platform.h"
#include "train/trainer.h"

ef_status ef_train_params_create(ef_train_params **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_train_params_create: out is NULL");
    ef_train_params *p = ef_calloc(1, sizeof *p);
    if (!p) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating training settings");
    p->shape = (ef_train_shape){.dim = 256, .n_layer = 4, .n_head = 8, .n_kv = 4, .ff = 688,
                                .seq = 128, .tied = 1, .norm_eps = 1e-5f, .rope_base = 10000.0f};
    p->batch = 8, p->accum = 1, p->steps = 1000, p->warmup = 100, p->eval_batches = 4;
    p->seed = 1;
    p->opt = (ef_adamw){.lr_max = 3e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                        .weight_decay = 0.1f, .clip_norm = 1.0f};
    p->val_fraction = 0.1;
    *out = p;
    return EF_OK;
}

void ef_train_params_free(ef_train_params *p) {
    if (!p) return;
    ef_free(p->data);
    ef_free(p->text);
    ef_free(p->vocab);
    ef_free(p->init);
    ef_free(p->token_cache);
    ef_free(p);
}

static ef_status range(const char *key, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi))
        return ef_err(EF_ERR_INVALID_ARG, "training setting '%s' is %g, expected %g..%g", key, v, lo, hi);
    return EF_OK;
}

ef_status ef_train_params_set_int(ef_train_params *p, const char *key, int64_t value) {
    if (!p || !key) return ef_err(EF_ERR_INVALID_ARG, "ef_train_params_set_int: NULL argument");
    const double v = (double)value;
    static const struct { const char *key; size_t off; double lo, hi; } keys[] = {
        {"dim", offsetof(ef_train_params, shape.dim), 2, 16384},
        {"layers", offsetof(ef_train_params, shape.n_layer), 1, 256},
        {"heads", offsetof(ef_train_params, shape.n_head), 1, 1024},
        {"kv_heads", offsetof(ef_train_params, shape.n_kv), 1, 1024},
        {"ff", offsetof(ef_train_params, shape.ff), 1, 65536},
        {"seq", offsetof(ef_train_params, shape.seq), 2, 65536},
        {"tied", offsetof(ef_train_params, shape.tied), 0, 1},
        {"batch", offsetof(ef_train_params, batch), 1, 4096},
        {"accum", offsetof(ef_train_params, accum), 1, 4096},
        {"steps", offsetof(ef_train_params, steps), 1, 1e9},
        {"warmup", offsetof(ef_train_params, warmup), 0, 1e9},
        {"threads", offsetof(ef_train_params, threads), 0, 1024},
        {"eval_batches", offsetof(ef_train_params, eval_batches), 1, 1e6},
        {"window", offsetof(ef_train_params, shape.window), 0, 65536},
        {"swa_pattern", offsetof(ef_train_params, shape.swa_pattern), 0, 256},
        {"sinks", offsetof(ef_train_params, shape.sinks), 0, 65536},
        {"q_lora", offsetof(ef_train_params, shape.q_lora), 0, 16384},
        {"kv_lora", offsetof(ef_train_params, shape.kv_lora), 0, 16384},
        {"qk_nope", offsetof(ef_train_params, shape.qk_nope), 0, 1024},
        {"qk_rope", offsetof(ef_train_params, shape.qk_rope), 0, 1024},
        {"v_head", offsetof(ef_train_params, shape.v_head), 0, 1024},
    };
    if (strcmp(key, "seed") == 0) {
        p->seed = (uint64_t)value;
        return EF_OK;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i].key) == 0) {
            EF_TRY(range(key, v, keys[i].lo, keys[i].hi));
            *(int32_t *)((char *)p + keys[i].off) = (int32_t)value;
            return EF_OK;
        }
    return ef_err(EF_ERR_INVALID_ARG, "unknown integer training setting '%s'", key);
}

ef_status ef_train_params_set_float(ef_train_params *p, const char *key, double value) {
    if (!p || !key) return ef_err(EF_ERR_INVALID_ARG, "ef_train_params_set_float: NULL argument");
    static const struct { const char *key; size_t off; double lo, hi; } keys[] = {
        {"lr", offsetof(ef_train_params, opt.lr_max), 0, 10},
        {"lr_min", offsetof(ef_train_params, opt.lr_min), 0, 10},
        {"weight_decay", offsetof(ef_train_params, opt.weight_decay), 0, 10},
        {"beta1", offsetof(ef_train_params, opt.beta1), 0, 0.999999},
        {"beta2", offsetof(ef_train_params, opt.beta2), 0, 0.999999},
        {"adam_eps", offsetof(ef_train_params, opt.eps), 1e-30, 1},
        {"clip", offsetof(ef_train_params, opt.clip_norm), 0, 1e9},
        {"norm_eps", offsetof(ef_train_params, shape.norm_eps), 1e-12, 1},
        {"rope_base", offsetof(ef_train_params, shape.rope_base), 2, 1e9},
    };
    if (strcmp(key, "val_fraction") == 0) {
        EF_TRY(range(key, value, 0, 0.9));
        p->val_fraction = value;
        return EF_OK;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(key, keys[i].key) == 0) {
            EF_TRY(range(key, value, keys[i].lo, keys[i].hi));
            *(float *)((char *)p + keys[i].off) = (float)value;
            if (strcmp(key, "lr_min") == 0) p->lr_min_set = 1;
            return EF_OK;
        }
    return ef_err(EF_ERR_INVALID_ARG, "unknown real training setting '%s'", key);
}

/* "attention": the engine's edgeformer.attention.type names. */
static ef_status set_attention(ef_train_params *p, const char *value) {
    static const struct { const char *name; int32_t mla, windowed; } types[] = {
        {"mha", 0, 0}, {"gqa", 0, 0}, {"gqa_window", 0, 1}, {"mla", 1, 0}, {"mla_window", 1, 1}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(value, types[i].name) == 0) {
            p->shape.mla = types[i].mla;
            p->attn_windowed = types[i].windowed;
            p->attn_set = 1;
            p->attn_mha = !strcmp(value, "mha");
            return EF_OK;
        }
    return ef_err(EF_ERR_INVALID_ARG, "training setting 'attention' is '%s', expected mha, gqa, "
                  "gqa_window, mla or mla_window", value);
}

ef_status ef_train_params_set_str(ef_train_params *p, const char *key, const char *value) {
    if (!p || !key || !value) return ef_err(EF_ERR_INVALID_ARG, "ef_train_params_set_str: NULL argument");
    if (strcmp(key, "attention") == 0) return set_attention(p, value);
    if (strcmp(key, "precision") == 0) {
        if (strcmp(value, "f32") && strcmp(value, "bf16"))
            return ef_err(EF_ERR_INVALID_ARG, "training setting 'precision' is '%s', expected f32 or bf16", value);
        p->bf16 = !strcmp(value, "bf16");
        return EF_OK;
    }
    char **slot = strcmp(key, "data") == 0 ? &p->data
                : strcmp(key, "text") == 0 ? &p->text
                : strcmp(key, "vocab") == 0 ? &p->vocab
                : strcmp(key, "init") == 0 ? &p->init
                : strcmp(key, "token_cache") == 0 ? &p->token_cache : NULL;
    if (!slot) return ef_err(EF_ERR_INVALID_ARG, "unknown text training setting '%s'", key);
    char *copy = ef_strdup(value);
    if (!copy) return ef_err(EF_ERR_NO_MEMORY, "out of memory copying setting '%s'", key);
    ef_free(*slot);
    *slot = copy;
    return EF_OK;
}

void ef_trainer_free(ef_trainer *t) {
    if (!t) return;
    ef_train_model_free(&t->model);
    ef_train_data_free(&t->data);
    ef_vocab_free(t->vocab);
    ef_gguf_close(t->tok_gguf);
    ef_pool_free(t->pool);
    ef_free_aligned(t->adam_m);
    ef_free_aligned(t->adam_v);
    ef_free(t->batch_tokens);
    ef_free(t);
}

/* The attention settings of a new model: the window agrees with the type,
 * and MLA sizes left at 0 get defaults from the head size hd = dim/heads:
 * kv_lora dim/2, qk_nope hd, qk_rope hd/2 (even), v_head hd. */
static ef_status settle_attention(const ef_train_params *p, ef_train_shape *s) {
    if (p->attn_set && p->attn_windowed && s->window == 0)
        return ef_err(EF_ERR_INVALID_ARG, "training: attention %s needs the 'window' setting",
                      s->mla ? "mla_window" : "gqa_window");
    if (p->attn_set && !p->attn_windowed && s->window > 0)
        return ef_err(EF_ERR_INVALID_ARG, "training: 'window' needs attention gqa_window or "
                      "mla_window, not %s", s->mla ? "mla" : "mha/gqa");
    if (p->attn_mha) s->n_kv = s->n_head;
    if (!s->mla) return EF_OK;
    const int32_t hd = s->n_head > 0 ? s->dim / s->n_head : 0;
    if (s->kv_lora == 0) s->kv_lora = s->dim / 2;
    if (s->qk_nope == 0) s->qk_nope = hd;
    if (s->qk_rope == 0) s->qk_rope = hd / 4 * 2 > 2 ? hd / 4 * 2 : 2;
    if (s->v_head == 0) s->v_head = hd;
    return EF_OK;
}

/* init: the model to fine-tune (NULL: random initialisation from the seed). */
static ef_status trainer_build(ef_trainer *t, const ef_train_params *params, const ef_model *init) {
    char spec[4200];
    const char *vocab = params->vocab;
    if (init && !vocab) { /* fine-tuning keeps the model's own tokenizer */
        snprintf(spec, sizeof spec, "gguf:%s", params->init);
        vocab = spec;
    }
    EF_TRY(ef_train_vocab_open(vocab, &t->tok_gguf, &t->vocab));
    if (init && ef_vocab_n_tokens(t->vocab) != t->p.shape.n_vocab)
        return ef_err(EF_ERR_INVALID_ARG, "fine-tuning: the vocabulary has %d tokens, the model %d",
                      (int)ef_vocab_n_tokens(t->vocab), (int)t->p.shape.n_vocab);
    t->p.shape.n_vocab = ef_vocab_n_tokens(t->vocab);
    if (!init) EF_TRY(settle_attention(&t->p, &t->p.shape));
    EF_TRY(ef_train_shape_check(&t->p.shape));
    EF_TRY(ef_train_data_load(params, t->vocab, &t->data)); /* t->p holds no strings */
    int32_t n_threads = t->p.threads > 0 ? t->p.threads : ef_num_cores();
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 1) EF_TRY(ef_pool_create(n_threads, &t->pool));
    EF_TRY(ef_train_model_create(&t->p.shape, t->p.batch, n_threads, &t->model));
    if (t->p.bf16) EF_TRY(ef_train_model_use_bf16(&t->model));
    const size_t n = t->model.lay.n_floats;
    t->adam_m = ef_alloc_aligned(n * sizeof(float));
    t->adam_v = ef_alloc_aligned(n * sizeof(float));
    t->batch_tokens = ef_malloc(sizeof(int32_t) * 2 * (size_t)t->p.batch * (size_t)t->p.shape.seq);
    if (!t->adam_m || !t->adam_v || !t->batch_tokens)
        return ef_err(EF_ERR_NO_MEMORY, "training: out of memory for the optimizer state");
    t->inputs = t->batch_tokens;
    t->targets = t->batch_tokens + (size_t)t->p.batch * (size_t)t->p.shape.seq;
    if (init)
        EF_TRY(ef_train_init_copy(init, &t->p.shape, &t->model.lay, t->model.params));
    else
        ef_train_init_params(&t->p.shape, &t->model.lay, t->p.seed, t->model.params);
    ef_rng_seed(&t->rng, t->p.seed ^ 0xDA7A0DE5ull);
    return EF_OK;
}

ef_status ef_trainer_create(const ef_train_params *params, ef_trainer **out) {
    if (!params || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_trainer_create: NULL argument");
    *out = NULL;
    ef_trainer *t = ef_calloc(1, sizeof *t);
    if (!t) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating the trainer");
    t->p = *params;
    t->p.data = t->p.text = t->p.vocab = t->p.init = t->p.token_cache = NULL;
    t->p.opt.total_steps = params->steps;
    t->p.opt.warmup = params->warmup;
    if (!params->lr_min_set) t->p.opt.lr_min = params->opt.lr_max / 10.0f;
    ef_model *init = NULL;
    ef_status st = EF_OK;
    if (params->init) st = ef_train_init_open(params->init, &t->p.shape, &init);
    if (st == EF_OK) st = trainer_build(t, params, init);
    ef_model_release(init);
    if (st != EF_OK) {
        ef_trainer_free(t);
        return st;
    }
    *out = t;
    return EF_OK;
}

/* Norm weights (vectors) do not decay; matrices and embeddings do. Every
 * tensor's range is split over the pool's workers. */
typedef struct adamw_job {
    ef_trainer *t;
    float lr, grad_scale;
} adamw_job;

static void adamw_worker(void *ctx, int32_t ith, int32_t nth) {
    const adamw_job *j = ctx;
    ef_trainer *t = j->t;
    const int32_t n = ef_train_tensor_count(&t->p.shape);
    for (int32_t i = 0; i < n; i++) {
        ef_train_tensor_ref r;
        ef_train_tensor_at(&t->p.shape, &t->model.lay, i, &r);
        int64_t b, e;
        ef_split_range(r.ne0 * r.ne1 * r.ne2, ith, nth, &b, &e);
        ef_adamw_update(&t->p.opt, j->lr, t->step + 1, t->model.params, t->model.grads, j->grad_scale,
                        t->adam_m, t->adam_v, r.offset + (size_t)b, r.offset + (size_t)e, r.n_dims > 1);
    }
}

static void apply_adamw(ef_trainer *t, float lr, float grad_scale) {
    adamw_job j = {t, lr, grad_scale};
    ef_pool_run(t->pool, adamw_worker, &j);
}

/* grads = 0, each worker clearing its share (the step's largest memset). */
static void zero_grads_worker(void *ctx, int32_t ith, int32_t nth) {
    const ef_train_model *m = ctx;
    int64_t b, e;
    ef_split_range((int64_t)m->lay.n_floats, ith, nth, &b, &e);
    memset(m->grads + b, 0, sizeof(float) * (size_t)(e - b));
}

ef_status ef_trainer_step(ef_trainer *t, float *loss) {
    if (!t) return ef_err(EF_ERR_INVALID_ARG, "ef_trainer_step: trainer is NULL");
    ef_pool_run(t->pool, zero_grads_worker, &t->model);
    double sum = 0.0;
    for (int32_t a = 0; a < t->p.accum; a++) {
        ef_train_data_sample(t);
        sum += ef_train_model_forward(&t->model, t->pool, t->inputs, t->targets, NULL);
        ef_train_model_backward(&t->model, t->pool, t->inputs, t->targets, 1.0f / (float)t->p.accum);
    }
    const float norm = ef_grad_norm(t->pool, t->model.grads, t->model.lay.n_floats);
    apply_adamw(t, ef_adamw_lr(&t->p.opt, t->step), ef_clip_scale(norm, t->p.opt.clip_norm));
    t->step++;
    if (loss) *loss = (float)(sum / t->p.accum);
    return EF_OK;
}

ef_status ef_trainer_evaluate(ef_trainer *t, float *val_loss) {
    if (!t || !val_loss) return ef_err(EF_ERR_INVALID_ARG, "ef_trainer_evaluate: NULL argument");
    double sum = 0.0;
    for (int32_t i = 0; i < t->p.eval_batches; i++) {
        ef_train_data_val(t, i);
        sum += ef_train_model_forward(&t->model, t->pool, t->inputs, t->targets, NULL);
    }
    *val_loss = (float)(sum / t->p.eval_batches);
    return EF_OK;
}

int64_t ef_trainer_step_count(const ef_trainer *t) { return t ? t->step : 0; }
float ef_trainer_lr(const ef_trainer *t) { return t ? ef_adamw_lr(&t->p.opt, t->step) : 0.0f; }
uint64_t ef_trainer_n_params(const ef_trainer *t) { return t ? (uint64_t)t->model.lay.n_floats : 0; }
int64_t ef_trainer_tokens_per_step(const ef_trainer *t) {
    return t ? (int64_t)t->p.batch * t->p.shape.seq * t->p.accum : 0;
}
