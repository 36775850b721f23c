/* edgeformer bench: prompt-processing (pp) and generation (tg) speed of one
 * or more models at one or more thread counts, with peak RSS and the decode
 * ceiling that memory bandwidth allows.
 *
 *   pp  p tokens evaluated in one ef_session_eval from an empty context
 *   tg  n single-token ef_session_eval calls from an empty context
 * Each is repeated r times after a warm-up; tokens/s is reported as mean ±
 * sample standard deviation. The bandwidth probe reads a buffer far larger
 * than the caches with all threads (median of several runs); the ceiling is
 * bandwidth / bytes read per generated token (the weights every token
 * touches + the KV cache read at the average position of the tg run). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "cpu/cpu_features.h"
#include "quant/types.h"

#define BENCH_MAX_MODELS 16
#define BENCH_MAX_THREADS 16
#define BW_BUFFER_BYTES ((size_t)512 << 20) /* 512 MiB: ≫ any L3 here */
#define BW_RUNS 7

typedef struct {
    const char *models[BENCH_MAX_MODELS];
    int n_models;
    int32_t threads[BENCH_MAX_THREADS];
    int n_threads;
    int64_t n_prompt, n_gen, reps;
    const char *format; /* md, json, csv */
    int no_mmap;
    double sparsity;    /* --sparsity: FFN activation sparsity in decode (0: dense) */
    cli_backend_opts backend; /* --backend, --backend-opt */
} bench_opts;

/* One result row. */
typedef struct {
    const char *model;     /* path as given */
    const char *wtype;     /* type of the block weights ("F16") */
    double size_gib;       /* weight bytes */
    double params_m;       /* weights, millions */
    int32_t threads;
    char test[32];         /* "pp512", "tg128" */
    double mean, sd;       /* tokens/s */
    double peak_rss_mib;
    double bw_gbs;         /* probe, this thread count */
    double ceiling;        /* tokens/s allowed by bw (tg only, else 0) */
} bench_row;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void mean_sd(const double *v, int64_t n, double *mean, double *sd) {
    double s = 0.0, ss = 0.0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) ss += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- memory read-bandwidth probe ---- */

typedef struct {
    const uint64_t *data; /* [n] */
    size_t n;
    uint64_t sum; /* kept so the reads are not optimised away */
} bw_slice;

static void *bw_read(void *p) {
    bw_slice *s = p;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0; /* four chains: the loads, not the adds, limit */
    size_t i = 0;
    for (; i + 4 <= s->n; i += 4) {
        a0 += s->data[i];
        a1 += s->data[i + 1];
        a2 += s->data[i + 2];
        a3 += s->data[i + 3];
    }
    for (; i < s->n; i++) a0 += s->data[i];
    s->sum = a0 + a1 + a2 + a3;
    return NULL;
}

/* Median GB/s of BW_RUNS reads of buf with n_threads threads; 0 on failure. */
static double probe_bandwidth(const uint64_t *buf, size_t words, int32_t n_threads) {
    double gbs[BW_RUNS];
    bw_slice slices[BENCH_MAX_THREADS];
    pthread_t tids[BENCH_MAX_THREADS];
    for (int run = 0; run < BW_RUNS; run++) {
        const double t0 = now_s();
        int started = 0;
        for (int32_t t = 0; t < n_threads; t++) {
            size_t b = words * (size_t)t / (size_t)n_threads, e = words * (size_t)(t + 1) / (size_t)n_threads;
            slices[t] = (bw_slice){buf + b, e - b, 0};
            if (t > 0 && pthread_create(&tids[t], NULL, bw_read, &slices[t]) != 0) break;
            started = t + 1;
        }
        if (started != n_threads) {
            for (int32_t t = 1; t < started; t++) pthread_join(tids[t], NULL);
            return 0.0;
        }
        bw_read(&slices[0]);
        for (int32_t t = 1; t < n_threads; t++) pthread_join(tids[t], NULL);
        const double dt = now_s() - t0;
        uint64_t sink = 0;
        for (int32_t t = 0; t < n_threads; t++) sink += slices[t].sum;
        if (sink == 1) fputs("", stderr); /* uses the sums */
        gbs[run] = (double)(words * sizeof(uint64_t)) / dt / 1e9;
    }
    qsort(gbs, BW_RUNS, sizeof gbs[0], cmp_double);
    return gbs[BW_RUNS / 2];
}

/* ---- peak RSS ---- */

/* Restarts the kernel's peak-RSS counter (Linux ≥ 4.0); 0 if unavailable. */
static int reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0) && ok;
}

/* Peak resident set in MiB: VmHWM, else getrusage's lifetime maximum. */
static double peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) {
                fclose(f);
                return strtod(line + 6, NULL) / 1024.0;
            }
        fclose(f);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* ---- what one generated token reads ---- */

