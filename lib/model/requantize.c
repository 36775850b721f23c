/* Load-time quantization: weight matrices converted in memory to the types a
 * profile chooses, so an F32/F16 file runs quantized without a new file. */
#include <stdio.h>

#include "base/alloc.h"
#include "base/log.h"
#include "model/model.h"
#include "quant/profile.h"
#include "quant/types.h"

ef_status ef_model_requantize(ef_model *m, const ef_quant_profile *p) {
    if (m->n_tensors == 0) return EF_OK;
    m->owned_data = ef_calloc((size_t)m->n_tensors, sizeof *m->owned_data);
    if (!m->owned_data) return ef_err(EF_ERR_NO_MEMORY, "out of memory planning load-time quantization");
    float *scratch = NULL;
    int64_t scratch_len = 0;
    ef_status st = EF_OK;
    for (int64_t i = 0; i < m->n_tensors && st == EF_OK; i++) {
        ef_tensor *t = &m->tensors[i];
        uint32_t type;
        st = ef_quant_profile_choose(p, t->name, t->n_dims, t->ne, t->type, m->hp.n_layer, &type);
        if (st != EF_OK || type == t->type) continue;
        int64_t row_len = t->ne[0], n_rows = t->ne[1] * t->ne[2] * t->ne[3];
        if (row_len > scratch_len) {
            ef_free(scratch);
            scratch = ef_malloc((size_t)row_len * sizeof(float));
            scratch_len = scratch ? row_len : 0;
            if (!scratch) {
                st = ef_err(EF_ERR_NO_MEMORY, "out of memory quantizing '%s'", t->name);
                break;
            }
        }
        uint64_t nbytes = ef_type_row_size(type, row_len) * (uint64_t)n_rows;
        void *buf = nbytes <= SIZE_MAX ? ef_alloc_aligned((size_t)nbytes) : NULL;
        if (!buf) {
            st = ef_err(EF_ERR_NO_MEMORY, "out of memory quantizing '%s' (%llu bytes)", t->name,
                        (unsigned long long)nbytes);
            break;
        }
        m->owned_data[i] = buf;
        st = ef_convert_rows(t->type, t->data, type, buf, row_len, n_rows, scratch);
        if (st != EF_OK) {
            st = ef_err_prefix(st, "tensor '%s'", t->name);
            break;
        }
        m->n_bytes = m->n_bytes - t->nbytes + nbytes;
        t->data = buf;
        t->type = type;
        t->nbytes = nbytes;
    }
    ef_free(scratch);
    if (st == EF_OK) snprintf(m->quant_profile, sizeof m->quant_profile, "%s", p->name);
    return st;
}
