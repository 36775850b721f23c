/* The loaded model: hyperparameters, weights bound to GGUF tensors, and the
 * vocabulary. Immutable after load; shared by sessions (reference-counted). */
#ifndef EF_MODEL_MODEL_H
#define EF_MODEL_MODEL_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/error.h"
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

typedef enum ef_arch { EF_ARCH_LLAMA = 0, EF_ARCH_QWEN2 = 1, EF_ARCH_DEEPSEEK2 = 2 } ef_arch;

/* How a layer's attention keeps its cache. */
typedef enum ef_attn_kind {
    EF_ATTN_MHA_GQA = 0, /* K and V rows of n_head_kv*head_dim */
    EF_ATTN_MLA = 1      /* one row of kv_lora_rank + qk_rope_head_dim per token (latent + RoPE key) */
} ef_attn_kind;

/* How the router of a MoE layer turns logits into probabilities. */
typedef enum ef_moe_gating { EF_MOE_SOFTMAX = 1, EF_MOE_SIGMOID = 2 } ef_moe_gating;

typedef enum ef_rope_mode {
    EF_ROPE_NORM = 0, /* rotate adjacent pairs (x[2i], x[2i+1]) — llama in GGUF */
    EF_ROPE_NEOX = 1  /* rotate halves (x[i], x[i+n_rot/2]) — qwen2 */
} ef_rope_mode;

/* A weight as the compute code sees it. ne[0] is the contiguous (input) dim:
 * a matrix with ne = {n_in, n_out} holds n_out rows of n_in elements. */
typedef struct ef_tensor {
    const char *name;
    uint32_t type;     /* EF_TYPE_* */
    int32_t n_dims;
    int64_t ne[4];
    const void *data;
    uint64_t nbytes;
} ef_tensor;

typedef struct ef_hparams {
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;     /* n_embd / n_head unless attention.key_length says otherwise */
    int32_t n_ff;
    int32_t n_rot;        /* rope.dimension_count, default head_dim */
    float norm_eps;       /* attention.layer_norm_rms_epsilon */
    float rope_freq_base; /* rope.freq_base, default 10000 */
    float rope_freq_scale;/* 1 / rope.scaling.factor for linear scaling, else 1 */
    ef_rope_mode rope_mode;

    /* ---- Multi-head Latent Attention (deepseek2, edgeformer mla*) ---- */
    ef_attn_kind attn_kind;
    int32_t q_lora_rank;     /* 0: plain attn_q */
    int32_t kv_lora_rank;    /* latent c_kv size (cached) */
    int32_t qk_nope_dim;     /* per-head key/query part without RoPE */
    int32_t qk_rope_dim;     /* decoupled RoPE key (cached, shared by all heads) */
    int32_t v_head_dim;      /* per-head value size */
    int32_t mla_split;       /* 1: attn_k_b/attn_v_b (the *_mla keys); 0: legacy attn_kv_b */
    float kq_scale;          /* score scale: mscale² / sqrt(qk_nope_dim + qk_rope_dim) for MLA */
    float yarn_factor;       /* rope.scaling.factor when rope.scaling.type is "yarn", else 0 */
    int32_t yarn_orig_ctx;   /* rope.scaling.original_context_length */
    float yarn_log_mul;      /* rope.scaling.yarn_log_multiplier (0.1 * mscale_all_dim) */

    /* ---- Mixture of experts (deepseek2) ---- */
    int32_t n_layer_dense_lead; /* leading layers with a dense FFN */
    int32_t n_expert;           /* routed experts; 0: every layer dense */
    int32_t n_expert_used;      /* top-k */
    int32_t n_expert_shared;    /* shared experts (one fused FFN of n_ff_exp*n_shared) */
    int32_t n_ff_exp;           /* hidden size of one expert */
    int32_t expert_weights_norm;/* 1: selected weights divided by their sum */
    float expert_weights_scale; /* selected weights multiplied by this (1 when absent) */
    ef_moe_gating expert_gating;

    /* ---- sliding-window attention ---- */
    int32_t n_swa;              /* window in tokens (0: none) */
    int32_t swa_pattern;        /* layer il is windowed iff il % p < p - 1 (1: all when n_swa) */
    int32_t n_sinks;            /* attention-sink tokens kept besides the window */
} ef_hparams;

