/* Q8_0 with AVX2: the unpacker into the group form of qdot.h (scalar
 * reference: qdot_q8_0.c; the bytes must match), and the fused row kernels
 * (scalar reference: the group path, qdot_core.c), which read the 34-byte
 * blocks directly:
 *   integer-dot: per block, |w|·sign(w)a (maddubs), pairs summed (madd by
 *                1), one FMA by d_w·d_a into 8 F32 lanes;
 *   weight-only: per block, 4 FMAs of converted codes with x, then one FMA
 *                by d_w. */
#include "cpu/qdot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

void ef_qunpack_q8_0_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    _mm256_storeu_si256((__m256i *)g->scale, _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)g->min, _mm256_setzero_si256());
    _mm256_storeu_ps(g->dmin, _mm256_setzero_ps());
    int32_t b = 0;
    for (; b < n32; b++, src += 34) {
        uint16_t h;
        memcpy(&h, src, 2);
        g->d[b] = _cvtsh_ss(h);
        _mm256_storeu_si256((__m256i *)(g->q + 32 * b), _mm256_loadu_si256((const __m256i *)(src + 2)));
    }
    for (; b < 8; b++) { /* unused chunks as the reference leaves them */
        g->d[b] = 0.0f;
        g->scale[2 * b] = g->scale[2 * b + 1] = 0;
        _mm256_storeu_si256((__m256i *)(g->q + 32 * b), _mm256_setzero_si256());
    }
}

static inline float load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* out[r] = rows[r] · activations for r < R (1 or EF_QROWS, a constant
 * after inlining): one [8] lane-sum chain per row, blocks ascending, then
 * ef_avx2_hsum, so a row's bits do not depend on R; the rows share each
 * activation load and stream side by side. */
static inline __attribute__((always_inline)) void rows_int(const uint8_t *const *rows, int R,
                                                           const ef_qgroup_a *xa, int64_t in, float *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[EF_QROWS]; /* [R][8] lane sums */
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < in / 32; b++) {
        const ef_qgroup_a *a = xa + (b >> 3);
        const __m256i aq = _mm256_loadu_si256((const __m256i *)(a->q + 32 * (b & 7))); /* [32] i8 */
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = rows[r] + b * 34;
            const __m256i wq = _mm256_loadu_si256((const __m256i *)(blk + 2)); /* [32] i8 */
            const __m256i prod = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(aq, wq)); /* [16] */
            const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, ones)); /* [8] */
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(load_f16(blk) * a->d[b & 7]), s, acc[r]);
        }
    }
    if (R == EF_QROWS) {
        _mm_storeu_ps(out, ef_avx2_hsum4(acc[0], acc[1], acc[2], acc[3]));
        return;
    }
    for (int r = 0; r < R; r++) out[r] = ef_avx2_hsum(acc[r]);
}

float ef_qrow_q8_0_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    float out;
    rows_int(&row, 1, xa, in, &out);
    return out;
}

void ef_qrows_q8_0_int_avx2(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    rows_int(rows, EF_QROWS, xa, in, out);
}

float ef_qrow_q8_0_f32_avx2(const uint8_t *row, const float *x, int64_t in) {
    __m256 acc = _mm256_setzero_ps(); /* [8] lane sums */
    for (int64_t b = 0; b < in / 32; b++, row += 34, x += 32) {
        __m256 bacc = _mm256_setzero_ps(); /* [8] Σ q·x of this block */
        for (int k = 0; k < 4; k++) {
            const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + 2 + 8 * k))));
            bacc = _mm256_fmadd_ps(q, _mm256_loadu_ps(x + 8 * k), bacc);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(load_f16(row)), bacc, acc);
    }
    return ef_avx2_hsum(acc);
}

#else

float ef_qrow_q8_0_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f; /* never dispatched without AVX2 */
}
void ef_qrows_q8_0_int_avx2(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    (void)rows, (void)xa, (void)in, (void)out;
}
float ef_qrow_q8_0_f32_avx2(const uint8_t *row, const float *x, int64_t in) {
    (void)row, (void)x, (void)in;
    return 0.0f;
}

void ef_qunpack_q8_0_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q8_0(src, n32, g); }

#endif
