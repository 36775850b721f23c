/* Every layer's backward against central finite differences of an
 * independent double-precision forward, on tiny random shapes. The scalar
 * under test is L = Σ R ⊙ layer(x) for a fixed random R (so dout = R). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
    ef_tr_rmsnorm_fwd(NULL, out, rstd, x, w, N, C, 1e-5f);
    ef_tr_rmsnorm_bwd(NULL, dx, dw, R, x, w, rstd, N, C);
    norm_ctx c = {to_double(x, N * C), to_double(w, C), to_double(R, N * C), N, C, 1e-5};
    fd_check("rmsnorm dx", norm_loss, &c, c.x, N * C, dx);
    fd_check("rmsnorm dw", norm_loss, &c, c.w, C, dw);
    /* the overwriting backward gives the same dx over garbage */
    float dx_set[N * C], dw_set[C] = {0};
    for (int i = 0; i < N * C; i++) dx_set[i] = NAN;
    ef_tr_rmsnorm_bwd_set(NULL, dx_set, dw_set, R, x, w, rstd, N, C);
    assert_memory_equal(dx_set, dx, sizeof dx);
    assert_memory_equal(dw_set, dw, sizeof dw);
    /* the fused residual add: x = a + b, then the forward of x */
    float a[N * C], b[N * C], out_add[N * C], rstd_add[N];
    fill(b, N * C, 1.0f);
    for (int i = 0; i < N * C; i++) a[i] = x[i] - b[i];
    float sum[N * C];
    for (int i = 0; i < N * C; i++) sum[i] = a[i] + b[i];
    ef_tr_rmsnorm_fwd(NULL, out, rstd, sum, w, N, C, 1e-5f);
    ef_tr_rmsnorm_fwd_add(NULL, out_add, rstd_add, a, b, w, N, C, 1e-5f);
    assert_memory_equal(a, sum, sizeof a);
    assert_memory_equal(out_add, out, sizeof out);
    assert_memory_equal(rstd_add, rstd, sizeof rstd);
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
    float *work = malloc(sizeof(float) * ef_tr_mm_work_floats(2));
    const ef_tr_mm mm = {work, 2, 0};
    ef_tr_matmul_fwd(NULL, out, x, W, N, I, O, &mm);
    ef_tr_matmul_bwd(NULL, dx, dW, R, x, W, N, I, O, &mm);
    mm_ctx c = {to_double(x, N * I), to_double(W, O * I), to_double(R, N * O), N, I, O};
    fd_check("matmul dx", mm_loss, &c, c.x, N * I, dx);
    fd_check("matmul dW", mm_loss, &c, c.W, O * I, dW);
    /* two threads give the same bits */
    ef_pool *pool;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);
    ef_tr_matmul_fwd(pool, out2, x, W, N, I, O, &mm);
    ef_tr_matmul_bwd(pool, dx2, dW2, R, x, W, N, I, O, &mm);
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
    ef_tr_swiglu_fwd(NULL, h, g, u, n);
    ef_tr_swiglu_bwd(NULL, dg, du, R, g, u, n);
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
    ef_tr_rope_fwd(NULL, y, cs, B, T, H, hd);
    float d[n];
    memcpy(d, R, sizeof d);
    ef_tr_rope_bwd(NULL, d, cs, B, T, H, hd);
    rope_ctx c = {to_double(x, n), to_double(R, n), B, T, H, hd, 10000.0};
    /* forward too: the loss at x must match Σ R·y */
    double Ly = 0;
    for (int i = 0; i < n; i++) Ly += (double)R[i] * y[i];
    assert_true(fabs(Ly - rope_loss(&c)) < 1e-4);
    fd_check("rope dx", rope_loss, &c, c.x, n, d);
    free(c.x), free(c.R);
}

