/* Op-by-op checks: each case builds random inputs on the host, runs the op
 * through the buffers of the backend under test and of the cpu backend
 * (upload, op, download), and compares the outputs by NMSE against the
 * op's threshold (table below; docs/backends.md explains them). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/fp16.h"
#include "conformance.h"
#include "quant/types.h"

/* NMSE thresholds. The cpu reference computes in F32 (angles in double);
 * a backend may sum in another order, use the device's exp/sin/rsqrt, and
 * for quantized weights quantize activations to 8 bits (oneDNN int8, the
 * integer-dot kernels), which costs up to ~1e-4. */
#define THR_MATMUL_F32   1e-6
#define THR_MATMUL_HALF  1e-5 /* F16/BF16 weights: fp16 math allowed on fp16 devices */
#define THR_MATMUL_QUANT 2e-4 /* quantized weights: 8-bit activations allowed */
#define THR_GET_ROWS     1e-10
#define THR_RMSNORM      1e-10
#define THR_ROPE         1e-6 /* float angles at positions in the thousands */
#define THR_SWIGLU       1e-10
#define THR_ADD          1e-12
#define THR_SCALE        1e-12
#define THR_SOFTMAX      1e-10
#define THR_CONVERT      1e-12
#define THR_FLASH_ATTN   1e-6

static const uint32_t k_weight_types[] = {
    EF_TYPE_F32,  EF_TYPE_F16,  EF_TYPE_BF16, EF_TYPE_Q8_0, EF_TYPE_Q4_0, EF_TYPE_Q4_1, EF_TYPE_Q5_0,
    EF_TYPE_Q5_1, EF_TYPE_Q2_K, EF_TYPE_Q3_K, EF_TYPE_Q4_K, EF_TYPE_Q5_K, EF_TYPE_Q6_K, EF_TYPE_TQ2_0,
};
#define N_WEIGHT_TYPES (sizeof k_weight_types / sizeof k_weight_types[0])

static int wanted(const conf_run *r, const char *op) { return !r->only_op || !strcmp(r->only_op, op); }

/* The backend claims op for type and has the function. 0: skip; -1: claims
 * it without the function (a failure). */
static int claims(conf_run *r, uint32_t op, uint32_t type, const void *fn) {
    if (!r->test.b->iface.supports(r->test.ctx, op, type)) return 0;
    return fn ? 1 : -1;
}

