/* Fails the N-th allocation, for every N, through trainer creation, a step,
 * evaluation, save, load and export: each run ends in EF_OK or a clean
 * EF_ERR_NO_MEMORY, leaks nothing (LeakSanitizer in the ASan build) and
 * never crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "train_test_util.h"

#include "common/fail_alloc.h" /* g_countdown, g_failures, failing_malloc, failing_realloc, plain_free */

/* extra: trainer settings (NULL: GQA; MLA adds its own scratch). */
static ef_status scenario(const char *extra) {
    ef_trainer *t = NULL;
    float loss;
    ef_status st = make_test_trainer_ex(16, 1, 2, 1, 32, 8, 2, 1, 4, 2, 4, extra, &t);
    if (st == EF_OK) st = ef_trainer_step(t, &loss);
    if (st == EF_OK) st = ef_trainer_evaluate(t, &loss);
    if (st == EF_OK) st = ef_trainer_save(t, EF_TEST_TMP "/train_alloc.ckpt");
    if (st == EF_OK) st = ef_trainer_load(t, EF_TEST_TMP "/train_alloc.ckpt");
    if (st == EF_OK) st = ef_trainer_export(t, EF_TEST_TMP "/train_alloc.gguf");
    ef_trainer_free(t);
    return st;
}

static void check_every_allocation_fails_cleanly(const char *extra) {
    assert_int_equal(ef_set_allocator(failing_malloc, failing_realloc, plain_free, NULL), EF_OK);
    long n;
    for (n = 0;; n++) {
        g_countdown = n;
        g_failures = 0;
        ef_status st = scenario(extra);
        if (g_failures == 0) {
            assert_int_equal(st, EF_OK);
            break;
        }
        if (st != EF_ERR_NO_MEMORY) fprintf(stderr, "allocation %ld: %s\n", n, ef_last_error());
        assert_int_equal(st, EF_ERR_NO_MEMORY);
    }
    print_message("%ld allocation sites failed cleanly\n", n);
    assert_true(n > 10);
    ef_set_allocator(NULL, NULL, NULL, NULL);
}
static void test_every_allocation_fails_cleanly(void **state) {
    (void)state;
    check_every_allocation_fails_cleanly(NULL);
    check_every_allocation_fails_cleanly("attention=mla_window,window=3,q_lora=6,kv_lora=8");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_allocation_fails_cleanly)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
