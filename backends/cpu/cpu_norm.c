/* RMSNorm, as llama/qwen2 use it (no mean subtraction, no bias). */
#include "cpu/cpu_ops.h"

#include <math.h>

void ef_cpu_rmsnorm(const float *x, const float *w, int32_t n, int32_t dim, float eps, float *y) {
    for (int32_t t = 0; t < n; t++) {
        const float *xt = x + (int64_t)t * dim; /* [dim] */
        float *yt = y + (int64_t)t * dim;       /* [dim] */
        double sum_sq = 0.0; /* double: the mean of squares over thousands of dims */
        for (int32_t i = 0; i < dim; i++) sum_sq += (double)xt[i] * xt[i];
        float scale = (float)(1.0 / sqrt(sum_sq / dim + eps));
        for (int32_t i = 0; i < dim; i++) yt[i] = xt[i] * scale * w[i];
    }
}
