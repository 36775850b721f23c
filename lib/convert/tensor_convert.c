/* One checkpoint tensor → GGUF tensor data: dtype conversion row by row
 * (through F32), with llama's Q/K rows reordered from HF's rotate-half
 * layout to GGUF's adjacent-pair layout. Tensors that need neither are
 * used in place from the mapped file. */
#include <string.h>

#include "base/alloc.h"
#include "base/fp16.h"
#include "base/log.h"
#include "convert/convert.h"
#include "quant/types.h"

uint32_t ef_convert_pick_type(const ef_st_tensor *t, uint32_t matrix_type) {
    if (t->n_dims != 2) return EF_TYPE_F32;
    const ef_type_info *ti = ef_type_get(matrix_type);
    if (ti && t->shape[1] % ti->block_size != 0) {
        EF_LOGW("convert: '%s' has rows of %lld, not a multiple of %s's block of %d; writing F16",
                t->name, (long long)t->shape[1], ti->name, (int)ti->block_size);
        return EF_TYPE_F16;
    }
    return matrix_type;
}

/* Row r of the output comes from row src_row(r) of the input. Within a head
 * of hd rows, HF pairs rows (i, i + hd/2); GGUF wants them at (2i, 2i + 1). */
static int64_t src_row(int64_t r, int64_t head_rows) {
    if (head_rows <= 0) return r;
    int64_t head = r / head_rows, j = r % head_rows, half = head_rows / 2;
    return head * head_rows + (j % 2) * half + j / 2;
}

/* n elements of `type` at src → F32. */
static void to_f32(uint32_t type, const uint8_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (type == EF_TYPE_F32) {
            memcpy(&dst[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = type == EF_TYPE_F16 ? ef_f16_to_f32(h) : ef_bf16_to_f32(h);
        }
    }
}

ef_status ef_convert_plan(const ef_st_tensor *t, uint32_t out_type, int64_t n_heads, ef_convert_job *job) {
    memset(job, 0, sizeof *job);
    job->t = t;
    job->out_type = out_type;
    /* numpy [rows, cols] (1-D: one row); GGUF ne = {cols, rows}, same bytes. */
    int64_t cols = t->n_dims >= 1 ? t->shape[t->n_dims - 1] : 1;
    int64_t rows = 1;
    for (int32_t d = 0; d + 1 < t->n_dims; d++) rows *= t->shape[d];
    if (n_heads > 0) {
        /* A 1-D bias is a column of rows, one element each. */
        if (t->n_dims == 1) {
            rows = cols;
            cols = 1;
        }
        if (rows % n_heads || (rows / n_heads) % 2)
            return ef_err(EF_ERR_FORMAT, "tensor '%s': %lld rows do not split into %lld heads of "
                          "even size", t->name, (long long)rows, (long long)n_heads);
        job->head_rows = rows / n_heads;
    }
    job->rows = rows;
    job->cols = cols;
    if (out_type == t->type && job->head_rows == 0) {
        job->direct = 1;
        job->nbytes = t->nbytes;
        return EF_OK;
    }
    const ef_type_info *ti = ef_type_get(out_type);
    uint64_t row_bytes = ef_type_row_size(out_type, cols);
    if (!ti || !ti->from_float || !row_bytes)
        return ef_err(EF_ERR_UNSUPPORTED, "tensor '%s': cannot write type %s with rows of %lld",
                      t->name, ef_type_name(out_type), (long long)cols);
    if (!ef_mul_ok(row_bytes, (uint64_t)rows, &job->nbytes) || job->nbytes > SIZE_MAX)
        return ef_err(EF_ERR_FORMAT, "tensor '%s' is too large", t->name);
    return EF_OK;
}

ef_status ef_convert_fill(const ef_convert_job *job, void *dst) {
    const ef_st_tensor *t = job->t;
    if (job->direct) {
        memcpy(dst, t->data, (size_t)job->nbytes);
        return EF_OK;
    }
    const ef_type_info *ti = ef_type_get(job->out_type);
    const uint64_t row_bytes = job->nbytes / (uint64_t)(job->rows ? job->rows : 1);
    const uint64_t in_row_bytes = t->nbytes / (uint64_t)(job->rows ? job->rows : 1);
    float *row = ef_malloc(sizeof(float) * (size_t)(job->cols ? job->cols : 1)); /* [cols] */
    if (!row) return ef_err(EF_ERR_NO_MEMORY, "out of memory converting '%s'", t->name);
    uint8_t *out = dst; /* [rows][row_bytes] */
    for (int64_t r = 0; r < job->rows; r++) {
        to_f32(t->type, t->data + (uint64_t)src_row(r, job->head_rows) * in_row_bytes, row, job->cols);
        ti->from_float(row, out + (uint64_t)r * row_bytes, job->cols);
    }
    ef_free(row);
    return EF_OK;
}

ef_status ef_convert_tensor(const ef_st_tensor *t, uint32_t out_type, int64_t n_heads,
                            const void **data, uint64_t *nbytes, void **owned) {
    *data = NULL;
    *owned = NULL;
    ef_convert_job job;
    EF_TRY(ef_convert_plan(t, out_type, n_heads, &job));
    if (job.direct) {
        *data = t->data;
        *nbytes = t->nbytes;
        return EF_OK;
    }
    void *out = ef_malloc(job.nbytes ? (size_t)job.nbytes : 1);
    if (!out)
        return ef_err(EF_ERR_NO_MEMORY, "out of memory converting '%s' (%llu bytes)", t->name,
                      (unsigned long long)job.nbytes);
    ef_status st = ef_convert_fill(&job, out);
    if (st != EF_OK) {
        ef_free(out);
        return st;
    }
    *data = out;
    *owned = out;
    *nbytes = job.nbytes;
    return EF_OK;
}
