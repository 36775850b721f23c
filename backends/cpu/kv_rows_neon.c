/* NEON loader of KV rows (see kv_rows.h); the scalar reference is
 * ef_kv_rows_load in kv_rows.c. Each element is one exact conversion (F16,
 * fcvtl) or one product q·d rounded once (Q8_0, Q4_0), as in the reference,
 * so the results are the same bits. Slices that cut a block go to the
 * reference. aarch64 only; elsewhere a stub that is never picked. */
#include "cpu/kv_rows.h"

#include <string.h>

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#include "base/fp16.h"
#include "quant/types.h"

int ef_kv_rows_neon_built(void) { return 1; }

enum { QK = 32, Q8_0_BYTES = 34, Q4_0_BYTES = 18 };

static float block_scale(const uint8_t *blk) {
    uint16_t h;
    memcpy(&h, blk, sizeof h); /* blocks are not 2-byte aligned */
    return ef_f16_to_f32(h);
}

/* dst[16] = q[0..15] · d, codes widened to F32 (exact), one product each. */
static inline void store16(int8x16_t q, float d, float *dst) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q); /* [8] i16 each */
    vst1q_f32(dst + 0, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(dst + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
    vst1q_f32(dst + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(dst + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
}

/* dst[32] = one Q8_0 block. */
static void q8_0_block(const uint8_t *blk, float *dst) {
    const float d = block_scale(blk);
    store16(vld1q_s8((const int8_t *)blk + 2), d, dst);
    store16(vld1q_s8((const int8_t *)blk + 18), d, dst + 16);
}

/* dst[32] = one Q4_0 block: low nibbles are elements 0..15, high 16..31. */
static void q4_0_block(const uint8_t *blk, float *dst) {
    const float d = block_scale(blk);
    const uint8x16_t qs = vld1q_u8(blk + 2); /* [16] two nibbles each */
    const int8x16_t eight = vdupq_n_s8(8);
    store16(vsubq_s8(vreinterpretq_s8_u8(vandq_u8(qs, vdupq_n_u8(0x0F))), eight), d, dst);
    store16(vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(qs, 4)), eight), d, dst + 16);
}

void ef_kv_rows_load_neon(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols, float *dst,
                          int64_t dst_stride) {
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
            for (; c + 8 <= ncols; c += 8) {
                const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h + c));
                vst1q_f32(o + c, vcvt_f32_f16(vget_low_f16(v)));
                vst1q_f32(o + c + 4, vcvt_high_f32_f16(v));
            }
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

#else /* not aarch64: ef_kv_pick_load never picks it */

int ef_kv_rows_neon_built(void) { return 0; }

void ef_kv_rows_load_neon(const ef_kv_rows *r, int64_t row0, int32_t n, int32_t col0, int32_t ncols, float *dst,
                          int64_t dst_stride) {
    (void)r, (void)row0, (void)n, (void)col0, (void)ncols, (void)dst, (void)dst_stride;
}

#endif
