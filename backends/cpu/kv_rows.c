/* Paged KV rows: geometry, scalar loads (dequantizing head slices), row-major
 * and transposed, and the row writer. The kernels' fast paths (F32 in place,
 * AVX2 F16) live with the flash tile loader and in kv_rows_avx2.c; this file
 * is the reference they are checked against. */
#include "cpu/kv_rows.h"

#include <string.h>

#include "base/fp16.h"
#include "cpu/cpu_features.h"
#include "quant/blocks.h"
#include "quant/types.h"

size_t ef_kv_row_bytes(uint32_t type, int32_t width) {
    if (width <= 0) return 0;
    switch (type) {
    case EF_TYPE_F32: case EF_TYPE_F16: case EF_TYPE_Q8_0: case EF_TYPE_Q4_0:
        return (size_t)ef_type_row_size(type, width);
    default:
        return 0;
    }
}

ef_kv_rows ef_kv_rows_contiguous(uint32_t type, int32_t width, int64_t n_rows, const void *base,
                                 const void **page_slot) {
    ef_kv_rows r;
    *page_slot = base;
    r.type = type;
    r.width = width;
    /* one page holding every row; page_rows must stay >= 1 even when empty */
    r.page_rows = n_rows > 0 && n_rows <= INT32_MAX ? (int32_t)n_rows : (n_rows > 0 ? INT32_MAX : 1);
    r.n_pages = 1;
    r.pages = page_slot;
    r.row_bytes = ef_kv_row_bytes(type, width);
    return r;
}

/* Columns [col0, col0+ncols) of a Q8_0/Q4_0 row as F32: whole blocks
 * straight into dst, a block cut by either edge through tmp. */
static void load_block_slice(uint32_t type, const void *row, int32_t col0, int32_t ncols, float *dst) {
    const ef_type_info *ti = ef_type_get(type);
    const int32_t qk = ti->block_size;
    const unsigned char *blocks = row; /* [width/qk][type_size] */
    for (int32_t c = col0; c < col0 + ncols;) {
        const int32_t b = c / qk, in_block = c - b * qk;
        const int32_t take = qk - in_block < col0 + ncols - c ? qk - in_block : col0 + ncols - c;
        if (in_block == 0 && take == qk) {
            ti->to_float(blocks + (size_t)b * (size_t)ti->type_size, dst + (c - col0), qk);
        } else {
            float tmp[32]; /* [qk] one block */
            ti->to_float(blocks + (size_t)b * (size_t)ti->type_size, tmp, qk);
            memcpy(dst + (c - col0), tmp + in_block, (size_t)take * sizeof(float));
        }
        c += take;
    }
}

/* One row's columns [col0, col0+ncols) as F32. */
static void load_row_slice(uint32_t type, const void *row, int32_t col0, int32_t ncols, float *dst) {
    switch (type) {
    case EF_TYPE_F32:
        memcpy(dst, (const float *)row + col0, (size_t)ncols * sizeof(float));
        break;
    case EF_TYPE_F16: {
        const uint16_t *h = (const uint16_t *)row + col0;
        for (int32_t c = 0; c < ncols; c++) dst[c] = ef_f16_to_f32(h[c]);
        break;
    }
    case EF_TYPE_Q8_0:
    case EF_TYPE_Q4_0:
        load_block_slice(type, row, col0, ncols, dst);
        break;
    default:
        memset(dst, 0, (size_t)ncols * sizeof(float));
        break;
    }
}

void ef_kv_rows_load(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                     float *dst, int64_t dst_stride) {
    for (int32_t i = 0; i < n; i++)
        load_row_slice(r->type, ef_kv_row(r, row0 + i), col0, ncols, dst + (int64_t)i * dst_stride);
}

void ef_kv_rows_load_t(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols,
                       float *dst, int64_t dst_stride) {
    enum { PIECE = 32 };
    float piece[PIECE]; /* [PIECE] a row's columns, a piece at a time */
    for (int32_t i = 0; i < n; i++) {
        const void *row = ef_kv_row(r, row0 + i);
        for (int32_t c = 0; c < ncols; c += PIECE) {
            const int32_t take = ncols - c < PIECE ? ncols - c : PIECE;
            load_row_slice(r->type, row, col0 + c, take, piece);
            for (int32_t k = 0; k < take; k++) dst[(int64_t)(c + k) * dst_stride + i] = piece[k];
        }
    }
}

ef_kv_load_t_fn ef_kv_pick_load_t(void) {
    if (ef_cpu_simd_x86(ef_cpu_simd_active()) && ef_kv_rows_avx2_built()) return ef_kv_rows_load_t_avx2;
    return NULL;
}

ef_kv_load_fn ef_kv_pick_load(void) {
    if (ef_cpu_simd_x86(ef_cpu_simd_active()) && ef_kv_rows_avx2_built()) return ef_kv_rows_load_avx2;
    if (ef_cpu_simd_arm(ef_cpu_simd_active()) && ef_kv_rows_neon_built()) return ef_kv_rows_load_neon;
    return ef_kv_rows_load;
}

void ef_kv_row_store(uint32_t type, const float *src, int32_t width, void *dst_row) {
    switch (type) {
    case EF_TYPE_F32:
        memcpy(dst_row, src, (size_t)width * sizeof(float));
        break;
    case EF_TYPE_F16: {
        uint16_t *h = (uint16_t *)dst_row;
        for (int32_t c = 0; c < width; c++) h[c] = ef_f32_to_f16(src[c]);
        break;
    }
    case EF_TYPE_Q8_0:
        ef_quantize_q8_0(src, dst_row, width);
        break;
    case EF_TYPE_Q4_0:
        ef_quantize_q4_0(src, dst_row, width);
        break;
    default:
        break;
    }
}
