/* POSIX implementation of base/platform.h (Linux, Android, macOS); Windows
 * builds compile platform_win32.c instead and this file to nothing. */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L
#include "base/platform.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"

ef_status ef_file_map_open(const char *path, int use_mmap, ef_file_map *out) {
    memset(out, 0, sizeof *out);
    if (!path) return ef_err(EF_ERR_INVALID_ARG, "path is NULL");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ef_err(EF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ef_err(EF_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ef_err(EF_ERR_IO, "'%s' is not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size == 0) {
        close(fd);
        return ef_err(EF_ERR_FORMAT, "'%s' is empty", path);
    }
    if (size > (uint64_t)SIZE_MAX) {
        close(fd);
        return ef_err(EF_ERR_IO, "'%s' is too large for this address space", path);
    }
    if (use_mmap) {
        void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            close(fd);
            out->data = p;
            out->size = size;
            out->mapped = 1;
            return EF_OK;
        }
        /* fall back to reading */
    }
    uint8_t *buf = ef_alloc_aligned((size_t)size);
    if (!buf) {
        close(fd);
        return ef_err(EF_ERR_NO_MEMORY, "cannot allocate %llu bytes to read '%s'",
                      (unsigned long long)size, path);
    }
    uint64_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, (size_t)(size - got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            ef_free_aligned(buf);
            close(fd);
            return ef_err(EF_ERR_IO, "cannot read '%s': %s", path, r == 0 ? "unexpected end of file" : strerror(e));
        }
        got += (uint64_t)r;
    }
    close(fd);
    out->data = buf;
    out->size = size;
    out->mapped = 0;
    return EF_OK;
}

void ef_file_map_close(ef_file_map *m) {
    if (!m || !m->data) return;
    if (m->mapped)
        munmap((void *)m->data, (size_t)m->size);
    else
        ef_free_aligned((void *)m->data);
    memset(m, 0, sizeof *m);
}

ef_status ef_file_rename(const char *from, const char *to) {
    if (rename(from, to) != 0)
        return ef_err(EF_ERR_IO, "cannot rename '%s' to '%s': %s", from, to, strerror(errno));
    return EF_OK;
}

int ef_file_same(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void ef_file_remove(const char *path) { (void)unlink(path); }

int ef_file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0;
}

FILE *ef_fopen(const char *path, const char *mode) { return fopen(path, mode); }

int64_t ef_process_id(void) { return (int64_t)getpid(); }

double ef_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int32_t ef_num_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int32_t)n;
}

ef_status ef_dl_open(const char *path, ef_dl **out) {
    *out = NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return ef_err(EF_ERR_IO, "cannot load library '%s': %s", path, why ? why : "unknown reason");
    }
    *out = (ef_dl *)h;
    return EF_OK;
}

void *ef_dl_symbol(ef_dl *lib, const char *symbol) { return lib ? dlsym((void *)lib, symbol) : NULL; }

void ef_dl_close(ef_dl *lib) {
    if (lib) dlclose((void *)lib);
}

#endif /* !_WIN32 */
