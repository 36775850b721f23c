/* The tiled attention with unequal K/V heads (backends/cpu/attn_ext_tile.h)
 * against a direct double-precision masked attention and against the
 * plain-C reference ef_cpu_attn_ext_ref, on random inputs: windows, sinks,
 * ring-mapped and paged rows, head dims 16/20/48/96/144, K ≠ V sizes, the
 * MLA absorbed case (K and V the same latent rows), F32/F16/Q8_0 caches,
 * prefill and chunk-parallel decode. And the determinism it promises: the
 * same bits for 1 and 2 threads, and for a prompt whole or in any pieces,
 * prefill- or decode-sized.
 * The tiled driver runs with the scalar kernel pair and with the SIMD pair
 * where this CPU and build have it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "cpu/attn_ext_tile.h"
#include "cpu/cpu_features.h"
#include "cpu/kv_rows.h"
#include "quant/types.h"

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_rng >> 11) / 4503599627370496.0 - 1.0);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    assert_non_null(p);
    return p;
}

/* What one case varies. */
typedef struct {
    int32_t n_tok, n_past, n_head, n_head_kv, dk, dv;
    int shared; /* V is K's rows (MLA absorbed): dk == dv, or one KV head and V the first dv of each row */
    int32_t window, sinks;
    int ring;   /* a ring of sinks + window + n_tok − 1 (+3 spare) rows instead of one row per position */
    uint32_t type;
} case_spec;

typedef struct {
    case_spec cs;
    ef_attn_ext a;
    int32_t n_kv;            /* positions 0 .. n_kv−1 written */
    float *q;                /* [n_tok][n_head][dk] */
    float *kpos, *vpos;      /* [n_kv][n_head_kv*dk], [n_kv][n_head_kv*dv]: what each position holds, as read back */
    void **k_pages, **v_pages;
    const void **k_slots, **v_slots;
    int64_t n_pages;
    double *want;            /* [n_tok][n_head][dv] */
    float *scratch;          /* [2][ef_cpu_attn_ext_scratch_floats] */
} attn_case;

enum { PAGE_ROWS = 7 }; /* tiles cross pages */

/* Rows of `type` and width in pages of PAGE_ROWS. */
static ef_kv_rows make_rows(uint32_t type, int32_t width, int64_t n_rows, int64_t n_pages, void **pages,
                            const void **slots) {
    ef_kv_rows r;
    r.type = type;
    r.width = width;
    r.page_rows = PAGE_ROWS;
    r.n_pages = n_pages;
    r.row_bytes = ef_kv_row_bytes(type, width);
    assert_true(r.row_bytes > 0);
    for (int64_t p = 0; p < n_pages; p++) {
        pages[p] = xcalloc((size_t)PAGE_ROWS, r.row_bytes);
        slots[p] = pages[p];
    }
    r.pages = slots;
    (void)n_rows;
    return r;
}

/* Writes position p's random row into its (ring) row and records what a
 * reader gets back for it. */
static void write_position(const ef_attn_ext *a, const ef_kv_rows *r, void **pages, int64_t p, float *record) {
    const int32_t w = r->width;
    float *src = xcalloc((size_t)w, sizeof(float)); /* [w] */
    for (int32_t i = 0; i < w; i++) src[i] = frand();
    const int64_t row = ef_attn_ring_row(p, a->ring_rows, a->n_sinks);
    ef_kv_row_store(r->type, src, w, (char *)pages[row / PAGE_ROWS] + (size_t)(row % PAGE_ROWS) * r->row_bytes);
    ef_kv_rows_load(r, row, 1, 0, w, record + p * w, w);
    free(src);
}

