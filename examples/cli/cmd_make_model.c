/* `edgeformer make-model`: writes a random-weight llama/qwen2/deepseek2/
 * edgeformer model as GGUF, the fixture of the model, conformance and
 * benchmark tests. deepseek2 (and edgeformer --attn mla*) get Multi-head
 * Latent Attention tensors in the split (attn_k_b/attn_v_b) or legacy
 * (attn_kv_b) layout; --experts makes MoE FFN layers.
 *
 * Weights come from a seeded splitmix64 stream (Box-Muller normals), one
 * tensor at a time in a fixed order, so a seed always gives the same file.
 * Matrices ~ N(0, 1/sqrt(n_in)); norm weights 1 + small noise; biases small. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/fp16.h"
#include "cli.h"
#include "format/gguf.h"
#include "quant/types.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *name;
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
} preset;

static const preset k_presets[] = {
    {"tiny", 64, 2, 4, 2, 160, 512, 256},
    {"small", 256, 4, 8, 4, 688, 512, 512},
    {"125m", 768, 12, 12, 4, 2048, 32000, 2048},
    {"853m", 2048, 16, 32, 8, 5632, 32000, 2048},
};

typedef struct {
    const char *arch, *out, *vocab;
    preset p;
    int64_t head_dim; /* 0: n_embd / n_head */
    int tied, rope_freqs;
    double rope_scale, rope_base; /* 0: none / default */
    uint32_t type;                /* matrices: any type with from_float */
    uint64_t seed;
    /* MLA (deepseek2, edgeformer mla/mla_window) */
    int mla;                      /* set from --arch/--attn */
    const char *attn;             /* edgeformer attention type, NULL: none written */
    int64_t q_lora, kv_lora, qk_nope, qk_rope, v_head;
    int legacy_kv_b;              /* --mla-layout legacy */
    /* MoE */
    int64_t n_expert, n_expert_used, n_expert_shared, n_dense_lead, n_ff_exp;
    int64_t gating;               /* 1 softmax, 2 sigmoid */
    int exp_probs_b, expert_norm;
    double expert_scale;          /* 0: key not written */
    /* YaRN */
    double yarn_factor, yarn_log_mul;
    int64_t yarn_orig_ctx;
    /* sliding window */
    int64_t window, swa_pattern, sinks;
    /* sparse MLP (docs/sparsity.md) */
    const char *ffn_act;          /* --ffn-act relu|silu (edgeformer), NULL: key not written */
    double ffn_keep;              /* --ffn-keep F: random keep mask of F*n_ff neurons per layer, 0: none */
} options;

/* ---- deterministic random numbers ---- */

typedef struct { uint64_t state; int has_spare; double spare; } rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(rng *r) { /* (0, 1) */
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static const double k_two_pi = 6.283185307179586;

static double rng_normal(rng *r) { /* Box-Muller, both values used */
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u = rng_uniform(r), v = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u));
    r->spare = rad * sin(k_two_pi * v);
    r->has_spare = 1;
    return rad * cos(k_two_pi * v);
}

/* ---- tensors ---- */

typedef struct {
    ef_gguf_writer *w;
    rng r;
    void **bufs; /* tensor data, alive until the file is written */
    int n_bufs, cap_bufs;
} builder;

typedef enum { FILL_MATRIX, FILL_NORM, FILL_BIAS, FILL_ROPE_FACTORS } fill_kind;

static double sample(builder *b, fill_kind kind, int64_t n_in) {
    switch (kind) {
    case FILL_MATRIX: return rng_normal(&b->r) / sqrt((double)n_in);
    case FILL_NORM: return 1.0 + 0.1 * rng_normal(&b->r);
    case FILL_BIAS: return 0.1 * rng_normal(&b->r);
    case FILL_ROPE_FACTORS: return 1.0 + 3.0 * rng_uniform(&b->r);
    }
    return 0.0;
}

/* Adds a tensor of ne = {ne0, ne1} (ne1 == 0: 1-D) filled per `kind`. The
 * values are drawn as floats in the same order for every `type` (so one seed
 * gives the same weights in F32 and in each quantized type), then each row is
 * converted with the type's from_float. */
static ef_status add_tensor3(builder *b, const char *name, uint32_t type, int64_t ne0, int64_t ne1,
                             int64_t ne2, fill_kind kind);

static ef_status add_tensor(builder *b, const char *name, uint32_t type, int64_t ne0, int64_t ne1,
                            fill_kind kind) {
    return add_tensor3(b, name, type, ne0, ne1, 0, kind);
}

