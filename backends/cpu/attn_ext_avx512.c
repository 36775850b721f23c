/* AVX-512 tile kernels of the tiled ef_cpu_attn_ext (attn_ext_tile.h): the
 * AVX2 pair (attn_ext_avx2.c) 16 lanes wide; the scalar reference pair is in
 * attn_ext_tile.c.
 *
 * Scores: 4 query rows × 32 keys per register block (16 keys per load, a
 * 16-key block for the tail), query elements broadcast. Fold: the base-2
 * softmax weights 16 at a time with a vector exp2 (exp2_16: the AVX2 exp2's
 * polynomial, 2ⁿ applied with vscalefps, masked lanes zeroed), then
 * acc += Σ p·v for 4 rows × 16 value dims per register block (a masked
 * block for the last 8 dims). Every score lane and every acc lane is one chain of FMAs in a fixed
 * order (d for scores, i for values), whichever block a row falls in, so a
 * row's bits do not depend on the other rows of its task. */
#include "cpu/attn_ext_tile.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#include <math.h>

int ef_attn_ext_avx512_built(void) { return 1; }

#define EF_AVX512_INLINE_K static inline __attribute__((always_inline))

enum { TILE = EF_ATTN_EXT_TILE };

EF_AVX512_INLINE_K const float *query_row(const ef_attn_ext_rows *rows, int32_t r) {
    return rows->q + (r / rows->group) * rows->q_tstride + (int64_t)(r % rows->group) * rows->dk;
}

/* ---- scores ---- */

/* s_r[c..c+w) for the four rows q[0..3], w = 32 while it fits, then 16. */
static void scores4(const float *const q[4], const float *kt, int32_t dk, int32_t cols, float scale,
                    float *const s[4]) {
    const __m512 sc = _mm512_set1_ps(scale);
    int32_t c = 0;
    for (; c + 32 <= cols; c += 32) {
        __m512 a00 = _mm512_setzero_ps(), a01 = _mm512_setzero_ps(); /* [16] row 0, keys c.., c+16.. */
        __m512 a10 = _mm512_setzero_ps(), a11 = _mm512_setzero_ps(); /* [16] row 1 */
        __m512 a20 = _mm512_setzero_ps(), a21 = _mm512_setzero_ps(); /* [16] row 2 */
        __m512 a30 = _mm512_setzero_ps(), a31 = _mm512_setzero_ps(); /* [16] row 3 */
        const float *k = kt + c; /* row d: k + d*TILE */
        for (int32_t d = 0; d < dk; d++, k += TILE) {
            const __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16); /* [16] keys, element d */
            __m512 qb = _mm512_set1_ps(q[0][d]);
            a00 = _mm512_fmadd_ps(qb, k0, a00), a01 = _mm512_fmadd_ps(qb, k1, a01);
            qb = _mm512_set1_ps(q[1][d]);
            a10 = _mm512_fmadd_ps(qb, k0, a10), a11 = _mm512_fmadd_ps(qb, k1, a11);
            qb = _mm512_set1_ps(q[2][d]);
            a20 = _mm512_fmadd_ps(qb, k0, a20), a21 = _mm512_fmadd_ps(qb, k1, a21);
            qb = _mm512_set1_ps(q[3][d]);
            a30 = _mm512_fmadd_ps(qb, k0, a30), a31 = _mm512_fmadd_ps(qb, k1, a31);
        }
        _mm512_storeu_ps(s[0] + c, _mm512_mul_ps(a00, sc)), _mm512_storeu_ps(s[0] + c + 16, _mm512_mul_ps(a01, sc));
        _mm512_storeu_ps(s[1] + c, _mm512_mul_ps(a10, sc)), _mm512_storeu_ps(s[1] + c + 16, _mm512_mul_ps(a11, sc));
        _mm512_storeu_ps(s[2] + c, _mm512_mul_ps(a20, sc)), _mm512_storeu_ps(s[2] + c + 16, _mm512_mul_ps(a21, sc));
        _mm512_storeu_ps(s[3] + c, _mm512_mul_ps(a30, sc)), _mm512_storeu_ps(s[3] + c + 16, _mm512_mul_ps(a31, sc));
    }
    if (c < cols) { /* the last 16 keys */
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(); /* [16] rows 0, 1 */
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps(); /* [16] rows 2, 3 */
        const float *k = kt + c;
        for (int32_t d = 0; d < dk; d++, k += TILE) {
            const __m512 k0 = _mm512_loadu_ps(k); /* [16] */
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(q[0][d]), k0, a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(q[1][d]), k0, a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(q[2][d]), k0, a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(q[3][d]), k0, a3);
        }
        _mm512_storeu_ps(s[0] + c, _mm512_mul_ps(a0, sc)), _mm512_storeu_ps(s[1] + c, _mm512_mul_ps(a1, sc));
        _mm512_storeu_ps(s[2] + c, _mm512_mul_ps(a2, sc)), _mm512_storeu_ps(s[3] + c, _mm512_mul_ps(a3, sc));
    }
}