static void case_init(attn_case *c, const case_spec *cs) {
    memset(c, 0, sizeof *c);
    c->cs = *cs;
    c->n_kv = cs->n_past + cs->n_tok;
    const int32_t ring = cs->ring ? cs->sinks + cs->window + cs->n_tok - 1 + 3 : 0;
    const int64_t rows = ring ? ring : c->n_kv;
    assert_true(!ring || ring < c->n_kv); /* the ring really wraps */
    c->n_pages = (rows + PAGE_ROWS - 1) / PAGE_ROWS;
    c->a = (ef_attn_ext){.n_tok = cs->n_tok, .n_past = cs->n_past, .n_head = cs->n_head, .n_head_kv = cs->n_head_kv,
                         .dk = cs->dk, .dv = cs->dv, .scale = 1.0f / sqrtf((float)cs->dk), .window = cs->window,
                         .n_sinks = cs->sinks, .ring_rows = ring};
    const int32_t kw = cs->n_head_kv * cs->dk, vw = cs->n_head_kv * cs->dv;
    c->k_pages = xcalloc((size_t)c->n_pages, sizeof(void *));
    c->k_slots = xcalloc((size_t)c->n_pages, sizeof(void *));
    c->a.k = make_rows(cs->type, kw, rows, c->n_pages, c->k_pages, c->k_slots);
    c->kpos = xcalloc((size_t)c->n_kv * kw, sizeof(float));
    if (cs->shared) {
        c->a.v = c->a.k;
        c->vpos = c->kpos;
    } else {
        c->v_pages = xcalloc((size_t)c->n_pages, sizeof(void *));
        c->v_slots = xcalloc((size_t)c->n_pages, sizeof(void *));
        c->a.v = make_rows(cs->type, vw, rows, c->n_pages, c->v_pages, c->v_slots);
        c->vpos = xcalloc((size_t)c->n_kv * vw, sizeof(float));
    }
    for (int64_t p = 0; p < c->n_kv; p++) { /* in order: later positions overwrite ring rows */
        write_position(&c->a, &c->a.k, c->k_pages, p, c->kpos);
        if (!cs->shared) write_position(&c->a, &c->a.v, c->v_pages, p, c->vpos);
    }
    const size_t nq = (size_t)cs->n_tok * cs->n_head * cs->dk;
    c->q = xcalloc(nq, sizeof(float));
    for (size_t i = 0; i < nq; i++) c->q[i] = 2.5f * frand(); /* peaky softmax */
    c->want = xcalloc((size_t)cs->n_tok * cs->n_head * cs->dv, sizeof(double));
    c->scratch = xcalloc(2 * (size_t)ef_cpu_attn_ext_scratch_floats(&c->a), sizeof(float));
}

static void case_free(attn_case *c) {
    for (int64_t p = 0; p < c->n_pages; p++) {
        free(c->k_pages[p]);
        if (c->v_pages) free(c->v_pages[p]);
    }
    free(c->k_pages), free(c->k_slots), free(c->v_pages), free(c->v_slots);
    if (c->vpos != c->kpos) free(c->vpos);
    free(c->kpos), free(c->q), free(c->want), free(c->scratch);
}

/* softmax(scale·q·kᵀ) v over the positions each query may see, in double,
 * straight from the per-position values (no ring, no tiles). */
static void attention_direct(attn_case *c) {
    const case_spec *s = &c->cs;
    const int32_t group = s->n_head / s->n_head_kv, kw = s->n_head_kv * s->dk;
    const int32_t vw = s->shared ? kw : s->n_head_kv * s->dv; /* shared: V is in K's rows */
    double *w = xcalloc((size_t)c->n_kv, sizeof(double)); /* [n_kv] */
    for (int32_t t = 0; t < s->n_tok; t++)
        for (int32_t h = 0; h < s->n_head; h++) {
            const int32_t g = h / group;
            const int64_t pos = (int64_t)s->n_past + t;
            const float *q = c->q + ((size_t)t * s->n_head + h) * s->dk;
            double mx = -INFINITY, sum = 0;
            for (int64_t p = 0; p <= pos; p++) {
                const int seen = s->window == 0 || pos - p < s->window || p < s->sinks;
                w[p] = -INFINITY;
                if (!seen) continue;
                double d = 0;
                for (int32_t i = 0; i < s->dk; i++) d += (double)q[i] * c->kpos[p * kw + (int64_t)g * s->dk + i];
                w[p] = d * (double)c->a.scale;
                if (w[p] > mx) mx = w[p];
            }
            for (int64_t p = 0; p <= pos; p++) sum += (w[p] = exp(w[p] - mx));
            double *o = c->want + ((size_t)t * s->n_head + h) * s->dv;
            for (int32_t i = 0; i < s->dv; i++) {
                double acc = 0;
                for (int64_t p = 0; p <= pos; p++) acc += w[p] * c->vpos[p * vw + (int64_t)g * s->dv + i];
                o[i] = acc / sum;
            }
        }
    free(w);
}

static ef_pool *g_pool2;

static double max_err_vs_want(const attn_case *c, const float *out) {
    const size_t n = (size_t)c->cs.n_tok * c->cs.n_head * c->cs.dv;
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs(out[i] - c->want[i]);
        if (!(d <= e)) e = d; /* NaN lands here too */
    }
    return e;
}

