/* Scratch files for fuzz targets whose parsers take paths, not buffers
 * (safetensors, config.json, tokenizer.json): one private directory per
 * process, created on first use and removed at exit. Header-only so each
 * target stays one .c file beside replay_main.c. */
#ifndef EF_TESTS_FUZZ_TMPDIR_H
#define EF_TESTS_FUZZ_TMPDIR_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_fuzz_dir[64];

static inline void fuzz_tmpdir_remove(void) {
    DIR *d = opendir(g_fuzz_dir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", g_fuzz_dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(g_fuzz_dir);
}

/* The directory (created once); aborts when it cannot be made, since no
 * input could be tested then. */
static inline const char *fuzz_tmpdir(void) {
    if (g_fuzz_dir[0]) return g_fuzz_dir;
    const char *base = getenv("TMPDIR");
    snprintf(g_fuzz_dir, sizeof g_fuzz_dir, "%s/effuzz-XXXXXX", base && strlen(base) < 40 ? base : "/tmp");
    if (!mkdtemp(g_fuzz_dir)) abort();
    atexit(fuzz_tmpdir_remove);
    return g_fuzz_dir;
}

/* Writes data[0..size) to <dir>/name, replacing it; aborts on I/O failure. */
static inline void fuzz_write_file(const char *name, const void *data, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
}

static inline void fuzz_remove_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_tmpdir(), name);
    unlink(path);
}

#endif
