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

#define ROPE_MAX_PAIRS 512 /* pairs per head whose angles are computed once per token */

static void rotate(float *a, float *b, double c, double s) {
    double x0 = *a, x1 = *b;
    *a = (float)(x0 * c - x1 * s);
    *b = (float)(x0 * s + x1 * c);
}

/* The angle of pair i at (scaled) position pos: pos · base^(-2i/n_rot),
 * divided by the pair's frequency factor when the model has them. */
static double pair_angle(const ef_rope_params *p, double pos, int32_t i) {
    double theta = pos * pow((double)p->freq_base, -2.0 * i / p->n_rot);
    if (p->freq_factors) theta /= p->freq_factors[i];
    return theta;
}

void ef_cpu_rope(float *x, int32_t n_tok, int32_t n_heads, int32_t head_dim, int32_t pos0,
                 const ef_rope_params *p) {
    const int32_t half = p->n_rot / 2;
    /* cos/sin of each pair's angle for one token, shared by its heads (the
     * angles do not depend on the head: computing them once per token is
     * the same arithmetic, done n_heads times less). */
    double cs[2 * ROPE_MAX_PAIRS]; /* [half][cos, sin] */
    const int cached = half <= ROPE_MAX_PAIRS;
    for (int32_t t = 0; t < n_tok; t++) {
        double pos = (double)(pos0 + t) * p->freq_scale;
        if (cached)
            for (int32_t i = 0; i < half; i++) {
                const double theta = pair_angle(p, pos, i);
                cs[2 * i] = cos(theta);
                cs[2 * i + 1] = sin(theta);
            }
        for (int32_t h = 0; h < n_heads; h++) {
            float *v = x + ((int64_t)t * n_heads + h) * head_dim; /* [head_dim] */
            for (int32_t i = 0; i < half; i++) {
                double c, s;
                if (cached) {
                    c = cs[2 * i], s = cs[2 * i + 1];
                } else {
                    const double theta = pair_angle(p, pos, i);
                    c = cos(theta), s = sin(theta);
                }
                if (p->mode == EF_ROPE_NORM)
                    rotate(&v[2 * i], &v[2 * i + 1], c, s);
                else
                    rotate(&v[i], &v[i + half], c, s);
            }
        }
    }
}
