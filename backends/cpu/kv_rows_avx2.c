/* AVX2 + F16C loaders of KV rows (see kv_rows.h), row-major and
 * transposed; the scalar references are ef_kv_rows_load and
 * ef_kv_rows_load_t in kv_rows.c. Each element is one exact conversion
 * (F16) or one product q·d rounded once (Q8_0, Q4_0), as in the reference,
 * so the results are the same bits. */
#include "cpu/kv_rows.h"

#if defined(__AVX2__) && defined(__F16C__)
#include "cpu/simd_avx2.h"
#include <string.h>

#include "base/fp16.h"
#include "quant/types.h"

int ef_kv_rows_avx2_built(void) { return 1; }

enum { QK = 32, Q8_0_BYTES = 34, Q4_0_BYTES = 18 };

static float block_scale(const uint8_t *blk) {
    uint16_t h;
    memcpy(&h, blk, sizeof h); /* blocks are not 2-byte aligned */
    return ef_f16_to_f32(h);
}

/* dst[32] = one Q8_0 block. */
static void q8_0_block(const uint8_t *blk, float *dst) {
    const __m256 d = _mm256_set1_ps(block_scale(blk));
    const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2)); /* [32] i8 */
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(dst + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
}

/* dst[32] = one Q4_0 block: low nibbles are elements 0..15, high 16..31. */
static void q4_0_block(const uint8_t *blk, float *dst) {
    const __m256 d = _mm256_set1_ps(block_scale(blk));
    const __m128i qs = _mm_loadu_si128((const __m128i *)(blk + 2)); /* [16] two nibbles each */
    const __m128i mask = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, mask), eight);                   /* [16] i8 in -8..7 */
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), mask), eight); /* [16] i8 in -8..7 */
    _mm256_storeu_ps(dst + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
}

void ef_kv_rows_load_avx2(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                          float *dst, int64_t dst_stride) {
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *row = ef_kv_row(r, row0 + i); /* [row_bytes] */
        float *o = dst + (int64_t)i * dst_stride;     /* [ncols] */
        switch (r->type) {
        case EF_TYPE_F32:
            memcpy(o, (const float *)row + col0, (size_t)ncols * sizeof(float));
            break;
        case EF_TYPE_F16: {
            const uint16_t *h = (const uint16_t *)row + col0; /* [ncols] */
            int32_t c = 0;
            for (; c + 8 <= ncols; c += 8) _mm256_storeu_ps(o + c, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + c))));
            for (; c < ncols; c++) o[c] = ef_f16_to_f32(h[c]);
            break;
        }
        case EF_TYPE_Q8_0:
        case EF_TYPE_Q4_0:
            if (col0 % QK || ncols % QK) { /* a slice cutting blocks: the reference handles it */
                ef_kv_rows_load(r, row0 + i, 1, col0, ncols, o, ncols);
            } else if (r->type == EF_TYPE_Q8_0) {
                for (int32_t b = 0; b < ncols / QK; b++) q8_0_block(row + (size_t)(col0 / QK + b) * Q8_0_BYTES, o + b * QK);
            } else {
                for (int32_t b = 0; b < ncols / QK; b++) q4_0_block(row + (size_t)(col0 / QK + b) * Q4_0_BYTES, o + b * QK);
            }
            break;
        default:
            memset(o, 0, (size_t)ncols * sizeof(float));
            break;
        }
    }
}

/* ---- transposed: 8 rows × 8 columns per register block ---- */

/* Columns c..c+8 of a row as F32; for Q8_0/Q4_0, c is a multiple of 8, so
 * the 8 lie in one block. */
