/* kv_depth: how deep one session's context gets under a resident-memory
 * cap, with KV pages beyond the tier budgets in zstd RAM and on disk.
 *
 * Prefills N pseudo-random tokens in calls of --chunk tokens, logging after
 * each call the depth, wall time, resident set (VmRSS, VmHWM) and bytes per
 * tier as CSV on stderr; then decodes --decode tokens (greedy) and prints
 * one JSON line ("hwm": the peak RSS so far, decode included). --save
 * writes a snapshot before the decode; --restore instead
 * starts from a snapshot (for the all-in-RAM speed at the same depth,
 * without a second prefill).
 *
 * --stops N1,N2,... stops the prefill at each depth in turn (one process,
 * one prefill): at each, --save writes FILE.N (before decoding, so a
 * restore of it decodes the same tokens), then --decode tokens are decoded
 * and one JSON line printed; the prefill goes on from there.
 *
 * usage: kv_depth MODEL [--tokens N] [--stops N1,N2,..] [--chunk C]
 *        [--decode D] [--threads T] [--batch NB] [--ctx N] [--page P]
 *        [--kv-type f16] [--hot BYTES] [--ram BYTES] [--zstd BYTES]
 *        [--zstd-level L] [--spill DIR] [--save FILE] [--restore FILE]
 * Only the public API (include/edgeformer/edgeformer.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgeformer/edgeformer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* VmRSS or VmHWM of this process in bytes (0 if /proc is missing). */
static unsigned long long proc_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    const size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') kb = strtoull(line + n + 1, NULL, 10);
    if (f) fclose(f);
    return kb * 1024ull;
}

static int fail(const char *what, ef_status st) {
    printf("{\"error\": \"%s: %s: %s\"}\n", what, ef_status_str(st), ef_last_error());
    return 1;
}

static double kv_stat(ef_kv_cache *kv, int32_t key, int32_t tier) {
    double v = 0;
    return ef_kv_cache_stat(kv, key, tier, &v) == EF_OK ? v : -1;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef struct {
    const char *model, *kv_type, *spill, *save, *restore, *stops;
    long long tokens, hot, ram, zstd;
    int chunk, decode, threads, batch, ctx, page, zstd_level;
} opts;

static void parse(int argc, char **argv, opts *o) {
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--tokens")) o->tokens = atoll(v);
        else if (!strcmp(k, "--chunk")) o->chunk = atoi(v);
        else if (!strcmp(k, "--decode")) o->decode = atoi(v);
        else if (!strcmp(k, "--threads")) o->threads = atoi(v);
        else if (!strcmp(k, "--batch")) o->batch = atoi(v);
        else if (!strcmp(k, "--ctx")) o->ctx = atoi(v);
        else if (!strcmp(k, "--page")) o->page = atoi(v);
        else if (!strcmp(k, "--kv-type")) o->kv_type = v;
        else if (!strcmp(k, "--hot")) o->hot = atoll(v);
        else if (!strcmp(k, "--ram")) o->ram = atoll(v);
        else if (!strcmp(k, "--zstd")) o->zstd = atoll(v);
        else if (!strcmp(k, "--zstd-level")) o->zstd_level = atoi(v);
        else if (!strcmp(k, "--spill")) o->spill = v;
        else if (!strcmp(k, "--save")) o->save = v;
        else if (!strcmp(k, "--restore")) o->restore = v;
        else if (!strcmp(k, "--stops")) o->stops = v;
        else fprintf(stderr, "kv_depth: ignoring %s\n", k);
    }
}

