#include "quant/types.h"

#include <strings.h>

#include "base/fp16.h"
#include "quant/blocks.h"

static void f32_to_float(const void *src, float *dst, int64_t n) {
    const float *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = s[i];
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const uint8_t *s = src; /* may be unaligned inside a file */
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, s + 2 * i, 2);
        dst[i] = ef_f16_to_f32(h);
    }
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, s + 2 * i, 2);
        dst[i] = ef_bf16_to_f32(h);
    }
}

static void f32_from_float(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f16_from_float(const float *src, void *dst, int64_t n) {
    uint8_t *d = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = ef_f32_to_f16(src[i]);
        memcpy(d + 2 * i, &h, 2);
    }
}

static void bf16_from_float(const float *src, void *dst, int64_t n) {
    uint8_t *d = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = ef_f32_to_bf16(src[i]);
        memcpy(d + 2 * i, &h, 2);
    }
}

/* Geometry from ggml-common.h (see shared/reference/specs.md §2). */
static const ef_type_info k_types[EF_TYPE_COUNT] = {
    [EF_TYPE_F32] = {"F32", 1, 4, f32_to_float, f32_from_float},
    [EF_TYPE_F16] = {"F16", 1, 2, f16_to_float, f16_from_float},
    [EF_TYPE_Q4_0] = {"Q4_0", 32, 18, ef_dequantize_q4_0, ef_quantize_q4_0},
    [EF_TYPE_Q4_1] = {"Q4_1", 32, 20, ef_dequantize_q4_1, ef_quantize_q4_1},
    [EF_TYPE_Q5_0] = {"Q5_0", 32, 22, ef_dequantize_q5_0, ef_quantize_q5_0},
    [EF_TYPE_Q5_1] = {"Q5_1", 32, 24, ef_dequantize_q5_1, ef_quantize_q5_1},
    [EF_TYPE_Q8_0] = {"Q8_0", 32, 34, ef_dequantize_q8_0, ef_quantize_q8_0},
    [EF_TYPE_Q8_1] = {"Q8_1", 32, 36, NULL},
    [EF_TYPE_Q2_K] = {"Q2_K", 256, 84, ef_dequantize_q2_k, ef_quantize_q2_k},
    [EF_TYPE_Q3_K] = {"Q3_K", 256, 110, ef_dequantize_q3_k, ef_quantize_q3_k},
    [EF_TYPE_Q4_K] = {"Q4_K", 256, 144, ef_dequantize_q4_k, ef_quantize_q4_k},
    [EF_TYPE_Q5_K] = {"Q5_K", 256, 176, ef_dequantize_q5_k, ef_quantize_q5_k},
    [EF_TYPE_Q6_K] = {"Q6_K", 256, 210, ef_dequantize_q6_k, ef_quantize_q6_k},
    [EF_TYPE_Q8_K] = {"Q8_K", 256, 292, NULL},
    [EF_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, NULL},
    [EF_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74, NULL},
    [EF_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, NULL},
    [EF_TYPE_IQ1_S] = {"IQ1_S", 256, 50, NULL},
    [EF_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, NULL},
    [EF_TYPE_IQ3_S] = {"IQ3_S", 256, 110, NULL},
    [EF_TYPE_IQ2_S] = {"IQ2_S", 256, 82, NULL},
    [EF_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136, NULL},
    [EF_TYPE_I8] = {"I8", 1, 1, NULL},
    [EF_TYPE_I16] = {"I16", 1, 2, NULL},
    [EF_TYPE_I32] = {"I32", 1, 4, NULL},
    [EF_TYPE_I64] = {"I64", 1, 8, NULL},
    [EF_TYPE_F64] = {"F64", 1, 8, NULL},
    [EF_TYPE_IQ1_M] = {"IQ1_M", 256, 56, NULL},
    [EF_TYPE_BF16] = {"BF16", 1, 2, bf16_to_float, bf16_from_float},
    [EF_TYPE_TQ1_0] = {"TQ1_0", 256, 54, ef_dequantize_tq1_0, ef_quantize_tq1_0},
    [EF_TYPE_TQ2_0] = {"TQ2_0", 256, 66, ef_dequantize_tq2_0, ef_quantize_tq2_0},
    [EF_TYPE_MXFP4] = {"MXFP4", 32, 17, NULL},
};

const ef_type_info *ef_type_get(uint32_t type) {
    if (type >= EF_TYPE_COUNT || !k_types[type].name) return NULL;
    return &k_types[type];
}

const char *ef_type_name(uint32_t type) {
    const ef_type_info *t = ef_type_get(type);
    return t ? t->name : "unknown";
}

int32_t ef_type_from_name(const char *name) {
    if (!name) return -1;
    for (int32_t i = 0; i < EF_TYPE_COUNT; i++)
        if (k_types[i].name && strcasecmp(k_types[i].name, name) == 0) return i;
    return -1;
}

uint64_t ef_type_row_size(uint32_t type, int64_t n) {
    const ef_type_info *t = ef_type_get(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    return (uint64_t)(n / t->block_size) * (uint64_t)t->type_size;
}
