/* Fails the N-th allocation, for every N, through the paths where KV
 * offload and snapshots meet, which the per-area sweeps (tests/kv,
 * tests/snapshot) take one at a time: a session whose pages live in the
 * lower tiers (1-byte hot and RAM budgets: zstd RAM, then spill files)
 * generates past its context with context shift on, is saved to a file,
 * and a fresh session restores that file (the path-taking restore) and
 * generates on. Each run must end in EF_OK or EF_ERR_NO_MEMORY, free every
 * block it allocated, leave no spill file behind, and leave no temporary
 * snapshot file (only the complete snapshot, once a save succeeded). */
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

#include "common/fail_alloc.h" /* g_countdown, g_failures, g_live, counting_malloc, counting_realloc, counting_free */

#define OUT_DIR EF_TEST_TMP "/rel_alloc_tiers"
#define SPILL_DIR OUT_DIR "/spill"
#define SNAP_DIR OUT_DIR "/snap"
#define SNAP_PATH SNAP_DIR "/session.efsnap"
#define N_CTX 48
#define N_GEN 56 /* past N_CTX: one context shift */

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

static ef_status open_session(ef_model *m, ef_session **out) {
    ef_kv_params *kp = NULL;
    ef_session_params *sp = NULL;
    ef_status st = ef_kv_params_create(&kp);
    if (st == EF_OK) st = ef_kv_params_set_page_size(kp, 16);
    if (st == EF_OK) st = ef_kv_params_set_tier_budget(kp, EF_KV_TIER_HOT, 1);
    if (st == EF_OK) st = ef_kv_params_set_tier_budget(kp, EF_KV_TIER_RAM, 1);
    if (st == EF_OK) st = ef_kv_params_set_tier_budget(kp, EF_KV_TIER_ZSTD, 1);
    if (st == EF_OK) st = ef_kv_params_set_spill_dir(kp, SPILL_DIR);
    if (st == EF_OK) st = ef_session_params_create(&sp);
    if (st == EF_OK) st = ef_session_params_set_n_ctx(sp, N_CTX);
    if (st == EF_OK) st = ef_session_params_set_threads(sp, 1);
    if (st == EF_OK) st = ef_session_params_set_kv_params(sp, kp);
    if (st == EF_OK) st = ef_session_params_set_context_shift(sp, 1, -1);
    if (st == EF_OK) st = ef_session_create(m, sp, out);
    ef_session_params_free(sp);
    ef_kv_params_free(kp);
    return st;
}

static ef_status tiers_snapshot_scenario(void) {
    ef_model *m = NULL;
    ef_session *a = NULL, *b = NULL;
    ef_status st = ef_model_load(REL_MODEL, NULL, &m);
    if (st == EF_OK) st = open_session(m, &a);
    if (st == EF_OK) st = ef_session_generate(a, "Once upon a time", 16, N_GEN, NULL, NULL);
    if (st == EF_OK) st = ef_session_save(a, EF_SEQ_ALL, SNAP_PATH);
    if (st == EF_OK) st = open_session(m, &b);
    if (st == EF_OK) st = ef_session_restore(b, EF_SEQ_ALL, SNAP_PATH);
    if (st == EF_OK) st = ef_session_generate(b, " and then", 9, 4, NULL, NULL);
    ef_session_free(b);
    ef_session_free(a);
    ef_model_free(m);
    return st;
}

static void test_tiers_snapshot_alloc_failures(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s'", SPILL_DIR, SNAP_DIR);
    assert_int_equal(system(cmd), 0);
    long n;
    for (n = 0;; n++) {
        unlink(SNAP_PATH);
        fail_alloc_arm(n);
        assert_int_equal(ef_set_allocator(counting_malloc, counting_realloc, counting_free, NULL), EF_OK);
        ef_status st = tiers_snapshot_scenario();
        assert_int_equal(ef_set_allocator(NULL, NULL, NULL, NULL), EF_OK);
        if (g_live != 0 || g_live_bytes != 0)
            fail_msg("allocation %ld: %ld blocks (%ld bytes) leaked", n, (long)g_live, (long)g_live_bytes);
        if (files_in(SPILL_DIR) != 0) fail_msg("allocation %ld: spill files left in %s", n, SPILL_DIR);
        if (files_in(SNAP_DIR) != (access(SNAP_PATH, F_OK) == 0 ? 1 : 0))
            fail_msg("allocation %ld: a temporary snapshot file was left in %s", n, SNAP_DIR);
        if (g_failures == 0) {
            if (st != EF_OK) fail_msg("no failure injected, yet %s: %s", ef_status_str(st), ef_last_error());
            break;
        }
        if (st != EF_ERR_NO_MEMORY)
            fail_msg("allocation %ld: got %s (%s), want EF_ERR_NO_MEMORY", n, ef_status_str(st), ef_last_error());
    }
    print_message("tiered KV + context shift + snapshot file save/restore: %ld allocation points failed cleanly\n", n);
    assert_true(n > 50);
    unlink(SNAP_PATH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiers_snapshot_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