typedef struct ef_layer {
    const ef_tensor *attn_norm;                /* [n_embd] */
    const ef_tensor *wq, *wk, *wv, *wo;        /* {n_embd, n_head*hd}, {n_embd, n_kv*hd} x2, {n_head*hd, n_embd} */
    const ef_tensor *bq, *bk, *bv;             /* qwen2 biases, else NULL */
    const ef_tensor *ffn_norm;                 /* [n_embd] */
    const ef_tensor *ffn_gate, *ffn_up;        /* {n_embd, n_ff} */
    const ef_tensor *ffn_down;                 /* {n_ff, n_embd} */

    /* MLA (wq is attn_q when q_lora_rank == 0) */
    const ef_tensor *wq_a;      /* {n_embd, q_lora_rank} */
    const ef_tensor *q_a_norm;  /* [q_lora_rank] */
    const ef_tensor *wq_b;      /* {q_lora_rank, n_head*(nope+rope)} */
    const ef_tensor *wkv_a_mqa; /* {n_embd, kv_lora_rank + rope} */
    const ef_tensor *kv_a_norm; /* [kv_lora_rank] */
    const ef_tensor *wk_b;      /* {nope, kv_lora_rank, n_head} (split layout) */
    const ef_tensor *wv_b;      /* {kv_lora_rank, v_head_dim, n_head} (split layout) */
    const ef_tensor *wkv_b;     /* {kv_lora_rank, n_head*(nope+v)} (legacy layout) */

    /* MoE (layers ≥ n_layer_dense_lead when n_expert > 0) */
    const ef_tensor *ffn_gate_inp;   /* {n_embd, n_expert} */
    const ef_tensor *ffn_gate_exps;  /* {n_embd, n_ff_exp, n_expert} */
    const ef_tensor *ffn_up_exps;    /* {n_embd, n_ff_exp, n_expert} */
    const ef_tensor *ffn_down_exps;  /* {n_ff_exp, n_embd, n_expert} */
    const ef_tensor *ffn_gate_shexp; /* {n_embd, n_ff_exp*n_shared} */
    const ef_tensor *ffn_up_shexp;   /* {n_embd, n_ff_exp*n_shared} */
    const ef_tensor *ffn_down_shexp; /* {n_ff_exp*n_shared, n_embd} */
    const ef_tensor *exp_probs_b;    /* [n_expert] selection bias, or NULL */
    int32_t is_moe;                  /* this layer's FFN is the MoE one */
    int32_t n_swa;                   /* this layer's window (0: full causal) */
} ef_layer;

struct ef_model {
    atomic_int refcount;
    ef_gguf *gguf;
    char arch_name[32];
    ef_arch arch;
    ef_hparams hp;
    ef_tensor *tensors;      /* every GGUF tensor, same order */
    int64_t n_tensors;
    const ef_tensor *tok_embd;    /* {n_embd, n_vocab} */
    const ef_tensor *output_norm; /* [n_embd] */
    const ef_tensor *output;      /* {n_embd, n_vocab}; == tok_embd when tied */
    const ef_tensor *rope_freqs;  /* [n_rot/2] Llama-3 factors, or NULL */
    float *rope_factors;          /* [n_rot/2] rope_freqs converted to F32 (owned), or NULL */
    ef_layer *layers;             /* [n_layer] */
    ef_vocab *vocab;
    uint64_t n_params;
    uint64_t n_bytes;
    void **owned_data;            /* [n_tensors] weights requantized at load (owned), else NULL */
    char quant_profile[32];       /* profile applied at load, "" if none */
    _Atomic uint64_t fingerprint; /* ef_model_fingerprint's cache; 0: not computed yet */
    struct ef_sparsity_meta *sparsity; /* sparse-MLP metadata (model/sparsity.h), NULL when none */
    _Atomic(struct ef_sparse_layout *) sparse_layout; /* ffn_down as neuron rows for sparse decode, built on
                                                         first use (model/sparsity_layout.c), NULL before */
};
typedef struct ef_model ef_model;
typedef struct ef_sparse_layout ef_sparse_layout;
struct ef_quant_profile;

/* Binds an opened GGUF (ownership passes to the model, also on failure) into a
 * model: reads hyperparameters, checks every required tensor's presence,
 * type and shape, builds the vocabulary. Messages name the key or tensor. */
ef_status ef_model_from_gguf(ef_gguf *g, ef_model **out);
/* The same, quantizing the weights in memory as `profile` chooses (NULL: as is). */
ef_status ef_model_from_gguf_quant(ef_gguf *g, const struct ef_quant_profile *profile, ef_model **out);
void ef_model_retain(ef_model *m);
void ef_model_release(ef_model *m);

/* The architectures this build runs: name → id; -1 if unknown. */
int32_t ef_arch_from_name(const char *name);

/* 1 when layer il of hp attends within a sliding window. */
int32_t ef_hparams_layer_is_swa(const ef_hparams *hp, int32_t il);

/* ---- steps of ef_model_from_gguf, one file each (used within lib/model) ---- */
/* Reads and validates "{arch}.*" hyperparameters (all but n_vocab, which
 * comes from token_embd). Messages name the key. */
ef_status ef_hparams_read(const ef_gguf *g, const char *arch_name, ef_arch arch, ef_hparams *hp);
/* Binds m->tensors to the named weights of m->hp, checking presence, type
 * and shape; sets hp.n_vocab from token_embd. Messages name the tensor. */
ef_status ef_weights_bind(ef_model *m);
/* Converts m->tensors' weight matrices to the types `profile` chooses, into
 * buffers the model owns (m->owned_data); updates n_bytes. */
ef_status ef_model_requantize(ef_model *m, const struct ef_quant_profile *profile);

/* A 64-bit hash of what makes two models compute the same KV cache and
 * logits: architecture, hyperparameters, every tensor's name, type and
 * shape, and a sample of each tensor's bytes (fingerprint.c says exactly
 * which). Computed on first use and cached; thread-safe; never 0. */
uint64_t ef_model_fingerprint(const ef_model *m);

#endif
