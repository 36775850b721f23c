/*
 * onednn_plugin_test.c — loads libedgeformer-onednn the way the host does
 * (dlopen + the entry point, with a host struct of its own) and checks the
 * table, probe, options and matmul against a double-precision product.
 *
 * usage: onednn_plugin_test PATH/libedgeformer-onednn.so PART
 * PART: abi | probe | options | f32 | q8_0 | f16 | invalidate | cache | all
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/backend.h"

#define ERR_INVALID_ARG 1
#define ERR_UNSUPPORTED 5

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

/* ---- a host that counts its allocations ---- */

static long live_allocs;

static void *host_alloc(void *user, size_t bytes)
{
    (void)user;
    void *p = malloc(bytes);
    if (p != NULL)
        live_allocs++;
    return p;
}

static void host_free(void *user, void *ptr)
{
    (void)user;
    if (ptr != NULL)
        live_allocs--;
    free(ptr);
}

static void host_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    fprintf(stderr, "[log %d] %s\n", level, msg);
}

static const ef_be_host host = {EF_BACKEND_ABI_VERSION, sizeof(ef_be_host), NULL, host_alloc, host_free, host_log};
static ef_be_iface be;

/* ---- small helpers ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void) /* [0, 1) */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-53;
}
static double normal(void)
{
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* f32 -> f16 bits, round to nearest, for the normal range used here */
static uint16_t to_f16(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    uint32_t sign = (b >> 16) & 0x8000u;
    int32_t exp = (int32_t)((b >> 23) & 0xffu) - 127 + 15;
    uint32_t mant = b & 0x7fffffu;
    if (exp <= 0)
        return (uint16_t)sign; /* flush tiny values: the tests avoid them */
    uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
    if (mant & 0x1000u)
        h++; /* round half up; carries into the exponent correctly */
    return (uint16_t)h;
}
static float from_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, b;
    if (exp == 0)
        return mant == 0 ? (sign ? -0.0f : 0.0f) : (sign ? -1.0f : 1.0f) * (float)mant * 0x1p-24f;
    b = sign | ((exp + 112u) << 23) | (mant << 13);
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static ef_be_buffer *make_buffer(ef_be_ctx *ctx, const void *data, size_t bytes, uint32_t flags)
{
    ef_be_buffer *buf = NULL;
    CHECK(be.buffer_alloc(ctx, bytes, flags, &buf) == 0 && buf != NULL);
    if (buf != NULL && data != NULL)
        CHECK(be.buffer_upload(ctx, buf, 0, data, bytes) == 0);
    return buf;
}

static ef_be_tensor tensor2(ef_be_buffer *buf, uint32_t type, int64_t ne0, int64_t ne1)
{
    ef_be_tensor t = {buf, 0, type, 2, {ne0, ne1, 1, 1}};
    return t;
}

/* y = x · Wᵀ on the backend; x [m][k], W given as bytes of `type` {k, n}. */
static int32_t backend_matmul(ef_be_ctx *ctx, uint32_t type, const void *w_bytes, size_t w_size, const float *x,
                              int64_t m, int64_t k, int64_t n, float *y)
{
    ef_be_buffer *wb = make_buffer(ctx, w_bytes, w_size, EF_BE_BUF_WEIGHTS);
    ef_be_buffer *xb = make_buffer(ctx, x, (size_t)(m * k) * sizeof(float), 0);
    ef_be_buffer *yb = make_buffer(ctx, NULL, (size_t)(m * n) * sizeof(float), 0);
    ef_be_tensor wt = tensor2(wb, type, k, n), xt = tensor2(xb, EF_BE_TYPE_F32, k, m),
                 yt = tensor2(yb, EF_BE_TYPE_F32, n, m);
    int32_t st = be.matmul(ctx, &wt, &xt, &yt);
    if (st == 0)
        CHECK(be.buffer_download(ctx, yb, 0, y, (size_t)(m * n) * sizeof(float)) == 0);
    be.buffer_free(ctx, wb);
    be.buffer_free(ctx, xb);
    be.buffer_free(ctx, yb);
    return st;
}

/* ref[i][j] = Σ x[i][kk] * w[j][kk] in double */
static void reference(const float *x, const float *w, int64_t m, int64_t k, int64_t n, double *ref)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t kk = 0; kk < k; kk++)
                s += (double)x[i * k + kk] * (double)w[j * k + kk];
            ref[i * n + j] = s;
        }
}

