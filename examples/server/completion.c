/* Runs one completion on a slot: stop strings, streaming as server-sent
 * events, time limits, client disconnects, and the OpenAI response shapes. */
#include <cJSON.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

typedef enum { FINISH_STOP, FINISH_LENGTH, FINISH_TIMEOUT, FINISH_CANCELLED, FINISH_ERROR } finish_kind;

typedef struct {
    server *srv;
    completion_request req;
    server_endpoint ep;
    server_slot *slot;
    char id[48];
    long created;
    double t_arrival;

    /* generated text; text[0..emitted) has been streamed */
    strbuf text;
    size_t emitted;
    int stop_hit;
    atomic_int client_gone;

    /* result */
    ef_status status;
    char errmsg[200];
    finish_kind finish;
    int64_t prompt_tokens, gen_tokens;

    /* streaming: SSE bytes handed from the generation thread to MHD */
    pthread_mutex_t mu;
    pthread_cond_t more;
    strbuf events;
    size_t events_off;
    int events_done;
    pthread_t thread;
    int generating; /* under mu: the slot is still this job's */
} job;

static const char *finish_name(finish_kind f) {
    switch (f) {
    case FINISH_STOP: return "stop";
    case FINISH_LENGTH: return "length";
    default: return NULL;
    }
}

/* ---------------------------------------------------------------- JSON -- */

/* A cJSON string from bytes that may hold invalid UTF-8. */
static cJSON *clean_string(const char *s, size_t n) {
    strbuf b = {0};
    strbuf_append_utf8_clean(&b, s, n);
    strbuf_append(&b, "", 0);
    cJSON *v = b.oom ? NULL : cJSON_CreateString(b.data);
    strbuf_free(&b);
    return v;
}

static cJSON *response_head(const job *j, int chunk) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", j->req.chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                                     : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", j->srv->model_name);
    return o;
}

/* One choice: text (may be NULL for none), finish reason (NULL → null). */
static cJSON *choice(const job *j, const char *text, size_t len, const char *finish, int first_chunk, int chunk) {
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *t = text ? clean_string(text, len) : NULL;
    if (!j->req.chat) {
        cJSON_AddItemToObject(c, "text", t ? t : cJSON_CreateString(""));
        cJSON_AddNullToObject(c, "logprobs");
    } else {
        cJSON *msg = cJSON_AddObjectToObject(c, chunk ? "delta" : "message");
        if (msg && (first_chunk || !chunk)) cJSON_AddStringToObject(msg, "role", "assistant");
        if (msg && t) cJSON_AddItemToObject(msg, "content", t);
        else cJSON_Delete(t);
    }
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    return c;
}

static void add_usage(cJSON *o, const job *j) {
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    if (!u) return;
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)j->gen_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(j->prompt_tokens + j->gen_tokens));
}