static void *alloc_floats(int64_t n) { return ef_malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static void fill(float *x, int64_t n, float scale, uint64_t *rng) {
    for (int64_t i = 0; i < n; i++) x[i] = conf_normal(rng) * scale;
}

static const char *st_text(int32_t st, char *buf, size_t cap) {
    snprintf(buf, cap, "the op returned %s (%s)", ef_status_str(st), ef_last_error());
    return buf;
}

/* ---- matmul ---------------------------------------------------------------- */

/* y[n][out] = x[n][in] · Wᵀ on one backend. */
static int32_t matmul_on(conf_backend *c, uint32_t type, const void *w, int64_t in, int64_t out, int64_t n,
                         const float *x, float *y) {
    ef_be_tensor wt, xt, yt;
    memset(&yt, 0, sizeof yt);
    int32_t st = conf_tensor(c, type, in, out, 1, 1, w, &wt);
    if (st) return st;
    st = conf_tensor(c, EF_TYPE_F32, in, n, 1, 1, x, &xt);
    if (!st) st = conf_tensor(c, EF_TYPE_F32, out, n, 1, 1, NULL, &yt);
    if (!st) st = c->b->iface.matmul(c->ctx, &wt, &xt, &yt);
    if (!st) st = conf_fetch(c, &yt, y);
    conf_release(c, &wt);
    conf_release(c, &xt);
    conf_release(c, &yt);
    return st;
}

static double matmul_threshold(uint32_t type) {
    if (type == EF_TYPE_F32) return THR_MATMUL_F32;
    if (type == EF_TYPE_F16 || type == EF_TYPE_BF16) return THR_MATMUL_HALF;
    return THR_MATMUL_QUANT;
}

static void check_matmul_case(conf_run *r, uint32_t type, int64_t in, int64_t out, int64_t n, uint64_t *rng) {
    char shape[64], why[512];
    snprintf(shape, sizeof shape, "W {%lld, %lld} x %lld tokens", (long long)in, (long long)out, (long long)n);
    void *w = conf_random_weights(type, in, out, rng); /* [out] rows of `type` */
    float *x = alloc_floats(in * n), *y = alloc_floats(out * n), *ref = alloc_floats(out * n);
    if (!w || !x || !y || !ref) {
        conf_report(r, "matmul", ef_type_name(type), shape, INFINITY, 0, "cannot make the inputs");
    } else {
        fill(x, in * n, 1.0f, rng);
        int32_t st = matmul_on(&r->ref, type, w, in, out, n, x, ref);
        if (st) {
            conf_report(r, "matmul", ef_type_name(type), shape, INFINITY, 0, "the cpu reference failed");
        } else {
            st = matmul_on(&r->test, type, w, in, out, n, x, y);
            conf_report(r, "matmul", ef_type_name(type), shape, st ? INFINITY : conf_nmse(y, ref, out * n),
                        matmul_threshold(type), st ? st_text(st, why, sizeof why) : NULL);
        }
    }
    ef_free(w);
    ef_free(x);
    ef_free(y);
    ef_free(ref);
}

static void check_matmul(conf_run *r, uint64_t *rng) {
    /* {input blocks or columns, output rows, tokens}: edge and odd sizes */
    static const int64_t shapes[][3] = {{1, 1, 1},  {3, 3, 3},   {1, 31, 17}, {3, 33, 1},  {1, 257, 2},
                                        {3, 257, 33}, {2, 64, 64}, {33, 31, 5}, {9, 128, 1}, {2, 3, 257}};
    for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
        uint32_t type = k_weight_types[t];
        int c = claims(r, EF_BE_OP_MATMUL, type, (const void *)r->test.b->iface.matmul);
        if (c == 0) {
            r->n_skip++;
            continue;
        }
        if (c < 0) {
            conf_report(r, "matmul", ef_type_name(type), "-", INFINITY, 0, "supports() claims it, matmul is NULL");
            continue;
        }
        const int32_t block = ef_type_get(type)->block_size;
        /* input sizes of the unblocked types (F32, F16, BF16), one per shape */
        static const int64_t cols[] = {1, 3, 31, 33, 257, 64, 1000, 17, 2, 4096};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            /* unblocked types take odd column counts; block types whole blocks */
            int64_t in = block == 1 ? cols[s] : shapes[s][0] * block;
            if (block >= 256 && shapes[s][0] > 9) in = 9 * block; /* K-quants: keep it small */
            check_matmul_case(r, type, in, shapes[s][1], shapes[s][2], rng);
        }
        /* one random shape per type from the seed */
        int64_t in = block * (1 + (int64_t)((conf_uniform(rng) + 1) * 4));
        int64_t out = 1 + (int64_t)((conf_uniform(rng) + 1) * 150), n = 1 + (int64_t)((conf_uniform(rng) + 1) * 20);
        check_matmul_case(r, type, in, out, n, rng);
    }
}

/* ---- get_rows ---------------------------------------------------------------- */

static int32_t get_rows_on(conf_backend *c, uint32_t type, const void *w, int64_t dim, int64_t rows,
                           const int32_t *ids, int32_t n, float *y) {
    ef_be_tensor wt, yt;
    memset(&yt, 0, sizeof yt);
    int32_t st = conf_tensor(c, type, dim, rows, 1, 1, w, &wt);
    if (st) return st;
    st = conf_tensor(c, EF_TYPE_F32, dim, n, 1, 1, NULL, &yt);
    if (!st) st = c->b->iface.get_rows(c->ctx, &wt, ids, n, &yt);
    if (!st) st = conf_fetch(c, &yt, y);
    conf_release(c, &wt);
    conf_release(c, &yt);
    return st;
}

