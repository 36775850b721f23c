/* AVX2 kernels of the sparse FFN decode (sparse_ops.h) for F32, F16, Q8_0
 * and Q4_0 weights. Gathered rows reuse the fused weight-only row kernels
 * of the quantized matmul (qdot.h); the accumulation over neuron rows reads
 * F32/F16 rows four at a time per pass over the output slice, and Q8_0/Q4_0
 * (column-blocked) a whole block of 32 neurons at a time per 32 outputs,
 * summing in registers before the block's scales are applied. Both
 * prefetch the scattered rows ahead. The scalar reference is sparse_ffn.c. */
#include "cpu/sparse_ops.h"

#include "quant/types.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <math.h>

#include "cpu/qdot.h"
#include "cpu/simd_avx2.h"

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

/* Gathered rows are short, scattered streams the hardware prefetcher does
 * not pick up (a 256-wide Q8_0 row is 4 cache lines): ask for the rows
 * PREFETCH_ROWS ahead explicitly, into L2 (measured on Zen 3 with weights
 * far larger than the caches: T1 at 16 rows was best; T0 and NTA were
 * slower than no prefetch at all). */
#define PREFETCH_ROWS 16

EF_AVX2_INLINE void prefetch_row(const uint8_t *row, uint64_t bytes) {
    for (uint64_t off = 0; off < bytes; off += 64) _mm_prefetch((const char *)row + off, _MM_HINT_T1);
}

