/* Static FFN neuron masks: a keep mask saved in the model file makes the
 * pruned neurons disappear at load. The kept rows of ffn_gate and ffn_up
 * (whole rows: a plain copy in any type) and the kept columns of ffn_down
 * (inside its rows: dequantized, gathered, requantized in the same type)
 * go into buffers the model owns, so the loaded model is smaller and every
 * matmul of the FFN does less work. Each layer keeps its own count (per-layer
 * n_ff; hp.n_ff becomes the largest). */
#include <string.h>

#include "base/alloc.h"
#include "model/sparsity.h"
#include "quant/types.h"

/* The model's tensor slot behind a bound layer weight. */
static int64_t tensor_index(const ef_model *m, const ef_tensor *t) { return (int64_t)(t - m->tensors); }

/* Replaces tensor i's bytes with an owned buffer of the new shape. */
static void adopt(ef_model *m, int64_t i, void *buf, uint64_t nbytes, int64_t ne0, int64_t ne1) {
    ef_tensor *t = &m->tensors[i];
    ef_free_aligned(m->owned_data[i]);
    m->owned_data[i] = buf;
    m->n_bytes = m->n_bytes - t->nbytes + nbytes;
    m->n_params = m->n_params - (uint64_t)(t->ne[0] * t->ne[1]) + (uint64_t)(ne0 * ne1);
    t->data = buf;
    t->nbytes = nbytes;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
}

/* Rows of w ({n_in, n_ff}) whose keep[] is set, in order. */
static ef_status keep_rows(ef_model *m, const ef_tensor *w, const uint8_t *keep, int32_t n_ff, int32_t n_kept) {
    const uint64_t row = ef_type_row_size(w->type, w->ne[0]);
    void *buf = ef_alloc_aligned((size_t)(row * (uint64_t)n_kept));
    if (!buf) return ef_err(EF_ERR_NO_MEMORY, "out of memory masking '%s'", w->name);
    uint8_t *dst = buf;
    for (int32_t j = 0; j < n_ff; j++)
        if (keep[j]) {
            memcpy(dst, (const uint8_t *)w->data + (uint64_t)j * row, (size_t)row);
            dst += row;
        }
    adopt(m, tensor_index(m, w), buf, row * (uint64_t)n_kept, w->ne[0], n_kept);
    return EF_OK;
}

/* Columns of w ({n_ff, n_out}) whose keep[] is set. scratch: [2][n_ff] floats. */
static ef_status keep_columns(ef_model *m, const ef_tensor *w, const uint8_t *keep, int32_t n_ff, int32_t n_kept,
                              float *scratch) {
    const ef_type_info *ti = ef_type_get(w->type);
    if (!ti || !ti->to_float || !ti->from_float)
        return ef_err(EF_ERR_UNSUPPORTED, "cannot mask '%s': type %s cannot be rewritten", w->name,
                      ef_type_name(w->type));
    const uint64_t src_row = ef_type_row_size(w->type, n_ff), dst_row = ef_type_row_size(w->type, n_kept);
    if (dst_row == 0)
        return ef_err(EF_ERR_UNSUPPORTED, "cannot mask '%s': %d kept neurons is not a multiple of %s's block of %d",
                      w->name, (int)n_kept, ti->name, (int)ti->block_size);
    const int64_t n_out = w->ne[1];
    void *buf = ef_alloc_aligned((size_t)(dst_row * (uint64_t)n_out));
    if (!buf) return ef_err(EF_ERR_NO_MEMORY, "out of memory masking '%s'", w->name);
    float *full = scratch, *kept = scratch + n_ff; /* [n_ff], [n_kept] */
    for (int64_t r = 0; r < n_out; r++) {
        ti->to_float((const uint8_t *)w->data + (uint64_t)r * src_row, full, n_ff);
        int32_t k = 0;
        for (int32_t j = 0; j < n_ff; j++)
            if (keep[j]) kept[k++] = full[j];
        ti->from_float(kept, (uint8_t *)buf + (uint64_t)r * dst_row, n_kept);
    }
    adopt(m, tensor_index(m, w), buf, dst_row * (uint64_t)n_out, n_kept, n_out);
    return EF_OK;
}

