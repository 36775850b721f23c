/* Server counters, rendered in the Prometheus text exposition format. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static const char *const endpoint_names[EP_COUNT] = {
    "/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics", "/", "other",
};

/* Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied. */
static const double latency_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define N_BOUNDS (sizeof latency_bounds / sizeof latency_bounds[0])

#define MAX_STATUS_ROWS 64

static struct {
    pthread_mutex_t mu;
    struct { int ep, status; uint64_t count; } rows[MAX_STATUS_ROWS]; /* (endpoint, status) → count */
    int n_rows;
    uint64_t latency_buckets[N_BOUNDS + 1]; /* last: +Inf */
    double latency_sum;
    uint64_t latency_count;
    uint64_t prompt_tokens, generated_tokens;
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

void metrics_init(void) {
    pthread_mutex_lock(&m.mu);
    m.n_rows = 0;
    memset(m.latency_buckets, 0, sizeof m.latency_buckets);
    m.latency_sum = 0;
    m.latency_count = m.prompt_tokens = m.generated_tokens = 0;
    pthread_mutex_unlock(&m.mu);
}

void metrics_request(server_endpoint ep, int status) {
    pthread_mutex_lock(&m.mu);
    int i = 0;
    while (i < m.n_rows && !(m.rows[i].ep == (int)ep && m.rows[i].status == status)) i++;
    if (i == m.n_rows && m.n_rows < MAX_STATUS_ROWS) {
        m.rows[i].ep = (int)ep;
        m.rows[i].status = status;
        m.rows[i].count = 0;
        m.n_rows++;
    }
    if (i < m.n_rows) m.rows[i].count++;
    pthread_mutex_unlock(&m.mu);
}

void metrics_latency(double seconds) {
    pthread_mutex_lock(&m.mu);
    size_t b = 0;
    while (b < N_BOUNDS && seconds > latency_bounds[b]) b++;
    m.latency_buckets[b]++;
    m.latency_sum += seconds;
    m.latency_count++;
    pthread_mutex_unlock(&m.mu);
}

void metrics_tokens(int64_t prompt_tokens, int64_t generated_tokens) {
    pthread_mutex_lock(&m.mu);
    m.prompt_tokens += (uint64_t)prompt_tokens;
    m.generated_tokens += (uint64_t)generated_tokens;
    pthread_mutex_unlock(&m.mu);
}

static void addf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(strbuf *b, const char *fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) strbuf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

char *metrics_render(slot_pool *pool) {
    int32_t busy = 0, waiting = 0;
    slot_pool_counts(pool, &busy, &waiting);
    strbuf b = {0};
    pthread_mutex_lock(&m.mu);
    addf(&b, "# HELP edgeformer_requests_total HTTP requests answered, by endpoint and status.\n");
    addf(&b, "# TYPE edgeformer_requests_total counter\n");
    for (int i = 0; i < m.n_rows; i++) {
        addf(&b, "edgeformer_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", endpoint_names[m.rows[i].ep],
             m.rows[i].status, (unsigned long long)m.rows[i].count);
    }
    addf(&b, "# HELP edgeformer_prompt_tokens_total Prompt tokens evaluated.\n");
    addf(&b, "# TYPE edgeformer_prompt_tokens_total counter\n");
    addf(&b, "edgeformer_prompt_tokens_total %llu\n", (unsigned long long)m.prompt_tokens);
    addf(&b, "# HELP edgeformer_tokens_generated_total Tokens generated.\n");
    addf(&b, "# TYPE edgeformer_tokens_generated_total counter\n");
    addf(&b, "edgeformer_tokens_generated_total %llu\n", (unsigned long long)m.generated_tokens);
    addf(&b, "# HELP edgeformer_request_duration_seconds Wall time of completion requests.\n");
    addf(&b, "# TYPE edgeformer_request_duration_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < N_BOUNDS; i++) {
        cumulative += m.latency_buckets[i];
        addf(&b, "edgeformer_request_duration_seconds_bucket{le=\"%g\"} %llu\n", latency_bounds[i],
             (unsigned long long)cumulative);
    }
    cumulative += m.latency_buckets[N_BOUNDS];
    addf(&b, "edgeformer_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
    addf(&b, "edgeformer_request_duration_seconds_sum %.6f\n", m.latency_sum);
    addf(&b, "edgeformer_request_duration_seconds_count %llu\n", (unsigned long long)m.latency_count);
    pthread_mutex_unlock(&m.mu);
    addf(&b, "# HELP edgeformer_queue_length Requests waiting for a slot.\n");
    addf(&b, "# TYPE edgeformer_queue_length gauge\n");
    addf(&b, "edgeformer_queue_length %d\n", (int)waiting);
    addf(&b, "# HELP edgeformer_slots_busy Slots running a generation.\n");
    addf(&b, "# TYPE edgeformer_slots_busy gauge\n");
    addf(&b, "edgeformer_slots_busy %d\n", (int)busy);
    addf(&b, "# HELP edgeformer_slots_total Slots (concurrent sessions).\n");
    addf(&b, "# TYPE edgeformer_slots_total gauge\n");
    addf(&b, "edgeformer_slots_total %d\n", (int)pool->n_slots);
    strbuf_append(&b, "", 1); /* NUL */
    if (b.oom) {
        strbuf_free(&b);
        return NULL;
    }
    return b.data;
}
