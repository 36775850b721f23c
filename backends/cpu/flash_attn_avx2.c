/* AVX2 + FMA + F16C versions of the flash-attention tile kernels; the scalar
 * reference beside them is flash_attn_tile.c. Same online softmax, in the
 * same order over cache positions; only each dot product and each V update
 * are formed 8 lanes at a time (so results differ from the scalar kernel by
 * rounding, but not between the prefill and decode paths, which both call
 * these). Scores of four keys are computed together to share loads of q. */
#include "cpu/flash_attn.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <math.h>

#include "base/fp16.h"
#include "cpu/simd_avx2.h"

int ef_flash_avx2_built(void) { return 1; }

void ef_flash_f16_rows_avx2(const uint16_t *src, int64_t src_stride, int32_t n, int32_t head_dim, float *dst) {
    for (int32_t i = 0; i < n; i++) {
        const uint16_t *s = src + i * src_stride; /* [head_dim] */
        float *o = dst + (int64_t)i * head_dim;   /* [head_dim] */
        int32_t d = 0;
        for (; d + 8 <= head_dim; d += 8) _mm256_storeu_ps(o + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + d))));
        for (; d < head_dim; d++) o[d] = ef_f16_to_f32(s[d]); /* exact either way */
    }
}

/* scores[c] = q · k_c × scale for the four keys k[0..3]; each key has its own
 * accumulator, filled in d order, so a key's score is the same in a group of
 * four as alone (four copies of one pointer). */
EF_AVX2_INLINE void dot4(const float *q, const float *const k[4], int32_t hd, __m256i tail_mask, float scale,
                         float *scores) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(); /* [8] lane sums of keys 0, 1 */
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps(); /* [8] lane sums of keys 2, 3 */
    int32_t d = 0;
    for (; d + 8 <= hd; d += 8) {
        const __m256 qv = _mm256_loadu_ps(q + d); /* [8] */
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[0] + d), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[1] + d), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[2] + d), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[3] + d), a3);
    }
    if (d < hd) { /* tail: masked lanes are 0·0 */
        const __m256 qv = _mm256_maskload_ps(q + d, tail_mask); /* [8] */
        a0 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k[0] + d, tail_mask), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k[1] + d, tail_mask), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k[2] + d, tail_mask), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k[3] + d, tail_mask), a3);
    }
    scores[0] = ef_avx2_hsum(a0) * scale;
    scores[1] = ef_avx2_hsum(a1) * scale;
    scores[2] = ef_avx2_hsum(a2) * scale;
    scores[3] = ef_avx2_hsum(a3) * scale;
}

/* One query row against the first n_vis keys of the tile. */
static void fold_row(const float *q, float *acc, float *m, float *l, const ef_flash_tile *tile, int64_t n_vis,
                     int32_t hd, float scale, float *scores) {
    const __m256i tail_mask = ef_avx2_first_lanes(hd % 8);
    for (int64_t i = 0; i < n_vis; i += 4) {
        const float *k[4]; /* past n_vis: repeats of the last key, results dropped */
        float s4[4];
        for (int c = 0; c < 4; c++) k[c] = tile->k + (i + c < n_vis ? i + c : n_vis - 1) * tile->stride;
        dot4(q, k, hd, tail_mask, scale, s4);
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
    /* acc = acc·corr + Σ p_i v_i, 8 dims at a time kept in a register. */
    const __m256 cv = _mm256_set1_ps(corr);
    int32_t d = 0;
    for (; d + 8 <= hd; d += 8) {
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(acc + d), cv); /* [8] */
        for (int64_t i = 0; i < n_vis; i++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(scores[i]), _mm256_loadu_ps(tile->v + i * tile->stride + d), a);
        _mm256_storeu_ps(acc + d, a);
    }
    if (d < hd) {
        __m256 a = _mm256_mul_ps(_mm256_maskload_ps(acc + d, tail_mask), cv); /* [8], lanes ≥ hd%8 zero */
        for (int64_t i = 0; i < n_vis; i++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(scores[i]), _mm256_maskload_ps(tile->v + i * tile->stride + d, tail_mask), a);
        _mm256_maskstore_ps(acc + d, tail_mask, a);
    }
    *m = m_new;
    *l = sum;
}

void ef_flash_fold_tile_avx2(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores) {
    for (int32_t t = 0; t < r->n_tok; t++) {
        /* causal: token t sees positions ≤ last0 + t, i.e. the tile's first n_vis rows */
        int64_t n_vis = (int64_t)r->last0 + t - tile->p0 + 1;
        if (n_vis <= 0) continue;
        if (n_vis > tile->n) n_vis = tile->n;
        for (int32_t j = 0; j < r->group; j++)
            fold_row(r->q + t * r->q_tstride + (int64_t)j * r->head_dim,
                     r->acc + t * r->acc_tstride + (int64_t)j * r->head_dim, &r->m[t * r->ml_tstride + j],
                     &r->l[t * r->ml_tstride + j], tile, n_vis, r->head_dim, r->scale, scores);
    }
}

#else /* built without AVX2 flags: ef_flash_pick_kernels stays on the reference */

int ef_flash_avx2_built(void) { return 0; }

void ef_flash_f16_rows_avx2(const uint16_t *src, int64_t src_stride, int32_t n, int32_t head_dim, float *dst) {
    (void)src, (void)src_stride, (void)n, (void)head_dim, (void)dst;
}

void ef_flash_fold_tile_avx2(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores) {
    (void)r, (void)tile, (void)scores;
}

#endif