/* add_tensor with a third dim (ne2 == 0: none), e.g. stacked experts. */
static ef_status add_tensor3(builder *b, const char *name, uint32_t type, int64_t ne0, int64_t ne1,
                             int64_t ne2, fill_kind kind) {
    int64_t ne[3] = {ne0, ne1 ? ne1 : 1, ne2 ? ne2 : 1};
    const uint64_t row_bytes = ef_type_row_size(type, ne0);
    if (row_bytes == 0)
        return ef_err(EF_ERR_INVALID_ARG, "tensor '%s': row of %lld elements is not a multiple of %s's block of %d",
                      name, (long long)ne0, ef_type_name(type), ef_type_get(type) ? (int)ef_type_get(type)->block_size : 0);
    const uint64_t n_rows = (uint64_t)ne[1] * (uint64_t)ne[2];
    const uint64_t bytes = row_bytes * n_rows;
    if (b->n_bufs == b->cap_bufs) {
        int cap = b->cap_bufs ? 2 * b->cap_bufs : 64;
        void **nb = ef_realloc(b->bufs, sizeof *nb * (size_t)cap);
        if (!nb) return ef_err(EF_ERR_NO_MEMORY, "out of memory for tensor '%s'", name);
        b->bufs = nb;
        b->cap_bufs = cap;
    }
    uint8_t *data = ef_malloc((size_t)bytes); /* [ne1][row_bytes] of `type` */
    if (!data) return ef_err(EF_ERR_NO_MEMORY, "out of memory for tensor '%s' (%llu bytes)", name,
                             (unsigned long long)bytes);
    b->bufs[b->n_bufs++] = data;
    float *row = ef_malloc(sizeof *row * (size_t)ne0); /* [ne0] one row before conversion */
    if (!row) return ef_err(EF_ERR_NO_MEMORY, "out of memory for a row of tensor '%s'", name);
    ef_status st = EF_OK;
    for (uint64_t r = 0; r < n_rows && st == EF_OK; r++) {
        for (int64_t i = 0; i < ne0; i++) row[i] = (float)sample(b, kind, ne0);
        st = ef_quantize_row(type, row, data + (uint64_t)r * row_bytes, ne0);
    }
    ef_free(row);
    if (st != EF_OK) return ef_err_prefix(st, "tensor '%s'", name);
    return ef_gguf_writer_add_tensor(b->w, name, type, ne2 ? 3 : ne1 ? 2 : 1, ne, data, bytes);
}

