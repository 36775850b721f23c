/* Every layer's backward against central finite differences of an
 * independent double-precision forward, on tiny random shapes. The scalar
 * under test is L = Σ R ⊙ layer(x) for a fixed random R (so dout = R). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/threadpool.h"
#include "sample/rng.h"
#include "train/train.h"

static ef_rng g_rng;
static float rnd(void) { return (float)(ef_rng_uniform(&g_rng) * 2.0 - 1.0); }
static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * rnd();
}

/* The double-precision reference: a loss of the perturbed inputs. */
typedef double (*loss_fn)(void *ctx);

/* Central differences of loss w.r.t. every element of xd (double copy of an
 * input the loss reads), compared with `analytic`. */
static void fd_check(const char *what, loss_fn loss, void *ctx, double *xd, size_t n,
                     const float *analytic) {
    const double h = 1e-5;
    double max_err = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double keep = xd[i];
        xd[i] = keep + h;
        double lp = loss(ctx);
        xd[i] = keep - h;
        double lm = loss(ctx);
        xd[i] = keep;
        double fd = (lp - lm) / (2 * h);
        double e = fabs(fd - analytic[i]);
        if (e > max_err) max_err = e;
        if (fabs(fd) > max_ref) max_ref = fabs(fd);
    }
    double rel = max_err / (max_ref > 1e-6 ? max_ref : 1e-6);
    print_message("%-22s max |grad| %.3e  max error %.3e  relative %.2e\n", what, max_ref, max_err, rel);
    assert_true(max_ref > 1e-6); /* the check must see a gradient */
    assert_true(rel < 2e-4);
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ---------------- RMSNorm ---------------- */
typedef struct { double *x, *w, *R; int N, C; double eps; } norm_ctx;
static double norm_loss(void *vc) {
    norm_ctx *c = vc;
    double L = 0;
    for (int n = 0; n < c->N; n++) {
        double ss = 0;
        for (int i = 0; i < c->C; i++) ss += c->x[n * c->C + i] * c->x[n * c->C + i];
        double r = 1.0 / sqrt(ss / c->C + c->eps);
        for (int i = 0; i < c->C; i++) L += c->R[n * c->C + i] * c->x[n * c->C + i] * r * c->w[i];
    }
    return L;
}
static void test_rmsnorm(void **state) {
    (void)state;
    enum { N = 3, C = 8 };
    float x[N * C], w[C], R[N * C], out[N * C], rstd[N], dx[N * C] = {0}, dw[C] = {0};
    fill(x, N * C, 1.0f), fill(w, C, 1.0f), fill(R, N * C, 1.0f);
    ef_tr_rmsnorm_fwd(out, rstd, x, w, N, C, 1e-5f);
    ef_tr_rmsnorm_bwd(dx, dw, R, x, w, rstd, N, C);
    norm_ctx c = {to_double(x, N * C), to_double(w, C), to_double(R, N * C), N, C, 1e-5};
    fd_check("rmsnorm dx", norm_loss, &c, c.x, N * C, dx);
    fd_check("rmsnorm dw", norm_loss, &c, c.w, C, dw);
    free(c.x), free(c.w), free(c.R);
}

/* ---------------- matmul ---------------- */
typedef struct { double *x, *W, *R; int N, I, O; } mm_ctx;
static double mm_loss(void *vc) {
    mm_ctx *c = vc;
    double L = 0;
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->O; o++) {
            double y = 0;
            for (int i = 0; i < c->I; i++) y += c->x[n * c->I + i] * c->W[o * c->I + i];
            L += c->R[n * c->O + o] * y;
        }
    return L;
}
static void test_matmul(void **state) {
    (void)state;
    enum { N = 5, I = 7, O = 6 };
    float x[N * I], W[O * I], R[N * O], out[N * O], out2[N * O];
    float dx[N * I] = {0}, dW[O * I] = {0}, dx2[N * I] = {0}, dW2[O * I] = {0};
    fill(x, N * I, 1.0f), fill(W, O * I, 1.0f), fill(R, N * O, 1.0f);
    float *work = malloc(sizeof(float) * ef_tr_matmul_work_floats(N, I, O));
    ef_tr_matmul_fwd(NULL, out, x, W, N, I, O);
    ef_tr_matmul_bwd(NULL, dx, dW, R, x, W, N, I, O, work);
    mm_ctx c = {to_double(x, N * I), to_double(W, O * I), to_double(R, N * O), N, I, O};
    fd_check("matmul dx", mm_loss, &c, c.x, N * I, dx);
    fd_check("matmul dW", mm_loss, &c, c.W, O * I, dW);
    /* two threads give the same bits */
    ef_pool *pool;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);
    ef_tr_matmul_fwd(pool, out2, x, W, N, I, O);
    ef_tr_matmul_bwd(pool, dx2, dW2, R, x, W, N, I, O, work);
    ef_pool_free(pool);
    assert_memory_equal(out, out2, sizeof out);
    assert_memory_equal(dx, dx2, sizeof dx);
    assert_memory_equal(dW, dW2, sizeof dW);
    free(c.x), free(c.W), free(c.R), free(work);
}

