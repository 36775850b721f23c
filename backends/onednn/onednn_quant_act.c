/*
 * onednn_quant_act.c — activations to u8 per call, one scale per row.
 *
 * oneDNN 2.6 takes output scales per output column only and one source zero
 * point, so a per-row (per-token) scale cannot go through its attributes.
 * Each row is quantized symmetrically around the fixed zero point 128 with
 * its own step; the caller multiplies output row i by that step afterwards
 * (m x n multiplies, nothing next to the GEMM). Per-row steps follow tokens
 * whose activations are much larger than the others'; measured against one
 * step for the whole call: see docs/backends-onednn.md.
 * u8 with a zero point rather than s8: the s8-source GEMM is 4-15x slower at
 * M = 1 on AVX2.
 */
#include <math.h>

#include "onednn_internal.h"

void onednn_quantize_u8_rows(const float *x, int64_t m, int64_t k, uint8_t *q, float *row_step)
{
    for (int64_t i = 0; i < m; i++) {
        const float *xr = x + i * k; /* [k] */
        uint8_t *qr = q + i * k;     /* [k] */
        float amax = 0.0f;
        for (int64_t j = 0; j < k; j++)
            amax = fmaxf(amax, fabsf(xr[j]));
        if (!(amax > 0.0f) || !isfinite(amax)) {
            /* an all-zero row (a non-finite one gives zeros too; the host's
             * own checks see non-finite activations before they get here) */
            row_step[i] = 0.0f;
            for (int64_t j = 0; j < k; j++)
                qr[j] = ONEDNN_ACT_ZERO_POINT;
            continue;
        }
        float step = amax / 127.0f, inv = 127.0f / amax;
        for (int64_t j = 0; j < k; j++) {
            long v = lrintf(xr[j] * inv) + ONEDNN_ACT_ZERO_POINT; /* in [1, 255] */
            qr[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        row_step[i] = step;
    }
}