static ef_status add_weights(builder *b, const options *o) {
    const preset *p = &o->p;
    const int64_t hd = o->head_dim ? o->head_dim : p->n_embd / p->n_head;
    const int64_t q_dim = p->n_head * hd, kv_dim = p->n_head_kv * hd;
    const int qwen = strcmp(o->arch, "qwen2") == 0;
    char name[64];
    EF_TRY(add_tensor(b, "token_embd.weight", o->type, p->n_embd, p->n_vocab, FILL_MATRIX));
    if (o->rope_freqs)
        EF_TRY(add_tensor(b, "rope_freqs.weight", EF_TYPE_F32, (o->mla ? o->qk_rope : hd) / 2, 0, FILL_ROPE_FACTORS));
#define LAYER_TENSOR(suffix, type, ne0, ne1, kind)                            \
    do {                                                                      \
        snprintf(name, sizeof name, "blk.%d.%s", (int)il, suffix);            \
        EF_TRY(add_tensor(b, name, type, ne0, ne1, kind));                    \
    } while (0)
#define LAYER_TENSOR3(suffix, type, ne0, ne1, ne2, kind)                      \
    do {                                                                      \
        snprintf(name, sizeof name, "blk.%d.%s", (int)il, suffix);            \
        EF_TRY(add_tensor3(b, name, type, ne0, ne1, ne2, kind));              \
    } while (0)
    for (int64_t il = 0; il < p->n_layer; il++) {
        LAYER_TENSOR("attn_norm.weight", EF_TYPE_F32, p->n_embd, 0, FILL_NORM);
        if (o->mla) {
            const int64_t H = p->n_head, dq = o->qk_nope + o->qk_rope;
            if (o->q_lora) {
                LAYER_TENSOR("attn_q_a.weight", o->type, p->n_embd, o->q_lora, FILL_MATRIX);
                LAYER_TENSOR("attn_q_a_norm.weight", EF_TYPE_F32, o->q_lora, 0, FILL_NORM);
                LAYER_TENSOR("attn_q_b.weight", o->type, o->q_lora, H * dq, FILL_MATRIX);
            } else {
                LAYER_TENSOR("attn_q.weight", o->type, p->n_embd, H * dq, FILL_MATRIX);
            }
            LAYER_TENSOR("attn_kv_a_mqa.weight", o->type, p->n_embd, o->kv_lora + o->qk_rope, FILL_MATRIX);
            LAYER_TENSOR("attn_kv_a_norm.weight", EF_TYPE_F32, o->kv_lora, 0, FILL_NORM);
            if (o->legacy_kv_b) {
                LAYER_TENSOR("attn_kv_b.weight", o->type, o->kv_lora, H * (o->qk_nope + o->v_head), FILL_MATRIX);
            } else {
                LAYER_TENSOR3("attn_k_b.weight", o->type, o->qk_nope, o->kv_lora, H, FILL_MATRIX);
                LAYER_TENSOR3("attn_v_b.weight", o->type, o->kv_lora, o->v_head, H, FILL_MATRIX);
            }
            LAYER_TENSOR("attn_output.weight", o->type, H * o->v_head, p->n_embd, FILL_MATRIX);
            LAYER_TENSOR("ffn_norm.weight", EF_TYPE_F32, p->n_embd, 0, FILL_NORM);
        }
        if (!o->mla) {
        LAYER_TENSOR("attn_q.weight", o->type, p->n_embd, q_dim, FILL_MATRIX);
        LAYER_TENSOR("attn_k.weight", o->type, p->n_embd, kv_dim, FILL_MATRIX);
        LAYER_TENSOR("attn_v.weight", o->type, p->n_embd, kv_dim, FILL_MATRIX);
        if (qwen) {
            LAYER_TENSOR("attn_q.bias", EF_TYPE_F32, q_dim, 0, FILL_BIAS);
            LAYER_TENSOR("attn_k.bias", EF_TYPE_F32, kv_dim, 0, FILL_BIAS);
            LAYER_TENSOR("attn_v.bias", EF_TYPE_F32, kv_dim, 0, FILL_BIAS);
        }
        LAYER_TENSOR("attn_output.weight", o->type, q_dim, p->n_embd, FILL_MATRIX);
        LAYER_TENSOR("ffn_norm.weight", EF_TYPE_F32, p->n_embd, 0, FILL_NORM);
        }
        if (o->n_expert && il >= o->n_dense_lead) {
            const int64_t E = o->n_expert, ff = o->n_ff_exp, sh = o->n_ff_exp * o->n_expert_shared;
            LAYER_TENSOR("ffn_gate_inp.weight", o->type, p->n_embd, E, FILL_MATRIX);
            LAYER_TENSOR3("ffn_gate_exps.weight", o->type, p->n_embd, ff, E, FILL_MATRIX);
            LAYER_TENSOR3("ffn_up_exps.weight", o->type, p->n_embd, ff, E, FILL_MATRIX);
            LAYER_TENSOR3("ffn_down_exps.weight", o->type, ff, p->n_embd, E, FILL_MATRIX);
            if (sh) {
                LAYER_TENSOR("ffn_gate_shexp.weight", o->type, p->n_embd, sh, FILL_MATRIX);
                LAYER_TENSOR("ffn_up_shexp.weight", o->type, p->n_embd, sh, FILL_MATRIX);
                LAYER_TENSOR("ffn_down_shexp.weight", o->type, sh, p->n_embd, FILL_MATRIX);
            }
            if (o->exp_probs_b) LAYER_TENSOR("exp_probs_b.bias", EF_TYPE_F32, E, 0, FILL_BIAS);
            continue;
        }
        LAYER_TENSOR("ffn_gate.weight", o->type, p->n_embd, p->n_ff, FILL_MATRIX);
        LAYER_TENSOR("ffn_up.weight", o->type, p->n_embd, p->n_ff, FILL_MATRIX);
        LAYER_TENSOR("ffn_down.weight", o->type, p->n_ff, p->n_embd, FILL_MATRIX);
    }
#undef LAYER_TENSOR
#undef LAYER_TENSOR3
    EF_TRY(add_tensor(b, "output_norm.weight", EF_TYPE_F32, p->n_embd, 0, FILL_NORM));
    if (!o->tied) EF_TRY(add_tensor(b, "output.weight", o->type, p->n_embd, p->n_vocab, FILL_MATRIX));
    return EF_OK;
}

/* ---- metadata ---- */

static ef_status set_arch_u32(ef_gguf_writer *w, const char *arch, const char *suffix, int64_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return ef_gguf_writer_set_u32(w, key, (uint32_t)v);
}

static ef_status set_arch_f32(ef_gguf_writer *w, const char *arch, const char *suffix, double v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return ef_gguf_writer_set_f32(w, key, (float)v);
}