/* ---------------- SwiGLU ---------------- */
typedef struct { double *g, *u, *R; int n; } sw_ctx;
static double sw_loss(void *vc) {
    sw_ctx *c = vc;
    double L = 0;
    for (int i = 0; i < c->n; i++) L += c->R[i] * c->g[i] / (1 + exp(-c->g[i])) * c->u[i];
    return L;
}
static void test_swiglu(void **state) {
    (void)state;
    enum { n = 20 };
    float g[n], u[n], R[n], h[n], dg[n] = {0}, du[n] = {0};
    fill(g, n, 3.0f), fill(u, n, 1.0f), fill(R, n, 1.0f);
    ef_tr_swiglu_fwd(h, g, u, n);
    ef_tr_swiglu_bwd(dg, du, R, g, u, n);
    sw_ctx c = {to_double(g, n), to_double(u, n), to_double(R, n), n};
    fd_check("swiglu dg", sw_loss, &c, c.g, n, dg);
    fd_check("swiglu du", sw_loss, &c, c.u, n, du);
    free(c.g), free(c.u), free(c.R);
}

/* ---------------- embedding ---------------- */
typedef struct { double *table, *R; const int32_t *tok; int N, C; } emb_ctx;
static double emb_loss(void *vc) {
    emb_ctx *c = vc;
    double L = 0;
    for (int n = 0; n < c->N; n++)
        for (int i = 0; i < c->C; i++) L += c->R[n * c->C + i] * c->table[c->tok[n] * c->C + i];
    return L;
}
static void test_embedding(void **state) {
    (void)state;
    enum { V = 5, C = 4, N = 6 };
    const int32_t tok[N] = {1, 3, 1, 0, 4, 3};
    float table[V * C], R[N * C], out[N * C], dt[V * C] = {0};
    fill(table, V * C, 1.0f), fill(R, N * C, 1.0f);
    ef_tr_embed_fwd(out, tok, table, N, C);
    ef_tr_embed_bwd(dt, R, tok, N, C);
    emb_ctx c = {to_double(table, V * C), to_double(R, N * C), tok, N, C};
    fd_check("embedding dtable", emb_loss, &c, c.table, V * C, dt);
    free(c.table), free(c.R);
}

/* ---------------- RoPE (NORM: adjacent pairs) ---------------- */
typedef struct { double *x, *R; int B, T, H, hd; double base; } rope_ctx;
static double rope_loss(void *vc) {
    rope_ctx *c = vc;
    double L = 0;
    for (int b = 0; b < c->B; b++)
        for (int t = 0; t < c->T; t++)
            for (int h = 0; h < c->H; h++) {
                int o = ((b * c->T + t) * c->H + h) * c->hd;
                for (int i = 0; i < c->hd / 2; i++) {
                    double th = t * pow(c->base, -2.0 * i / c->hd);
                    double x0 = c->x[o + 2 * i], x1 = c->x[o + 2 * i + 1];
                    L += c->R[o + 2 * i] * (x0 * cos(th) - x1 * sin(th));
                    L += c->R[o + 2 * i + 1] * (x0 * sin(th) + x1 * cos(th));
                }
            }
    return L;
}
static void test_rope(void **state) {
    (void)state;
    enum { B = 2, T = 5, H = 2, hd = 8, n = B * T * H * hd };
    float x[n], R[n], cs[T * hd];
    fill(x, n, 1.0f), fill(R, n, 1.0f);
    ef_tr_rope_table(cs, T, hd, 10000.0f);
    float y[n];
    memcpy(y, x, sizeof y);
    ef_tr_rope_fwd(y, cs, B, T, H, hd);
    float d[n];
    memcpy(d, R, sizeof d);
    ef_tr_rope_bwd(d, cs, B, T, H, hd);
    rope_ctx c = {to_double(x, n), to_double(R, n), B, T, H, hd, 10000.0};
    /* forward too: the loss at x must match Σ R·y */
    double Ly = 0;
    for (int i = 0; i < n; i++) Ly += (double)R[i] * y[i];
    assert_true(fabs(Ly - rope_loss(&c)) < 1e-4);
    fd_check("rope dx", rope_loss, &c, c.x, n, d);
    free(c.x), free(c.R);
}

