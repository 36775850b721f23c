/* AVX2 + FMA tile kernels of the tiled ef_cpu_attn_ext (attn_ext_tile.h);
 * the scalar reference pair is in attn_ext_tile.c.
 *
 * Scores: 4 query rows × 16 keys per register block, keys read from the
 * transposed tile (8 keys per load), query elements broadcast — no
 * horizontal sums. Fold: the base-2 softmax weights 8 at a time with a
 * vector exp2 (exp2_8: ≤ 3e-7 relative, exact 0 for masked lanes), then
 * acc += Σ p·v for 4 rows × 16 value dims per register block.
 * Every score lane and every acc lane is one chain of FMAs in a fixed order
 * (d for scores, i for values), whichever block a row falls in, so a row's
 * bits do not depend on the other rows of its task. */
#include "cpu/attn_ext_tile.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <math.h>

#include "cpu/simd_avx2.h"

int ef_attn_ext_avx2_built(void) { return 1; }

enum { TILE = EF_ATTN_EXT_TILE };

EF_AVX2_INLINE const float *query_row(const ef_attn_ext_rows *rows, int32_t r) {
    return rows->q + (r / rows->group) * rows->q_tstride + (int64_t)(r % rows->group) * rows->dk;
}

/* ---- scores ---- */

/* s_r[c..c+16) for the four rows q[0..3], c < cols. */
static void scores4(const float *const q[4], const float *kt, int32_t dk, int32_t cols, float scale,
                    float *const s[4]) {
    const __m256 sc = _mm256_set1_ps(scale);
    for (int32_t c = 0; c < cols; c += 16) {
        __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(); /* [8] row 0, keys c.., c+8.. */
        __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(); /* [8] row 1 */
        __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps(); /* [8] row 2 */
        __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps(); /* [8] row 3 */
        const float *k = kt + c; /* row d: k + d*TILE */
        for (int32_t d = 0; d < dk; d++, k += TILE) {
            const __m256 k0 = _mm256_loadu_ps(k), k1 = _mm256_loadu_ps(k + 8); /* [8] keys, element d */
            __m256 qb = _mm256_broadcast_ss(q[0] + d);
            a00 = _mm256_fmadd_ps(qb, k0, a00), a01 = _mm256_fmadd_ps(qb, k1, a01);
            qb = _mm256_broadcast_ss(q[1] + d);
            a10 = _mm256_fmadd_ps(qb, k0, a10), a11 = _mm256_fmadd_ps(qb, k1, a11);
            qb = _mm256_broadcast_ss(q[2] + d);
            a20 = _mm256_fmadd_ps(qb, k0, a20), a21 = _mm256_fmadd_ps(qb, k1, a21);
            qb = _mm256_broadcast_ss(q[3] + d);
            a30 = _mm256_fmadd_ps(qb, k0, a30), a31 = _mm256_fmadd_ps(qb, k1, a31);
        }
        _mm256_storeu_ps(s[0] + c, _mm256_mul_ps(a00, sc)), _mm256_storeu_ps(s[0] + c + 8, _mm256_mul_ps(a01, sc));
        _mm256_storeu_ps(s[1] + c, _mm256_mul_ps(a10, sc)), _mm256_storeu_ps(s[1] + c + 8, _mm256_mul_ps(a11, sc));
        _mm256_storeu_ps(s[2] + c, _mm256_mul_ps(a20, sc)), _mm256_storeu_ps(s[2] + c + 8, _mm256_mul_ps(a21, sc));
        _mm256_storeu_ps(s[3] + c, _mm256_mul_ps(a30, sc)), _mm256_storeu_ps(s[3] + c + 8, _mm256_mul_ps(a31, sc));
    }
}

/* The same for one row. */
static void scores1(const float *q, const float *kt, int32_t dk, int32_t cols, float scale, float *s) {
    const __m256 sc = _mm256_set1_ps(scale);
    for (int32_t c = 0; c < cols; c += 16) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(); /* [8] keys c.., c+8.. */
        const float *k = kt + c;
        for (int32_t d = 0; d < dk; d++, k += TILE) {
            const __m256 qb = _mm256_broadcast_ss(q + d);
            a0 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k), a0);
            a1 = _mm256_fmadd_ps(qb, _mm256_loadu_ps(k + 8), a1);
        }
        _mm256_storeu_ps(s + c, _mm256_mul_ps(a0, sc));
        _mm256_storeu_ps(s + c + 8, _mm256_mul_ps(a1, sc));
    }
}