static ef_status set_hparams(ef_gguf_writer *w, const options *o, const char *preset_name) {
    const preset *p = &o->p;
    const char *a = o->arch;
    const int64_t hd = o->head_dim ? o->head_dim : p->n_embd / p->n_head;
    char name[96];
    snprintf(name, sizeof name, "edgeformer-random-%s-%s", a, preset_name);
    EF_TRY(ef_gguf_writer_set_str(w, "general.architecture", a));
    EF_TRY(ef_gguf_writer_set_str(w, "general.name", name));
    EF_TRY(set_arch_u32(w, a, "context_length", p->n_ctx));
    EF_TRY(set_arch_u32(w, a, "embedding_length", p->n_embd));
    EF_TRY(set_arch_u32(w, a, "block_count", p->n_layer));
    EF_TRY(set_arch_u32(w, a, "feed_forward_length", p->n_ff));
    EF_TRY(set_arch_u32(w, a, "attention.head_count", p->n_head));
    EF_TRY(set_arch_u32(w, a, "attention.head_count_kv",
                        o->mla ? (o->legacy_kv_b ? p->n_head : 1) : p->n_head_kv));
    EF_TRY(set_arch_f32(w, a, "attention.layer_norm_rms_epsilon", 1e-5));
    if (o->attn) {
        char key[128];
        snprintf(key, sizeof key, "%s.attention.type", a);
        EF_TRY(ef_gguf_writer_set_str(w, key, o->attn));
    }
    if (o->mla) {
        /* split: key/value_length describe the cached row, *_mla the heads;
         * legacy: key/value_length are the heads, no *_mla keys */
        if (o->q_lora) EF_TRY(set_arch_u32(w, a, "attention.q_lora_rank", o->q_lora));
        EF_TRY(set_arch_u32(w, a, "attention.kv_lora_rank", o->kv_lora));
        if (o->legacy_kv_b) {
            EF_TRY(set_arch_u32(w, a, "attention.key_length", o->qk_nope + o->qk_rope));
            EF_TRY(set_arch_u32(w, a, "attention.value_length", o->v_head));
        } else {
            EF_TRY(set_arch_u32(w, a, "attention.key_length", o->kv_lora + o->qk_rope));
            EF_TRY(set_arch_u32(w, a, "attention.value_length", o->kv_lora));
            EF_TRY(set_arch_u32(w, a, "attention.key_length_mla", o->qk_nope + o->qk_rope));
            EF_TRY(set_arch_u32(w, a, "attention.value_length_mla", o->v_head));
        }
        EF_TRY(set_arch_u32(w, a, "rope.dimension_count", o->qk_rope));
    } else {
        if (o->head_dim) {
            EF_TRY(set_arch_u32(w, a, "attention.key_length", hd));
            EF_TRY(set_arch_u32(w, a, "attention.value_length", hd));
        }
        EF_TRY(set_arch_u32(w, a, "rope.dimension_count", hd));
    }
    if (o->n_expert) {
        EF_TRY(set_arch_u32(w, a, "expert_count", o->n_expert));
        EF_TRY(set_arch_u32(w, a, "expert_used_count", o->n_expert_used));
        EF_TRY(set_arch_u32(w, a, "expert_shared_count", o->n_expert_shared));
        EF_TRY(set_arch_u32(w, a, "expert_feed_forward_length", o->n_ff_exp));
        EF_TRY(set_arch_u32(w, a, "leading_dense_block_count", o->n_dense_lead));
        EF_TRY(set_arch_u32(w, a, "expert_gating_func", o->gating));
        char key[128];
        snprintf(key, sizeof key, "%s.expert_weights_norm", a);
        EF_TRY(ef_gguf_writer_set_bool(w, key, o->expert_norm));
        if (o->expert_scale) EF_TRY(set_arch_f32(w, a, "expert_weights_scale", o->expert_scale));
    }
    if (o->yarn_factor) {
        char key[128];
        snprintf(key, sizeof key, "%s.rope.scaling.type", a);
        EF_TRY(ef_gguf_writer_set_str(w, key, "yarn"));
        EF_TRY(set_arch_f32(w, a, "rope.scaling.factor", o->yarn_factor));
        EF_TRY(set_arch_u32(w, a, "rope.scaling.original_context_length", o->yarn_orig_ctx ? o->yarn_orig_ctx : p->n_ctx));
        EF_TRY(set_arch_f32(w, a, "rope.scaling.yarn_log_multiplier", o->yarn_log_mul));
    }
    if (o->window) {
        EF_TRY(set_arch_u32(w, a, "attention.sliding_window", o->window));
        if (o->swa_pattern) EF_TRY(set_arch_u32(w, a, "attention.sliding_window_pattern", o->swa_pattern));
        if (o->sinks) EF_TRY(set_arch_u32(w, a, "attention.sink_count", o->sinks));
    }
    EF_TRY(set_arch_f32(w, a, "rope.freq_base", o->rope_base ? o->rope_base : 10000.0));
    if (o->rope_scale) {
        char key[128];
        snprintf(key, sizeof key, "%s.rope.scaling.type", a);
        EF_TRY(ef_gguf_writer_set_str(w, key, "linear"));
        EF_TRY(set_arch_f32(w, a, "rope.scaling.factor", o->rope_scale));
    }
    return EF_OK;
}

