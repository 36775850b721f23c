/* The per-type table of quantized kernels, activation quantization, and the
 * scalar reference dot products over unpacked groups (see qdot.h). */
#include "cpu/qdot.h"

#include <math.h>
#include <string.h>

#include "quant/types.h"

/* Every type has an AVX2 unpacker; types without fused row kernels go
 * group by group. */
static const ef_qtype_ops k_q8_0 = {32, 0, 1, ef_qunpack_q8_0, ef_qunpack_q8_0_avx2,
                                     ef_qrow_q8_0_int_avx2, ef_qrow_q8_0_f32_avx2, ef_qrows_q8_0_int_avx2};
static const ef_qtype_ops k_q4_0 = {32, 0, 1, ef_qunpack_q4_0, ef_qunpack_q4_0_avx2,
                                     ef_qrow_q4_0_int_avx2, ef_qrow_q4_0_f32_avx2, ef_qrows_q4_0_int_avx2};
static const ef_qtype_ops k_q4_1 = {32, 1, 1, ef_qunpack_q4_1, ef_qunpack_q4_1_avx2, NULL, NULL, NULL};
static const ef_qtype_ops k_q5_0 = {32, 0, 1, ef_qunpack_q5_0, ef_qunpack_q5_0_avx2, NULL, NULL, NULL};
static const ef_qtype_ops k_q5_1 = {32, 1, 1, ef_qunpack_q5_1, ef_qunpack_q5_1_avx2, NULL, NULL, NULL};
static const ef_qtype_ops k_q4_k = {256, 1, 0, ef_qunpack_q4_k, ef_qunpack_q4_k_avx2, ef_qrow_q4_k_int_avx2,
                                     ef_qrow_q4_k_f32_avx2, NULL};
static const ef_qtype_ops k_q5_k = {256, 1, 0, ef_qunpack_q5_k, ef_qunpack_q5_k_avx2, NULL, NULL, NULL};
static const ef_qtype_ops k_q6_k = {256, 0, 0, ef_qunpack_q6_k, ef_qunpack_q6_k_avx2, ef_qrow_q6_k_int_avx2,
                                     ef_qrow_q6_k_f32_avx2, NULL};
static const ef_qtype_ops k_q2_k = {256, 1, 0, ef_qunpack_q2_k, ef_qunpack_q2_k_avx2, NULL, NULL, NULL};
static const ef_qtype_ops k_q3_k = {256, 0, 0, ef_qunpack_q3_k, ef_qunpack_q3_k_avx2, NULL, NULL, NULL};
static const ef_qtype_ops k_tq2_0 = {256, 0, 0, ef_qunpack_tq2_0, ef_qunpack_tq2_0_avx2, NULL, NULL, NULL};

const ef_qtype_ops *ef_qtype_ops_get(uint32_t type) {
    switch (type) {
    case EF_TYPE_Q8_0: return &k_q8_0;
    case EF_TYPE_Q4_0: return &k_q4_0;
    case EF_TYPE_Q4_1: return &k_q4_1;
    case EF_TYPE_Q5_0: return &k_q5_0;
    case EF_TYPE_Q5_1: return &k_q5_1;
    case EF_TYPE_Q4_K: return &k_q4_k;
    case EF_TYPE_Q5_K: return &k_q5_k;
    case EF_TYPE_Q6_K: return &k_q6_k;
    case EF_TYPE_Q2_K: return &k_q2_k;
    case EF_TYPE_Q3_K: return &k_q3_k;
    case EF_TYPE_TQ2_0: return &k_tq2_0;
    default: return NULL;
    }
}

/* q = round(x / d) with d = amax / 127 over `len` values. Returns d. */
static float quantize_span(const float *x, int32_t len, int8_t *q) {
    float amax = 0.0f;
    for (int32_t i = 0; i < len; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    for (int32_t i = 0; i < len; i++) {
        float v = nearbyintf(x[i] * id);
        q[i] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v); /* NaN input → 0 via id 0 or clamp */
    }
    return d;
}

void ef_qact_quantize_group(const float *x, int32_t n32, int per_32, ef_qgroup_a *a) {
    memset(a, 0, sizeof *a);
    if (per_32) {
        for (int32_t c = 0; c < n32; c++) a->d[c] = quantize_span(x + 32 * c, 32, a->q + 32 * c);
    } else {
        const float d = quantize_span(x, 32 * n32, a->q);
        for (int32_t c = 0; c < n32; c++) a->d[c] = d;
    }
    for (int32_t s = 0; s < 2 * n32; s++) {
        int32_t sum = 0;
        for (int i = 0; i < 16; i++) sum += a->q[16 * s + i];
        a->bsum[s] = (int16_t)sum;
    }
}

void ef_qgroup_dequantize(const ef_qgroup_w *g, int32_t n32, float *out) {
    for (int32_t i = 0; i < 32 * n32; i++)
        out[i] = g->d[i / 32] * (float)g->scale[i / 16] * (float)g->q[i] - g->dmin[i / 32] * (float)g->min[i / 16];
}

float ef_qdot_f32_scalar(const ef_qgroup_w *g, const float *x, int32_t n32) {
    float w[EF_QGROUP]; /* [n32*32] dequantized group */
    ef_qgroup_dequantize(g, n32, w);
    float sum = 0.0f;
    for (int32_t i = 0; i < 32 * n32; i++) sum += w[i] * x[i];
    return sum;
}

float ef_qdot_int_scalar(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min) {
    float sum = 0.0f;
    for (int32_t c = 0; c < n32; c++) {
        int32_t isum = 0; /* Σ scale · Σ q·a over the chunk's two 16-element halves */
        for (int s = 2 * c; s < 2 * c + 2; s++) {
            int32_t dot = 0;
            for (int i = 16 * s; i < 16 * s + 16; i++) dot += (int32_t)g->q[i] * a->q[i];
            isum += g->scale[s] * dot;
        }
        sum += g->d[c] * a->d[c] * (float)isum;
        if (has_min) {
            const int32_t msum = g->min[2 * c] * a->bsum[2 * c] + g->min[2 * c + 1] * a->bsum[2 * c + 1];
            sum -= g->dmin[c] * a->d[c] * (float)msum;
        }
    }
    return sum;
}
