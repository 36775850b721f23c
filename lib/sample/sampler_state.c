/* The sampler's state as bytes, for session snapshots. Little-endian:
 *   temperature f32, top_k i32, top_p f32, min_p f32, repeat_penalty f32,
 *   repeat_last_n i32, seed u64, n_vocab i32, rng u64[4],
 *   history_len u32, history i32[history_len] (oldest first)
 * Decoding rebuilds the sampler through ef_sampler_create (so the params
 * pass the same range checks as the setters) and replays the history. */
#include <string.h>

#include "sample/sampler.h"

#define STATE_FIXED_BYTES 72u /* everything before the history */

static uint8_t *put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}
static uint8_t *put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}
static uint32_t get32(const uint8_t **p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)(*p)[i] << (8 * i);
    *p += 4;
    return v;
}
static uint64_t get64(const uint8_t **p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)(*p)[i] << (8 * i);
    *p += 8;
    return v;
}
static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

size_t ef_sampler_state_encode(const ef_sampler *s, void *dst, size_t cap) {
    ef_sampler_view v;
    ef_sampler_get_view(s, &v);
    size_t need = STATE_FIXED_BYTES + 4u * (size_t)v.history_len;
    if (!dst || cap < need) return need;
    uint8_t *p = dst;
    p = put32(p, f32_bits(v.params.temperature));
    p = put32(p, (uint32_t)v.params.top_k);
    p = put32(p, f32_bits(v.params.top_p));
    p = put32(p, f32_bits(v.params.min_p));
    p = put32(p, f32_bits(v.params.repeat_penalty));
    p = put32(p, (uint32_t)v.params.repeat_last_n);
    p = put64(p, v.params.seed);
    p = put32(p, (uint32_t)v.n_vocab);
    for (int i = 0; i < 4; i++) p = put64(p, v.rng[i]);
    p = put32(p, (uint32_t)v.history_len);
    for (int32_t i = 0; i < v.history_len; i++)
        p = put32(p, (uint32_t)v.history[(v.history_head + i) % v.history_cap]);
    return need;
}

ef_status ef_sampler_state_decode(const void *src, size_t n, int32_t n_vocab, ef_sampler **out) {
    if ((!src && n) || !out) return ef_err(EF_ERR_INVALID_ARG, "ef_sampler_state_decode: NULL argument");
    if (n < STATE_FIXED_BYTES)
        return ef_err(EF_ERR_FORMAT, "sampler state: %zu bytes, at least %u expected", n, STATE_FIXED_BYTES);
    const uint8_t *p = src;
    struct ef_sampler_params params;
    params.temperature = bits_f32(get32(&p));
    params.top_k = (int32_t)get32(&p);
    params.top_p = bits_f32(get32(&p));
    params.min_p = bits_f32(get32(&p));
    params.repeat_penalty = bits_f32(get32(&p));
    params.repeat_last_n = (int32_t)get32(&p);
    params.seed = get64(&p);
    int32_t saved_vocab = (int32_t)get32(&p);
    uint64_t rng[4];
    for (int i = 0; i < 4; i++) rng[i] = get64(&p);
    uint32_t history_len = get32(&p);
    if (saved_vocab != n_vocab)
        return ef_err(EF_ERR_MISMATCH, "sampler state is for %d tokens, this model has %d", (int)saved_vocab,
                      (int)n_vocab);
    if (history_len > (n - STATE_FIXED_BYTES) / 4 || n - STATE_FIXED_BYTES != 4u * (size_t)history_len)
        return ef_err(EF_ERR_FORMAT, "sampler state: %zu bytes do not hold %u history tokens", n, history_len);
    if ((rng[0] | rng[1] | rng[2] | rng[3]) == 0)
        return ef_err(EF_ERR_FORMAT, "sampler state: the random generator's state is all zero");
    const uint8_t *hist = p;
    for (uint32_t i = 0; i < history_len; i++) {
        int32_t t = (int32_t)get32(&p);
        if (t < 0 || t >= n_vocab)
            return ef_err(EF_ERR_FORMAT, "sampler state: history token %u has id %d, outside 0..%d", i, (int)t,
                          (int)n_vocab - 1);
    }
    ef_sampler *s = NULL;
    EF_TRY(ef_sampler_create(&params, n_vocab, &s));
    ef_sampler_view v;
    ef_sampler_get_view(s, &v);
    if (history_len > (uint32_t)v.history_cap) {
        ef_sampler_free(s);
        return ef_err(EF_ERR_FORMAT, "sampler state: %u history tokens, the window holds %d", history_len,
                      (int)v.history_cap);
    }
    p = hist;
    for (uint32_t i = 0; i < history_len; i++) ef_sampler_accept(s, (int32_t)get32(&p));
    ef_sampler_set_rng(s, rng);
    *out = s;
    return EF_OK;
}
