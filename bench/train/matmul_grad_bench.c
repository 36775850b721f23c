/* The projections' products of one training step of the demo model's shape
 * (N = 1024 tokens, dim 256, GQA 8/4 heads of 32, ff 768, vocabulary 4096),
 * timed in CPU seconds on one thread, each way in one run:
 *   old  forward on ef_cpu_matmul (the inference GEMM); backward as the
 *        trainer did before matmul_grad.h: transposed copies of W, dout and
 *        x, then ef_cpu_matmul, then the sums into dx and dW;
 *   new  ef_cpu_gemm_f32 (backends/cpu/matmul_grad.h) for all three;
 *   bf16 the same in mixed precision (.bf16 = 1: operands rounded to
 *        bfloat16 while packed, no twins; VDPBF16PS with AVX512_BF16).
 * Prints GFLOP per CPU second of each and the ratios new/old, bf16/new.
 * usage: matmul_grad_bench [REPEATS]   (bench/train/bench_matmul_grad.sh) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/cpu_ops.h"
#include "cpu/matmul_grad.h"
#include "quant/types.h"

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_floats(size_t n, unsigned seed) {
    float *p = malloc(sizeof(float) * n);
    if (!p) exit(1);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 9) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return p;
}

static ef_tensor f32_matrix(const float *data, int64_t n_in, int64_t n_out) {
    ef_tensor t = {.name = "bench", .type = EF_TYPE_F32, .n_dims = 2, .ne = {n_in, n_out, 1, 1}, .data = data,
                   .nbytes = (uint64_t)(n_in * n_out) * sizeof(float)};
    return t;
}

static void transpose(float *dst, const float *src, int64_t rows, int64_t cols) { /* dst[c][r] = src[r][c] */
    for (int64_t c0 = 0; c0 < cols; c0 += 8)
        for (int64_t r0 = 0; r0 < rows; r0 += 8)
            for (int64_t c = c0; c < c0 + 8 && c < cols; c++)
                for (int64_t r = r0; r < r0 + 8 && r < rows; r++) dst[c * rows + r] = src[r * cols + c];
}

/* One projection y[N, O] = x[N, I]·Wᵀ: forward, dx += dy·W, dW += dyᵀ·x. */
typedef struct proj {
    const char *name;
    int64_t I, O;
} proj;

