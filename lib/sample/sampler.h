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

#endif