/* ---------------- causal attention: GQA, MLA head sizes, window ---------------- */
typedef struct { double *q, *k, *v, *R; ef_tr_attn_dims d; } att_ctx;
static int att_visible(const ef_tr_attn_dims *d, int t, int u) {
    return u <= t && (d->window == 0 || t - u < d->window || u < d->sinks);
}
static double att_loss(void *vc) {
    att_ctx *c = vc;
    const ef_tr_attn_dims *d = &c->d;
    double L = 0, s[128]; /* [T] scores of one query (T ≤ 128) */
    const int g = d->H / d->KV, dk = d->dk, dv = d->dv;
    for (int b = 0; b < d->B; b++)
        for (int h = 0; h < d->H; h++)
            for (int t = 0; t < d->T; t++) {
                const double *q = c->q + ((b * d->T + t) * d->H + h) * dk;
                double mx = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) {
                    if (!att_visible(d, t, u)) continue;
                    const double *k = c->k + ((b * d->T + u) * d->KV + h / g) * dk;
                    double dot = 0;
                    for (int i = 0; i < dk; i++) dot += q[i] * k[i];
                    s[u] = dot * d->scale;
                    if (s[u] > mx) mx = s[u];
                }
                for (int u = 0; u <= t; u++)
                    if (att_visible(d, t, u)) sum += (s[u] = exp(s[u] - mx));
                for (int i = 0; i < dv; i++) {
                    double y = 0;
                    for (int u = 0; u <= t; u++)
                        if (att_visible(d, t, u))
                            y += s[u] / sum * c->v[((b * d->T + u) * d->KV + h / g) * dv + i];
                    L += c->R[((b * d->T + t) * d->H + h) * dv + i] * y;
                }
            }
    return L;
}
static void check_attention(const char *name, int H, int KV, int dk, int dv, int T, int window,
                            int sinks) {
    const int B = 2;
    assert_true(T <= 128); /* att_loss's score row */
    const ef_tr_attn_dims d = {.B = B, .T = T, .H = H, .KV = KV, .dk = dk, .dv = dv,
                               .scale = 1.0f / sqrtf((float)dk), .window = window, .sinks = sinks};
    const int nq = B * T * H * dk, nk = B * T * KV * dk, nv = B * T * KV * dv, no = B * T * H * dv;
    float *q = malloc(sizeof(float) * nq), *k = malloc(sizeof(float) * nk), *v = malloc(sizeof(float) * nv);
    float *R = malloc(sizeof(float) * no), *ctx = malloc(sizeof(float) * no);
    float *att = malloc(sizeof(float) * B * H * T * T), *scratch = malloc(sizeof(float) * ef_tr_attention_scratch_floats(T, 2));
    float *dq = malloc(sizeof(float) * nq), *dk_ = malloc(sizeof(float) * nk), *dv_ = malloc(sizeof(float) * nv);
    /* the backward overwrites dq, dk, dv: NaN wherever it did not */
    for (int i = 0; i < nq; i++) dq[i] = NAN;
    for (int i = 0; i < nk; i++) dk_[i] = NAN;
    for (int i = 0; i < nv; i++) dv_[i] = NAN;
    fill(q, nq, 1.5f), fill(k, nk, 1.5f), fill(v, nv, 1.0f), fill(R, no, 1.0f);
    float *work = malloc(sizeof(float) * ef_tr_mm_work_floats(2));
    const ef_tr_mm mm = {work, 2, 0};
    ef_pool *pool;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);
    ef_tr_attention_fwd(pool, ctx, att, q, k, v, &d, &mm);
    ef_tr_attention_bwd(pool, dq, dk_, dv_, R, att, q, k, v, &d, scratch, &mm);
    ef_pool_free(pool);
    /* masked probabilities are exactly 0, the visible ones sum to 1 */
    for (int bh = 0; bh < B * H; bh++)
        for (int t = 0; t < T; t++) {
            double sum = 0;
            for (int u = 0; u < T; u++) {
                const float pr = att[((int64_t)bh * T + t) * T + u];
                if (!att_visible(&d, t, u)) assert_true(pr == 0.0f);
                sum += pr;
            }
            assert_true(fabs(sum - 1.0) < 1e-5);
        }
    att_ctx c = {to_double(q, nq), to_double(k, nk), to_double(v, nv), to_double(R, no), d};
    double Ly = 0;
    for (int i = 0; i < no; i++) Ly += (double)R[i] * ctx[i];
    assert_true(fabs(Ly - att_loss(&c)) < 1e-4);
    char what[64];
    snprintf(what, sizeof what, "attention(%s) dq", name);
    fd_check(what, att_loss, &c, c.q, nq, dq);
    snprintf(what, sizeof what, "attention(%s) dk", name);
    fd_check(what, att_loss, &c, c.k, nk, dk_);
    snprintf(what, sizeof what, "attention(%s) dv", name);
    fd_check(what, att_loss, &c, c.v, nv, dv_);
    free(c.q), free(c.k), free(c.v), free(c.R);
    free(q), free(k), free(v), free(R), free(ctx), free(att), free(scratch), free(dq), free(dk_),
        free(dv_), free(work);
}
static void test_attention_mha(void **state) { (void)state; check_attention("MHA", 2, 2, 4, 4, 5, 0, 0); }
static void test_attention_gqa(void **state) { (void)state; check_attention("GQA", 4, 2, 4, 4, 5, 0, 0); }
/* MLA's expanded heads: key 6 (nope + rope), value 3 */
static void test_attention_dk_dv(void **state) { (void)state; check_attention("dk!=dv", 2, 2, 6, 3, 5, 0, 0); }
/* longer than the 32-query causal blocks of train_attention.c (2 blocks, the last partial) */
static void test_attention_blocks(void **state) {
    (void)state;
    check_attention("GQA T=40", 4, 2, 4, 3, 40, 0, 0);
    check_attention("window T=40", 2, 1, 4, 4, 40, 20, 3);
}
static void test_attention_window(void **state) {
    (void)state;
    check_attention("window 3", 4, 2, 4, 4, 9, 3, 0);
    check_attention("window 3+2 sinks", 2, 1, 4, 4, 9, 3, 2);
    check_attention("window 1+1 sink", 2, 2, 4, 4, 6, 1, 1);
}

