/* Every op of the OpenCL plugin against a naive double-precision reference
 * written here, on small odd shapes (PoCL compiles are slow), at nonzero
 * buffer offsets. Usage: opencl_ops_test PLUGIN.so */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl_test_host.h"

/* Offsets put in front of tensors, to test offset handling. */
#define PAD 64

static oclt T;
/* NMSE limit of matmul results: 1e-10 for fp32 math; the fp16-math pass
 * raises it for the HGEMM cases only. */
static double g_matmul_thr = 1e-10;

/* ---- weights of each type: raw bytes + the values they stand for ---- */

typedef struct weights {
    uint32_t type;
    int64_t in, out;
    unsigned char *raw; /* [out] rows of the type's blocks */
    size_t bytes;
    double *val;        /* [out][in] */
} weights;

static size_t row_bytes(uint32_t type, int64_t in) {
    switch (type) {
    case EF_BE_TYPE_F32: return (size_t)in * 4;
    case EF_BE_TYPE_F16:
    case EF_BE_TYPE_BF16: return (size_t)in * 2;
    case EF_BE_TYPE_Q8_0: return (size_t)in / 32 * 34;
    case EF_BE_TYPE_Q4_0: return (size_t)in / 32 * 18;
    default: return (size_t)in / 256 * 144;
    }
}

static void put_f16(unsigned char *p, float f) {
    uint16_t h = oclt_f32_to_f16(f);
    p[0] = (unsigned char)h;
    p[1] = (unsigned char)(h >> 8);
}

static double get_f16(const unsigned char *p) { return oclt_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* Random blocks of `type`, decoded by the layout comments of backend.h. */
static weights make_weights(uint32_t type, int64_t in, int64_t out) {
    weights w = {type, in, out, NULL, 0, NULL};
    size_t rb = row_bytes(type, in);
    w.bytes = rb * (size_t)out;
    w.raw = malloc(w.bytes);
    w.val = malloc(sizeof(double) * (size_t)(in * out));
    for (int64_t r = 0; r < out; r++) {
        unsigned char *row = w.raw + (size_t)r * rb;
        double *v = w.val + r * in;
        for (int64_t i = 0; i < in; i++) {
            if (type == EF_BE_TYPE_F32) {
                float f = oclt_rand();
                memcpy(row + 4 * i, &f, 4);
                v[i] = f;
            } else if (type == EF_BE_TYPE_BF16) {
                float f = oclt_rand();
                uint32_t u;
                memcpy(&u, &f, 4);
                u &= 0xffff0000u; /* truncated to bf16 */
                row[2 * i] = (unsigned char)(u >> 16);
                row[2 * i + 1] = (unsigned char)(u >> 24);
                memcpy(&f, &u, 4);
                v[i] = f;
            } else if (type == EF_BE_TYPE_F16) {
                put_f16(row + 2 * i, oclt_rand());
                v[i] = get_f16(row + 2 * i);
            }
        }
        if (type == EF_BE_TYPE_Q8_0 || type == EF_BE_TYPE_Q4_0) {
            size_t bb = type == EF_BE_TYPE_Q8_0 ? 34 : 18;
            for (int64_t b = 0; b < in / 32; b++) {
                unsigned char *blk = row + (size_t)b * bb;
                put_f16(blk, 0.01f + 0.05f * fabsf(oclt_rand()));
                double d = get_f16(blk);
                for (int i = 0; i < 32; i++) {
                    if (type == EF_BE_TYPE_Q8_0) {
                        int8_t q = (int8_t)(oclt_rand_u32() & 0xff);
                        blk[2 + i] = (unsigned char)q;
                        v[b * 32 + i] = d * q;
                    } else if (i < 16) {
                        blk[2 + i] = (unsigned char)oclt_rand_u32();
                    }
                }
                if (type == EF_BE_TYPE_Q4_0)
                    for (int i = 0; i < 32; i++) {
                        int q = i < 16 ? (blk[2 + i] & 15) : (blk[2 + i - 16] >> 4);
                        v[b * 32 + i] = d * (q - 8);
                    }
            }
        } else if (type == EF_BE_TYPE_Q4_K) {
            for (int64_t b = 0; b < in / 256; b++) {
                unsigned char *blk = row + (size_t)b * 144;
                put_f16(blk, 0.002f + 0.01f * fabsf(oclt_rand()));
                put_f16(blk + 2, 0.002f + 0.01f * fabsf(oclt_rand()));
                for (int i = 4; i < 144; i++) blk[i] = (unsigned char)oclt_rand_u32();
                double d = get_f16(blk), dmin = get_f16(blk + 2);
                const unsigned char *s = blk + 4;
                for (int j = 0; j < 8; j++) {
                    int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
                    int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
                    for (int l = 0; l < 32; l++) {
                        int q = (blk[16 + 32 * (j / 2) + l] >> (4 * (j & 1))) & 15;
                        v[b * 256 + j * 32 + l] = d * sc * q - dmin * m;
                    }
                }
            }
        }
    }
    return w;
}

static void free_weights(weights *w) {
    free(w->raw);
    free(w->val);
}

static float *rand_floats(size_t n) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = oclt_rand();
    return x;
}

