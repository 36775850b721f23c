/* F32 GEMM with transposed operands (matmul_grad.h): the blocking loops,
 * the packing of op(A) and op(B) into micro-panels, the split over the
 * pool's workers, the scalar reference micro-kernel and bfloat16 rounding.
 * The AVX2, AVX-512 and NEON micro-kernels are in
 * matmul_grad_{avx2,avx512,neon}.c, the AVX512_BF16 ones with their
 * packing in matmul_grad_avx512bf16.c. */
#include "cpu/matmul_grad.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu/cpu_features.h"
#include "cpu/matmul_kernels.h"

enum {
    MC = 96,  /* rows of op(A) packed at once: [MC][KC] = 96 KiB, stays in L2 */
    KC = 256, /* K chunk: a B micro-panel [KC][NR] stays in L1 across the MC rows */
    NC = 512, /* columns of op(B) packed at once: [KC][NC] = 512 KiB, L2 */
    SCALAR_MR = 4,
    SCALAR_NR = 8,
    MAX_MR = 12, /* the largest tile (AVX-512) */
    MAX_NR = 32,
    ALIGN_FLOATS = 16 /* 64 bytes */
};

/* One worker's packing space: [MC][KC] for A, [KC][NC] for B, [MAX_NR][KC]
 * for a stored Bᵀ's rows converted to bfloat16 pairs, plus slack to align.
 * The bfloat16 pair panels take chunks of 2·KC values in the same room. */
#define WORK_PER_THREAD ((size_t)MC * KC + (size_t)KC * NC + (size_t)MAX_NR * KC + ALIGN_FLOATS)

size_t ef_cpu_gemm_f32_work_floats(int32_t n_threads) {
    return (size_t)(n_threads < 1 ? 1 : n_threads) * WORK_PER_THREAD;
}

/* Scalar reference: the tile of matmul_grad.h with fmaf, so each output is
 * the same fused chain as the SIMD kernels'. A element (i, k) at
 * ap[i·a_row + k·a_k]; bp: [kc][8]. */
static void tile_scalar(int64_t kc, const float *ap, int64_t a_row, int64_t a_k, const float *bp, float *c,
                        int64_t ldc, int add) {
    float acc[SCALAR_MR][SCALAR_NR] = {{0}}; /* [MR][NR] */
    for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < SCALAR_MR; i++)
            for (int j = 0; j < SCALAR_NR; j++)
                acc[i][j] = fmaf(ap[i * a_row + k * a_k], bp[k * SCALAR_NR + j], acc[i][j]);
    for (int i = 0; i < SCALAR_MR; i++)
        for (int j = 0; j < SCALAR_NR; j++) c[i * ldc + j] = add ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}
static void ukernel_scalar(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_scalar(kc, ap, 1, SCALAR_MR, bp, c, ldc, add);
}
static void ukernel_rows_scalar(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int add) {
    tile_scalar(kc, ap, kc, 1, bp, c, ldc, add);
}

/* A stored Bᵀ's micro-panel in plain C (the layout of ef_gemm_pack_bt_avx2). */
static void pack_bt_scalar(const float *B, int64_t ldb, int64_t kc, int64_t cols, int nr, float *dst) {
    int64_t c = 0;
    for (; c < cols; c++)
        for (int64_t k = 0; k < kc; k++) dst[k * nr + c] = B[c * ldb + k];
    for (; c < nr; c++)
        for (int64_t k = 0; k < kc; k++) dst[k * nr + c] = 0.0f;
}

float ef_gemm_round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0) { /* ±0 or a denormal: ±0 */
        u &= 0x80000000u;
    } else if ((u & 0x7fffffffu) > 0x7f800000u) { /* NaN: keep it one, quiet */
        u = (u | 0x00400000u) & 0xffff0000u;
    } else { /* to nearest even at bit 16 (may carry into ±inf, as it should) */
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    }
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The AVX512_BF16 kernels may run at `level` (processor, OS and build). */
static int bf16_kernels_at(int level) {
    return level == EF_CPU_SIMD_AVX512 && ef_cpu_simd_supported() == EF_CPU_SIMD_AVX512 &&
           ef_cpu_x86_avx512_bf16() && ef_cpu_avx512bf16_kernels_built();
}