void ef_attn_ext_scores_avx2(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s) {
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

/* 2^x for 8 lanes x ≤ 0 (base-2 scores minus their max; −inf for masked
 * ones). x = n + f with n = round(x), |f| ≤ 1/2 and f exact: the rounding
 * comes from adding 1.5·2²³ (+127, the exponent bias), whose low mantissa
 * bits are then n + 127, shifted into an exponent field as 2ⁿ. 2^f is a
 * degree-5 polynomial with constant term 1: the minimax fit of e^g on
 * [−ln2/2, ln2/2] with g = f·ln2 folded into its coefficients (c_k·ln2^k;
 * 9.2e-8 in exact arithmetic; with float rounding within 3e-7 relative,
 * checked by test_attn_ext). x ≤ −127 (−inf included; in fact x < −126.5)
 * gives n = −127, whose exponent field is 0: the lane is exactly 0, so
 * masked positions add nothing. */
EF_AVX2_INLINE __m256 exp2_8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
    const __m256 shift = _mm256_set1_ps(12582912.0f + 127.0f); /* 1.5·2²³ + bias */
    const __m256 t = _mm256_add_ps(x, shift); /* low bits: n + 127 */
    const __m256 n = _mm256_sub_ps(t, shift);
    const __m256 f = _mm256_sub_ps(x, n);
    __m256 p = _mm256_set1_ps(1.326472731e-03f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.671512991e-03f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550733581e-02f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.402224243e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931470037e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    const __m256i two_n = _mm256_slli_epi32(_mm256_castps_si256(t), 23); /* (n + 127) << 23 = 2ⁿ */
    return _mm256_mul_ps(p, _mm256_castsi256_ps(two_n));
}

void ef_attn_ext_exp2_avx2(const float *x, float *y, int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp2_8(_mm256_loadu_ps(x + i)));
    if (i < n) { /* the tail through a padded block */
        float in[8], out[8];
        for (int32_t k = 0; k < 8; k++) in[k] = i + k < n ? x[i + k] : 0.0f;
        _mm256_storeu_ps(out, exp2_8(_mm256_loadu_ps(in)));
        for (int32_t k = 0; i + k < n; k++) y[i + k] = out[k];
    }
}

/* Row r's online-softmax step: s[TILE] becomes the weights p, l and m are
 * updated and acc[dv_pad] rescaled to the new max. */
static void softmax_row(float *s, float *acc, int32_t dv_pad, float *m, float *l) {
    __m256 mx = _mm256_loadu_ps(s); /* [8] lane maxima */
    for (int32_t i = 8; i < TILE; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + i));
    float tile_max = -INFINITY;
    float lanes[8];
    _mm256_storeu_ps(lanes, mx);
    for (int k = 0; k < 8; k++) tile_max = lanes[k] > tile_max ? lanes[k] : tile_max;
    const float m_new = tile_max > *m ? tile_max : *m;
    /* 0 when nothing was summed yet; 1 when the max stays; else the vector
     * exp2 in lane 0 (cheaper than a libm call) */
    const float corr = m_new == *m ? 1.0f : _mm256_cvtss_f32(exp2_8(_mm256_set1_ps(*m - m_new)));
    const __m256 mv = _mm256_set1_ps(m_new);
    __m256 sum = _mm256_setzero_ps(); /* [8] lane sums of p */
    for (int32_t i = 0; i < TILE; i += 8) {
        const __m256 p = exp2_8(_mm256_sub_ps(_mm256_loadu_ps(s + i), mv));
        _mm256_storeu_ps(s + i, p);
        sum = _mm256_add_ps(sum, p);
    }
    *l = *l * corr + ef_avx2_hsum(sum);
    *m = m_new;
    if (corr != 1.0f) {
        const __m256 cv = _mm256_set1_ps(corr);
        for (int32_t d = 0; d < dv_pad; d += 8) _mm256_storeu_ps(acc + d, _mm256_mul_ps(_mm256_loadu_ps(acc + d), cv));
    }
}

