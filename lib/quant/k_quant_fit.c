#include "quant/k_quant_fit.h"

#include "quant/block_util.h"

/* The fp16 value `v` is stored as (what dequantization will read back). */
static float f16_round(float v) { return ef_f16_to_f32(ef_f32_to_f16(v)); }

void ef_kq_fit_affine(const float *x, int n_sub, int sub_len, int qmax, int smax,
                      float *d, float *dmin, uint8_t *sc, uint8_t *m, uint8_t *q) {
    float scale[16], neg_min[16]; /* [n_sub] per-sub-block fit before quantizing it */
    float max_scale = 0.0f, max_min = 0.0f;
    for (int s = 0; s < n_sub; s++) {
        const float *xs = x + s * sub_len; /* [sub_len] */
        float lo = 0.0f, hi = xs[0];
        for (int i = 0; i < sub_len; i++) {
            if (xs[i] < lo) lo = xs[i];
            if (xs[i] > hi) hi = xs[i];
        }
        scale[s] = hi > lo ? (hi - lo) / (float)qmax : 0.0f;
        neg_min[s] = -lo;
        if (scale[s] > max_scale) max_scale = scale[s];
        if (neg_min[s] > max_min) max_min = neg_min[s];
    }
    *d = f16_round(max_scale / (float)smax);
    *dmin = f16_round(max_min / (float)smax);
    const float inv_d = *d > 0.0f ? 1.0f / *d : 0.0f;
    const float inv_dmin = *dmin > 0.0f ? 1.0f / *dmin : 0.0f;
    for (int s = 0; s < n_sub; s++) {
        sc[s] = (uint8_t)ef_round_clamp(scale[s] * inv_d, 0, smax);
        m[s] = (uint8_t)ef_round_clamp(neg_min[s] * inv_dmin, 0, smax);
        const float step = *d * (float)sc[s], offset = *dmin * (float)m[s];
        const float inv_step = step > 0.0f ? 1.0f / step : 0.0f;
        for (int i = 0; i < sub_len; i++) {
            const int k = s * sub_len + i;
            q[k] = (uint8_t)ef_round_clamp((x[k] + offset) * inv_step, 0, qmax);
        }
    }
}

void ef_kq_fit_symmetric(const float *x, int n_sub, int sub_len, int qneg, int smax,
                         float *d, int8_t *sc, int8_t *q) {
    float scale[16]; /* [n_sub] */
    float max_abs = 0.0f;
    for (int s = 0; s < n_sub; s++) {
        scale[s] = ef_signed_absmax(x + s * sub_len, sub_len) / -(float)qneg;
        if (fabsf(scale[s]) > max_abs) max_abs = fabsf(scale[s]);
    }
    *d = f16_round(max_abs / (float)smax);
    const float inv_d = *d > 0.0f ? 1.0f / *d : 0.0f;
    for (int s = 0; s < n_sub; s++) {
        sc[s] = (int8_t)ef_round_clamp(scale[s] * inv_d, -smax, smax);
        const float step = *d * (float)sc[s];
        const float inv_step = step != 0.0f ? 1.0f / step : 0.0f;
        for (int i = 0; i < sub_len; i++) {
            const int k = s * sub_len + i;
            q[k] = (int8_t)ef_round_clamp(x[k] * inv_step, -qneg, qneg - 1);
        }
    }
}