/* Calls the tiled kernel for query tokens [t0, t0+nt) of the case. */
static void run_tiled_part(attn_case *c, ef_pool *pool, const ef_attn_ext_kernels *kern, int32_t t0, int32_t nt,
                           float *out) {
    ef_attn_ext part = c->a;
    part.n_tok = nt;
    part.n_past = c->a.n_past + t0;
    ef_cpu_attn_ext_tiled(pool, &part, kern, c->q + (int64_t)t0 * c->a.n_head * c->a.dk, c->scratch,
                          out + (int64_t)t0 * c->a.n_head * c->a.dv);
}

/* Each kernel set: close to direct; 2 threads the same bits as 1; the
 * prompt in prefill-sized chunks, in decode-sized pieces, or single tokens
 * then a prefill: the same bits as whole. The reference close to direct. */
static void check_case(const case_spec *cs) {
    attn_case c;
    case_init(&c, cs);
    attention_direct(&c);
    const size_t n_out = (size_t)cs->n_tok * cs->n_head * cs->dv;
    /* F32 and F16 (the kernels read the same F16 values the direct sum
     * uses): only float rounding, ≤ ~1e-6 seen; Q8_0 likewise. */
    const double tol = 2e-6;
    float *ref = xcalloc(n_out, sizeof(float));
    ef_cpu_attn_ext_ref(g_pool2, &c.a, c.q, c.scratch, ref);
    const double e_ref = max_err_vs_want(&c, ref);

    /* the reference, the picked pair, and each x86 SIMD pair this CPU and build have */
    const ef_cpu_simd hw = ef_cpu_simd_supported();
    const ef_attn_ext_kernels none = {NULL, NULL};
    const ef_attn_ext_kernels avx2 = {ef_attn_ext_scores_avx2, ef_attn_ext_fold_avx2};
    const ef_attn_ext_kernels avx512 = {ef_attn_ext_scores_avx512, ef_attn_ext_fold_avx512};
    ef_attn_ext_kernels sets[4] = {{ef_attn_ext_scores, ef_attn_ext_fold}, ef_attn_ext_pick_kernels(),
                                   ef_cpu_simd_x86(hw) && ef_attn_ext_avx2_built() ? avx2 : none,
                                   hw == EF_CPU_SIMD_AVX512 && ef_attn_ext_avx512_built() ? avx512 : none};
    const char *names[4] = {"scalar", "simd", "avx2", "avx512"};
    for (int k = 0; k < 4; k++) {
        if (!sets[k].scores) continue; /* no SIMD pair on this CPU/build */
        float *one = xcalloc(n_out, sizeof(float)), *two = xcalloc(n_out, sizeof(float));
        float *chunked = xcalloc(n_out, sizeof(float)), *pieces = xcalloc(n_out, sizeof(float));
        run_tiled_part(&c, NULL, &sets[k], 0, cs->n_tok, one);
        run_tiled_part(&c, g_pool2, &sets[k], 0, cs->n_tok, two);
        const double e = max_err_vs_want(&c, one);
        double e_ref_diff = 0;
        for (size_t i = 0; i < n_out; i++) e_ref_diff = fmax(e_ref_diff, fabs((double)one[i] - ref[i]));
        print_message("  tok %3d past %4d H %d/%d dk %3d dv %3d %s w %3d s %d ring %d %-4s %-6s: |err| %.1e"
                      " (ref %.1e, vs ref %.1e)\n",
                      (int)cs->n_tok, (int)cs->n_past, (int)cs->n_head, (int)cs->n_head_kv, (int)cs->dk,
                      (int)cs->dv, cs->shared ? "shared" : "k/v   ", (int)cs->window, (int)cs->sinks, cs->ring,
                      ef_type_get(cs->type)->name, names[k], e, e_ref, e_ref_diff);
        assert_true(e < tol);
        assert_true(e_ref < tol);
        assert_memory_equal(one, two, n_out * sizeof(float));
        if (cs->n_tok > 2 * EF_ATTN_EXT_DECODE_MAX_TOK + 2) {
            /* prefill chunks (each > DECODE_MAX_TOK): same bits; the split does not fall on a block edge */
            const int32_t cut = EF_ATTN_EXT_DECODE_MAX_TOK + 3;
            run_tiled_part(&c, g_pool2, &sets[k], 0, cut, chunked);
            run_tiled_part(&c, NULL, &sets[k], cut, cs->n_tok - cut, chunked);
            assert_memory_equal(one, chunked, n_out * sizeof(float));
        }
        /* decode-sized pieces (chunk-parallel path), 1 and 2 threads in turn: the same bits */
        for (int32_t t0 = 0; t0 < cs->n_tok; t0 += EF_ATTN_EXT_DECODE_MAX_TOK - 1) {
            const int32_t nt = cs->n_tok - t0 < EF_ATTN_EXT_DECODE_MAX_TOK - 1 ? cs->n_tok - t0 : EF_ATTN_EXT_DECODE_MAX_TOK - 1;
            run_tiled_part(&c, t0 % 2 ? g_pool2 : NULL, &sets[k], t0, nt, pieces);
        }
        assert_memory_equal(one, pieces, n_out * sizeof(float));
        /* single tokens first, then a prefill of the rest: the same bits */
        memset(pieces, 0, n_out * sizeof(float));
        const int32_t n_single = cs->n_tok < 5 ? cs->n_tok : 5;
        for (int32_t t0 = 0; t0 < n_single; t0++) run_tiled_part(&c, g_pool2, &sets[k], t0, 1, pieces);
        if (n_single < cs->n_tok) run_tiled_part(&c, g_pool2, &sets[k], n_single, cs->n_tok - n_single, pieces);
        assert_memory_equal(one, pieces, n_out * sizeof(float));
        free(one), free(two), free(chunked), free(pieces);
    }
    free(ref);
    case_free(&c);
}

