/* Q4_0 and Q4_1 with AVX2: the unpackers into the group form of qdot.h
 * (scalar references: qdot_q4.c; the bytes must match) and Q4_0's fused
 * row kernels (scalar reference: the group path, qdot_core.c), which
 * expand a block's 16 bytes to 32 int8 codes in one register (low nibbles
 * are elements 0..15, high nibbles 16..31) and continue as Q8_0 does. */
#include "cpu/qdot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

static inline float load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* 32 codes of one block, minus offset, stored at q. */
static inline void nibbles(const uint8_t *qs, int offset, int8_t *q) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs); /* [16] u8 */
    const __m128i m4 = _mm_set1_epi8(0x0F), off = _mm_set1_epi8((char)offset);
    _mm_storeu_si128((__m128i *)q, _mm_sub_epi8(_mm_and_si128(v, m4), off));
    _mm_storeu_si128((__m128i *)(q + 16), _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m4), off));
}

/* Fields of the chunks past n32, as the references leave them (zero). */
static inline void clear_tail(int32_t n32, ef_qgroup_w *g) {
    for (int32_t b = n32; b < 8; b++) {
        g->d[b] = g->dmin[b] = 0.0f;
        g->scale[2 * b] = g->scale[2 * b + 1] = 0;
        g->min[2 * b] = g->min[2 * b + 1] = 0;
        _mm256_storeu_si256((__m256i *)(g->q + 32 * b), _mm256_setzero_si256());
    }
}

void ef_qunpack_q4_0_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    _mm256_storeu_si256((__m256i *)g->scale, _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)g->min, _mm256_setzero_si256());
    _mm256_storeu_ps(g->dmin, _mm256_setzero_ps());
    for (int32_t b = 0; b < n32; b++, src += 18) {
        g->d[b] = load_f16(src);
        nibbles(src + 2, 8, g->q + 32 * b);
    }
    clear_tail(n32, g);
}

void ef_qunpack_q4_1_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) {
    _mm256_storeu_si256((__m256i *)g->scale, _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)g->min, _mm256_set1_epi16(1));
    for (int32_t b = 0; b < n32; b++, src += 20) {
        g->d[b] = load_f16(src);
        g->dmin[b] = -load_f16(src + 2);
        nibbles(src + 4, 0, g->q + 32 * b);
    }
    clear_tail(n32, g);
}

/* The 32 unsigned nibbles (0..15) of a Q4_0 block, in element order. */
static inline __m256i q4_0_nibbles(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs); /* [16] u8 */
    const __m128i m4 = _mm_set1_epi8(0x0F);
    return _mm256_setr_m128i(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
}

/* The 32 codes of a Q4_0 block, minus 8. */
static inline __m256i q4_0_codes(const uint8_t *qs) { return _mm256_sub_epi8(q4_0_nibbles(qs), _mm256_set1_epi8(8)); }

/* out[r] = rows[r] · activations for r < R (1 or EF_QROWS, a constant
 * after inlining), one [8] lane-sum chain per row, blocks ascending, then
 * ef_avx2_hsum: a row's bits do not depend on R. Σ (q − 8)·a per 4
 * elements is taken as Σ q·a − 8·Σ a (the same integers; unsigned nibbles
 * × signed activations is the form vpmaddubsw multiplies, and Σ a is
 * shared by the rows of a pass). */
static inline __attribute__((always_inline)) void rows_int(const uint8_t *const *rows, int R,
                                                           const ef_qgroup_a *xa, int64_t in, float *out) {
    const __m256i ones16 = _mm256_set1_epi16(1), ones8 = _mm256_set1_epi8(1);
    __m256 acc[EF_QROWS]; /* [R][8] lane sums */
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < in / 32; b++) {
        const ef_qgroup_a *a = xa + (b >> 3);
        const __m256i aq = _mm256_loadu_si256((const __m256i *)(a->q + 32 * (b & 7))); /* [32] i8 */
        const __m256i asum8 = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, aq), ones16), 3); /* [8] */
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = rows[r] + b * 18;
            const __m256i qa = _mm256_madd_epi16(_mm256_maddubs_epi16(q4_0_nibbles(blk + 2), aq), ones16); /* [8] */
            const __m256 s = _mm256_cvtepi32_ps(_mm256_sub_epi32(qa, asum8));                             /* [8] */
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(load_f16(blk) * a->d[b & 7]), s, acc[r]);
        }
    }
    if (R == EF_QROWS) {
        _mm_storeu_ps(out, ef_avx2_hsum4(acc[0], acc[1], acc[2], acc[3]));
        return;
    }
    for (int r = 0; r < R; r++) out[r] = ef_avx2_hsum(acc[r]);
}

float ef_qrow_q4_0_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    float out;
    rows_int(&row, 1, xa, in, &out);
    return out;
}

void ef_qrows_q4_0_int_avx2(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    rows_int(rows, EF_QROWS, xa, in, out);
}

float ef_qrow_q4_0_f32_avx2(const uint8_t *row, const float *x, int64_t in) {
    __m256 acc = _mm256_setzero_ps(); /* [8] lane sums */
    for (int64_t b = 0; b < in / 32; b++, row += 18, x += 32) {
        const __m256i q = q4_0_codes(row + 2); /* [32] i8 */
        const __m128i q_lo = _mm256_castsi256_si128(q), q_hi = _mm256_extracti128_si256(q, 1);
        __m256 bacc = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q_lo)), _mm256_loadu_ps(x)); /* [8] */
        bacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q_lo, 8))), _mm256_loadu_ps(x + 8), bacc);
        bacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q_hi)), _mm256_loadu_ps(x + 16), bacc);
        bacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q_hi, 8))), _mm256_loadu_ps(x + 24), bacc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(load_f16(row)), bacc, acc);
    }
    return ef_avx2_hsum(acc);
}

#else

float ef_qrow_q4_0_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in) {
    (void)row, (void)xa, (void)in;
    return 0.0f; /* never dispatched without AVX2 */
}
void ef_qrows_q4_0_int_avx2(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out) {
    (void)rows, (void)xa, (void)in, (void)out;
}
float ef_qrow_q4_0_f32_avx2(const uint8_t *row, const float *x, int64_t in) {
    (void)row, (void)x, (void)in;
    return 0.0f;
}

void ef_qunpack_q4_0_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q4_0(src, n32, g); }
void ef_qunpack_q4_1_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g) { ef_qunpack_q4_1(src, n32, g); }

#endif
