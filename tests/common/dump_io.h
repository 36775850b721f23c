/* Raw-file helpers shared by the logit-dumping test tools (tests/model/dump_logits.c,
 * tests/mla/mla_dump.c): their Python sides exchange int32 token ids and float32
 * logits as plain little-endian arrays. */
#ifndef EF_TESTS_DUMP_IO_H
#define EF_TESTS_DUMP_IO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A file of int32 token ids (malloc'd; *n ids); NULL when unreadable or empty. */
static inline int32_t *dump_read_ids(const char *path, int32_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    int32_t *ids = size > 0 ? malloc((size_t)size) : NULL;
    if (ids && fread(ids, 1, (size_t)size, f) != (size_t)size) {
        free(ids);
        ids = NULL;
    }
    fclose(f);
    *n = (int32_t)(size / 4);
    return ids;
}

/* Writes bytes to path; 1 on success. */
static inline int dump_write_file(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, bytes, f) == bytes;
    return fclose(f) == 0 && ok;
}

/* Greedy choice: the first index of the largest logit. */
static inline int32_t dump_argmax(const float *row, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (row[i] > row[best]) best = i;
    return best;
}

#endif
