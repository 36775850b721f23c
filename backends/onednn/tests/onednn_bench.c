/*
 * onednn_bench.c — matmul time of libedgeformer-onednn against the built-in
 * cpu backend, on the linear layers of the 125M preset (dim 768, 4 KV heads
 * of 64, FFN 2048, vocabulary 32000), per weight type and token count.
 * Both run through the same plugin table, with the same threads.
 *
 * usage: onednn_bench PATH/libedgeformer-onednn.so [threads] [reps] [both|cpu|onednn] [M] [int8 scheme]
 * (the scheme is the onednn.int8 option: auto, split, 7bit, off)
 * (one side alone shows whether the two thread pools disturb each other)
 * Not a test: timings on a shared machine are noisy; read ratios.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend_internal.h"

typedef struct shape {
    const char *name;
    int64_t in, out;
} shape;

static const shape layer[] = {
    {"wq", 768, 768}, {"wk", 768, 256}, {"wv", 768, 256}, {"wo", 768, 768},
    {"w_gate", 768, 2048}, {"w_up", 768, 2048}, {"w_down", 2048, 768},
};
static const shape head = {"output", 768, 32000};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static float rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1p-53 - 0.5);
}

/* Weight bytes of `type` for {in, out}: random values in that layout. */
static void *make_weight(uint32_t type, int64_t in, int64_t out, size_t *bytes)
{
    size_t n = (size_t)(in * out);
    if (type == EF_BE_TYPE_Q8_0) {
        size_t nb = n / EF_BE_QK;
        ef_be_block_q8_0 *b = malloc(nb * sizeof *b);
        for (size_t i = 0; i < nb; i++) {
            b[i].d = 0x2000; /* ~0.0078 in f16 */
            for (int j = 0; j < EF_BE_QK; j++)
                b[i].qs[j] = (int8_t)(rnd() * 254.0f);
        }
        *bytes = nb * sizeof *b;
        return b;
    }
    if (type == EF_BE_TYPE_F16) {
        uint16_t *h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) {
            rnd(); /* next random bits: magnitude ~0.008..0.016, random sign */
            h[i] = (uint16_t)(0x2000u | (rng & 0x3ffu) | (((rng >> 20) & 1u) << 15));
        }
        *bytes = n * 2;
        return h;
    }
    float *f = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        f[i] = rnd() * 0.1f;
    *bytes = n * 4;
    return f;
}