static ef_status make_session(ef_model *m, const opts *o, ef_session **out) {
    ef_session_params *p = NULL;
    ef_kv_params *kv = NULL;
    ef_status st = ef_session_params_create(&p);
    if (!st) st = ef_session_params_set_n_ctx(p, o->ctx);
    if (!st) st = ef_session_params_set_threads(p, o->threads);
    if (!st) st = ef_session_params_set_n_batch(p, o->batch);
    if (!st) st = ef_kv_params_create(&kv);
    if (!st) st = ef_kv_params_set_page_size(kv, o->page);
    if (!st) st = ef_kv_params_set_types(kv, o->kv_type, o->kv_type);
    if (!st && o->hot) st = ef_kv_params_set_tier_budget(kv, EF_KV_TIER_HOT, (uint64_t)o->hot);
    if (!st && o->ram) st = ef_kv_params_set_tier_budget(kv, EF_KV_TIER_RAM, (uint64_t)o->ram);
    if (!st && o->zstd) st = ef_kv_params_set_tier_budget(kv, EF_KV_TIER_ZSTD, (uint64_t)o->zstd);
    if (!st) st = ef_kv_params_set_compression(kv, o->zstd_level);
    if (!st && o->spill) st = ef_kv_params_set_spill_dir(kv, o->spill);
    if (!st) st = ef_session_params_set_kv_params(p, kv);
    if (!st) st = ef_session_create(m, p, out);
    ef_kv_params_free(kv);
    ef_session_params_free(p);
    return st;
}

static void log_row(ef_kv_cache *kv, long long depth, double t) {
    fprintf(stderr, "%lld,%.2f,%llu,%llu", depth, t, proc_kb("VmRSS"), proc_kb("VmHWM"));
    for (int32_t tier = EF_KV_TIER_HOT; tier <= EF_KV_TIER_DISK; tier++)
        fprintf(stderr, ",%.0f", kv_stat(kv, EF_KV_STAT_BYTES, tier));
    fputc('\n', stderr);
}

/* Greedy decode of o->decode tokens at this depth (saving first when
 * save_path is set), then one JSON line. */
static int decode_and_report(ef_session *s, ef_model *m, const opts *o, long long depth, double prefill,
                             const char *save_path) {
    ef_kv_cache *kv = ef_session_kv_cache(s);
    const int32_t n_vocab = ef_model_n_vocab(m);
    ef_status st;
    const unsigned long long hwm_before_save = proc_kb("VmHWM");
    double save_s = 0;
    if (save_path) {
        const double s0 = now();
        if ((st = ef_session_save(s, 0, save_path))) return fail("save", st);
        save_s = now() - s0;
    }
    const unsigned long long hwm_save = proc_kb("VmHWM");
    const float *logits = NULL;
    int32_t tok = 1;
    if (ef_session_logits(s, -1, &logits) == EF_OK) tok = argmax(logits, n_vocab);
    const double d0 = now();
    const clock_t c0 = clock();
    for (int i = 0; i < o->decode; i++) {
        if ((st = ef_session_eval(s, &tok, 1, 0))) return fail("decode", st);
        if ((st = ef_session_logits(s, -1, &logits))) return fail("logits", st);
        tok = argmax(logits, n_vocab);
    }
    const double decode = now() - d0, decode_cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    log_row(kv, depth + o->decode, now() - d0 + prefill);
    printf("{\"tokens\": %lld, \"kv_type\": \"%s\", \"decoded\": %d, \"prefill_s\": %.2f, \"decode_tok_s\": %.3f, "
           "\"decode_cpu_s\": %.3f, \"last_token\": %d, \"rss\": %llu, \"hwm\": %llu, \"hwm_before_save\": %llu, "
           "\"hwm_with_save\": %llu, \"save_s\": %.2f, \"hit_rate\": %.4f, \"page_bytes\": %.0f",
           depth, o->kv_type, o->decode, prefill, o->decode / decode, decode_cpu, (int)tok, proc_kb("VmRSS"),
           proc_kb("VmHWM"), hwm_before_save, hwm_save, save_s, kv_stat(kv, EF_KV_STAT_HIT_RATE, 0), kv_stat(kv, EF_KV_STAT_PAGE_BYTES, 0));
    static const char *names[] = {"hot", "ram", "zstd", "disk"};
    for (int32_t tier = EF_KV_TIER_HOT; tier <= EF_KV_TIER_DISK; tier++)
        printf(", \"%s\": {\"bytes\": %.0f, \"raw_bytes\": %.0f, \"pages\": %.0f, \"offloads\": %.0f, "
               "\"restores\": %.0f, \"offload_s\": %.4f, \"restore_s\": %.4f}",
               names[tier], kv_stat(kv, EF_KV_STAT_BYTES, tier), kv_stat(kv, EF_KV_STAT_RAW_BYTES, tier),
               kv_stat(kv, EF_KV_STAT_PAGES, tier), kv_stat(kv, EF_KV_STAT_OFFLOADS, tier),
               kv_stat(kv, EF_KV_STAT_RESTORES, tier), kv_stat(kv, EF_KV_STAT_OFFLOAD_SECONDS, tier),
               kv_stat(kv, EF_KV_STAT_RESTORE_SECONDS, tier));
    printf("}\n");
    fflush(stdout);
    return 0;
}