typedef struct {
    uint64_t weight_bytes;    /* all weights */
    uint64_t per_token_bytes; /* weights a decode step reads (not the embedding table, unless tied) */
    uint64_t kv_row_bytes;    /* K+V bytes of one cached position, all layers (F32 cache) */
    const char *wtype;
} model_traffic;

static model_traffic measure_model(const ef_model *m) {
    model_traffic mt = {0, 0, 0, "?"};
    uint64_t embd = 0;
    int has_output = 0;
    int64_t kv_dim = 0;
    for (int64_t i = 0; i < ef_model_tensor_count(m); i++) {
        const char *name;
        uint32_t type;
        int64_t ne[4];
        if (ef_model_tensor_info(m, i, &name, &type, NULL, ne) != EF_OK) continue;
        uint64_t bytes = ef_type_row_size(type, ne[0]) * (uint64_t)(ne[1] * ne[2] * ne[3]);
        mt.weight_bytes += bytes;
        if (!strcmp(name, "token_embd.weight")) embd = bytes;
        if (!strcmp(name, "output.weight")) has_output = 1;
        if (!strcmp(name, "blk.0.attn_k.weight")) kv_dim = ne[1];
        if (!strcmp(name, "blk.0.attn_q.weight")) mt.wtype = ef_tensor_type_name(type);
    }
    mt.per_token_bytes = mt.weight_bytes - (has_output ? embd : 0);
    mt.kv_row_bytes = 2u * (uint64_t)ef_model_n_layer(m) * (uint64_t)kv_dim * sizeof(float);
    return mt;
}

/* ---- the runs ---- */

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static int32_t random_token(int32_t n_vocab) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (int32_t)(g_rng % (uint64_t)n_vocab);
}

/* tokens/s of each repetition into pp[] and tg[] (reps each). */
static ef_status run_session(ef_model *m, const bench_opts *o, int32_t threads, double *pp, double *tg) {
    ef_session_params *sp = NULL;
    ef_session *s = NULL;
    int32_t *toks = NULL;
    const int64_t n_tok = o->n_prompt > o->n_gen ? o->n_prompt : o->n_gen;
    ef_status st = ef_session_params_create(&sp);
    if (st == EF_OK) st = ef_session_params_set_n_ctx(sp, (int32_t)(n_tok + 16));
    if (st == EF_OK) st = ef_session_params_set_n_batch(sp, (int32_t)(o->n_prompt > 0 ? o->n_prompt : 1));
    if (st == EF_OK) st = ef_session_params_set_threads(sp, threads);
    if (st == EF_OK) st = ef_session_params_set_sparsity(sp, (float)o->sparsity);
    if (st == EF_OK) st = cli_backend_apply(&o->backend, sp);
    if (st == EF_OK) st = ef_session_create(m, sp, &s);
    ef_session_params_free(sp);
    if (st != EF_OK) return st;
    toks = malloc(sizeof(int32_t) * (size_t)n_tok);
    if (!toks) {
        ef_session_free(s);
        return EF_ERR_NO_MEMORY;
    }
    for (int64_t i = 0; i < n_tok; i++) toks[i] = random_token(ef_model_n_vocab(m));

    /* warm-up: touches the weights (page cache / mmap) and the scratch */
    const int64_t warm = o->n_prompt < 16 ? o->n_prompt : 16;
    if (warm > 0) st = ef_session_eval(s, toks, (size_t)warm, 0);
    for (int i = 0; st == EF_OK && i < 4 && o->n_gen > 0; i++) st = ef_session_eval(s, toks + i, 1, 0);

    for (int64_t r = 0; st == EF_OK && r < o->reps && o->n_prompt > 0; r++) {
        if ((st = ef_session_reset(s)) != EF_OK) break;
        const double t0 = now_s();
        st = ef_session_eval(s, toks, (size_t)o->n_prompt, 0);
        pp[r] = (double)o->n_prompt / (now_s() - t0);
    }
    for (int64_t r = 0; st == EF_OK && r < o->reps && o->n_gen > 0; r++) {
        if ((st = ef_session_reset(s)) != EF_OK) break;
        const double t0 = now_s();
        for (int64_t i = 0; st == EF_OK && i < o->n_gen; i++) st = ef_session_eval(s, toks + i, 1, 0);
        tg[r] = (double)o->n_gen / (now_s() - t0);
    }
    if (st != EF_OK) fprintf(stderr, "edgeformer: bench: %s\n", ef_session_errmsg(s));
    free(toks);
    ef_session_free(s);
    return st;
}

/* ---- output ---- */

