/* edgeformer calibrate-sparsity: runs a model densely over a text, records
 * the distribution of |silu(gate)| per layer, and writes a copy of the
 * model with per-layer activation-sparsity thresholds (docs/sparsity.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/sparsity_prune.h"
#include "cli.h"

static const char calib_usage[] =
    "usage: edgeformer calibrate-sparsity -m MODEL -f TEXT [--target 0.5] -o OUT.gguf\n"
    "                                     [--max-bytes N] [--threads N] [-v]\n"
    "  -f TEXT        calibration text (use a different text than the one you evaluate on)\n"
    "  --target F     default sparsity level stored in the file (fraction of FFN neurons skipped)\n"
    "  --max-bytes N  calibrate on the first N bytes of TEXT only (default: all)\n"
    "  --prune KEEP   instead: static pruning, keep the fraction KEEP of FFN neurons per layer (the\n"
    "                 most important on TEXT, a multiple of 32) and write a masked copy; loading it\n"
    "                 drops the others (smaller and faster, prefill too)\n"
    "Thresholds are stored for levels 0.05, 0.10, ... 0.95 and the target; sessions pick any\n"
    "level with ef_session_params_set_sparsity / --sparsity F.\n";

/* The whole file (at most max bytes when max > 0), or NULL after a message. */
static char *read_text(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "edgeformer: error: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf && (!max || n < max)) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) free(buf);
        buf = bigger;
        cap *= 2;
    }
    const int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        fprintf(stderr, "edgeformer: error: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    *len = max && n > max ? max : n;
    return buf;
}

int cmd_calibrate_sparsity(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL, *out_path = NULL;
    double target = 0.5, prune = 0.0;
    int64_t max_bytes = 0, threads = 0;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(calib_usage, stdout);
            return 0;
        }
        if ((r = cli_opt_str(argc, argv, &i, "-m", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "-f", &text_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--file", &text_path)) ||
            (r = cli_opt_str(argc, argv, &i, "-o", &out_path)) ||
            (r = cli_opt_f64(argc, argv, &i, "--target", &target)) ||
            (r = cli_opt_f64(argc, argv, &i, "--prune", &prune)) ||
            (r = cli_opt_i64(argc, argv, &i, "--max-bytes", &max_bytes)) ||
            (r = cli_opt_i64(argc, argv, &i, "--threads", &threads))) {
            if (r < 0) return cli_usage_error("calibrate-sparsity: option %s needs a valid value", argv[i]);
        } else if (!strcmp(argv[i], "-v")) {
            verbose = 1;
        } else {
            return cli_usage_error("calibrate-sparsity: unknown option '%s'", argv[i]);
        }
    }
    if (!model_path || !text_path || !out_path)
        return cli_usage_error("calibrate-sparsity: -m MODEL, -f TEXT and -o OUT.gguf are required");
    if (!(target >= 0.0 && target < 1.0)) return cli_usage_error("calibrate-sparsity: --target must be in [0, 1)");
    if (max_bytes < 0) return cli_usage_error("calibrate-sparsity: --max-bytes must be >= 0");
    if (prune != 0.0 && !(prune > 0.0 && prune <= 1.0))
        return cli_usage_error("calibrate-sparsity: --prune must be in (0, 1]");
    cli_setup_logging(verbose ? EF_LOG_INFO : EF_LOG_WARN);

    size_t len = 0;
    char *text = read_text(text_path, (size_t)max_bytes, &len);
    if (!text) return 1;
    ef_model *m = cli_load_model(model_path, (int32_t)threads, 0);
    if (!m) {
        free(text);
        return 1;
    }
    ef_status st = prune > 0.0 ? ef_sparsity_prune(m, text, len, (float)prune, out_path)
                               : ef_sparsity_calibrate(m, text, len, (float)target, out_path);
    free(text);
    ef_model_free(m);
    if (st != EF_OK) return cli_fail("calibrate-sparsity", st);
    if (prune > 0.0) fprintf(stderr, "wrote %s (keep mask: %.2f of the FFN neurons)\n", out_path, prune);
    else fprintf(stderr, "wrote %s (sparsity thresholds, default level %.2f)\n", out_path, target);
    return 0;
}
