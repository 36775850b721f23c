/* The sampler's state as bytes (lib/sample/sampler_state.c): a decoded
 * sampler draws exactly what the original draws next; malformed states
 * are refused with the documented statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sampler.h"

#define N_VOCAB 50

static void fill_logits(float *l, uint32_t seed) {
    uint32_t x = seed * 747796405u + 1u;
    for (int i = 0; i < N_VOCAB; i++) {
        x = x * 1664525u + 1013904223u;
        l[i] = (float)(x >> 8) / (float)(1u << 24) * 4.0f;
    }
}

static ef_sampler *busy_sampler(void) {
    struct ef_sampler_params p;
    ef_sampler_params_defaults(&p);
    p.temperature = 1.1f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 6;
    p.seed = 1234567;
    ef_sampler *s = NULL;
    assert_int_equal(ef_sampler_create(&p, N_VOCAB, &s), EF_OK);
    float l[N_VOCAB];
    for (int i = 0; i < 9; i++) { /* the history ring wraps */
        fill_logits(l, (uint32_t)i);
        int32_t t;
        assert_int_equal(ef_sampler_sample(s, l, &t), EF_OK);
    }
    return s;
}

static uint8_t *encode(const ef_sampler *s, size_t *n) {
    *n = ef_sampler_state_encode(s, NULL, 0);
    uint8_t *b = malloc(*n);
    assert_int_equal(ef_sampler_state_encode(s, b, *n), *n);
    return b;
}

static void test_decoded_sampler_continues_identically(void **state) {
    (void)state;
    ef_sampler *a = busy_sampler();
    size_t n;
    uint8_t *bytes = encode(a, &n);
    assert_int_equal(n, 72 + 4 * 6);
    ef_sampler *b = NULL;
    assert_int_equal(ef_sampler_state_decode(bytes, n, N_VOCAB, &b), EF_OK);
    /* same state → same bytes, and the same draws from here on */
    size_t n2;
    uint8_t *again = encode(b, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(again, bytes, n);
    float l[N_VOCAB];
    int differs_from_fresh = 0;
    struct ef_sampler_params p;
    ef_sampler_view v;
    ef_sampler_get_view(a, &v);
    p = v.params;
    ef_sampler *fresh = NULL;
    assert_int_equal(ef_sampler_create(&p, N_VOCAB, &fresh), EF_OK);
    for (int i = 0; i < 40; i++) {
        fill_logits(l, 100u + (uint32_t)i);
        int32_t ta, tb, tf;
        assert_int_equal(ef_sampler_sample(a, l, &ta), EF_OK);
        assert_int_equal(ef_sampler_sample(b, l, &tb), EF_OK);
        assert_int_equal(ef_sampler_sample(fresh, l, &tf), EF_OK);
        assert_int_equal(ta, tb);
        differs_from_fresh |= ta != tf;
    }
    assert_true(differs_from_fresh); /* the RNG and history really were carried */
    ef_sampler_free(fresh);
    ef_sampler_free(a);
    ef_sampler_free(b);
    free(bytes);
    free(again);
}

static void test_bad_states_refused(void **state) {
    (void)state;
    ef_sampler *a = busy_sampler();
    size_t n;
    uint8_t *bytes = encode(a, &n);
    ef_sampler *b = NULL;
    assert_int_equal(ef_sampler_state_decode(bytes, n, N_VOCAB + 1, &b), EF_ERR_MISMATCH);
    for (size_t len = 0; len < n; len++) assert_int_equal(ef_sampler_state_decode(bytes, len, N_VOCAB, &b), EF_ERR_FORMAT);
    uint8_t *bad = malloc(n + 4);
    memcpy(bad, bytes, n);
    memset(bad + n, 0, 4);
    assert_int_equal(ef_sampler_state_decode(bad, n + 4, N_VOCAB, &b), EF_ERR_FORMAT);
    /* a history token out of range */
    memcpy(bad, bytes, n);
    bad[72] = N_VOCAB;
    bad[73] = bad[74] = bad[75] = 0;
    assert_int_equal(ef_sampler_state_decode(bad, n, N_VOCAB, &b), EF_ERR_FORMAT);
    /* an all-zero generator */
    memcpy(bad, bytes, n);
    memset(bad + 36, 0, 32);
    assert_int_equal(ef_sampler_state_decode(bad, n, N_VOCAB, &b), EF_ERR_FORMAT);
    /* a temperature the setters refuse (NaN bits) */
    memcpy(bad, bytes, n);
    bad[0] = bad[1] = 0xFF;
    bad[2] = 0xC0;
    bad[3] = 0x7F;
    assert_int_equal(ef_sampler_state_decode(bad, n, N_VOCAB, &b), EF_ERR_INVALID_ARG);
    /* a history longer than the window (repeat_last_n lowered to 2) */
    memcpy(bad, bytes, n);
    bad[20] = 2;
    assert_int_equal(ef_sampler_state_decode(bad, n, N_VOCAB, &b), EF_ERR_FORMAT);
    assert_null(b);
    free(bad);
    free(bytes);
    ef_sampler_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoded_sampler_continues_identically),
        cmocka_unit_test(test_bad_states_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