typedef struct err_stats {
    double max_abs, rms, ref_rms, ref_max;
} err_stats;

static err_stats compare(const float *y, const double *ref, size_t count)
{
    err_stats e = {0, 0, 0, 0};
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)y[i] - ref[i]);
        e.max_abs = d > e.max_abs ? d : e.max_abs;
        e.rms += d * d;
        e.ref_rms += ref[i] * ref[i];
        e.ref_max = fabs(ref[i]) > e.ref_max ? fabs(ref[i]) : e.ref_max;
    }
    e.rms = sqrt(e.rms / (double)count);
    e.ref_rms = sqrt(e.ref_rms / (double)count);
    return e;
}

static ef_be_ctx *make_ctx(const ef_be_option *opts, int32_t n_opts)
{
    ef_be_ctx *ctx = NULL;
    char err[256] = "";
    int32_t st = be.init(&host, opts, n_opts, &ctx, err, sizeof err);
    if (st != 0)
        fprintf(stderr, "init failed: %d %s\n", st, err);
    CHECK(st == 0 && ctx != NULL);
    return ctx;
}

static const int64_t Ms[] = {1, 3, 17, 64}, Ks[] = {32, 96, 512}, Ns[] = {1, 33, 256};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- parts ---- */

static void test_abi(ef_backend_entry_fn entry)
{
    CHECK(be.abi_version == EF_BACKEND_ABI_VERSION);
    CHECK(be.size == sizeof(ef_be_iface));
    CHECK(be.name != NULL && strcmp(be.name, "onednn") == 0);
    CHECK(be.probe && be.init && be.shutdown && be.set_threads && be.buffer_alloc && be.buffer_free &&
          be.buffer_upload && be.buffer_download && be.buffer_map && be.buffer_unmap && be.synchronize &&
          be.supports && be.matmul);
    /* a table smaller than version 1 is refused */
    ef_be_iface small;
    memset(&small, 0, sizeof small);
    CHECK(entry(&host, &small, 16) != 0);
}

static void test_probe(void)
{
    ef_be_probe p;
    memset(&p, 0xab, sizeof p);
    CHECK(be.probe(&host, &p) == 0);
    CHECK(p.available == 1);
    CHECK(p.score > 0 && p.score < 100);
    CHECK(p.caps & EF_BE_CAP_HOST_MEMORY);
    CHECK(p.memory > 0);
    CHECK(strstr(p.device, "oneDNN 2.") != NULL);
    CHECK(p.reason[0] == '\0');
    printf("probe: device \"%s\", score %d, memory %llu MiB\n", p.device, p.score,
           (unsigned long long)(p.memory >> 20));
}

static void test_options(void)
{
    ef_be_ctx *ctx = NULL;
    char err[256] = "";
    ef_be_option unknown = {"onednn.nosuch", "1"};
    CHECK(be.init(&host, &unknown, 1, &ctx, err, sizeof err) == ERR_INVALID_ARG);
    CHECK(ctx == NULL && strstr(err, "onednn.nosuch") != NULL);
    ef_be_option bad = {"onednn.int8", "maybe"};
    err[0] = '\0';
    CHECK(be.init(&host, &bad, 1, &ctx, err, sizeof err) == ERR_INVALID_ARG && err[0] != '\0');
    CHECK(live_allocs == 0);

    ef_be_option off[] = {{"onednn.int8", "off"}, {"onednn.f16", "off"}};
    ctx = make_ctx(off, 2);
    CHECK(be.supports(ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_F32) == 1);
    CHECK(be.supports(ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_Q8_0) == 0);
    CHECK(be.supports(ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_F16) == 0);
    CHECK(be.supports(ctx, EF_BE_OP_RMSNORM, EF_BE_TYPE_F32) == 0);
    CHECK(be.supports(ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_Q4_K) == 0);
    ef_be_block_q8_0 blk = {0x3c00, {1}};
    float x[32] = {1}, y[1];
    CHECK(backend_matmul(ctx, EF_BE_TYPE_Q8_0, &blk, sizeof blk, x, 1, 32, 1, y) == ERR_UNSUPPORTED);
    be.shutdown(ctx);

    ef_be_option on[] = {{"onednn.int8", "auto"}, {"onednn.f16", "f32"}};
    ctx = make_ctx(on, 2);
    CHECK(be.supports(ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_Q8_0) == 1);
    CHECK(be.supports(ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_BF16) == 1);
    CHECK(be.set_threads(ctx, 2) == 0);
    CHECK(be.synchronize(ctx) == 0);
    be.shutdown(ctx);
    CHECK(live_allocs == 0);
}

