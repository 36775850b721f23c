#include "quant/profile.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "quant/types.h"

int ef_glob_match(const char *pat, const char *s) {
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' || *pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*') pat++;
    return *pat == '\0';
}

static void add_rule(ef_quant_profile *p, const char *pattern, uint32_t type) {
    ef_quant_rule *r = &p->rules[p->n_rules++];
    snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
    r->type = type;
    r->strict = 0;
}

ef_status ef_quant_profile_init(ef_quant_profile *p, const char *name) {
    memset(p, 0, sizeof *p);
    if (!name) return ef_err(EF_ERR_INVALID_ARG, "quantization profile name is NULL");
    snprintf(p->name, sizeof p->name, "%s", name);
    if (!strcmp(name, "balanced")) {
        p->default_type = EF_TYPE_Q8_0;
    } else if (!strcmp(name, "fast")) {
        p->default_type = EF_TYPE_Q4_K;
        add_rule(p, "output.weight", EF_TYPE_Q6_K);
        add_rule(p, "token_embd.weight", EF_TYPE_Q6_K);
        p->more_bits_rule = 1;
        p->more_bits_type = EF_TYPE_Q6_K;
    } else if (!strcmp(name, "experimental")) {
        p->default_type = EF_TYPE_Q2_K;
        add_rule(p, "output.weight", EF_TYPE_Q6_K);
        add_rule(p, "token_embd.weight", EF_TYPE_Q4_K);
    } else if (!strcmp(name, "ternary")) {
        p->default_type = EF_TYPE_TQ2_0;
        add_rule(p, "output.weight", EF_TYPE_Q8_0);
        add_rule(p, "token_embd.weight", EF_TYPE_Q8_0);
    } else if (!strcmp(name, "f16")) {
        p->default_type = EF_TYPE_F16;
    } else if (!strcmp(name, "f32")) {
        p->default_type = EF_TYPE_F32;
    } else {
        return ef_err(EF_ERR_INVALID_ARG,
                      "unknown quantization profile '%s' (balanced, fast, experimental, ternary, f16, f32)", name);
    }
    return EF_OK;
}

ef_status ef_quant_profile_add_user_rule(ef_quant_profile *p, const char *pattern, uint32_t type,
                                         int32_t strict) {
    if (!pattern || !*pattern || strlen(pattern) >= EF_QUANT_PATTERN_MAX)
        return ef_err(EF_ERR_INVALID_ARG, "rule pattern must have 1..%d characters", EF_QUANT_PATTERN_MAX - 1);
    if (p->n_rules >= EF_QUANT_MAX_RULES)
        return ef_err(EF_ERR_INVALID_ARG, "a profile holds at most %d rules", EF_QUANT_MAX_RULES);
    const ef_type_info *t = ef_type_get(type);
    if (!t || !t->from_float)
        return ef_err(EF_ERR_UNSUPPORTED, "type %s cannot be written by this build", ef_type_name(type));
    int32_t at = p->n_user_rules;
    memmove(&p->rules[at + 1], &p->rules[at], (size_t)(p->n_rules - at) * sizeof p->rules[0]);
    ef_quant_rule *r = &p->rules[at];
    snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
    r->type = type;
    r->strict = strict;
    p->n_rules++;
    p->n_user_rules++;
    return EF_OK;
}

/* "blk.N." → N, else -1. */
static int32_t layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    int32_t n = 0;
    const char *c = name + 4;
    if (*c < '0' || *c > '9') return -1;
    while (*c >= '0' && *c <= '9') n = n * 10 + (*c++ - '0');
    return *c == '.' ? n : -1;
}

/* llama.cpp's use_more_bits: first and last eighth, and every third layer between. */
static int more_bits_layer(int32_t il, int32_t n_layer) {
    return il < n_layer / 8 || il >= 7 * n_layer / 8 || (il - n_layer / 8) % 3 == 2;
}

static int fits(uint32_t type, int64_t row_len) {
    const ef_type_info *t = ef_type_get(type);
    return t && row_len % t->block_size == 0;
}

/* A type with 32-element blocks (or F16) of about the same precision, for
 * rows that the chosen type's blocks do not divide. */
static uint32_t fallback(uint32_t type, int64_t row_len) {
    const ef_type_info *t = ef_type_get(type);
    double bits = t ? 8.0 * t->type_size / t->block_size : 16.0;
    if (bits < 6.0 && fits(EF_TYPE_Q5_0, row_len)) return EF_TYPE_Q5_0;
    if (bits < 9.0 && fits(EF_TYPE_Q8_0, row_len)) return EF_TYPE_Q8_0;
    return EF_TYPE_F16;
}

ef_status ef_quant_profile_choose(const ef_quant_profile *p, const char *name, int32_t n_dims,
                                  const int64_t *ne, uint32_t cur_type, int32_t n_layer, uint32_t *out) {
    *out = cur_type;
    size_t len = strlen(name);
    if (n_dims < 2 || len < 7 || strcmp(name + len - 7, ".weight") != 0) return EF_OK; /* norms, biases */
    uint32_t type = p->default_type;
    int32_t strict = p->default_strict;
    int matched = 0;
    for (int32_t i = 0; i < p->n_rules && !matched; i++)
        if (ef_glob_match(p->rules[i].pattern, name)) {
            type = p->rules[i].type;
            strict = p->rules[i].strict;
            matched = 1;
        }
    if (!matched && p->more_bits_rule && (strstr(name, ".attn_v.") || strstr(name, ".ffn_down."))) {
        int32_t il = layer_of(name);
        if (il >= 0 && n_layer > 0 && more_bits_layer(il, n_layer)) type = p->more_bits_type;
    }
    const ef_type_info *t = ef_type_get(type);
    if (!t || !t->from_float)
        return ef_err(EF_ERR_UNSUPPORTED, "tensor '%s': type %s cannot be written by this build", name,
                      ef_type_name(type));
    if (!fits(type, ne[0])) {
        if (strict)
            return ef_err(EF_ERR_INVALID_ARG,
                          "tensor '%s': its rows of %lld elements are not a multiple of %s's block size %d",
                          name, (long long)ne[0], t->name, (int)t->block_size);
        uint32_t fb = fallback(type, ne[0]);
        EF_LOGW("tensor '%s': rows of %lld do not fit %s blocks; using %s", name, (long long)ne[0], t->name,
                ef_type_name(fb));
        type = fb;
    }
    *out = type;
    return EF_OK;
}

ef_status ef_convert_rows(uint32_t src_type, const void *src, uint32_t dst_type, void *dst, int64_t row_len,
                          int64_t n_rows, float *scratch) {
    const ef_type_info *si = ef_type_get(src_type), *di = ef_type_get(dst_type);
    if (!si || !si->to_float) return ef_err(EF_ERR_UNSUPPORTED, "cannot read type %s", ef_type_name(src_type));
    if (!di || !di->from_float) return ef_err(EF_ERR_UNSUPPORTED, "cannot write type %s", ef_type_name(dst_type));
    uint64_t src_row = ef_type_row_size(src_type, row_len), dst_row = ef_type_row_size(dst_type, row_len);
    if (!src_row || !dst_row)
        return ef_err(EF_ERR_INVALID_ARG, "rows of %lld elements do not fit %s/%s blocks", (long long)row_len,
                      si->name, di->name);
    for (int64_t r = 0; r < n_rows; r++) {
        si->to_float((const uint8_t *)src + (uint64_t)r * src_row, scratch, row_len);
        di->from_float(scratch, (uint8_t *)dst + (uint64_t)r * dst_row, row_len);
    }
    return EF_OK;
}
