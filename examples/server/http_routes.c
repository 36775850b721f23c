/* The HTTP side: libmicrohttpd daemon (a thread per connection, so a
 * request may block on its generation), body limits, and routing. */
#include <arpa/inet.h>
#include <cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

/* Per-request state kept between libmicrohttpd's calls. */
typedef struct {
    strbuf body;
    int too_large;
    double t_arrival;
} conn_ctx;

static int respond(struct MHD_Connection *conn, server_endpoint ep, int status, const char *type, const void *data,
                   size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    metrics_request(ep, status);
    int ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

int respond_json(struct MHD_Connection *conn, server_endpoint ep, int status, const char *json) {
    return respond(conn, ep, status, "application/json", json, strlen(json));
}

int respond_error(struct MHD_Connection *conn, server_endpoint ep, const request_error *err) {
    char *s = error_json(err);
    int ret = respond_json(conn, ep, err->status, s ? s : "{\"error\":{\"message\":\"out of memory\"}}");
    free(s);
    return ret;
}

static server_endpoint endpoint_of(const char *url) {
    if (!strcmp(url, "/v1/completions")) return EP_COMPLETIONS;
    if (!strcmp(url, "/v1/chat/completions")) return EP_CHAT;
    if (!strcmp(url, "/v1/models")) return EP_MODELS;
    if (!strcmp(url, "/health")) return EP_HEALTH;
    if (!strcmp(url, "/metrics")) return EP_METRICS;
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) return EP_PAGE;
    return EP_OTHER;
}

static int respond_models(server *srv, struct MHD_Connection *conn) {
    cJSON *o = cJSON_CreateObject();
    cJSON *data = o ? cJSON_AddArrayToObject(o, "data") : NULL;
    cJSON *m = data ? cJSON_CreateObject() : NULL;
    char *s = NULL;
    if (m) {
        cJSON_AddItemToArray(data, m);
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddStringToObject(m, "id", srv->model_name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", "edgeformer");
        cJSON_AddStringToObject(m, "architecture", ef_model_arch(srv->model));
        cJSON_AddNumberToObject(m, "n_params", (double)ef_model_n_params(srv->model));
        s = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    int ret = s ? respond_json(conn, EP_MODELS, 200, s) : MHD_NO;
    free(s);
    return ret;
}

static int respond_health(server *srv, struct MHD_Connection *conn) {
    int32_t busy, waiting;
    slot_pool_counts(&srv->pool, &busy, &waiting);
    char s[160];
    snprintf(s, sizeof s, "{\"status\":\"ok\",\"slots\":%d,\"slots_busy\":%d,\"queue\":%d}", (int)srv->cfg.n_slots,
             (int)busy, (int)waiting);
    return respond_json(conn, EP_HEALTH, 200, s);
}

static int respond_metrics(server *srv, struct MHD_Connection *conn) {
    char *s = metrics_render(&srv->pool);
    if (!s) return MHD_NO;
    int ret = respond(conn, EP_METRICS, 200, "text/plain; version=0.0.4; charset=utf-8", s, strlen(s));
    free(s);
    return ret;
}

static int route(server *srv, struct MHD_Connection *conn, const char *url, const char *method, conn_ctx *ctx) {
    server_endpoint ep = endpoint_of(url);
    request_error err;
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int is_post = !strcmp(method, "POST");
    if (ep == EP_OTHER) {
        request_error_set(&err, 404, "invalid_request_error", "not_found", "no route for %.8s %.180s", method, url);
        return respond_error(conn, ep, &err);
    }
    int wants_post = ep == EP_COMPLETIONS || ep == EP_CHAT;
    if (wants_post ? !is_post : !is_get) {
        request_error_set(&err, 405, "invalid_request_error", "method_not_allowed", "%.180s takes %s", url,
                          wants_post ? "POST" : "GET");
        return respond_error(conn, ep, &err);
    }
    switch (ep) {
    case EP_PAGE: return respond(conn, ep, 200, "text/html; charset=utf-8", ef_chat_page, ef_chat_page_len);
    case EP_MODELS: return respond_models(srv, conn);
    case EP_HEALTH: return respond_health(srv, conn);
    case EP_METRICS: return respond_metrics(srv, conn);
    default: break;
    }
    if (ctx->too_large) {
        request_error_set(&err, 413, "invalid_request_error", "request_too_large",
                          "the request body exceeds the server's limit of %lld bytes", (long long)srv->cfg.max_body);
        return respond_error(conn, ep, &err);
    }
    if (ctx->body.oom) {
        request_error_set(&err, 500, "server_error", NULL, "out of memory reading the request");
        return respond_error(conn, ep, &err);
    }
    completion_request req;
    if (completion_request_parse(ctx->body.data ? ctx->body.data : "", ctx->body.len, ep == EP_CHAT, srv->model,
                                 srv->model_name, &srv->cfg, &req, &err)) {
        return respond_error(conn, ep, &err);
    }
    return completion_handle(srv, conn, &req, ep, ctx->t_arrival);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    server *srv = cls;
    (void)version;
    conn_ctx *ctx = *con_cls;
    if (!ctx) {
        if (!(ctx = calloc(1, sizeof *ctx))) return MHD_NO;
        ctx->t_arrival = server_now();
        *con_cls = ctx;
        /* A declared body that is too large is refused before it is read. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoll(cl, NULL, 10) > srv->cfg.max_body) {
            ctx->too_large = 1;
            request_error err;
            request_error_set(&err, 413, "invalid_request_error", "request_too_large",
                              "the request body (%s bytes) exceeds the server's limit of %lld bytes", cl,
                              (long long)srv->cfg.max_body);
            return respond_error(conn, endpoint_of(url), &err) ? MHD_YES : MHD_NO;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if ((int64_t)(ctx->body.len + *upload_data_size) > srv->cfg.max_body) ctx->too_large = 1;
        if (!ctx->too_large) strbuf_append(&ctx->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return route(srv, conn, url, method, ctx) ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    conn_ctx *ctx = *con_cls;
    if (!ctx) return;
    strbuf_free(&ctx->body);
    free(ctx);
    *con_cls = NULL;
}

struct MHD_Daemon *http_start(server *srv) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)srv->cfg.port);
    const char *host = strcmp(srv->cfg.host, "localhost") ? srv->cfg.host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "edgeformer: serve: --host must be an IPv4 address, got '%s'\n", srv->cfg.host);
        return NULL;
    }
    /* Room for every slot and queued request plus light requests (health, metrics). */
    unsigned limit = (unsigned)(srv->cfg.n_slots + srv->cfg.queue_max + 32);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!d) fprintf(stderr, "edgeformer: serve: cannot listen on %s:%d (in use?)\n", srv->cfg.host, (int)srv->cfg.port);
    return d;
}

uint16_t http_bound_port(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}
