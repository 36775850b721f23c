/* Fails the N-th allocation, for every N, through the two quantization
 * paths: ef_quantize_file (file to file, "balanced" = Q8_0) and a model
 * load that quantizes in memory (ef_model_params_set_quant_profile), then a
 * short generation on that model. Each run must end in EF_OK or
 * EF_ERR_NO_MEMORY, free every block it allocated, and leave no output file
 * (nor its temporary) behind when it failed. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edgeformer/edgeformer.h"

#define OUT_DIR EF_TEST_TMP "/rel_alloc_quant"
#define OUT_PATH OUT_DIR "/q8.gguf"

/* atomic counters: worker threads allocate and free through these too */
#include "common/fail_alloc.h" /* g_countdown, g_failures, g_live, counting_malloc, counting_realloc, counting_free */

static int files_in(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static ef_status quantize_to_file(void) {
    ef_quant_profile *p = NULL;
    ef_status st = ef_quant_profile_create("balanced", &p);
    if (st == EF_OK) st = ef_quantize_file(REL_MODEL, OUT_PATH, p, NULL, NULL, NULL, NULL);
    ef_quant_profile_free(p);
    return st;
}

static ef_status load_quantized_and_generate(void) {
    ef_quant_profile *q = NULL;
    ef_model_params *mp = NULL;
    ef_model *m = NULL;
    ef_session *s = NULL;
    ef_status st = ef_quant_profile_create("balanced", &q);
    if (st == EF_OK) st = ef_model_params_create(&mp);
    if (st == EF_OK) st = ef_model_params_set_quant_profile(mp, q);
    if (st == EF_OK) st = ef_model_load(REL_MODEL, mp, &m);
    if (st == EF_OK) st = ef_session_create(m, NULL, &s);
    if (st == EF_OK) st = ef_session_generate(s, "Hi", 2, 2, NULL, NULL);
    ef_session_free(s);
    ef_model_free(m);
    ef_model_params_free(mp);
    ef_quant_profile_free(q);
    return st;
}

/* Runs `scenario` failing allocation 0, 1, 2... until one run needs no
 * failure; returns how many allocation points were injected. */
static long every_failure(ef_status (*scenario)(void), int check_dir) {
    long n;
    for (n = 0;; n++) {
        unlink(OUT_PATH);
        g_countdown = n;
        g_failures = 0;
        g_live = 0;
        assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
        ef_status st = scenario();
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (g_live != 0) fail_msg("allocation %ld: %ld blocks (%ld bytes) leaked", n, (long)g_live, (long)g_live_bytes);
        if (g_failures == 0) {
            if (st != EF_OK) fail_msg("no failure injected, yet %s: %s", ef_status_str(st), ef_last_error());
            break;
        }
        if (st != EF_ERR_NO_MEMORY)
            fail_msg("allocation %ld: got %s (%s), want EF_ERR_NO_MEMORY", n, ef_status_str(st), ef_last_error());
        if (check_dir && files_in(OUT_DIR) != 0) fail_msg("allocation %ld: a file was left in %s", n, OUT_DIR);
    }
    return n;
}

static void test_quantize_file_alloc_failures(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", OUT_DIR);
    assert_int_equal(system(cmd), 0);
    long points = every_failure(quantize_to_file, 1);
    print_message("ef_quantize_file: %ld allocation points failed cleanly\n", points);
    assert_true(points > 5);
    assert_int_equal(files_in(OUT_DIR), 1); /* the successful run's output only */
    unlink(OUT_PATH);
}

static void test_quantize_on_load_alloc_failures(void **state) {
    (void)state;
    long points = every_failure(load_quantized_and_generate, 0);
    print_message("load with a quant profile + generate: %ld allocation points failed cleanly\n", points);
    assert_true(points > 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_file_alloc_failures),
        cmocka_unit_test(test_quantize_on_load_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
