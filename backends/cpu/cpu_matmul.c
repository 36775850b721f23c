/* y = x · Wᵀ: the scalar reference kernel and the dispatcher that picks the
 * AVX2 GEMV (one token) or GEMM (several) when the processor, the weight
 * type and EF_CPU_SIMD allow (see matmul_kernels.h, cpu_features.h), and
 * for quantized weights the weight-only or integer-dot kernels (qmatmul.c).
 *
 * Work is split over output rows only, in groups of EF_MATMUL_ROW_GROUP,
 * and every kernel sums one output in a fixed order inside one worker, so
 * the bits do not depend on the thread count.
 *
 * Reference: a weight row is dequantized a chunk at a time into the
 * worker's own stack scratch and dotted with every token's matching slice
 * of x, sequentially. */
#include "cpu/cpu_ops.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/platform.h"
#include "cpu/cpu_features.h"
#include "cpu/matmul_kernels.h"
#include "cpu/qdot.h"
#include "quant/types.h"

/* Elements converted at once: a multiple of every block size (32, 256). */
#define EF_MATMUL_CHUNK 256

typedef struct {
    const ef_tensor *w;
    const float *x; /* [n][in] */
    float *y;       /* [n][out] */
    int32_t n;
    ef_matmul_kernel kernel; /* never EF_MATMUL_AUTO here */
    const ef_qgroup_a *xa;   /* [n][groups]: quantized x for the IDOT kernels, else NULL */
    int level;               /* ef_cpu_simd level of the GEMV/GEMM/IDOT kernels */
} matmul_job;

/* Token block of the quantized GEMM (GEMV is 1). */
#define EF_QMATMUL_TOKEN_BLOCK 64
/* Quantized activations up to this size live on the caller's stack (decode). */
#define EF_QACT_STACK_BYTES (16 * 1024) /* fits decode rows up to ~12k elements */

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

    if (ef_cpu_qmatmul_ok(job->w->type) && job->kernel != EF_MATMUL_REFERENCE) {
        const int level = job->kernel == EF_MATMUL_IDOT_REFERENCE ? EF_CPU_SIMD_SCALAR : job->level;
        const int32_t tb = job->kernel == EF_MATMUL_GEMV ? 1 : EF_QMATMUL_TOKEN_BLOCK;
        ef_cpu_qmatmul_rows(job->w, job->x, job->xa, job->n, job->y, r0, r1, level, tb);
        return;
    }
    switch (job->kernel) {
    case EF_MATMUL_GEMV:
        for (int32_t t = 0; t < job->n; t++)
            ef_cpu_simd_gemv(job->level, job->w, job->x + (int64_t)t * in, job->y + (int64_t)t * out, r0, r1);
        break;
    case EF_MATMUL_GEMM: ef_cpu_simd_gemm(job->level, job->w, job->x, job->n, job->y, r0, r1); break;
    default: matmul_reference_rows(job, r0, r1); break;
    }
}

/* ---- modes ---- */

static ef_once_flag g_mode_once = EF_ONCE_INIT;
static ef_matmul_mode g_env_mode = EF_MATMUL_MODE_WEIGHT_ONLY; /* EF_MATMUL_MODE; set once */

static void read_mode_env(void) {
    const char *env = getenv("EF_MATMUL_MODE");
    const int mode = env ? ef_matmul_mode_from_name(env) : -1;
    if (mode > 0) g_env_mode = (ef_matmul_mode)mode;
    else if (env) EF_LOGW("EF_MATMUL_MODE=%s is not weight-only or integer-dot; using weight-only", env);
}

int ef_matmul_mode_from_name(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "weight-only") == 0) return EF_MATMUL_MODE_WEIGHT_ONLY;
    if (strcmp(name, "integer-dot") == 0) return EF_MATMUL_MODE_INTEGER_DOT;
    return -1;
}

ef_matmul_mode ef_matmul_mode_resolve(ef_matmul_mode mode) {
    if (mode != EF_MATMUL_MODE_DEFAULT) return mode;
    ef_call_once(&g_mode_once, read_mode_env);
    return g_env_mode;
}

const char *ef_matmul_mode_name(ef_matmul_mode mode) {
    return ef_matmul_mode_resolve(mode) == EF_MATMUL_MODE_INTEGER_DOT ? "integer-dot" : "weight-only";
}

/* ---- integer-dot: activations quantized before the row split ---- */

typedef struct {
    uint32_t type;
    const float *x; /* [n][in] */
    int64_t in;
    int32_t n;
    ef_qgroup_a *xa; /* [n][groups] */
} quantize_job;

