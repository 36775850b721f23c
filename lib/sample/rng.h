/* The sampler's random numbers: xoshiro256** seeded through splitmix64, so
 * any 64-bit seed (0 included) gives a well-mixed, reproducible stream. */
#ifndef EF_SAMPLE_RNG_H
#define EF_SAMPLE_RNG_H

#include <stdint.h>

typedef struct ef_rng {
    uint64_t s[4];
} ef_rng;

static inline uint64_t ef_rng_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void ef_rng_seed(ef_rng *r, uint64_t seed) {
    /* splitmix64 never yields four zero words, the one state xoshiro must avoid. */
    for (int i = 0; i < 4; i++) r->s[i] = ef_rng_splitmix64(&seed);
}

static inline uint64_t ef_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t ef_rng_next(ef_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = ef_rng_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ef_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1): the top 53 bits fill a double's mantissa exactly. */
static inline double ef_rng_uniform(ef_rng *r) {
    return (double)(ef_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
