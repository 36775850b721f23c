/* Rotary position embedding.
 *
 * Pair i (i < n_rot/2) of a head turns by angle
 *     pos · freq_scale · base^(-2i/n_rot) / factor_i
 * NORM mode pairs adjacent dims (2i, 2i+1) — GGUF llama files, whose
 * converters permute Q/K rows for it; NEOX mode pairs the halves
 * (i, i + n_rot/2) — qwen2. Angles are computed in double so that long
 * positions keep their precision. */
#include "cpu/cpu_ops.h"

#include <math.h>

static void rotate(float *a, float *b, double theta) {
    double c = cos(theta), s = sin(theta);
    double x0 = *a, x1 = *b;
    *a = (float)(x0 * c - x1 * s);
    *b = (float)(x0 * s + x1 * c);
}

void ef_cpu_rope(float *x, int32_t n_tok, int32_t n_heads, int32_t head_dim, int32_t pos0,
                 const ef_rope_params *p) {
    const int32_t half = p->n_rot / 2;
    for (int32_t t = 0; t < n_tok; t++) {
        double pos = (double)(pos0 + t) * p->freq_scale;
        for (int32_t h = 0; h < n_heads; h++) {
            float *v = x + ((int64_t)t * n_heads + h) * head_dim; /* [head_dim] */
            for (int32_t i = 0; i < half; i++) {
                double theta = pos * pow((double)p->freq_base, -2.0 * i / p->n_rot);
                if (p->freq_factors) theta /= p->freq_factors[i];
                if (p->mode == EF_ROPE_NORM)
                    rotate(&v[2 * i], &v[2 * i + 1], theta);
                else
                    rotate(&v[i], &v[i + half], theta);
            }
        }
    }
}
