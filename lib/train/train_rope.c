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
 * or −θ (sign −1); the B·T token rows are split over the pool's workers
 * (each value is rotated on its own, so the split does not change bits). */
typedef struct rope_job {
    float *x;
    const float *cos_sin;
    int32_t T, n_heads, stride, off, n_rot;
    int64_t rows; /* B·T */
    float sign;
} rope_job;

static void rope_worker(void *ctx, int32_t ith, int32_t nth) {
    const rope_job *j = ctx;
    const int32_t half = j->n_rot / 2;
    int64_t r0, r1;
    ef_split_range(j->rows, ith, nth, &r0, &r1);
    for (int64_t row = r0; row < r1; row++) {
        const float *cs = j->cos_sin + (row % j->T) * half * 2; /* [half, 2] at position t */
        for (int32_t h = 0; h < j->n_heads; h++) {
            float *v = j->x + (row * j->n_heads + h) * j->stride + j->off; /* [n_rot] */
            for (int32_t i = 0; i < half; i++) {
                const float c = cs[2 * i], s = j->sign * cs[2 * i + 1];
                const float x0 = v[2 * i], x1 = v[2 * i + 1];
                v[2 * i] = x0 * c - x1 * s;
                v[2 * i + 1] = x0 * s + x1 * c;
            }
        }
    }
}

static void rope_apply(ef_pool *pool, float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                       int32_t stride, int32_t off, int32_t n_rot, float sign) {
    rope_job j = {.x = x, .cos_sin = cos_sin, .T = T, .n_heads = n_heads, .stride = stride, .off = off,
                  .n_rot = n_rot, .rows = (int64_t)B * T, .sign = sign};
    ef_pool_run(pool, rope_worker, &j);
}

void ef_tr_rope_fwd(ef_pool *pool, float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd) {
    rope_apply(pool, x, cos_sin, B, T, n_heads, hd, 0, hd, 1.0f);
}

/* A rotation's Jacobian is the rotation itself, its transpose the inverse. */
void ef_tr_rope_bwd(ef_pool *pool, float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                    int32_t hd) {
    rope_apply(pool, dx, cos_sin, B, T, n_heads, hd, 0, hd, -1.0f);
}

void ef_tr_rope_part_fwd(ef_pool *pool, float *x, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                         int32_t stride, int32_t off, int32_t n_rot) {
    rope_apply(pool, x, cos_sin, B, T, n_heads, stride, off, n_rot, 1.0f);
}

void ef_tr_rope_part_bwd(ef_pool *pool, float *dx, const float *cos_sin, int32_t B, int32_t T, int32_t n_heads,
                         int32_t stride, int32_t off, int32_t n_rot) {
    rope_apply(pool, dx, cos_sin, B, T, n_heads, stride, off, n_rot, -1.0f);
}
