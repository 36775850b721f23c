/* Everything that differs between operating systems lives behind this header
 * (and platform_posix.c): file mapping, clocks, core counts, renames. */
#ifndef EF_BASE_PLATFORM_H
#define EF_BASE_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* A whole file, either mapped read-only or read into an allocated buffer. */
typedef struct ef_file_map {
    const uint8_t *data;
    uint64_t size;
    int mapped; /* 1: munmap on close; 0: ef_free */
} ef_file_map;

/* Opens `path` (must be a regular file) and maps or reads all of it.
 * Errors: EF_ERR_IO (with the OS reason), EF_ERR_NO_MEMORY. */
ef_status ef_file_map_open(const char *path, int use_mmap, ef_file_map *out);
void ef_file_map_close(ef_file_map *m);

/* Atomically replaces `to` with `from` (same directory). */
ef_status ef_file_rename(const char *from, const char *to);
/* 1 if both paths exist and name the same file (same device and inode). */
int ef_file_same(const char *a, const char *b);
/* Removes a file; errors are ignored (used for clean-up). */
void ef_file_remove(const char *path);

/* This process's id (unique temporary file names). */
int64_t ef_process_id(void);

/* Monotonic seconds. */
double ef_time_now(void);
/* Online CPU cores (≥ 1). */
int32_t ef_num_cores(void);

#endif
