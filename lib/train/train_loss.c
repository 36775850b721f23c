/* Softmax cross-entropy over the vocabulary, forward and backward. */
#include <math.h>

#include "cpu/exp.h"
#include "train/train.h"
#include "train/train_reduce.h"

typedef struct {
    float *losses, *x;
    const int32_t *targets;
    int64_t N;
    int32_t V;
    float scale;
} ce_job;

static void ce_fwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const ce_job *j = ctx;
    const int level = ef_cpu_exp_level();
    int64_t b, e;
    ef_split_range(j->N, ith, nth, &b, &e);
    for (int64_t n = b; n < e; n++) {
        float *row = j->x + n * j->V; /* [V] logits → probabilities */
        const float mx = ef_tr_reduce_max(row, j->V);
        for (int32_t v = 0; v < j->V; v++) row[v] -= mx;
        ef_cpu_exp_with(level, row, row, j->V);
        const double sum = ef_tr_reduce_sum(row, j->V, 0);
        const float inv = (float)(1.0 / sum);
        for (int32_t v = 0; v < j->V; v++) row[v] *= inv;
        const float pt = row[j->targets[n]];
        j->losses[n] = -logf(pt > 1e-30f ? pt : 1e-30f);
    }
}

void ef_tr_crossentropy_fwd(ef_pool *pool, float *losses, float *logits, const int32_t *targets,
                            int64_t N, int32_t V) {
    ce_job j = {.losses = losses, .x = logits, .targets = targets, .N = N, .V = V};
    ef_pool_run(pool, ce_fwd_worker, &j);
}

static void ce_bwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const ce_job *j = ctx;
    int64_t b, e;
    ef_split_range(j->N, ith, nth, &b, &e);
    for (int64_t n = b; n < e; n++) {
        float *row = j->x + n * j->V; /* [V] probabilities → dlogits */
        row[j->targets[n]] -= 1.0f;
        for (int32_t v = 0; v < j->V; v++) row[v] *= j->scale;
    }
}

void ef_tr_crossentropy_bwd(ef_pool *pool, float *probs, const int32_t *targets, int64_t N,
                            int32_t V, float scale) {
    ce_job j = {.x = probs, .targets = targets, .N = N, .V = V, .scale = scale};
    ef_pool_run(pool, ce_bwd_worker, &j);
}
