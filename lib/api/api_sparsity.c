/* Public sparse-MLP calls: what a model offers (ef_model_sparsity) and the
 * calibration that writes thresholds into a copy of its file
 * (ef_sparsity_calibrate). docs/sparsity.md has the method and the keys. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/sparsity_prune.h"
#include "base/alloc.h"
#include "base/platform.h"
#include "base/threadpool.h"
#include "edgeformer/edgeformer.h"
#include "exec/ffn_sparse.h"
#include "model/sparsity.h"
#include "quant/types.h"

#define CALIB_WINDOW 256   /* tokens per calibration window (each starts a fresh context) */
#define CALIB_GRID_STEP 5  /* levels grid: 5 %, 10 %, ... 95 % (+ the target) */
#define CALIB_MAX_LEVELS 21

uint32_t ef_model_sparsity(const ef_model *model, float *default_level) {
    if (default_level) *default_level = 0.0f;
    if (!model || !model->sparsity) return 0;
    const ef_sparsity_meta *s = model->sparsity;
    uint32_t flags = 0;
    if (s->n_levels > 0) flags |= EF_SPARSITY_THRESHOLDS;
    if (s->masked) flags |= EF_SPARSITY_MASKED;
    if (s->relu) flags |= EF_SPARSITY_RELU;
    if (default_level) *default_level = s->default_level;
    return flags;
}

/* The calibration text as tokens (owned by the caller), at least 2. */
static ef_status tokenize_text(const ef_model *m, const char *text, size_t len, int32_t **out, size_t *n_out) {
    size_t n = 0;
    ef_status st = ef_tokenize(m, text, len, EF_TOKENIZE_ADD_SPECIAL, NULL, 0, &n);
    if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) return st;
    if (n < 2 || n > UINT32_MAX) return ef_err(EF_ERR_INVALID_ARG, "the calibration text gives %zu tokens", n);
    int32_t *t = ef_malloc(sizeof(int32_t) * n);
    if (!t) return ef_err(EF_ERR_NO_MEMORY, "out of memory tokenizing the calibration text");
    st = ef_tokenize(m, text, len, EF_TOKENIZE_ADD_SPECIAL, t, n, &n);
    if (st) {
        ef_free(t);
        return st;
    }
    *out = t;
    *n_out = n;
    return EF_OK;
}

static void observe(void *user, int32_t il, const float *act, int32_t n, int32_t n_ff) {
    ef_act_hist_add(user, il, act, (int64_t)n * n_ff);
}

/* Runs the tokens densely in windows of CALIB_WINDOW, showing every dense
 * FFN layer's act(gate) to fn(user, ...). */
static ef_status collect(const ef_model *m, const int32_t *tokens, size_t n_tokens, ef_ffn_observe_fn fn,
                         void *user) {
    int32_t win = CALIB_WINDOW;
    if (m->hp.n_ctx_train > 0 && m->hp.n_ctx_train < win) win = m->hp.n_ctx_train;
    ef_mem_account acct = {0};
    ef_exec *e = NULL;
    ef_pool *pool = NULL;
    float *logits = NULL;
    ef_status st = ef_pool_create(ef_num_cores(), &pool);
    if (!st) st = ef_exec_create(m, win, win, &acct, &e);
    if (!st) {
        logits = ef_malloc(sizeof(float) * (size_t)m->hp.n_vocab);
        if (!logits) st = ef_err(EF_ERR_NO_MEMORY, "out of memory for the calibration logits");
    }
    if (!st) ef_exec_set_ffn_observer(e, fn, user);
    for (size_t done = 0; !st && done < n_tokens; done += (size_t)win) {
        const int32_t n = n_tokens - done < (size_t)win ? (int32_t)(n_tokens - done) : win;
        st = ef_exec_forward(e, pool, tokens + done, n, 0, 0, logits, NULL);
    }
    ef_free(logits);
    ef_exec_free(e, &acct);
    ef_pool_free(pool);
    return st;
}

/* The levels grid: every CALIB_GRID_STEP % below 100 %, with the target. */
static int32_t make_levels(float target, float *levels) {
    int32_t n = 0, placed = target <= 0.0f;
    for (int32_t pct = CALIB_GRID_STEP; pct < 100; pct += CALIB_GRID_STEP) {
        const float lv = (float)pct / 100.0f;
        if (!placed && fabsf(lv - target) < 1e-4f) placed = 1;
        else if (!placed && target < lv) {
            levels[n++] = target;
            placed = 1;
        }
        levels[n++] = lv;
    }
    if (!placed) levels[n++] = target;
    return n;
}