int main(int argc, char **argv) {
    const int repeats = argc > 1 ? atoi(argv[1]) : 3;
    const int64_t N = 1024;
    const proj projs[] = {{"attn_q/attn_output 256x256", 256, 256},
                          {"attn_k/attn_v 256->128", 256, 128},
                          {"ffn_gate/up 256->768", 256, 768},
                          {"ffn_down 768->256", 768, 256},
                          {"output 256->4096", 256, 4096}};
    float *work = malloc(sizeof(float) * ef_cpu_gemm_f32_work_floats(1));
    printf("%-28s %12s %12s %12s %12s %8s %9s\n", "projection (N=1024)", "pass", "old GFLOP/s", "new GFLOP/s",
           "bf16 GFLOP/s", "new/old", "bf16/new");
    double old_total = 0, new_total = 0, b16_total = 0, flop_total = 0;
    for (size_t p = 0; p < sizeof projs / sizeof projs[0]; p++) {
        const int64_t I = projs[p].I, O = projs[p].O;
        float *x = random_floats((size_t)(N * I), 1), *W = random_floats((size_t)(O * I), 2);
        float *dy = random_floats((size_t)(N * O), 3), *y = malloc(sizeof(float) * (size_t)(N * O));
        float *dx = calloc((size_t)(N * I), sizeof(float)), *dW = calloc((size_t)(O * I), sizeof(float));
        float *wT = malloc(sizeof(float) * (size_t)(I * O)), *dT = malloc(sizeof(float) * (size_t)(O * N));
        float *xT = malloc(sizeof(float) * (size_t)(I * N)), *tmpx = malloc(sizeof(float) * (size_t)(N * I));
        float *tmpw = malloc(sizeof(float) * (size_t)(O * I));
        const double flop = 2.0 * (double)N * (double)I * (double)O;
        double t_old[3] = {1e30, 1e30, 1e30}, t_new[3] = {1e30, 1e30, 1e30}; /* fwd, dx, dW: best of repeats */
        double t_b16[3] = {1e30, 1e30, 1e30};
        for (int r = 0; r < repeats; r++) {
            double t0 = cpu_s();
            const ef_tensor w = f32_matrix(W, I, O);
            ef_cpu_matmul(NULL, &w, x, (int32_t)N, y);
            double t1 = cpu_s();
            transpose(wT, W, O, I); /* [I][O] */
            const ef_tensor wt = f32_matrix(wT, O, I);
            ef_cpu_matmul(NULL, &wt, dy, (int32_t)N, tmpx);
            for (int64_t k = 0; k < N * I; k++) dx[k] += tmpx[k];
            double t2 = cpu_s();
            transpose(xT, x, N, I);  /* [I][N] */
            transpose(dT, dy, N, O); /* [O][N] */
            const ef_tensor xt = f32_matrix(xT, N, I);
            ef_cpu_matmul(NULL, &xt, dT, (int32_t)O, tmpw);
            for (int64_t k = 0; k < O * I; k++) dW[k] += tmpw[k];
            double t3 = cpu_s();
            const ef_gemm_f32 gf = {.M = N, .N = O, .K = I, .A = x, .lda = I, .B = W, .ldb = I, .trans_b = 1,
                                    .C = y, .ldc = O, .work = work, .work_threads = 1};
            ef_cpu_gemm_f32(NULL, &gf);
            double t4 = cpu_s();
            const ef_gemm_f32 gx = {.M = N, .N = I, .K = O, .A = dy, .lda = O, .B = W, .ldb = I, .C = dx,
                                    .ldc = I, .accumulate = 1, .work = work, .work_threads = 1};
            ef_cpu_gemm_f32(NULL, &gx);
            double t5 = cpu_s();
            const ef_gemm_f32 gw = {.M = O, .N = I, .K = N, .A = dy, .lda = O, .trans_a = 1, .B = x, .ldb = I,
                                    .C = dW, .ldc = I, .accumulate = 1, .work = work, .work_threads = 1};
            ef_cpu_gemm_f32(NULL, &gw);
            double t6 = cpu_s();
            ef_gemm_f32 bf = gf, bx = gx, bw = gw;
            bf.bf16 = bx.bf16 = bw.bf16 = 1;
            ef_cpu_gemm_f32(NULL, &bf);
            double t7 = cpu_s();
            ef_cpu_gemm_f32(NULL, &bx);
            double t8 = cpu_s();
            ef_cpu_gemm_f32(NULL, &bw);
            double t9 = cpu_s();
            const double o[3] = {t1 - t0, t2 - t1, t3 - t2}, n[3] = {t4 - t3, t5 - t4, t6 - t5},
                         b[3] = {t7 - t6, t8 - t7, t9 - t8};
            for (int i = 0; i < 3; i++) {
                if (o[i] < t_old[i]) t_old[i] = o[i];
                if (n[i] < t_new[i]) t_new[i] = n[i];
                if (b[i] < t_b16[i]) t_b16[i] = b[i];
            }
        }
        const char *pass[3] = {"forward", "dx=dy*W", "dW+=dyT*x"};
        for (int i = 0; i < 3; i++) {
            printf("%-28s %12s %12.1f %12.1f %12.1f %7.2fx %8.2fx\n", projs[p].name, pass[i],
                   flop / t_old[i] * 1e-9, flop / t_new[i] * 1e-9, flop / t_b16[i] * 1e-9, t_old[i] / t_new[i],
                   t_new[i] / t_b16[i]);
            old_total += t_old[i], new_total += t_new[i], b16_total += t_b16[i], flop_total += flop;
        }
        free(x), free(W), free(dy), free(y), free(dx), free(dW), free(wT), free(dT), free(xT), free(tmpx),
            free(tmpw);
    }
    printf("all (one of each)            %12s %12.1f %12.1f %12.1f %7.2fx %8.2fx\n", "",
           flop_total / old_total * 1e-9, flop_total / new_total * 1e-9, flop_total / b16_total * 1e-9,
           old_total / new_total, new_total / b16_total);
    free(work);
    return 0;
}