/* The depths to stop at: --stops, else --tokens alone; ascending. */
static int parse_stops(const opts *o, long long *stops, int cap) {
    if (!o->stops) {
        stops[0] = o->tokens;
        return 1;
    }
    int n = 0;
    for (const char *p = o->stops; *p && n < cap;) {
        char *end = NULL;
        const long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || (n > 0 && v <= stops[n - 1])) return 0;
        stops[n++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: kv_depth MODEL [--tokens N] [--stops N1,N2,..] [--chunk C] [--decode D] [--threads T]\n"
              "  [--batch NB] [--ctx N] [--page P] [--kv-type f16] [--hot B] [--ram B] [--zstd B] [--zstd-level L]\n"
              "  [--spill DIR] [--save FILE] [--restore FILE]\n", stderr);
        return 2;
    }
    opts o = {argv[1], "f16", NULL, NULL, NULL, NULL, 4096, 0, 0, 0, 1024, 16, 2, 1024, 0, 256, 1};
    parse(argc, argv, &o);
    long long stops[64];
    const int n_stops = parse_stops(&o, stops, 64);
    if (n_stops == 0) {
        fprintf(stderr, "kv_depth: --stops wants ascending positive depths, not '%s'\n", o.stops);
        return 2;
    }
    if (o.ctx <= 0) o.ctx = (int)(stops[n_stops - 1] + (long long)o.decode * n_stops + 1);
    ef_model *m = NULL;
    ef_session *s = NULL;
    ef_status st = ef_model_load(o.model, NULL, &m);
    if (st) return fail("load", st);
    if ((st = make_session(m, &o, &s))) return fail("session", st);
    ef_kv_cache *kv = ef_session_kv_cache(s);
    const int32_t n_vocab = ef_model_n_vocab(m);
    fprintf(stderr, "depth,seconds,rss,hwm,hot_bytes,ram_bytes,zstd_bytes,disk_bytes\n");

    long long depth = 0;
    const double t0 = now();
    if (o.restore) {
        if ((st = ef_session_restore(s, 0, o.restore))) return fail("restore", st);
        depth = ef_session_n_past(s);
        log_row(kv, depth, now() - t0);
        int rc = decode_and_report(s, m, &o, depth, now() - t0, o.save);
        ef_session_free(s);
        ef_model_free(m);
        return rc;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)o.chunk);
    if (!ids) return 1;
    double prefill = 0;
    for (int k = 0; k < n_stops; k++) {
        const double p0 = now();
        while (depth < stops[k]) {
            const int32_t n = (int32_t)(stops[k] - depth < o.chunk ? stops[k] - depth : o.chunk);
            for (int32_t i = 0; i < n; i++)
                ids[i] = (int32_t)((uint32_t)((depth + i) * 2654435761ull) % (uint32_t)n_vocab);
            if ((st = ef_session_eval(s, ids, (size_t)n, 0))) return fail("prefill", st);
            depth += n;
            log_row(kv, depth, now() - t0);
        }
        prefill += now() - p0;
        char path[4096];
        const char *save_path = o.save;
        if (o.save && o.stops) {
            snprintf(path, sizeof path, "%s.%lld", o.save, stops[k]);
            save_path = path;
        }
        if (decode_and_report(s, m, &o, depth, prefill, save_path)) return 1;
        depth = ef_session_n_past(s);
    }
    free(ids);
    ef_session_free(s);
    ef_model_free(m);
    return 0;
}
