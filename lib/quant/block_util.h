/* Small helpers shared by the block quantizers: unaligned fp16 fields and
 * the rounding/absmax searches every reference quantizer uses. */
#ifndef EF_QUANT_BLOCK_UTIL_H
#define EF_QUANT_BLOCK_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/fp16.h"

/* fp16 fields sit at arbitrary byte offsets inside file-mapped blocks. */
static inline float ef_load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ef_f16_to_f32(h);
}

static inline void ef_store_f16(uint8_t *p, float v) {
    uint16_t h = ef_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* Value of largest magnitude in x[0..n), sign kept (ggml's "signed max"). */
static inline float ef_signed_absmax(const float *x, int n) {
    float best = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > fabsf(best)) best = x[i];
    return best;
}

/* roundf(v) clamped to [lo, hi]; NaN maps to lo. */
static inline int ef_round_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    int q = (int)lroundf(v);
    return q < lo ? lo : q > hi ? hi : q;
}

#endif