static void check_get_rows(conf_run *r, uint64_t *rng) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 31, 3}, {1, 257, 17}, {9, 33, 5}};
    for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
        uint32_t type = k_weight_types[t];
        int c = claims(r, EF_BE_OP_GET_ROWS, type, (const void *)r->test.b->iface.get_rows);
        if (c <= 0) {
            if (c < 0) conf_report(r, "get_rows", ef_type_name(type), "-", INFINITY, 0, "claimed, get_rows is NULL");
            r->n_skip += c == 0;
            continue;
        }
        const int32_t block = ef_type_get(type)->block_size;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t dim = block == 1 ? shapes[s][0] * 31 + 2 : shapes[s][0] * block;
            if (block >= 256 && shapes[s][0] > 3) dim = 3 * block;
            int64_t rows = shapes[s][1];
            int32_t n = (int32_t)shapes[s][2];
            char shape[64], why[512];
            snprintf(shape, sizeof shape, "{%lld, %lld}, %d ids", (long long)dim, (long long)rows, (int)n);
            void *w = conf_random_weights(type, dim, rows, rng);
            int32_t ids[17];
            for (int32_t i = 0; i < n; i++)
                ids[i] = i == 0 ? (int32_t)rows - 1 : i == 1 ? 0 : (int32_t)((conf_uniform(rng) + 1) * 0.5 * rows) % (int32_t)rows;
            float *y = alloc_floats(dim * n), *ref = alloc_floats(dim * n);
            int32_t st = w && y && ref ? get_rows_on(&r->ref, type, w, dim, rows, ids, n, ref) : EF_ERR_NO_MEMORY;
            if (st) {
                conf_report(r, "get_rows", ef_type_name(type), shape, INFINITY, 0, "the cpu reference failed");
            } else {
                st = get_rows_on(&r->test, type, w, dim, rows, ids, n, y);
                conf_report(r, "get_rows", ef_type_name(type), shape, st ? INFINITY : conf_nmse(y, ref, dim * n),
                            THR_GET_ROWS, st ? st_text(st, why, sizeof why) : NULL);
            }
            ef_free(w);
            ef_free(y);
            ef_free(ref);
        }
    }
}

/* ---- element-wise ops on F32 rows: rmsnorm, swiglu, add, scale, softmax ---- */

enum { EW_RMSNORM, EW_SWIGLU, EW_ADD, EW_SCALE, EW_SOFTMAX };

/* out = op(a, b) over rows of dim; a in place where the op is in place. */
static int32_t elementwise_on(conf_backend *c, int kind, int64_t dim, int64_t rows, const float *a, const float *b,
                              float *out) {
    ef_be_tensor at, bt, yt;
    memset(&bt, 0, sizeof bt);
    memset(&yt, 0, sizeof yt);
    const ef_be_iface *f = &c->b->iface;
    int32_t st = conf_tensor(c, EF_TYPE_F32, dim, rows, 1, 1, a, &at);
    if (st) return st;
    switch (kind) {
    case EW_RMSNORM:
        st = conf_tensor(c, EF_TYPE_F32, dim, 1, 1, 1, b, &bt);
        if (!st) st = conf_tensor(c, EF_TYPE_F32, dim, rows, 1, 1, NULL, &yt);
        if (!st) st = f->rmsnorm(c->ctx, &at, &bt, 1e-5f, &yt);
        if (!st) st = conf_fetch(c, &yt, out);
        break;
    case EW_SWIGLU:
        st = conf_tensor(c, EF_TYPE_F32, dim, rows, 1, 1, b, &bt);
        if (!st) st = conf_tensor(c, EF_TYPE_F32, dim, rows, 1, 1, NULL, &yt);
        if (!st) st = f->swiglu(c->ctx, &at, &bt, &yt);
        if (!st) st = conf_fetch(c, &yt, out);
        break;
    case EW_ADD:
        st = conf_tensor(c, EF_TYPE_F32, dim, rows, 1, 1, b, &bt);
        if (!st) st = f->add(c->ctx, &at, &bt);
        if (!st) st = conf_fetch(c, &at, out);
        break;
    case EW_SCALE:
        st = f->scale(c->ctx, &at, -0.37f);
        if (!st) st = conf_fetch(c, &at, out);
        break;
    default:
        st = f->softmax(c->ctx, &at);
        if (!st) st = conf_fetch(c, &at, out);
        break;
    }
    conf_release(c, &at);
    conf_release(c, &bt);
    conf_release(c, &yt);
    return st;
}

