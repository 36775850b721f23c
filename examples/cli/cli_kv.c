/* KV-cache options of `edgeformer run`: --kv-type K[,V], --kv-page N,
 * --kv-budget TIER=SIZE, --kv-spill DIR, --kv-zstd LEVEL, --context-shift,
 * and the --kv-stats table printed to stderr at the end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* "123", "64K", "2M", "1G" (optionally with B) → bytes; -1 if malformed. */
static int64_t parse_size(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0) return -1;
    int shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10;
    else if (*end == 'M' || *end == 'm') shift = 20;
    else if (*end == 'G' || *end == 'g') shift = 30;
    if (shift) end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v > (INT64_MAX >> shift)) return -1;
    return (int64_t)v << shift;
}

static const char *const tier_names[EF_KV_N_TIERS] = {"hot", "ram", "zstd", "disk"};

/* "hot=64M" → o->budget[hot]; 0 on success. */
static int parse_budget(const char *s, cli_kv_opts *o) {
    const char *eq = strchr(s, '=');
    if (!eq) return -1;
    for (int t = EF_KV_TIER_HOT; t <= EF_KV_TIER_ZSTD; t++)
        if ((size_t)(eq - s) == strlen(tier_names[t]) && !strncmp(s, tier_names[t], (size_t)(eq - s))) {
            const int64_t v = parse_size(eq + 1);
            if (v < 0) return -1;
            o->budget[t] = v;
            o->paged = 1;
            return 0;
        }
    return -1;
}

int cli_kv_arg(int argc, char **argv, int *i, cli_kv_opts *o) {
    const char *s = NULL;
    int64_t n = 0;
    int r;
    if ((r = cli_opt_str(argc, argv, i, "--kv-type", &s)) != 0) {
        if (r < 0) return r;
        const char *comma = strchr(s, ',');
        if (comma) {
            size_t len = (size_t)(comma - s);
            if (len >= sizeof o->k_type) return -1;
            memcpy(o->k_type, s, len);
            o->k_type[len] = 0;
            snprintf(o->v_type, sizeof o->v_type, "%s", comma + 1);
        } else {
            snprintf(o->k_type, sizeof o->k_type, "%s", s);
            snprintf(o->v_type, sizeof o->v_type, "%s", s);
        }
        return 1;
    }
    if ((r = cli_opt_i64(argc, argv, i, "--kv-page", &n)) != 0) {
        if (r < 0 || n < 16 || n > 4096) return -1;
        o->page = (int32_t)n;
        o->paged = 1;
        return 1;
    }
    if ((r = cli_opt_i64(argc, argv, i, "--kv-zstd", &n)) != 0) {
        if (r < 0 || n < 0 || n > 19) return -1;
        o->zstd_level = (int32_t)n;
        o->paged = 1;
        return 1;
    }
    if ((r = cli_opt_str(argc, argv, i, "--kv-budget", &s)) != 0) return r < 0 || parse_budget(s, o) ? -1 : 1;
    if ((r = cli_opt_str(argc, argv, i, "--kv-spill", &s)) != 0) {
        if (r < 0) return r;
        o->spill = s;
        o->paged = 1;
        return 1;
    }
    if (!strcmp(argv[*i], "--context-shift")) {
        o->context_shift = 1;
        return 1;
    }
    if (!strcmp(argv[*i], "--kv-stats")) {
        o->stats = 1;
        return 1;
    }
    return 0;
}

ef_status cli_kv_apply(const cli_kv_opts *o, ef_session_params *sp) {
    const char *k = o->k_type[0] ? o->k_type : "f16", *v = o->v_type[0] ? o->v_type : k;
    ef_status st = ef_session_params_set_context_shift(sp, o->context_shift, -1);
    if (st) return st;
    ef_kv_params *kp = NULL;
    st = ef_kv_params_create(&kp);
    if (!st) st = ef_kv_params_set_types(kp, k, v);
    if (!st && o->page) st = ef_kv_params_set_page_size(kp, o->page);
    for (int t = EF_KV_TIER_HOT; !st && t <= EF_KV_TIER_ZSTD; t++)
        st = ef_kv_params_set_tier_budget(kp, t, (uint64_t)o->budget[t]);
    if (!st && o->zstd_level >= 0) st = ef_kv_params_set_compression(kp, o->zstd_level);
    if (!st && o->spill) st = ef_kv_params_set_spill_dir(kp, o->spill);
    if (!st) st = ef_session_params_set_kv_params(sp, kp);
    ef_kv_params_free(kp);
    return st;
}

void cli_kv_print_stats(ef_session *s) {
    const ef_kv_cache *kv = ef_session_kv_cache(s);
    double v[13] = {0};
    for (int key = EF_KV_STAT_HIT_RATE; key <= EF_KV_STAT_SHARED_PAGES; key++) ef_kv_cache_stat(kv, key, 0, &v[key]);
    fprintf(stderr, "kv cache: %s/%s, %.0f tokens, pages of %.0f tokens (%.0f bytes), %.0f shared, hot hit rate %.3f\n",
            ef_kv_cache_type(kv, 0), ef_kv_cache_type(kv, 1), v[EF_KV_STAT_TOKENS], v[EF_KV_STAT_PAGE_SIZE],
            v[EF_KV_STAT_PAGE_BYTES], v[EF_KV_STAT_SHARED_PAGES], v[EF_KV_STAT_HIT_RATE]);
    fprintf(stderr, "%-5s %8s %12s %12s %6s %9s %9s %10s %10s\n", "tier", "pages", "bytes", "raw bytes", "ratio",
            "offloads", "restores", "offload s", "restore s");
    for (int t = 0; t < EF_KV_N_TIERS; t++) {
        double x[8] = {0};
        for (int key = EF_KV_STAT_BYTES; key <= EF_KV_STAT_RESTORE_SECONDS; key++) ef_kv_cache_stat(kv, key, t, &x[key]);
        fprintf(stderr, "%-5s %8.0f %12.0f %12.0f %6.2f %9.0f %9.0f %10.4f %10.4f\n", tier_names[t],
                x[EF_KV_STAT_PAGES], x[EF_KV_STAT_BYTES], x[EF_KV_STAT_RAW_BYTES],
                x[EF_KV_STAT_BYTES] > 0 ? x[EF_KV_STAT_RAW_BYTES] / x[EF_KV_STAT_BYTES] : 0.0, x[EF_KV_STAT_OFFLOADS],
                x[EF_KV_STAT_RESTORES], x[EF_KV_STAT_OFFLOAD_SECONDS], x[EF_KV_STAT_RESTORE_SECONDS]);
    }
}