/* A buffer with PAD bytes of zeros in front of the data. */
static ef_be_buffer *padded(const void *data, size_t bytes) {
    unsigned char *tmp = calloc(1, bytes + PAD);
    if (data) memcpy(tmp + PAD, data, bytes);
    ef_be_buffer *b = oclt_buffer(&T, tmp, bytes + PAD);
    free(tmp);
    return b;
}

static const char *type_name(uint32_t type) {
    switch (type) {
    case EF_BE_TYPE_F32: return "F32";
    case EF_BE_TYPE_F16: return "F16";
    case EF_BE_TYPE_Q8_0: return "Q8_0";
    case EF_BE_TYPE_Q4_0: return "Q4_0";
    case EF_BE_TYPE_BF16: return "BF16";
    default: return "Q4_K";
    }
}

/* ---- ops ---- */

static void test_matmul(uint32_t type, int64_t in, int64_t out, int64_t n) {
    weights w = make_weights(type, in, out);
    float *x = rand_floats((size_t)(in * n));
    ef_be_buffer *bw = padded(w.raw, w.bytes), *bx = padded(x, sizeof(float) * in * n),
                 *by = padded(NULL, sizeof(float) * out * n);
    ef_be_tensor tw = oclt_tensor(bw, PAD, type, in, out, 1), tx = oclt_tensor(bx, PAD, EF_BE_TYPE_F32, in, n, 1),
                 ty = oclt_tensor(by, PAD, EF_BE_TYPE_F32, out, n, 1);
    char what[96];
    snprintf(what, sizeof what, "matmul %s in %lld out %lld n %lld", type_name(type), (long long)in, (long long)out,
             (long long)n);
    int32_t st = T.be.matmul(T.ctx, &tw, &tx, &ty);
    float *y = malloc(sizeof(float) * out * n);
    double *ref = malloc(sizeof(double) * out * n);
    oclt_download(&T, by, PAD, y, sizeof(float) * out * n);
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < out; r++) {
            double s = 0;
            for (int64_t i = 0; i < in; i++) s += w.val[r * in + i] * x[t * in + i];
            ref[t * out + r] = s;
        }
    if (st != 0) oclt_expect(&T, 0, what);
    else oclt_expect_close(&T, what, y, ref, (size_t)(out * n), g_matmul_thr);
    T.be.buffer_free(T.ctx, bw);
    T.be.buffer_free(T.ctx, bx);
    T.be.buffer_free(T.ctx, by);
    free(y);
    free(ref);
    free(x);
    free_weights(&w);
}

