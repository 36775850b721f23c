/* Decode GEMV with NEON (aarch64): y[r] = x · W[r] for one token (see
 * matmul_kernels.h).
 *
 * Memory bound: every weight byte is read once, converted to F32 in
 * registers, and four rows share each load of x. Each row keeps one 8-lane
 * accumulator (two 4-lane registers) over k ascending, the tail zero-padded,
 * so its sum is formed exactly as in gemm_neon.c. Advanced SIMD is part of
 * every aarch64 processor, so this file needs no extra flags there;
 * elsewhere it compiles to stubs. The scalar reference is cpu_matmul.c. */
#include "cpu/matmul_kernels.h"

#include "quant/types.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include "cpu/simd_neon.h"

/* out[4] = x · rows[0..3]; rows: 4 row pointers (repeats allowed); x: [in]. */
EF_NEON_INLINE void gemv_4rows(uint32_t type, const void *const rows[4], const float *x, int64_t in,
                               float out[4]) {
    ef_neon_f32x8 acc0 = ef_neon_zero8(), acc1 = ef_neon_zero8(); /* [8] lane sums of rows 0, 1 */
    ef_neon_f32x8 acc2 = ef_neon_zero8(), acc3 = ef_neon_zero8(); /* [8] lane sums of rows 2, 3 */
    int64_t k = 0;
    for (; k + 8 <= in; k += 8) {
        const ef_neon_f32x8 xv = ef_neon_load_w8(EF_TYPE_F32, x, k); /* [8] */
        acc0 = ef_neon_fma8(acc0, ef_neon_load_w8(type, rows[0], k), xv);
        acc1 = ef_neon_fma8(acc1, ef_neon_load_w8(type, rows[1], k), xv);
        acc2 = ef_neon_fma8(acc2, ef_neon_load_w8(type, rows[2], k), xv);
        acc3 = ef_neon_fma8(acc3, ef_neon_load_w8(type, rows[3], k), xv);
    }
    if (k < in) { /* tail: lanes past the end are 0·0 */
        const ef_neon_f32x8 xv = ef_neon_load_x_tail(x, k, in - k); /* [8] */
        acc0 = ef_neon_fma8(acc0, ef_neon_load_w_tail(type, rows[0], k, in - k), xv);
        acc1 = ef_neon_fma8(acc1, ef_neon_load_w_tail(type, rows[1], k, in - k), xv);
        acc2 = ef_neon_fma8(acc2, ef_neon_load_w_tail(type, rows[2], k, in - k), xv);
        acc3 = ef_neon_fma8(acc3, ef_neon_load_w_tail(type, rows[3], k, in - k), xv);
    }
    out[0] = ef_neon_hsum8(acc0);
    out[1] = ef_neon_hsum8(acc1);
    out[2] = ef_neon_hsum8(acc2);
    out[3] = ef_neon_hsum8(acc3);
}

/* The row loop for one weight type (a constant after inlining). */
EF_NEON_INLINE void gemv_rows(uint32_t type, const ef_tensor *w, const float *x, float *y, int64_t r0,
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

void ef_cpu_gemv_neon(const ef_tensor *w, const float *x, float *y, int64_t r0, int64_t r1) {
    switch (w->type) {
    case EF_TYPE_F32: gemv_f32(w, x, y, r0, r1); break;
    case EF_TYPE_F16: gemv_f16(w, x, y, r0, r1); break;
    case EF_TYPE_BF16: gemv_bf16(w, x, y, r0, r1); break;
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
