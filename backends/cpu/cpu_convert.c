/* Dequantizing whole small tensors and embedding rows to F32. */
#include "cpu/cpu_ops.h"

#include "quant/types.h"

void ef_cpu_tensor_to_f32(const ef_tensor *t, float *dst) {
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    ef_type_get(t->type)->to_float(t->data, dst, n);
}

void ef_cpu_get_rows(const ef_tensor *emb, const int32_t *ids, int32_t n, float *out) {
    const ef_type_info *ti = ef_type_get(emb->type);
    int64_t dim = emb->ne[0];
    uint64_t row_bytes = ef_type_row_size(emb->type, dim);
    const uint8_t *base = emb->data;
    for (int32_t i = 0; i < n; i++) {
        /* out[i]: [dim] */
        ti->to_float(base + (uint64_t)ids[i] * row_bytes, out + (int64_t)i * dim, dim);
    }
}