static void check_elementwise(conf_run *r, uint64_t *rng) {
    static const struct {
        const char *name;
        uint32_t op;
        int kind;
        double thr;
    } ops[] = {{"rmsnorm", EF_BE_OP_RMSNORM, EW_RMSNORM, THR_RMSNORM}, {"swiglu", EF_BE_OP_SWIGLU, EW_SWIGLU, THR_SWIGLU},
               {"add", EF_BE_OP_ADD, EW_ADD, THR_ADD},                 {"scale", EF_BE_OP_SCALE, EW_SCALE, THR_SCALE},
               {"softmax", EF_BE_OP_SOFTMAX, EW_SOFTMAX, THR_SOFTMAX}};
    static const int64_t shapes[][2] = {{1, 1}, {3, 3}, {31, 17}, {33, 1}, {257, 5}, {4096, 2}, {1000, 64}};
    const ef_be_iface *f = &r->test.b->iface;
    const void *fns[] = {(const void *)f->rmsnorm, (const void *)f->swiglu, (const void *)f->add,
                         (const void *)f->scale, (const void *)f->softmax};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        if (!wanted(r, ops[o].name)) continue;
        int c = claims(r, ops[o].op, EF_TYPE_F32, fns[o]);
        if (c <= 0) {
            if (c < 0) conf_report(r, ops[o].name, "F32", "-", INFINITY, 0, "claimed, the function is NULL");
            r->n_skip += c == 0;
            continue;
        }
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t dim = shapes[s][0], rows = shapes[s][1], n = dim * rows;
            float *a = alloc_floats(n), *b = alloc_floats(n), *y = alloc_floats(n), *ref = alloc_floats(n);
            char shape[64], why[512];
            snprintf(shape, sizeof shape, "%lld x %lld rows", (long long)dim, (long long)rows);
            if (!a || !b || !y || !ref) {
                conf_report(r, ops[o].name, "F32", shape, INFINITY, 0, "out of memory");
            } else {
                fill(a, n, ops[o].kind == EW_SOFTMAX ? 4.0f : 1.0f, rng);
                fill(b, n, 1.0f, rng);
                int32_t st = elementwise_on(&r->ref, ops[o].kind, dim, rows, a, b, ref);
                if (st) {
                    conf_report(r, ops[o].name, "F32", shape, INFINITY, 0, "the cpu reference failed");
                } else {
                    st = elementwise_on(&r->test, ops[o].kind, dim, rows, a, b, y);
                    conf_report(r, ops[o].name, "F32", shape, st ? INFINITY : conf_nmse(y, ref, n), ops[o].thr,
                                st ? st_text(st, why, sizeof why) : NULL);
                }
            }
            ef_free(a);
            ef_free(b);
            ef_free(y);
            ef_free(ref);
        }
    }
}

/* ---- rope ---------------------------------------------------------------------- */

static int32_t rope_on(conf_backend *c, const float *x, int64_t head_dim, int64_t heads, int64_t n_tok, int32_t pos0,
                       const ef_be_rope *p, float *out) {
    ef_be_tensor xt;
    int32_t st = conf_tensor(c, EF_TYPE_F32, head_dim, heads, n_tok, 1, x, &xt);
    if (st) return st;
    st = c->b->iface.rope(c->ctx, &xt, pos0, p);
    if (!st) st = conf_fetch(c, &xt, out);
    conf_release(c, &xt);
    return st;
}

