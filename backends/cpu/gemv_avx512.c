/* Decode GEMV with AVX-512: y[r] = x · W[r] for one token, F32, F16 and
 * BF16 weights, and Q8_0 / Q4_0 weights in weight-only mode (exact d·q in
 * registers; qmatmul.c sends them here) (see matmul_kernels.h; the AVX2
 * twin is gemv_avx2.c, the scalar reference cpu_matmul.c).
 *
 * Memory bound: every weight byte is read once and converted to F32 in
 * registers. Rows go in the order of gemv_runs.h: a pass takes one row from
 * each of four runs of the worker's rows, four independent FMA chains
 * sharing each load of x, the weights read as four sequential streams.
 * Each row keeps one 16-lane accumulator over k ascending (F16: as two
 * 8-lane halves, the same sums), the tail masked to zero, then
 * ef_avx512_hsum: the order gemm_avx512.c uses, so GEMV and GEMM give the
 * same bits for a token, whatever rows share a pass and whatever the thread
 * split. */
#include "cpu/gemv_runs.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#include "cpu/simd_avx2.h"
#include "cpu/simd_avx512.h"

/* F16 rows: acc[i] (zero on entry) = the 16-lane sums of x · rows[i] over
 * the whole 16-element steps, kept as two 8-lane halves (lanes 0..7 and
 * 8..15: the same lane-wise FMAs in the same order, so the same bits as one
 * zmm accumulator) with 8-lane conversions. On Zen 4, which runs a zmm op
 * as two 256-bit halves, this ran at 1.3–1.5× the zmm form from L2 and
 * 1.05–1.26× from L3, 0.96–1.01× from DRAM (docs/benchmarks.md, "Row
 * streams in the GEMV"); F32 and BF16 did not gain. Returns the first k
 * not done. */
EF_AVX512_INLINE int64_t f16_steps_as_halves(const void *const *rows, const float *x, int64_t in, __m512 *acc,
                                             const int nr) {
    __m256 lo[EF_GEMV_RUNS], hi[EF_GEMV_RUNS]; /* [row][8]: lanes 0..7, 8..15 of acc[row] */
    for (int i = 0; i < nr; i++) lo[i] = hi[i] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= in; k += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8); /* [8], [8] */
        for (int i = 0; i < nr; i++) {
            lo[i] = _mm256_fmadd_ps(ef_avx2_load_w8(EF_TYPE_F16, rows[i], k), x0, lo[i]);
            hi[i] = _mm256_fmadd_ps(ef_avx2_load_w8(EF_TYPE_F16, rows[i], k + 8), x1, hi[i]);
        }
    }
    for (int i = 0; i < nr; i++) acc[i] = _mm512_insertf32x8(_mm512_castps256_ps512(lo[i]), hi[i], 1);
    return k;
}

/* out[i] = x · rows[i] for i < nr (a constant after inlining: 1 or
 * EF_GEMV_RUNS); rows: row pointers; x: [in]. */
EF_AVX512_INLINE void gemv_nrows(uint32_t type, const void *const *rows, const float *x, int64_t in, float *out,
                                 const int nr) {
    __m512 acc[EF_GEMV_RUNS]; /* [row][16] lane sums */
    for (int i = 0; i < nr; i++) acc[i] = _mm512_setzero_ps();
    int64_t k = 0;
    if (type == EF_TYPE_F16) k = f16_steps_as_halves(rows, x, in, acc, nr);
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
static void pass_q8_0(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_Q8_0, rows, x, in, out, EF_GEMV_RUNS);
}
static void one_q8_0(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_Q8_0, rows, x, in, out, 1);
}
static void pass_q4_0(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_Q4_0, rows, x, in, out, EF_GEMV_RUNS);
}
static void one_q4_0(const void *const *rows, const float *x, int64_t in, float *out) {
    gemv_nrows(EF_TYPE_Q4_0, rows, x, in, out, 1);
}

void ef_cpu_gemv_avx512(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    switch (w->type) {
    case EF_TYPE_F32: ef_gemv_runs(pass_f32, one_f32, w, x, y, r0, r1); break;
    case EF_TYPE_F16: ef_gemv_runs(pass_f16, one_f16, w, x, y, r0, r1); break;
    case EF_TYPE_BF16: ef_gemv_runs(pass_bf16, one_bf16, w, x, y, r0, r1); break;
    case EF_TYPE_Q8_0: ef_gemv_runs(pass_q8_0, one_q8_0, w, x, y, r0, r1); break;
    case EF_TYPE_Q4_0: ef_gemv_runs(pass_q4_0, one_q4_0, w, x, y, r0, r1); break;
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
