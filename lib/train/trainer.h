/* The trainer behind the public ef_trainer_* API: settings, data, model,
 * optimizer state. Shared by trainer.c, train_data.c, checkpoint.c and
 * export.c (and the tests, which reach inside). */
#ifndef EF_TRAIN_TRAINER_H
#define EF_TRAIN_TRAINER_H

#include "edgeformer/edgeformer.h"
#include "format/gguf.h"
#include "model/model.h"
#include "sample/rng.h"
#include "tokenizer/tokenizer.h"
#include "train/train.h"


struct ef_train_params {
    ef_train_shape shape; /* n_vocab comes from the tokenizer */
    int32_t batch, accum, steps, warmup, threads, eval_batches;
    uint64_t seed;
    ef_adamw opt;
    int lr_min_set;
    double val_fraction;
    char *data, *text, *vocab, *init; /* init: GGUF to fine-tune */
    char *token_cache;                /* folder of the token cache; NULL: none */
    int32_t attn_set, attn_windowed;  /* "attention" was set; it names a *_window type */
    int32_t attn_mha;                 /* it is "mha": kv_heads = heads */
    int32_t bf16;                     /* "precision" bf16: the matrix products in bfloat16 */
};

/* The token stream and its split. */
typedef struct ef_train_data {
    int32_t *tokens; /* [n_tokens]: train part first, validation after */
    int64_t n_tokens, n_train;
} ef_train_data;

struct ef_trainer {
    ef_train_params p;     /* strings not owned (set to NULL) */
    ef_gguf *tok_gguf;     /* the tokenizer's metadata, copied on export */
    ef_vocab *vocab;
    ef_train_data data;
    ef_train_model model;
    ef_pool *pool;
    float *adam_m, *adam_v; /* [n_floats] */
    int32_t *batch_tokens;  /* [B, T+1] windows: inputs are [.., 0..T-1], targets [.., 1..T] */
    int32_t *inputs, *targets; /* [B, T] */
    int64_t step;
    ef_rng rng;            /* data order */
};

/* train_data.c: the tokenizer named by p->vocab, and the tokens of p->data/text. */
ef_status ef_train_vocab_open(const char *spec, ef_gguf **g, ef_vocab **v);
ef_status ef_train_data_load(const ef_train_params *p, const ef_vocab *v, ef_train_data *d);
/* Hands each text of a "data" spec (file, folder, dir:, brown:, or
 * wikitext:'s training file) to fn, as the trainer reads it. */
typedef ef_status (*ef_text_fn)(void *user, const char *text, size_t len);
ef_status ef_train_data_each_text(const char *data, ef_text_fn fn, void *user);
void ef_train_data_free(ef_train_data *d);
/* Fills t->inputs/targets with B windows: random from the train part (rng), or
 * validation window `index` of eval_batches·B evenly spaced ones. */
void ef_train_data_sample(ef_trainer *t);
void ef_train_data_val(ef_trainer *t, int64_t batch_index);

/* train_init.c: fine-tuning. Opens a llama/edgeformer GGUF, checks the
 * trainer can model it, and sets *shape (all but seq) from it. */
ef_status ef_train_init_open(const char *path, ef_train_shape *shape, ef_model **out);
/* Copies (converting F16/BF16) the model's weights into the layout. */
ef_status ef_train_init_copy(const ef_model *m, const ef_train_shape *s, const ef_train_layout *lay,
                             float *params);

#endif
