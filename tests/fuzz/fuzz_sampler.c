/* libFuzzer target for the sampler options and the sampler chain. The
 * input sets every option through the public setters (raw float bits, so
 * NaN, infinities, negatives and denormals all arrive), then a vocabulary
 * size, a repetition history and logits (raw float bits too) follow; the
 * sampler draws several tokens. Checked: a setter either accepts a value
 * (and validation then passes) or refuses it with EF_ERR_INVALID_ARG
 * leaving the old value; every drawn token is in range; equal seeds give
 * equal draws. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/edgeformer.h"
#include "sample/sampler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint32_t next_u32(reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v |= (uint32_t)(r->n ? *r->p : 0) << (8 * i);
        if (r->n) {
            r->p++;
            r->n--;
        }
    }
    return v;
}

static float next_f32(reader *r) {
    uint32_t u = next_u32(r);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A refused value must leave the options as they were. */
static void expect_kept(ef_status st, const ef_sampler_params *p, const struct ef_sampler_params *before) {
    if (st == EF_OK) return;
    if (st != EF_ERR_INVALID_ARG) abort();
    if (memcmp(p, before, sizeof *before) != 0) abort();
}

static void draw(const ef_sampler_params *p, int32_t n_vocab, const float *logits, const int32_t *history,
                 size_t n_history, int32_t *out, int n_out) {
    ef_sampler *s = NULL;
    if (ef_sampler_create(p, n_vocab, &s) != EF_OK) abort(); /* the options were validated */
    for (size_t i = 0; i < n_history; i++) ef_sampler_accept(s, history[i]);
    for (int i = 0; i < n_out; i++) {
        out[i] = -1;
        if (ef_sampler_sample(s, logits, &out[i]) != EF_OK) abort();
        if (out[i] < 0 || out[i] >= n_vocab) abort();
    }
    ef_sampler_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    ef_sampler_params *p = NULL;
    if (ef_sampler_params_create(&p) != EF_OK) return 0;
    struct ef_sampler_params before;

    before = *p;
    expect_kept(ef_sampler_params_set_temperature(p, next_f32(&r)), p, &before);
    before = *p;
    expect_kept(ef_sampler_params_set_top_k(p, (int32_t)next_u32(&r)), p, &before);
    before = *p;
    expect_kept(ef_sampler_params_set_top_p(p, next_f32(&r)), p, &before);
    before = *p;
    expect_kept(ef_sampler_params_set_min_p(p, next_f32(&r)), p, &before);
    before = *p;
    float penalty = next_f32(&r);
    /* last_n: negative (top bit), huge (top bits 01: the sampler then clamps
     * its 4 MiB history, slow to fuzz) or, mostly, a realistic window */
    uint32_t raw_last_n = next_u32(&r);
    int32_t last_n = (raw_last_n >> 30) == 1 || (raw_last_n >> 31) ? (int32_t)raw_last_n
                                                                    : (int32_t)(raw_last_n % 1024);
    expect_kept(ef_sampler_params_set_repeat_penalty(p, penalty, last_n), p, &before);
    uint64_t seed = next_u32(&r);
    if (ef_sampler_params_set_seed(p, seed << 32 | next_u32(&r)) != EF_OK) abort();
    if (ef_sampler_params_validate(p) != EF_OK) abort(); /* setters let no bad value through */

    int32_t n_vocab = 1 + (int32_t)(next_u32(&r) % 512);
    size_t n_history = next_u32(&r) % 32;
    int32_t history[32];
    for (size_t i = 0; i < n_history; i++) history[i] = (int32_t)next_u32(&r); /* any id, even invalid */
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    if (logits) {
        for (int32_t i = 0; i < n_vocab; i++) logits[i] = next_f32(&r);
        int32_t a[4], b[4];
        draw(p, n_vocab, logits, history, n_history, a, 4);
        draw(p, n_vocab, logits, history, n_history, b, 4);
        if (memcmp(a, b, sizeof a) != 0) abort(); /* same seed, same draws */
        free(logits);
    }
    ef_sampler_params_free(p);
    return 0;
}