/* Neurons a layer's mask row keeps. keep: [n_ff]. */
static int32_t kept_count(const uint8_t *keep, int32_t n_ff) {
    int32_t k = 0;
    for (int32_t j = 0; j < n_ff; j++) k += keep[j] != 0;
    return k;
}

ef_status ef_ffn_mask_apply(ef_model *m, ef_sparsity_meta *s) {
    const ef_hparams *hp = &m->hp;
    const int32_t n_ff = hp->n_ff, L = hp->n_layer;
    uint32_t elem;
    uint64_t count;
    EF_TRY(ef_gguf_get_arr(m->gguf, EF_SPARSITY_KEY_KEEP, &elem, &count));
    if (elem != EF_GGUF_U8 || count != (uint64_t)L * (uint64_t)n_ff)
        return ef_err(EF_ERR_FORMAT, "key '%s' must be %lld u8 flags (n_layer x n_ff), got %llu", EF_SPARSITY_KEY_KEEP,
                      (long long)L * n_ff, (unsigned long long)count);
    const void *data;
    EF_TRY(ef_gguf_get_arr_data(m->gguf, EF_SPARSITY_KEY_KEEP, &data));
    const uint8_t *keep = data; /* [n_layer][n_ff] */
    int32_t n_max = 0, n_min = n_ff;
    for (int32_t il = 0; il < L; il++) {
        if (m->layers[il].is_moe)
            return ef_err(EF_ERR_UNSUPPORTED, "key '%s': masks of MoE layers are not supported", EF_SPARSITY_KEY_KEEP);
        const int32_t k = kept_count(keep + (int64_t)il * n_ff, n_ff);
        if (k == 0) return ef_err(EF_ERR_FORMAT, "key '%s': layer %d keeps no neuron", EF_SPARSITY_KEY_KEEP, (int)il);
        n_max = k > n_max ? k : n_max;
        n_min = k < n_min ? k : n_min;
    }
    if (n_min == n_ff) return EF_OK; /* keeps everything */
    if (!m->owned_data) {
        m->owned_data = ef_calloc((size_t)m->n_tensors, sizeof *m->owned_data);
        if (!m->owned_data) return ef_err(EF_ERR_NO_MEMORY, "out of memory applying the FFN mask");
    }
    float *scratch = ef_malloc(sizeof(float) * 2 * (size_t)n_ff);
    if (!scratch) return ef_err(EF_ERR_NO_MEMORY, "out of memory applying the FFN mask");
    ef_status st = EF_OK;
    for (int32_t il = 0; il < L && st == EF_OK; il++) {
        const ef_layer *l = &m->layers[il];
        const uint8_t *kl = keep + (int64_t)il * n_ff;
        const int32_t n_kept = kept_count(kl, n_ff);
        if (n_kept == n_ff) continue; /* this layer keeps everything: the file's weights as they are */
        st = keep_columns(m, l->ffn_down, kl, n_ff, n_kept, scratch); /* first: it refuses bad counts */
        if (st == EF_OK) st = keep_rows(m, l->ffn_gate, kl, n_ff, n_kept);
        if (st == EF_OK) st = keep_rows(m, l->ffn_up, kl, n_ff, n_kept);
        if (st == EF_ERR_UNSUPPORTED) st = ef_err_prefix(st, "key '%s', layer %d", EF_SPARSITY_KEY_KEEP, (int)il);
    }
    ef_free(scratch);
    if (st != EF_OK) return st;
    m->hp.n_ff = n_max; /* buffers are sized for the widest layer */
    s->masked = 1;
    return EF_OK;
}
