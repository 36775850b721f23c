/* edgeformer serve: options, model and slot setup, run until SIGINT/SIGTERM. */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "server.h"

static const char serve_usage[] =
    "usage: edgeformer serve -m MODEL [--host 127.0.0.1] [--port 8080] [--slots 4] [--queue 16]\n"
    "         [--ctx N] [--max-body BYTES] [--max-tokens N] [--timeout S] [--threads N] [-v]\n"
    "  OpenAI-compatible HTTP server: POST /v1/completions, /v1/chat/completions\n"
    "  (stream: server-sent events), GET /v1/models, /health, /metrics, and a chat page at /.\n"
    "  --port 0 picks a free port; the address is printed as \"listening on http://HOST:PORT\".\n"
    "  --timeout is the wall-time limit of one request in seconds (0: none).\n";

/* The model's id in requests and /v1/models: the file name without folders. */
static void model_name_of(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
}

int cmd_serve(int argc, char **argv) {
    server srv;
    memset(&srv, 0, sizeof srv);
    server_config *c = &srv.cfg;
    c->host = "127.0.0.1";
    int64_t port = 8080, slots = 4, queue = 16, ctx = 0, max_body = 1 << 20, max_tokens = 512, threads = 0;
    double timeout = 600;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "-m", &c->model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &c->model_path)) ||
            (r = cli_opt_str(argc, argv, &i, "--host", &c->host)) ||
            (r = cli_opt_i64(argc, argv, &i, "--port", &port)) ||
            (r = cli_opt_i64(argc, argv, &i, "--slots", &slots)) ||
            (r = cli_opt_i64(argc, argv, &i, "--queue", &queue)) ||
            (r = cli_opt_i64(argc, argv, &i, "--ctx", &ctx)) ||
            (r = cli_opt_i64(argc, argv, &i, "--max-body", &max_body)) ||
            (r = cli_opt_i64(argc, argv, &i, "--max-tokens", &max_tokens)) ||
            (r = cli_opt_f64(argc, argv, &i, "--timeout", &timeout)) ||
            (r = cli_opt_i64(argc, argv, &i, "--threads", &threads)) ||
            (r = cli_opt_i64(argc, argv, &i, "-t", &threads))) {
            if (r < 0) return cli_usage_error("serve: option %s needs a valid value", argv[i]);
        } else if (!strcmp(argv[i], "-v")) {
            verbose = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(serve_usage, stdout);
            return 0;
        } else {
            return cli_usage_error("serve: unknown option '%s'", argv[i]);
        }
    }
    if (!c->model_path) return cli_usage_error("serve: -m MODEL is required");
    if (port < 0 || port > 65535) return cli_usage_error("serve: --port must be in 0..65535");
    if (slots < 1 || slots > 256) return cli_usage_error("serve: --slots must be in 1..256");
    if (queue < 0 || queue > 4096) return cli_usage_error("serve: --queue must be in 0..4096");
    if (ctx < 0 || ctx > INT32_MAX) return cli_usage_error("serve: --ctx must be ≥ 0");
    if (max_body < 1) return cli_usage_error("serve: --max-body must be ≥ 1");
    if (max_tokens < 1 || max_tokens > INT32_MAX) return cli_usage_error("serve: --max-tokens must be ≥ 1");
    if (!(timeout >= 0)) return cli_usage_error("serve: --timeout must be ≥ 0");
    if (threads < 0 || threads > 1024) return cli_usage_error("serve: --threads must be in 0..1024");
    c->port = (int32_t)port;
    c->n_slots = (int32_t)slots;
    c->queue_max = (int32_t)queue;
    c->n_ctx = (int32_t)ctx;
    c->max_body = max_body;
    c->max_tokens = (int32_t)max_tokens;
    c->timeout_s = timeout;
    c->n_threads = (int32_t)threads;
    cli_setup_logging(verbose ? EF_LOG_INFO : EF_LOG_WARN);

    /* Signals are taken by sigwait below: block them before any thread starts,
     * so every thread inherits the mask. A closed client must not kill us. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv.model = cli_load_model(c->model_path, c->n_threads, 0);
    if (!srv.model) return 1;
    model_name_of(c->model_path, srv.model_name, sizeof srv.model_name);
    metrics_init();
    ef_status st = slot_pool_init(&srv.pool, srv.model, c);
    if (st != EF_OK) {
        ef_model_free(srv.model);
        return cli_fail("cannot create the slots' sessions", st);
    }
    struct MHD_Daemon *d = http_start(&srv);
    if (!d) {
        slot_pool_destroy(&srv.pool);
        ef_model_free(srv.model);
        return 1;
    }
    fprintf(stderr, "edgeformer serve: model %s, %d slots, queue %d\n", srv.model_name, (int)c->n_slots,
            (int)c->queue_max);
    fprintf(stderr, "edgeformer serve: listening on http://%s:%u\n", c->host, (unsigned)http_bound_port(d));
    fflush(stderr);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "edgeformer serve: stopping (signal %d)\n", sig);
    /* Stopping the daemon closes the connections: first refuse the queue and
     * cancel the generations, and give their handlers a moment to answer
     * (503 "stopping" for the queued, the end of the stream for the others). */
    slot_pool_stop(&srv.pool);
    if (slot_pool_wait_idle(&srv.pool, 5.0)) {
        const struct timespec grace = {0, 100 * 1000 * 1000}; /* the last responses' bytes */
        nanosleep(&grace, NULL);
    }
    MHD_stop_daemon(d);
    slot_pool_destroy(&srv.pool);
    ef_model_free(srv.model);
    return 0;
}