void ef_cpu_f32_to_bf16(uint16_t *dst, const float *src, int64_t n) {
    if (bf16_kernels_at((int)ef_cpu_simd_active())) {
        ef_cpu_f32_to_bf16_avx512(dst, src, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const float r = ef_gemm_round_bf16(src[i]);
        uint32_t u;
        memcpy(&u, &r, sizeof u);
        dst[i] = (uint16_t)(u >> 16);
    }
}

/* The F32 levels' bf16 mode: a packed panel rounded in place. */
static void round_panel_bf16(float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] = ef_gemm_round_bf16(p[i]);
}

typedef void (*pack_bt_fn)(const float *B, int64_t ldb, int64_t kc, int64_t cols, int nr, float *dst);

typedef struct gemm_tile {
    int mr, nr;
    ef_gemm_ukernel_fn run;      /* A panel [kc][mr] */
    ef_gemm_ukernel_fn run_rows; /* A panel [mr][kc] */
    pack_bt_fn pack_bt;
    int pairs; /* panels of bfloat16 pairs (the AVX512_BF16 kernels): kp = ceil(kc/2) */
} gemm_tile;

static gemm_tile tile_for_level(int level, int bf16) {
    const ef_cpu_simd have = ef_cpu_simd_supported();
    if (bf16 && bf16_kernels_at(level))
        return (gemm_tile){EF_GEMM_BF16_MR, EF_GEMM_BF16_NR, ef_gemm_ukernel_bf16_avx512,
                           ef_gemm_ukernel_rows_bf16_avx512, NULL, 1};
    if (level == EF_CPU_SIMD_AVX512 && have == EF_CPU_SIMD_AVX512 && ef_cpu_avx512_kernels_built())
        return (gemm_tile){EF_GEMM_AVX512_MR, EF_GEMM_AVX512_NR, ef_gemm_ukernel_avx512,
                           ef_gemm_ukernel_rows_avx512, ef_gemm_pack_bt_avx2, 0};
    if ((level == EF_CPU_SIMD_AVX512 || level == EF_CPU_SIMD_AVX2) && ef_cpu_simd_x86(have) &&
        ef_cpu_avx2_kernels_built())
        return (gemm_tile){EF_GEMM_AVX2_MR, EF_GEMM_AVX2_NR, ef_gemm_ukernel_avx2, ef_gemm_ukernel_rows_avx2,
                           ef_gemm_pack_bt_avx2, 0};
    if (ef_cpu_simd_arm((ef_cpu_simd)level) && ef_cpu_simd_arm(have) && ef_cpu_neon_kernels_built())
        return (gemm_tile){EF_GEMM_NEON_MR, EF_GEMM_NEON_NR, ef_gemm_ukernel_neon, ef_gemm_ukernel_rows_neon,
                           pack_bt_scalar, 0};
    return (gemm_tile){SCALAR_MR, SCALAR_NR, ukernel_scalar, ukernel_rows_scalar, pack_bt_scalar, 0};
}

/* dst[0..width) = src[0..n), zero past n: one row of a packed micro-panel.
 * Whole rows of the widths in use are fixed-size copies the compiler turns
 * into a few vector moves (a plain loop of runtime length does not). */
static inline void copy_run(float *dst, const float *src, int64_t n, int width) {
    if (n == width) switch (width) {
        case 4: memcpy(dst, src, 4 * sizeof(float)); return;
        case 6: memcpy(dst, src, 6 * sizeof(float)); return;
        case 8: memcpy(dst, src, 8 * sizeof(float)); return;
        case 12: memcpy(dst, src, 12 * sizeof(float)); return;
        case 16: memcpy(dst, src, 16 * sizeof(float)); return;
        case 32: memcpy(dst, src, 32 * sizeof(float)); return;
        default: break;
        }
    int64_t i = 0;
    for (; i < n; i++) dst[i] = src[i];
    for (; i < width; i++) dst[i] = 0.0f;
}

/* The mc rows of op(A) from i0, k0..k0+kc, in micro-panels of mr rows
 * (rows past mc zero), each at ap + p·kc: from a stored Aᵀ k-major
 * [kc][mr] (a contiguous run of rows per k), else as rows [mr][kc] (each
 * row's run copied as it is). */
