/* ef-conformance [--backend NAME] [--backend-opt KEY=VALUE ...] [--op OP]
 *                [--seed N] [--threads N] [--work-dir DIR] [-v]
 * Checks a compute backend against the built-in cpu backend: every op it
 * claims (random shapes, odd and edge sizes, every weight type it claims),
 * then sessions on tiny generated models. Prints the failures (every case
 * with -v) and a summary; exits 0 when everything passed, 1 on any failure,
 * 2 on bad arguments or an unusable backend. Plugin authors run it with
 * EF_BACKEND_PATH pointing at their build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "conformance.h"

static const char k_usage[] =
    "usage: ef-conformance [--backend NAME] [--backend-opt KEY=VALUE ...] [--op OP] [--seed N]\n"
    "                      [--threads N] [--work-dir DIR] [-v]\n"
    "  --backend NAME  backend to check (default cpu, which checks the harness itself)\n"
    "  --op OP         only this op: matmul get_rows rmsnorm rope swiglu add scale softmax\n"
    "                  convert flash_attn, buffers (upload/download/map/offsets), or e2e\n"
    "  --seed N        random data and shapes (default 1)\n"
    "  --work-dir DIR  where the tiny models are written (default $TMPDIR or /tmp)\n"
    "  -v              print every case, not only failures\n";

static void log_to_stderr(void *user, int32_t level, const char *msg) {
    (void)user;
    fprintf(stderr, "ef-conformance: %s: %s\n", level == EF_LOG_ERROR ? "error" : level == EF_LOG_WARN ? "warning" : "info",
            msg);
}

static int open_backend(conf_backend *c, const char *name, const ef_be_option *opts, int32_t n_opts, int32_t threads) {
    c->b = ef_backend_find(name);
    if (!c->b) {
        fprintf(stderr, "ef-conformance: no backend named '%s'; listed:", name);
        for (int32_t i = 0; i < ef_backend_count(); i++) {
            const ef_backend *b = NULL;
            ef_backend_get(i, &b);
            fprintf(stderr, " %s", ef_backend_name(b));
        }
        fprintf(stderr, " (plugins are found on EF_BACKEND_PATH)\n");
        return 0;
    }
    if (!c->b->available) {
        fprintf(stderr, "ef-conformance: backend '%s' is unavailable: %s\n", name, c->b->reason);
        return 0;
    }
    char err[512] = "";
    int32_t st = c->b->iface.init(ef_backend_host(), opts, n_opts, &c->ctx, err, sizeof err);
    if (st || !c->ctx) {
        fprintf(stderr, "ef-conformance: backend '%s' failed to start: %s (%s)\n", name, err,
                ef_status_str(st ? st : EF_ERR_BACKEND));
        c->ctx = NULL;
        return 0;
    }
    if (c->b->iface.set_threads) c->b->iface.set_threads(c->ctx, threads);
    return 1;
}

int main(int argc, char **argv) {
    conf_run r;
    memset(&r, 0, sizeof r);
    r.seed = 1;
    r.n_threads = 2;
    const char *name = "cpu";
    const char *work_dir = getenv("TMPDIR");
    if (!work_dir || !*work_dir) work_dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            return 0;
        } else if (!strcmp(a, "-v")) {
            r.verbose = 1;
        } else if (v && !strcmp(a, "--backend")) {
            name = v, i++;
        } else if (v && !strcmp(a, "--op")) {
            r.only_op = v, i++;
        } else if (v && !strcmp(a, "--seed")) {
            r.seed = strtoull(v, NULL, 10), i++;
        } else if (v && !strcmp(a, "--threads")) {
            r.n_threads = atoi(v), i++;
        } else if (v && !strcmp(a, "--work-dir")) {
            work_dir = v, i++;
        } else if (v && !strcmp(a, "--backend-opt")) {
            const char *eq = strchr(v, '=');
            ef_backend_choice *c = &r.choice;
            if (!eq || eq == v || (size_t)(eq - v) >= sizeof c->keys[0] || strlen(eq + 1) >= sizeof c->values[0] ||
                c->n_opts == EF_BACKEND_OPTS_MAX) {
                fprintf(stderr, "ef-conformance: bad --backend-opt '%s' (KEY=VALUE)\n%s", v, k_usage);
                return 2;
            }
            memcpy(c->keys[c->n_opts], v, (size_t)(eq - v));
            c->keys[c->n_opts][eq - v] = '\0';
            snprintf(c->values[c->n_opts], sizeof c->values[0], "%s", eq + 1);
            c->n_opts++;
            i++;
        } else {
            fprintf(stderr, "ef-conformance: unknown or incomplete option '%s'\n%s", a, k_usage);
            return 2;
        }
    }
    if (r.n_threads < 1) r.n_threads = 1;
    ef_set_log_callback(log_to_stderr, NULL, r.verbose ? EF_LOG_INFO : EF_LOG_WARN);
    r.n_opts = 0;
    for (int32_t i = 0; i < r.choice.n_opts; i++) {
        if (!strchr(r.choice.keys[i], '.')) continue; /* host options (device_resident, …) go to sessions only */
        r.opts[r.n_opts].key = r.choice.keys[i];
        r.opts[r.n_opts].value = r.choice.values[i];
        r.n_opts++;
    }
    if (!open_backend(&r.test, name, r.opts, r.n_opts, r.n_threads)) return 2;
    if (!open_backend(&r.ref, "cpu", NULL, 0, r.n_threads)) return 2;

    printf("backend %s: %s (score %d, caps 0x%x)%s%s\nreference: cpu, %s; seed %llu\n\n", r.test.b->name,
           r.test.b->device, (int)r.test.b->score, (unsigned)r.test.b->caps, r.test.b->path[0] ? ", " : "",
           r.test.b->path, r.ref.b->device, (unsigned long long)r.seed);
    conf_report_header();
    if (!r.only_op || !strcmp(r.only_op, "buffers")) conf_check_buffers(&r);
    if (!r.only_op || (strcmp(r.only_op, "e2e") != 0 && strcmp(r.only_op, "buffers") != 0)) conf_check_ops(&r);
    if (!r.only_op || !strcmp(r.only_op, "e2e")) conf_check_models(&r, work_dir);

    conf_print_summary();
    printf("\n%s: %d passed, %d failed, %d op/type pairs not claimed by the backend\n",
           r.n_fail ? "FAILED" : "PASSED", r.n_pass, r.n_fail, r.n_skip);
    r.test.b->iface.shutdown(r.test.ctx);
    r.ref.b->iface.shutdown(r.ref.ctx);
    return r.n_fail ? 1 : 0;
}
