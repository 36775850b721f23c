/* Shared by the trainer tests: a tiny trainer on a short repeated text. */
#ifndef EF_TEST_TRAIN_UTIL_H
#define EF_TEST_TRAIN_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

static const char k_test_text[] =
    "The quick brown fox jumps over the lazy dog. A small model learns to repeat what it reads. ";

/* Applies "key=value,key=value" settings: "attention" as text, the rest
 * as integers. */
static inline ef_status apply_test_settings(ef_train_params *p, const char *extra) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", extra ? extra : "");
    for (char *item = strtok(buf, ","); item; item = strtok(NULL, ",")) {
        char *eq = strchr(item, '=');
        if (!eq) return ef_err(EF_ERR_INVALID_ARG, "test setting '%s' has no '='", item);
        *eq = '\0';
        ef_status st = strcmp(item, "attention") == 0 || strcmp(item, "precision") == 0
                           ? ef_train_params_set_str(p, item, eq + 1)
                           : ef_train_params_set_int(p, item, strtoll(eq + 1, NULL, 10));
        if (st != EF_OK) return st;
    }
    return EF_OK;
}

/* A trainer of the given shape on the test text repeated `reps` times, with
 * extra settings (see apply_test_settings; NULL: none). */
static inline ef_status make_test_trainer_ex(int dim, int layers, int heads, int kv, int ff,
                                             int seq, int batch, int tied, int steps, int threads,
                                             int reps, const char *extra, ef_trainer **out);
static inline ef_status make_test_trainer(int dim, int layers, int heads, int kv, int ff, int seq,
                                          int batch, int tied, int steps, int threads, int reps,
                                          ef_trainer **out) {
    return make_test_trainer_ex(dim, layers, heads, kv, ff, seq, batch, tied, steps, threads, reps,
                                NULL, out);
}
static inline ef_status make_test_trainer_ex(int dim, int layers, int heads, int kv, int ff,
                                             int seq, int batch, int tied, int steps, int threads,
                                             int reps, const char *extra, ef_trainer **out) {
    static char text[1 << 16];
    text[0] = '\0';
    for (int i = 0; i < reps && strlen(text) + sizeof k_test_text < sizeof text; i++)
        strcat(text, k_test_text);
    ef_train_params *p;
    ef_status st = ef_train_params_create(&p);
    if (st != EF_OK) return st;
    const struct { const char *k; int64_t v; } ints[] = {
        {"dim", dim}, {"layers", layers}, {"heads", heads}, {"kv_heads", kv}, {"ff", ff},
        {"seq", seq}, {"batch", batch}, {"tied", tied}, {"steps", steps}, {"warmup", 2},
        {"threads", threads}, {"seed", 7}, {"eval_batches", 2}};
    for (size_t i = 0; st == EF_OK && i < sizeof ints / sizeof ints[0]; i++)
        st = ef_train_params_set_int(p, ints[i].k, ints[i].v);
    if (st == EF_OK) st = ef_train_params_set_str(p, "text", text);
    if (st == EF_OK) st = ef_train_params_set_str(p, "vocab", "synthetic:300");
    if (st == EF_OK) st = ef_train_params_set_float(p, "lr", 1e-2);
    if (st == EF_OK) st = apply_test_settings(p, extra);
    if (st == EF_OK) st = ef_trainer_create(p, out);
    ef_train_params_free(p);
    if (st != EF_OK && st != EF_ERR_NO_MEMORY) fprintf(stderr, "make_test_trainer: %s\n", ef_last_error());
    return st;
}

#endif