/* ---------------- MLA projections (train_mla.c) ----------------
 * L = Σ Rq·q + Rk·k + Rv·v of ef_tr_mla_fwd's outputs, against a double
 * forward written from the equations in train.h. */
typedef struct {
    ef_train_shape s;
    ef_train_layout lay;
    double *p, *xn, *Rq, *Rk, *Rv;
    int B;
} mla_ctx;
static void dmatvec(double *y, const double *W, const double *x, int O, int I) {
    for (int o = 0; o < O; o++) {
        y[o] = 0;
        for (int i = 0; i < I; i++) y[o] += W[o * I + i] * x[i];
    }
}
static void drmsnorm(double *x, const double *w, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    const double r = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) x[i] *= r * w[i];
}
static void drope(double *x, int t, int n_rot, double base) {
    for (int i = 0; i < n_rot / 2; i++) {
        const double th = t * pow(base, -2.0 * i / n_rot), x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * cos(th) - x1 * sin(th);
        x[2 * i + 1] = x0 * sin(th) + x1 * cos(th);
    }
}
static double mla_loss(void *vc) {
    mla_ctx *c = vc;
    const ef_train_shape *s = &c->s;
    const int C = s->dim, H = s->n_head, ql = s->q_lora, lat = s->kv_lora, rope = s->qk_rope;
    const int nope = s->qk_nope, vh = s->v_head, dq = nope + rope, T = s->seq;
    const double eps = s->norm_eps;
    double qa[64], q[256], kva[64], k[256], v[256], L = 0;
    for (int n = 0; n < c->B * T; n++) {
        const double *x = c->xn + n * C;
        const int t = n % T;
        if (ql > 0) {
            dmatvec(qa, c->p + c->lay.wq_a, x, ql, C);
            drmsnorm(qa, c->p + c->lay.q_a_norm, ql, eps);
            dmatvec(q, c->p + c->lay.wq_b, qa, H * dq, ql);
        } else {
            dmatvec(q, c->p + c->lay.wq, x, H * dq, C);
        }
        dmatvec(kva, c->p + c->lay.wkv_a, x, lat + rope, C);
        drmsnorm(kva, c->p + c->lay.kv_a_norm, lat, eps); /* c_kv in place */
        drope(kva + lat, t, rope, s->rope_base);
        for (int h = 0; h < H; h++) {
            drope(q + h * dq + nope, t, rope, s->rope_base);
            const double *wkb = c->p + c->lay.wk_b + (size_t)h * lat * nope; /* [lat, nope] */
            const double *wvb = c->p + c->lay.wv_b + (size_t)h * vh * lat;   /* [vh, lat] */
            for (int i = 0; i < nope; i++) {
                k[h * dq + i] = 0;
                for (int r = 0; r < lat; r++) k[h * dq + i] += kva[r] * wkb[r * nope + i];
            }
            for (int i = 0; i < rope; i++) k[h * dq + nope + i] = kva[lat + i];
            dmatvec(v + h * vh, wvb, kva, vh, lat);
        }
        for (int i = 0; i < H * dq; i++) L += c->Rq[n * H * dq + i] * q[i] + c->Rk[n * H * dq + i] * k[i];
        for (int i = 0; i < H * vh; i++) L += c->Rv[n * H * vh + i] * v[i];
    }
    return L;
}
static void check_mla(int q_lora) {
    const ef_train_shape s = {.n_vocab = 4, .dim = 8, .n_layer = 1, .n_head = 2, .n_kv = 2, .ff = 4,
                              .seq = 4, .norm_eps = 1e-5f, .rope_base = 10000.0f, .mla = 1,
                              .q_lora = q_lora, .kv_lora = 6, .qk_nope = 4, .qk_rope = 4, .v_head = 3};
    assert_int_equal(ef_train_shape_check(&s), EF_OK);
    enum { B = 2 };
    const int N = B * s.seq, C = s.dim, H = s.n_head, dq = s.qk_nope + s.qk_rope;
    const int nq = N * H * dq, nv = N * H * s.v_head;
    mla_ctx c = {.s = s, .B = B};
    ef_train_layout_make(&s, &c.lay);
    float *p = malloc(sizeof(float) * c.lay.n_floats), *g = calloc(c.lay.n_floats, sizeof(float));
    float *xn = malloc(sizeof(float) * N * C), *dxn = calloc((size_t)N * C, sizeof(float));
    float *Rq = malloc(sizeof(float) * nq), *Rk = malloc(sizeof(float) * nq), *Rv = malloc(sizeof(float) * nv);
    float *q = malloc(sizeof(float) * nq), *k = malloc(sizeof(float) * nq), *v = malloc(sizeof(float) * nv);
    float *dq_ = malloc(sizeof(float) * nq), *dk_ = malloc(sizeof(float) * nq);
    float *acts = malloc(sizeof(float) * (size_t)N * (2 * (q_lora + s.kv_lora) + 2));
    float *scratch = malloc(sizeof(float) * ef_tr_mla_scratch_floats(&s, N));
    float *work = malloc(sizeof(float) * ef_tr_mm_work_floats(2));
    const ef_tr_mm mm = {work, 2, 0};
    float *cs = malloc(sizeof(float) * s.seq * s.qk_rope);
    fill(p, c.lay.n_floats, 0.5f), fill(xn, (size_t)N * C, 1.0f);
    fill(Rq, nq, 1.0f), fill(Rk, nq, 1.0f), fill(Rv, nv, 1.0f);
    ef_tr_rope_table(cs, s.seq, s.qk_rope, s.rope_base);
    const ef_tr_mla_acts a = {.qa = acts, .rstdq = acts + N * q_lora, .qan = acts + N * (q_lora + 1),
                              .lat = acts + N * (2 * q_lora + 1),
                              .rstdkv = acts + N * (2 * q_lora + 1 + s.kv_lora),
                              .ckv = acts + N * (2 * q_lora + 2 + s.kv_lora)};
    ef_pool *pool;
    assert_int_equal(ef_pool_create(2, &pool), EF_OK);
    ef_tr_mla_fwd(pool, &s, &c.lay, p, 0, B, cs, xn, &a, q, k, v, scratch, &mm);
    memcpy(dq_, Rq, sizeof(float) * nq), memcpy(dk_, Rk, sizeof(float) * nq);
    ef_tr_mla_bwd(pool, &s, &c.lay, p, g, 0, B, cs, xn, &a, dq_, dk_, Rv, dxn, scratch, &mm);
    ef_pool_free(pool);
    c.p = to_double(p, c.lay.n_floats), c.xn = to_double(xn, (size_t)N * C);
    c.Rq = to_double(Rq, nq), c.Rk = to_double(Rk, nq), c.Rv = to_double(Rv, nv);
    double Ly = 0;
    for (int i = 0; i < nq; i++) Ly += (double)Rq[i] * q[i] + (double)Rk[i] * k[i];
    for (int i = 0; i < nv; i++) Ly += (double)Rv[i] * v[i];
    print_message("MLA q_lora=%d forward: %.6f vs double %.6f\n", q_lora, Ly, mla_loss(&c));
    assert_true(fabs(Ly - mla_loss(&c)) < 1e-4 * fmax(1.0, fabs(Ly)));
    fd_check("mla dxn", mla_loss, &c, c.xn, (size_t)N * C, dxn);
    const int32_t n_t = ef_train_tensor_count(&s);
    for (int32_t i = 0; i < n_t; i++) {
        ef_train_tensor_ref r;
        ef_train_tensor_at(&s, &c.lay, i, &r);
        if (!strstr(r.name, "attn_") || strstr(r.name, "attn_norm") || strstr(r.name, "attn_output"))
            continue; /* only the MLA projections */
        char what[96];
        snprintf(what, sizeof what, "mla d%.40s", r.name + 6);
        fd_check(what, mla_loss, &c, c.p + r.offset, (size_t)(r.ne0 * r.ne1 * r.ne2), g + r.offset);
    }
    free(c.p), free(c.xn), free(c.Rq), free(c.Rk), free(c.Rv);
    free(p), free(g), free(xn), free(dxn), free(Rq), free(Rk), free(Rv), free(q), free(k), free(v);
    free(dq_), free(dk_), free(acts), free(scratch), free(work), free(cs);
}
static void test_mla(void **state) { (void)state; check_mla(0); }
static void test_mla_q_lora(void **state) { (void)state; check_mla(5); }

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

