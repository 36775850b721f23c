/* Decode speed at several sparsity levels in one process, so the ratios are
 * fair on a shared, noisy machine: one session per level on one loaded
 * model; each round decodes N tokens with every level in turn (the order
 * rotates per round) and the speedup of a level is the median over rounds
 * of its tokens/s divided by the dense tokens/s of the same round. Also
 * the same ratio in process CPU time (CLOCK_PROCESS_CPUTIME_ID), which on a
 * loaded machine leaves out the time the process waited for a core: the
 * steadier figure for one thread (with more, it counts the workers' spinning).
 *
 * build: cc -O2 -Iinclude bench/sparsity/sparse_speed.c -Lbuild/lib -ledgeformer -o sparse_speed
 * (bench/sparsity/run_speed.sh builds it and runs the docs' table)
 * usage: sparse_speed MODEL THREADS ROUNDS N LEVEL... (the first level is the baseline, e.g. 0) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "edgeformer/edgeformer.h"

#define MAX_LEVELS 8
#define MAX_ROUNDS 200

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* tokens/s of n single-token evals after a reset and an 8-token prompt, in
 * wall time (returned) and in process CPU time (*cpu_rate). */
static double decode_rate(ef_session *s, const int32_t *tok, int n, double *cpu_rate) {
    *cpu_rate = 0;
    if (ef_session_reset(s) || ef_session_eval(s, tok, 8, 0)) return 0;
    const double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < n; i++)
        if (ef_session_eval(s, tok + 8 + i, 1, 0)) return 0;
    *cpu_rate = n / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
    return n / (clock_s(CLOCK_MONOTONIC) - t0);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s MODEL THREADS ROUNDS N LEVEL...\n", argv[0]);
        return 2;
    }
    const int threads = atoi(argv[2]), rounds = atoi(argv[3]), n = atoi(argv[4]), n_lv = argc - 5;
    if (n_lv > MAX_LEVELS || rounds < 1 || rounds > MAX_ROUNDS || n < 1) return 2;
    ef_model *m = NULL;
    if (ef_model_load(argv[1], NULL, &m)) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], ef_last_error());
        return 1;
    }
    ef_session *s[MAX_LEVELS] = {0};
    float lv[MAX_LEVELS];
    for (int l = 0; l < n_lv; l++) {
        lv[l] = (float)atof(argv[5 + l]);
        ef_session_params *p = NULL;
        if (ef_session_params_create(&p) || ef_session_params_set_threads(p, threads) ||
            ef_session_params_set_n_ctx(p, 8 + n + 1) || ef_session_params_set_sparsity(p, lv[l]) ||
            ef_session_create(m, p, &s[l])) {
            fprintf(stderr, "session at level %g: %s\n", (double)lv[l], ef_last_error());
            return 1;
        }
        ef_session_params_free(p);
    }
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(8 + n));
    uint32_t x = 12345;
    for (int i = 0; i < 8 + n; i++) {
        x = x * 1664525u + 1013904223u;
        tok[i] = 3 + (int32_t)((x >> 8) % (uint32_t)(ef_model_n_vocab(m) - 3));
    }
    static double rate[MAX_LEVELS][MAX_ROUNDS], ratio[MAX_LEVELS][MAX_ROUNDS];
    static double cpu[MAX_LEVELS][MAX_ROUNDS], cpu_ratio[MAX_LEVELS][MAX_ROUNDS];
    double ignored;
    for (int l = 0; l < n_lv; l++) decode_rate(s[l], tok, n < 8 ? n : 8, &ignored); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < n_lv; k++) {
            const int l = (k + r) % n_lv; /* rotate the order */
            rate[l][r] = decode_rate(s[l], tok, n, &cpu[l][r]);
        }
        for (int l = 0; l < n_lv; l++) {
            ratio[l][r] = rate[l][r] / rate[0][r];
            cpu_ratio[l][r] = cpu[l][r] / cpu[0][r];
        }
    }
    printf("| level | median t/s | best t/s | speedup (median of per-round ratios) | CPU-time speedup | skipped |\n");
    printf("|---:|---:|---:|---:|---:|---:|\n");
    for (int l = 0; l < n_lv; l++) {
        double skipped = 0;
        ef_session_stat(s[l], EF_STAT_SPARSE_SKIPPED, &skipped);
        const double best = rate[l][0];
        double b = best;
        for (int r = 1; r < rounds; r++) b = rate[l][r] > b ? rate[l][r] : b;
        printf("| %.0f%% | %.1f | %.1f | %.2fx | %.2fx | %.1f%% |\n", 100 * lv[l], median(rate[l], rounds), b,
               median(ratio[l], rounds), median(cpu_ratio[l], rounds), 100 * skipped);
    }
    for (int l = 0; l < n_lv; l++) ef_session_free(s[l]);
    free(tok);
    ef_model_free(m);
    return 0;
}
