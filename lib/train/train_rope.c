/* Forward/backward of RoPE, NORM mode (adjacent pairs) as the engine, on
 * whole heads or on MLA's decoupled part of each head. */
#include <math.h>

#include "train/train.h"

void ef_tr_rope_table(float *cos_sin, int32_t T, int32_t hd, float base) {
    const int32_t half = hd / 2;
    for (int32_t t = 0; t < T; t++)
        for (int32_t i = 0; i < half; i++) {
            /* angles in double, as the engine's kernel computes them */
            double theta = (double)t * pow((double)base, -2.0 * i / hd);
            cos_sin[((int64_t)t * half + i) * 2] = (float)cos(theta);
            cos_sin[((int64_t)t * half + i) * 2 + 1] = (float)sin(theta);
        }
}

/* Rotates dims off..off+n_rot of each head, adjacent pairs, by +θ (sign 1)
 * or −θ (sign −1). */
static void rope_apply(float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                       int32_t stride, int32_t off, int32_t n_rot, float sign) {
    const int32_t half = n_rot / 2;
    for (int32_t b = 0; b < B; b++)
        for (int32_t t = 0; t < T; t++) {
            const float *cs = cos_sin + (int64_t)t * half * 2; /* [half, 2] */
            for (int32_t h = 0; h < n_heads; h++) {
                float *v = x + (((int64_t)b * T + t) * n_heads + h) * stride + off; /* [n_rot] */
                for (int32_t i = 0; i < half; i++) {
                    const float c = cs[2 * i], s = sign * cs[2 * i + 1];
                    const float x0 = v[2 * i], x1 = v[2 * i + 1];
                    v[2 * i] = x0 * c - x1 * s;
                    v[2 * i + 1] = x0 * s + x1 * c;
                }
            }
        }
}

void ef_tr_rope_fwd(float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd) {
    rope_apply(x, cos_sin, B, T, n_heads, hd, 0, hd, 1.0f);
}

/* A rotation's Jacobian is the rotation itself, its transpose the inverse. */
void ef_tr_rope_bwd(float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd) {
    rope_apply(dx, cos_sin, B, T, n_heads, hd, 0, hd, -1.0f);
}

void ef_tr_rope_part_fwd(float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                         int32_t stride, int32_t off, int32_t n_rot) {
    rope_apply(x, cos_sin, B, T, n_heads, stride, off, n_rot, 1.0f);
}

void ef_tr_rope_part_bwd(float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                         int32_t stride, int32_t off, int32_t n_rot) {
    rope_apply(dx, cos_sin, B, T, n_heads, stride, off, n_rot, -1.0f);
}
