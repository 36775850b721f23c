/* Sparse-MLP metadata of a model (docs/sparsity.md): calibrated per-layer
 * thresholds on |silu(gate)| for a grid of sparsity levels, the ReLU FFN
 * option of the edgeformer architecture, and static neuron masks. Read at
 * load by ef_sparsity_load; immutable afterwards like the rest of the model. */
#ifndef EF_MODEL_SPARSITY_H
#define EF_MODEL_SPARSITY_H

#include <stdint.h>

#include "model/model.h"

/* GGUF keys (all optional). */
#define EF_SPARSITY_KEY_ACTIVATION "edgeformer.ffn_activation"        /* "silu" (default) | "relu" */
#define EF_SPARSITY_KEY_LEVELS "edgeformer.sparsity.levels"           /* f32[n_levels], ascending in (0, 1) */
#define EF_SPARSITY_KEY_THRESHOLDS "edgeformer.sparsity.thresholds"   /* f32[n_layer * n_levels], layer-major */
#define EF_SPARSITY_KEY_DEFAULT "edgeformer.sparsity.default_level"   /* f32, the calibration target */
#define EF_SPARSITY_KEY_TOKENS "edgeformer.sparsity.calibration_tokens" /* u32, tokens calibrated on */
#define EF_SPARSITY_KEY_KEEP "edgeformer.sparsity.keep"               /* u8[n_layer * n_ff]: 1 keeps a neuron */

typedef struct ef_sparsity_meta {
    int32_t relu;          /* FFN is relu(gate) * up: exact zeros, no threshold needed */
    int32_t n_layer;
    int32_t n_levels;      /* 0: no calibrated thresholds */
    float *levels;         /* [n_levels] ascending, in (0, 1) */
    float *thresholds;     /* [n_layer][n_levels] |act(gate)| under which a neuron is skipped */
    float default_level;   /* the calibration target, 0 when none */
    int32_t n_ff_file;     /* n_ff before masking (== hp.n_ff when not masked) */
    int32_t masked;        /* 1: pruned neurons were dropped at load (hp.n_ff is the largest kept count;
                              ef_layer_n_ff each layer's) */
} ef_sparsity_meta;

/* Reads the keys above into m->sparsity (left NULL when the file has none).
 * With a keep mask, drops the pruned rows of ffn_gate/ffn_up and columns of
 * ffn_down into buffers the model owns and lowers hp.n_ff. Malformed values
 * are EF_ERR_FORMAT naming the key. Runs after ef_weights_bind. */
ef_status ef_sparsity_load(ef_model *m);
void ef_sparsity_free(ef_sparsity_meta *s);

/* Applies the keep mask (key EF_SPARSITY_KEY_KEEP, u8[n_layer * n_ff]):
 * each layer keeps its own number of neurons (at least one, a multiple of
 * ffn_down's block size). The kept rows of ffn_gate/ffn_up and columns of
 * ffn_down are copied into buffers the model owns (ffn_mask.c); hp.n_ff
 * becomes the largest kept count (what buffers are sized for) and
 * ef_layer_n_ff gives each layer's. */
ef_status ef_ffn_mask_apply(ef_model *m, ef_sparsity_meta *s);

/* The hidden size of dense layer l's FFN: hp.n_ff, or fewer where a keep
 * mask dropped neurons (per layer). */
static inline int32_t ef_layer_n_ff(const ef_layer *l) { return (int32_t)l->ffn_gate->ne[1]; }

/* ---- the neuron-row layout of ffn_down (sparsity_layout.c) ----
 * Built for every dense layer by the first sparse session of a model and
 * shared by all its sessions until the model is freed; thread-safe. */
struct ef_sparse_down;
/* *out: [n_layer] layouts (cpu/sparse_ops.h; rows NULL for MoE layers).
 * EF_ERR_NO_MEMORY / EF_ERR_UNSUPPORTED (a type without dequantizer) leave
 * nothing built; a later call tries again. */
ef_status ef_sparsity_layout_get(const ef_model *m, const struct ef_sparse_down **out);
/* Frees it (the model's destructor). */
void ef_sparsity_layout_free(ef_model *m);

/* 1 when the model's dense FFN uses ReLU instead of SiLU. */
int32_t ef_model_ffn_is_relu(const ef_model *m);

/* Layer il's threshold for a sparsity level in [0, 1): linear between the
 * calibrated grid points (0 below the first point, the last one above). 0
 * when the model has no thresholds. */
float ef_sparsity_threshold(const ef_sparsity_meta *s, int32_t il, float level);

/* ---- calibration statistics (sparsity_calib.c) ----
 * Per layer, a histogram of |act(gate)| with 64 bins per octave over
 * [2^-24, 2^8) plus one bin below (zeros included), so a quantile is known
 * to about 1% of its value whatever the text length. */
#define EF_ACT_HIST_PER_OCTAVE 64
#define EF_ACT_HIST_MIN_LOG2 (-24)
#define EF_ACT_HIST_BINS (1 + 32 * EF_ACT_HIST_PER_OCTAVE)

typedef struct ef_act_hist {
    int32_t n_layer;
    uint64_t *bins;  /* [n_layer][EF_ACT_HIST_BINS] counts */
    uint64_t *total; /* [n_layer] values counted */
} ef_act_hist;

ef_status ef_act_hist_create(int32_t n_layer, ef_act_hist **out);
void ef_act_hist_free(ef_act_hist *h);
/* Counts |act[i]| for i < n into layer il's histogram. */
void ef_act_hist_add(ef_act_hist *h, int32_t il, const float *act, int64_t n);
/* The value under which a fraction p of layer il's |act| fell (0 when the
 * layer saw nothing), interpolated inside its bin. */
float ef_act_hist_quantile(const ef_act_hist *h, int32_t il, float p);

#endif
