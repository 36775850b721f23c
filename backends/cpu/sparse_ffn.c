/* The sparse FFN decode kernels (sparse_ops.h): the scalar reference, the
 * dispatch to the AVX2 versions, and the neuron-row layout of ffn_down. */
#include "cpu/sparse_ops.h"

#include <string.h>

#include "base/alloc.h"
#include "base/fp16.h"
#include "cpu/cpu_features.h"
#include "quant/types.h"

#define SPARSE_MAX_BLOCK 256 /* largest block of a dequantizable type */

int ef_cpu_sparse_type_ok(uint32_t type) {
    const ef_type_info *ti = ef_type_get(type);
    return ti && ti->to_float && ti->block_size <= SPARSE_MAX_BLOCK;
}

static int avx2_type(uint32_t type) {
    return type == EF_TYPE_F32 || type == EF_TYPE_F16 || type == EF_TYPE_Q8_0 || type == EF_TYPE_Q4_0;
}

int ef_cpu_sparse_avx2_ok(uint32_t type) {
    return avx2_type(type) && ef_cpu_sparse_avx2_built() && ef_cpu_simd_x86(ef_cpu_simd_active());
}

/* ---- scalar reference ---- */

/* x · row for one row of n elements of `type`, summed in ascending order. */
static float row_dot_ref(const ef_type_info *ti, uint32_t type, const uint8_t *row, const float *x, int64_t n) {
    float sum = 0.0f;
    if (type == EF_TYPE_F32) {
        const float *r = (const float *)row;
        for (int64_t i = 0; i < n; i++) sum += r[i] * x[i];
    } else if (type == EF_TYPE_F16) {
        const uint16_t *r = (const uint16_t *)row;
        for (int64_t i = 0; i < n; i++) sum += ef_f16_to_f32(r[i]) * x[i];
    } else {
        float tmp[SPARSE_MAX_BLOCK]; /* [block] one dequantized block */
        const int64_t bs = ti->block_size;
        for (int64_t b = 0; b < n / bs; b++) {
            ti->to_float(row + b * ti->type_size, tmp, bs);
            for (int64_t i = 0; i < bs; i++) sum += tmp[i] * x[b * bs + i];
        }
    }
    return sum;
}

/* Neuron j's code for output o in a column-blocked row (value q, unscaled). */
static inline float code_at(const ef_sparse_down *d, const uint8_t *row, int64_t o) {
    if (d->type == EF_TYPE_Q8_0) return (float)(int8_t)row[o];
    const uint8_t byte = row[(o / 32) * 16 + (o % 16)];
    return (float)((o % 32 < 16 ? byte & 0x0F : byte >> 4) - 8);
}

/* Columns per pass of the quantized accumulation (its block sums stay in L1). */
#define SPARSE_SUB 1024

/* Scalar y[c0..c1) = Σ_k a[k] · D[idx[k]][c0..c1). Quantized rows: per
 * block of 32 neurons, t = Σ a·code, then y += scale · t (the dense order). */
static void accum_ref(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t n_idx, int64_t c0,
                      int64_t c1, float *y) {
    memset(y + c0, 0, sizeof(float) * (size_t)(c1 - c0));
    if (d->type == EF_TYPE_F32 || d->type == EF_TYPE_F16) {
        for (int32_t k = 0; k < n_idx; k++) {
            const uint8_t *row = d->rows + (uint64_t)idx[k] * d->row_bytes;
            for (int64_t o = c0; o < c1; o++)
                y[o] += a[k] * (d->type == EF_TYPE_F32 ? ((const float *)row)[o]
                                                       : ef_f16_to_f32(((const uint16_t *)row)[o]));
        }
        return;
    }
    float t[SPARSE_SUB]; /* [cols] Σ a·code of the current block of 32 neurons */
    for (int64_t cs = c0; cs < c1; cs += SPARSE_SUB) {
        const int64_t ce = cs + SPARSE_SUB < c1 ? cs + SPARSE_SUB : c1;
        for (int32_t k = 0; k < n_idx;) {
            const int32_t b = idx[k] / 32;
            memset(t, 0, sizeof(float) * (size_t)(ce - cs));
            for (; k < n_idx && idx[k] / 32 == b; k++) {
                const uint8_t *row = d->rows + (uint64_t)idx[k] * d->row_bytes;
                for (int64_t o = cs; o < ce; o++) t[o - cs] += a[k] * code_at(d, row, o);
            }
            const uint16_t *sc = d->scales + (int64_t)b * d->n_out; /* [n_out] F16 */
            for (int64_t o = cs; o < ce; o++) y[o] += ef_f16_to_f32(sc[o]) * t[o - cs];
        }
    }
}

/* ---- parallel drivers ---- */

