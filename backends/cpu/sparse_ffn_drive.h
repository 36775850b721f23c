/* The loops every SIMD level of the sparse FFN kernels shares
 * (sparse_ops.h): gathered rows with prefetch, the column-blocked
 * Q8_0/Q4_0 accumulation one block of 32 neurons at a time, and the F32/F16
 * accumulation four neuron rows at a time. Each SIMD file
 * (sparse_ffn_avx2.c, _avx512.c, _neon.c) passes its own inner kernels;
 * the drivers are always inlined, so there the kernels are direct calls
 * compiled with that file's instruction set. */
#ifndef EF_BACKENDS_CPU_SPARSE_FFN_DRIVE_H
#define EF_BACKENDS_CPU_SPARSE_FFN_DRIVE_H

#include <stdint.h>
#include <string.h>

#include "cpu/sparse_ops.h"
#include "quant/types.h"

#define EF_SPARSE_DRIVE static inline __attribute__((always_inline))

/* Gathered rows are short, scattered streams the hardware prefetcher does
 * not pick up (a 256-wide Q8_0 row is 4 cache lines): the rows
 * EF_SPARSE_PREFETCH_ROWS ahead are asked for explicitly, into L2
 * (locality 2: prefetcht1 on x86, PLDL2KEEP on aarch64; measured on x86
 * with weights far larger than the caches: L2 at 16 rows was best, L1 and
 * non-temporal prefetches were slower than none). */
#define EF_SPARSE_PREFETCH_ROWS 16

EF_SPARSE_DRIVE void ef_sparse_prefetch_row(const uint8_t *row, uint64_t bytes) {
    for (uint64_t off = 0; off < bytes; off += 64) __builtin_prefetch(row + off, 0, 2);
}

/* x · row for one row of n weights of `type` (F32, F16, Q8_0 or Q4_0). */
typedef float (*ef_sparse_dot_fn)(uint32_t type, const uint8_t *row, const float *x, int64_t n);

/* y[k - k0] = W[idx[k]] · x for k in [k0, k1); idx NULL: W[k] (contiguous
 * rows, a stream the hardware prefetches: not prefetched by hand). */
EF_SPARSE_DRIVE void ef_sparse_rows_drive(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0,
                                          int32_t k1, float *y, ef_sparse_dot_fn dot) {
    const int64_t in = w->ne[0];
    const uint64_t row_bytes = ef_type_row_size(w->type, in);
    const uint8_t *base = w->data;
    for (int32_t k = k0; idx && k < k0 + EF_SPARSE_PREFETCH_ROWS && k < k1; k++)
        ef_sparse_prefetch_row(base + (uint64_t)idx[k] * row_bytes, row_bytes);
    for (int32_t k = k0; k < k1; k++) {
        if (idx && k + EF_SPARSE_PREFETCH_ROWS < k1)
            ef_sparse_prefetch_row(base + (uint64_t)idx[k + EF_SPARSE_PREFETCH_ROWS] * row_bytes, row_bytes);
        y[k - k0] = dot(w->type, base + (uint64_t)(idx ? idx[k] : k) * row_bytes, x, in);
    }
}

/* One block of 32 neurons of a column-blocked Q8_0 (q8 = 1) or Q4_0 ffn_down:
 * y[o] += sc[o] · Σ_r a[r] · code_r[o] over the block's n active rows, for
 * every output o < n_out (a multiple of 32). */
typedef void (*ef_sparse_block_fn)(int q8, const uint8_t *const *rows, const float *a, int n, const uint16_t *sc,
                                   int64_t n_out, float *y);

/* y[c0..c1) += Σ_r a[r] · rows[r][c0..c1) for nr (1..4) F32/F16 rows, each
 * output summed as y, then rows 0..nr-1, one FMA each. */
typedef void (*ef_sparse_axpy_fn)(uint32_t type, const uint8_t *const rows[4], const float a[4], int nr,
                                  int64_t n_out, float *y);

/* Column-blocked Q8_0/Q4_0: for each block of 32 neurons, its active rows
 * read side by side (many memory streams in flight), the next block's rows
 * prefetched. */
EF_SPARSE_DRIVE void ef_sparse_accum_q_drive(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0,
                                             int32_t k1, float *y, ef_sparse_block_fn block) {
    const int q8 = d->type == EF_TYPE_Q8_0;
    for (int32_t k = k0; k < k1;) {
        const int32_t b = idx[k] / 32;
        int32_t k_end = k;
        while (k_end < k1 && idx[k_end] / 32 == b) k_end++;
        const uint8_t *rows[32]; /* [n] the block's active rows */
        const int n = k_end - k;
        for (int r = 0; r < n; r++) rows[r] = d->rows + (uint64_t)idx[k + r] * d->row_bytes;
        for (int32_t p = k_end; p < k_end + 32 && p < k1 && idx[p] / 32 <= b + 1; p++)
            ef_sparse_prefetch_row(d->rows + (uint64_t)idx[p] * d->row_bytes, d->row_bytes);
        block(q8, rows, a + k, n, d->scales + (int64_t)b * d->n_out, d->n_out, y); /* scales: [n_out] F16 */
        k = k_end;
    }
}

/* F32/F16 neuron rows, four at a time (a short group padded with weight 0
 * on a repeated row), the rows 2·PREFETCH_ROWS ahead prefetched. type is a
 * constant where inlined. */
EF_SPARSE_DRIVE void ef_sparse_accum_f_drive(uint32_t type, const ef_sparse_down *d, const int32_t *idx,
                                             const float *a, int32_t k0, int32_t k1, float *y,
                                             ef_sparse_axpy_fn axpy) {
    const uint64_t bytes = d->row_bytes;
    for (int32_t k = k0; k < k1; k += 4) {
        const int nr = k1 - k < 4 ? k1 - k : 4;
        const uint8_t *rows[4];
        float ak[4];
        for (int r = 0; r < 4; r++) {
            rows[r] = d->rows + (uint64_t)idx[k + (r < nr ? r : 0)] * bytes;
            ak[r] = r < nr ? a[k + r] : 0.0f;
        }
        for (int32_t p = k + 2 * EF_SPARSE_PREFETCH_ROWS; p < k + 2 * EF_SPARSE_PREFETCH_ROWS + 4 && p < k1; p++)
            ef_sparse_prefetch_row(d->rows + (uint64_t)idx[p] * bytes, bytes);
        axpy(type, rows, ak, nr, d->n_out, y);
    }
}

/* y[n_out] = Σ_{k0 ≤ k < k1} a[k] · D[idx[k]], from zero. */
EF_SPARSE_DRIVE void ef_sparse_accum_drive(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0,
                                           int32_t k1, float *y, ef_sparse_block_fn block, ef_sparse_axpy_fn axpy) {
    memset(y, 0, sizeof(float) * (size_t)d->n_out);
    if (d->type == EF_TYPE_Q8_0 || d->type == EF_TYPE_Q4_0) ef_sparse_accum_q_drive(d, idx, a, k0, k1, y, block);
    else if (d->type == EF_TYPE_F32) ef_sparse_accum_f_drive(EF_TYPE_F32, d, idx, a, k0, k1, y, axpy);
    else ef_sparse_accum_f_drive(EF_TYPE_F16, d, idx, a, k0, k1, y, axpy);
}

#endif
