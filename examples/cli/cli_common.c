#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *what, ef_status st) {
    const char *msg = ef_last_error();
    fprintf(stderr, "edgeformer: error: %s: %s%s(%s)\n", what, msg, *msg ? " " : "", ef_status_str(st));
    return 1;
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("edgeformer: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see edgeformer help)\n", stderr);
    va_end(ap);
    return 2;
}

int cli_opt_str(int argc, char **argv, int *i, const char *name, const char **value) {
    if (strcmp(argv[*i], name) != 0) return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

int cli_opt_i64(int argc, char **argv, int *i, const char *name, int64_t *value) {
    const char *s;
    int r = cli_opt_str(argc, argv, i, name, &s);
    if (r != 1) return r;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *value = v;
    return 1;
}

int cli_opt_f64(int argc, char **argv, int *i, const char *name, double *value) {
    const char *s;
    int r = cli_opt_str(argc, argv, i, name, &s);
    if (r != 1) return r;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) return -1;
    *value = v;
    return 1;
}

int cli_opt_bytes(int argc, char **argv, int *i, const char *name, int64_t *value) {
    const char *s;
    int r = cli_opt_str(argc, argv, i, name, &s);
    if (r != 1) return r;
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
    *value = (int64_t)v << shift;
    return 1;
}

static void log_to_stderr(void *user, int32_t level, const char *message) {
    (void)user;
    static const char *names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "edgeformer: %s: %s\n", names[level >= 0 && level <= 3 ? level : 3], message);
}

void cli_setup_logging(int32_t level) { ef_set_log_callback(log_to_stderr, NULL, level); }

ef_model *cli_load_model(const char *path, int32_t n_threads, int no_mmap) {
    return cli_load_model_quant(path, n_threads, no_mmap, NULL);
}

ef_model *cli_load_model_quant(const char *path, int32_t n_threads, int no_mmap, const char *quant) {
    ef_model_params *mp = NULL;
    ef_quant_profile *qp = NULL;
    ef_model *model = NULL;
    ef_status st = ef_model_params_create(&mp);
    if (st == EF_OK) st = ef_model_params_set_threads(mp, n_threads);
    if (st == EF_OK) st = ef_model_params_set_mmap(mp, !no_mmap);
    if (st == EF_OK && quant) st = ef_quant_profile_create(quant, &qp);
    if (st == EF_OK && qp) st = ef_model_params_set_quant_profile(mp, qp);
    if (st == EF_OK) st = ef_model_load(path, mp, &model);
    ef_quant_profile_free(qp);
    ef_model_params_free(mp);
    if (st != EF_OK) {
        cli_fail("cannot load model", st);
        return NULL;
    }
    return model;
}

int cli_backend_arg(int argc, char **argv, int *i, cli_backend_opts *b) {
    const char *v = NULL;
    int r = cli_opt_str(argc, argv, i, "--backend", &v);
    if (r > 0) b->name = v;
    if (r) return r;
    r = cli_opt_str(argc, argv, i, "--backend-opt", &v);
    if (r <= 0) return r;
    if (!strchr(v, '=') || v[0] == '=' || b->n_opts == CLI_BACKEND_OPTS_MAX) return -1;
    b->opts[b->n_opts++] = v;
    return 1;
}

ef_status cli_backend_apply(const cli_backend_opts *b, ef_session_params *sp) {
    ef_status st = b->name ? ef_session_params_set_backend(sp, b->name) : EF_OK;
    for (int k = 0; st == EF_OK && k < b->n_opts; k++) {
        char key[128];
        const char *eq = strchr(b->opts[k], '=');
        size_t len = (size_t)(eq - b->opts[k]);
        if (len >= sizeof key) len = sizeof key - 1;
        memcpy(key, b->opts[k], len);
        key[len] = '\0';
        st = ef_session_params_set_backend_option(sp, key, eq + 1);
    }
    return st;
}
