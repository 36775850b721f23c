/* The sparse FFN decode kernels (sparse_ops.h): the scalar reference, the
 * dispatch to the AVX2 / AVX-512 / NEON versions, and the neuron-row layout
 * of ffn_down. */
#include "cpu/sparse_ops.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/fp16.h"
#include "cpu/cpu_features.h"
#include "cpu/silu.h"
#include "quant/types.h"

#define SPARSE_MAX_BLOCK 256 /* largest block of a dequantizable type */

int ef_cpu_sparse_type_ok(uint32_t type) {
    const ef_type_info *ti = ef_type_get(type);
    return ti && ti->to_float && ti->block_size <= SPARSE_MAX_BLOCK;
}

static int simd_type(uint32_t type) {
    return type == EF_TYPE_F32 || type == EF_TYPE_F16 || type == EF_TYPE_Q8_0 || type == EF_TYPE_Q4_0;
}

int ef_cpu_sparse_impl_ok(int impl, uint32_t type) {
    switch (impl) {
    case EF_SPARSE_REF: return ef_cpu_sparse_type_ok(type);
    case EF_SPARSE_AVX2:
        return simd_type(type) && ef_cpu_sparse_avx2_built() && ef_cpu_simd_x86(ef_cpu_simd_supported());
    case EF_SPARSE_AVX512:
        return simd_type(type) && ef_cpu_sparse_avx512_built() && ef_cpu_simd_supported() == EF_CPU_SIMD_AVX512;
    case EF_SPARSE_NEON:
        return simd_type(type) && ef_cpu_sparse_neon_built() && ef_cpu_simd_arm(ef_cpu_simd_supported());
    default: return 0;
    }
}

