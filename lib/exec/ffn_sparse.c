/* The FFN's activation step and its sparse decode path.
 *
 * Decode (one token), per dense layer with sparsity on:
 *   g = xn · W_gateᵀ                    dense, [n_ff]
 *   a = act(g)                          SiLU (or ReLU), [n_ff]
 *   active = { j : |a_j| ≥ t_l }        t_l: the layer's threshold for the
 *                                       session's level (ReLU: a_j > t_l)
 *   u_k = W_up[active_k] · xn           only the active rows, [n_act]
 *                                       (with the SIMD kernels the gate,
 *                                       the test and these rows are one
 *                                       pass over chunks of 64 neurons)
 *   x += Σ_k (a·u)_k · D[active_k]     D: ffn_down as neuron rows (its
 *                                       columns made contiguous, the same
 *                                       codes and scales), so skipped
 *                                       neurons are never read
 * Prefill (n > 1) stays dense: the batch would need the union of masks. */
#include "exec/ffn_sparse.h"
#include "exec/exec_internal.h"

#include <math.h>
#include <string.h>

#include "cpu/matmul_kernels.h"
#include "cpu/silu.h"
#include "cpu/sparse_ops.h"
#include "model/sparsity.h"
#include "quant/types.h"

typedef struct ef_ffn_sparse {
    int32_t relu;          /* ReLU FFN: skip exact zeros (and below a calibrated threshold) */
    float *thr;            /* [n_layer] the threshold of each layer at the session's level */
    const ef_sparse_down *down; /* [n_layer] ffn_down as neuron rows (sparse_ops.h), the model's shared
                                   copy (model/sparsity_layout.c); rows NULL for MoE layers */
    int32_t *idx;          /* [n_ff] active neuron ids of the current token */
    float *parts;          /* [ef_cpu_sparse_accum_scratch(n_embd)] partial sums of the accumulation */
    int32_t *chunk_count;  /* [n_ff / EF_SPARSE_GATE_CHUNK + 1] active neurons per chunk of the fused gate pass */
    uint64_t skipped;      /* neurons skipped so far */
    uint64_t seen;         /* neurons considered so far */
} ef_ffn_sparse;

static void sparse_free(ef_mem_account *acct, ef_ffn_sparse *s) {
    if (!s) return;
    ef_acct_free(acct, s->thr);
    ef_acct_free(acct, s->idx);
    ef_acct_free(acct, s->parts);
    ef_acct_free(acct, s->chunk_count);
    ef_acct_free(acct, s);
}

void ef_ffn_sparse_free(ef_exec *e) {
    if (!e) return;
    sparse_free(e->acct, e->sparse);
    e->sparse = NULL;
}

ef_status ef_exec_set_sparsity(ef_exec *e, float level, const float *thresholds) {
    if (!e) return ef_err(EF_ERR_INVALID_ARG, "ef_exec_set_sparsity: no execution state");
    if (!(level >= 0.0f && level < 1.0f))
        return ef_err(EF_ERR_INVALID_ARG, "sparsity level %g is outside [0, 1)", (double)level);
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    if (level == 0.0f && !thresholds) {
        ef_ffn_sparse_free(e);
        return EF_OK;
    }
    const ef_sparsity_meta *meta = m->sparsity;
    const int32_t relu = ef_model_ffn_is_relu(m);
    if (!thresholds && !relu && (!meta || meta->n_levels == 0))
        return ef_err(EF_ERR_UNSUPPORTED, "sparsity %g needs calibrated thresholds (edgeformer calibrate-sparsity) "
                      "or a ReLU-family model; this model has neither", (double)level);
    ef_status st = EF_OK;
    ef_ffn_sparse *s = ef_acct_alloc(e->acct, sizeof *s, "the sparse FFN state", &st);
    if (!s) return st;
    *s = (ef_ffn_sparse){.relu = relu};
    const int32_t L = hp->n_layer;
    s->thr = ef_acct_alloc(e->acct, sizeof(float) * (size_t)L, "the sparsity thresholds", &st);
    if (!st) s->idx = ef_acct_alloc(e->acct, sizeof(int32_t) * (size_t)hp->n_ff, "the active neurons", &st);
    if (!st)
        s->parts = ef_acct_alloc(e->acct, sizeof(float) * (size_t)ef_cpu_sparse_accum_scratch(hp->n_embd),
                                 "the sparse FFN partial sums", &st);
    if (!st)
        s->chunk_count = ef_acct_alloc(e->acct, sizeof(int32_t) * (size_t)(hp->n_ff / EF_SPARSE_GATE_CHUNK + 1),
                                       "the sparse FFN chunk counts", &st);
    if (!st) st = ef_sparsity_layout_get(m, &s->down);
    for (int32_t il = 0; !st && il < L; il++)
        s->thr[il] = thresholds ? thresholds[il] : ef_sparsity_threshold(meta, il, level);
    if (st) {
        sparse_free(e->acct, s);
        return st;
    }
    ef_ffn_sparse_free(e);
    e->sparse = s;
    return EF_OK;
}

