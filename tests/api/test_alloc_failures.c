/* Fails the N-th allocation, for every N, through model load, session
 * creation, eval and generation: each run must end in EF_OK or a clean
 * EF_ERR_NO_MEMORY, leave nothing leaked (LeakSanitizer in the ASan build)
 * and never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeformer/edgeformer.h"

#include "common/fail_alloc.h" /* g_countdown, g_failures, failing_malloc, failing_realloc, plain_free */

/* One full use of the library; returns the first failing status. */
static ef_status scenario(void) {
    ef_model *m = NULL;
    ef_session *s = NULL;
    ef_status st = ef_model_load(API_MODEL, NULL, &m);
    if (st == EF_OK) st = ef_session_create(m, NULL, &s);
    if (st == EF_OK) {
        int32_t t[3] = {1, 2, 3};
        st = ef_session_eval(s, t, 3, EF_EVAL_ALL_LOGITS);
    }
    if (st == EF_OK) st = ef_session_generate(s, "Hello there", 11, 3, NULL, NULL);
    if (st == EF_OK) {
        size_t n = 0;
        int32_t ids[64];
        st = ef_tokenize(m, "more text", 9, EF_TOKENIZE_ADD_SPECIAL, ids, 64, &n);
    }
    ef_session_free(s);
    ef_model_free(m);
    return st;
}

static void test_every_allocation_fails_cleanly(void **state) {
    (void)state;
    long n;
    long points = 0;
    for (n = 0;; n++) {
        g_countdown = n;
        g_failures = 0;
        assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL), EF_OK);
        ef_status st = scenario();
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK); /* no injected failure: must succeed */
            break;
        }
        points++;
        if (st != EF_ERR_NO_MEMORY)
            fprintf(stderr, "allocation %ld: status %s: %s\n", n, ef_status_str(st), ef_last_error());
        assert_int_equal(st, EF_ERR_NO_MEMORY);
        assert_true(strlen(ef_last_error()) > 0);
        assert_true(n < 200000); /* the scenario allocates a bounded amount */
    }
    fprintf(stderr, "injected %ld allocation failures\n", points);
    assert_true(points > 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
