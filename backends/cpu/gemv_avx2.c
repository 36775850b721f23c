/* Decode GEMV with AVX2: y[r] = x · W[r] for one token (see matmul_kernels.h).
 *
 * Memory bound: every weight byte is read once, converted to F32 in
 * registers (never stored), and four rows share each load of x. Each row
 * keeps one 8-lane accumulator over k ascending, so its sum is formed in the
 * same order as in gemm_avx2.c. The scalar reference is cpu_matmul.c. */
#include "cpu/matmul_kernels.h"

#include "quant/types.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

/* out[4] = x · rows[0..3]; rows: 4 row pointers (repeats allowed); x: [in]. */
EF_AVX2_INLINE void gemv_4rows(uint32_t type, const void *const rows[4], const float *x, int64_t in,
                               float out[4]) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(); /* [8] lane sums of row 0, 1 */
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps(); /* [8] lane sums of row 2, 3 */
    int64_t k = 0;
    for (; k + 8 <= in; k += 8) {
        const __m256 xv = _mm256_loadu_ps(x + k); /* [8] */
        acc0 = _mm256_fmadd_ps(ef_avx2_load_w8(type, rows[0], k), xv, acc0);
        acc1 = _mm256_fmadd_ps(ef_avx2_load_w8(type, rows[1], k), xv, acc1);
        acc2 = _mm256_fmadd_ps(ef_avx2_load_w8(type, rows[2], k), xv, acc2);
        acc3 = _mm256_fmadd_ps(ef_avx2_load_w8(type, rows[3], k), xv, acc3);
    }
    if (k < in) { /* tail: lanes past the end are 0·0 */
        const __m256 xv = _mm256_maskload_ps(x + k, ef_avx2_first_lanes(in - k)); /* [8] */
        acc0 = _mm256_fmadd_ps(ef_avx2_load_w_tail(type, rows[0], k, in - k), xv, acc0);
        acc1 = _mm256_fmadd_ps(ef_avx2_load_w_tail(type, rows[1], k, in - k), xv, acc1);
        acc2 = _mm256_fmadd_ps(ef_avx2_load_w_tail(type, rows[2], k, in - k), xv, acc2);
        acc3 = _mm256_fmadd_ps(ef_avx2_load_w_tail(type, rows[3], k, in - k), xv, acc3);
    }
    out[0] = ef_avx2_hsum(acc0);
    out[1] = ef_avx2_hsum(acc1);
    out[2] = ef_avx2_hsum(acc2);
    out[3] = ef_avx2_hsum(acc3);
}

/* The row loop for one weight type (a constant after inlining). */
EF_AVX2_INLINE void gemv_rows(uint32_t type, const ef_tensor *w, const float *x, float *y, int64_t r0,
                              int64_t r1) {
    const int64_t in = w->ne[0];
    const uint64_t row_bytes = ef_type_row_size(type, in);
    const uint8_t *base = w->data;
    for (int64_t r = r0; r < r1; r += EF_MATMUL_ROW_GROUP) {
        const int64_t nr = r1 - r < EF_MATMUL_ROW_GROUP ? r1 - r : EF_MATMUL_ROW_GROUP;
        const void *rows[4]; /* a short group repeats its last row; those sums are dropped */
        for (int i = 0; i < 4; i++) rows[i] = base + (uint64_t)(r + (i < nr ? i : nr - 1)) * row_bytes;
        float out[4]; /* [4] */
        gemv_4rows(type, rows, x, in, out);
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

void ef_cpu_gemv_avx2(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    switch (w->type) {
    case EF_TYPE_F32: gemv_f32(w, x, y, r0, r1); break;
    case EF_TYPE_F16: gemv_f16(w, x, y, r0, r1); break;
    case EF_TYPE_BF16: gemv_bf16(w, x, y, r0, r1); break;
    default: break; /* the dispatcher never sends other types */
    }
}

int ef_cpu_avx2_kernels_built(void) { return 1; }

#else /* built without AVX2 flags: the dispatcher stays on the reference */

void ef_cpu_gemv_avx2(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)y, (void)r0, (void)r1;
}

int ef_cpu_avx2_kernels_built(void) { return 0; }

#endif

int ef_cpu_avx2_matmul_ok(uint32_t type) {
    return type == EF_TYPE_F32 || type == EF_TYPE_F16 || type == EF_TYPE_BF16 || ef_cpu_qmatmul_ok(type);
}
