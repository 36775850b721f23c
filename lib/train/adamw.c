/* AdamW with decoupled weight decay, global-norm gradient clipping and a
 * warm-up + cosine learning-rate schedule. */
#include <math.h>

#include "train/train.h"
#include "train/train_reduce.h"

float ef_adamw_lr(const ef_adamw *o, int64_t step) {
    if (o->warmup > 0 && step < o->warmup) return o->lr_max * (float)(step + 1) / (float)o->warmup;
    if (o->total_steps <= o->warmup) return o->lr_max;
    double progress = (double)(step - o->warmup) / (double)(o->total_steps - o->warmup);
    if (progress > 1.0) progress = 1.0;
    double cosine = 0.5 * (1.0 + cos(3.141592653589793 * progress));
    return (float)(o->lr_min + (o->lr_max - o->lr_min) * cosine);
}

/* Σ g² in NORM_SLICES fixed slices, each summed in double over fixed lanes
 * (train_reduce.h), the slices then added in order: the same bits on any
 * number of workers. */
enum { NORM_SLICES = 64 };

typedef struct {
    const float *grads;
    size_t n;
    double partial[NORM_SLICES];
} norm_job;

static void norm_worker(void *ctx, int32_t ith, int32_t nth) {
    norm_job *j = ctx;
    const size_t per = (j->n + NORM_SLICES - 1) / NORM_SLICES;
    int64_t s0, s1;
    ef_split_range(NORM_SLICES, ith, nth, &s0, &s1);
    for (int64_t s = s0; s < s1; s++) {
        const size_t b = (size_t)s * per < j->n ? (size_t)s * per : j->n;
        const size_t e = b + per < j->n ? b + per : j->n;
        j->partial[s] = ef_tr_reduce_sum(j->grads + b, (int64_t)(e - b), 1);
    }
}

float ef_grad_norm(ef_pool *pool, const float *grads, size_t n) {
    norm_job j = {.grads = grads, .n = n};
    ef_pool_run(pool, norm_worker, &j);
    double ss = 0.0;
    for (int s = 0; s < NORM_SLICES; s++) ss += j.partial[s];
    return (float)sqrt(ss);
}

float ef_clip_scale(float norm, float clip_norm) {
    return clip_norm > 0.0f && norm > clip_norm ? clip_norm / norm : 1.0f;
}

/* m, v and params are updated element by element with the same operations
 * whatever the range, so any split gives the same bits; restrict and the
 * build's -fno-math-errno for this file (lib/CMakeLists.txt) let the loop
 * vectorize. */
void ef_adamw_update(const ef_adamw *o, float lr, int64_t step, float *params, const float *grads,
                     float grad_scale, float *m, float *v, size_t begin, size_t end, int decay) {
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    const float c1 = 1.0f - powf(b1, (float)step), c2 = 1.0f - powf(b2, (float)step);
    const float wd = decay ? o->weight_decay : 0.0f;
    float *restrict pr = params + begin, *restrict mr = m + begin, *restrict vr = v + begin; /* [end − begin] */
    const float *restrict gr = grads + begin;                                                /* [end − begin] */
    const size_t n = end - begin;
    for (size_t i = 0; i < n; i++) {
        const float g = gr[i] * grad_scale;
        const float mi = b1 * mr[i] + (1.0f - b1) * g;
        const float vi = b2 * vr[i] + (1.0f - b2) * g * g;
        mr[i] = mi;
        vr[i] = vi;
        const float mh = mi / c1, vh = vi / c2;
        pr[i] -= lr * (mh / (sqrtf(vh) + eps) + wd * pr[i]);
    }
}