static void test_get_rows(uint32_t type, int64_t dim, int64_t rows) {
    weights w = make_weights(type, dim, rows);
    const int32_t ids[5] = {3, 0, (int32_t)rows - 1, 3, 1};
    ef_be_buffer *bw = padded(w.raw, w.bytes), *by = padded(NULL, sizeof(float) * dim * 5);
    ef_be_tensor tw = oclt_tensor(bw, PAD, type, dim, rows, 1), ty = oclt_tensor(by, PAD, EF_BE_TYPE_F32, dim, 5, 1);
    int32_t st = T.be.get_rows(T.ctx, &tw, ids, 5, &ty);
    float *y = malloc(sizeof(float) * dim * 5);
    double *ref = malloc(sizeof(double) * dim * 5);
    oclt_download(&T, by, PAD, y, sizeof(float) * dim * 5);
    for (int i = 0; i < 5; i++)
        for (int64_t c = 0; c < dim; c++) ref[i * dim + c] = w.val[ids[i] * dim + c];
    char what[64];
    snprintf(what, sizeof what, "get_rows %s dim %lld", type_name(type), (long long)dim);
    if (st != 0) oclt_expect(&T, 0, what);
    else oclt_expect_close(&T, what, y, ref, (size_t)(dim * 5), 1e-12);
    /* An id out of range is refused, not read. */
    const int32_t bad = (int32_t)rows;
    oclt_expect(&T, T.be.get_rows(T.ctx, &tw, &bad, 1, &ty) == 1, "get_rows refuses an id out of range");
    T.be.buffer_free(T.ctx, bw);
    T.be.buffer_free(T.ctx, by);
    free(y);
    free(ref);
    free_weights(&w);
}

static void test_rmsnorm(int64_t dim, int64_t rows) {
    float *x = rand_floats((size_t)(dim * rows)), *w = rand_floats((size_t)dim);
    ef_be_buffer *bx = padded(x, sizeof(float) * dim * rows), *bw = padded(w, sizeof(float) * dim);
    ef_be_tensor tx = oclt_tensor(bx, PAD, EF_BE_TYPE_F32, dim, rows, 1), tw = oclt_tensor(bw, PAD, EF_BE_TYPE_F32, dim, 1, 1);
    /* In place (y aliases x), as the core calls it. */
    int32_t st = T.be.rmsnorm(T.ctx, &tx, &tw, 1e-5f, &tx);
    float *y = malloc(sizeof(float) * dim * rows);
    double *ref = malloc(sizeof(double) * dim * rows);
    oclt_download(&T, bx, PAD, y, sizeof(float) * dim * rows);
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t i = 0; i < dim; i++) ss += (double)x[r * dim + i] * x[r * dim + i];
        double s = 1.0 / sqrt(ss / dim + 1e-5);
        for (int64_t i = 0; i < dim; i++) ref[r * dim + i] = x[r * dim + i] * s * w[i];
    }
    oclt_expect_close(&T, st ? "rmsnorm (status)" : "rmsnorm in place", y, ref, (size_t)(dim * rows), 1e-11);
    T.be.buffer_free(T.ctx, bx);
    T.be.buffer_free(T.ctx, bw);
    free(x);
    free(w);
    free(y);
    free(ref);
}

static void test_rope(int32_t mode, int with_factors) {
    const int32_t hd = 18, nh = 3, nt = 5, pos0 = 1000, n_rot = 14;
    const size_t n = (size_t)hd * nh * nt;
    float *x = rand_floats(n);
    float factors[7];
    for (int i = 0; i < 7; i++) factors[i] = 1.0f + (float)i * 0.7f;
    ef_be_rope p = {mode, n_rot, 10000.0f, 0.5f, with_factors ? factors : NULL};
    ef_be_buffer *bx = padded(x, sizeof(float) * n);
    ef_be_tensor tx = oclt_tensor(bx, PAD, EF_BE_TYPE_F32, hd, nh, nt);
    int32_t st = T.be.rope(T.ctx, &tx, pos0, &p);
    float *y = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    oclt_download(&T, bx, PAD, y, sizeof(float) * n);
    for (size_t i = 0; i < n; i++) ref[i] = x[i];
    for (int t = 0; t < nt; t++)
        for (int h = 0; h < nh; h++) {
            double *v = ref + ((size_t)t * nh + h) * hd;
            for (int i = 0; i < n_rot / 2; i++) {
                double th = (pos0 + t) * 0.5 * pow(10000.0, -2.0 * i / n_rot);
                if (with_factors) th /= factors[i];
                int a = mode == EF_BE_ROPE_NORM ? 2 * i : i, b = mode == EF_BE_ROPE_NORM ? 2 * i + 1 : i + n_rot / 2;
                double x0 = v[a], x1 = v[b];
                v[a] = x0 * cos(th) - x1 * sin(th);
                v[b] = x0 * sin(th) + x1 * cos(th);
            }
        }
    char what[64];
    snprintf(what, sizeof what, "rope %s%s", mode == EF_BE_ROPE_NORM ? "norm" : "neox",
             with_factors ? " freq_factors" : "");
    if (st != 0) oclt_expect(&T, 0, what);
    else oclt_expect_close(&T, what, y, ref, n, 1e-10);
    T.be.buffer_free(T.ctx, bx);
    free(x);
    free(y);
    free(ref);
}

