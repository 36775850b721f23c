/* AVX2 kernels of the sparse FFN decode (sparse_ops.h) for F32, F16, Q8_0
 * and Q4_0 weights: the inner kernels under the shared loops of
 * sparse_ffn_drive.h. Gathered Q8_0/Q4_0 rows reuse the fused weight-only
 * row kernels of the quantized matmul (qdot.h); the accumulation adds
 * F32/F16 neuron rows four at a time per 8 outputs, and Q8_0/Q4_0
 * (column-blocked) a whole block of 32 neurons per 64 outputs, summing in
 * registers before the block's scales are applied. The scalar reference is
 * sparse_ffn.c. */
#include "cpu/sparse_ops.h"

#include "quant/types.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <math.h>

#include "cpu/qdot.h"
#include "cpu/simd_avx2.h"
#include "cpu/sparse_ffn_drive.h"

int ef_cpu_sparse_avx2_built(void) { return 1; }

/* x · row for F32/F16 rows of n elements. */
EF_AVX2_INLINE float dot_row_f(uint32_t type, const void *row, const float *x, int64_t n) {
    __m256 acc = _mm256_setzero_ps(); /* [8] lane sums */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(ef_avx2_load_w8(type, row, i), _mm256_loadu_ps(x + i), acc);
    if (i < n) {
        const __m256i m = ef_avx2_first_lanes(n - i);
        acc = _mm256_fmadd_ps(ef_avx2_load_w_tail(type, row, i, n - i), _mm256_maskload_ps(x + i, m), acc);
    }
    return ef_avx2_hsum(acc);
}

/* x · row for every type the kernels take (ef_sparse_dot_fn). */
static float dot_row(uint32_t type, const uint8_t *row, const float *x, int64_t n) {
    switch (type) {
    case EF_TYPE_Q8_0: return ef_qrow_q8_0_f32_avx2(row, x, n);
    case EF_TYPE_Q4_0: return ef_qrow_q4_0_f32_avx2(row, x, n);
    default: return dot_row_f(type, row, x, n);
    }
}

void ef_cpu_sparse_rows_avx2(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                             float *y) {
    ef_sparse_rows_drive(w, x, idx, k0, k1, y, dot_row);
}

/* 32 Q8_0 codes (int8) as F32. v: [4][8]. */
EF_AVX2_INLINE void codes_q8(const uint8_t *c, __m256 v[4]) {
    for (int k = 0; k < 4; k++)
        v[k] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(c + 8 * k))));
}

/* 32 Q4_0 codes (q − 8) as F32 from 16 bytes: low nibbles are elements
 * 0..15, high nibbles 16..31. v: [4][8]. */
EF_AVX2_INLINE void codes_q4(const uint8_t *c, __m256 v[4]) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)c); /* [16] bytes, two codes each */
    const __m128i nib = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, nib), eight);                    /* [16] elems 0..15 */
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), nib), eight); /* [16] elems 16..31 */
    v[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    v[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    v[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    v[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

/* y[0..n_out) += Σ_r a[r] · rows[r] for nr (1..4) F32/F16 rows (ef_sparse_axpy_fn; a scalar tail). */
static void axpy_f(uint32_t type, const uint8_t *const rows[4], const float a[4], int nr, int64_t n_out, float *y) {
    int64_t c = 0;
    for (; c + 8 <= n_out; c += 8) {
        __m256 acc = _mm256_loadu_ps(y + c); /* [8] */
        for (int r = 0; r < nr; r++) acc = _mm256_fmadd_ps(_mm256_set1_ps(a[r]), ef_avx2_load_w8(type, rows[r], c), acc);
        _mm256_storeu_ps(y + c, acc);
    }
    for (; c < n_out; c++)
        for (int r = 0; r < nr; r++) {
            const float w = type == EF_TYPE_F32 ? ((const float *)rows[r])[c]
                                                : _cvtsh_ss(((const uint16_t *)rows[r])[c]);
            y[c] = fmaf(a[r], w, y[c]);
        }
}

/* One block of 32 neurons over ng (1 or 2; a constant where inlined) groups
 * of 32 outputs from o: acc = Σ_r a_r · codes_r[o..) for the n active rows,
 * then y[o..) += scale · acc. Each 8 outputs have their own accumulator, so
 * two groups make 8 independent FMA chains (one group's 4 chains waited on
 * the FMA latency). */
EF_AVX2_INLINE void block_cols(int q8, int ng, const uint8_t *const *rows, const float *ak, int n,
                               const uint16_t *sc, int64_t o, float *y) {
    __m256 acc[8]; /* [4·ng][8] Σ a·code of outputs o.. */
    for (int i = 0; i < 4 * ng; i++) acc[i] = _mm256_setzero_ps();
    for (int r = 0; r < n; r++) {
        const __m256 a = _mm256_set1_ps(ak[r]);
        for (int g = 0; g < ng; g++) {
            __m256 v[4]; /* [4][8] codes of outputs o + 32g .. + 31 */
            if (q8) codes_q8(rows[r] + o + 32 * g, v);
            else codes_q4(rows[r] + (o + 32 * g) / 2, v);
            for (int i = 0; i < 4; i++) acc[4 * g + i] = _mm256_fmadd_ps(a, v[i], acc[4 * g + i]);
        }
    }
    for (int i = 0; i < 4 * ng; i++) {
        float *yi = y + o + 8 * i; /* [8] */
        _mm256_storeu_ps(yi, _mm256_fmadd_ps(ef_avx2_load_w8(EF_TYPE_F16, sc, o + 8 * i), acc[i], _mm256_loadu_ps(yi)));
    }
}

/* A block of 32 neurons over all outputs, 64 at a time (ef_sparse_block_fn). */
static void block_all(int q8, const uint8_t *const *rows, const float *a, int n, const uint16_t *sc, int64_t n_out,
                      float *y) {
    int64_t o = 0;
    if (q8) {
        for (; o + 64 <= n_out; o += 64) block_cols(1, 2, rows, a, n, sc, o, y);
        if (o < n_out) block_cols(1, 1, rows, a, n, sc, o, y);
    } else {
        for (; o + 64 <= n_out; o += 64) block_cols(0, 2, rows, a, n, sc, o, y);
        if (o < n_out) block_cols(0, 1, rows, a, n, sc, o, y);
    }
}

void ef_cpu_sparse_accum_avx2(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                              float *y) {
    ef_sparse_accum_drive(d, idx, a, k0, k1, y, block_all, axpy_f);
}

#else /* built without AVX2 flags: the dispatcher stays on the reference */

int ef_cpu_sparse_avx2_built(void) { return 0; }

void ef_cpu_sparse_rows_avx2(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                             float *y) {
    (void)w, (void)x, (void)idx, (void)k0, (void)k1, (void)y;
}

void ef_cpu_sparse_accum_avx2(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                              float *y) {
    (void)d, (void)idx, (void)a, (void)k0, (void)k1, (void)y;
}

#endif