static void check_rope(conf_run *r, uint64_t *rng) {
    if (!wanted(r, "rope")) return;
    int c = claims(r, EF_BE_OP_ROPE, EF_TYPE_F32, (const void *)r->test.b->iface.rope);
    if (c <= 0) {
        if (c < 0) conf_report(r, "rope", "F32", "-", INFINITY, 0, "claimed, rope is NULL");
        r->n_skip += c == 0;
        return;
    }
    /* {head_dim, n_rot, heads, tokens, pos0} */
    static const int32_t cases[][5] = {{32, 32, 1, 1, 0},   {64, 64, 3, 3, 7},     {64, 32, 8, 17, 1000},
                                       {128, 128, 4, 5, 4000}, {96, 64, 2, 33, 31}, {32, 16, 1, 257, 0}};
    float factors[64];
    for (int i = 0; i < 64; i++) factors[i] = 1.0f + (float)i / 16.0f;
    for (int mode = 0; mode < 2; mode++)
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
            for (int with_factors = 0; with_factors < 2; with_factors++) {
                const int32_t *cs = cases[k];
                int64_t n = (int64_t)cs[0] * cs[2] * cs[3];
                ef_be_rope p = {mode, cs[1], 10000.0f, k % 2 ? 0.5f : 1.0f, with_factors ? factors : NULL};
                float *x = alloc_floats(n), *y = alloc_floats(n), *ref = alloc_floats(n);
                char shape[64], why[512];
                snprintf(shape, sizeof shape, "%s hd %d rot %d h %d t %d p %d%s", mode ? "neox" : "norm", cs[0], cs[1],
                         cs[2], cs[3], cs[4], with_factors ? " ff" : "");
                if (!x || !y || !ref) {
                    conf_report(r, "rope", "F32", shape, INFINITY, 0, "out of memory");
                } else {
                    fill(x, n, 1.0f, rng);
                    int32_t st = rope_on(&r->ref, x, cs[0], cs[2], cs[3], cs[4], &p, ref);
                    if (st) {
                        conf_report(r, "rope", "F32", shape, INFINITY, 0, "the cpu reference failed");
                    } else {
                        st = rope_on(&r->test, x, cs[0], cs[2], cs[3], cs[4], &p, y);
                        conf_report(r, "rope", "F32", shape, st ? INFINITY : conf_nmse(y, ref, n), THR_ROPE,
                                    st ? st_text(st, why, sizeof why) : NULL);
                    }
                }
                ef_free(x);
                ef_free(y);
                ef_free(ref);
            }
}

/* ---- convert ------------------------------------------------------------------- */

/* dst (of dst_type) = src (src_type bytes); the result as F32 into out. */
static int32_t convert_on(conf_backend *c, uint32_t src_type, const void *src, uint32_t dst_type, int64_t n,
                          float *out) {
    ef_be_tensor st_, dt;
    memset(&dt, 0, sizeof dt);
    int32_t st = conf_tensor(c, src_type, n, 1, 1, 1, src, &st_);
    if (st) return st;
    st = conf_tensor(c, dst_type, n, 1, 1, 1, NULL, &dt);
    if (!st) st = c->b->iface.convert(c->ctx, &st_, &dt);
    if (!st && dst_type == EF_TYPE_F32) st = conf_fetch(c, &dt, out);
    if (!st && dst_type == EF_TYPE_F16) {
        uint16_t *h = ef_malloc((size_t)n * sizeof *h); /* [n] */
        st = h ? conf_fetch(c, &dt, h) : EF_ERR_NO_MEMORY;
        for (int64_t i = 0; !st && i < n; i++) out[i] = ef_f16_to_f32(h[i]);
        ef_free(h);
    }
    conf_release(c, &st_);
    conf_release(c, &dt);
    return st;
}

