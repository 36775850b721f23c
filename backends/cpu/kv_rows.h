/* Rows of a KV cache as the attention kernels read them: fixed-width rows
 * (all heads of one cache position, or one MLA latent) of one element type,
 * stored in pages of page_rows rows each. Pages may live anywhere; a row
 * never straddles two pages. A contiguous buffer is the one-page case.
 * Element types: F32, F16, Q8_0 and Q4_0 (quantized rows need widths and
 * head slices that are multiples of 32, the block size). */
#ifndef EF_BACKENDS_CPU_KV_ROWS_H
#define EF_BACKENDS_CPU_KV_ROWS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ef_kv_rows {
    uint32_t type;            /* EF_TYPE_F32, EF_TYPE_F16, EF_TYPE_Q8_0 or EF_TYPE_Q4_0 */
    int32_t width;            /* elements per row (all heads of one cache row) */
    int32_t page_rows;        /* rows per page, >= 1 */
    int64_t n_pages;          /* entries of pages */
    const void *const *pages; /* page p holds rows p*page_rows.. as [page_rows][row_bytes] */
    size_t row_bytes;         /* ef_kv_row_bytes(type, width) */
} ef_kv_rows;

/* Bytes of one row of `width` elements of `type`; 0 if the type is not a KV
 * type or width is not a positive multiple of the type's block. */
size_t ef_kv_row_bytes(uint32_t type, int32_t width);

/* Start of cache row `row` (row < n_pages * page_rows; not checked). */
static inline const void *ef_kv_row(const ef_kv_rows *r, int64_t row) {
    int64_t page = row / r->page_rows;
    int64_t in_page = row - page * r->page_rows;
    return (const unsigned char *)r->pages[page] + (size_t)in_page * r->row_bytes;
}

/* A one-page view of a contiguous [n_rows][width] buffer; *page_slot stores
 * the pointer (the view refers to it, so it must outlive the view). */
ef_kv_rows ef_kv_rows_contiguous(uint32_t type, int32_t width, int64_t n_rows, const void *base,
                                 const void **page_slot);

/* dst[i*dst_stride + c] = element (row0 + i, col0 + c) as F32 for i < n,
 * c < ncols: exact for f32/f16, the block dequantization for q8_0/q4_0.
 * Any column range works; for q8_0/q4_0 one that starts and ends on block
 * edges (multiples of 32, e.g. a head) is decoded in place, others through
 * a one-block temporary. Scalar reference. */
void ef_kv_rows_load(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                     float *dst, int64_t dst_stride);

/* A loader with ef_kv_rows_load's contract and results (bit for bit). */
typedef void (*ef_kv_load_fn)(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                              float *dst, int64_t dst_stride);

/* The fastest loader this CPU and ef_cpu_simd_active allow: the AVX2 one
 * (kv_rows_avx2.c) or the scalar reference. */
ef_kv_load_fn ef_kv_pick_load(void);

/* AVX2+F16C loader (kv_rows_avx2.c); ef_kv_rows_avx2_built() is 0 when that
 * file was compiled without those flags (then the loader does nothing). */
int ef_kv_rows_avx2_built(void);
void ef_kv_rows_load_avx2(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                          float *dst, int64_t dst_stride);
/* NEON loader (kv_rows_neon.c, aarch64); ef_kv_rows_neon_built() is 0
 * elsewhere (then it does nothing). */
int ef_kv_rows_neon_built(void);
void ef_kv_rows_load_neon(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                          float *dst, int64_t dst_stride);

/* The transposed load: dst[c*dst_stride + i] = element (row0 + i, col0 + c)
 * as F32 for i < n, c < ncols — ef_kv_rows_load's values bit for bit,
 * stored column-major, as the attention's key tile [dk][TILE] wants them
 * (one pass instead of rows then a transpose). Same signature as
 * ef_kv_load_fn, dst_stride being the step between columns. Scalar
 * reference. */
void ef_kv_rows_load_t(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                       float *dst, int64_t dst_stride);

/* A transposed loader with ef_kv_rows_load_t's contract and results. */
typedef ef_kv_load_fn ef_kv_load_t_fn;

/* The SIMD transposed loader this CPU and ef_cpu_simd_active allow (the
 * AVX2 one), or NULL where there is none: callers then load rows and
 * transpose them as before. */
ef_kv_load_t_fn ef_kv_pick_load_t(void);

/* AVX2+F16C transposed loader (kv_rows_avx2.c): 8 rows × 8 columns per
 * register block (F32, F16, Q8_0, Q4_0 converted in registers, then an 8×8
 * transpose); edges through the reference. Does nothing when built
 * without those flags (ef_kv_rows_avx2_built() == 0). */
void ef_kv_rows_load_t_avx2(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                            float *dst, int64_t dst_stride);

/* One row of `type` from width F32 values: the reference quantizers of
 * lib/quant for q8_0/q4_0, round-to-nearest-even for f16, a copy for f32.
 * dst_row: [ef_kv_row_bytes(type, width)]. */
void ef_kv_row_store(uint32_t type, const float *src, int32_t width, void *dst_row);

#endif
