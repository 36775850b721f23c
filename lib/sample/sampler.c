/* The sampler chain over one row of logits:
 *   repetition penalty → top-k → temperature (0: greedy arg-max) → softmax →
 *   top-p → min-p → draw from a seeded RNG.
 * Vocabularies reach 150k tokens, so nothing sorts the whole row: candidates
 * sit in a binary max-heap (built in O(n)) and only as many as top-k / top-p
 * need are popped off it, best first. All scratch is allocated in create. */
#include <float.h>
#include <math.h>

#include "base/alloc.h"
#include "sample/rng.h"
#include "sample/sampler.h"

/* Repetition windows longer than this are clamped: no context is that long,
 * and it keeps a huge repeat_last_n from allocating gigabytes. */
#define EF_SAMPLER_MAX_HISTORY (1 << 20)

/* One token still in the running. */
typedef struct candidate {
    float logit; /* after penalty; never NaN, never +inf */
    float prob;  /* unnormalised: exp((logit - best) / T), so the best is 1 */
    int32_t id;
} candidate;

struct ef_sampler {
    struct ef_sampler_params params;
    int32_t n_vocab;
    ef_rng rng;

    /* Ring buffer of the last repeat_last_n accepted tokens (NULL when the
     * penalty is off). history[(history_head + i) % cap], i < history_len. */
    int32_t *history;  /* [history_cap] = min(repeat_last_n, EF_SAMPLER_MAX_HISTORY) */
    int32_t history_cap;
    int32_t history_len;
    int32_t history_head;

    float *work;          /* [n_vocab] sanitised + penalised logits */
    uint8_t *penalised;   /* [n_vocab] 1 while a token's penalty is applied (dedup) */
    candidate *heap;      /* [n_vocab] max-heap by (logit desc, id asc) */
    candidate *ranked;    /* [n_vocab] popped from the heap, best first */
};

/* ---- lifetime ---- */

ef_status ef_sampler_create(const struct ef_sampler_params *p, int32_t n_vocab, ef_sampler **out) {
    if (!out) return ef_err(EF_ERR_INVALID_ARG, "ef_sampler_create: out is NULL");
    EF_TRY(ef_sampler_params_validate(p));
    if (n_vocab <= 0) return ef_err(EF_ERR_INVALID_ARG, "ef_sampler_create: n_vocab %d must be > 0", (int)n_vocab);

    ef_sampler *s = ef_calloc(1, sizeof *s);
    if (!s) return ef_err(EF_ERR_NO_MEMORY, "sampler: out of memory");
    s->params = *p;
    s->n_vocab = n_vocab;
    /* The history only matters when the penalty does something. */
    s->history_cap = (p->repeat_penalty != 1.0f) ? p->repeat_last_n : 0;
    if (s->history_cap > EF_SAMPLER_MAX_HISTORY) s->history_cap = EF_SAMPLER_MAX_HISTORY;

    size_t n = (size_t)n_vocab;
    s->work = ef_calloc(n, sizeof *s->work);
    s->penalised = ef_calloc(n, sizeof *s->penalised);
    s->heap = ef_calloc(n, sizeof *s->heap);
    s->ranked = ef_calloc(n, sizeof *s->ranked);
    if (s->history_cap > 0) s->history = ef_calloc((size_t)s->history_cap, sizeof *s->history);
    if (!s->work || !s->penalised || !s->heap || !s->ranked || (s->history_cap > 0 && !s->history)) {
        ef_sampler_free(s);
        return ef_err(EF_ERR_NO_MEMORY, "sampler: out of memory for scratch (n_vocab %d, repeat_last_n %d)",
                      (int)n_vocab, (int)p->repeat_last_n);
    }
    ef_sampler_reset(s);
    *out = s;
    return EF_OK;
}

void ef_sampler_free(ef_sampler *s) {
    if (!s) return;
    ef_free(s->history);
    ef_free(s->work);
    ef_free(s->penalised);
    ef_free(s->heap);
    ef_free(s->ranked);
    ef_free(s);
}