/* The same for one row, 16 keys at a time. */
static void scores1(const float *q, const float *kt, int32_t dk, int32_t cols, float scale, float *s) {
    const __m512 sc = _mm512_set1_ps(scale);
    for (int32_t c = 0; c < cols; c += 16) {
        __m512 a = _mm512_setzero_ps(); /* [16] keys c.. */
        const float *k = kt + c;
        for (int32_t d = 0; d < dk; d++, k += TILE) a = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_loadu_ps(k), a);
        _mm512_storeu_ps(s + c, _mm512_mul_ps(a, sc));
    }
}

void ef_attn_ext_scores_avx512(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s) {
    const int32_t n16 = (tile->n + 15) & ~15, cols = n16 < TILE ? n16 : TILE;
    int32_t r = 0;
    for (; r + 4 <= rows->n_rows; r += 4) {
        const float *q[4] = {query_row(rows, r), query_row(rows, r + 1), query_row(rows, r + 2), query_row(rows, r + 3)};
        float *const sr[4] = {s + (int64_t)r * TILE, s + (int64_t)(r + 1) * TILE, s + (int64_t)(r + 2) * TILE,
                              s + (int64_t)(r + 3) * TILE};
        scores4(q, tile->kt, rows->dk, cols, rows->scale, sr);
    }
    for (; r < rows->n_rows; r++) scores1(query_row(rows, r), tile->kt, rows->dk, cols, rows->scale, s + (int64_t)r * TILE);
}

/* ---- fold ---- */

/* 2^x for 16 lanes x ≤ 0 (base-2 scores minus their max; −inf for masked
 * ones). x = n + f with n = round(x), |f| ≤ 1/2 and f exact; 2^f is the
 * AVX2 exp2's degree-5 polynomial, scaled by 2ⁿ with vscalefps (exact).
 * Within 3e-7 relative of 2^x where that is normal (test_attn_ext). Lanes
 * with x ≤ −127 (−inf included) are exactly +0, so masked positions add
 * nothing; between −127 and −126 the result is subnormal. */
EF_AVX512_INLINE_K __m512 exp2_16(__m512 x) {
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-127.0f), _CMP_GT_OQ);
    x = _mm512_max_ps(x, _mm512_set1_ps(-127.0f));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.326472731e-03f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.671512991e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550733581e-02f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402224243e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931470037e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(keep, p, n);
}

void ef_attn_ext_exp2_avx512(const float *x, float *y, int32_t n) {
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, exp2_16(_mm512_loadu_ps(x + i)));
    if (i < n) { /* the tail through a masked block */
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(y + i, m, exp2_16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* Row r's online-softmax step: s[TILE] becomes the weights p, l and m are
 * updated and acc[dv_pad] rescaled to the new max. */
static void softmax_row(float *s, float *acc, int32_t dv_pad, float *m, float *l) {
    const __m512 s0 = _mm512_loadu_ps(s), s1 = _mm512_loadu_ps(s + 16); /* [16] */
    const __m512 s2 = _mm512_loadu_ps(s + 32), s3 = _mm512_loadu_ps(s + 48);
    const float tile_max = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(s0, s1), _mm512_max_ps(s2, s3)));
    const float m_new = tile_max > *m ? tile_max : *m;
    /* 0 when nothing was summed yet; 1 when the max stays; else the vector
     * exp2 in lane 0 (measured: libm's exp2f call was 3 % of MHA prefill) */
    const float corr = m_new == *m ? 1.0f : _mm512_cvtss_f32(exp2_16(_mm512_set1_ps(*m - m_new)));
    const __m512 mv = _mm512_set1_ps(m_new);
    const __m512 p0 = exp2_16(_mm512_sub_ps(s0, mv)), p1 = exp2_16(_mm512_sub_ps(s1, mv));
    const __m512 p2 = exp2_16(_mm512_sub_ps(s2, mv)), p3 = exp2_16(_mm512_sub_ps(s3, mv));
    _mm512_storeu_ps(s, p0), _mm512_storeu_ps(s + 16, p1), _mm512_storeu_ps(s + 32, p2), _mm512_storeu_ps(s + 48, p3);
    *l = *l * corr + _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(p0, p1), _mm512_add_ps(p2, p3)));
    *m = m_new;
    if (corr != 1.0f) {
        const __m512 cv = _mm512_set1_ps(corr);
        int32_t d = 0;
        for (; d + 16 <= dv_pad; d += 16) _mm512_storeu_ps(acc + d, _mm512_mul_ps(_mm512_loadu_ps(acc + d), cv));
        if (d < dv_pad) {
            const __m256 a = _mm256_loadu_ps(acc + d); /* [8] the last 8 dims */
            _mm256_storeu_ps(acc + d, _mm256_mul_ps(a, _mm512_castps512_ps256(cv)));
        }
    }
}

