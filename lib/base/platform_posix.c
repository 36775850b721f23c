/* POSIX implementation of base/platform.h (Linux, Android, macOS); Windows
 * builds compile platform_win32.c instead and this file to nothing. */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr (glibc, bionic and macOS have it) */
#endif
#include "base/platform.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

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

uint64_t ef_host_memory(void) {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
#else
    return 0;
#endif
}

int ef_cpu_arm_dotprod(void) {
#if defined(__aarch64__) && defined(__linux__)
    /* HWCAP_ASIMDDP is bit 20 of AT_HWCAP on arm64 Linux. */
    return (getauxval(AT_HWCAP) >> 20) & 1;
#else
    return 0;
#endif
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

ef_status ef_dl_self_dir(char *buf, size_t cap) {
    Dl_info info;
    /* any function of this library: dladdr names the module that holds it */
    if (!dladdr((void *)(uintptr_t)&ef_dl_self_dir, &info) || !info.dli_fname || !info.dli_fname[0])
        return ef_err(EF_ERR_NOT_FOUND, "cannot tell which file holds libedgeformer");
    const char *slash = strrchr(info.dli_fname, '/');
    size_t n = slash ? (size_t)(slash - info.dli_fname) : 1;
    const char *src = slash ? info.dli_fname : ".";
    if (slash && n == 0) n = 1; /* the root folder */
    if (n + 1 > cap) return ef_err(EF_ERR_BUFFER_TOO_SMALL, "library folder name is longer than %llu bytes", (unsigned long long)cap);
    memcpy(buf, src, n);
    buf[n] = '\0';
    return EF_OK;
}

ef_status ef_dir_each(const char *dir, void (*fn)(void *user, const char *name), void *user) {
    DIR *d = opendir(dir);
    if (!d) return ef_err(EF_ERR_IO, "cannot open folder '%s': %s", dir, strerror(errno));
    for (struct dirent *ent; (ent = readdir(d)) != NULL;) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
        fn(user, ent->d_name);
    }
    closedir(d);
    return EF_OK;
}

struct ef_mutex {
    pthread_mutex_t m;
};

ef_status ef_mutex_create(ef_mutex **out) {
    *out = NULL;
    ef_mutex *m = ef_calloc(1, sizeof *m);
    if (!m) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating a mutex");
    if (pthread_mutex_init(&m->m, NULL) != 0) {
        ef_free(m);
        return ef_err(EF_ERR_NO_MEMORY, "cannot initialise a mutex");
    }
    *out = m;
    return EF_OK;
}

void ef_mutex_lock(ef_mutex *m) { pthread_mutex_lock(&m->m); }
void ef_mutex_unlock(ef_mutex *m) { pthread_mutex_unlock(&m->m); }

void ef_mutex_free(ef_mutex *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->m);
    ef_free(m);
}

#endif /* !_WIN32 */