static void quantize_worker(void *ctx, int32_t ith, int32_t nth) {
    const quantize_job *job = ctx;
    int64_t t0, t1;
    ef_split_range(job->n, ith, nth, &t0, &t1);
    ef_cpu_qmatmul_quantize_x(job->type, job->x, job->in, (int32_t)t0, (int32_t)t1, job->xa);
}

/* Quantizes x, runs the IDOT kernel; on allocation failure runs `fallback`
 * (the weight-only kernel) instead. */
static void run_integer_dot(ef_pool *pool, matmul_job *job, ef_matmul_kernel fallback) {
    const int64_t in = job->w->ne[0];
    const size_t bytes = (size_t)job->n * (size_t)((in + EF_QGROUP - 1) / EF_QGROUP) * sizeof(ef_qgroup_a);
    ef_qgroup_a stack_xa[EF_QACT_STACK_BYTES / sizeof(ef_qgroup_a)]; /* [n][groups] when it fits */
    ef_qgroup_a *xa = bytes <= sizeof stack_xa ? stack_xa : ef_malloc(bytes);
    if (!xa) {
        EF_LOGW("integer-dot matmul: no memory for %zu bytes of quantized activations; using weight-only", bytes);
        job->kernel = fallback;
        ef_pool_run(pool, matmul_worker, job);
        return;
    }
    quantize_job qjob = {job->w->type, job->x, in, job->n, xa};
    if (job->n > 1) ef_pool_run(pool, quantize_worker, &qjob);
    else quantize_worker(&qjob, 0, 1);
    job->xa = xa;
    ef_pool_run(pool, matmul_worker, job);
    if (xa != stack_xa) ef_free(xa);
}

/* AUTO → the kernel for this weight, token count, mode and SIMD level. */
static ef_matmul_kernel pick_kernel(ef_matmul_mode mode, const ef_tensor *w, int32_t n) {
    const int simd = ef_cpu_simd_matmul_ok(ef_cpu_simd_active(), w->type);
    if (ef_cpu_qmatmul_ok(w->type) && ef_matmul_mode_resolve(mode) == EF_MATMUL_MODE_INTEGER_DOT)
        return simd ? EF_MATMUL_IDOT : EF_MATMUL_IDOT_REFERENCE;
    return !simd ? EF_MATMUL_REFERENCE : n == 1 ? EF_MATMUL_GEMV : EF_MATMUL_GEMM;
}

static void run_kernel(ef_pool *pool, ef_matmul_kernel kernel, const ef_tensor *w, const float *x, int32_t n,
                       float *y) {
    /* The active level; a SIMD kernel asked for by name while the switches
     * say scalar (tests comparing kernels) runs the best supported one. */
    ef_cpu_simd level = ef_cpu_simd_active();
    if (level == EF_CPU_SIMD_SCALAR) level = ef_cpu_simd_supported();
    matmul_job job = {w, x, y, n, kernel, NULL, (int)level};
    const int idot = kernel == EF_MATMUL_IDOT || kernel == EF_MATMUL_IDOT_REFERENCE;
    if (idot && ef_cpu_qmatmul_ok(w->type)) {
        const ef_matmul_kernel fallback = kernel == EF_MATMUL_IDOT ? EF_MATMUL_GEMM : EF_MATMUL_REFERENCE;
        run_integer_dot(pool, &job, fallback);
        return;
    }
    if (idot) job.kernel = kernel == EF_MATMUL_IDOT && ef_cpu_simd_matmul_ok(job.level, w->type) ? EF_MATMUL_GEMM
                                                                                     : EF_MATMUL_REFERENCE;
    ef_pool_run(pool, matmul_worker, &job);
}

void ef_cpu_matmul_with(ef_pool *pool, ef_matmul_kernel kernel, const ef_tensor *w, const float *x,
                        int32_t n, float *y) {
    if (kernel == EF_MATMUL_AUTO) kernel = pick_kernel(EF_MATMUL_MODE_DEFAULT, w, n);
    run_kernel(pool, kernel, w, x, n, y);
}

void ef_cpu_matmul_mode(ef_pool *pool, ef_matmul_mode mode, const ef_tensor *w, const float *x, int32_t n,
                        float *y) {
    run_kernel(pool, pick_kernel(mode, w, n), w, x, n, y);
}

void ef_cpu_matmul(ef_pool *pool, const ef_tensor *w, const float *x, int32_t n, float *y) {
    ef_cpu_matmul_mode(pool, EF_MATMUL_MODE_DEFAULT, w, x, n, y);
}
