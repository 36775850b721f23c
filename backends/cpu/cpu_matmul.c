/* y = x · Wᵀ: the scalar reference kernel and the dispatcher that picks the
 * AVX2 GEMV (one token) or GEMM (several) when the processor, the weight
 * type and EF_CPU_SIMD allow (see matmul_kernels.h, cpu_features.h).
 *
 * Work is split over output rows only, in groups of EF_MATMUL_ROW_GROUP,
 * and every kernel sums one output in a fixed order inside one worker, so
 * the bits do not depend on the thread count.
 *
 * Reference: a weight row is dequantized a chunk at a time into the
 * worker's own stack scratch and dotted with every token's matching slice
 * of x, sequentially. */
#include "cpu/cpu_ops.h"

#include "cpu/cpu_features.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

/* Elements converted at once: a multiple of every block size (32, 256). */
#define EF_MATMUL_CHUNK 256

typedef struct {
    const ef_tensor *w;
    const float *x; /* [n][in] */
    float *y;       /* [n][out] */
    int32_t n;
    ef_matmul_kernel kernel; /* never EF_MATMUL_AUTO here */
} matmul_job;

static float dot_f32(const float *a, const float *b, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

/* Scalar reference for output rows [r0, r1) of every token. */
static void matmul_reference_rows(const matmul_job *job, int64_t r0, int64_t r1) {
    const ef_tensor *w = job->w;
    const ef_to_float_fn to_float = ef_type_get(w->type)->to_float;
    const int64_t in = w->ne[0], out = w->ne[1];
    const uint64_t row_bytes = ef_type_row_size(w->type, in);
    float chunk[EF_MATMUL_CHUNK]; /* [EF_MATMUL_CHUNK]: part of one weight row, F32 */

    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (uint64_t)r * row_bytes;
        for (int32_t t = 0; t < job->n; t++) job->y[(int64_t)t * out + r] = 0.0f;
        for (int64_t c = 0; c < in; c += EF_MATMUL_CHUNK) {
            int64_t len = in - c < EF_MATMUL_CHUNK ? in - c : EF_MATMUL_CHUNK;
            to_float(row + ef_type_row_size(w->type, c), chunk, len);
            for (int32_t t = 0; t < job->n; t++)
                job->y[(int64_t)t * out + r] += dot_f32(job->x + (int64_t)t * in + c, chunk, len);
        }
    }
}

static void matmul_worker(void *ctx, int32_t ith, int32_t nth) {
    const matmul_job *job = ctx;
    const int64_t in = job->w->ne[0], out = job->w->ne[1];
    const int64_t n_groups = (out + EF_MATMUL_ROW_GROUP - 1) / EF_MATMUL_ROW_GROUP;
    int64_t g0, g1;
    ef_split_range(n_groups, ith, nth, &g0, &g1);
    const int64_t r0 = g0 * EF_MATMUL_ROW_GROUP;
    const int64_t r1 = g1 * EF_MATMUL_ROW_GROUP < out ? g1 * EF_MATMUL_ROW_GROUP : out;
    if (r0 >= r1) return;

    switch (job->kernel) {
    case EF_MATMUL_GEMV:
        for (int32_t t = 0; t < job->n; t++)
            ef_cpu_gemv_avx2(job->w, job->x + (int64_t)t * in, job->y + (int64_t)t * out, r0, r1);
        break;
    case EF_MATMUL_GEMM: ef_cpu_gemm_avx2(job->w, job->x, job->n, job->y, r0, r1); break;
    default: matmul_reference_rows(job, r0, r1); break;
    }
}

void ef_cpu_matmul_with(ef_pool *pool, ef_matmul_kernel kernel, const ef_tensor *w, const float *x,
                        int32_t n, float *y) {
    if (kernel == EF_MATMUL_AUTO) {
        const int simd = ef_cpu_simd_active() >= EF_CPU_SIMD_AVX2 && ef_cpu_avx2_matmul_ok(w->type);
        kernel = !simd ? EF_MATMUL_REFERENCE : n == 1 ? EF_MATMUL_GEMV : EF_MATMUL_GEMM;
    }
    matmul_job job = {w, x, y, n, kernel};
    ef_pool_run(pool, matmul_worker, &job);
}

void ef_cpu_matmul(ef_pool *pool, const ef_tensor *w, const float *x, int32_t n, float *y) {
    ef_cpu_matmul_with(pool, EF_MATMUL_AUTO, w, x, n, y);
}
