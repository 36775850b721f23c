#define _POSIX_C_SOURCE 200809L /* isatty */
/* edgeformer quantize: a GGUF file to a smaller GGUF file. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct {
    int tty;
} bar_state;

static int32_t show_progress(void *user, const char *item, uint64_t done, uint64_t total) {
    bar_state *b = user;
    int width = 30, fill = total ? (int)(done * (uint64_t)width / total) : width;
    if (b->tty) {
        fprintf(stderr, "\r[%.*s%*s] %3llu/%llu %-40.40s", fill, "##############################", width - fill, "",
                (unsigned long long)done, (unsigned long long)total, item);
        if (done == total) fputc('\n', stderr);
    } else if (done == total) {
        fprintf(stderr, "quantized %llu tensors\n", (unsigned long long)total);
    }
    return 0;
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *profile_name = NULL, *type = NULL, *keep = NULL;
    const char *rules[64];
    int n_rules = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--profile", &profile_name)) ||
            (r = cli_opt_str(argc, argv, &i, "--type", &type)) ||
            (r = cli_opt_str(argc, argv, &i, "--keep-embeddings", &keep))) {
            if (r < 0) return cli_usage_error("quantize: option %s needs a value", argv[i]);
        } else if ((r = cli_opt_str(argc, argv, &i, "--rule", &v))) {
            if (r < 0) return cli_usage_error("quantize: --rule needs PATTERN=TYPE");
            if (n_rules == 64) return cli_usage_error("quantize: at most 64 rules");
            rules[n_rules++] = v;
        } else if (!strcmp(argv[i], "-v")) {
            verbose = 1;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("quantize: unknown option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return cli_usage_error("quantize: unexpected argument '%s'", argv[i]);
        }
    }
    if (!in || !out) return cli_usage_error("quantize: IN.gguf and OUT.gguf are required");
    if (!profile_name && !type) return cli_usage_error("quantize: give --profile NAME or --type TYPE");
    cli_setup_logging(verbose ? EF_LOG_INFO : EF_LOG_WARN);

    ef_quant_profile *p = NULL;
    ef_status st = ef_quant_profile_create(profile_name ? profile_name : "balanced", &p);
    if (st == EF_OK && type) st = ef_quant_profile_set_default_type(p, type);
    if (st == EF_OK && keep) st = ef_quant_profile_keep_embeddings(p, keep);
    for (int i = 0; st == EF_OK && i < n_rules; i++) {
        char pattern[128];
        const char *eq = strrchr(rules[i], '=');
        if (!eq || eq == rules[i] || (size_t)(eq - rules[i]) >= sizeof pattern) {
            ef_quant_profile_free(p);
            return cli_usage_error("quantize: rule '%s' is not PATTERN=TYPE", rules[i]);
        }
        memcpy(pattern, rules[i], (size_t)(eq - rules[i]));
        pattern[eq - rules[i]] = '\0';
        st = ef_quant_profile_add_rule(p, pattern, eq + 1);
    }
    if (st != EF_OK) {
        ef_quant_profile_free(p);
        return cli_fail("quantization profile", st);
    }
    bar_state bar = {isatty(2)};
    uint64_t before = 0, after = 0;
    st = ef_quantize_file(in, out, p, show_progress, &bar, &before, &after);
    const char *name = ef_quant_profile_name(p);
    char name_copy[32];
    snprintf(name_copy, sizeof name_copy, "%s", name);
    ef_quant_profile_free(p);
    if (st != EF_OK) {
        if (bar.tty) fputc('\n', stderr);
        return cli_fail("quantize", st);
    }
    printf("%s -> %s (%s): %.2f MiB -> %.2f MiB, %.2fx smaller\n", in, out, name_copy, mib(before), mib(after),
           after ? (double)before / (double)after : 0.0);
    return 0;
}