/* A copy of the model's file with the sparsity keys (tensors as stored). */
static ef_status write_copy(const ef_model *m, const char *out_path, const float *levels, int32_t n_levels,
                            const float *thresholds, float target, uint32_t n_tokens) {
    const ef_gguf *g = m->gguf;
    ef_gguf_writer *w = NULL;
    EF_TRY(ef_gguf_writer_create(&w));
    ef_status st = EF_OK;
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_kv(g); i++) st = ef_gguf_writer_copy_kv(w, g, i);
    if (!st) st = ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_LEVELS, EF_GGUF_F32, levels, (uint64_t)n_levels);
    if (!st)
        st = ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_THRESHOLDS, EF_GGUF_F32, thresholds,
                                    (uint64_t)m->hp.n_layer * (uint64_t)n_levels);
    if (!st) st = ef_gguf_writer_set_f32(w, EF_SPARSITY_KEY_DEFAULT, target);
    if (!st) st = ef_gguf_writer_set_u32(w, EF_SPARSITY_KEY_TOKENS, n_tokens);
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        st = ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    if (!st) st = ef_gguf_writer_write(w, out_path);
    ef_gguf_writer_free(w);
    return st;
}

ef_status ef_sparsity_calibrate(ef_model *model, const char *text, size_t text_len, float target,
                                const char *out_path) {
    if (!model || !text || text_len == 0 || !out_path)
        return ef_err(EF_ERR_INVALID_ARG, "ef_sparsity_calibrate: needs a model, a non-empty text and an output path");
    if (!(target >= 0.0f && target < 1.0f))
        return ef_err(EF_ERR_INVALID_ARG, "ef_sparsity_calibrate: target %g is outside [0, 1)", (double)target);
    const int32_t L = model->hp.n_layer;
    int32_t n_dense = 0;
    for (int32_t il = 0; il < L; il++) n_dense += !model->layers[il].is_moe;
    if (n_dense == 0)
        return ef_err(EF_ERR_UNSUPPORTED, "ef_sparsity_calibrate: the model has no dense gated FFN layer");

    size_t n_tokens = 0;
    int32_t *tokens = NULL;
    ef_status st = tokenize_text(model, text, text_len, &tokens, &n_tokens);
    if (st) return st;

    ef_act_hist *h = NULL;
    float *thresholds = NULL;
    float levels[CALIB_MAX_LEVELS];
    const int32_t n_levels = make_levels(target, levels);
    if (!st) st = ef_act_hist_create(L, &h);
    if (!st) st = collect(model, tokens, n_tokens, observe, h);
    if (!st) {
        thresholds = ef_malloc(sizeof(float) * (size_t)L * (size_t)n_levels);
        if (!thresholds) st = ef_err(EF_ERR_NO_MEMORY, "out of memory for the sparsity thresholds");
    }
    for (int32_t il = 0; !st && il < L; il++)
        for (int32_t i = 0; i < n_levels; i++)
            thresholds[(int64_t)il * n_levels + i] = ef_act_hist_quantile(h, il, levels[i]);
    if (!st) st = write_copy(model, out_path, levels, n_levels, thresholds, target, (uint32_t)n_tokens);
    ef_free(thresholds);
    ef_act_hist_free(h);
    ef_free(tokens);
    return st;
}

/* ---- static pruning (sparsity_prune.h) ---- */

typedef struct prune_stats {
    int32_t n_ff;
    double *sum; /* [n_layer][n_ff] Σ |act| over the text */
} prune_stats;

static void observe_sum(void *user, int32_t il, const float *act, int32_t n, int32_t n_ff) {
    prune_stats *p = user;
    double *s = p->sum + (int64_t)il * n_ff; /* [n_ff] */
    for (int32_t t = 0; t < n; t++)
        for (int32_t j = 0; j < n_ff; j++) s[j] += fabsf(act[(int64_t)t * n_ff + j]);
}

typedef struct scored {
    double score;
    int32_t j;
} scored;

static int by_score_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : (x->j > y->j) - (x->j < y->j);
}

/* score[j] *= ‖W_up[j]‖ · ‖W_down[:, j]‖ for one layer. row: [max(n_embd, n_ff)] scratch. */
static ef_status weigh_by_norms(const ef_layer *l, int32_t n_ff, double *score, double *col_sq, float *row) {
    const ef_type_info *tu = ef_type_get(l->ffn_up->type), *td = ef_type_get(l->ffn_down->type);
    if (!tu || !tu->to_float || !td || !td->to_float)
        return ef_err(EF_ERR_UNSUPPORTED, "prune: cannot read the FFN weights' types");
    const int64_t n_embd = l->ffn_up->ne[0];
    const uint64_t up_row = ef_type_row_size(l->ffn_up->type, n_embd), dn_row = ef_type_row_size(l->ffn_down->type, n_ff);
    memset(col_sq, 0, sizeof(double) * (size_t)n_ff);
    for (int64_t o = 0; o < l->ffn_down->ne[1]; o++) { /* ffn_down {n_ff, n_embd}: row o over neurons */
        td->to_float((const uint8_t *)l->ffn_down->data + (uint64_t)o * dn_row, row, n_ff);
        for (int32_t j = 0; j < n_ff; j++) col_sq[j] += (double)row[j] * row[j];
    }
    for (int32_t j = 0; j < n_ff; j++) {
        tu->to_float((const uint8_t *)l->ffn_up->data + (uint64_t)j * up_row, row, n_embd);
        double up_sq = 0;
        for (int64_t i = 0; i < n_embd; i++) up_sq += (double)row[i] * row[i];
        score[j] *= sqrt(up_sq * col_sq[j]);
    }
    return EF_OK;
}

