/* Scalar dequantizers and reference quantizers of the ggml block formats,
 * one family per file. Each pair follows ef_to_float_fn / ef_from_float_fn:
 * n is a multiple of the type's block size (the caller checks that). */
#ifndef EF_QUANT_BLOCKS_H
#define EF_QUANT_BLOCKS_H

#include <stdint.h>

#define EF_QUANT_PAIR(name)                                              \
    void ef_dequantize_##name(const void *src, float *dst, int64_t n); \
    void ef_quantize_##name(const float *src, void *dst, int64_t n)

EF_QUANT_PAIR(q8_0);
EF_QUANT_PAIR(q4_0);
EF_QUANT_PAIR(q4_1);
EF_QUANT_PAIR(q5_0);
EF_QUANT_PAIR(q5_1);
EF_QUANT_PAIR(q6_k);
EF_QUANT_PAIR(q4_k);
EF_QUANT_PAIR(q5_k);
EF_QUANT_PAIR(q3_k);
EF_QUANT_PAIR(q2_k);
EF_QUANT_PAIR(tq2_0);
EF_QUANT_PAIR(tq1_0);

#undef EF_QUANT_PAIR

#endif