/* {n_tok, n_past, n_head, n_head_kv, dk, dv, shared, window, sinks, ring, type} */
static const case_spec k_cases[] = {
    /* GQA window layers over a ring, sinks, tile and page edges */
    {70, 100, 4, 2, 48, 48, 0, 40, 3, 1, EF_TYPE_F32},
    {130, 200, 4, 1, 16, 16, 0, 64, 0, 1, EF_TYPE_F32},
    {65, 0, 2, 2, 16, 16, 0, 16, 0, 0, EF_TYPE_Q8_0},
    /* MLA absorbed: one shared latent head of kv_lora + rope, K = V */
    {37, 150, 8, 1, 144, 144, 1, 64, 4, 1, EF_TYPE_F16},
    {9, 300, 16, 1, 80, 80, 1, 0, 0, 0, EF_TYPE_F32},
    {40, 90, 4, 1, 96, 96, 1, 50, 1, 0, EF_TYPE_Q8_0},
    /* MLA absorbed, V only the latent: the first dv of K's rows (one load for both) */
    {37, 150, 8, 1, 144, 128, 1, 64, 4, 1, EF_TYPE_F16},
    {9, 300, 16, 1, 80, 64, 1, 0, 0, 0, EF_TYPE_F32},
    {40, 90, 4, 1, 96, 64, 1, 50, 1, 0, EF_TYPE_Q8_0},
    {1, 700, 8, 1, 144, 128, 1, 128, 4, 1, EF_TYPE_F16},
    {13, 40, 4, 1, 36, 20, 1, 0, 0, 0, EF_TYPE_F32},
    /* MLA expanded: per-head K (nope + rope) larger than V */
    {90, 30, 4, 4, 48, 32, 0, 0, 0, 0, EF_TYPE_F32},
    {66, 200, 4, 4, 48, 16, 0, 100, 2, 1, EF_TYPE_F16},
    {12, 40, 2, 2, 64, 32, 0, 20, 0, 0, EF_TYPE_Q8_0},
    /* head dims off the SIMD width */
    {33, 70, 3, 1, 20, 20, 0, 33, 2, 0, EF_TYPE_F32},
    {21, 5, 2, 1, 20, 12, 0, 0, 0, 0, EF_TYPE_F16},
    /* decode-sized calls over long caches: split keys, sinks far from the window */
    {1, 700, 8, 1, 144, 144, 1, 128, 4, 1, EF_TYPE_F16},
    {3, 900, 4, 2, 48, 48, 0, 200, 5, 1, EF_TYPE_F32},
    {2, 1500, 4, 4, 48, 32, 0, 0, 0, 0, EF_TYPE_F32},
    {1, 63, 2, 1, 16, 16, 0, 0, 0, 0, EF_TYPE_F32},
    {4, 64, 2, 2, 16, 16, 0, 10, 10, 0, EF_TYPE_F32},
    /* more chunks than one decode wave holds (8 per worker and KV head), and prefill over them */
    {3, 2600, 2, 1, 16, 16, 0, 0, 0, 0, EF_TYPE_F16},
    {12, 2500, 4, 1, 32, 32, 1, 0, 0, 0, EF_TYPE_F32},
    {7, 2400, 2, 2, 16, 16, 0, 2100, 3, 0, EF_TYPE_F32},
};

static void test_cases(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) check_case(&k_cases[i]);
}

/* ef_cpu_attn_ext picks the tiled SIMD kernel where it may, the reference
 * where EF_CPU_SIMD / ef_cpu_simd_force says scalar: both close to direct,
 * and the dispatch really switches (the bits differ between the two). */
