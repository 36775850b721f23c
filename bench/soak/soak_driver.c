/* The soak workload: generates text without pause for a given time on one
 * model, so that leaks in generation, session setup, loading, the KV tiers
 * and snapshots all show up in the RSS curve that soak.sh records:
 *   - context shifts: the session keeps generating past its context
 *     (ef_session_params_set_context_shift), with a reset every 40 generations;
 *   - KV tier traffic: a hot budget of a few pages, then zstd RAM, then a spill
 *     file in WORK_DIR, so pages travel every step;
 *   - a snapshot saved to a file and restored, and saved to a buffer and
 *     restored, every minute;
 *   - a new session every 25 generations, a model reload every 200.
 * Usage: soak_driver MODEL.gguf SECONDS WORK_DIR — one progress line per 10 s. */
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
#define RESET_EVERY 40
#define SNAPSHOT_SECONDS 60.0

static const char *g_work_dir;

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
    if (st == EF_OK) st = ef_session_params_set_context_shift(p, 1, -1);
    /* pages of 16 tokens (8 KiB here): hot holds 8 of them, RAM 2, zstd about 20; the rest spills */
    ef_kv_params *kv = NULL;
    if (st == EF_OK) st = ef_kv_params_create(&kv);
    if (st == EF_OK) st = ef_kv_params_set_page_size(kv, 16);
    if (st == EF_OK) st = ef_kv_params_set_tier_budget(kv, EF_KV_TIER_HOT, 64 * 1024);
    if (st == EF_OK) st = ef_kv_params_set_tier_budget(kv, EF_KV_TIER_RAM, 16 * 1024);
    if (st == EF_OK) st = ef_kv_params_set_tier_budget(kv, EF_KV_TIER_ZSTD, 96 * 1024);
    if (st == EF_OK) st = ef_kv_params_set_spill_dir(kv, g_work_dir);
    if (st == EF_OK) st = ef_session_params_set_kv_params(p, kv);
    ef_kv_params_free(kv);
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
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.gguf SECONDS WORK_DIR\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    const double seconds = atof(argv[2]);
    g_work_dir = argv[3];
    char snap_path[4096];
    snprintf(snap_path, sizeof snap_path, "%s/soak.efsnap", g_work_dir);
    static const char *const prompts[] = {"Once upon a time", "The weather today", "In the beginning",
                                          "A long time ago, in a", "Hello"};
    ef_model *m = NULL;
    ef_session *s = NULL;
    ef_status st = ef_model_load(path, NULL, &m);
    if (st != EF_OK) return die("load", st);
    if ((st = new_session(m, 1, &s)) != EF_OK) return die("session", st);

    const double t0 = now();
    double next_report = t0 + 10, next_snapshot = t0 + SNAPSHOT_SECONDS;
    long gens = 0, tokens = 0, resets = 0, sessions = 1, reloads = 0, snapshots = 0;
    while (now() - t0 < seconds) {
        if (gens % RESET_EVERY == RESET_EVERY - 1) { /* otherwise context shifts keep it full */
            if ((st = ef_session_reset(s)) != EF_OK) return die("reset", st);
            resets++;
        }
        if (now() >= next_snapshot) {
            /* file and buffer round trips; the restored state must go on generating */
            size_t need = 0;
            if ((st = ef_session_save(s, EF_SEQ_ALL, snap_path)) != EF_OK) return die("save", st);
            if ((st = ef_session_restore(s, EF_SEQ_ALL, snap_path)) != EF_OK) return die("restore", st);
            st = ef_session_save_buffer(s, EF_SEQ_ALL, NULL, 0, &need);
            if (st != EF_OK && st != EF_ERR_BUFFER_TOO_SMALL) return die("save_buffer size", st);
            void *buf = malloc(need ? need : 1);
            if (!buf) return die("snapshot buffer", EF_ERR_NO_MEMORY);
            st = ef_session_save_buffer(s, EF_SEQ_ALL, buf, need, &need);
            if (st == EF_OK) st = ef_session_restore_buffer(s, EF_SEQ_ALL, buf, need);
            free(buf);
            if (st != EF_OK) return die("buffer snapshot", st);
            remove(snap_path);
            snapshots++;
            next_snapshot += SNAPSHOT_SECONDS;
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
            double spilled = 0, zpages = 0;
            ef_kv_cache_stat(ef_session_kv_cache(s), EF_KV_STAT_OFFLOADS, EF_KV_TIER_DISK, &spilled);
            ef_kv_cache_stat(ef_session_kv_cache(s), EF_KV_STAT_PAGES, EF_KV_TIER_ZSTD, &zpages);
            printf("t=%.0fs generations=%ld tokens=%ld resets=%ld sessions=%ld reloads=%ld snapshots=%ld "
                   "disk_offloads=%.0f zstd_pages=%.0f\n",
                   now() - t0, gens, tokens, resets, sessions, reloads, snapshots, spilled, zpages);
            fflush(stdout);
            next_report += 10;
        }
    }
    printf("done: %.0fs generations=%ld tokens=%ld (%.1f tok/s) resets=%ld sessions=%ld reloads=%ld "
           "snapshots=%ld\n",
           now() - t0, gens, tokens, (double)tokens / (now() - t0), resets, sessions, reloads, snapshots);
    ef_session_free(s);
    ef_model_free(m);
    return 0;
}