static void print_rows(const bench_opts *o, const bench_row *rows, int n) {
    if (!strcmp(o->format, "json")) {
        printf("[\n");
        for (int i = 0; i < n; i++) {
            const bench_row *r = &rows[i];
            printf("  {\"model\": \"%s\", \"type\": \"%s\", \"size_gib\": %.4f, \"params_m\": %.2f, "
                   "\"threads\": %d, \"test\": \"%s\", \"tokens_per_s\": %.4f, \"sd\": %.4f, "
                   "\"peak_rss_mib\": %.1f, \"bandwidth_gbs\": %.2f, \"ceiling_tokens_per_s\": %.4f, "
                   "\"fraction_of_ceiling\": %.4f}%s\n",
                   r->model, r->wtype, r->size_gib, r->params_m, (int)r->threads, r->test, r->mean, r->sd,
                   r->peak_rss_mib, r->bw_gbs, r->ceiling, r->ceiling > 0 ? r->mean / r->ceiling : 0.0,
                   i + 1 < n ? "," : "");
        }
        printf("]\n");
        return;
    }
    const int csv = !strcmp(o->format, "csv");
    if (csv)
        printf("model,type,size_gib,params_m,threads,test,tokens_per_s,sd,peak_rss_mib,bandwidth_gbs,"
               "ceiling_tokens_per_s,fraction_of_ceiling\n");
    else
        printf("| model | type | size GiB | params M | threads | test | t/s | peak RSS MiB | "
               "mem BW GB/s | ceiling t/s | of ceiling |\n"
               "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        const char *base = strrchr(r->model, '/') ? strrchr(r->model, '/') + 1 : r->model;
        if (csv) {
            printf("%s,%s,%.4f,%.2f,%d,%s,%.4f,%.4f,%.1f,%.2f,%.4f,%.4f\n", base, r->wtype, r->size_gib,
                   r->params_m, (int)r->threads, r->test, r->mean, r->sd, r->peak_rss_mib, r->bw_gbs, r->ceiling,
                   r->ceiling > 0 ? r->mean / r->ceiling : 0.0);
        } else if (r->ceiling > 0) {
            printf("| %s | %s | %.3f | %.1f | %d | %s | %.2f ± %.2f | %.0f | %.1f | %.2f | %.0f%% |\n", base,
                   r->wtype, r->size_gib, r->params_m, (int)r->threads, r->test, r->mean, r->sd, r->peak_rss_mib,
                   r->bw_gbs, r->ceiling, 100.0 * r->mean / r->ceiling);
        } else {
            printf("| %s | %s | %.3f | %.1f | %d | %s | %.2f ± %.2f | %.0f | %.1f | - | - |\n", base, r->wtype,
                   r->size_gib, r->params_m, (int)r->threads, r->test, r->mean, r->sd, r->peak_rss_mib,
                   r->bw_gbs);
        }
    }
}

/* ---- arguments ---- */

static const char bench_usage[] =
    "usage: edgeformer bench -m MODEL [-m MODEL2 ...] [-p 512] [-n 128] [-r 5] [-t 1,2]\n"
    "                        [-o md|json|csv] [--no-mmap]\n"
    "  -p N   prompt tokens evaluated in one batch (pp test; 0 skips it)\n"
    "  -n N   tokens generated one at a time (tg test; 0 skips it)\n"
    "  -r N   repetitions after a warm-up (mean ± sd)\n"
    "  -t L   comma-separated thread counts\n"
    "  --sparsity F  FFN activation sparsity of the tg test (needs a calibrated or ReLU model)\n"
    "  --backend NAME, --backend-opt KEY=VALUE  compute backend of the sessions (default: auto)\n";