static void pack_a(const ef_gemm_f32 *g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr, float *ap) {
    for (int64_t p = 0; p < mc; p += mr) {
        const int64_t rows = mc - p < mr ? mc - p : mr;
        float *dst = ap + p * kc; /* [kc][mr] or [mr][kc] */
        if (g->trans_a) {
            for (int64_t k = 0; k < kc; k++) /* a contiguous run of rows per k */
                copy_run(dst + k * mr, g->A + (k0 + k) * g->lda + i0 + p, rows, mr);
        } else {
            for (int64_t r = 0; r < rows; r++)
                memcpy(dst + r * kc, g->A + (i0 + p + r) * g->lda + k0, sizeof(float) * (size_t)kc);
            memset(dst + rows * kc, 0, sizeof(float) * (size_t)((mr - rows) * kc));
        }
    }
}

/* bp[q][k][nr] = op(B)[k0 + k][j0 + q·nr + c] for the nc columns from j0,
 * columns past nc zero. bp: [ceil(nc/nr)][kc][nr]. */
static void pack_b(const ef_gemm_f32 *g, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, pack_bt_fn pack_bt,
                   float *bp) {
    for (int64_t q = 0; q < nc; q += nr) {
        const int64_t cols = nc - q < nr ? nc - q : nr;
        float *dst = bp + q * kc; /* [kc][nr] */
        if (!g->trans_b) {        /* B is [K][N]: a contiguous run per k */
            for (int64_t k = 0; k < kc; k++) copy_run(dst + k * nr, g->B + (k0 + k) * g->ldb + j0 + q, cols, nr);
        } else { /* B is [N][K]: one stored row per column, transposed */
            pack_bt(g->B + (j0 + q) * g->ldb + k0, g->ldb, kc, cols, nr, dst);
        }
    }
}

/* An edge tile's valid rows × cols added to or stored in c (the same
 * single addition per output as a whole tile's). tile: [mr][nr]. */
static void store_edge(float *c, int64_t ldc, const float *tile, int nr, int64_t rows, int64_t cols, int add) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) c[i * ldc + j] = add ? c[i * ldc + j] + tile[i * nr + j] : tile[i * nr + j];
}

/* One mr×nr tile at c (rows, cols of it inside C): whole tiles go straight
 * to C, edge tiles through a local tile. */
static void run_tile(ef_gemm_ukernel_fn run, const gemm_tile *t, int64_t kc, const float *ap, const float *bp,
                     float *c, int64_t ldc, int64_t rows, int64_t cols, int add) {
    if (rows == t->mr && cols == t->nr) {
        run(kc, ap, bp, c, ldc, add);
        return;
    }
    float tile[MAX_MR * MAX_NR] __attribute__((aligned(64))); /* [mr][nr] */
    run(kc, ap, bp, tile, t->nr, 0);
    store_edge(c, ldc, tile, t->nr, rows, cols, add);
}

/* A whole-rows tile of the AVX512_BF16 level reading A's pairs in place:
 * a16 is row 0's first pair, rows a_row pairs apart. */
static void run_tile_in_place(const gemm_tile *t, int64_t kp, const uint16_t *a16, int64_t a_row, const float *bp,
                              float *c, int64_t ldc, int64_t cols, int add) {
    const float *ap = (const float *)(const void *)a16; /* pairs, read as 32-bit units */
    if (cols == t->nr) {
        ef_gemm_ukernel_rows_ld_bf16_avx512(kp, ap, a_row, bp, c, ldc, add);
        return;
    }
    float tile[MAX_MR * MAX_NR] __attribute__((aligned(64))); /* [mr][nr] */
    ef_gemm_ukernel_rows_ld_bf16_avx512(kp, ap, a_row, bp, tile, t->nr, 0);
    store_edge(c, ldc, tile, t->nr, t->mr, cols, add);
}

typedef struct gemm_job {
    const ef_gemm_f32 *g;
    gemm_tile tile;
    int32_t parts; /* workers that take a share: min(pool size, work_threads) */
} gemm_job;

/* Rows [m0, m1) of C: all of N and K, BLIS order (jc, pc, ic, jr, ir).
 * A panel's k extent kp is kc, or ceil(kc/2) pairs of bfloat16. */
