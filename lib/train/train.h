/* Training on the CPU: the internal contracts between lib/train's files.
 *
 * Like llm.c's train_gpt2.c: one parameter buffer sliced by a layout, one
 * gradient buffer with the same layout, one activation buffer, and a
 * forward/backward pair per layer type. Matrices are stored as GGUF stores
 * them: {n_in, n_out}, i.e. n_out rows of n_in floats, and y = x·Wᵀ.
 * N = B·T tokens per micro-batch; C = dim; Q = n_head·hd; K = n_kv·hd;
 * F = ff; V = vocab; L = layers. */
#ifndef EF_TRAIN_TRAIN_H
#define EF_TRAIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/crc32.h"
#include "base/error.h"
#include "base/threadpool.h"

/* The model's shape (what the checkpoint's HPAR frame stores). */
typedef struct ef_train_shape {
    int32_t n_vocab, dim, n_layer, n_head, n_kv, ff, seq;
    int32_t tied;     /* output projection shares token_embd */
    float norm_eps;   /* RMSNorm epsilon */
    float rope_base;  /* RoPE frequency base */
    /* The attention variant, as the engine's edgeformer.attention.* keys say
     * (all 4-byte fields: the checkpoint compares the struct's bytes). */
    int32_t mla;         /* 1: Multi-head Latent Attention (n_kv unused) */
    int32_t window;      /* sliding window in tokens; 0: full causal */
    int32_t swa_pattern; /* 0/1: every layer windowed; p: layer l iff l % p < p - 1 */
    int32_t sinks;       /* leading positions always visible in a window */
    int32_t q_lora;      /* MLA query latent; 0: plain attn_q */
    int32_t kv_lora;     /* MLA key/value latent c_kv */
    int32_t qk_nope;     /* MLA per-head key part without RoPE */
    int32_t qk_rope;     /* MLA decoupled RoPE key, shared by all heads */
    int32_t v_head;      /* MLA value head */
} ef_train_shape;

/* Where each parameter tensor lives in the flat buffer (offsets in floats).
 * MLA (H heads, dq = qk_nope + qk_rope, lat = kv_lora, ql = q_lora): wq is
 * [L, H·dq, C] (empty with q_lora), wk/wv are empty, wo is [L, C, H·v_head];
 * GQA: the MLA tensors are empty. */
typedef struct ef_train_layout {
    size_t tok_embd;      /* [V, C] */
    size_t attn_norm;     /* [L, C] */
    size_t wq;            /* [L, Q, C] */
    size_t wq_a;          /* [L, ql, C] */
    size_t q_a_norm;      /* [L, ql] */
    size_t wq_b;          /* [L, H·dq, ql] */
    size_t wkv_a;         /* [L, lat + rope, C] attn_kv_a_mqa */
    size_t kv_a_norm;     /* [L, lat] */
    size_t wk_b;          /* [L, H, lat, nope]: GGUF {nope, lat, H} */
    size_t wv_b;          /* [L, H, v, lat]: GGUF {lat, v, H} */
    size_t wk;            /* [L, K, C] */
    size_t wv;            /* [L, K, C] */
    size_t wo;            /* [L, C, Q] */
    size_t ffn_norm;      /* [L, C] */
    size_t w_gate;        /* [L, F, C] */
    size_t w_up;          /* [L, F, C] */
    size_t w_down;        /* [L, C, F] */
    size_t output_norm;   /* [C] */
    size_t output;        /* [V, C]; == tok_embd when tied */
    size_t n_floats;      /* total */
} ef_train_layout;

int32_t ef_train_head_dim(const ef_train_shape *s);
ef_status ef_train_shape_check(const ef_train_shape *s);
void ef_train_layout_make(const ef_train_shape *s, ef_train_layout *lay);

/* The per-token widths of the attention block: Q query (and, for MLA, the
 * expanded key), K key, Vw value, O context (the input of attn_output);
 * attention heads of dk (query/key) and dv (value) floats; n_rot RoPE dims. */