static int parse_threads(const char *s, bench_opts *o) {
    o->n_threads = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 256 || o->n_threads == BENCH_MAX_THREADS) return -1;
        o->threads[o->n_threads++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return o->n_threads > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_prompt = 512, o->n_gen = 128, o->reps = 5, o->format = "md";
    o->threads[0] = 1, o->threads[1] = 2, o->n_threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *s = NULL;
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(bench_usage, stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--no-mmap")) {
            o->no_mmap = 1;
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "-m", &s)) == 1) {
            if (o->n_models == BENCH_MAX_MODELS) return cli_usage_error("bench: at most %d models", BENCH_MAX_MODELS);
            o->models[o->n_models++] = s;
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "-t", &s)) == 1) {
            if (parse_threads(s, o)) return cli_usage_error("bench: bad thread list '%s'", s);
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "-o", &o->format)) == 1) {
            if (strcmp(o->format, "md") && strcmp(o->format, "json") && strcmp(o->format, "csv"))
                return cli_usage_error("bench: -o takes md, json or csv");
        } else if (r == 0 && ((r = cli_opt_i64(argc, argv, &i, "-p", &o->n_prompt)) != 0 ||
                              (r = cli_opt_i64(argc, argv, &i, "-n", &o->n_gen)) != 0 ||
                              (r = cli_opt_i64(argc, argv, &i, "-r", &o->reps)) != 0 ||
                              (r = cli_opt_f64(argc, argv, &i, "--sparsity", &o->sparsity)) != 0 ||
                              (r = cli_backend_arg(argc, argv, &i, &o->backend)) != 0)) {
            if (r < 0) return cli_usage_error("bench: bad value for %s", argv[i]);
        } else if (r < 0) {
            return cli_usage_error("bench: missing value for %s", argv[i]);
        } else {
            return cli_usage_error("bench: unknown option '%s'", argv[i]);
        }
    }
    if (o->n_models == 0) return cli_usage_error("bench: no model (-m MODEL)");
    if (o->n_prompt < 0 || o->n_prompt > 65536 || o->n_gen < 0 || o->n_gen > 65536 || o->reps < 1 ||
        o->reps > 1000 || (o->n_prompt == 0 && o->n_gen == 0))
        return cli_usage_error("bench: -p/-n must be 0..65536 (not both 0), -r 1..1000");
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    cli_setup_logging(EF_LOG_WARN);

    /* bandwidth per thread count, measured before any model is loaded */
    double bw[BENCH_MAX_THREADS] = {0};
    uint64_t *buf = malloc(BW_BUFFER_BYTES);
    if (buf) {
        memset(buf, 1, BW_BUFFER_BYTES); /* commits the pages */
        for (int t = 0; t < o.n_threads; t++)
            bw[t] = probe_bandwidth(buf, BW_BUFFER_BYTES / sizeof(uint64_t),
                                    o.threads[t] < BENCH_MAX_THREADS ? o.threads[t] : BENCH_MAX_THREADS);
        free(buf);
    }
    const char *env_backend = getenv("EF_BACKEND");
    fprintf(stderr, "edgeformer bench: backend %s; kernels %s; pp%lld, tg%lld, %lld repetitions\n",
            o.backend.name ? o.backend.name : env_backend && *env_backend ? env_backend : "auto",
            ef_cpu_simd_name(ef_cpu_simd_active()), (long long)o.n_prompt, (long long)o.n_gen, (long long)o.reps);

    const int max_rows = o.n_models * o.n_threads * 2;
    bench_row *rows = calloc((size_t)max_rows, sizeof *rows);
    double *pp = calloc((size_t)o.reps, sizeof(double)), *tg = calloc((size_t)o.reps, sizeof(double));
    if (!rows || !pp || !tg) {
        free(rows), free(pp), free(tg);
        fputs("edgeformer: error: out of memory\n", stderr);
        return 1;
    }
    int n_rows = 0;
    for (int mi = 0; mi < o.n_models && !rc; mi++) {
        reset_peak_rss();
        ef_model *m = cli_load_model(o.models[mi], o.threads[0], o.no_mmap);
        if (!m) {
            rc = 1;
            break;
        }
        const model_traffic mt = measure_model(m);
        for (int ti = 0; ti < o.n_threads && !rc; ti++) {
            ef_status st = run_session(m, &o, o.threads[ti], pp, tg);
            if (st != EF_OK) {
                rc = cli_fail("bench", st);
                break;
            }
            const double rss = peak_rss_mib();
            for (int k = 0; k < 2; k++) {
                const int64_t count = k == 0 ? o.n_prompt : o.n_gen;
                if (count == 0) continue;
                bench_row *r = &rows[n_rows++];
                r->model = o.models[mi];
                r->wtype = mt.wtype;
                r->size_gib = (double)mt.weight_bytes / (1u << 30);
                r->params_m = (double)ef_model_n_params(m) / 1e6;
                r->threads = o.threads[ti];
                snprintf(r->test, sizeof r->test, "%s%lld", k == 0 ? "pp" : "tg", (long long)count);
                mean_sd(k == 0 ? pp : tg, o.reps, &r->mean, &r->sd);
                r->peak_rss_mib = rss;
                r->bw_gbs = bw[ti];
                if (k == 1 && bw[ti] > 0) {
                    /* average position during tg: (n-1)/2 cached tokens, plus the new one */
                    const double bytes = (double)mt.per_token_bytes + (double)mt.kv_row_bytes * ((double)count + 1) / 2;
                    r->ceiling = bw[ti] * 1e9 / bytes;
                }
                fprintf(stderr, "  %s, %d thread(s), %s: %.2f ± %.2f tokens/s\n", o.models[mi], (int)r->threads,
                        r->test, r->mean, r->sd); /* progress: a full run takes minutes */
            }
        }
        ef_model_free(m);
    }
    if (n_rows > 0) print_rows(&o, rows, n_rows);
    free(rows), free(pp), free(tg);
    return rc;
}
