/* Decode GEMV with AVX-512: y[r] = x · W[r] for one token, F32, F16 and
 * BF16 weights, and Q8_0 / Q4_0 weights in weight-only mode (exact d·q in
 * registers; qmatmul.c sends them here) (see matmul_kernels.h; the AVX2
 * twin is gemv_avx2.c, the scalar reference cpu_matmul.c).
 *
 * Memory bound: every weight byte is read once and converted to F32 in
 * registers; eight rows share each load of x (eight independent FMA chains
 * cover the FMA latency). Each row keeps one 16-lane accumulator over k
 * ascending, the tail masked to zero, then ef_avx512_hsum: the order
 * gemm_avx512.c uses, so GEMV and GEMM give the same bits for a token. A
 * row's sum does not depend on which rows share its group, so the thread
 * split (groups of EF_MATMUL_ROW_GROUP) changes nothing. */
#include "cpu/matmul_kernels.h"

#include "quant/types.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx512.h"

enum { GEMV_ROWS = 8 }; /* rows per pass over x */

/* out[i] = x · rows[i] for i < nr (a constant after inlining: 1, 2 or
 * GEMV_ROWS); rows: row pointers (repeats allowed); x: [in]. */
EF_AVX512_INLINE void gemv_nrows(uint32_t type, const void *const *rows, const float *x, int64_t in, float *out,
                                 const int nr) {
    __m512 acc[GEMV_ROWS]; /* [row][16] lane sums */
    for (int i = 0; i < nr; i++) acc[i] = _mm512_setzero_ps();
    int64_t k = 0;
    if (ef_avx512_dense_q(type)) /* a block of 32 at a time (rows are whole blocks), same order */
        for (; k + 32 <= in; k += 32) {
            const __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16); /* [16], [16] */
            for (int i = 0; i < nr; i++) {
                __m512 w0, w1; /* [16], [16] */
                ef_avx512_load_q32(type, rows[i], k, &w0, &w1);
                acc[i] = _mm512_fmadd_ps(w1, x1, _mm512_fmadd_ps(w0, x0, acc[i]));
            }
        }
    for (; k + 16 <= in; k += 16) {
        const __m512 xv = _mm512_loadu_ps(x + k); /* [16] */
        for (int i = 0; i < nr; i++) acc[i] = _mm512_fmadd_ps(ef_avx512_load_w16(type, rows[i], k), xv, acc[i]);
    }
    if (k < in) { /* tail: lanes past the end are 0·0 */
        const __m512 xv = _mm512_maskz_loadu_ps(ef_avx512_first16(in - k), x + k); /* [16] */
        for (int i = 0; i < nr; i++)
            acc[i] = _mm512_fmadd_ps(ef_avx512_load_w_tail(type, rows[i], k, in - k), xv, acc[i]);
    }
    for (int i = 0; i < nr; i++) out[i] = ef_avx512_hsum(acc[i]);
}

/* x · the GEMV_ROWS rows. Q8_0 and Q4_0 go 1 and 2 rows at a time: reading
 * eight rows of 34- or 18-byte blocks side by side ran 2.5× (Q8_0) and
 * 1.3× (Q4_0) slower from DRAM than one or two on Zen 4 (F16/F32 rows do
 * not lose); a row's sum is the same either way. */
EF_AVX512_INLINE void gemv_8rows(uint32_t type, const void *const rows[GEMV_ROWS], const float *x, int64_t in,
                                 float out[GEMV_ROWS]) {
    if (type == EF_TYPE_Q8_0)
        for (int j = 0; j < GEMV_ROWS; j++) gemv_nrows(type, rows + j, x, in, out + j, 1);
    else if (type == EF_TYPE_Q4_0)
        for (int j = 0; j < GEMV_ROWS; j += 2) gemv_nrows(type, rows + j, x, in, out + j, 2);
    else
        gemv_nrows(type, rows, x, in, out, GEMV_ROWS);
}

/* The row loop for one weight type (a constant after inlining). */
EF_AVX512_INLINE void gemv_rows(uint32_t type, const ef_tensor *w, const float *x, float *y, int64_t r0,
                                int64_t r1) {
    const int64_t in = w->ne[0];
    const uint64_t row_bytes = ef_type_row_size(type, in);
    const uint8_t *base = w->data;
    for (int64_t r = r0; r < r1; r += GEMV_ROWS) {
        const int64_t nr = r1 - r < GEMV_ROWS ? r1 - r : GEMV_ROWS;
        const void *rows[GEMV_ROWS]; /* a short group repeats its last row (cached); those sums are dropped */
        for (int i = 0; i < GEMV_ROWS; i++) rows[i] = base + (uint64_t)(r + (i < nr ? i : nr - 1)) * row_bytes;
        float out[GEMV_ROWS]; /* [GEMV_ROWS] */
        gemv_8rows(type, rows, x, in, out);
        for (int64_t i = 0; i < nr; i++) y[r + i] = out[i];
    }
}

static void gemv_f32(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    gemv_rows(EF_TYPE_F32, w, x, y, r0, r1);
}
static void gemv_f16(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    gemv_rows(EF_TYPE_F16, w, x, y, r0, r1);
}
static void gemv_bf16(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    gemv_rows(EF_TYPE_BF16, w, x, y, r0, r1);
}
static void gemv_q8_0(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    gemv_rows(EF_TYPE_Q8_0, w, x, y, r0, r1);
}
static void gemv_q4_0(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    gemv_rows(EF_TYPE_Q4_0, w, x, y, r0, r1);
}

void ef_cpu_gemv_avx512(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    switch (w->type) {
    case EF_TYPE_F32: gemv_f32(w, x, y, r0, r1); break;
    case EF_TYPE_F16: gemv_f16(w, x, y, r0, r1); break;
    case EF_TYPE_BF16: gemv_bf16(w, x, y, r0, r1); break;
    case EF_TYPE_Q8_0: gemv_q8_0(w, x, y, r0, r1); break;
    case EF_TYPE_Q4_0: gemv_q4_0(w, x, y, r0, r1); break;
    default: break; /* the dispatcher never sends other types */
    }
}

int ef_cpu_avx512_kernels_built(void) { return 1; }

int ef_cpu_avx512_dense_ok(uint32_t type) {
    return type == EF_TYPE_F32 || type == EF_TYPE_F16 || type == EF_TYPE_BF16 || ef_avx512_dense_q(type);
}

#else /* built without the AVX-512 flags: the level is never detected */

int ef_cpu_avx512_kernels_built(void) { return 0; }

int ef_cpu_avx512_dense_ok(uint32_t type) {
    (void)type;
    return 0;
}

void ef_cpu_gemv_avx512(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)y, (void)r0, (void)r1;
}

#endif