static void gemm_rows(const gemm_job *job, float *ap, float *bp, float *tmp, int64_t m0, int64_t m1) {
    const ef_gemm_f32 *g = job->g;
    const gemm_tile *t = &job->tile;
    const ef_gemm_ukernel_fn run = g->trans_a ? t->run : t->run_rows; /* pack_a's layout */
    const int64_t kc_max = t->pairs ? 2 * KC : KC;
    const int round = g->bf16 && !t->pairs; /* the F32 levels' bf16 mode */
    /* A's bfloat16 twin read in place by whole panels when its rows hold
     * whole pairs: stored A (not Aᵀ), even lda and K (every chunk even) */
    const int a_direct = t->pairs && !g->trans_a && g->A16 && g->lda % 2 == 0 && g->K % 2 == 0;
    for (int64_t jc = 0; jc < g->N; jc += NC) {
        const int64_t nc = g->N - jc < NC ? g->N - jc : NC;
        for (int64_t pc = 0; pc < g->K; pc += kc_max) {
            const int64_t kc = g->K - pc < kc_max ? g->K - pc : kc_max;
            const int64_t kp = t->pairs ? (kc + 1) / 2 : kc;
            const int add = g->accumulate || pc > 0;
            if (t->pairs) {
                ef_gemm_pack_b_bf16_avx512(g, pc, kc, jc, nc, t->nr, bp, tmp);
            } else {
                pack_b(g, pc, kc, jc, nc, t->nr, t->pack_bt, bp);
                if (round) round_panel_bf16(bp, (nc + t->nr - 1) / t->nr * t->nr * kc);
            }
            for (int64_t ic = m0; ic < m1; ic += MC) {
                const int64_t mc = m1 - ic < MC ? m1 - ic : MC;
                const int64_t whole = a_direct ? mc / t->mr * t->mr : 0; /* rows read in place */
                if (t->pairs) {
                    if (whole < mc)
                        ef_gemm_pack_a_bf16_avx512(g, ic + whole, mc - whole, pc, kc, t->mr, ap + whole * kp);
                } else {
                    pack_a(g, ic, mc, pc, kc, t->mr, ap);
                    if (round) round_panel_bf16(ap, (mc + t->mr - 1) / t->mr * t->mr * kc);
                }
                for (int64_t jr = 0; jr < nc; jr += t->nr) {
                    const int64_t cols = nc - jr < t->nr ? nc - jr : t->nr;
                    for (int64_t ir = 0; ir < mc; ir += t->mr) {
                        const int64_t rows = mc - ir < t->mr ? mc - ir : t->mr;
                        float *c = g->C + (ic + ir) * g->ldc + jc + jr; /* [rows][ldc] */
                        if (ir < whole) /* pairs of A16's rows ic + ir.. from column pc */
                            run_tile_in_place(t, kp, g->A16 + (ic + ir) * g->lda + pc, g->lda / 2, bp + jr * kp, c,
                                              g->ldc, cols, add);
                        else
                            run_tile(run, t, kp, ap + ir * kp, bp + jr * kp, c, g->ldc, rows, cols, add);
                    }
                }
            }
        }
    }
}

static void gemm_worker(void *ctx, int32_t ith, int32_t nth) {
    const gemm_job *job = ctx;
    const ef_gemm_f32 *g = job->g;
    const int32_t parts = nth < job->parts ? nth : job->parts;
    if (ith >= parts) return;
    const int64_t mr = job->tile.mr, n_panels = (g->M + mr - 1) / mr;
    int64_t p0, p1;
    ef_split_range(n_panels, ith, parts, &p0, &p1);
    const int64_t m0 = p0 * mr, m1 = p1 * mr < g->M ? p1 * mr : g->M;
    if (m0 >= m1) return;
    if (g->K == 0) { /* an empty sum: C keeps its values, or becomes 0 */
        if (!g->accumulate)
            for (int64_t m = m0; m < m1; m++) memset(g->C + m * g->ldc, 0, sizeof(float) * (size_t)g->N);
        return;
    }
    float *base = g->work + (size_t)ith * WORK_PER_THREAD;
    float *ap = (float *)(((uintptr_t)base + 63) & ~(uintptr_t)63); /* [MC][KC] */
    float *bp = ap + (size_t)MC * KC;                              /* [KC][NC] */
    float *tmp = bp + (size_t)KC * NC;                             /* [MAX_NR][KC] */
    gemm_rows(job, ap, bp, tmp, m0, m1);
}

void ef_cpu_gemm_f32_at(ef_pool *pool, const ef_gemm_f32 *g, int level) {
    if (g->M <= 0 || g->N <= 0) return;
    gemm_job job = {g, tile_for_level(level, g->bf16), g->work_threads < 1 ? 1 : g->work_threads};
    ef_pool_run(pool, gemm_worker, &job);
}

void ef_cpu_gemm_f32(ef_pool *pool, const ef_gemm_f32 *g) {
    ef_cpu_gemm_f32_at(pool, g, (int)ef_cpu_simd_active());
}