static void test_elementwise(size_t n) {
    float *g = rand_floats(n), *u = rand_floats(n);
    for (size_t i = 0; i < n; i++) g[i] *= 6.0f;
    ef_be_buffer *bg = padded(g, sizeof(float) * n), *bu = padded(u, sizeof(float) * n);
    ef_be_tensor tg = oclt_tensor(bg, PAD, EF_BE_TYPE_F32, (int64_t)n, 1, 1), tu = oclt_tensor(bu, PAD, EF_BE_TYPE_F32, (int64_t)n, 1, 1);
    float *y = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    double *cur = malloc(sizeof(double) * n);

    int32_t st = T.be.swiglu(T.ctx, &tg, &tu, &tg); /* out aliases gate */
    oclt_download(&T, bg, PAD, y, sizeof(float) * n);
    for (size_t i = 0; i < n; i++) cur[i] = ref[i] = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
    oclt_expect_close(&T, st ? "swiglu (status)" : "swiglu out=gate", y, ref, n, 1e-11);

    st = T.be.add(T.ctx, &tg, &tu);
    oclt_download(&T, bg, PAD, y, sizeof(float) * n);
    for (size_t i = 0; i < n; i++) cur[i] = ref[i] = (float)cur[i] + u[i];
    oclt_expect_close(&T, st ? "add (status)" : "add", y, ref, n, 1e-12);

    st = T.be.scale(T.ctx, &tg, -0.37f);
    oclt_download(&T, bg, PAD, y, sizeof(float) * n);
    for (size_t i = 0; i < n; i++) ref[i] = (float)cur[i] * -0.37;
    oclt_expect_close(&T, st ? "scale (status)" : "scale", y, ref, n, 1e-12);

    T.be.buffer_free(T.ctx, bg);
    T.be.buffer_free(T.ctx, bu);
    free(g);
    free(u);
    free(y);
    free(ref);
    free(cur);
}

static void test_softmax(int64_t dim, int64_t rows) {
    float *x = rand_floats((size_t)(dim * rows));
    for (int64_t i = 0; i < dim * rows; i++) x[i] *= 20.0f;
    ef_be_buffer *bx = padded(x, sizeof(float) * dim * rows);
    ef_be_tensor tx = oclt_tensor(bx, PAD, EF_BE_TYPE_F32, dim, rows, 1);
    int32_t st = T.be.softmax(T.ctx, &tx);
    float *y = malloc(sizeof(float) * dim * rows);
    double *ref = malloc(sizeof(double) * dim * rows);
    oclt_download(&T, bx, PAD, y, sizeof(float) * dim * rows);
    for (int64_t r = 0; r < rows; r++) {
        double mx = -INFINITY, s = 0;
        for (int64_t i = 0; i < dim; i++) mx = fmax(mx, x[r * dim + i]);
        for (int64_t i = 0; i < dim; i++) s += exp(x[r * dim + i] - mx);
        for (int64_t i = 0; i < dim; i++) ref[r * dim + i] = exp(x[r * dim + i] - mx) / s;
    }
    oclt_expect_close(&T, st ? "softmax (status)" : "softmax", y, ref, (size_t)(dim * rows), 1e-11);
    T.be.buffer_free(T.ctx, bx);
    free(x);
    free(y);
    free(ref);
}