/* GPT-2's vocabulary from DIR: written to a scratch file first, to learn its
 * size (the embedding's row count) and then copied key by key. */
static ef_status set_gpt2_vocab(ef_gguf_writer *w, const char *dir, const char *out, int64_t *n_vocab) {
    char enc[4096], bpe[4096], tmp[4096];
    snprintf(enc, sizeof enc, "%s/encoder.json", dir);
    snprintf(bpe, sizeof bpe, "%s/vocab.bpe", dir);
    snprintf(tmp, sizeof tmp, "%s.vocab.tmp", out);
    ef_gguf_writer *vw = NULL;
    ef_gguf *g = NULL;
    ef_status st = ef_gguf_writer_create(&vw);
    if (!st) st = ef_vocab_write_gpt2_files(vw, enc, bpe);
    if (!st) st = ef_gguf_writer_write(vw, tmp);
    ef_gguf_writer_free(vw);
    if (!st) st = ef_gguf_open(tmp, 0, &g);
    uint32_t et;
    uint64_t n = 0;
    if (!st) st = ef_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n);
    for (int64_t i = 0; !st && i < ef_gguf_n_kv(g); i++) st = ef_gguf_writer_copy_kv(w, g, i);
    ef_gguf_close(g);
    remove(tmp);
    *n_vocab = (int64_t)n;
    return st;
}

/* ---- sparse MLP options ---- */

/* edgeformer.ffn_activation, and a random keep mask (edgeformer.sparsity.keep,
 * u8[n_layer][n_ff]) keeping the same multiple of 32 neurons in every layer. */
static ef_status add_sparse_mlp_keys(ef_gguf_writer *w, const options *o) {
    if (o->ffn_act) EF_TRY(ef_gguf_writer_set_str(w, "edgeformer.ffn_activation", o->ffn_act));
    if (o->ffn_keep <= 0.0) return EF_OK;
    const int64_t n_ff = o->p.n_ff, L = o->p.n_layer;
    int64_t kept = (int64_t)(o->ffn_keep * (double)n_ff / 32.0 + 0.5) * 32;
    if (kept < 32) kept = 32;
    if (kept > n_ff) kept = n_ff;
    uint8_t *keep = ef_calloc((size_t)(L * n_ff), 1);      /* [n_layer][n_ff] */
    int64_t *perm = ef_malloc(sizeof(int64_t) * (size_t)n_ff); /* [n_ff] a shuffle of the neurons */
    if (!keep || !perm) {
        ef_free(keep);
        ef_free(perm);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory for the keep mask");
    }
    uint64_t state = o->seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t il = 0; il < L; il++) {
        for (int64_t j = 0; j < n_ff; j++) perm[j] = j;
        for (int64_t j = n_ff - 1; j > 0; j--) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            const int64_t k = (int64_t)((state >> 33) % (uint64_t)(j + 1));
            const int64_t t = perm[j];
            perm[j] = perm[k];
            perm[k] = t;
        }
        for (int64_t j = 0; j < kept; j++) keep[il * n_ff + perm[j]] = 1;
    }
    ef_status st = ef_gguf_writer_set_arr(w, "edgeformer.sparsity.keep", EF_GGUF_U8, keep, (uint64_t)(L * n_ff));
    ef_free(keep);
    ef_free(perm);
    return st;
}

/* ---- command line ---- */