static void test_f32(void)
{
    ef_be_ctx *ctx = make_ctx(NULL, 0);
    be.set_threads(ctx, 2);
    for (size_t a = 0; a < COUNT(Ms); a++)
        for (size_t b = 0; b < COUNT(Ks); b++)
            for (size_t c = 0; c < COUNT(Ns); c++) {
                int64_t m = Ms[a], k = Ks[b], n = Ns[c];
                float *x = malloc(sizeof(float) * (size_t)(m * k)), *w = malloc(sizeof(float) * (size_t)(n * k));
                float *y = malloc(sizeof(float) * (size_t)(m * n));
                double *ref = malloc(sizeof(double) * (size_t)(m * n));
                for (int64_t i = 0; i < m * k; i++)
                    x[i] = (float)normal();
                for (int64_t i = 0; i < n * k; i++)
                    w[i] = (float)(normal() * 0.05);
                CHECK(backend_matmul(ctx, EF_BE_TYPE_F32, w, sizeof(float) * (size_t)(n * k), x, m, k, n, y) == 0);
                reference(x, w, m, k, n, ref);
                err_stats e = compare(y, ref, (size_t)(m * n));
                if (!(e.max_abs <= 1e-5 * sqrt((double)k) + 1e-5 * e.ref_max)) {
                    fprintf(stderr, "f32 m=%lld k=%lld n=%lld: max err %.3g (ref max %.3g)\n", (long long)m,
                            (long long)k, (long long)n, e.max_abs, e.ref_max);
                    failures++;
                }
                free(x), free(w), free(y), free(ref);
            }
    be.shutdown(ctx);
    CHECK(live_allocs == 0);
}

/* Q8_0 weights from w [n][k]: per-block d = amax / 127. deq gets the dequantized values. */
static void quantize_q8_0(const float *w, int64_t k, int64_t n, ef_be_block_q8_0 *blocks, float *deq)
{
    for (int64_t b = 0; b < n * k / 32; b++) {
        float amax = 0;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(w[b * 32 + i]));
        uint16_t dh = to_f16(amax / 127.0f);
        float d = from_f16(dh), inv = d > 0 ? 1.0f / d : 0.0f;
        blocks[b].d = dh;
        for (int i = 0; i < 32; i++) {
            long q = lrintf(w[b * 32 + i] * inv);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            blocks[b].qs[i] = (int8_t)q;
            deq[b * 32 + i] = d * (float)q;
        }
    }
}

/* Weights with one d per row and |q| <= qmax (amax pinned so the
 * requantized step equals d), activations on the u8 grid of their row
 * (x = (u - 128) / 4 with |x| = 127 / 4 in each row):
 * every product is exact in int8, so an accumulator overflow shows. */