static void test_convert(void) {
    const size_t n = 301;
    float *x = rand_floats(n);
    x[0] = 1e-6f; /* a half subnormal */
    x[1] = 70000.0f; /* overflows to inf */
    x[2] = 0.5f + 1.0f / 4096.0f; /* a tie: rounds to even */
    ef_be_buffer *bx = padded(x, sizeof(float) * n), *bh = padded(NULL, 2 * n), *bf = padded(NULL, sizeof(float) * n);
    ef_be_tensor tx = oclt_tensor(bx, PAD, EF_BE_TYPE_F32, (int64_t)n, 1, 1), th = oclt_tensor(bh, PAD, EF_BE_TYPE_F16, (int64_t)n, 1, 1),
                 tf = oclt_tensor(bf, PAD, EF_BE_TYPE_F32, (int64_t)n, 1, 1);
    int32_t st = T.be.convert(T.ctx, &tx, &th);
    uint16_t *h = malloc(2 * n);
    oclt_download(&T, bh, PAD, h, 2 * n);
    int same = st == 0;
    for (size_t i = 0; i < n; i++)
        if (h[i] != oclt_f32_to_f16(x[i])) same = 0;
    oclt_expect(&T, same, "convert F32->F16 bit-exact (round to nearest even)");
    st = T.be.convert(T.ctx, &th, &tf);
    float *y = malloc(sizeof(float) * n);
    oclt_download(&T, bf, PAD, y, sizeof(float) * n);
    same = st == 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&y[i], &(float){oclt_f16_to_f32(h[i])}, 4) != 0) same = 0;
    oclt_expect(&T, same, "convert F16->F32 exact");
    T.be.buffer_free(T.ctx, bx);
    T.be.buffer_free(T.ctx, bh);
    T.be.buffer_free(T.ctx, bf);
    free(x);
    free(h);
    free(y);

    weights w = make_weights(EF_BE_TYPE_Q4_K, 256, 3);
    ef_be_buffer *bq = padded(w.raw, w.bytes), *bo = padded(NULL, sizeof(float) * 768);
    ef_be_tensor tq = oclt_tensor(bq, PAD, EF_BE_TYPE_Q4_K, 256, 3, 1), to = oclt_tensor(bo, PAD, EF_BE_TYPE_F32, 768, 1, 1);
    st = T.be.convert(T.ctx, &tq, &to);
    float *o = malloc(sizeof(float) * 768);
    oclt_download(&T, bo, PAD, o, sizeof(float) * 768);
    if (st != 0) oclt_expect(&T, 0, "convert Q4_K->F32");
    else oclt_expect_close(&T, "convert Q4_K->F32", o, w.val, 768, 1e-12);
    T.be.buffer_free(T.ctx, bq);
    T.be.buffer_free(T.ctx, bo);
    free(o);
    free_weights(&w);
}