/* acc_r += Σ_{i0 ≤ i < i1} p_r[i] v_i for four rows. */
static void values4(const float *const p[4], float *const acc[4], const float *v, int64_t v_stride, int32_t dv_pad,
                    int32_t i0, int32_t i1) {
    int32_t d = 0;
    for (; d + 16 <= dv_pad; d += 16) {
        __m256 a00 = _mm256_loadu_ps(acc[0] + d), a01 = _mm256_loadu_ps(acc[0] + d + 8); /* [8] row 0 */
        __m256 a10 = _mm256_loadu_ps(acc[1] + d), a11 = _mm256_loadu_ps(acc[1] + d + 8); /* [8] row 1 */
        __m256 a20 = _mm256_loadu_ps(acc[2] + d), a21 = _mm256_loadu_ps(acc[2] + d + 8); /* [8] row 2 */
        __m256 a30 = _mm256_loadu_ps(acc[3] + d), a31 = _mm256_loadu_ps(acc[3] + d + 8); /* [8] row 3 */
        for (int32_t i = i0; i < i1; i++) {
            const float *vi = v + i * v_stride + d;
            const __m256 v0 = _mm256_loadu_ps(vi), v1 = _mm256_loadu_ps(vi + 8); /* [8] dims d.., d+8.. */
            __m256 pb = _mm256_broadcast_ss(p[0] + i);
            a00 = _mm256_fmadd_ps(pb, v0, a00), a01 = _mm256_fmadd_ps(pb, v1, a01);
            pb = _mm256_broadcast_ss(p[1] + i);
            a10 = _mm256_fmadd_ps(pb, v0, a10), a11 = _mm256_fmadd_ps(pb, v1, a11);
            pb = _mm256_broadcast_ss(p[2] + i);
            a20 = _mm256_fmadd_ps(pb, v0, a20), a21 = _mm256_fmadd_ps(pb, v1, a21);
            pb = _mm256_broadcast_ss(p[3] + i);
            a30 = _mm256_fmadd_ps(pb, v0, a30), a31 = _mm256_fmadd_ps(pb, v1, a31);
        }
        _mm256_storeu_ps(acc[0] + d, a00), _mm256_storeu_ps(acc[0] + d + 8, a01);
        _mm256_storeu_ps(acc[1] + d, a10), _mm256_storeu_ps(acc[1] + d + 8, a11);
        _mm256_storeu_ps(acc[2] + d, a20), _mm256_storeu_ps(acc[2] + d + 8, a21);
        _mm256_storeu_ps(acc[3] + d, a30), _mm256_storeu_ps(acc[3] + d + 8, a31);
    }
    if (d < dv_pad) { /* the last 8 dims */
        __m256 a0 = _mm256_loadu_ps(acc[0] + d), a1 = _mm256_loadu_ps(acc[1] + d); /* [8] rows 0, 1 */
        __m256 a2 = _mm256_loadu_ps(acc[2] + d), a3 = _mm256_loadu_ps(acc[3] + d); /* [8] rows 2, 3 */
        for (int32_t i = i0; i < i1; i++) {
            const __m256 v0 = _mm256_loadu_ps(v + i * v_stride + d); /* [8] */
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p[0] + i), v0, a0);
            a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p[1] + i), v0, a1);
            a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p[2] + i), v0, a2);
            a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p[3] + i), v0, a3);
        }
        _mm256_storeu_ps(acc[0] + d, a0), _mm256_storeu_ps(acc[1] + d, a1);
        _mm256_storeu_ps(acc[2] + d, a2), _mm256_storeu_ps(acc[3] + d, a3);
    }
}

/* The same for one row. */
static void values1(const float *p, float *acc, const float *v, int64_t v_stride, int32_t dv_pad, int32_t i0,
                    int32_t i1) {
    for (int32_t d = 0; d < dv_pad; d += 8) {
        __m256 a = _mm256_loadu_ps(acc + d); /* [8] */
        for (int32_t i = i0; i < i1; i++)
            a = _mm256_fmadd_ps(_mm256_broadcast_ss(p + i), _mm256_loadu_ps(v + i * v_stride + d), a);
        _mm256_storeu_ps(acc + d, a);
    }
}

void ef_attn_ext_fold_avx2(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, const uint8_t *live,
                           int32_t i0, int32_t i1, float *s) {
    const int32_t dvp = rows->dv_pad;
    const float *p[4];
    float *acc[4];
    int n_group = 0; /* live rows gathered for values4 */
    for (int32_t r = 0; r < rows->n_rows; r++) {
        if (!live[r]) continue;
        float *sr = s + (int64_t)r * TILE;          /* [TILE] */
        float *ar = rows->acc + (int64_t)r * dvp;   /* [dv_pad] */
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

#else /* built without AVX2 flags: ef_attn_ext_pick_kernels stays on the reference */

int ef_attn_ext_avx2_built(void) { return 0; }

void ef_attn_ext_scores_avx2(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s) {
    (void)rows, (void)tile, (void)s;
}

void ef_attn_ext_fold_avx2(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, const uint8_t *live,
                           int32_t i0, int32_t i1, float *s) {
    (void)rows, (void)tile, (void)live, (void)i0, (void)i1, (void)s;
}

void ef_attn_ext_exp2_avx2(const float *x, float *y, int32_t n) { (void)x, (void)y, (void)n; }

#endif