static void check_exact(ef_be_ctx *ctx, int qmax, const char *what)
{
    int64_t m = 17, k = 512, n = 33;
    float *x = malloc(sizeof(float) * (size_t)(m * k)), *deq = malloc(sizeof(float) * (size_t)(n * k));
    float *y = malloc(sizeof(float) * (size_t)(m * n));
    ef_be_block_q8_0 *qb = malloc(sizeof(ef_be_block_q8_0) * (size_t)(n * k / 32));
    double *ref = malloc(sizeof(double) * (size_t)(m * n));
    for (int64_t i = 0; i < m * k; i++)
        x[i] = (float)((long)(uniform() * 255.0) - 127) * 0.25f; /* 255 levels: -31.75 .. 31.75 */
    for (int64_t i = 0; i < m; i++)
        x[i * k + i % k] = i % 2 ? 31.75f : -31.75f; /* pin each row's range */
    for (int64_t r = 0; r < n; r++)
        for (int64_t b = 0; b < k / 32; b++) {
            ef_be_block_q8_0 *blk = &qb[r * (k / 32) + b];
            blk->d = to_f16(0.0078125f); /* 2^-7, one d per row */
            for (int i = 0; i < 32; i++) {
                /* mostly extreme values: the worst case for a 16-bit pair sum */
                int v = uniform() < 0.5 ? (uniform() < 0.5 ? -qmax : qmax) : (int)(uniform() * (2 * qmax + 1)) - qmax;
                if (b == 0 && i == 0)
                    v = qmax;
                blk->qs[i] = (int8_t)v;
                deq[(r * (k / 32) + b) * 32 + i] = 0.0078125f * (float)v;
            }
        }
    CHECK(backend_matmul(ctx, EF_BE_TYPE_Q8_0, qb, sizeof(ef_be_block_q8_0) * (size_t)(n * k / 32), x, m, k, n, y) ==
          0);
    reference(x, deq, m, k, n, ref);
    err_stats e = compare(y, ref, (size_t)(m * n));
    printf("q8_0 exact case (%s, u8-grid activations): max relative error %.3g\n", what, e.max_abs / e.ref_max);
    CHECK(e.max_abs <= 1e-5 * e.ref_max);
    free(x), free(deq), free(y), free(qb), free(ref);
}

/* The int8 path against the F32 product of the dequantized Q8_0 weights:
 * the quality cost of requantizing per channel and of u8 activations. */
static void quality_sweep(const ef_be_option *opt, const char *label)
{
    ef_be_ctx *ctx = make_ctx(opt, opt != NULL ? 1 : 0);
    be.set_threads(ctx, 2);
    double err_sq = 0, ref_sq = 0, worst_norm = 0;
    for (size_t a = 0; a < COUNT(Ms); a++)
        for (size_t b = 0; b < COUNT(Ks); b++)
            for (size_t c = 0; c < COUNT(Ns); c++) {
                int64_t m = Ms[a], k = Ks[b], n = Ns[c];
                float *x = malloc(sizeof(float) * (size_t)(m * k)), *w = malloc(sizeof(float) * (size_t)(n * k));
                float *deq = malloc(sizeof(float) * (size_t)(n * k)), *y = malloc(sizeof(float) * (size_t)(m * n));
                ef_be_block_q8_0 *q = malloc(sizeof(ef_be_block_q8_0) * (size_t)(n * k / 32));
                double *ref = malloc(sizeof(double) * (size_t)(m * n));
                for (int64_t i = 0; i < m * k; i++)
                    x[i] = (float)normal();
                for (int64_t i = 0; i < n * k; i++)
                    w[i] = (float)(normal() * 0.05);
                quantize_q8_0(w, k, n, q, deq);
                CHECK(backend_matmul(ctx, EF_BE_TYPE_Q8_0, q, sizeof(ef_be_block_q8_0) * (size_t)(n * k / 32), x, m,
                                     k, n, y) == 0);
                reference(x, deq, m, k, n, ref); /* the F32 product of the dequantized Q8_0 weights */
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double d = (double)y[i * n + j] - ref[i * n + j], xn = 0, wn = 0;
                        for (int64_t kk = 0; kk < k; kk++)
                            xn += (double)x[i * k + kk] * x[i * k + kk], wn += (double)deq[j * k + kk] * deq[j * k + kk];
                        /* error relative to |x_i| |w_j|, the scale of a dot product of that size */
                        double norm = fabs(d) / (sqrt(xn * wn) + 1e-30);
                        worst_norm = norm > worst_norm ? norm : worst_norm;
                        err_sq += d * d;
                        ref_sq += ref[i * n + j] * ref[i * n + j];
                    }
                free(x), free(w), free(deq), free(y), free(q), free(ref);
            }
    double rel_rms = sqrt(err_sq / ref_sq);
    printf("q8_0 int8 path (%s) vs f32 of dequantized weights, N(0,1) activations: relative RMS error %.4f, "
           "worst |err| / (|x| |w|) %.2e\n",
           label, rel_rms, worst_norm);
    /* measured 1.0% (8-bit weights: auto with VNNI, split) and 1.6% (7bit) RMS; an
     * accumulator overflow costs 100%+ */
    CHECK(rel_rms < 0.04 && worst_norm < 0.03);
    be.shutdown(ctx);
}