static void test_flash_attn(uint32_t kv_type, int32_t n_tok, int32_t n_past, int32_t n_head, int32_t n_head_kv,
                            int32_t hd) {
    const int32_t n_kv = n_past + n_tok, kv_row = n_head_kv * hd, q_row = n_head * hd;
    float *q = rand_floats((size_t)n_tok * q_row), *k = rand_floats((size_t)n_kv * kv_row),
          *v = rand_floats((size_t)n_kv * kv_row);
    for (int32_t i = 0; i < n_kv * kv_row; i++) k[i] *= 3.0f; /* peaky scores */
    size_t es = kv_type == EF_BE_TYPE_F16 ? 2 : 4;
    unsigned char *kr = malloc(es * n_kv * kv_row), *vr = malloc(es * n_kv * kv_row);
    for (int32_t i = 0; i < n_kv * kv_row; i++) {
        if (es == 2) {
            put_f16(kr + 2 * i, k[i]);
            put_f16(vr + 2 * i, v[i]);
            k[i] = (float)get_f16(kr + 2 * i);
            v[i] = (float)get_f16(vr + 2 * i);
        } else {
            memcpy(kr + 4 * i, &k[i], 4);
            memcpy(vr + 4 * i, &v[i], 4);
        }
    }
    ef_be_buffer *bq = padded(q, sizeof(float) * n_tok * q_row), *bk = padded(kr, es * n_kv * kv_row),
                 *bv = padded(vr, es * n_kv * kv_row), *bo = padded(NULL, sizeof(float) * n_tok * q_row);
    ef_be_tensor tq = oclt_tensor(bq, PAD, EF_BE_TYPE_F32, q_row, n_tok, 1),
                 tk = oclt_tensor(bk, PAD, kv_type, kv_row, n_kv, 1), tv = oclt_tensor(bv, PAD, kv_type, kv_row, n_kv, 1),
                 to = oclt_tensor(bo, PAD, EF_BE_TYPE_F32, q_row, n_tok, 1);
    const float scale = 1.0f / sqrtf((float)hd);
    ef_be_attn a = {n_tok, n_past, n_head, n_head_kv, hd, scale};
    int32_t st = T.be.flash_attn(T.ctx, &a, &tq, &tk, &tv, &to);
    float *o = malloc(sizeof(float) * n_tok * q_row);
    double *ref = calloc((size_t)n_tok * q_row, sizeof(double)), *s = malloc(sizeof(double) * n_kv);
    oclt_download(&T, bo, PAD, o, sizeof(float) * n_tok * q_row);
    for (int32_t t = 0; t < n_tok; t++)
        for (int32_t h = 0; h < n_head; h++) {
            const int32_t kh = h / (n_head / n_head_kv), len = n_past + t + 1;
            const float *qv = q + (size_t)t * q_row + h * hd;
            double mx = -INFINITY, sum = 0;
            for (int32_t p = 0; p < len; p++) {
                double d = 0;
                for (int32_t i = 0; i < hd; i++) d += (double)qv[i] * k[(size_t)p * kv_row + kh * hd + i];
                s[p] = d * scale;
                mx = fmax(mx, s[p]);
            }
            for (int32_t p = 0; p < len; p++) sum += (s[p] = exp(s[p] - mx));
            double *ov = ref + (size_t)t * q_row + h * hd;
            for (int32_t p = 0; p < len; p++)
                for (int32_t i = 0; i < hd; i++) ov[i] += s[p] / sum * v[(size_t)p * kv_row + kh * hd + i];
        }
    char what[96];
    snprintf(what, sizeof what, "flash_attn %s tok %d past %d heads %d/%d hd %d", type_name(kv_type), n_tok, n_past,
             n_head, n_head_kv, hd);
    if (st != 0) oclt_expect(&T, 0, what);
    else oclt_expect_close(&T, what, o, ref, (size_t)n_tok * q_row, 1e-10);
    T.be.buffer_free(T.ctx, bq);
    T.be.buffer_free(T.ctx, bk);
    T.be.buffer_free(T.ctx, bv);
    T.be.buffer_free(T.ctx, bo);
    free(q);
    free(k);
    free(v);
    free(kr);
    free(vr);
    free(o);
    free(ref);
    free(s);
}

static void test_map(void) {
    ef_be_buffer *b = NULL;
    int ok = T.be.buffer_alloc(T.ctx, 1000, EF_BE_BUF_HOST_VISIBLE, &b) == 0;
    float *p = ok ? T.be.buffer_map(T.ctx, b) : NULL;
    ok = p != NULL;
    if (p) {
        for (int i = 0; i < 250; i++) p[i] = (float)i;
        ok = T.be.buffer_unmap(T.ctx, b) == 0;
        ef_be_tensor t = oclt_tensor(b, 0, EF_BE_TYPE_F32, 250, 1, 1);
        ok = ok && T.be.scale(T.ctx, &t, 2.0f) == 0;
        float y[250];
        oclt_download(&T, b, 0, y, sizeof y);
        for (int i = 0; i < 250; i++) ok = ok && y[i] == 2.0f * i;
    }
    oclt_expect(&T, ok, "buffer_map/unmap then an op sees the writes");
    oclt_expect(&T, T.be.buffer_upload(T.ctx, b, 996, "12345678", 8) == 1, "upload past the end is refused");
    if (b) T.be.buffer_free(T.ctx, b);
}

