/* AVX-512 kernels of the sparse FFN decode (sparse_ops.h) for F32, F16, Q8_0
 * and Q4_0 weights: the inner kernels, 16 lanes wide, under the shared
 * loops of sparse_ffn_drive.h, so the sparse path keeps pace with the dense
 * AVX-512 GEMV. Gathered Q8_0/Q4_0 rows reuse the dense AVX-512 row kernels
 * (qdot_avx512.h). The accumulation sums each output in the same order as
 * the AVX2 kernel (per block of 32 neurons Σ a·code over its rows
 * ascending, then one FMA by the scale; F32/F16: y, then each row, one FMA
 * each), so both give the same bits. The scalar reference is sparse_ffn.c. */
#include "cpu/sparse_ops.h"

#include "quant/types.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/qdot_avx512.h"
#include "cpu/simd_avx512.h"
#include "cpu/sparse_ffn_drive.h"

int ef_cpu_sparse_avx512_built(void) { return 1; }

/* x · row for F32/F16 rows of n elements. */
EF_AVX512_INLINE float dot_row_f(uint32_t type, const void *row, const float *x, int64_t n) {
    __m512 acc = _mm512_setzero_ps(); /* [16] lane sums */
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(ef_avx512_load_w16(type, row, i), _mm512_loadu_ps(x + i), acc);
    if (i < n)
        acc = _mm512_fmadd_ps(ef_avx512_load_w_tail(type, row, i, n - i),
                              _mm512_maskz_loadu_ps(ef_avx512_first16(n - i), x + i), acc);
    return ef_avx512_hsum(acc);
}

/* x · row for every type the kernels take (ef_sparse_dot_fn). */
static float dot_row(uint32_t type, const uint8_t *row, const float *x, int64_t n) {
    switch (type) {
    case EF_TYPE_Q8_0: return ef_qrow_q8_0_f32_avx512(row, x, n);
    case EF_TYPE_Q4_0: return ef_qrow_q4_0_f32_avx512(row, x, n);
    default: return dot_row_f(type, row, x, n);
    }
}

void ef_cpu_sparse_rows_avx512(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                               float *y) {
    ef_sparse_rows_drive(w, x, idx, k0, k1, y, dot_row);
}

/* 32 codes of a column-blocked row as F32, 16 per register. Q8_0: int8
 * [32]; Q4_0: 16 bytes, low nibbles elements 0..15, high 16..31, value q − 8. */
EF_AVX512_INLINE void codes32(int q8, const uint8_t *c, __m512 v[2]) {
    if (q8) {
        v[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)c)));
        v[1] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + 16))));
        return;
    }
    const __m128i raw = _mm_loadu_si128((const __m128i *)c); /* [16] bytes, two codes each */
    const __m128i nib = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    v[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(_mm_and_si128(raw, nib), eight)));
    v[1] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), nib), eight)));
}

/* One block of 32 neurons over ng (1 or 4; a constant where inlined) groups
 * of 32 outputs from o: acc = Σ_r a_r · codes_r, then y += scale · acc;
 * four groups make 8 independent FMA chains. */
EF_AVX512_INLINE void block_cols(int q8, int ng, const uint8_t *const *rows, const float *ak, int n,
                                 const uint16_t *sc, int64_t o, float *y) {
    __m512 acc[8]; /* [2·ng][16] Σ a·code of outputs o.. */
    for (int i = 0; i < 2 * ng; i++) acc[i] = _mm512_setzero_ps();
    for (int r = 0; r < n; r++) {
        const __m512 a = _mm512_set1_ps(ak[r]);
        for (int g = 0; g < ng; g++) {
            __m512 v[2]; /* [2][16] codes of outputs o + 32g .. + 31 */
            codes32(q8, q8 ? rows[r] + o + 32 * g : rows[r] + (o + 32 * g) / 2, v);
            acc[2 * g] = _mm512_fmadd_ps(a, v[0], acc[2 * g]);
            acc[2 * g + 1] = _mm512_fmadd_ps(a, v[1], acc[2 * g + 1]);
        }
    }
    for (int i = 0; i < 2 * ng; i++) {
        float *yi = y + o + 16 * i; /* [16] */
        _mm512_storeu_ps(yi, _mm512_fmadd_ps(ef_avx512_load_w16(EF_TYPE_F16, sc, o + 16 * i), acc[i],
                                             _mm512_loadu_ps(yi)));
    }
}

/* A block of 32 neurons over all outputs, 128 at a time (ef_sparse_block_fn). */
static void block_all(int q8, const uint8_t *const *rows, const float *a, int n, const uint16_t *sc, int64_t n_out,
                      float *y) {
    int64_t o = 0;
    if (q8) {
        for (; o + 128 <= n_out; o += 128) block_cols(1, 4, rows, a, n, sc, o, y);
        for (; o < n_out; o += 32) block_cols(1, 1, rows, a, n, sc, o, y);
    } else {
        for (; o + 128 <= n_out; o += 128) block_cols(0, 4, rows, a, n, sc, o, y);
        for (; o < n_out; o += 32) block_cols(0, 1, rows, a, n, sc, o, y);
    }
}

/* y += Σ_r a[r] · rows[r] for nr (1..4) F32/F16 rows of n_out, the AVX2
 * kernel's order per output (y, then rows 0..nr-1), tail masked
 * (ef_sparse_axpy_fn). */
static void axpy_f(uint32_t type, const uint8_t *const rows[4], const float a[4], int nr, int64_t n_out, float *y) {
    int64_t c = 0;
    for (; c + 16 <= n_out; c += 16) {
        __m512 acc = _mm512_loadu_ps(y + c); /* [16] */
        for (int r = 0; r < nr; r++) acc = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), ef_avx512_load_w16(type, rows[r], c), acc);
        _mm512_storeu_ps(y + c, acc);
    }
    if (c < n_out) {
        const __mmask16 m = ef_avx512_first16(n_out - c);
        __m512 acc = _mm512_maskz_loadu_ps(m, y + c); /* [16] */
        for (int r = 0; r < nr; r++)
            acc = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), ef_avx512_load_w_tail(type, rows[r], c, n_out - c), acc);
        _mm512_mask_storeu_ps(y + c, m, acc);
    }
}

void ef_cpu_sparse_accum_avx512(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                                float *y) {
    ef_sparse_accum_drive(d, idx, a, k0, k1, y, block_all, axpy_f);
}

#else /* built without AVX-512 flags: the dispatcher never picks these */

int ef_cpu_sparse_avx512_built(void) { return 0; }

void ef_cpu_sparse_rows_avx512(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                               float *y) {
    (void)w, (void)x, (void)idx, (void)k0, (void)k1, (void)y;
}

void ef_cpu_sparse_accum_avx512(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                                float *y) {
    (void)d, (void)idx, (void)a, (void)k0, (void)k1, (void)y;
}

#endif