static void test_q8_0(void)
{
    ef_be_option seven = {"onednn.int8", "7bit"}, split = {"onednn.int8", "split"};
    quality_sweep(NULL, "auto");
    quality_sweep(&split, "split");
    quality_sweep(&seven, "7bit");
    /* Exactness: 7-bit weights and split full-range weights on any CPU, one
     * full-range pass where the CPU has VNNI. */
    ef_be_ctx *ctx = make_ctx(&seven, 1);
    check_exact(ctx, 63, "7bit, 7-bit weights");
    be.shutdown(ctx);
    ctx = make_ctx(&split, 1);
    check_exact(ctx, 127, "split, full-range weights");
    be.shutdown(ctx);
    ef_be_probe p;
    CHECK(be.probe(&host, &p) == 0);
    ctx = make_ctx(NULL, 0);
    check_exact(ctx, strstr(p.device, "int8 VNNI") != NULL ? 127 : 63, "auto");
    be.shutdown(ctx);
    CHECK(live_allocs == 0);
}

static void test_f16(void)
{
    ef_be_ctx *ctx = make_ctx(NULL, 0);
    int64_t m = 17, k = 96, n = 33;
    float *x = malloc(sizeof(float) * (size_t)(m * k)), *w = malloc(sizeof(float) * (size_t)(n * k));
    float *y = malloc(sizeof(float) * (size_t)(m * n));
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(n * k)), *bf = malloc(sizeof(uint16_t) * (size_t)(n * k));
    double *ref = malloc(sizeof(double) * (size_t)(m * n));
    for (int64_t i = 0; i < m * k; i++)
        x[i] = (float)normal();
    for (int64_t i = 0; i < n * k; i++) {
        h[i] = to_f16((float)(normal() * 0.05));
        w[i] = from_f16(h[i]);
    }
    CHECK(backend_matmul(ctx, EF_BE_TYPE_F16, h, sizeof(uint16_t) * (size_t)(n * k), x, m, k, n, y) == 0);
    reference(x, w, m, k, n, ref);
    err_stats e = compare(y, ref, (size_t)(m * n));
    CHECK(e.max_abs <= 1e-5 * e.ref_max + 1e-5);
    /* BF16: the top half of the f32 bits */
    for (int64_t i = 0; i < n * k; i++) {
        uint32_t b;
        memcpy(&b, &w[i], sizeof b);
        bf[i] = (uint16_t)(b >> 16);
        b &= 0xffff0000u;
        memcpy(&w[i], &b, sizeof b);
    }
    CHECK(backend_matmul(ctx, EF_BE_TYPE_BF16, bf, sizeof(uint16_t) * (size_t)(n * k), x, m, k, n, y) == 0);
    reference(x, w, m, k, n, ref);
    e = compare(y, ref, (size_t)(m * n));
    CHECK(e.max_abs <= 1e-5 * e.ref_max + 1e-5);
    free(x), free(w), free(y), free(h), free(bf), free(ref);
    be.shutdown(ctx);
    CHECK(live_allocs == 0);
}