/* keep[il][j] = 1 for the n_keep best-scored neurons of each layer. */
static ef_status choose_keep(const ef_model *m, const prune_stats *p, int32_t n_keep, uint8_t *keep) {
    const int32_t n_ff = p->n_ff, L = m->hp.n_layer;
    const int32_t wide = n_ff > m->hp.n_embd ? n_ff : m->hp.n_embd;
    scored *sc = ef_malloc(sizeof(scored) * (size_t)n_ff);     /* [n_ff] */
    double *score = ef_malloc(sizeof(double) * (size_t)n_ff);  /* [n_ff] */
    double *col_sq = ef_malloc(sizeof(double) * (size_t)n_ff); /* [n_ff] */
    float *row = ef_malloc(sizeof(float) * (size_t)wide);      /* [max(n_embd, n_ff)] */
    ef_status st = sc && score && col_sq && row ? EF_OK : ef_err(EF_ERR_NO_MEMORY, "out of memory choosing neurons");
    for (int32_t il = 0; !st && il < L; il++) {
        memcpy(score, p->sum + (int64_t)il * n_ff, sizeof(double) * (size_t)n_ff);
        st = weigh_by_norms(&m->layers[il], n_ff, score, col_sq, row);
        for (int32_t j = 0; !st && j < n_ff; j++) sc[j] = (scored){score[j], j};
        if (st) break;
        qsort(sc, (size_t)n_ff, sizeof *sc, by_score_desc);
        memset(keep + (int64_t)il * n_ff, 0, (size_t)n_ff);
        for (int32_t k = 0; k < n_keep; k++) keep[(int64_t)il * n_ff + sc[k].j] = 1;
    }
    ef_free(sc);
    ef_free(score);
    ef_free(col_sq);
    ef_free(row);
    return st;
}

/* A copy of the model's file with the keep mask (tensors as stored). */
static ef_status write_masked_copy(const ef_model *m, const char *out_path, const uint8_t *keep, uint64_t n) {
    const ef_gguf *g = m->gguf;
    ef_gguf_writer *w = NULL;
    EF_TRY(ef_gguf_writer_create(&w));
    ef_status st = EF_OK;
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_kv(g); i++) st = ef_gguf_writer_copy_kv(w, g, i);
    if (!st) st = ef_gguf_writer_set_arr(w, EF_SPARSITY_KEY_KEEP, EF_GGUF_U8, keep, n);
    for (int64_t i = 0; st == EF_OK && i < ef_gguf_n_tensors(g); i++) {
        const ef_gguf_tensor *t = ef_gguf_tensor_at(g, i);
        st = ef_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    if (!st) st = ef_gguf_writer_write(w, out_path);
    ef_gguf_writer_free(w);
    return st;
}

ef_status ef_sparsity_prune(ef_model *model, const char *text, size_t text_len, float keep, const char *out_path) {
    if (!model || !text || text_len == 0 || !out_path)
        return ef_err(EF_ERR_INVALID_ARG, "prune: needs a model, a non-empty text and an output path");
    if (!(keep > 0.0f && keep <= 1.0f)) return ef_err(EF_ERR_INVALID_ARG, "prune: keep %g is outside (0, 1]", (double)keep);
    const ef_hparams *hp = &model->hp;
    for (int32_t il = 0; il < hp->n_layer; il++)
        if (model->layers[il].is_moe) return ef_err(EF_ERR_UNSUPPORTED, "prune: MoE layers cannot be masked");
    if (model->sparsity && model->sparsity->masked)
        return ef_err(EF_ERR_UNSUPPORTED, "prune: the model is already masked; prune its unmasked original");
    const int32_t n_ff = hp->n_ff;
    int32_t n_keep = (int32_t)((double)keep * n_ff / 32.0 + 0.5) * 32;
    if (n_keep < 32) n_keep = 32;
    if (n_keep > n_ff) n_keep = n_ff;

    int32_t *tokens = NULL;
    size_t n_tokens = 0;
    ef_status st = tokenize_text(model, text, text_len, &tokens, &n_tokens);
    if (st) return st;
    const uint64_t n = (uint64_t)hp->n_layer * (uint64_t)n_ff;
    prune_stats p = {n_ff, ef_calloc((size_t)n, sizeof(double))};
    uint8_t *mask = ef_malloc((size_t)n); /* [n_layer][n_ff] */
    if (!p.sum || !mask) st = ef_err(EF_ERR_NO_MEMORY, "out of memory for the pruning statistics");
    if (!st) st = collect(model, tokens, n_tokens, observe_sum, &p);
    if (!st) st = choose_keep(model, &p, n_keep, mask);
    if (!st) st = write_masked_copy(model, out_path, mask, n);
    ef_free(mask);
    ef_free(p.sum);
    ef_free(tokens);
    return st;
}