/* A complete (non-streaming) response body; malloc'ed. */
static char *final_json(const job *j) {
    cJSON *o = response_head(j, 0);
    cJSON *choices = o ? cJSON_AddArrayToObject(o, "choices") : NULL;
    cJSON *c = choices ? choice(j, j->text.data ? j->text.data : "", j->text.len, finish_name(j->finish), 0, 0) : NULL;
    char *s = NULL;
    if (c) {
        cJSON_AddItemToArray(choices, c);
        add_usage(o, j);
        s = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    return s;
}

/* The error a failed or timed-out generation answers with. */
static void job_error(const job *j, request_error *err) {
    if (j->finish == FINISH_TIMEOUT) {
        request_error_set(err, 504, "timeout_error", "timeout", "the request exceeded the server's %g s time limit",
                          j->srv->cfg.timeout_s);
    } else if (j->status == EF_ERR_CONTEXT_FULL) {
        request_error_set(err, 400, "invalid_request_error", "context_length_exceeded", "%s", j->errmsg);
    } else {
        request_error_set(err, 500, "server_error", NULL, "generation failed: %s", j->errmsg);
    }
}

/* ------------------------------------------------------------- events -- */

static void push_event(job *j, const char *data) {
    pthread_mutex_lock(&j->mu);
    strbuf_append(&j->events, "data: ", 6);
    strbuf_append(&j->events, data, strlen(data));
    strbuf_append(&j->events, "\n\n", 2);
    pthread_cond_signal(&j->more);
    pthread_mutex_unlock(&j->mu);
}

static void push_json(job *j, cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    if (s) push_event(j, s);
    cJSON_free(s);
    cJSON_Delete(o);
}

static void push_chunk(job *j, const char *text, size_t len, const char *finish, int first) {
    cJSON *o = response_head(j, 1);
    cJSON *choices = o ? cJSON_AddArrayToObject(o, "choices") : NULL;
    cJSON *c = choices ? choice(j, text, len, finish, first, 1) : NULL;
    if (c) cJSON_AddItemToArray(choices, c);
    if (o && finish) add_usage(o, j);
    push_json(j, o);
}

/* --------------------------------------------------------- generation -- */

/* Bytes at the end of text that could begin a stop string: held back from
 * the stream until the next token decides. */
static size_t stop_prefix_held(const job *j) {
    size_t held = 0;
    for (size_t s = 0; s < j->req.n_stops; s++) {
        const char *stop = j->req.stops[s];
        size_t sl = strlen(stop);
        for (size_t k = sl - 1; k > held; k--) {
            if (k <= j->text.len && !memcmp(j->text.data + j->text.len - k, stop, k)) {
                held = k;
                break;
            }
        }
    }
    return held;
}

static int32_t on_token(void *user, int32_t token, const char *piece, size_t len) {
    job *j = user;
    (void)token;
    size_t before = j->text.len;
    strbuf_append(&j->text, piece, len);
    if (j->text.oom) return 1;
    /* A stop string ends the text where it starts; search only where a new
     * match can be. */
    for (size_t s = 0; s < j->req.n_stops && !j->stop_hit; s++) {
        size_t sl = strlen(j->req.stops[s]);
        size_t from = before >= sl ? before - sl + 1 : 0;
        char *hit = strstr(j->text.data + from, j->req.stops[s]);
        if (hit) {
            j->text.len = (size_t)(hit - j->text.data);
            j->text.data[j->text.len] = '\0';
            j->stop_hit = 1;
        }
    }
    if (j->req.stream) {
        size_t safe = j->stop_hit ? j->text.len : j->text.len - stop_prefix_held(j);
        if (safe > j->emitted) {
            push_chunk(j, j->text.data + j->emitted, safe - j->emitted, NULL, 0);
            j->emitted = safe;
        }
    }
    if (j->stop_hit || atomic_load(&j->client_gone)) return 1;
    return 0;
}

/* Runs the generation on the job's slot and fills in the result fields. */
static void run_generation(job *j) {
    ef_session *sess = j->slot->session;
    ef_sampler_params *sp = NULL;
    ef_status st = ef_sampler_params_create(&sp);
    if (st == EF_OK) st = ef_sampler_params_set_temperature(sp, j->req.temperature);
    if (st == EF_OK) st = ef_sampler_params_set_top_k(sp, j->req.top_k);
    if (st == EF_OK) st = ef_sampler_params_set_top_p(sp, j->req.top_p);
    if (st == EF_OK) st = ef_sampler_params_set_min_p(sp, j->req.min_p);
    if (st == EF_OK) st = ef_sampler_params_set_seed(sp, j->req.seed);
    if (st == EF_OK) st = ef_session_set_sampler(sess, sp);
    ef_sampler_params_free(sp);
    if (st == EF_OK) st = ef_session_generate(sess, j->req.prompt, strlen(j->req.prompt), j->req.max_tokens, on_token, j);
    if (st != EF_OK) snprintf(j->errmsg, sizeof j->errmsg, "%s", ef_session_errmsg(sess));

    double v = 0;
    ef_session_stat(sess, EF_STAT_PROMPT_TOKENS, &v);
    j->prompt_tokens = (int64_t)v;
    ef_session_stat(sess, EF_STAT_GEN_TOKENS, &v);
    j->gen_tokens = (int64_t)v;
    ef_session_stat(sess, EF_STAT_STOP_REASON, &v);
    metrics_tokens(j->prompt_tokens, j->gen_tokens);

    j->status = st;
    if (atomic_load(&j->slot->timed_out)) {
        j->finish = FINISH_TIMEOUT;
    } else if (atomic_load(&j->client_gone)) {
        j->finish = FINISH_CANCELLED;
    } else if (j->text.oom) {
        j->status = EF_ERR_NO_MEMORY;
        snprintf(j->errmsg, sizeof j->errmsg, "out of memory collecting the text");
        j->finish = FINISH_ERROR;
    } else if (st != EF_OK) {
        j->finish = FINISH_ERROR;
    } else if (j->stop_hit || (int)v == EF_STOP_EOG) {
        j->finish = FINISH_STOP;
    } else {
        j->finish = FINISH_LENGTH; /* max_tokens or a full context */
    }
}

static void job_free(job *j) {
    completion_request_free(&j->req);
    strbuf_free(&j->text);
    strbuf_free(&j->events);
    pthread_cond_destroy(&j->more);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* The streaming generation thread: tokens become events as they come. */
static void *stream_main(void *arg) {
    job *j = arg;
    push_chunk(j, NULL, 0, NULL, 1); /* the opening chunk (chat: the role) */
    run_generation(j);
    if (j->finish == FINISH_STOP || j->finish == FINISH_LENGTH) {
        if (j->text.len > j->emitted) push_chunk(j, j->text.data + j->emitted, j->text.len - j->emitted, NULL, 0);
        push_chunk(j, NULL, 0, finish_name(j->finish), 0);
    } else if (j->finish != FINISH_CANCELLED) {
        request_error err;
        job_error(j, &err);
        char *s = error_json(&err);
        if (s) push_event(j, s);
        free(s);
    }
    push_event(j, "[DONE]");
    pthread_mutex_lock(&j->mu);
    /* The slot goes back as soon as the generation ends, not when the
     * client has read everything. */
    j->generating = 0;
    slot_pool_release(&j->srv->pool, j->slot);
    j->events_done = 1;
    pthread_cond_signal(&j->more);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* MHD pulls the event stream; this thread may block (thread per connection). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    job *j = cls;
    (void)pos;
    pthread_mutex_lock(&j->mu);
    while (j->events_off == j->events.len && !j->events_done) pthread_cond_wait(&j->more, &j->mu);
    size_t n = j->events.len - j->events_off;
    if (n > max) n = max;
    if (n) memcpy(buf, j->events.data + j->events_off, n);
    j->events_off += n;
    int end = n == 0 && j->events_done;
    pthread_mutex_unlock(&j->mu);
    return end ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

/* Called when the response is done with: after the last byte, or when the
 * client went away mid-stream. Either way the generation stops and the
 * slot is freed. */
static void stream_free(void *cls) {
    job *j = cls;
    pthread_mutex_lock(&j->mu);
    if (j->generating) { /* else the slot may already serve another request */
        atomic_store(&j->client_gone, 1);
        ef_session_cancel(j->slot->session);
    }
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
    metrics_latency(server_now() - j->t_arrival);
    job_free(j);
}

/* ------------------------------------------------------------- entry -- */

int completion_handle(server *srv, struct MHD_Connection *conn, completion_request *req, server_endpoint ep,
                      double t_arrival) {
    request_error err;
    job *j = calloc(1, sizeof *j);
    if (!j) {
        completion_request_free(req);
        request_error_set(&err, 500, "server_error", NULL, "out of memory");
        return respond_error(conn, ep, &err);
    }
    j->srv = srv;
    j->req = *req; /* the job owns the request's strings now */
    memset(req, 0, sizeof *req);
    j->ep = ep;
    j->t_arrival = t_arrival;
    j->created = (long)time(NULL);
    snprintf(j->id, sizeof j->id, "%s-%ld", j->req.chat ? "chatcmpl" : "cmpl", atomic_fetch_add(&srv->next_id, 1));
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->more, NULL);

    double limit = srv->cfg.timeout_s;
    double deadline = limit > 0 ? t_arrival + limit : 0;
    slot_result sr = slot_pool_acquire(&srv->pool, deadline, deadline, &j->slot);
    if (sr != SLOT_OK) {
        if (sr == SLOT_QUEUE_FULL) {
            request_error_set(&err, 503, "server_busy", "queue_full",
                              "all %d slots are busy and the queue of %d is full; retry later",
                              (int)srv->cfg.n_slots, (int)srv->cfg.queue_max);
        } else if (sr == SLOT_STOPPING) {
            request_error_set(&err, 503, "server_busy", "stopping", "the server is shutting down");
        } else {
            request_error_set(&err, 503, "server_busy", "queue_timeout",
                              "no slot became free within the %g s time limit", limit);
        }
        job_free(j);
        return respond_error(conn, ep, &err);
    }

    if (!j->req.stream) {
        run_generation(j);
        slot_pool_release(&srv->pool, j->slot);
        metrics_latency(server_now() - t_arrival);
        int ret;
        char *body = NULL;
        if (j->finish == FINISH_STOP || j->finish == FINISH_LENGTH) body = final_json(j);
        if (body) {
            ret = respond_json(conn, ep, 200, body);
        } else {
            if (j->finish == FINISH_STOP || j->finish == FINISH_LENGTH) {
                request_error_set(&err, 500, "server_error", NULL, "out of memory");
            } else {
                job_error(j, &err);
            }
            ret = respond_error(conn, ep, &err);
        }
        free(body);
        job_free(j);
        return ret;
    }

    j->generating = 1;
    if (pthread_create(&j->thread, NULL, stream_main, j) != 0) {
        slot_pool_release(&srv->pool, j->slot);
        job_free(j);
        request_error_set(&err, 500, "server_error", NULL, "cannot start a generation thread");
        return respond_error(conn, ep, &err);
    }
    /* From here stream_free (called by MHD, or below) owns the job. */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, j, stream_free);
    if (!resp) {
        stream_free(j);
        request_error_set(&err, 500, "server_error", NULL, "out of memory");
        return respond_error(conn, ep, &err);
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    metrics_request(ep, 200);
    int ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
