/* The sampler chain: repetition penalty → top-k → temperature (0: greedy) →
 * softmax → top-p → min-p → draw from a seeded RNG. */
#ifndef EF_SAMPLE_SAMPLER_H
#define EF_SAMPLE_SAMPLER_H

#include <stdint.h>

#include "base/error.h"

struct ef_sampler_params {
    float temperature;
    int32_t top_k;
    float top_p;
    float min_p;
    float repeat_penalty;
    int32_t repeat_last_n;
    uint64_t seed;
};

typedef struct ef_sampler ef_sampler;

void ef_sampler_params_defaults(struct ef_sampler_params *p);
/* EF_OK when every field is in its documented range, else EF_ERR_INVALID_ARG
 * with a message naming the field. */
ef_status ef_sampler_params_validate(const struct ef_sampler_params *p);
ef_status ef_sampler_create(const struct ef_sampler_params *p, int32_t n_vocab, ef_sampler **out);
void ef_sampler_free(ef_sampler *s);
/* Clears the history and reseeds with the params' seed. */
void ef_sampler_reset(ef_sampler *s);
/* Picks a token from logits[n_vocab] (not modified) and appends it to the history. */
ef_status ef_sampler_sample(ef_sampler *s, const float *logits, int32_t *token);
/* Appends a token to the repetition history (prompt tokens, for example).
 * Ids outside [0, n_vocab) are ignored. */
void ef_sampler_accept(ef_sampler *s, int32_t token);

/* ---- state for session snapshots ---- */

/* A read-only view of a sampler's mutable state (sampler.c). */
typedef struct ef_sampler_view {
    struct ef_sampler_params params;
    int32_t n_vocab;
    uint64_t rng[4];          /* xoshiro256** words */
    const int32_t *history;   /* ring [history_cap]; entry i (oldest first) at (head + i) % cap */
    int32_t history_cap, history_len, history_head;
} ef_sampler_view;
void ef_sampler_get_view(const ef_sampler *s, ef_sampler_view *out);
/* Sets the RNG words (never all zero: the caller checks). */
void ef_sampler_set_rng(ef_sampler *s, const uint64_t rng[4]);

/* Encodes params, RNG words and repetition history, oldest first
 * (sampler_state.c; docs/snapshots.md gives the layout). Returns the bytes
 * needed; writes them when cap is enough (dst may be NULL to ask). */
size_t ef_sampler_state_encode(const ef_sampler *s, void *dst, size_t cap);
/* A new sampler for n_vocab tokens in exactly the encoded state. Errors:
 * EF_ERR_FORMAT (length, a history longer than the window, a token out of
 * range, all-zero RNG), EF_ERR_INVALID_ARG (params out of range),
 * EF_ERR_MISMATCH (encoded for another vocabulary size), EF_ERR_NO_MEMORY. */
ef_status ef_sampler_state_decode(const void *src, size_t n, int32_t n_vocab, ef_sampler **out);

#endif