typedef struct ef_train_attn_widths {
    int32_t Q, K, Vw, O, KV, dk, dv, n_rot;
} ef_train_attn_widths;
void ef_train_attn_widths_of(const ef_train_shape *s, ef_train_attn_widths *w);
/* Layer il's window (0: full causal), as the engine's ef_hparams_layer_is_swa. */
int32_t ef_train_layer_window(const ef_train_shape *s, int32_t il);
/* The edgeformer.attention.type the shape exports as. */
const char *ef_train_attn_type(const ef_train_shape *s);

/* One named tensor of the layout, for export and the tests: GGUF name
 * ("blk.3.attn_q.weight"), offset, ne[0] (contiguous) and ne[1] (1 for
 * vectors). Returns the number of tensors; fills *out when i < that count. */
typedef struct ef_train_tensor_ref {
    char name[48];
    size_t offset;
    int64_t ne0, ne1, ne2; /* ne2: 1 except MLA's per-head attn_k_b/attn_v_b */
    int32_t n_dims;        /* 1 (norm weights), 2 or 3 */
} ef_train_tensor_ref;
int32_t ef_train_tensor_count(const ef_train_shape *s);
void ef_train_tensor_at(const ef_train_shape *s, const ef_train_layout *lay, int32_t i,
                        ef_train_tensor_ref *out);

/* Random initialisation (GPT-2 style normal(0, 0.02), output projections
 * scaled by 1/sqrt(2L), norms at 1), from `seed`. */
void ef_train_init_params(const ef_train_shape *s, const ef_train_layout *lay, uint64_t seed,
                          float *params);

/* ---- forward/backward pairs (train_layers.c, train_attention.c, train_loss.c) ----
 * Backward functions ADD into parameter gradients and into input gradients
 * (the caller zeroes them), so gradient accumulation and residual branches
 * simply sum. Those taking a pool split rows across its workers; every
 * output element is computed by one worker in a fixed order, so results do
 * not depend on the thread count. */

/* out[N, C] = table[tokens[n], :] */
void ef_tr_embed_fwd(float *out, const int32_t *tokens, const float *table, int64_t N, int32_t C);
/* dtable[tokens[n], :] += dout[n, :]  (sequential: tokens repeat) */
void ef_tr_embed_bwd(float *dtable, const float *dout, const int32_t *tokens, int64_t N, int32_t C);

/* out[N, C] = x · rstd · w, rstd[N] = 1/sqrt(mean(x²) + eps) */
void ef_tr_rmsnorm_fwd(ef_pool *pool, float *out, float *rstd, const float *x, const float *w, int64_t N,
                       int32_t C, float eps);
/* x += add (the residual branch, in the same pass), then the forward of x. */
void ef_tr_rmsnorm_fwd_add(ef_pool *pool, float *out, float *rstd, float *x, const float *add, const float *w,
                           int64_t N, int32_t C, float eps);
void ef_tr_rmsnorm_bwd(ef_pool *pool, float *dx, float *dw, const float *dout, const float *x,
                       const float *w, const float *rstd, int64_t N, int32_t C);
/* The same with dx = the gradient (overwritten: no zeroing first). */
void ef_tr_rmsnorm_bwd_set(ef_pool *pool, float *dx, float *dw, const float *dout, const float *x,
                           const float *w, const float *rstd, int64_t N, int32_t C);

/* Packing space of the projections' GEMMs (cpu/matmul_grad.h) for up to
 * `threads` workers of the pool: ef_tr_mm_work_floats(threads) floats. */
typedef struct ef_tr_mm {
    float *pack;
    int32_t threads;
    int bf16; /* precision bf16: operands rounded to bfloat16, sums in F32 (attention's too) */
} ef_tr_mm;
size_t ef_tr_mm_work_floats(int32_t n_threads);
/* Precision bf16: operands of a projection already in bfloat16 (made by
 * ef_tr_to_bf16 from the F32 ones the call also gets), so that a tensor
 * read by several products is converted once; any may be NULL (converted
 * while packing). x: [N, I], W: [O, I], dout: [N, O]. */
