/* The execution state shared by the forward-pass files of lib/exec
 * (forward.c: dense layers and the driver; forward_mla.c: MLA attention;
 * moe.c: the MoE FFN). Not part of any public contract. */
#ifndef EF_EXEC_INTERNAL_H
#define EF_EXEC_INTERNAL_H

#include "cpu/cpu_ops.h"
#include "exec/forward.h"

struct ef_exec {
    const ef_model *m;
    ef_mem_account *acct;  /* charged for everything below, also scratch grown later */
    int32_t n_ctx, n_batch;
    int32_t q_dim, kv_dim; /* n_head*head_dim; n_head_kv*head_dim (MLA: kv_lora + rope, one row) */
    int32_t att_dim;       /* n_head*head_dim, or n_head*v_head_dim for MLA */
    uint32_t kv_type;      /* EF_TYPE_F32 or EF_TYPE_F16 */
    size_t kv_elt;         /* bytes per cache element */
    void *k_cache;         /* [n_layer][n_ctx][kv_dim] of kv_type (MLA: latent c_kv ‖ RoPE key) */
    void *v_cache;         /* [n_layer][n_ctx][kv_dim] of kv_type; NULL for MLA */
    float *x;              /* [n_batch][n_embd] residual stream */
    float *xn;             /* [n_batch][n_embd] normed input, then projection output */
    float *q;              /* [n_batch][q_dim] */
    float *k_new, *v_new;  /* [n_batch][kv_dim] this call's K, V before an F16 store; NULL for F32 */
    float *att;            /* [n_batch][att_dim] attention output, heads concatenated */
    float *gate, *up;      /* [n_batch][max(n_ff, n_ff_exp*max(1, n_shared))] */
    int32_t attn_workers;  /* workers ext_scratch is sized for (grows with the pool) */
    float *wvec;           /* [wvec_len] a norm weight or bias as F32 */
    int32_t *layer_window; /* [n_layer] window of each layer (0: full causal) */
    int32_t *layer_ring;   /* [n_layer] ring rows of each layer's cache (0: row = position) */
    int64_t *layer_off;    /* [n_layer] first element of each layer's cache in k_cache/v_cache */
    int32_t n_sinks;       /* sink tokens of window layers */
    int32_t unbounded;     /* every layer is a ring: positions may run past n_ctx */
    int32_t wvec_len;

    /* MLA (NULL unless hp.attn_kind == EF_ATTN_MLA) */
    int32_t mla_mode;      /* EF_MLA_AUTO / ABSORBED / EXPANDED */
    int32_t matmul_mode;   /* ef_matmul_mode (cpu/matmul_kernels.h) for quantized weights */
    float *q_lat;          /* [n_batch][q_lora_rank] */
    float *kv_a;           /* [n_batch][kv_lora + rope] latent ‖ RoPE key of the new tokens */
    float *q_abs;          /* [n_batch][n_head][kv_lora + rope] queries absorbed into latent space */
    float *o_lat;          /* [n_batch][n_head][kv_lora] attention output in latent space (V = c_kv only) */
    float *h_in, *h_out;   /* [n_batch][max(nope, kv_lora, v)] one head's rows gathered, and their product */
    float *k_exp, *v_exp;  /* [n_ctx][n_head][nope+rope], [n_ctx][n_head][v]: expanded path only, grown lazily */
    float *exp_tmp;        /* [rows + n_head·(nope+rope+v)][kv_lora]: the up-projections as F32 rows, then the cached latents (forward_mla.c) */
    int32_t ext_floats;    /* per-worker floats of ext_scratch */
    float *ext_scratch;    /* [attn_workers][ext_floats] ef_cpu_attn_ext + ef_cpu_matmul_t scratch */

    /* MoE (NULL unless hp.n_expert > 0) */
    float *router;         /* [n_batch][n_expert] router probabilities */
    float *sel_prob;       /* [n_batch][n_expert] selection scores (probs + bias) */
    int32_t *sel_idx;      /* [n_batch][n_expert_used] chosen experts */
    float *sel_w;          /* [n_batch][n_expert_used] their weights */
    int32_t *rows;         /* [n_batch] tokens routed to the current expert */
    float *row_w;          /* [n_batch] their weights */
    float *xg;             /* [n_batch][n_embd] gathered inputs */
    float *moe_out;        /* [n_batch][n_embd] an expert's outputs, then the layer sum */
    float *moe_acc;        /* [n_batch][n_embd] the layer's FFN output */

    /* Sparse FFN decode and calibration (ffn_sparse.c) */
    struct ef_ffn_sparse *sparse; /* NULL: dense FFN */
    void (*ffn_observe)(void *user, int32_t il, const float *act, int32_t n, int32_t n_ff); /* or NULL */
    void *ffn_observe_user;

    /* Weight matmuls on a plugin backend (exec_backend.c); NULL: the cpu kernels */
    struct ef_exec_backend *backend;

    /* Paged KV cache (exec_kv.c; NULL: the contiguous k_cache/v_cache above) */
    struct ef_kv_cache *kv; /* bound cache, with the sequence this exec works on */
    int32_t kv_seq;
    ef_kv_rows kv_rows[2];  /* K, V rows of the layer last written (MLA: both K) */
};

