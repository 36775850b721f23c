/* Training throughput of the C trainer through the public API, for
 * bench_vs_torch.sh: the demo model's shape (bench/train/train_demo.sh),
 * `warmup` untimed steps, then `steps` timed ones; prints one line
 *   impl=edgeformer tokens_per_s=... step_ms=... cpu_ms_per_step=... peak_rss_mib=... params=...
 * usage: train_throughput VOCAB_SPEC TEXT_FILE [key=value ...]
 *   keys: steps (5) warmup (2) and any integer trainer setting (dim, layers,
 *   heads, kv_heads, ff, seq, batch, threads, ...), attention=TYPE. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "edgeformer/edgeformer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (all threads): less sensitive than wall
 * time to other jobs on a shared machine. */
static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int fail(const char *what, ef_status st) {
    fprintf(stderr, "train_throughput: %s: %s (%d)\n", what, ef_last_error(), (int)st);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: train_throughput VOCAB_SPEC TEXT_FILE [key=value ...]\n");
        return 2;
    }
    ef_train_params *p;
    ef_status st = ef_train_params_create(&p);
    if (st) return fail("params", st);
    /* the demo model: bench/train/train_demo.sh */
    const struct { const char *k; int64_t v; } demo[] = {
        {"dim", 256}, {"layers", 6}, {"heads", 8}, {"kv_heads", 4}, {"ff", 768}, {"seq", 128},
        {"batch", 8}, {"threads", 2}, {"seed", 1234}, {"warmup", 1}, {"steps", 1000}};
    for (size_t i = 0; i < sizeof demo / sizeof demo[0]; i++)
        if ((st = ef_train_params_set_int(p, demo[i].k, demo[i].v))) return fail(demo[i].k, st);
    int steps = 5, warmup = 2;
    for (int i = 3; i < argc; i++) {
        char key[64];
        const char *eq = strchr(argv[i], '=');
        if (!eq || (size_t)(eq - argv[i]) >= sizeof key) {
            fprintf(stderr, "train_throughput: expected key=value, got '%s'\n", argv[i]);
            return 2;
        }
        memcpy(key, argv[i], (size_t)(eq - argv[i]));
        key[eq - argv[i]] = '\0';
        if (!strcmp(key, "steps")) steps = atoi(eq + 1);
        else if (!strcmp(key, "warmup")) warmup = atoi(eq + 1);
        else if (!strcmp(key, "attention") || !strcmp(key, "precision")) st = ef_train_params_set_str(p, key, eq + 1);
        else st = ef_train_params_set_int(p, key, strtoll(eq + 1, NULL, 10));
        if (st) return fail(key, st);
    }
    if ((st = ef_train_params_set_str(p, "vocab", argv[1])) ||
        (st = ef_train_params_set_str(p, "data", argv[2])))
        return fail("vocab/data", st);
    ef_trainer *t;
    if ((st = ef_trainer_create(p, &t))) return fail("create", st);
    ef_train_params_free(p);
    float loss = 0.0f;
    for (int i = 0; i < warmup; i++)
        if ((st = ef_trainer_step(t, &loss))) return fail("step", st);
    const double t0 = now_s(), c0 = cpu_s();
    for (int i = 0; i < steps; i++)
        if ((st = ef_trainer_step(t, &loss))) return fail("step", st);
    const double dt = now_s() - t0, dc = cpu_s() - c0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double tokens = (double)ef_trainer_tokens_per_step(t) * steps;
    printf("impl=edgeformer tokens_per_s=%.1f step_ms=%.1f cpu_ms_per_step=%.1f peak_rss_mib=%.1f "
           "params=%llu loss=%.4f\n", tokens / dt, 1e3 * dt / steps, 1e3 * dc / steps, ru.ru_maxrss / 1024.0,
           (unsigned long long)ef_trainer_n_params(t), loss);
    ef_trainer_free(t);
    return 0;
}