typedef struct ef_tr_b16 {
    const uint16_t *x, *W, *dout;
} ef_tr_b16;
/* dst[n] = src[n] rounded to bfloat16 (cpu/matmul_grad.h), on the pool. */
void ef_tr_to_bf16(ef_pool *pool, uint16_t *dst, const float *src, int64_t n);
/* ef_tr_matmul_fwd / ef_tr_matmul_bwd(_set: dx_add 0) with twins (tw may be NULL). */
void ef_tr_matmul_fwd_b16(ef_pool *pool, float *out, const float *x, const float *W, int64_t N, int32_t I,
                          int32_t O, const ef_tr_mm *mm, const ef_tr_b16 *tw);
void ef_tr_matmul_bwd_b16(ef_pool *pool, float *dx, int dx_add, float *dW, const float *dout, const float *x,
                          const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm,
                          const ef_tr_b16 *tw);
/* out[N, O] = x[N, I] · W[O, I]ᵀ */
void ef_tr_matmul_fwd(ef_pool *pool, float *out, const float *x, const float *W, int64_t N,
                      int32_t I, int32_t O, const ef_tr_mm *mm);
/* dx[N, I] += dout·W (dx may be NULL); dW[O, I] += doutᵀ·x. */
void ef_tr_matmul_bwd(ef_pool *pool, float *dx, float *dW, const float *dout, const float *x,
                      const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm);
/* The same with dx = dout·W (overwritten: no zeroing first). */
void ef_tr_matmul_bwd_set(ef_pool *pool, float *dx, float *dW, const float *dout, const float *x,
                          const float *W, int64_t N, int32_t I, int32_t O, const ef_tr_mm *mm);

/* h[N, F] = silu(g) * u */
void ef_tr_swiglu_fwd(ef_pool *pool, float *h, const float *g, const float *u, int64_t n);
/* dg, du = the gradients (overwritten, unlike the other backward functions:
 * they are the only paths into g and u, so no zeroing pass first). */
void ef_tr_swiglu_bwd(ef_pool *pool, float *dg, float *du, const float *dh, const float *g, const float *u,
                      int64_t n);

/* RoPE, NORM mode (adjacent pairs), as the engine: x[B·T, n_heads, hd] at
 * positions t = 0..T-1 within each sequence. cos_sin[T, hd/2, 2]. The
 * backward rotates by the opposite angle (in place on the gradient). */
void ef_tr_rope_table(float *cos_sin, int32_t T, int32_t hd, float base);
void ef_tr_rope_fwd(ef_pool *pool, float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd);
void ef_tr_rope_bwd(ef_pool *pool, float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd);
/* The same on part of each head (MLA's decoupled RoPE): heads of `stride`
 * floats, dims off..off+n_rot rotated; cos_sin[T, n_rot/2, 2]. */
void ef_tr_rope_part_fwd(ef_pool *pool, float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                         int32_t stride, int32_t off, int32_t n_rot);
void ef_tr_rope_part_bwd(ef_pool *pool, float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                         int32_t stride, int32_t off, int32_t n_rot);

/* Causal attention, grouped-query when KV < H, with an optional sliding
 * window: query t sees s ≤ t with t − s < window, or s < sinks (the
 * engine's rule). q[B, T, H, dk], k[B, T, KV, dk], v[B, T, KV, dv];
 * att[B, H, T, T] (softmax probabilities, 0 where masked); ctx[B, T, H, dv]. */
typedef struct ef_tr_attn_dims {
    int32_t B, T, H, KV;
    int32_t dk, dv;  /* query/key head, value head */
    float scale;     /* score = scale · q·k */
    int32_t window;  /* 0: full causal */
    int32_t sinks;   /* with a window: positions always visible */
} ef_tr_attn_dims;
void ef_tr_attention_fwd(ef_pool *pool, float *ctx, float *att, const float *q, const float *k,
                         const float *v, const ef_tr_attn_dims *d, const ef_tr_mm *mm);
/* dq, dk, dv = ... (overwritten, unlike the other backward functions: no
 * zeroing pass first); scratch: ef_tr_attention_scratch_floats(T,
 * mm->threads) floats ([threads, T, T]). */
