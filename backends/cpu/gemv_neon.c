/* Decode GEMV with NEON (aarch64): y[r] = x · W[r] for one token (see
 * matmul_kernels.h).
 *
 * Memory bound: every weight byte is read once, converted to F32 in
 * registers. Rows go in the order of gemv_runs.h: a pass takes one row from
 * each of four runs of the worker's rows, so four rows share each load of x
 * (independent FMA chains) while the weights are read as four sequential
 * streams. Each row keeps one 8-lane accumulator (two 4-lane registers)
 * over k ascending, the tail zero-padded, then ef_neon_hsum8, so its sum is
 * formed exactly as in gemm_neon.c, whatever rows share its pass. Advanced
 * SIMD is part of every aarch64 processor, so this file needs no extra
 * flags there; elsewhere it compiles to stubs. The scalar reference is
 * cpu_matmul.c. */
#include "cpu/gemv_runs.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include "cpu/simd_neon.h"

/* out[i] = x · rows[i] for i < nr (a constant after inlining: 1 or
 * EF_GEMV_RUNS); rows: row pointers; x: [in]. */
EF_NEON_INLINE void gemv_nrows(uint32_t type, const void *const *rows, const float *x, int64_t in, float *out,
                               const int nr) {
    const int64_t k_tail = in - in % 8, len = in - k_tail; /* the last len (< 8) elements */
    /* The zero-padded tails are loaded first (memcpy calls): with the
     * accumulators live across those calls, GCC 12 spilled them to the stack
     * on every step of the main loop. They are still added last. */
    const ef_neon_f32x8 xt = len ? ef_neon_load_x_tail(x, k_tail, len) : ef_neon_zero8(); /* [8] */
    ef_neon_f32x8 wt[EF_GEMV_RUNS];                                                       /* [row][8] */
    for (int i = 0; i < nr; i++) wt[i] = len ? ef_neon_load_w_tail(type, rows[i], k_tail, len) : ef_neon_zero8();
    ef_neon_f32x8 acc[EF_GEMV_RUNS]; /* [row][8] lane sums */
    for (int i = 0; i < nr; i++) acc[i] = ef_neon_zero8();
    for (int64_t k = 0; k < k_tail; k += 8) {
        const ef_neon_f32x8 xv = ef_neon_load_w8(EF_TYPE_F32, x, k); /* [8] */
        for (int i = 0; i < nr; i++) acc[i] = ef_neon_fma8(acc[i], ef_neon_load_w8(type, rows[i], k), xv);
    }
    if (len) /* tail: lanes past the end are 0·0 */
        for (int i = 0; i < nr; i++) acc[i] = ef_neon_fma8(acc[i], wt[i], xt);
    for (int i = 0; i < nr; i++) out[i] = ef_neon_hsum8(acc[i]);
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

void ef_cpu_gemv_neon(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    switch (w->type) {
    case EF_TYPE_F32: ef_gemv_runs(pass_f32, one_f32, w, x, y, r0, r1); break;
    case EF_TYPE_F16: ef_gemv_runs(pass_f16, one_f16, w, x, y, r0, r1); break;
    case EF_TYPE_BF16: ef_gemv_runs(pass_bf16, one_bf16, w, x, y, r0, r1); break;
    default: break; /* the dispatcher never sends other types */
    }
}

int ef_cpu_neon_kernels_built(void) { return 1; }

int ef_cpu_neon_matmul_ok(uint32_t type) {
    /* Quantized types: NEON group dots for all (qdot_core_neon.c), faster
     * unpackers and fused rows where qtable_neon.c lists them. */
    return type == EF_TYPE_F32 || type == EF_TYPE_F16 || type == EF_TYPE_BF16 || ef_cpu_qmatmul_ok(type);
}

#else /* not aarch64: the dispatcher never picks a NEON level */

int ef_cpu_neon_kernels_built(void) { return 0; }

int ef_cpu_neon_matmul_ok(uint32_t type) {
    (void)type;
    return 0;
}

void ef_cpu_gemv_neon(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    (void)w, (void)x, (void)y, (void)r0, (void)r1;
}

#endif