static void check_convert(conf_run *r, uint64_t *rng) {
    if (!wanted(r, "convert") || !r->test.b->iface.supports(r->test.ctx, EF_BE_OP_CONVERT, EF_TYPE_F32)) {
        if (wanted(r, "convert")) r->n_skip++;
        return;
    }
    if (!r->test.b->iface.convert) {
        conf_report(r, "convert", "F32", "-", INFINITY, 0, "claimed, convert is NULL");
        return;
    }
    /* F32 → F16 */
    static const int64_t sizes[] = {1, 3, 31, 33, 257, 4096};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        float *x = alloc_floats(n), *y = alloc_floats(n), *ref = alloc_floats(n);
        char shape[64], why[512];
        snprintf(shape, sizeof shape, "F32 -> F16, %lld", (long long)n);
        if (x && y && ref) {
            fill(x, n, 3.0f, rng);
            int32_t st = convert_on(&r->ref, EF_TYPE_F32, x, EF_TYPE_F16, n, ref);
            if (!st) st = convert_on(&r->test, EF_TYPE_F32, x, EF_TYPE_F16, n, y);
            conf_report(r, "convert", "F16", shape, st ? INFINITY : conf_nmse(y, ref, n), THR_CONVERT,
                        st ? st_text(st, why, sizeof why) : NULL);
        }
        ef_free(x);
        ef_free(y);
        ef_free(ref);
    }
    /* every claimed type → F32 */
    for (size_t t = 0; t < N_WEIGHT_TYPES; t++) {
        uint32_t type = k_weight_types[t];
        if (type == EF_TYPE_F32 || !r->test.b->iface.supports(r->test.ctx, EF_BE_OP_CONVERT, type)) continue;
        const int32_t block = ef_type_get(type)->block_size;
        int64_t n = block == 1 ? 257 : (int64_t)block * 3;
        void *src = conf_random_weights(type, n, 1, rng);
        float *y = alloc_floats(n), *ref = alloc_floats(n);
        char shape[64], why[512];
        snprintf(shape, sizeof shape, "%s -> F32, %lld", ef_type_name(type), (long long)n);
        if (src && y && ref) {
            int32_t st = convert_on(&r->ref, type, src, EF_TYPE_F32, n, ref);
            if (!st) st = convert_on(&r->test, type, src, EF_TYPE_F32, n, y);
            conf_report(r, "convert", ef_type_name(type), shape, st ? INFINITY : conf_nmse(y, ref, n), THR_CONVERT,
                        st ? st_text(st, why, sizeof why) : NULL);
        }
        ef_free(src);
        ef_free(y);
        ef_free(ref);
    }
}

/* ---- flash attention -------------------------------------------------------------- */

static int32_t attn_on(conf_backend *c, const ef_be_attn *a, uint32_t kv_type, const float *q, const void *k,
                       const void *v, int64_t kv_rows, float *out) {
    const int64_t qd = (int64_t)a->n_head * a->head_dim, kvd = (int64_t)a->n_head_kv * a->head_dim;
    ef_be_tensor qt, kt, vt, ot;
    memset(&kt, 0, sizeof kt);
    memset(&vt, 0, sizeof vt);
    memset(&ot, 0, sizeof ot);
    int32_t st = conf_tensor(c, EF_TYPE_F32, qd, a->n_tok, 1, 1, q, &qt);
    if (st) return st;
    st = conf_tensor(c, kv_type, kvd, kv_rows, 1, 1, k, &kt);
    if (!st) st = conf_tensor(c, kv_type, kvd, kv_rows, 1, 1, v, &vt);
    if (!st) st = conf_tensor(c, EF_TYPE_F32, qd, a->n_tok, 1, 1, NULL, &ot);
    if (!st) st = c->b->iface.flash_attn(c->ctx, a, &qt, &kt, &vt, &ot);
    if (!st) st = conf_fetch(c, &ot, out);
    conf_release(c, &qt);
    conf_release(c, &kt);
    conf_release(c, &vt);
    conf_release(c, &ot);
    return st;
}