static void test_supports(void) {
    int ok = T.be.supports(T.ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_Q4_K) && T.be.supports(T.ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_F16) &&
             T.be.supports(T.ctx, EF_BE_OP_GET_ROWS, EF_BE_TYPE_Q4_0) &&
             T.be.supports(T.ctx, EF_BE_OP_FLASH_ATTN, EF_BE_TYPE_F16) &&
             !T.be.supports(T.ctx, EF_BE_OP_MATMUL, EF_BE_TYPE_Q6_K) && !T.be.supports(T.ctx, 99, EF_BE_TYPE_F32);
    oclt_expect(&T, ok, "supports lists what is implemented");
}

static void run_all(void) {
    test_supports();
    test_map();
    const uint32_t types[] = {EF_BE_TYPE_F32,  EF_BE_TYPE_F16,  EF_BE_TYPE_BF16,
                              EF_BE_TYPE_Q8_0, EF_BE_TYPE_Q4_0, EF_BE_TYPE_Q4_K};
    for (int i = 0; i < 6; i++) {
        int64_t in = types[i] == EF_BE_TYPE_Q4_K ? 512 : types[i] == EF_BE_TYPE_Q8_0 || types[i] == EF_BE_TYPE_Q4_0 ? 96 : 77;
        test_matmul(types[i], in, 37, 1);  /* decode: GEMV */
        test_matmul(types[i], in, 37, 3);  /* small batch: GEMV for blocks, SGEMM for F32 */
        test_matmul(types[i], in, 37, 13); /* prefill: SGEMM (after expanding to F32) or batched GEMV */
        test_get_rows(types[i], in, 9);
    }
    /* Rows longer than a group's 16-wide stride, with a tail. */
    test_matmul(EF_BE_TYPE_F32, 1100, 5, 1);
    test_matmul(EF_BE_TYPE_F16, 1100, 5, 2);
    test_matmul(EF_BE_TYPE_BF16, 1100, 5, 1);
    test_rmsnorm(67, 3);
    test_rmsnorm(300, 2);
    test_rope(EF_BE_ROPE_NORM, 0);
    test_rope(EF_BE_ROPE_NEOX, 0);
    test_rope(EF_BE_ROPE_NORM, 1);
    test_rope(EF_BE_ROPE_NEOX, 1);
    test_elementwise(1001);
    test_softmax(133, 3);
    test_softmax(1, 2);
    test_convert();
    test_flash_attn(EF_BE_TYPE_F32, 1, 70, 4, 2, 24);   /* decode across a tile edge */
    test_flash_attn(EF_BE_TYPE_F32, 5, 3, 4, 1, 80);    /* prefill, MQA, head_dim > a group */
    test_flash_attn(EF_BE_TYPE_F16, 1, 130, 6, 2, 64);  /* decode, F16 cache, 3 tiles */
    test_flash_attn(EF_BE_TYPE_F16, 7, 0, 2, 2, 16);    /* prefill from empty, MHA */
}

/* opencl.fp16_math=1 with CLBlast prefill, where HGEMM replaces the F16
 * weight's expansion + SGEMM: taken exactly on devices with cl_khr_fp16
 * (the init log says which). There the batches past 8 tokens sum in half:
 * NMSE within u²·in (u = 2⁻¹¹; about 6x the expected u²·in/6); decode and
 * small batches, other types, and devices without fp16 keep fp32 limits. */