/* Rewriting a weight with upload must drop its converted copy. */
static void test_invalidate(void)
{
    ef_be_ctx *ctx = make_ctx(NULL, 0);
    const int64_t m = 3, k = 64, n = 8;
    ef_be_block_q8_0 q[8 * 2];
    float x[3 * 64], y[3 * 8];
    for (int i = 0; i < m * k; i++)
        x[i] = 1.0f;
    for (int b = 0; b < n * k / 32; b++) {
        q[b].d = to_f16(1.0f);
        for (int i = 0; i < 32; i++)
            q[b].qs[i] = 1;
    }
    ef_be_buffer *wb = make_buffer(ctx, q, sizeof q, EF_BE_BUF_WEIGHTS);
    ef_be_buffer *xb = make_buffer(ctx, x, sizeof x, 0), *yb = make_buffer(ctx, NULL, sizeof y, 0);
    ef_be_tensor wt = tensor2(wb, EF_BE_TYPE_Q8_0, k, n), xt = tensor2(xb, EF_BE_TYPE_F32, k, m),
                 yt = tensor2(yb, EF_BE_TYPE_F32, n, m);
    CHECK(be.matmul(ctx, &wt, &xt, &yt) == 0);
    CHECK(be.buffer_download(ctx, yb, 0, y, sizeof y) == 0);
    CHECK(fabsf(y[0] - 64.0f) < 1e-3f && fabsf(y[23] - 64.0f) < 1e-3f);
    for (int b = 0; b < n * k / 32; b++)
        q[b].d = to_f16(0.5f);
    CHECK(be.buffer_upload(ctx, wb, 0, q, sizeof q) == 0);
    CHECK(be.matmul(ctx, &wt, &xt, &yt) == 0);
    CHECK(be.buffer_download(ctx, yb, 0, y, sizeof y) == 0);
    CHECK(fabsf(y[0] - 32.0f) < 1e-3f && fabsf(y[23] - 32.0f) < 1e-3f);
    /* a weight at an offset inside a bigger buffer, F32 */
    float wf[2][64 * 8];
    for (int i = 0; i < 64 * 8; i++)
        wf[0][i] = 9.0f, wf[1][i] = 0.25f;
    ef_be_buffer *big = make_buffer(ctx, wf, sizeof wf, EF_BE_BUF_WEIGHTS);
    ef_be_tensor wo = tensor2(big, EF_BE_TYPE_F32, k, n);
    wo.offset = sizeof wf[0];
    CHECK(be.matmul(ctx, &wo, &xt, &yt) == 0);
    float *mapped = be.buffer_map(ctx, yb);
    CHECK(mapped != NULL && fabsf(mapped[5] - 16.0f) < 1e-4f);
    CHECK(be.buffer_unmap(ctx, yb) == 0);
    /* a weight running past its buffer is refused */
    wo.offset = sizeof wf[0] + 4;
    CHECK(be.matmul(ctx, &wo, &xt, &yt) == ERR_INVALID_ARG);
    be.buffer_free(ctx, wb), be.buffer_free(ctx, xb), be.buffer_free(ctx, yb), be.buffer_free(ctx, big);
    be.shutdown(ctx);
    CHECK(live_allocs == 0);
}

/* More shapes than the primitive cache holds: evictions keep results right. */
static void test_cache(void)
{
    ef_be_ctx *ctx = make_ctx(NULL, 0);
    const int64_t k = 32, n = 5;
    float w[5 * 32], x[80 * 32], y[80 * 5];
    for (int i = 0; i < n * k; i++)
        w[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < 80 * k; i++)
        x[i] = (float)(i % 5) - 2.0f;
    for (int round = 0; round < 2; round++)
        for (int64_t m = 1; m <= 80; m++) {
            CHECK(backend_matmul(ctx, EF_BE_TYPE_F32, w, sizeof w, x, m, k, n, y) == 0);
            int64_t i = m - 1, j = n - 1;
            double s = 0;
            for (int kk = 0; kk < k; kk++)
                s += (double)x[i * k + kk] * w[j * k + kk];
            CHECK(fabs(y[i * n + j] - s) < 1e-4);
        }
    be.shutdown(ctx);
    CHECK(live_allocs == 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PLUGIN.so PART\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    ef_backend_entry_fn entry;
    *(void **)&entry = dlsym(lib, EF_BACKEND_ENTRY_NAME);
    if (entry == NULL) {
        fprintf(stderr, "no %s in %s\n", EF_BACKEND_ENTRY_NAME, argv[1]);
        return 1;
    }
    memset(&be, 0, sizeof be);
    if (entry(&host, &be, sizeof be) != 0) {
        fprintf(stderr, "the entry point failed\n");
        return 1;
    }
    const char *part = argv[2];
    int all = strcmp(part, "all") == 0;
    if (all || strcmp(part, "abi") == 0)
        test_abi(entry);
    if (all || strcmp(part, "probe") == 0)
        test_probe();
    if (all || strcmp(part, "options") == 0)
        test_options();
    if (all || strcmp(part, "f32") == 0)
        test_f32();
    if (all || strcmp(part, "q8_0") == 0)
        test_q8_0();
    if (all || strcmp(part, "f16") == 0)
        test_f16();
    if (all || strcmp(part, "invalidate") == 0)
        test_invalidate();
    if (all || strcmp(part, "cache") == 0)
        test_cache();
    /* the plugin stays loaded: OpenMP's threads may outlive dlclose badly */
    printf("%d passed, %d failed\n", failures == 0 ? 1 : 0, failures == 0 ? 0 : 1);
    return failures == 0 ? 0 : 1;
}