size_t ef_tr_attention_scratch_floats(int32_t T, int32_t n_threads);
void ef_tr_attention_bwd(ef_pool *pool, float *dq, float *dk, float *dv, const float *dctx,
                         const float *att, const float *q, const float *k, const float *v,
                         const ef_tr_attn_dims *d, float *scratch, const ef_tr_mm *mm);

/* Multi-head Latent Attention's projections (train_mla.c), expanded (no
 * absorption), as the engine's lib/exec/forward_mla.c defines them. For one
 * layer il, from xn[N, C] (the attention-norm output):
 *   q = xn·Wqᵀ, or rmsnorm(xn·Wq_aᵀ)·q_a_norm·Wq_bᵀ          [N, H, dq]
 *   [lat ‖ k_pe] = xn·Wkv_aᵀ; c_kv = rmsnorm(lat)·kv_a_norm    [N, lat], [N, rope]
 *   k_h = [c_kv·W_UK_h ‖ rope(k_pe)], v_h = c_kv·W_UV_hᵀ       [N, H, dq], [N, H, v]
 * with RoPE on the last qk_rope dims of every query head; dq = nope + rope. */
typedef struct ef_tr_mla_acts {
    float *qa;     /* [N, ql] xn·Wq_aᵀ (q_lora only) */
    float *rstdq;  /* [N] */
    float *qan;    /* [N, ql] its norm's output */
    float *lat;    /* [N, lat] c_kv before kv_a_norm */
    float *rstdkv; /* [N] */
    float *ckv;    /* [N, lat] c_kv */
} ef_tr_mla_acts;
size_t ef_tr_mla_scratch_floats(const ef_train_shape *s, int64_t N);
/* Fills a (saved activations) and q, k, v. cos_sin[T, qk_rope/2, 2]. */
void ef_tr_mla_fwd(ef_pool *pool, const ef_train_shape *s, const ef_train_layout *lay,
                   const float *params, int32_t il, int32_t B, const float *cos_sin,
                   const float *xn, const ef_tr_mla_acts *a, float *q, float *k, float *v,
                   float *scratch, const ef_tr_mm *mm);
/* dxn += ..., grads += ...; dq and dk are used as scratch (overwritten). */
void ef_tr_mla_bwd(ef_pool *pool, const ef_train_shape *s, const ef_train_layout *lay,
                   const float *params, float *grads, int32_t il, int32_t B,
                   const float *cos_sin, const float *xn, const ef_tr_mla_acts *a, float *dq,
                   float *dk, const float *dv, float *dxn, float *scratch, const ef_tr_mm *mm);

/* Softmax cross-entropy: losses[N] = -log softmax(logits[n])[targets[n]];
 * logits[N, V] is overwritten by the probabilities. */
void ef_tr_crossentropy_fwd(ef_pool *pool, float *losses, float *logits, const int32_t *targets,
                            int64_t N, int32_t V);
/* dlogits[N, V] = (probs - onehot) · scale, in place over probs. */
void ef_tr_crossentropy_bwd(ef_pool *pool, float *probs, const int32_t *targets, int64_t N,
                            int32_t V, float scale);

/* ---- the whole model (train_model.c) ---- */
typedef struct ef_train_model {
    ef_train_shape shape;
    ef_train_layout lay;
    int32_t batch;       /* B */
    float *params;       /* [n_floats] */
    float *grads;        /* [n_floats] */
    float *acts;         /* activations, see train_model.c */
    float *dacts;        /* activation gradients */
    float *cos_sin;      /* [T, n_rot/2, 2] (n_rot: head size, or MLA's qk_rope) */
    float *scratch;      /* [n_threads, T, T] attention backward */
    ef_tr_mm mm;         /* the projections' GEMM packing space */
    float *mla_scratch;  /* [ef_tr_mla_scratch_floats] (MLA only) */
    int32_t scratch_threads;
    size_t n_acts, n_dacts;
    /* precision bf16 (ef_train_model_use_bf16): the bfloat16 twins of the
     * projections' operands, each made once and read by every product that
     * needs it (train_model.c) */
    uint16_t *p16; /* [n_floats] the parameters, remade by each forward */
    uint16_t *a16; /* the saved inputs xn1, ctx, xn2, h [L, N, ·] and xnf [N, C] */
    uint16_t *d16; /* [N, widest output] one output gradient at a time */
} ef_train_model;