static int test_fp16_math(const ef_be_probe *pr) {
    const int fp16 = (pr->caps & EF_BE_CAP_FP16) != 0;
    printf("-- opencl.fp16_math=1 opencl.prefill=clblast (the device %s cl_khr_fp16)\n", fp16 ? "has" : "lacks");
    char err[256] = "";
    ef_be_option bad = {"opencl.fp16_math", "yes"};
    oclt_expect(&T, oclt_init(&T, &bad, 1, err, sizeof err) == 1 && strstr(err, "opencl.fp16_math"),
                "opencl.fp16_math=yes -> EF_ERR_INVALID_ARG naming it");
    T.log_all[0] = '\0';
    ef_be_option opt[3] = {{"opencl.device", "any"}, {"opencl.prefill", "clblast"}, {"opencl.fp16_math", "1"}};
    int32_t st = oclt_init(&T, opt, 3, err, sizeof err);
    if (st != 0) {
        printf("FAIL init: %d %s\n", st, err);
        return 1;
    }
    oclt_expect(&T, (strstr(T.log_all, "fp16 math (HGEMM)") != NULL) == fp16,
                "fp16 math is on exactly when the device has cl_khr_fp16 (init log)");
    oclt_expect(&T, (strstr(T.log_all, "fp16_math=1 not taken") != NULL) == !fp16,
                "without cl_khr_fp16 the init log says the option was not taken");
    const double u = 1.0 / 2048.0;
    const int64_t ins[2] = {77, 1100}, ns[3] = {1, 3, 13};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            g_matmul_thr = fp16 && ns[j] > 8 ? u * u * (double)ins[i] : 1e-10;
            test_matmul(EF_BE_TYPE_F16, ins[i], 37, ns[j]);
        }
    g_matmul_thr = 1e-10;
    test_matmul(EF_BE_TYPE_F32, 77, 37, 13);
    test_matmul(EF_BE_TYPE_Q8_0, 96, 37, 13);
    oclt_expect(&T, T.be.synchronize(T.ctx) == 0, "synchronize");
    oclt_close(&T);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s libedgeformer-opencl.so\n", argv[0]);
        return 2;
    }
    if (oclt_load(&T, argv[1]) != 0) return 1;
    ef_be_probe pr;
    T.be.probe(&T.host, &pr);
    printf("probe: available %d score %d memory %llu caps %u device '%s' reason '%s'\n", pr.available, pr.score,
           (unsigned long long)pr.memory, pr.caps, pr.device, pr.reason);
    if (!pr.available) {
        printf("SKIP: no OpenCL device\n");
        return 77;
    }
    char err[256] = "";
    ef_be_option bad = {"opencl.colour", "blue"};
    oclt_expect(&T, oclt_init(&T, &bad, 1, err, sizeof err) == 1 && strstr(err, "opencl.colour"),
                "unknown option -> EF_ERR_INVALID_ARG naming it");
    /* Every op with the device's defaults, then with a GPU's group width
     * (64) and CLBlast for prefill, then at width 1 with batched GEMV, so the
     * paths a GPU takes are checked on PoCL too. */
    const char *widths[] = {"auto", "64", "1"}, *prefill[] = {"auto", "clblast", "gemv"};
    for (int k = 0; k < 3; k++) {
        printf("-- opencl.work_group=%s opencl.prefill=%s\n", widths[k], prefill[k]);
        ef_be_option opt[3] = {
            {"opencl.device", "any"}, {"opencl.work_group", widths[k]}, {"opencl.prefill", prefill[k]}};
        int32_t st = oclt_init(&T, opt, 3, err, sizeof err);
        if (st != 0) {
            printf("FAIL init: %d %s\n", st, err);
            return 1;
        }
        run_all();
        oclt_expect(&T, T.be.synchronize(T.ctx) == 0, "synchronize");
        oclt_close(&T);
    }
    if (test_fp16_math(&pr) != 0) return 1;
    oclt_expect(&T, T.live_allocs == 0, "every host allocation freed");
    printf("%d failure(s)\n", T.failures);
    return T.failures ? 1 : 0;
}