void ef_sampler_reset(ef_sampler *s) {
    if (!s) return;
    s->history_len = 0;
    s->history_head = 0;
    ef_rng_seed(&s->rng, s->params.seed);
}

void ef_sampler_accept(ef_sampler *s, int32_t token) {
    if (!s || s->history_cap == 0 || token < 0 || token >= s->n_vocab) return;
    if (s->history_len < s->history_cap) {
        s->history[(s->history_head + s->history_len) % s->history_cap] = token;
        s->history_len++;
    } else {
        /* Full: overwrite the oldest. */
        s->history[s->history_head] = token;
        s->history_head = (s->history_head + 1) % s->history_cap;
    }
}

/* ---- stage 1: sanitise and penalise ---- */

/* NaN can never win (-inf); +inf becomes the largest float so that the
 * max-subtracted softmax stays finite. */
static void load_logits(ef_sampler *s, const float *logits) {
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float x = logits[i];
        if (isnan(x)) x = -INFINITY;
        else if (x == INFINITY) x = FLT_MAX;
        s->work[i] = x;
    }
}

/* llama.cpp-style: each distinct recent token once, positive logits divided,
 * the others multiplied, so the penalty always lowers the token. */
static void apply_repeat_penalty(ef_sampler *s) {
    const float penalty = s->params.repeat_penalty;
    if (s->history_len == 0 || penalty == 1.0f) return;
    for (int32_t i = 0; i < s->history_len; i++) {
        int32_t t = s->history[(s->history_head + i) % s->history_cap];
        if (s->penalised[t]) continue;
        s->penalised[t] = 1;
        float x = s->work[t];
        s->work[t] = (x > 0.0f) ? x / penalty : x * penalty;
    }
    for (int32_t i = 0; i < s->history_len; i++) s->penalised[s->history[(s->history_head + i) % s->history_cap]] = 0;
}

/* Arg-max with the lowest id on ties; token 0 when every logit is -inf. */
static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* ---- the candidate heap ---- */

/* Strict total order: higher logit first, then lower id, so every selection
 * (top-k, top-p boundary) is deterministic. */
static int ranks_above(const candidate *a, const candidate *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static void sift_down(candidate *h, int32_t n, int32_t i) {
    candidate moving = h[i];
    for (;;) {
        int32_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && ranks_above(&h[child + 1], &h[child])) child++;
        if (!ranks_above(&h[child], &moving)) break;
        h[i] = h[child];
        i = child;
    }
    h[i] = moving;
}

static void heapify(candidate *h, int32_t n) {
    for (int32_t i = n / 2 - 1; i >= 0; i--) sift_down(h, n, i);
}

/* Moves the heap's best candidate to the end of the ranked list. */
static void pop_best(ef_sampler *s, int32_t *n_heap, int32_t *n_ranked) {
    s->ranked[(*n_ranked)++] = s->heap[0];
    s->heap[0] = s->heap[--(*n_heap)];
    sift_down(s->heap, *n_heap, 0);
}

/* ---- stage 2: temperature > 0 ---- */

/* The kept set is ranked[0..n_ranked) (best first) followed by the unordered
 * rest heap[0..n_heap). */
