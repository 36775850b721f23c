/* Tensor element types, numbered exactly as GGUF/ggml number them, with the
 * block geometry of each. The table knows every published type so the GGUF
 * reader can validate any file; `to_float` is set only for the types this
 * build can compute with (others are reported as EF_ERR_UNSUPPORTED). */
#ifndef EF_QUANT_TYPES_H
#define EF_QUANT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum {
    EF_TYPE_F32 = 0, EF_TYPE_F16 = 1, EF_TYPE_Q4_0 = 2, EF_TYPE_Q4_1 = 3,
    EF_TYPE_Q5_0 = 6, EF_TYPE_Q5_1 = 7, EF_TYPE_Q8_0 = 8, EF_TYPE_Q8_1 = 9,
    EF_TYPE_Q2_K = 10, EF_TYPE_Q3_K = 11, EF_TYPE_Q4_K = 12, EF_TYPE_Q5_K = 13,
    EF_TYPE_Q6_K = 14, EF_TYPE_Q8_K = 15, EF_TYPE_IQ2_XXS = 16, EF_TYPE_IQ2_XS = 17,
    EF_TYPE_IQ3_XXS = 18, EF_TYPE_IQ1_S = 19, EF_TYPE_IQ4_NL = 20, EF_TYPE_IQ3_S = 21,
    EF_TYPE_IQ2_S = 22, EF_TYPE_IQ4_XS = 23, EF_TYPE_I8 = 24, EF_TYPE_I16 = 25,
    EF_TYPE_I32 = 26, EF_TYPE_I64 = 27, EF_TYPE_F64 = 28, EF_TYPE_IQ1_M = 29,
    EF_TYPE_BF16 = 30, EF_TYPE_TQ1_0 = 34, EF_TYPE_TQ2_0 = 35, EF_TYPE_MXFP4 = 39,
    EF_TYPE_COUNT = 40
};

/* Converts n elements (n a multiple of block_size) starting at a block boundary. */
typedef void (*ef_to_float_fn)(const void *src, float *dst, int64_t n);
/* Quantizes n floats (n a multiple of block_size) into n/block_size blocks. */
typedef void (*ef_from_float_fn)(const float *src, void *dst, int64_t n);

typedef struct ef_type_info {
    const char *name;     /* "Q4_K"; NULL for ids that are not (or no longer) types */
    int32_t block_size;   /* elements per block */
    int32_t type_size;    /* bytes per block */
    ef_to_float_fn to_float; /* NULL: not computable in this build */
    ef_from_float_fn from_float; /* NULL: this build cannot write the type */
} ef_type_info;

/* NULL when `type` is not a known type id. */
const ef_type_info *ef_type_get(uint32_t type);
/* Name or "unknown". */
const char *ef_type_name(uint32_t type);
/* Type id for a name (case-insensitive), or -1. */
int32_t ef_type_from_name(const char *name);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size or the type is unknown. */
uint64_t ef_type_row_size(uint32_t type, int64_t n);

/* Quantizes a row of n floats into `dst` (ef_type_row_size(type, n) bytes).
 * EF_ERR_INVALID_ARG when n is not a positive multiple of the block size;
 * EF_ERR_UNSUPPORTED when the type has no quantizer in this build. */
ef_status ef_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

#endif