static int usage(void) {
    fputs("usage: edgeformer make-model --arch llama|qwen2|deepseek2|edgeformer --preset tiny|small|125m|853m -o OUT.gguf\n"
          "  [--n-embd N] [--n-layer N] [--n-head N] [--n-head-kv N] [--n-ff N] [--n-vocab N]\n"
          "  [--ctx N] [--head-dim N] [--tied] [--rope-freqs] [--rope-scale F] [--rope-base F]\n"
          "  [--type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q2_k..q6_k|tq1_0|tq2_0] [--seed N] [--vocab synthetic|gpt2:DIR]\n"
          "  MLA (deepseek2; edgeformer --attn mla|mla_window): [--q-lora N] [--kv-lora N] [--qk-nope N]\n"
          "    [--qk-rope N] [--v-head N] [--mla-layout split|legacy]\n"
          "  edgeformer: [--attn mha|gqa|mla|mla_window|gqa_window]\n"
          "  MoE: [--experts N --experts-used K] [--experts-shared N] [--dense-lead N] [--n-ff-exp N]\n"
          "    [--gating softmax|sigmoid] [--exp-probs-b] [--expert-norm] [--expert-scale F]\n"
          "  YaRN: [--yarn FACTOR] [--yarn-orig-ctx N] [--yarn-log-mul F]\n"
          "  windows: [--window N] [--swa-pattern N] [--sinks N]\n"
          "  sparse MLP: [--ffn-act relu|silu] (edgeformer) [--ffn-keep F] (random keep mask, F*n_ff per layer)\n",
          stderr);
    return 2;
}

static int fail(const char *what) {
    fprintf(stderr, "edgeformer: error: make-model: %s: %s\n", what, ef_err_msg());
    return 1;
}

