/* NEON versions of the flash-attention tile kernels (aarch64); the scalar
 * reference beside them is flash_attn_tile.c, the AVX2 twin
 * flash_attn_avx2.c. Same online softmax, in the same order over cache
 * positions; each dot product and each V update are formed 8 lanes at a
 * time (two 4-lane registers), so results differ from the scalar kernel by
 * rounding, but not between the prefill and decode paths, which both call
 * these. Scores of four keys are computed together to share loads of q. */
#include "cpu/flash_attn.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <math.h>

#include "base/fp16.h"
#include "cpu/simd_neon.h"

int ef_flash_neon_built(void) { return 1; }

void ef_flash_f16_rows_neon(const uint16_t *src, int64_t src_stride, int32_t n, int32_t head_dim, float *dst) {
    for (int32_t i = 0; i < n; i++) {
        const uint16_t *s = src + i * src_stride; /* [head_dim] */
        float *o = dst + (int64_t)i * head_dim;   /* [head_dim] */
        int32_t d = 0;
        for (; d + 8 <= head_dim; d += 8) {
            const ef_neon_f32x8 v = ef_neon_load_w8(EF_TYPE_F16, s, d);
            vst1q_f32(o + d, v.lo);
            vst1q_f32(o + d + 4, v.hi);
        }
        for (; d < head_dim; d++) o[d] = ef_f16_to_f32(s[d]); /* exact either way */
    }
}

/* scores[c] = q · k_c × scale for the four keys k[0..3]; each key has its own
 * accumulator, filled in d order, so a key's score is the same in a group of
 * four as alone (four copies of one pointer). */
EF_NEON_INLINE void dot4(const float *q, const float *const k[4], int32_t hd, float scale, float *scores) {
    ef_neon_f32x8 a0 = ef_neon_zero8(), a1 = ef_neon_zero8(); /* [8] lane sums of keys 0, 1 */
    ef_neon_f32x8 a2 = ef_neon_zero8(), a3 = ef_neon_zero8(); /* [8] lane sums of keys 2, 3 */
    int32_t d = 0;
    for (; d + 8 <= hd; d += 8) {
        const ef_neon_f32x8 qv = ef_neon_load_w8(EF_TYPE_F32, q, d); /* [8] */
        a0 = ef_neon_fma8(a0, qv, ef_neon_load_w8(EF_TYPE_F32, k[0], d));
        a1 = ef_neon_fma8(a1, qv, ef_neon_load_w8(EF_TYPE_F32, k[1], d));
        a2 = ef_neon_fma8(a2, qv, ef_neon_load_w8(EF_TYPE_F32, k[2], d));
        a3 = ef_neon_fma8(a3, qv, ef_neon_load_w8(EF_TYPE_F32, k[3], d));
    }
    if (d < hd) { /* tail: padded lanes are 0·0 */
        const ef_neon_f32x8 qv = ef_neon_load_x_tail(q, d, hd - d); /* [8] */
        a0 = ef_neon_fma8(a0, qv, ef_neon_load_x_tail(k[0], d, hd - d));
        a1 = ef_neon_fma8(a1, qv, ef_neon_load_x_tail(k[1], d, hd - d));
        a2 = ef_neon_fma8(a2, qv, ef_neon_load_x_tail(k[2], d, hd - d));
        a3 = ef_neon_fma8(a3, qv, ef_neon_load_x_tail(k[3], d, hd - d));
    }
    scores[0] = ef_neon_hsum8(a0) * scale;
    scores[1] = ef_neon_hsum8(a1) * scale;
    scores[2] = ef_neon_hsum8(a2) * scale;
    scores[3] = ef_neon_hsum8(a3) * scale;
}

/* One query row against the first n_vis keys of the tile. */
static void fold_row(const float *q, float *acc, float *m, float *l, const ef_flash_tile *tile, int64_t n_vis,
                     int32_t hd, float scale, float *scores) {
    for (int64_t i = 0; i < n_vis; i += 4) {
        const float *k[4]; /* past n_vis: repeats of the last key, results dropped */
        float s4[4];
        for (int c = 0; c < 4; c++) k[c] = tile->k + (i + c < n_vis ? i + c : n_vis - 1) * tile->stride;
        dot4(q, k, hd, scale, s4);
        for (int c = 0; c < 4 && i + c < n_vis; c++) scores[i + c] = s4[c];
    }
    float tile_max = -INFINITY;
    for (int64_t i = 0; i < n_vis; i++)
        if (scores[i] > tile_max) tile_max = scores[i];
    /* Rescale what was summed under the old max (0 when there was none). */
    const float m_new = tile_max > *m ? tile_max : *m;
    const float corr = expf(*m - m_new);
    float sum = *l * corr;
    for (int64_t i = 0; i < n_vis; i++) { /* scores become the weights p_i */
        scores[i] = expf(scores[i] - m_new);
        sum += scores[i];
    }
    /* acc = acc·corr + Σ p_i v_i, 4 dims at a time kept in a register. */
    int32_t d = 0;
    for (; d + 4 <= hd; d += 4) {
        float32x4_t a = vmulq_n_f32(vld1q_f32(acc + d), corr); /* [4] */
        for (int64_t i = 0; i < n_vis; i++) a = vfmaq_n_f32(a, vld1q_f32(tile->v + i * tile->stride + d), scores[i]);
        vst1q_f32(acc + d, a);
    }
    for (; d < hd; d++) { /* the same operations one lane at a time */
        float a = acc[d] * corr;
        for (int64_t i = 0; i < n_vis; i++) a = fmaf(scores[i], tile->v[i * tile->stride + d], a);
        acc[d] = a;
    }
    *m = m_new;
    *l = sum;
}

void ef_flash_fold_tile_neon(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores) {
    for (int32_t t = 0; t < r->n_tok; t++) {
        /* causal: token t sees positions <= last0 + t, i.e. the tile's first n_vis rows */
        int64_t n_vis = (int64_t)r->last0 + t - tile->p0 + 1;
        if (n_vis <= 0) continue;
        if (n_vis > tile->n) n_vis = tile->n;
        for (int32_t j = 0; j < r->group; j++)
            fold_row(r->q + t * r->q_tstride + (int64_t)j * r->head_dim,
                     r->acc + t * r->acc_tstride + (int64_t)j * r->head_dim, &r->m[t * r->ml_tstride + j],
                     &r->l[t * r->ml_tstride + j], tile, n_vis, r->head_dim, r->scale, scores);
    }
}

#else /* not aarch64: ef_flash_pick_kernels never picks these */

int ef_flash_neon_built(void) { return 0; }

void ef_flash_f16_rows_neon(const uint16_t *src, int64_t src_stride, int32_t n, int32_t head_dim, float *dst) {
    (void)src, (void)src_stride, (void)n, (void)head_dim, (void)dst;
}

void ef_flash_fold_tile_neon(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores) {
    (void)r, (void)tile, (void)scores;
}

#endif
