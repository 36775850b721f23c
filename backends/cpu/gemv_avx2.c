/* Decode GEMV with AVX2: y[r] = x · W[r] for one token (see matmul_kernels.h).
 *
 * Memory bound: every weight byte is read once, converted to F32 in
 * registers (never stored). Rows go in the order of gemv_runs.h: a pass
 * takes one row from each of four runs of the worker's rows, so four rows
 * share each load of x while the weights are read as four sequential
 * streams. Each row keeps one 8-lane accumulator over k ascending, so its
 * sum is formed in the same order as in gemm_avx2.c, whatever rows share
 * its pass. The scalar reference is cpu_matmul.c. */
#include "cpu/gemv_runs.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/simd_avx2.h"

/* out[i] = x · rows[i] for i < nr (a constant after inlining: 1 or
 * EF_GEMV_RUNS); rows: row pointers; x: [in]. */
EF_AVX2_INLINE void gemv_nrows(uint32_t type, const void *const *rows, const float *x, int64_t in, float *out,
                               const int nr) {
    __m256 acc[EF_GEMV_RUNS]; /* [row][8] lane sums */
    for (int i = 0; i < nr; i++) acc[i] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= in; k += 8) {
        const __m256 xv = _mm256_loadu_ps(x + k); /* [8] */
        for (int i = 0; i < nr; i++) acc[i] = _mm256_fmadd_ps(ef_avx2_load_w8(type, rows[i], k), xv, acc[i]);
    }
    if (k < in) { /* tail: lanes past the end are 0·0 */
        const __m256 xv = _mm256_maskload_ps(x + k, ef_avx2_first_lanes(in - k)); /* [8] */
        for (int i = 0; i < nr; i++)
            acc[i] = _mm256_fmadd_ps(ef_avx2_load_w_tail(type, rows[i], k, in - k), xv, acc[i]);
    }
    for (int i = 0; i < nr; i++) out[i] = ef_avx2_hsum(acc[i]);
}

/* The pass and the single row of gemv_runs.h for each weight type (a
 * constant here, so the loads are specialised). */
static void pass_f32(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_F32, rows, x, in, out, EF_GEMV_RUNS);
}
static void one_f32(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_F32, rows, x, in, out, 1);
}
static void pass_f16(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_F16, rows, x, in, out, EF_GEMV_RUNS);
}
static void one_f16(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_F16, rows, x, in, out, 1);
}
static void pass_bf16(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_BF16, rows, x, in, out, EF_GEMV_RUNS);
}
static void one_bf16(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_BF16, rows, x, in, out, 1);
}

void ef_cpu_gemv_avx2(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    switch (w->type) {
    case EF_TYPE_F32: ef_gemv_runs(pass_f32, one_f32, w, x, y, r0, r1); break;
    case EF_TYPE_F16: ef_gemv_runs(pass_f16, one_f16, w, x, y, r0, r1); break;
    case EF_TYPE_BF16: ef_gemv_runs(pass_bf16, one_bf16, w, x, y, r0, r1); break;
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