/* Parses argv into *o; returns 0, or the exit code of a usage error. */
static int parse_args(int argc, char **argv, options *o, const char **preset_name) {
    const char *preset_opt = "tiny", *type = "f32";
    int64_t v = 0;
    double f = 0;
    int64_t *ints[] = {&o->p.n_embd, &o->p.n_layer, &o->p.n_head, &o->p.n_head_kv, &o->p.n_ff,
                       &o->p.n_vocab, &o->p.n_ctx, &o->head_dim};
    const char *int_names[] = {"--n-embd", "--n-layer", "--n-head", "--n-head-kv", "--n-ff",
                               "--n-vocab", "--ctx", "--head-dim"};
    int64_t overrides[8];
    int overridden[8] = {0};
    int64_t seed = 42;

    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage();
        if (!strcmp(argv[i], "--tied")) { o->tied = 1; continue; }
        if (!strcmp(argv[i], "--rope-freqs")) { o->rope_freqs = 1; continue; }
        if (!strcmp(argv[i], "--exp-probs-b")) { o->exp_probs_b = 1; continue; }
        if (!strcmp(argv[i], "--expert-norm")) { o->expert_norm = 1; continue; }
        const char *sval = NULL;
        if ((r = cli_opt_str(argc, argv, &i, "--attn", &sval))) {
            if (r < 0) return cli_usage_error("make-model: --attn needs a value");
            o->attn = sval;
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--ffn-act", &sval))) {
            if (r < 0 || (strcmp(sval, "relu") && strcmp(sval, "silu")))
                return cli_usage_error("make-model: --ffn-act must be relu or silu");
            o->ffn_act = sval;
            continue;
        }
        if ((r = cli_opt_f64(argc, argv, &i, "--ffn-keep", &f))) {
            if (r < 0 || !(f > 0.0 && f <= 1.0)) return cli_usage_error("make-model: --ffn-keep needs a fraction in (0, 1]");
            o->ffn_keep = f;
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--mla-layout", &sval))) {
            if (r < 0 || (strcmp(sval, "split") && strcmp(sval, "legacy")))
                return cli_usage_error("make-model: --mla-layout must be split or legacy");
            o->legacy_kv_b = !strcmp(sval, "legacy");
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--gating", &sval))) {
            if (r < 0 || (strcmp(sval, "softmax") && strcmp(sval, "sigmoid")))
                return cli_usage_error("make-model: --gating must be softmax or sigmoid");
            o->gating = !strcmp(sval, "sigmoid") ? 2 : 1;
            continue;
        }
        {
            /* counts that may be 0 */
            int64_t *ext_ints[] = {&o->q_lora, &o->kv_lora, &o->qk_nope, &o->qk_rope, &o->v_head,
                                   &o->n_expert, &o->n_expert_used, &o->n_expert_shared, &o->n_dense_lead,
                                   &o->n_ff_exp, &o->yarn_orig_ctx, &o->window, &o->swa_pattern, &o->sinks};
            const char *ext_names[] = {"--q-lora", "--kv-lora", "--qk-nope", "--qk-rope", "--v-head",
                                       "--experts", "--experts-used", "--experts-shared", "--dense-lead",
                                       "--n-ff-exp", "--yarn-orig-ctx", "--window", "--swa-pattern", "--sinks"};
            int hit = 0;
            for (size_t k = 0; k < sizeof ext_ints / sizeof ext_ints[0] && !hit; k++)
                if ((r = cli_opt_i64(argc, argv, &i, ext_names[k], &v))) {
                    if (r < 0 || v < 0 || v > (1 << 24))
                        return cli_usage_error("make-model: %s needs a number in 0..%d", ext_names[k], 1 << 24);
                    *ext_ints[k] = v;
                    hit = 1;
                }
            if (hit) continue;
            double *ext_f[] = {&o->expert_scale, &o->yarn_factor, &o->yarn_log_mul};
            const char *ext_fnames[] = {"--expert-scale", "--yarn", "--yarn-log-mul"};
            for (size_t k = 0; k < 3 && !hit; k++)
                if ((r = cli_opt_f64(argc, argv, &i, ext_fnames[k], &f))) {
                    if (r < 0 || !(f >= 0) || f > 1e6)
                        return cli_usage_error("make-model: %s needs a non-negative number", ext_fnames[k]);
                    *ext_f[k] = f;
                    hit = 1;
                }
            if (hit) continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--arch", &o->arch)) ||
            (r = cli_opt_str(argc, argv, &i, "--preset", &preset_opt)) ||
            (r = cli_opt_str(argc, argv, &i, "--type", &type)) ||
            (r = cli_opt_str(argc, argv, &i, "--vocab", &o->vocab)) ||
            (r = cli_opt_str(argc, argv, &i, "-o", &o->out)) ||
            (r = cli_opt_i64(argc, argv, &i, "--seed", &seed))) {
            if (r < 0) return cli_usage_error("make-model: option %s needs a value", argv[i]);
            continue;
        }
        if ((r = cli_opt_f64(argc, argv, &i, "--rope-scale", &f))) {
            if (r < 0 || !(f > 0)) return cli_usage_error("make-model: --rope-scale needs a positive number");
            o->rope_scale = f;
            continue;
        }
        if ((r = cli_opt_f64(argc, argv, &i, "--rope-base", &f))) {
            if (r < 0 || !(f > 0)) return cli_usage_error("make-model: --rope-base needs a positive number");
            o->rope_base = f;
            continue;
        }
        int matched = 0;
        for (int k = 0; k < 8 && !matched; k++) {
            if ((r = cli_opt_i64(argc, argv, &i, int_names[k], &v))) {
                if (r < 0 || v < 1 || v > (1 << 24))
                    return cli_usage_error("make-model: %s needs a number in 1..%d", int_names[k], 1 << 24);
                overrides[k] = v;
                overridden[k] = 1;
                matched = 1;
            }
        }
        if (!matched) return cli_usage_error("make-model: unknown option '%s'", argv[i]);
    }

    int found = 0;
    for (size_t k = 0; k < sizeof k_presets / sizeof k_presets[0]; k++)
        if (!strcmp(k_presets[k].name, preset_opt)) { o->p = k_presets[k]; found = 1; }
    if (!found) return cli_usage_error("make-model: unknown preset '%s' (tiny, small, 125m, 853m)", preset_opt);
    for (int k = 0; k < 8; k++)
        if (overridden[k]) *ints[k] = overrides[k];
    *preset_name = preset_opt;
    o->seed = (uint64_t)seed;

    if (!o->arch || (strcmp(o->arch, "llama") && strcmp(o->arch, "qwen2") && strcmp(o->arch, "deepseek2") &&
                     strcmp(o->arch, "edgeformer")))
        return cli_usage_error("make-model: --arch must be llama, qwen2, deepseek2 or edgeformer");
    if (o->attn) {
        if (strcmp(o->arch, "edgeformer"))
            return cli_usage_error("make-model: --attn is for --arch edgeformer");
        if (strcmp(o->attn, "mha") && strcmp(o->attn, "gqa") && strcmp(o->attn, "mla") &&
            strcmp(o->attn, "mla_window") && strcmp(o->attn, "gqa_window"))
            return cli_usage_error("make-model: --attn must be mha, gqa, mla, mla_window or gqa_window");
        if (strstr(o->attn, "_window") && !o->window)
            return cli_usage_error("make-model: --attn %s needs --window N", o->attn);
    }
    if (o->ffn_act && strcmp(o->arch, "edgeformer"))
        return cli_usage_error("make-model: --ffn-act is for --arch edgeformer");
    o->mla = !strcmp(o->arch, "deepseek2") || (o->attn && !strncmp(o->attn, "mla", 3));
    if (o->mla) {
        const int64_t hd0 = o->p.n_embd / o->p.n_head;
        if (!o->kv_lora) o->kv_lora = 2 * hd0;
        if (!o->qk_rope) o->qk_rope = hd0 / 4 > 2 ? hd0 / 4 : 2;
        if (!o->qk_nope) o->qk_nope = hd0;
        if (!o->v_head) o->v_head = hd0;
        if (o->qk_rope % 2) return cli_usage_error("make-model: --qk-rope must be even");
        if (o->legacy_kv_b && strcmp(o->arch, "deepseek2"))
            return cli_usage_error("make-model: --mla-layout legacy is for --arch deepseek2");
    }
    if (o->n_expert) {
        if (!o->n_expert_used || o->n_expert_used > o->n_expert)
            return cli_usage_error("make-model: --experts-used must be in 1..--experts");
        if (!o->n_ff_exp) o->n_ff_exp = o->p.n_ff / 2 > 0 ? o->p.n_ff / 2 : 1;
        if (!o->gating) o->gating = 1;
        if (o->n_dense_lead > o->p.n_layer) return cli_usage_error("make-model: --dense-lead exceeds --n-layer");
    }
    if (!o->out) return cli_usage_error("make-model: -o OUT.gguf is required");
    const int32_t type_id = ef_type_from_name(type);
    const ef_type_info *ti = type_id >= 0 ? ef_type_get((uint32_t)type_id) : NULL;
    if (!ti || !ti->from_float)
        return cli_usage_error("make-model: unknown --type '%s' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                               "q2_k, q3_k, q4_k, q5_k, q6_k, tq1_0, tq2_0)", type);
    o->type = (uint32_t)type_id;
    if (o->p.n_head % o->p.n_head_kv)
        return cli_usage_error("make-model: --n-head must be a multiple of --n-head-kv");
    if (!o->head_dim && o->p.n_embd % o->p.n_head)
        return cli_usage_error("make-model: --n-embd must be a multiple of --n-head (or give --head-dim)");
    int64_t hd = o->head_dim ? o->head_dim : o->p.n_embd / o->p.n_head;
    if (hd % 2) return cli_usage_error("make-model: the head size (%lld) must be even", (long long)hd);
    /* Matrix rows run along n_embd, n_head*head_dim and n_ff; each must hold whole blocks. */
    const int64_t bs = ti->block_size;
    if (o->p.n_embd % bs || (o->p.n_head * hd) % bs || o->p.n_ff % bs)
        return cli_usage_error("make-model: --type %s needs --n-embd, --n-head x head size and --n-ff "
                               "to be multiples of %lld", ti->name, (long long)bs);
    if (!o->vocab) o->vocab = "synthetic";
    if (strcmp(o->vocab, "synthetic") && strncmp(o->vocab, "gpt2:", 5))
        return cli_usage_error("make-model: --vocab must be synthetic or gpt2:DIR");
    if (!strcmp(o->vocab, "synthetic") && o->p.n_vocab < 260)
        return cli_usage_error("make-model: the synthetic vocabulary needs --n-vocab >= 260");
    return 0;
}