void ef_cpu_sparse_rows_avx2(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                             float *y) {
    const int64_t in = w->ne[0];
    const uint64_t row_bytes = ef_type_row_size(w->type, in);
    const uint8_t *base = w->data;
    /* idx NULL: rows k0..k1 themselves, a stream the hardware prefetches */
    for (int32_t k = k0; idx && k < k0 + PREFETCH_ROWS && k < k1; k++)
        prefetch_row(base + (uint64_t)idx[k] * row_bytes, row_bytes);
    for (int32_t k = k0; k < k1; k++) {
        if (idx && k + PREFETCH_ROWS < k1) prefetch_row(base + (uint64_t)idx[k + PREFETCH_ROWS] * row_bytes, row_bytes);
        const uint8_t *row = base + (uint64_t)(idx ? idx[k] : k) * row_bytes;
        float v;
        switch (w->type) {
        case EF_TYPE_Q8_0: v = ef_qrow_q8_0_f32_avx2(row, x, in); break;
        case EF_TYPE_Q4_0: v = ef_qrow_q4_0_f32_avx2(row, x, in); break;
        default: v = dot_row_f(w->type, row, x, in); break;
        }
        y[k - k0] = v;
    }
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

/* y[c0..c1) += Σ_r a[r] · rows[r][c0..c1) for nr (1..4) F32/F16 rows (any c0..c1; a scalar tail). */
EF_AVX2_INLINE void axpy_f(uint32_t type, const uint8_t *const rows[4], const float a[4], int nr, int64_t c0,
                           int64_t c1, float *y) {
    int64_t c = c0;
    for (; c + 8 <= c1; c += 8) {
        __m256 acc = _mm256_loadu_ps(y + c); /* [8] */
        for (int r = 0; r < nr; r++) acc = _mm256_fmadd_ps(_mm256_set1_ps(a[r]), ef_avx2_load_w8(type, rows[r], c), acc);
        _mm256_storeu_ps(y + c, acc);
    }
    for (; c < c1; c++)
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
EF_AVX2_INLINE void block_cols(int q8, int ng, const uint8_t *const *rows, const __m256 *ak, int n,
                               const uint16_t *sc, int64_t o, float *y) {
    __m256 acc[8]; /* [4·ng][8] Σ a·code of outputs o.. */
    for (int i = 0; i < 4 * ng; i++) acc[i] = _mm256_setzero_ps();
    for (int r = 0; r < n; r++)
        for (int g = 0; g < ng; g++) {
            __m256 v[4]; /* [4][8] codes of outputs o + 32g .. + 31 */
            if (q8) codes_q8(rows[r] + o + 32 * g, v);
            else codes_q4(rows[r] + (o + 32 * g) / 2, v);
            for (int i = 0; i < 4; i++) acc[4 * g + i] = _mm256_fmadd_ps(ak[r], v[i], acc[4 * g + i]);
        }
    for (int i = 0; i < 4 * ng; i++) {
        float *yi = y + o + 8 * i; /* [8] */
        _mm256_storeu_ps(yi, _mm256_fmadd_ps(ef_avx2_load_w8(EF_TYPE_F16, sc, o + 8 * i), acc[i], _mm256_loadu_ps(yi)));
    }
}

/* Column-blocked Q8_0/Q4_0: for each block of 32 neurons and each group of
 * 32 outputs, Σ a·codes over the block's active neurons is formed in
 * registers and added to y with the block's scales. A block's active rows
 * are read in parallel, 32 bytes at a time, which keeps many memory
 * streams in flight (measured faster than row after row on weights far
 * larger than the caches). */
static void accum_q(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1, float *y) {
    const int q8 = d->type == EF_TYPE_Q8_0;
    const int64_t n_out = d->n_out;
    memset(y, 0, sizeof(float) * (size_t)n_out);
    for (int32_t k = k0; k < k1;) {
        const int32_t b = idx[k] / 32;
        int32_t k_end = k;
        while (k_end < k1 && idx[k_end] / 32 == b) k_end++;
        const uint8_t *rows[32]; /* [n] the block's active rows */
        __m256 ak[32];           /* [n] their weights a, broadcast */
        const int n = k_end - k;
        for (int r = 0; r < n; r++) {
            rows[r] = d->rows + (uint64_t)idx[k + r] * d->row_bytes;
            ak[r] = _mm256_set1_ps(a[k + r]);
        }
        /* the next block's rows, into L2 */
        for (int32_t p = k_end; p < k_end + 32 && p < k1 && idx[p] / 32 <= b + 1; p++)
            prefetch_row(d->rows + (uint64_t)idx[p] * d->row_bytes, d->row_bytes);
        const uint16_t *sc = d->scales + (int64_t)b * d->n_out; /* [n_out] F16 */
        int64_t o = 0;
        if (q8) {
            for (; o + 64 <= n_out; o += 64) block_cols(1, 2, rows, ak, n, sc, o, y);
            if (o < n_out) block_cols(1, 1, rows, ak, n, sc, o, y);
        } else {
            for (; o + 64 <= n_out; o += 64) block_cols(0, 2, rows, ak, n, sc, o, y);
            if (o < n_out) block_cols(0, 1, rows, ak, n, sc, o, y);
        }
        k = k_end;
    }
}

void ef_cpu_sparse_accum_avx2(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                              float *y) {
    if (d->type == EF_TYPE_Q8_0 || d->type == EF_TYPE_Q4_0) {
        accum_q(d, idx, a, k0, k1, y);
        return;
    }
    const int64_t n_out = d->n_out;
    const uint64_t bytes = d->row_bytes;
    memset(y, 0, sizeof(float) * (size_t)n_out);
    for (int32_t k = k0; k < k1; k += 4) {
        const int nr = k1 - k < 4 ? k1 - k : 4;
        const uint8_t *rows[4];
        float ak[4];
        for (int r = 0; r < 4; r++) {
            rows[r] = d->rows + (uint64_t)idx[k + (r < nr ? r : 0)] * bytes;
            ak[r] = r < nr ? a[k + r] : 0.0f;
        }
        for (int32_t p = k + 2 * PREFETCH_ROWS; p < k + 2 * PREFETCH_ROWS + 4 && p < k1; p++)
            prefetch_row(d->rows + (uint64_t)idx[p] * bytes, bytes);
        axpy_f(d->type, rows, ak, nr, 0, n_out, y);
    }
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