typedef struct sparse_job {
    const ef_tensor *w;        /* rows */
    const ef_sparse_down *d;   /* accum */
    const float *x;            /* rows: [in] */
    const int32_t *idx;        /* [n_idx] */
    const float *a;            /* accum: [n_idx] */
    int32_t n_idx;
    int avx2;
    float *y;                  /* rows: [n_idx]; accum: [n_out] */
} sparse_job;

static void rows_worker(void *ctx, int32_t ith, int32_t nth) {
    const sparse_job *j = ctx;
    int64_t k0, k1;
    ef_split_range(j->n_idx, ith, nth, &k0, &k1);
    if (k0 >= k1) return;
    if (j->avx2) {
        ef_cpu_sparse_rows_avx2(j->w, j->x, j->idx, (int32_t)k0, (int32_t)k1, j->y + k0);
        return;
    }
    const ef_type_info *ti = ef_type_get(j->w->type);
    const uint64_t row_bytes = ef_type_row_size(j->w->type, j->w->ne[0]);
    for (int64_t k = k0; k < k1; k++)
        j->y[k] = row_dot_ref(ti, j->w->type, (const uint8_t *)j->w->data + (uint64_t)j->idx[k] * row_bytes, j->x,
                              j->w->ne[0]);
}

/* Output columns are split in chunks of 32 (whole Q4_0 code groups, the AVX2 step). */
static void accum_worker(void *ctx, int32_t ith, int32_t nth) {
    const sparse_job *j = ctx;
    const int64_t out = j->d->n_out;
    int64_t b0, b1;
    ef_split_range((out + 31) / 32, ith, nth, &b0, &b1);
    const int64_t c0 = b0 * 32, c1 = b1 * 32 < out ? b1 * 32 : out;
    if (c0 >= c1) return;
    if (j->avx2) ef_cpu_sparse_accum_avx2(j->d, j->idx, j->a, j->n_idx, c0, c1, j->y);
    else accum_ref(j->d, j->idx, j->a, j->n_idx, c0, c1, j->y);
}

void ef_cpu_sparse_rows_with(ef_pool *pool, int avx2, const ef_tensor *w, const float *x, const int32_t *idx,
                             int32_t n_idx, float *y) {
    sparse_job j = {.w = w, .x = x, .idx = idx, .n_idx = n_idx, .avx2 = avx2, .y = y};
    if (n_idx > 0) ef_pool_run(n_idx >= 64 ? pool : NULL, rows_worker, &j);
}

void ef_cpu_sparse_accum_with(ef_pool *pool, int avx2, const ef_sparse_down *d, const int32_t *idx, const float *a,
                              int32_t n_idx, float *y) {
    sparse_job j = {.d = d, .idx = idx, .a = a, .n_idx = n_idx, .avx2 = avx2, .y = y};
    ef_pool_run(n_idx >= 16 && d->n_out >= 64 ? pool : NULL, accum_worker, &j);
}

void ef_cpu_sparse_rows(ef_pool *pool, const ef_tensor *w, const float *x, const int32_t *idx, int32_t n_idx,
                        float *y) {
    ef_cpu_sparse_rows_with(pool, ef_cpu_sparse_avx2_ok(w->type), w, x, idx, n_idx, y);
}

void ef_cpu_sparse_accum(ef_pool *pool, const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t n_idx,
                         float *y) {
    ef_cpu_sparse_accum_with(pool, ef_cpu_sparse_avx2_ok(d->type), d, idx, a, n_idx, y);
}

/* ---- building the layout ---- */

uint32_t ef_cpu_sparse_down_type(const ef_tensor *w) {
    const int64_t n_out = w->ne[1];
    if (w->type == EF_TYPE_F32 || w->type == EF_TYPE_F16) return w->type;
    if ((w->type == EF_TYPE_Q8_0 || w->type == EF_TYPE_Q4_0) && n_out % 32 == 0) return w->type;
    return EF_TYPE_F16; /* other types (and odd widths): dequantized once into F16 rows */
}

static uint64_t down_row_bytes(uint32_t type, int64_t n_out) {
    switch (type) {
    case EF_TYPE_F32: return 4u * (uint64_t)n_out;
    case EF_TYPE_Q8_0: return (uint64_t)n_out;
    case EF_TYPE_Q4_0: return (uint64_t)n_out / 2;
    default: return 2u * (uint64_t)n_out; /* F16 */
    }
}

uint64_t ef_cpu_sparse_down_bytes(const ef_tensor *w) {
    if (!ef_cpu_sparse_type_ok(w->type)) return 0;
    const uint32_t type = ef_cpu_sparse_down_type(w);
    const int64_t n_ff = w->ne[0], n_out = w->ne[1];
    uint64_t bytes = down_row_bytes(type, n_out) * (uint64_t)n_ff;
    bytes = (bytes + 3) & ~(uint64_t)3; /* the F16 scales start aligned */
    if (type == EF_TYPE_Q8_0 || type == EF_TYPE_Q4_0) bytes += 2u * (uint64_t)(n_ff / 32) * (uint64_t)n_out;
    return bytes;
}