static int32_t sample_stochastic(ef_sampler *s) {
    const struct ef_sampler_params *p = &s->params;

    int32_t n_heap = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        if (s->work[i] == -INFINITY) continue; /* probability 0 whatever the temperature */
        s->heap[n_heap].logit = s->work[i];
        s->heap[n_heap].prob = 0.0f;
        s->heap[n_heap].id = i;
        n_heap++;
    }
    if (n_heap == 0) return 0;
    heapify(s->heap, n_heap);
    int32_t n_ranked = 0;

    /* top-k: pop exactly k, drop the rest. */
    if (p->top_k > 0 && p->top_k < n_heap) {
        while (n_ranked < p->top_k) pop_best(s, &n_heap, &n_ranked);
        n_heap = 0;
    }

    /* temperature + softmax, max-subtracted in double; weights stay
     * unnormalised (the best is exactly 1) and the draw scales by their sum. */
    const double best = (n_ranked > 0) ? s->ranked[0].logit : s->heap[0].logit;
    const double inv_t = 1.0 / (double)p->temperature;
    double total = 0.0;
    for (int32_t i = 0; i < n_ranked; i++) {
        s->ranked[i].prob = (float)exp(((double)s->ranked[i].logit - best) * inv_t);
        total += s->ranked[i].prob;
    }
    for (int32_t i = 0; i < n_heap; i++) {
        s->heap[i].prob = (float)exp(((double)s->heap[i].logit - best) * inv_t);
        total += s->heap[i].prob;
    }

    /* top-p: the shortest best-first prefix whose mass reaches top_p. Pops
     * from the heap only as far as needed. */
    if (p->top_p < 1.0f) {
        const double target = (double)p->top_p * total;
        double mass = 0.0;
        int32_t keep = 0;
        for (;;) {
            if (keep == n_ranked) {
                if (n_heap == 0) break; /* rounding: everything is kept */
                pop_best(s, &n_heap, &n_ranked);
            }
            mass += s->ranked[keep++].prob;
            if (mass >= target) break;
        }
        n_ranked = keep;
        n_heap = 0;
    }

    /* min-p: relative to the best weight, which is 1; the best always stays. */
    if (p->min_p > 0.0f) {
        const float floor_prob = p->min_p;
        int32_t keep = 0;
        while (keep < n_ranked && (keep == 0 || s->ranked[keep].prob >= floor_prob)) keep++;
        n_ranked = keep;
        int32_t kept_heap = 0;
        for (int32_t i = 0; i < n_heap; i++)
            if (s->heap[i].prob >= floor_prob) s->heap[kept_heap++] = s->heap[i];
        n_heap = kept_heap;
    }

    /* Renormalise over the survivors and draw. */
    total = 0.0;
    for (int32_t i = 0; i < n_ranked; i++) total += s->ranked[i].prob;
    for (int32_t i = 0; i < n_heap; i++) total += s->heap[i].prob;
    const double u = ef_rng_uniform(&s->rng) * total;
    double acc = 0.0;
    int32_t last = 0;
    for (int32_t i = 0; i < n_ranked; i++) {
        acc += s->ranked[i].prob;
        last = s->ranked[i].id;
        if (u < acc) return last;
    }
    for (int32_t i = 0; i < n_heap; i++) {
        acc += s->heap[i].prob;
        last = s->heap[i].id;
        if (u < acc) return last;
    }
    return last; /* u landed on the rounding slack above the last sum */
}

ef_status ef_sampler_sample(ef_sampler *s, const float *logits, int32_t *token) {
    if (!s || !logits || !token) return ef_err(EF_ERR_INVALID_ARG, "ef_sampler_sample: NULL argument");
    load_logits(s, logits);
    apply_repeat_penalty(s);
    int32_t chosen = (s->params.temperature == 0.0f) ? argmax(s->work, s->n_vocab) : sample_stochastic(s);
    ef_sampler_accept(s, chosen);
    *token = chosen;
    return EF_OK;
}

/* ---- state for session snapshots (sampler_state.c encodes it) ---- */

void ef_sampler_get_view(const ef_sampler *s, ef_sampler_view *out) {
    out->params = s->params;
    out->n_vocab = s->n_vocab;
    for (int i = 0; i < 4; i++) out->rng[i] = s->rng.s[i];
    out->history = s->history;
    out->history_cap = s->history_cap;
    out->history_len = s->history_len;
    out->history_head = s->history_head;
}

void ef_sampler_set_rng(ef_sampler *s, const uint64_t rng[4]) {
    for (int i = 0; i < 4; i++) s->rng.s[i] = rng[i];
}
