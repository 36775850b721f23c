/* The mixture-of-experts FFN (DeepSeek-V2/V3) for one layer.
 *
 * Per token (h = rmsnorm(x)·ffn_norm; E experts, k used):
 *   p = softmax(h·Wrouterᵀ) or sigmoid(h·Wrouterᵀ)            [E]
 *   chosen = top-k of p + exp_probs_b (bias only steers the choice)
 *   w_e = p_e for e in chosen; w /= Σw if normalized; w *= scale
 *   y = Σ_e w_e · down_e(silu(gate_e h) * up_e h) + shared(h)
 *   x += y
 * Tokens are grouped by expert so each expert's weights are read once per
 * call; a token's sum runs over its experts in index order, so results do
 * not depend on the batching or the thread count. */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "cpu/matmul_kernels.h"
#include "cpu/mla_ops.h"
#include "exec/exec_internal.h"

ef_status ef_moe_alloc(ef_exec *e) {
    const ef_hparams *hp = &e->m->hp;
    const uint64_t nb = (uint64_t)e->n_batch, E = (uint64_t)hp->n_expert, k = (uint64_t)hp->n_expert_used;
    ef_status st = ef_exec_alloc_floats(e->acct, &e->router, nb, E, 1, "the MoE router probabilities");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->sel_prob, nb, E, 1, "the MoE selection scores");
    if (!st) st = ef_exec_alloc_floats(e->acct, (float **)&e->sel_idx, nb, k, 1, "the MoE chosen experts");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->sel_w, nb, k, 1, "the MoE expert weights");
    if (!st) st = ef_exec_alloc_floats(e->acct, (float **)&e->rows, nb, 1, 1, "the MoE token lists");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->row_w, nb, 1, 1, "the MoE token weights");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->xg, nb, (uint64_t)hp->n_embd, 1, "the MoE gathered inputs");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->moe_out, nb, (uint64_t)hp->n_embd, 1, "the MoE expert outputs");
    if (!st) st = ef_exec_alloc_floats(e->acct, &e->moe_acc, nb, (uint64_t)hp->n_embd, 1, "the MoE layer output");
    return st;
}

/* p[E] in place: softmax or sigmoid of the router logits. */
static void gate_probs(float *p, int32_t E, ef_moe_gating gating) {
    if (gating == EF_MOE_SIGMOID) {
        for (int32_t i = 0; i < E; i++) p[i] = 1.0f / (1.0f + expf(-p[i]));
        return;
    }
    float mx = p[0];
    for (int32_t i = 1; i < E; i++) mx = p[i] > mx ? p[i] : mx;
    float sum = 0.0f;
    for (int32_t i = 0; i < E; i++) sum += (p[i] = expf(p[i] - mx));
    for (int32_t i = 0; i < E; i++) p[i] /= sum;
}

/* Chooses token t's experts into sel_idx/sel_w (ties: the lower index). */
static void route_token(ef_exec *e, const ef_layer *l, int32_t t) {
    const ef_hparams *hp = &e->m->hp;
    const int32_t E = hp->n_expert, k = hp->n_expert_used;
    float *p = e->router + (int64_t)t * E;    /* [E] */
    float *s = e->sel_prob + (int64_t)t * E;  /* [E] */
    int32_t *idx = e->sel_idx + (int64_t)t * k;
    float *w = e->sel_w + (int64_t)t * k;
    gate_probs(p, E, hp->expert_gating);
    for (int32_t i = 0; i < E; i++) s[i] = p[i] + (l->exp_probs_b ? e->wvec[i] : 0.0f);
    float sum = 0.0f;
    for (int32_t j = 0; j < k; j++) {
        int32_t best = -1;
        for (int32_t i = 0; i < E; i++)
            if (s[i] > -INFINITY && (best < 0 || s[i] > s[best])) best = i;
        idx[j] = best;
        w[j] = p[best];
        s[best] = -INFINITY; /* taken */
        sum += w[j];
    }
    for (int32_t j = 0; j < k; j++) {
        if (hp->expert_weights_norm) w[j] /= sum;
        w[j] *= hp->expert_weights_scale;
    }
}

/* out[n][n_embd] = down(silu(gate·x) * up·x) for the given weights. */
static void swiglu_ffn(ef_exec *e, ef_pool *pool, const ef_tensor *g, const ef_tensor *u,
                       const ef_tensor *d, const float *x, int32_t n, float *out) {
    const int64_t ff = g->ne[1];
    ef_cpu_matmul_mode(pool, (ef_matmul_mode)e->matmul_mode, g, x, n, e->gate); /* [n][ff] */
    ef_cpu_matmul_mode(pool, (ef_matmul_mode)e->matmul_mode, u, x, n, e->up);   /* [n][ff] */
    ef_cpu_swiglu(e->gate, e->up, e->gate, (int64_t)n * ff);
    ef_cpu_matmul_mode(pool, (ef_matmul_mode)e->matmul_mode, d, e->gate, n, out);
}

void ef_moe_ffn(ef_exec *e, ef_pool *pool, int32_t il, int32_t n) {
    const ef_hparams *hp = &e->m->hp;
    const ef_layer *l = &e->m->layers[il];
    const int32_t E = hp->n_expert, k = hp->n_expert_used, d = hp->n_embd;
    ef_exec_norm(e, l->ffn_norm, e->x, n, d, e->xn);        /* [n][d] */
    ef_cpu_matmul_mode(pool, (ef_matmul_mode)e->matmul_mode, l->ffn_gate_inp, e->xn, n, e->router); /* [n][E] logits */
    if (l->exp_probs_b) ef_cpu_tensor_to_f32(l->exp_probs_b, e->wvec);
    for (int32_t t = 0; t < n; t++) route_token(e, l, t);

    memset(e->moe_acc, 0, sizeof(float) * (size_t)n * (size_t)d);
    for (int32_t ex = 0; ex < E; ex++) {
        int32_t cnt = 0;
        for (int32_t t = 0; t < n; t++)
            for (int32_t j = 0; j < k; j++)
                if (e->sel_idx[(int64_t)t * k + j] == ex) {
                    e->rows[cnt] = t;
                    e->row_w[cnt] = e->sel_w[(int64_t)t * k + j];
                    memcpy(e->xg + (int64_t)cnt * d, e->xn + (int64_t)t * d, sizeof(float) * (size_t)d);
                    cnt++;
                }
        if (cnt == 0) continue;
        const ef_tensor g = ef_tensor_slice(l->ffn_gate_exps, ex);
        const ef_tensor u = ef_tensor_slice(l->ffn_up_exps, ex);
        const ef_tensor dn = ef_tensor_slice(l->ffn_down_exps, ex);
        swiglu_ffn(e, pool, &g, &u, &dn, e->xg, cnt, e->moe_out); /* [cnt][d] */
        for (int32_t r = 0; r < cnt; r++) {
            float *acc = e->moe_acc + (int64_t)e->rows[r] * d;
            const float *y = e->moe_out + (int64_t)r * d;
            for (int32_t i = 0; i < d; i++) acc[i] += e->row_w[r] * y[i];
        }
    }
    if (hp->n_expert_shared > 0) {
        swiglu_ffn(e, pool, l->ffn_gate_shexp, l->ffn_up_shexp, l->ffn_down_shexp, e->xn, n, e->moe_out);
        ef_cpu_add(e->moe_acc, e->moe_out, (int64_t)n * d);
    }
    ef_cpu_add(e->x, e->moe_acc, (int64_t)n * d);
}
