/* Quantization profiles: which type each weight of a model gets.
 *
 * A profile is a default type for 2-D weight matrices plus ordered rules
 * (first match wins) keyed by glob patterns on tensor names ("*ffn_down*",
 * "output.weight"). Named profiles:
 *   balanced      Q8_0 everywhere
 *   fast          Q4_K; Q6_K for output.weight and token_embd.weight, and for
 *                 attn_v/ffn_down in the layers where extra bits pay most (the
 *                 first and last eighth of the stack and every third layer
 *                 between, the rule llama.cpp's Q4_K_M uses)
 *   experimental  Q2_K; Q4_K for token_embd, Q6_K for output
 *   ternary       TQ2_0; Q8_0 for token_embd and output
 *   f16, f32      that float type everywhere
 * 1-D tensors (norms, biases) are never quantized. When a profile's type does
 * not divide a tensor's row length, a named profile falls back (K-quant →
 * Q5_0/Q8_0 → F16, logged); a type asked for explicitly (a rule or the
 * default set by the caller) is an error instead. */
#ifndef EF_QUANT_PROFILE_H
#define EF_QUANT_PROFILE_H

#include <stdint.h>

#include "base/error.h"

#define EF_QUANT_MAX_RULES 64
#define EF_QUANT_PATTERN_MAX 128

typedef struct ef_quant_rule {
    char pattern[EF_QUANT_PATTERN_MAX];
    uint32_t type;
    int32_t strict; /* 1: the caller asked for this type: no fallback */
} ef_quant_rule;

struct ef_quant_profile {
    char name[32];
    uint32_t default_type;
    int32_t default_strict;
    int32_t more_bits_rule;  /* 1: attn_v/ffn_down get more_bits_type in chosen layers */
    uint32_t more_bits_type;
    ef_quant_rule rules[EF_QUANT_MAX_RULES]; /* the caller's rules first, then the profile's */
    int32_t n_rules;
    int32_t n_user_rules;
};
typedef struct ef_quant_profile ef_quant_profile;

/* Fills a named profile; EF_ERR_INVALID_ARG (listing the names) if unknown. */
ef_status ef_quant_profile_init(ef_quant_profile *p, const char *name);

/* The type tensor `name` (shape ne[0..n_dims), layer il of n_layer or -1)
 * gets; *out = its current type when it stays as is. Errors name the tensor. */
ef_status ef_quant_profile_choose(const ef_quant_profile *p, const char *name, int32_t n_dims,
                                  const int64_t *ne, uint32_t cur_type, int32_t n_layer,
                                  uint32_t *out);

/* Inserts a caller's rule after the earlier callers' rules (type checked). */
ef_status ef_quant_profile_add_user_rule(ef_quant_profile *p, const char *pattern, uint32_t type,
                                         int32_t strict);

/* Glob match: '*' any run, '?' one byte; everything else literal. */
int ef_glob_match(const char *pattern, const char *text);

/* Converts n_rows rows of row_len elements from src_type to dst_type
 * (through F32, one row at a time; scratch is row_len floats). */
ef_status ef_convert_rows(uint32_t src_type, const void *src, uint32_t dst_type, void *dst,
                          int64_t row_len, int64_t n_rows, float *scratch);

#endif