/* Allocates the buffers for micro-batches of `batch` × shape.seq tokens and
 * up to n_threads workers. Parameters are zeroed (call init or load). */
ef_status ef_train_model_create(const ef_train_shape *s, int32_t batch, int32_t n_threads,
                                ef_train_model *m);
void ef_train_model_free(ef_train_model *m);
/* Switches the projections to precision bf16 (mm.bf16) and allocates the
 * bfloat16 twins of their operands. Errors: EF_ERR_NO_MEMORY. */
ef_status ef_train_model_use_bf16(ef_train_model *m);
/* Forward over tokens[B, T]: returns the mean loss over targets[B, T]
 * (targets may be NULL: only logits). The logits[B·T, V] are left in
 * *logits_out when non-NULL — before softmax when targets is NULL. */
float ef_train_model_forward(ef_train_model *m, ef_pool *pool, const int32_t *tokens,
                             const int32_t *targets, const float **logits_out);
/* Backward of the last forward (which had targets): grads += d(loss·scale)/dparams. */
void ef_train_model_backward(ef_train_model *m, ef_pool *pool, const int32_t *tokens,
                             const int32_t *targets, float scale);

/* ---- optimizer (adamw.c) ---- */
typedef struct ef_adamw {
    float lr_max, lr_min, beta1, beta2, eps, weight_decay, clip_norm;
    int32_t warmup, total_steps;
} ef_adamw;
/* Learning rate at step (0-based): linear warm-up, then cosine to lr_min. */
float ef_adamw_lr(const ef_adamw *o, int64_t step);
/* The global L2 norm of grads[n], parallel over the pool (the same bits
 * for any thread count). */
float ef_grad_norm(ef_pool *pool, const float *grads, size_t n);
/* Clipping by global norm as a factor on the gradients: clip_norm / norm
 * when norm exceeds clip_norm (> 0), else 1. */
float ef_clip_scale(float norm, float clip_norm);
/* One AdamW update of params[begin, end) with the gradients times
 * grad_scale (step is 1-based, for the bias correction); decoupled weight
 * decay when `decay` (matrices and embeddings decay, norm weights do not).
 * Element by element: any split of the range gives the same bits. */
void ef_adamw_update(const ef_adamw *o, float lr, int64_t step, float *params, const float *grads,
                     float grad_scale, float *m, float *v, size_t begin, size_t end, int decay);


/* ---- tokenized-dataset cache (token_cache.c) ---- */
/* 64-bit FNV-1a: h = ef_hash64(EF_HASH64_SEED, bytes, n), chainable. */
#define EF_HASH64_SEED 0xcbf29ce484222325ull
uint64_t ef_hash64(uint64_t h, const void *data, size_t n);
/* DIR/<key as 16 hex digits>.eftok. Errors: EF_ERR_INVALID_ARG (too long). */
ef_status ef_token_cache_path(char *buf, size_t cap, const char *dir, uint64_t key);
/* 1 and *ids (ef_free) / *n when `path` holds a valid cache; 0 when it is
 * missing or fails a check (a warning is logged for the latter). */
int ef_token_cache_read(const char *path, int32_t **ids, int64_t *n);
/* Writes ids[n] (temporary file, then renamed); *file_bytes (may be NULL)
 * receives the file size. Errors: EF_ERR_IO, EF_ERR_NO_MEMORY. */
ef_status ef_token_cache_write(const char *path, const int32_t *ids, int64_t n,
                               uint64_t *file_bytes);
/* Files read from / written to the cache since the start (for the tests). */
extern _Atomic int64_t ef_token_cache_hits, ef_token_cache_writes;

#endif
