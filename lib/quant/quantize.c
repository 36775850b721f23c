/* The checked entry point for quantizing a row (the per-type functions
 * assume a whole number of blocks). */
#include "quant/types.h"

ef_status ef_quantize_row(uint32_t type, const float *src, void *dst, int64_t n) {
    const ef_type_info *t = ef_type_get(type);
    if (!t) return ef_err(EF_ERR_INVALID_ARG, "quantize: unknown type id %u", type);
    if (!src || !dst) return ef_err(EF_ERR_INVALID_ARG, "quantize %s: NULL buffer", t->name);
    if (n <= 0 || n % t->block_size != 0)
        return ef_err(EF_ERR_INVALID_ARG, "quantize %s: row of %lld elements is not a positive multiple of the block size %d",
                      t->name, (long long)n, (int)t->block_size);
    if (!t->from_float) return ef_err(EF_ERR_UNSUPPORTED, "quantize: type %s cannot be written by this build", t->name);
    t->from_float(src, dst, n);
    return EF_OK;
}