static void test_dispatch(void **state) {
    (void)state;
    const case_spec cs = {50, 120, 8, 1, 80, 80, 1, 48, 4, 1, EF_TYPE_F16};
    attn_case c;
    case_init(&c, &cs);
    attention_direct(&c);
    const size_t n_out = (size_t)cs.n_tok * cs.n_head * cs.dv;
    float *scalar = xcalloc(n_out, sizeof(float)), *best = xcalloc(n_out, sizeof(float));
    float *ref = xcalloc(n_out, sizeof(float));
    ef_cpu_simd_force(EF_CPU_SIMD_SCALAR);
    ef_cpu_attn_ext(g_pool2, &c.a, c.q, c.scratch, scalar);
    ef_cpu_simd_force(-1);
    ef_cpu_attn_ext(g_pool2, &c.a, c.q, c.scratch, best);
    ef_cpu_attn_ext_ref(g_pool2, &c.a, c.q, c.scratch, ref);
    assert_memory_equal(scalar, ref, n_out * sizeof(float)); /* scalar level: the reference */
    assert_true(max_err_vs_want(&c, scalar) < 1e-5);
    assert_true(max_err_vs_want(&c, best) < 1e-5);
    if (ef_attn_ext_pick_kernels().scores) assert_memory_not_equal(scalar, best, n_out * sizeof(float));
    free(scalar), free(best), free(ref);
    case_free(&c);
}

/* A fold's vector exp2 against 2^x in double on a dense grid of [−125, 0]
 * (where 2^x is normal): relative error ≤ 3e-7 (its documented bound;
 * exp2f itself is within about 1 ulp ≈ 1.2e-7); exactly 1 at 0; exactly 0
 * for −inf and x ≤ −127, so masked positions weigh nothing. */
static void check_vector_exp2(void (*exp2_fn)(const float *, float *, int32_t), const char *name) {
    enum { N = 400001 };
    float *x = xcalloc(N, sizeof(float)), *y = xcalloc(N, sizeof(float));
    for (int32_t i = 0; i < N; i++) x[i] = -125.0f * (float)i / (float)(N - 1);
    exp2_fn(x, y, N - 3); /* an odd count: the tail path too */
    exp2_fn(x + N - 3, y + N - 3, 3);
    double worst = 0, worst_exp2f = 0;
    for (int32_t i = 0; i < N; i++) {
        const double want = exp2((double)x[i]);
        const double rel = fabs(y[i] - want) / want;
        if (!(rel <= worst)) worst = rel;
        const double rel_exp2f = fabs(exp2f(x[i]) - want) / want;
        if (rel_exp2f > worst_exp2f) worst_exp2f = rel_exp2f;
    }
    print_message("  %s vector exp2 on [-125, 0]: max relative error %.2e (exp2f %.2e)\n", name, worst, worst_exp2f);
    assert_true(worst <= 3e-7);
    const float edge[7] = {0.0f, -127.0f, -127.5f, -1000.0f, -INFINITY, -0.0f, -1.0f};
    float out[7];
    exp2_fn(edge, out, 7);
    assert_true(out[0] == 1.0f && out[5] == 1.0f);
    assert_true(fabsf(out[6] - 0.5f) <= 3e-7f * 0.5f);
    for (int k = 1; k < 5; k++) assert_true(out[k] == 0.0f && !signbit(out[k]));
    free(x), free(y);
}

static void test_vector_exp(void **state) {
    (void)state;
    if (!ef_cpu_simd_x86(ef_cpu_simd_supported()) || !ef_attn_ext_avx2_built()) {
        print_message("  no AVX2 kernels on this CPU/build: nothing to check\n");
        return;
    }
    check_vector_exp2(ef_attn_ext_exp2_avx2, "avx2");
}

/* The AVX-512 fold's vector exp2 (vscalefps for 2ⁿ): the same bound and
 * the same edges as the AVX2 one. */
static void test_vector_exp_avx512(void **state) {
    (void)state;
    if (ef_cpu_simd_supported() != EF_CPU_SIMD_AVX512 || !ef_attn_ext_avx512_built()) {
        print_message("  no AVX-512 kernels on this CPU/build: nothing to check\n");
        return;
    }
    check_vector_exp2(ef_attn_ext_exp2_avx512, "avx512");
}

static int setup(void **state) {
    (void)state;
    return ef_pool_create(2, &g_pool2) == EF_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    ef_pool_free(g_pool2);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_vector_exp),
        cmocka_unit_test(test_vector_exp_avx512),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