static void check_flash_attn(conf_run *r, uint64_t *rng) {
    if (!wanted(r, "flash_attn")) return;
    /* {n_tok, n_past, n_head, n_head_kv, head_dim, spare rows in the cache} */
    static const int32_t cases[][6] = {{1, 0, 4, 2, 64, 0},   {1, 256, 8, 2, 64, 3}, {5, 31, 4, 4, 32, 0},
                                       {17, 33, 8, 1, 128, 7}, {64, 0, 4, 2, 64, 0}, {3, 257, 2, 1, 32, 1},
                                       {1, 1000, 4, 2, 64, 0}};
    static const uint32_t kv_types[] = {EF_TYPE_F32, EF_TYPE_F16};
    for (size_t t = 0; t < 2; t++) {
        uint32_t kv_type = kv_types[t];
        int c = claims(r, EF_BE_OP_FLASH_ATTN, kv_type, (const void *)r->test.b->iface.flash_attn);
        if (c <= 0) {
            if (c < 0) conf_report(r, "flash_attn", ef_type_name(kv_type), "-", INFINITY, 0, "claimed, flash_attn is NULL");
            r->n_skip += c == 0;
            continue;
        }
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const int32_t *cs = cases[k];
            ef_be_attn a = {cs[0], cs[1], cs[2], cs[3], cs[4], 1.0f / sqrtf((float)cs[4])};
            if (k == 2) a.scale = 0.05f; /* a scale other than 1/sqrt(head_dim) */
            const int64_t rows = (int64_t)cs[0] + cs[1] + cs[5];
            const int64_t qn = (int64_t)cs[0] * cs[2] * cs[4], kvn = rows * cs[3] * cs[4];
            float *q = alloc_floats(qn), *kf = alloc_floats(kvn), *vf = alloc_floats(kvn);
            float *y = alloc_floats(qn), *ref = alloc_floats(qn);
            uint16_t *kh = ef_malloc((size_t)kvn * 2), *vh = ef_malloc((size_t)kvn * 2); /* [rows][kv dims] */
            char shape[64], why[512];
            snprintf(shape, sizeof shape, "t %d past %d h %d/%d hd %d", cs[0], cs[1], cs[2], cs[3], cs[4]);
            if (q && kf && vf && y && ref && kh && vh) {
                fill(q, qn, 1.0f, rng);
                fill(kf, kvn, 1.0f, rng);
                fill(vf, kvn, 1.0f, rng);
                for (int64_t i = 0; i < kvn; i++) kh[i] = ef_f32_to_f16(kf[i]), vh[i] = ef_f32_to_f16(vf[i]);
                const void *kp = kv_type == EF_TYPE_F16 ? (const void *)kh : (const void *)kf;
                const void *vp = kv_type == EF_TYPE_F16 ? (const void *)vh : (const void *)vf;
                int32_t st = attn_on(&r->ref, &a, kv_type, q, kp, vp, rows, ref);
                if (st) {
                    conf_report(r, "flash_attn", ef_type_name(kv_type), shape, INFINITY, 0, "the cpu reference failed");
                } else {
                    st = attn_on(&r->test, &a, kv_type, q, kp, vp, rows, y);
                    conf_report(r, "flash_attn", ef_type_name(kv_type), shape, st ? INFINITY : conf_nmse(y, ref, qn),
                                THR_FLASH_ATTN, st ? st_text(st, why, sizeof why) : NULL);
                }
            }
            ef_free(q), ef_free(kf), ef_free(vf), ef_free(y), ef_free(ref), ef_free(kh), ef_free(vh);
        }
    }
}

void conf_check_ops(conf_run *r) {
    uint64_t rng = r->seed * 0x9e3779b97f4a7c15ull + 1;
    if (wanted(r, "matmul")) check_matmul(r, &rng);
    if (wanted(r, "get_rows")) check_get_rows(r, &rng);
    check_elementwise(r, &rng);
    check_rope(r, &rng);
    check_convert(r, &rng);
    check_flash_attn(r, &rng);
}