int ef_cpu_sparse_impl(uint32_t type) {
    const ef_cpu_simd active = ef_cpu_simd_active();
    if (active == EF_CPU_SIMD_AVX512 && ef_cpu_sparse_impl_ok(EF_SPARSE_AVX512, type)) return EF_SPARSE_AVX512;
    if (ef_cpu_simd_x86(active) && ef_cpu_sparse_impl_ok(EF_SPARSE_AVX2, type)) return EF_SPARSE_AVX2;
    if (ef_cpu_simd_arm(active) && ef_cpu_sparse_impl_ok(EF_SPARSE_NEON, type)) return EF_SPARSE_NEON;
    return EF_SPARSE_REF;
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

/* Scalar y[n_out] = Σ_{k0 ≤ k < k1} a[k] · D[idx[k]], from zero. Quantized
 * rows: per block of 32 neurons, t = Σ a·code, then y += scale · t (the
 * dense order). */
static void accum_ref(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                      float *y) {
    const int64_t n_out = d->n_out;
    memset(y, 0, sizeof(float) * (size_t)n_out);
    if (d->type == EF_TYPE_F32 || d->type == EF_TYPE_F16) {
        for (int32_t k = k0; k < k1; k++) {
            const uint8_t *row = d->rows + (uint64_t)idx[k] * d->row_bytes;
            for (int64_t o = 0; o < n_out; o++)
                y[o] += a[k] * (d->type == EF_TYPE_F32 ? ((const float *)row)[o]
                                                       : ef_f16_to_f32(((const uint16_t *)row)[o]));
        }
        return;
    }
    float t[SPARSE_SUB]; /* [cols] Σ a·code of the current block of 32 neurons */
    for (int64_t cs = 0; cs < n_out; cs += SPARSE_SUB) {
        const int64_t ce = cs + SPARSE_SUB < n_out ? cs + SPARSE_SUB : n_out;
        for (int32_t k = k0; k < k1;) {
            const int32_t b = idx[k] / 32;
            memset(t, 0, sizeof(float) * (size_t)(ce - cs));
            for (; k < k1 && idx[k] / 32 == b; k++) {
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
    int impl;                  /* EF_SPARSE_REF, _AVX2, _AVX512 or _NEON */
    float *y;                  /* rows: [n_idx]; accum: [n_out], part 0's sum */
    float *scratch;            /* accum: [n_parts - 1][n_out] the other parts' sums */
    const int32_t *bounds;     /* accum: [n_parts + 1] */
    int32_t n_parts;
} sparse_job;

/* The SIMD halves of each implementation (the reference is NULL here). */
typedef struct simd_kernels {
    void (*rows)(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1, float *y);
    void (*accum)(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1, float *y);
} simd_kernels;

static const simd_kernels k_simd[EF_SPARSE_N_IMPL] = {
    [EF_SPARSE_AVX2] = {ef_cpu_sparse_rows_avx2, ef_cpu_sparse_accum_avx2},
    [EF_SPARSE_AVX512] = {ef_cpu_sparse_rows_avx512, ef_cpu_sparse_accum_avx512},
    [EF_SPARSE_NEON] = {ef_cpu_sparse_rows_neon, ef_cpu_sparse_accum_neon},
};

/* y[k - k0] = W[idx[k]] · x for k in [k0, k1) with implementation impl
 * (idx NULL: W[k], contiguous rows). */
static void rows_impl(int impl, const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                      float *y) {
    if (k_simd[impl].rows) {
        k_simd[impl].rows(w, x, idx, k0, k1, y);
        return;
    }
    const ef_type_info *ti = ef_type_get(w->type);
    const uint64_t row_bytes = ef_type_row_size(w->type, w->ne[0]);
    for (int32_t k = k0; k < k1; k++)
        y[k - k0] = row_dot_ref(ti, w->type, (const uint8_t *)w->data + (uint64_t)(idx ? idx[k] : k) * row_bytes, x,
                                w->ne[0]);
}

static void rows_worker(void *ctx, int32_t ith, int32_t nth) {
    const sparse_job *j = ctx;
    int64_t k0, k1;
    ef_split_range(j->n_idx, ith, nth, &k0, &k1);
    if (k0 < k1) rows_impl(j->impl, j->w, j->x, j->idx, (int32_t)k0, (int32_t)k1, j->y + k0);
}

int32_t ef_cpu_sparse_parts(const ef_sparse_down *d, const int32_t *idx, int32_t n_idx, int32_t *bounds) {
    int32_t n_parts = n_idx / EF_SPARSE_PART_MIN;
    n_parts = n_parts < 1 ? 1 : n_parts > EF_SPARSE_MAX_PARTS ? EF_SPARSE_MAX_PARTS : n_parts;
    const int blocked = d->type == EF_TYPE_Q8_0 || d->type == EF_TYPE_Q4_0; /* a block's neurons share a scale */
    bounds[0] = 0;
    for (int32_t p = 1; p < n_parts; p++) {
        int32_t k = (int32_t)((int64_t)n_idx * p / n_parts);
        if (k < bounds[p - 1]) k = bounds[p - 1];
        while (blocked && k > 0 && k < n_idx && idx[k] / 32 == idx[k - 1] / 32) k++; /* to the next block start */
        bounds[p] = k;
    }
    bounds[n_parts] = n_idx;
    return n_parts;
}

/* Worker ith sums whole parts, each into its own buffer. */
static void accum_worker(void *ctx, int32_t ith, int32_t nth) {
    const sparse_job *j = ctx;
    int64_t p0, p1;
    ef_split_range(j->n_parts, ith, nth, &p0, &p1);
    for (int64_t p = p0; p < p1; p++) {
        float *out = p == 0 ? j->y : j->scratch + (p - 1) * j->d->n_out; /* [n_out] */
        if (k_simd[j->impl].accum) k_simd[j->impl].accum(j->d, j->idx, j->a, j->bounds[p], j->bounds[p + 1], out);
        else accum_ref(j->d, j->idx, j->a, j->bounds[p], j->bounds[p + 1], out);
    }
}

void ef_cpu_sparse_rows_with(ef_pool *pool, int impl, const ef_tensor *w, const float *x, const int32_t *idx,
                             int32_t n_idx, float *y) {
    sparse_job j = {.w = w, .x = x, .idx = idx, .n_idx = n_idx, .impl = impl, .y = y};
    if (n_idx > 0) ef_pool_run(n_idx >= 64 ? pool : NULL, rows_worker, &j);
}

void ef_cpu_sparse_accum_with(ef_pool *pool, int impl, const ef_sparse_down *d, const int32_t *idx, const float *a,
                              int32_t n_idx, float *y, float *scratch) {
    int32_t bounds[EF_SPARSE_MAX_PARTS + 1];
    const int32_t n_parts = ef_cpu_sparse_parts(d, idx, n_idx, bounds);
    sparse_job j = {.d = d, .idx = idx, .a = a, .n_idx = n_idx, .impl = impl, .y = y, .scratch = scratch,
                    .bounds = bounds, .n_parts = n_parts};
    ef_pool_run(n_parts > 1 ? pool : NULL, accum_worker, &j);
    /* the fixed-order reduction: y = part 0 + part 1 + … */
    for (int32_t p = 1; p < n_parts; p++) {
        const float *part = scratch + (int64_t)(p - 1) * d->n_out; /* [n_out] */
        for (int64_t o = 0; o < d->n_out; o++) y[o] += part[o];
    }
}

/* ---- the gate pass fused with the gathered up rows ---- */

typedef struct gate_up_job {
    const ef_sparse_gate_up *g;
    int impl;
    int32_t n_ff;
    float *act;     /* [n_ff] */
    int32_t *idx;   /* [n_ff] chunk c's active neurons from c·CHUNK */
    float *h;       /* [n_ff] their act·up, likewise */
    int32_t *count; /* [n_chunks] active neurons per chunk */
} gate_up_job;

/* Whole chunks: gate rows, activation (SiLU vectorized, silu.h),
 * compaction (branch-free: about half the tests fail, a branch would
 * mispredict), then the chunk's active up rows while x is hot. */
static void gate_up_worker(void *ctx, int32_t ith, int32_t nth) {
    const gate_up_job *j = ctx;
    const ef_sparse_gate_up *g = j->g;
    const int32_t n_chunks = (j->n_ff + EF_SPARSE_GATE_CHUNK - 1) / EF_SPARSE_GATE_CHUNK;
    int64_t c0, c1;
    ef_split_range(n_chunks, ith, nth, &c0, &c1);
    for (int64_t c = c0; c < c1; c++) {
        const int32_t j0 = (int32_t)c * EF_SPARSE_GATE_CHUNK;
        const int32_t nr = j->n_ff - j0 < EF_SPARSE_GATE_CHUNK ? j->n_ff - j0 : EF_SPARSE_GATE_CHUNK;
        float *act = j->act + j0; /* [nr] */
        int32_t *idx = j->idx + j0, n = 0;
        rows_impl(j->impl, g->gate, g->x, NULL, j0, j0 + nr, act); /* every gate row of the chunk */
        if (g->relu) {
            for (int32_t i = 0; i < nr; i++) {
                act[i] = act[i] > 0.0f ? act[i] : 0.0f;
                idx[n] = j0 + i;
                n += act[i] > g->thr;
            }
        } else {
            ef_cpu_silu(act, act, nr);
            for (int32_t i = 0; i < nr; i++) {
                idx[n] = j0 + i;
                n += fabsf(act[i]) >= g->thr;
            }
        }
        float *h = j->h + j0; /* [n] */
        rows_impl(j->impl, g->up, g->x, idx, 0, n, h);
        for (int32_t k = 0; k < n; k++) h[k] *= j->act[idx[k]];
        j->count[c] = n;
    }
}

int32_t ef_cpu_sparse_gate_up(ef_pool *pool, int impl, const ef_sparse_gate_up *g, float *act, int32_t *idx,
                              float *h, int32_t *count) {
    const int32_t n_ff = (int32_t)g->gate->ne[1];
    gate_up_job j = {.g = g, .impl = impl, .n_ff = n_ff, .act = act, .idx = idx, .h = h, .count = count};
    ef_pool_run(n_ff >= 2 * EF_SPARSE_GATE_CHUNK ? pool : NULL, gate_up_worker, &j);
    /* join the chunks' lists in order */
    int32_t n_act = 0;
    for (int32_t c = 0; c * EF_SPARSE_GATE_CHUNK < n_ff; c++) {
        const int32_t j0 = c * EF_SPARSE_GATE_CHUNK;
        if (n_act != j0) {
            memmove(idx + n_act, idx + j0, sizeof(int32_t) * (size_t)count[c]);
            memmove(h + n_act, h + j0, sizeof(float) * (size_t)count[c]);
        }
        n_act += count[c];
    }
    return n_act;
}

void ef_cpu_sparse_rows(ef_pool *pool, const ef_tensor *w, const float *x, const int32_t *idx, int32_t n_idx,
                        float *y) {
    ef_cpu_sparse_rows_with(pool, ef_cpu_sparse_impl(w->type), w, x, idx, n_idx, y);
}

void ef_cpu_sparse_accum(ef_pool *pool, const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t n_idx,
                         float *y, float *scratch) {
    ef_cpu_sparse_accum_with(pool, ef_cpu_sparse_impl(d->type), d, idx, a, n_idx, y, scratch);
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
