/* AdamW with decoupled weight decay, global-norm gradient clipping and a
 * warm-up + cosine learning-rate schedule. */
#include <math.h>

#include "train/train.h"

float ef_adamw_lr(const ef_adamw *o, int64_t step) {
    if (o->warmup > 0 && step < o->warmup) return o->lr_max * (float)(step + 1) / (float)o->warmup;
    if (o->total_steps <= o->warmup) return o->lr_max;
    double progress = (double)(step - o->warmup) / (double)(o->total_steps - o->warmup);
    if (progress > 1.0) progress = 1.0;
    double cosine = 0.5 * (1.0 + cos(3.141592653589793 * progress));
    return (float)(o->lr_min + (o->lr_max - o->lr_min) * cosine);
}

float ef_clip_grad_norm(float *grads, size_t n, float clip_norm) {
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    const float norm = (float)sqrt(ss);
    if (clip_norm > 0.0f && norm > clip_norm) {
        const float k = clip_norm / norm;
        for (size_t i = 0; i < n; i++) grads[i] *= k;
    }
    return norm;
}

void ef_adamw_update(const ef_adamw *o, float lr, int64_t step, float *params, const float *grads,
                     float *m, float *v, size_t begin, size_t end, int decay) {
    const float b1 = o->beta1, b2 = o->beta2;
    const float c1 = 1.0f - powf(b1, (float)step), c2 = 1.0f - powf(b2, (float)step);
    const float wd = decay ? o->weight_decay : 0.0f;
    for (size_t i = begin; i < end; i++) {
        const float g = grads[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        const float mh = m[i] / c1, vh = v[i] / c2;
        params[i] -= lr * (mh / (sqrtf(vh) + o->eps) + wd * params[i]);
    }
}
