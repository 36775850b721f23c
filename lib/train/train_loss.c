/* Softmax cross-entropy over the vocabulary, forward and backward. */
#include <math.h>

#include "train/train.h"

typedef struct {
    float *losses, *x;
    const int32_t *targets;
    int64_t N;
    int32_t V;
    float scale;
} ce_job;

static void ce_fwd_worker(void *ctx, int32_t ith, int32_t nth) {
    const ce_job *j = ctx;
    int64_t b, e;
    ef_split_range(j->N, ith, nth, &b, &e);
    for (int64_t n = b; n < e; n++) {
        float *row = j->x + n * j->V; /* [V] logits → probabilities */
        float mx = -INFINITY;
        for (int32_t v = 0; v < j->V; v++)
            if (row[v] > mx) mx = row[v];
        double sum = 0.0;
        for (int32_t v = 0; v < j->V; v++) {
            row[v] = expf(row[v] - mx);
            sum += row[v];
        }
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