/* ---------------- causal GQA attention ---------------- */
typedef struct { double *q, *k, *v, *R; int B, T, H, KV, hd; } att_ctx;
static double att_loss(void *vc) {
    att_ctx *c = vc;
    double L = 0, s[16];
    const int g = c->H / c->KV;
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++)
            for (int t = 0; t < c->T; t++) {
                const double *q = c->q + ((b * c->T + t) * c->H + h) * c->hd;
                double mx = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) {
                    const double *k = c->k + ((b * c->T + u) * c->KV + h / g) * c->hd;
                    double d = 0;
                    for (int i = 0; i < c->hd; i++) d += q[i] * k[i];
                    s[u] = d / sqrt((double)c->hd);
                    if (s[u] > mx) mx = s[u];
                }
                for (int u = 0; u <= t; u++) sum += (s[u] = exp(s[u] - mx));
                for (int i = 0; i < c->hd; i++) {
                    double y = 0;
                    for (int u = 0; u <= t; u++)
                        y += s[u] / sum * c->v[((b * c->T + u) * c->KV + h / g) * c->hd + i];
                    L += c->R[((b * c->T + t) * c->H + h) * c->hd + i] * y;
                }
            }
    return L;
}
static void check_attention(int H, int KV) {
    enum { B = 2, T = 5, hd = 4 };
    const int nq = B * T * H * hd, nk = B * T * KV * hd;
    float *q = malloc(sizeof(float) * nq), *k = malloc(sizeof(float) * nk), *v = malloc(sizeof(float) * nk);
    float *R = malloc(sizeof(float) * nq), *ctx = malloc(sizeof(float) * nq);
    float *att = malloc(sizeof(float) * B * H * T * T), scratch[2 * T];
    float *dq = calloc(nq, sizeof(float)), *dk = calloc(nk, sizeof(float)), *dv = calloc(nk, sizeof(float));
    fill(q, nq, 1.5f), fill(k, nk, 1.5f), fill(v, nk, 1.0f), fill(R, nq, 1.0f);
    ef_pool *pool;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);
    ef_tr_attention_fwd(pool, ctx, att, q, k, v, B, T, H, KV, hd);
    ef_tr_attention_bwd(pool, dq, dk, dv, R, att, q, k, v, B, T, H, KV, hd, scratch);
    ef_pool_free(pool);
    att_ctx c = {to_double(q, nq), to_double(k, nk), to_double(v, nk), to_double(R, nq), B, T, H, KV, hd};
    double Ly = 0;
    for (int i = 0; i < nq; i++) Ly += (double)R[i] * ctx[i];
    assert_true(fabs(Ly - att_loss(&c)) < 1e-4);
    fd_check(KV == H ? "attention(MHA) dq" : "attention(GQA) dq", att_loss, &c, c.q, nq, dq);
    fd_check(KV == H ? "attention(MHA) dk" : "attention(GQA) dk", att_loss, &c, c.k, nk, dk);
    fd_check(KV == H ? "attention(MHA) dv" : "attention(GQA) dv", att_loss, &c, c.v, nk, dv);
    free(c.q), free(c.k), free(c.v), free(c.R);
    free(q), free(k), free(v), free(R), free(ctx), free(att), free(dq), free(dk), free(dv);
}
static void test_attention_mha(void **state) { (void)state; check_attention(2, 2); }
static void test_attention_gqa(void **state) { (void)state; check_attention(4, 2); }

/* ---------------- cross-entropy ---------------- */
typedef struct { double *x; const int32_t *tgt; int N, V; double scale; } ce_ctx;
static double ce_loss(void *vc) {
    ce_ctx *c = vc;
    double L = 0;
    for (int n = 0; n < c->N; n++) {
        double mx = -1e300, sum = 0;
        for (int v = 0; v < c->V; v++) mx = fmax(mx, c->x[n * c->V + v]);
        for (int v = 0; v < c->V; v++) sum += exp(c->x[n * c->V + v] - mx);
        L += c->scale * (log(sum) + mx - c->x[n * c->V + c->tgt[n]]);
    }
    return L;
}
static void test_crossentropy(void **state) {
    (void)state;
    enum { N = 4, V = 9 };
    const int32_t tgt[N] = {0, 8, 3, 3};
    float x[N * V], p[N * V], losses[N];
    fill(x, N * V, 2.0f);
    memcpy(p, x, sizeof p);
    ef_tr_crossentropy_fwd(NULL, losses, p, tgt, N, V);
    ce_ctx c = {to_double(x, N * V), tgt, N, V, 1.0 / N};
    double mean = 0;
    for (int n = 0; n < N; n++) mean += losses[n] / (double)N;
    assert_true(fabs(mean - ce_loss(&c)) < 1e-5);
    ef_tr_crossentropy_bwd(NULL, p, tgt, N, V, 1.0f / N);
    fd_check("cross-entropy dlogits", ce_loss, &c, c.x, N * V, p);
    free(c.x);
}

int main(void) {
    ef_rng_seed(&g_rng, 12345);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),       cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_swiglu),        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_rope),          cmocka_unit_test(test_attention_mha),
        cmocka_unit_test(test_attention_gqa), cmocka_unit_test(test_crossentropy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
