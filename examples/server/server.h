/* Internal contracts between the parts of `edgeformer serve`. */
#ifndef EF_SERVER_H
#define EF_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "edgeformer/edgeformer.h"

/* ---- configuration (command-line options) ---- */
typedef struct {
    const char *model_path;
    const char *host;      /* IPv4 address to bind; 127.0.0.1 by default */
    int32_t port;          /* 0 = any free port (printed at start) */
    int32_t n_slots;       /* concurrent generations */
    int32_t queue_max;     /* requests that may wait for a slot */
    int32_t n_ctx;         /* per-slot context, 0 = model default */
    int64_t max_body;      /* request body limit in bytes */
    int32_t max_tokens;    /* upper bound of a request's max_tokens */
    double timeout_s;      /* wall time per request, 0 = none */
    int32_t n_threads;     /* compute threads per slot, 0 = all cores */
} server_config;

/* ---- seconds on a monotonic clock ---- */
double server_now(void);

/* ---- slot pool: one session per slot, a bounded wait queue ---- */
typedef struct {
    ef_session *session;
    int busy;
    double deadline;      /* server_now() after which the watchdog cancels; 0 = none */
    atomic_int timed_out; /* set by the watchdog when it cancelled the slot */
} server_slot;

typedef struct {
    server_slot *slots;
    int32_t n_slots, queue_max;
    int32_t n_busy, n_waiting;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    pthread_t watchdog;
    int watchdog_running, stopping;
    int draining;         /* slot_pool_stop was called: refuse, cancel */
} slot_pool;

typedef enum { SLOT_OK, SLOT_QUEUE_FULL, SLOT_WAIT_TIMEOUT, SLOT_STOPPING } slot_result;

/* Creates n_slots sessions on model; 0 or a status (message in ef_last_error). */
ef_status slot_pool_init(slot_pool *pool, ef_model *model, const server_config *cfg);
void slot_pool_destroy(slot_pool *pool);
/* Takes a free slot, waiting in the queue up to `deadline` (0 = forever).
 * The slot is reset and its deadline armed with run_deadline. */
slot_result slot_pool_acquire(slot_pool *pool, double deadline, double run_deadline, server_slot **out);
void slot_pool_release(slot_pool *pool, server_slot *slot);
/* Server shutdown: waiting and new requests get SLOT_STOPPING, and busy
 * slots are cancelled (again on every watchdog tick) until released. */
void slot_pool_stop(slot_pool *pool);
/* Waits until no slot is busy and no request waits, or `seconds` passed;
 * 1 when idle. */
int slot_pool_wait_idle(slot_pool *pool, double seconds);
void slot_pool_counts(slot_pool *pool, int32_t *busy, int32_t *waiting);

/* ---- metrics (Prometheus text) ---- */
typedef enum {
    EP_COMPLETIONS, EP_CHAT, EP_MODELS, EP_HEALTH, EP_METRICS, EP_PAGE, EP_OTHER, EP_COUNT
} server_endpoint;

void metrics_init(void);
void metrics_request(server_endpoint ep, int status);
void metrics_latency(double seconds);
void metrics_tokens(int64_t prompt_tokens, int64_t generated_tokens);
/* Renders every metric into a malloc'ed string; NULL on failure. */
char *metrics_render(slot_pool *pool);

/* ---- growable byte buffer ---- */
typedef struct {
    char *data;
    size_t len, cap;
    int oom; /* a failed append happened; data holds what fit before */
} strbuf;

void strbuf_append(strbuf *b, const char *s, size_t n);
void strbuf_free(strbuf *b);
/* Appends s[0..n) to b with invalid UTF-8 replaced by U+FFFD (one per
 * maximal invalid subpart, as WHATWG and Python's "replace" do). */
void strbuf_append_utf8_clean(strbuf *b, const char *s, size_t n);

/* ---- OpenAI requests ---- */
#define SERVER_MAX_STOPS 4

typedef struct {
    int chat;              /* /v1/chat/completions */
    int stream;
    char *prompt;          /* the completion prompt or the rendered chat */
    int32_t max_tokens;
    float temperature, top_p, min_p;
    int32_t top_k;
    uint64_t seed;
    char *stops[SERVER_MAX_STOPS];
    size_t n_stops;
} completion_request;

/* An HTTP-level error: status, OpenAI error type and code, message. */
typedef struct {
    int status;
    const char *type;
    const char *code;
    char message[256];
} request_error;

/* Parses a completions/chat body. Returns 0, or -1 with *err filled. */
int completion_request_parse(const char *body, size_t len, int chat, ef_model *model,
                             const char *model_name, const server_config *cfg,
                             completion_request *req, request_error *err);
void completion_request_free(completion_request *req);

/* JSON for an OpenAI-style error; malloc'ed, NULL on failure. */
char *error_json(const request_error *err);
void request_error_set(request_error *err, int status, const char *type, const char *code,
                       const char *fmt, ...);

/* ---- the server ---- */
typedef struct {
    server_config cfg;
    ef_model *model;
    char model_name[128];
    slot_pool pool;
    atomic_long next_id;
} server;

struct MHD_Connection;
/* Runs a completion and queues its response on the connection (blocking for
 * a non-streaming request; streaming continues on a generation thread).
 * Returns the MHD result of queueing. */
int completion_handle(server *srv, struct MHD_Connection *conn, completion_request *req,
                      server_endpoint ep, double t_arrival);

/* Queues a JSON response with the status; counts it in the metrics. */
int respond_json(struct MHD_Connection *conn, server_endpoint ep, int status, const char *json);
int respond_error(struct MHD_Connection *conn, server_endpoint ep, const request_error *err);

/* Starts the HTTP daemon; NULL on failure (message printed). */
struct MHD_Daemon *http_start(server *srv);
uint16_t http_bound_port(struct MHD_Daemon *d);

/* The embedded chat page (generated from chat_page.html). */
extern const unsigned char ef_chat_page[];
extern const size_t ef_chat_page_len;

#endif