/* One buffer of n0*n1*n2 floats from the session's account. */
ef_status ef_exec_alloc_floats(ef_mem_account *acct, float **out, uint64_t n0, uint64_t n1, uint64_t n2,
                               const char *what);

/* y[n][dim] = rmsnorm(x) · w over rows of `dim` elements (stride `dim`). */
void ef_exec_norm(ef_exec *e, const ef_tensor *w, const float *x, int32_t n, int32_t dim, float *y);

/* y[n][out] = x · Wᵀ + b (b optional). */
void ef_exec_project(ef_exec *e, ef_pool *pool, const ef_tensor *w, const ef_tensor *b, const float *x,
                     int32_t n, float *y);

/* att[n][q_dim] = attention of layer il's queries (e->q) over its cache rows
 * (forward.c; full-causal layers are window 0 of the tiled kernel). */
void ef_exec_attend(ef_exec *e, ef_pool *pool, int32_t il, int32_t n, int32_t n_past, ef_kv_rows k_rows,
                    ef_kv_rows v_rows);

/* Layer il's cache (k or v) as a byte pointer; row r at + r*kv_dim*kv_elt. */
static inline char *ef_exec_cache_layer(const ef_exec *e, void *cache, int32_t il) {
    return cache ? (char *)cache + (size_t)e->layer_off[il] * e->kv_elt : NULL; /* paged: no own cache */
}

/* Layer il's cache (layer = ef_exec_cache_layer of k or v) as the attention
 * kernels read it: one page of [ring or n_ctx rows][kv_dim] of kv_type;
 * *page_slot holds the page pointer. */
static inline ef_kv_rows ef_exec_layer_rows(const ef_exec *e, int32_t il, const void *layer, const void **page_slot) {
    if (e->kv) return e->kv_rows[0]; /* paged: the K (MLA: latent) rows ef_exec_kv_write viewed */
    const int64_t rows = e->layer_ring[il] > 0 ? e->layer_ring[il] : e->n_ctx;
    return ef_kv_rows_contiguous(e->kv_type, e->kv_dim, rows, layer, page_slot);
}

/* Layer il's K (which 0) or V (1) rows as the kernels read them. */
static inline ef_kv_rows ef_exec_kv_rows(const ef_exec *e, int32_t il, int32_t which, const void **page_slot) {
    if (e->kv) return e->kv_rows[which];
    return ef_exec_layer_rows(e, il, ef_exec_cache_layer(e, which ? e->v_cache : e->k_cache, il), page_slot);
}

/* Paged: stores n new K/V rows ([n][kv_dim] F32; v NULL for MLA) of layer
 * il at positions pos0.. in the bound cache and views the layer's rows in
 * kv_rows (exec_kv.c). Fails cleanly (no memory, a page that cannot be read back). */
ef_status ef_exec_kv_write(ef_exec *e, int32_t il, int32_t pos0, int32_t n, const float *k, const float *v);
/* Paged: bytes of one cache row of one layer (K and V). */
uint64_t ef_exec_kv_row_bytes(const ef_exec *e);

/* Cache rows of layer il ← src [n][kv_dim] F32 for positions pos0.. (ring-mapped). */
void ef_exec_store_rows(const ef_exec *e, void *cache, int32_t il, int32_t pos0, int32_t n, const float *src);

/* ---- forward_mla.c ---- */
/* Allocates the MLA buffers (part of ef_exec_create_kv); frees with the rest. */
ef_status ef_mla_alloc(ef_exec *e);
/* Floats per worker that MLA attention needs in ext_scratch. */
int32_t ef_mla_ext_floats(const ef_exec *e);
/* x += MLA attention of layer il for n tokens after n_past cached ones. May
 * grow the expanded-path buffers (EF_ERR_NO_MEMORY/EF_ERR_BUDGET). */
ef_status ef_mla_attention(ef_exec *e, ef_pool *pool, int32_t il, int32_t n, int32_t n_past);

/* ---- ffn_sparse.c ---- */
/* gate ← act(gate) * up for n tokens of layer il ([n][n_ff]): SiLU, or ReLU
 * for a ReLU-family model; act(gate) is shown to ffn_observe first. */
void ef_ffn_activate(ef_exec *e, int32_t il, int32_t n);
/* x += the sparse FFN of layer il for n tokens whose normed input is in xn,
 * when sparse decode is on and n == 1; returns 0 (nothing done) otherwise. */
int32_t ef_ffn_sparse_decode(ef_exec *e, ef_pool *pool, int32_t il, int32_t n);
/* Frees the sparse decode state (part of ef_exec_free). */
void ef_ffn_sparse_free(ef_exec *e);

/* ---- moe.c ---- */
ef_status ef_moe_alloc(ef_exec *e);
/* x += MoE FFN of layer il (routed experts + shared experts) for n tokens. */
void ef_moe_ffn(ef_exec *e, ef_pool *pool, int32_t il, int32_t n);

#endif
