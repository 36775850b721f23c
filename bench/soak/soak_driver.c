/* The soak workload: generates text without pause for a given time on one
 * model, with context resets when the context nears full, a new session
 * every 25 generations and a model reload every 200, so that leaks in
 * generation, session setup and loading all show up in the RSS curve that
 * soak.sh records. (Snapshot save/restore and KV tiers have no public API
 * yet; when they land, add them here.)
 * Usage: soak_driver MODEL.gguf SECONDS   — prints one progress line per 10 s. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgeformer/edgeformer.h"

#define N_CTX 256
#define GEN_TOKENS 48
#define SESSION_EVERY 25
#define RELOAD_EVERY 200

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int die(const char *what, ef_status st) {
    fprintf(stderr, "soak_driver: %s: %s: %s\n", what, ef_status_str(st), ef_last_error());
    return 1;
}

static ef_status new_session(ef_model *m, uint64_t seed, ef_session **out) {
    ef_session_params *p = NULL;
    ef_status st = ef_session_params_create(&p);
    if (st == EF_OK) st = ef_session_params_set_n_ctx(p, N_CTX);
    if (st == EF_OK) st = ef_session_params_set_seed(p, seed);
    if (st == EF_OK) st = ef_session_create(m, p, out);
    ef_session_params_free(p);
    if (st != EF_OK) return st;
    ef_sampler_params *sp = NULL;
    st = ef_sampler_params_create(&sp);
    if (st == EF_OK) st = ef_sampler_params_set_seed(sp, seed);
    if (st == EF_OK) st = ef_sampler_params_set_repeat_penalty(sp, 1.1f, 32);
    if (st == EF_OK) st = ef_session_set_sampler(*out, sp);
    ef_sampler_params_free(sp);
    return st;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf SECONDS\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    const double seconds = atof(argv[2]);
    static const char *const prompts[] = {"Once upon a time", "The weather today", "In the beginning",
                                          "A long time ago, in a", "Hello"};
    ef_model *m = NULL;
    ef_session *s = NULL;
    ef_status st = ef_model_load(path, NULL, &m);
    if (st != EF_OK) return die("load", st);
    if ((st = new_session(m, 1, &s)) != EF_OK) return die("session", st);

    const double t0 = now();
    double next_report = t0 + 10;
    long gens = 0, tokens = 0, resets = 0, sessions = 1, reloads = 0;
    while (now() - t0 < seconds) {
        if (ef_session_n_past(s) + GEN_TOKENS + 16 > N_CTX) {
            if ((st = ef_session_reset(s)) != EF_OK) return die("reset", st);
            resets++;
        }
        const char *prompt = prompts[gens % 5];
        st = ef_session_generate(s, prompt, strlen(prompt), GEN_TOKENS, NULL, NULL);
        if (st != EF_OK) return die("generate", st);
        double n = 0;
        ef_session_stat(s, EF_STAT_GEN_TOKENS, &n);
        tokens += (long)n;
        gens++;
        if (gens % RELOAD_EVERY == 0) {
            ef_session_free(s);
            s = NULL;
            ef_model_free(m);
            m = NULL;
            if ((st = ef_model_load(path, NULL, &m)) != EF_OK) return die("reload", st);
            reloads++;
        }
        if (gens % SESSION_EVERY == 0 || !s) {
            ef_session_free(s);
            s = NULL;
            if ((st = new_session(m, (uint64_t)gens, &s)) != EF_OK) return die("session", st);
            sessions++;
        }
        if (now() >= next_report) {
            printf("t=%.0fs generations=%ld tokens=%ld resets=%ld sessions=%ld reloads=%ld\n", now() - t0, gens,
                   tokens, resets, sessions, reloads);
            fflush(stdout);
            next_report += 10;
        }
    }
    printf("done: %.0fs generations=%ld tokens=%ld (%.1f tok/s) resets=%ld sessions=%ld reloads=%ld\n",
           now() - t0, gens, tokens, (double)tokens / (now() - t0), resets, sessions, reloads);
    ef_session_free(s);
    ef_model_free(m);
    return 0;
}