/* ---------------- thread counts ----------------
 * The pooled position-wise layers give the same bits on 1, 2 and 3 threads:
 * RMSNorm backward (rows for dx, column blocks for dw, C not a multiple of
 * the block), SwiGLU over more than one chunk of the vectorized sigmoid
 * (ranges cut anywhere), the cross-entropy rows. */
static void test_pooled_layers_same_bits(void **state) {
    (void)state;
    enum { N = 37, C = 40, n = 1000, V = 37 };
    static float x[N * C], w[C], R[N * C], out[N * C], rstd[N], dx[4][N * C], dw[4][C];
    static float g[n], u[n], dh[n], h[4][n], dg[4][n], du[4][n], lg[4][N * V], loss[4][N];
    static const int32_t tgt[N] = {1, 5, 36, 0, 7};
    fill(x, N * C, 1.0f), fill(w, C, 1.0f), fill(R, N * C, 1.0f);
    fill(g, n, 6.0f), fill(u, n, 1.0f), fill(dh, n, 1.0f), fill(lg[0], N * V, 3.0f);
    ef_tr_rmsnorm_fwd(NULL, out, rstd, x, w, N, C, 1e-5f);
    for (int t = 1; t <= 3; t++) {
        ef_pool *pool = NULL;
        if (t > 1) assert_int_equal(ef_pool_create(t, &pool), EF_OK);
        memset(dx[t], 0, sizeof dx[t]), memset(dw[t], 0, sizeof dw[t]);
        ef_tr_rmsnorm_bwd(pool, dx[t], dw[t], R, x, w, rstd, N, C);
        ef_tr_swiglu_fwd(pool, h[t], g, u, n);
        ef_tr_swiglu_bwd(pool, dg[t], du[t], dh, g, u, n);
        memcpy(lg[t], lg[0], sizeof lg[0]);
        ef_tr_crossentropy_fwd(pool, loss[t], lg[t], tgt, N, V);
        ef_tr_crossentropy_bwd(pool, lg[t], tgt, N, V, 0.5f);
        ef_pool_free(pool);
        if (t == 1) continue;
        assert_memory_equal(dx[t], dx[1], sizeof dx[1]);
        assert_memory_equal(dw[t], dw[1], sizeof dw[1]);
        assert_memory_equal(h[t], h[1], sizeof h[1]);
        assert_memory_equal(dg[t], dg[1], sizeof dg[1]);
        assert_memory_equal(du[t], du[1], sizeof du[1]);
        assert_memory_equal(lg[t], lg[1], sizeof lg[1]);
        assert_memory_equal(loss[t], loss[1], sizeof loss[1]);
    }
    /* and the values are SwiGLU's: silu(g)·u within float rounding */
    for (int i = 0; i < n; i++) {
        const double want = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        assert_true(fabs(h[1][i] - want) <= 1e-6 * (1.0 + fabs(want)));
    }
}

int main(void) {
    ef_rng_seed(&g_rng, 12345);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),       cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_swiglu),        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_rope),          cmocka_unit_test(test_attention_mha),
        cmocka_unit_test(test_attention_gqa), cmocka_unit_test(test_attention_dk_dv),
        cmocka_unit_test(test_attention_window),
        cmocka_unit_test(test_attention_blocks), cmocka_unit_test(test_mla),
        cmocka_unit_test(test_mla_q_lora),    cmocka_unit_test(test_crossentropy),
        cmocka_unit_test(test_pooled_layers_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