/* Median seconds of one matmul {in, out} x m tokens on backend `be`; -1 on failure. */
static double time_matmul(const ef_be_iface *be, ef_be_ctx *ctx, uint32_t type, const shape *s, int64_t m, int reps)
{
    size_t wbytes;
    void *w = make_weight(type, s->in, s->out, &wbytes);
    ef_be_buffer *wb = NULL, *xb = NULL, *yb = NULL;
    if (be->buffer_alloc(ctx, wbytes, EF_BE_BUF_WEIGHTS, &wb) || be->buffer_upload(ctx, wb, 0, w, wbytes) ||
        be->buffer_alloc(ctx, (uint64_t)(m * s->in) * 4, 0, &xb) ||
        be->buffer_alloc(ctx, (uint64_t)(m * s->out) * 4, 0, &yb)) {
        fprintf(stderr, "buffer setup failed\n");
        if (wb) be->buffer_free(ctx, wb);
        if (xb) be->buffer_free(ctx, xb);
        free(w);
        return -1.0;
    }
    float *x = be->buffer_map(ctx, xb); /* [m][in] */
    for (int64_t i = 0; i < m * s->in; i++)
        x[i] = rnd();
    be->buffer_unmap(ctx, xb);
    ef_be_tensor wt = {wb, 0, type, 2, {s->in, s->out, 1, 1}}, xt = {xb, 0, EF_BE_TYPE_F32, 2, {s->in, m, 1, 1}},
                 yt = {yb, 0, EF_BE_TYPE_F32, 2, {s->out, m, 1, 1}};
    double t[64];
    if (reps > 64)
        reps = 64;
    for (int r = -2; r < reps; r++) { /* two warm-ups: JIT, weight conversion, OpenMP start */
        double t0 = now_s();
        if (be->matmul(ctx, &wt, &xt, &yt) != 0) {
            fprintf(stderr, "matmul failed\n");
            be->buffer_free(ctx, wb), be->buffer_free(ctx, xb), be->buffer_free(ctx, yb);
            free(w);
            return -1.0;
        }
        be->synchronize(ctx);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    for (int i = 1; i < reps; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double tmp = t[j];
            t[j] = t[j - 1], t[j - 1] = tmp;
        }
    be->buffer_free(ctx, wb), be->buffer_free(ctx, xb), be->buffer_free(ctx, yb);
    free(w);
    return t[reps / 2];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so [threads] [reps]\n", argv[0]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 9;
    const char *which = argc > 4 ? argv[4] : "both";
    int run_cpu = strcmp(which, "onednn") != 0, run_onednn = strcmp(which, "cpu") != 0;
    const int64_t only_m = argc > 5 ? atoll(argv[5]) : 0; /* one token count instead of the list */
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    ef_backend_entry_fn entry = NULL;
    if (lib != NULL)
        *(void **)&entry = dlsym(lib, EF_BACKEND_ENTRY_NAME);
    if (entry == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    ef_be_iface onednn, cpu;
    memset(&onednn, 0, sizeof onednn);
    memset(&cpu, 0, sizeof cpu);
    const ef_be_host *host = ef_backend_host();
    if (entry(host, &onednn, sizeof onednn) != 0)
        return 1;
    ef_backend_cpu_iface(&cpu);
    ef_be_ctx *cd, *cc;
    char err[256];
    ef_be_option int8_opt = {"onednn.int8", argc > 6 ? argv[6] : "auto"};
    if (onednn.init(host, &int8_opt, 1, &cd, err, sizeof err) || cpu.init(host, NULL, 0, &cc, err, sizeof err)) {
        fprintf(stderr, "init: %s\n", err);
        return 1;
    }
    onednn.set_threads(cd, threads);
    cpu.set_threads(cc, threads);
    ef_be_probe p;
    onednn.probe(host, &p);
    printf("onednn: %s; threads %d, median of %d, onednn.int8=%s\n", p.device, threads, reps, int8_opt.value);
    printf("%-5s %5s | %10s %10s | %10s %10s | %6s\n", "type", "M", "cpu ms", "GFLOP/s", "onednn ms", "GFLOP/s",
           "ratio");
    const uint32_t types[] = {EF_BE_TYPE_F32, EF_BE_TYPE_F16, EF_BE_TYPE_Q8_0};
    const char *type_names[] = {"F32", "F16", "Q8_0"};
    const int64_t ms[] = {1, 16, 128, 512};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
            int64_t m = ms[mi];
            if (only_m > 0 && m != only_m)
                continue;
            double tc = 0, td = 0, flops = 0;
            for (size_t si = 0; si <= sizeof layer / sizeof layer[0]; si++) {
                const shape *s = si < sizeof layer / sizeof layer[0] ? &layer[si] : &head;
                /* the layer counts 12 times, the head once */
                double times = s == &head ? 1.0 : 12.0;
                double c = run_cpu ? time_matmul(&cpu, cc, types[ti], s, m, reps) : 0;
                double d = run_onednn ? time_matmul(&onednn, cd, types[ti], s, m, reps) : 0;
                if (c < 0 || d < 0) {
                    onednn.shutdown(cd);
                    cpu.shutdown(cc);
                    return 1;
                }
                tc += times * c;
                td += times * d;
                flops += times * 2.0 * (double)(s->in * s->out * m);
            }
            printf("%-5s %5lld | %10.2f %10.1f | %10.2f %10.1f | %6.2f\n", type_names[ti], (long long)m, tc * 1e3,
                   flops / tc * 1e-9, td * 1e3, flops / td * 1e-9, tc / td);
            fflush(stdout);
        }
    onednn.shutdown(cd);
    cpu.shutdown(cc);
    return 0;
}