int cmd_make_model(int argc, char **argv) {
    options o = {0};
    const char *preset_name = NULL;
    int rc = parse_args(argc, argv, &o, &preset_name);
    if (rc) return rc;

    builder b = {0};
    b.r.state = o.seed;
    if (ef_gguf_writer_create(&b.w) != EF_OK) return fail("cannot create the GGUF writer");
    rc = 0;
    if (strncmp(o.vocab, "gpt2:", 5) == 0) {
        if (set_gpt2_vocab(b.w, o.vocab + 5, o.out, &o.p.n_vocab) != EF_OK) rc = fail("cannot read the GPT-2 vocabulary");
    } else if (ef_vocab_write_synthetic(b.w, (int32_t)o.p.n_vocab) != EF_OK) {
        rc = fail("cannot build the synthetic vocabulary");
    }
    if (!rc && set_hparams(b.w, &o, preset_name) != EF_OK) rc = fail("cannot write the hyperparameters");
    if (!rc && add_weights(&b, &o) != EF_OK) rc = fail("cannot generate the weights");
    if (!rc && add_sparse_mlp_keys(b.w, &o) != EF_OK) rc = fail("cannot write the sparse-MLP keys");
    if (!rc && ef_gguf_writer_write(b.w, o.out) != EF_OK) rc = fail("cannot write the model file");
    ef_gguf_writer_free(b.w);
    for (int i = 0; i < b.n_bufs; i++) ef_free(b.bufs[i]);
    ef_free(b.bufs);
    return rc;
}