static inline __attribute__((always_inline)) __m256 cols8(uint32_t type, const uint8_t *row, int32_t c) {
    if (type == EF_TYPE_F32) return _mm256_loadu_ps((const float *)row + c);
    if (type == EF_TYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
    const int32_t o = c % QK; /* offset in the block */
    __m128i q;                 /* [8] i8 quants, low 8 bytes */
    const uint8_t *blk;
    if (type == EF_TYPE_Q8_0) {
        blk = row + (size_t)(c / QK) * Q8_0_BYTES;
        q = _mm_loadl_epi64((const __m128i *)(blk + 2 + o));
    } else { /* Q4_0: element j < 16 is the low nibble of byte j, j ≥ 16 the high nibble of byte j − 16 */
        blk = row + (size_t)(c / QK) * Q4_0_BYTES;
        const __m128i bytes = _mm_loadl_epi64((const __m128i *)(blk + 2 + (o & 15)));
        const __m128i nib = o < 16 ? bytes : _mm_srli_epi16(bytes, 4);
        q = _mm_sub_epi8(_mm_and_si128(nib, _mm_set1_epi8(0x0F)), _mm_set1_epi8(8));
    }
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_set1_ps(block_scale(blk)));
}

/* The whole 8×8 blocks: rows [0, n8), columns [0, c8) of the load; `type`
 * is a constant where inlined, so each type gets its own loop. */
static inline __attribute__((always_inline)) void load_t_blocks(uint32_t type, const ef_kv_rows *r, int64_t row0,
                                                                int32_t n8, int32_t col0, int32_t c8, float *dst,
                                                                int64_t dst_stride) {
    for (int32_t i = 0; i < n8; i += 8) {
        const uint8_t *row[8]; /* the block's 8 cache rows */
        for (int k = 0; k < 8; k++) row[k] = ef_kv_row(r, row0 + i + k);
        for (int32_t c = 0; c < c8; c += 8) {
            __m256 x[8]; /* [8 rows][8 columns], then [8 columns][8 rows] */
            for (int k = 0; k < 8; k++) x[k] = cols8(type, row[k], col0 + c);
            ef_avx2_transpose8x8(x);
            for (int k = 0; k < 8; k++) _mm256_storeu_ps(dst + (int64_t)(c + k) * dst_stride + i, x[k]);
        }
    }
}

void ef_kv_rows_load_t_avx2(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                            float *dst, int64_t dst_stride) {
    const int quant = r->type == EF_TYPE_Q8_0 || r->type == EF_TYPE_Q4_0;
    const int known = quant || r->type == EF_TYPE_F32 || r->type == EF_TYPE_F16;
    if (!known || (quant && col0 % 8)) { /* 8-column groups would cut blocks: the reference handles it */
        ef_kv_rows_load_t(r, row0, n, col0, ncols, dst, dst_stride);
        return;
    }
    const int32_t n8 = n & ~7, c8 = ncols & ~7;
    switch (r->type) {
    case EF_TYPE_F32: load_t_blocks(EF_TYPE_F32, r, row0, n8, col0, c8, dst, dst_stride); break;
    case EF_TYPE_F16: load_t_blocks(EF_TYPE_F16, r, row0, n8, col0, c8, dst, dst_stride); break;
    case EF_TYPE_Q8_0: load_t_blocks(EF_TYPE_Q8_0, r, row0, n8, col0, c8, dst, dst_stride); break;
    default: load_t_blocks(EF_TYPE_Q4_0, r, row0, n8, col0, c8, dst, dst_stride); break;
    }
    /* the edges: the last n % 8 rows, the last ncols % 8 columns of the others */
    if (n8 < n) ef_kv_rows_load_t(r, row0 + n8, n - n8, col0, ncols, dst + n8, dst_stride);
    if (c8 < ncols && n8 > 0)
        ef_kv_rows_load_t(r, row0, n8, col0 + c8, ncols - c8, dst + (int64_t)c8 * dst_stride, dst_stride);
}

#else /* built without AVX2 flags: ef_kv_pick_load stays on the reference */

int ef_kv_rows_avx2_built(void) { return 0; }

void ef_kv_rows_load_avx2(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                          float *dst, int64_t dst_stride) {
    (void)r, (void)row0, (void)n, (void)col0, (void)ncols, (void)dst, (void)dst_stride;
}

void ef_kv_rows_load_t_avx2(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                            float *dst, int64_t dst_stride) {
    (void)r, (void)row0, (void)n, (void)col0, (void)ncols, (void)dst, (void)dst_stride;
}

#endif
