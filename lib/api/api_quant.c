/* Public quantization calls: profiles and file-to-file quantization. */
#include <string.h>

#include "base/alloc.h"
#include "quant/profile.h"
#include "quant/quantize_file.h"
#include "quant/types.h"

ef_status ef_quant_profile_create(const char *name, ef_quant_profile **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_quant_profile_create: out is NULL");
    ef_quant_profile *p = ef_malloc(sizeof *p);
    if (!p) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating a quantization profile");
    ef_status st = ef_quant_profile_init(p, name);
    if (st != EF_OK) {
        ef_free(p);
        return st;
    }
    *out = p;
    return EF_OK;
}

void ef_quant_profile_free(ef_quant_profile *p) { ef_free(p); }

const char *ef_quant_profile_name(const ef_quant_profile *p) { return p ? p->name : ""; }

/* A type name this build can write, or an error naming it. */
static ef_status writable_type(const char *type_name, uint32_t *out) {
    if (!type_name) return ef_err(EF_ERR_INVALID_ARG, "type name is NULL");
    int32_t t = ef_type_from_name(type_name);
    if (t < 0) return ef_err(EF_ERR_INVALID_ARG, "unknown tensor type '%s'", type_name);
    const ef_type_info *info = ef_type_get((uint32_t)t);
    if (!info->from_float) return ef_err(EF_ERR_UNSUPPORTED, "type %s cannot be written by this build", info->name);
    *out = (uint32_t)t;
    return EF_OK;
}

ef_status ef_quant_profile_set_default_type(ef_quant_profile *p, const char *type_name) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "profile is NULL");
    uint32_t t = 0;
    EF_TRY(writable_type(type_name, &t));
    p->default_type = t;
    p->default_strict = 1;
    p->more_bits_rule = 0; /* the caller chose one type for the matrices */
    strcpy(p->name, "custom");
    return EF_OK;
}

ef_status ef_quant_profile_add_rule(ef_quant_profile *p, const char *pattern, const char *type_name) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "profile is NULL");
    uint32_t t = 0;
    EF_TRY(writable_type(type_name, &t));
    return ef_quant_profile_add_user_rule(p, pattern, t, 1);
}

ef_status ef_quant_profile_keep_embeddings(ef_quant_profile *p, const char *type_name) {
    if (!p) return ef_err(EF_ERR_INVALID_ARG, "profile is NULL");
    uint32_t t = 0;
    EF_TRY(writable_type(type_name, &t));
    EF_TRY(ef_quant_profile_add_user_rule(p, "token_embd.weight", t, 0));
    return ef_quant_profile_add_user_rule(p, "output.weight", t, 0);
}

ef_status ef_quantize_file(const char *in_path, const char *out_path, const ef_quant_profile *profile,
                           ef_progress_fn progress, void *user, uint64_t *bytes_in, uint64_t *bytes_out) {
    return ef_quantize_gguf(in_path, out_path, profile, progress, user, bytes_in, bytes_out);
}
