/* y = x · Wᵀ for weights of any computable type.
 *
 * Each worker owns a contiguous range of output rows. A weight row is
 * dequantized a chunk at a time into the worker's own stack scratch and
 * dotted with every token's matching slice of x, so the sum for one output
 * element always runs in the same order whatever the thread count. */
#include "cpu/cpu_ops.h"

#include "quant/types.h"

/* Elements converted at once: a multiple of every block size (32, 256). */
#define EF_MATMUL_CHUNK 256

typedef struct {
    const ef_tensor *w;
    const float *x; /* [n][in] */
    float *y;       /* [n][out] */
    int32_t n;
} matmul_job;

static float dot_f32(const float *a, const float *b, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static void matmul_worker(void *ctx, int32_t ith, int32_t nth) {
    const matmul_job *job = ctx;
    const ef_tensor *w = job->w;
    const ef_to_float_fn to_float = ef_type_get(w->type)->to_float;
    const int64_t in = w->ne[0], out = w->ne[1];
    const uint64_t row_bytes = ef_type_row_size(w->type, in);
    float chunk[EF_MATMUL_CHUNK]; /* [EF_MATMUL_CHUNK]: part of one weight row, F32 */

    int64_t r0, r1;
    ef_split_range(out, ith, nth, &r0, &r1);
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

void ef_cpu_matmul(ef_pool *pool, const ef_tensor *w, const float *x, int32_t n, float *y) {
    matmul_job job = {w, x, y, n};
    ef_pool_run(pool, matmul_worker, &job);
}