/* acc_r[d..d+16) += Σ_{i0 ≤ i < i1} p_r[i] v_i[d..] for four rows, the lanes
 * of m only (a constant where inlined: all 16, or the last 8 dims). */
EF_AVX512_INLINE_K void values4_at(const float *const p[4], float *const acc[4], const float *v, int64_t v_stride,
                                   int32_t d, __mmask16 m, int32_t i0, int32_t i1) {
    __m512 a0 = _mm512_maskz_loadu_ps(m, acc[0] + d), a1 = _mm512_maskz_loadu_ps(m, acc[1] + d); /* [16] */
    __m512 a2 = _mm512_maskz_loadu_ps(m, acc[2] + d), a3 = _mm512_maskz_loadu_ps(m, acc[3] + d);
    for (int32_t i = i0; i < i1; i++) {
        const __m512 vi = _mm512_maskz_loadu_ps(m, v + i * v_stride + d); /* [16] dims d.. */
        a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[0][i]), vi, a0);
        a1 = _mm512_fmadd_ps(_mm512_set1_ps(p[1][i]), vi, a1);
        a2 = _mm512_fmadd_ps(_mm512_set1_ps(p[2][i]), vi, a2);
        a3 = _mm512_fmadd_ps(_mm512_set1_ps(p[3][i]), vi, a3);
    }
    _mm512_mask_storeu_ps(acc[0] + d, m, a0), _mm512_mask_storeu_ps(acc[1] + d, m, a1);
    _mm512_mask_storeu_ps(acc[2] + d, m, a2), _mm512_mask_storeu_ps(acc[3] + d, m, a3);
}

/* acc_r += Σ_{i0 ≤ i < i1} p_r[i] v_i for four rows, 16 dims at a time (the
 * last 8 masked: dv_pad is a multiple of 8). */
static void values4(const float *const p[4], float *const acc[4], const float *v, int64_t v_stride, int32_t dv_pad,
                    int32_t i0, int32_t i1) {
    int32_t d = 0;
    for (; d + 16 <= dv_pad; d += 16) values4_at(p, acc, v, v_stride, d, (__mmask16)0xffff, i0, i1);
    if (d < dv_pad) values4_at(p, acc, v, v_stride, d, (__mmask16)0x00ff, i0, i1);
}

/* acc[d..d+16) += Σ p[i] v_i[d..] for one row, the lanes of m. */
EF_AVX512_INLINE_K void values1_at(const float *p, float *acc, const float *v, int64_t v_stride, int32_t d,
                                   __mmask16 m, int32_t i0, int32_t i1) {
    __m512 a = _mm512_maskz_loadu_ps(m, acc + d); /* [16] */
    for (int32_t i = i0; i < i1; i++)
        a = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_maskz_loadu_ps(m, v + i * v_stride + d), a);
    _mm512_mask_storeu_ps(acc + d, m, a);
}

/* The same as values4 for one row. */
static void values1(const float *p, float *acc, const float *v, int64_t v_stride, int32_t dv_pad, int32_t i0,
                    int32_t i1) {
    int32_t d = 0;
    for (; d + 16 <= dv_pad; d += 16) values1_at(p, acc, v, v_stride, d, (__mmask16)0xffff, i0, i1);
    if (d < dv_pad) values1_at(p, acc, v, v_stride, d, (__mmask16)0x00ff, i0, i1);
}

void ef_attn_ext_fold_avx512(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, const uint8_t *live,
                             int32_t i0, int32_t i1, float *s) {
    const int32_t dvp = rows->dv_pad;
    const float *p[4];
    float *acc[4];
    int n_group = 0; /* live rows gathered for values4 */
    for (int32_t r = 0; r < rows->n_rows; r++) {
        if (!live[r]) continue;
        float *sr = s + (int64_t)r * TILE;        /* [TILE] */
        float *ar = rows->acc + (int64_t)r * dvp; /* [dv_pad] */
        softmax_row(sr, ar, dvp, &rows->m[r], &rows->l[r]);
        p[n_group] = sr;
        acc[n_group] = ar;
        if (++n_group == 4) {
            values4(p, acc, tile->v, tile->v_stride, dvp, i0, i1);
            n_group = 0;
        }
    }
    for (int k = 0; k < n_group; k++) values1(p[k], acc[k], tile->v, tile->v_stride, dvp, i0, i1);
}

#else /* built without AVX-512 flags: ef_attn_ext_pick_kernels never picks these */

int ef_attn_ext_avx512_built(void) { return 0; }

void ef_attn_ext_scores_avx512(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s) {
    (void)rows, (void)tile, (void)s;
}

void ef_attn_ext_fold_avx512(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, const uint8_t *live,
                             int32_t i0, int32_t i1, float *s) {
    (void)rows, (void)tile, (void)live, (void)i0, (void)i1, (void)s;
}

void ef_attn_ext_exp2_avx512(const float *x, float *y, int32_t n) { (void)x, (void)y, (void)n; }

#endif