/* Regroups Q8_0/Q4_0 blocks: row o, block b (neurons 32b..32b+31) → the
 * codes into neuron rows, the scale into scales[b][o]. */
static void regroup_blocks(const ef_tensor *w, ef_sparse_down *d, uint8_t *rows, uint16_t *scales) {
    const int64_t n_ff = w->ne[0], n_out = w->ne[1], nb = n_ff / 32;
    const int q8 = w->type == EF_TYPE_Q8_0;
    const uint64_t src_row = ef_type_row_size(w->type, n_ff), blk = q8 ? 34 : 18;
    if (!q8) memset(rows, 0, (size_t)(d->row_bytes * (uint64_t)n_ff)); /* nibbles are OR-ed in */
    for (int64_t o = 0; o < n_out; o++) {
        const uint8_t *r = (const uint8_t *)w->data + (uint64_t)o * src_row;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *bp = r + (uint64_t)b * blk;
            memcpy(&scales[b * n_out + o], bp, 2); /* the block's F16 scale, as is */
            for (int64_t i = 0; i < 32; i++) {
                uint8_t *dst = rows + (uint64_t)(32 * b + i) * d->row_bytes;
                if (q8) {
                    dst[o] = bp[2 + i];
                } else {
                    const uint8_t q = i < 16 ? bp[2 + i] & 0x0F : bp[2 + i - 16] >> 4; /* element i of the block */
                    dst[(o / 32) * 16 + (o % 16)] |= (uint8_t)(o % 32 < 16 ? q : q << 4);
                }
            }
        }
    }
}

/* Plain transposed rows (F32 from F32, else F16), one input block at a time. */
static ef_status transpose_plain(const ef_tensor *w, uint32_t type, uint8_t *rows) {
    const ef_type_info *src = ef_type_get(w->type);
    const int64_t n_ff = w->ne[0], n_out = w->ne[1], bs = src->block_size;
    const uint64_t src_row = ef_type_row_size(w->type, n_ff), dst_row = down_row_bytes(type, n_out);
    float *cols = ef_malloc(sizeof(float) * (size_t)(bs * n_out)); /* [bs][n_out] one block of columns */
    if (!cols) return ef_err(EF_ERR_NO_MEMORY, "out of memory transposing '%s'", w->name);
    float tmp[SPARSE_MAX_BLOCK]; /* [bs] one dequantized block */
    for (int64_t b = 0; b < n_ff / bs; b++) {
        for (int64_t r = 0; r < n_out; r++) {
            src->to_float((const uint8_t *)w->data + (uint64_t)r * src_row + (uint64_t)b * src->type_size, tmp, bs);
            for (int64_t i = 0; i < bs; i++) cols[i * n_out + r] = tmp[i];
        }
        for (int64_t i = 0; i < bs; i++) {
            uint8_t *dst = rows + (uint64_t)(b * bs + i) * dst_row;
            if (type == EF_TYPE_F32) memcpy(dst, cols + i * n_out, sizeof(float) * (size_t)n_out);
            else for (int64_t o = 0; o < n_out; o++) ((uint16_t *)dst)[o] = ef_f32_to_f16(cols[i * n_out + o]);
        }
    }
    ef_free(cols);
    return EF_OK;
}

ef_status ef_cpu_sparse_down_build(const ef_tensor *w, void *buf, ef_sparse_down *out) {
    if (!ef_cpu_sparse_type_ok(w->type))
        return ef_err(EF_ERR_UNSUPPORTED, "sparse FFN: cannot lay out '%s': type %s has no dequantizer", w->name,
                      ef_type_name(w->type));
    const uint32_t type = ef_cpu_sparse_down_type(w);
    const int64_t n_ff = w->ne[0], n_out = w->ne[1];
    *out = (ef_sparse_down){.type = type, .n_out = n_out, .n_ff = n_ff, .row_bytes = down_row_bytes(type, n_out),
                            .rows = buf};
    if (type == EF_TYPE_Q8_0 || type == EF_TYPE_Q4_0) {
        const uint64_t rows_bytes = (out->row_bytes * (uint64_t)n_ff + 3) & ~(uint64_t)3;
        uint16_t *scales = (uint16_t *)((uint8_t *)buf + rows_bytes); /* [n_ff/32][n_out] F16 */
        out->scales = scales;
        regroup_blocks(w, out, buf, scales);
        return EF_OK;
    }
    return transpose_plain(w, type, buf);
}
