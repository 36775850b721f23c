/* Everything that differs between operating systems lives behind this header:
 * file mapping, clocks, core counts, renames. platform_posix.c implements it for
 * Linux/Android/macOS, platform_win32.c for Windows (UTF-8 paths, converted to
 * UTF-16 for the wide Win32 calls). tests/platform checks that no POSIX-only call
 * appears elsewhere in lib/ and backends/ (docs/platforms.md lists the exceptions). */
#ifndef EF_BASE_PLATFORM_H
#define EF_BASE_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

/* A whole file, either mapped read-only or read into an allocated buffer. */
typedef struct ef_file_map {
    const uint8_t *data;
    uint64_t size;
    int mapped; /* 1: unmap on close; 0: ef_free_aligned */
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
/* 1 if `path` names an existing file or directory, 0 otherwise. */
int ef_file_exists(const char *path);
/* fopen() with a UTF-8 path on every OS (Windows' fopen takes the ANSI code
 * page); `mode` as for fopen, always with "b" for binary files. */
FILE *ef_fopen(const char *path, const char *mode);

/* This process's id (unique temporary file names). */
int64_t ef_process_id(void);

/* Monotonic seconds. */
double ef_time_now(void);
/* Online CPU cores (≥ 1). */
int32_t ef_num_cores(void);
/* Physical memory of the machine in bytes; 0 if unknown. */
uint64_t ef_host_memory(void);
/* 1 when an aarch64 processor has the Armv8.2 dot-product instructions
 * (SDOT/UDOT), as the OS reports them; 0 on other processors. */
int ef_cpu_arm_dotprod(void);

/* One-time initialisation without pthread_once (portable C11 atomics):
 *   static ef_once_flag once = EF_ONCE_INIT;  ef_call_once(&once, init);
 * init runs exactly once; concurrent callers wait until it has finished. */
typedef struct ef_once_flag {
    _Atomic int state; /* 0: not run, 1: running, 2: done */
} ef_once_flag;
#define EF_ONCE_INIT {0}
void ef_call_once(ef_once_flag *flag, void (*init)(void));

/* Shared libraries (backend plugins): dlopen/LoadLibraryW. `path` is UTF-8.
 * ef_dl_open fails with EF_ERR_IO naming the library and the OS reason. */
typedef struct ef_dl ef_dl;
ef_status ef_dl_open(const char *path, ef_dl **out);
/* The address of exported `symbol`, or NULL when absent. */
void *ef_dl_symbol(ef_dl *lib, const char *symbol);
void ef_dl_close(ef_dl *lib);
/* The folder of the module (shared library, or executable for static
 * builds) that holds libedgeformer's code, UTF-8, without a trailing
 * separator: where plugins next to the library are looked for.
 * Errors: EF_ERR_NOT_FOUND (the OS cannot tell), EF_ERR_BUFFER_TOO_SMALL. */
ef_status ef_dl_self_dir(char *buf, size_t cap);
/* Separator of folder lists in environment variables (EF_BACKEND_PATH). */
#ifdef _WIN32
#define EF_PATH_LIST_SEP ';'
#define EF_DIR_SEP "\\"
#else
#define EF_PATH_LIST_SEP ':'
#define EF_DIR_SEP "/"
#endif

/* Calls fn(user, name) for each entry of folder `dir` (UTF-8 names, "." and
 * ".." left out, in no particular order). Errors: EF_ERR_IO (cannot open). */
ef_status ef_dir_each(const char *dir, void (*fn)(void *user, const char *name), void *user);

/* A plain mutex (pthread / SRWLOCK), for state shared between sessions. */
typedef struct ef_mutex ef_mutex;
ef_status ef_mutex_create(ef_mutex **out);
void ef_mutex_lock(ef_mutex *m);
void ef_mutex_unlock(ef_mutex *m);
void ef_mutex_free(ef_mutex *m);

/* 1 on a little-endian host. GGUF files are little-endian and tensor data is
 * used in place (mmapped), so model loading refuses big-endian hosts with
 * EF_ERR_UNSUPPORTED; header fields are read byte-wise (gguf_rd_* helpers in
 * format/gguf_internal.h) and need no alignment. */
static inline int ef_host_is_little_endian(void) {
    const uint16_t probe = 1;
    return *(const uint8_t *)&probe == 1;
}

#endif