double ef_exec_sparse_skipped(const ef_exec *e) {
    if (!e || !e->sparse || e->sparse->seen == 0) return 0.0;
    return (double)e->sparse->skipped / (double)e->sparse->seen;
}

void ef_exec_set_ffn_observer(ef_exec *e, ef_ffn_observe_fn fn, void *user) {
    if (!e) return;
    e->ffn_observe = fn;
    e->ffn_observe_user = user;
}

static inline float silu(float g) { return g / (1.0f + expf(-g)); }

void ef_ffn_activate(ef_exec *e, int32_t il, int32_t n) {
    const int64_t n_ff = ef_layer_n_ff(&e->m->layers[il]), total = (int64_t)n * n_ff; /* per layer under a mask */
    const int32_t relu = ef_model_ffn_is_relu(e->m);
    if (!e->ffn_observe && !relu) {
        ef_cpu_swiglu(e->gate, e->up, e->gate, total); /* the common case, unchanged */
        return;
    }
    for (int64_t i = 0; i < total; i++) e->gate[i] = relu ? (e->gate[i] > 0.0f ? e->gate[i] : 0.0f) : silu(e->gate[i]);
    if (e->ffn_observe) e->ffn_observe(e->ffn_observe_user, il, e->gate, n, (int32_t)n_ff);
    for (int64_t i = 0; i < total; i++) e->gate[i] *= e->up[i];
}

int32_t ef_ffn_sparse_decode(ef_exec *e, ef_pool *pool, int32_t il, int32_t n) {
    ef_ffn_sparse *s = e->sparse;
    if (!s || n != 1 || e->ffn_observe || !s->down[il].rows) return 0;
    const ef_layer *l = &e->m->layers[il];
    const int32_t n_ff = ef_layer_n_ff(l), n_embd = e->m->hp.n_embd;
    const float thr = s->thr[il];
    float *act = e->gate; /* [n_ff] act(gate) */
    float *h = e->up;     /* [n_act] up rows of the active neurons, then act·up */
    int32_t n_act = 0, *idx = s->idx;
    /* gate, activation, compaction and up rows in one pass and one pool run,
     * where the SIMD row kernels take both weights and the gate would run
     * weight-only on the cpu anyway */
    const int impl_g = ef_cpu_sparse_impl(l->ffn_gate->type), impl_u = ef_cpu_sparse_impl(l->ffn_up->type);
    if (impl_g == impl_u && impl_g != EF_SPARSE_REF && !e->backend &&
        ef_matmul_mode_resolve((ef_matmul_mode)e->matmul_mode) == EF_MATMUL_MODE_WEIGHT_ONLY) {
        const ef_sparse_gate_up g = {.gate = l->ffn_gate, .up = l->ffn_up, .x = e->xn, .thr = thr, .relu = s->relu};
        n_act = ef_cpu_sparse_gate_up(pool, impl_g, &g, act, idx, h, s->chunk_count);
    } else {
        ef_exec_project(e, pool, l->ffn_gate, NULL, e->xn, 1, act);
        /* branch-free compaction: about half the tests fail, a branch would mispredict */
        if (s->relu) {
            for (int32_t j = 0; j < n_ff; j++) {
                act[j] = act[j] > 0.0f ? act[j] : 0.0f;
                idx[n_act] = j;
                n_act += act[j] > thr;
            }
        } else {
            ef_cpu_silu(act, act, n_ff); /* the fused pass's SiLU (cpu/silu.h) */
            for (int32_t j = 0; j < n_ff; j++) {
                idx[n_act] = j;
                n_act += fabsf(act[j]) >= thr;
            }
        }
        ef_cpu_sparse_rows(pool, l->ffn_up, e->xn, idx, n_act, h);
        for (int32_t k = 0; k < n_act; k++) h[k] *= act[idx[k]];
    }
    ef_cpu_sparse_accum(pool, &s->down[il], s->idx, h, n_act, e->xn, s->parts); /* xn: [n_embd] FFN output */
    ef_cpu_add(e->x, e->xn, n_embd);
    s->skipped += (uint64_t)(n_ff - n_act);
    s->seen += (uint64_t)n_ff;
    return 1;
}
