/* Windows implementation of base/platform.h. Paths arrive as UTF-8 and are
 * converted to UTF-16 for the wide (…W) calls, so non-ASCII names work whatever
 * the ANSI code page. Other OSes compile platform_posix.c and this file to nothing. */
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "base/alloc.h"
#include "base/platform.h"

/* UTF-8 → UTF-16, allocated with ef_malloc; NULL if invalid UTF-8 or out of memory. */
static wchar_t *utf8_to_wide(const char *s) {
    if (!s) return NULL;
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0) return NULL;
    wchar_t *w = ef_malloc((size_t)n * sizeof *w); /* [n] including the terminator */
    if (!w) return NULL;
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        ef_free(w);
        return NULL;
    }
    return w;
}

/* The OS's text for GetLastError() code `code`, without the trailing newline. */
static const char *win_reason(DWORD code, char *buf, DWORD cap) {
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0,
                             buf, cap, NULL);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == '.')) buf[--n] = '\0';
    if (n == 0) snprintf(buf, cap, "Windows error %lu", (unsigned long)code);
    return buf;
}

/* Why utf8_to_wide failed: a bad name, or no memory. */
static ef_status wide_path_error(const char *path) {
    if (path && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0) > 0)
        return ef_err(EF_ERR_NO_MEMORY, "out of memory converting path '%s'", path);
    return ef_err(EF_ERR_INVALID_ARG, "path '%s' is not valid UTF-8", path ? path : "(null)");
}

/* Reads all `size` bytes of `h` into an aligned buffer (the no-mapping path). */
static ef_status read_whole(HANDLE h, const char *path, uint64_t size, ef_file_map *out) {
    uint8_t *buf = ef_alloc_aligned((size_t)size); /* [size] */
    if (!buf)
        return ef_err(EF_ERR_NO_MEMORY, "cannot allocate %llu bytes to read '%s'", (unsigned long long)size,
                      path);
    uint64_t got = 0;
    while (got < size) {
        /* ReadFile takes a 32-bit count: read in 1 GiB pieces. */
        uint64_t left = size - got;
        DWORD want = left > (1u << 30) ? (DWORD)(1u << 30) : (DWORD)left, n = 0;
        if (!ReadFile(h, buf + got, want, &n, NULL) || n == 0) {
            char why[256];
            const char *reason = n == 0 ? "unexpected end of file" : win_reason(GetLastError(), why, sizeof why);
            ef_free_aligned(buf);
            return ef_err(EF_ERR_IO, "cannot read '%s': %s", path, reason);
        }
        got += n;
    }
    out->data = buf;
    out->size = size;
    out->mapped = 0;
    return EF_OK;
}

ef_status ef_file_map_open(const char *path, int use_mmap, ef_file_map *out) {
    memset(out, 0, sizeof *out);
    if (!path) return ef_err(EF_ERR_INVALID_ARG, "path is NULL");
    wchar_t *wpath = utf8_to_wide(path);
    if (!wpath) return wide_path_error(path);
    /* FILE_SHARE_DELETE: a writer may atomically replace the file while it is mapped. */
    HANDLE h = CreateFileW(wpath, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    ef_free(wpath);
    char why[256];
    if (h == INVALID_HANDLE_VALUE)
        return ef_err(EF_ERR_IO, "cannot open '%s': %s", path, win_reason(GetLastError(), why, sizeof why));
    if (GetFileType(h) != FILE_TYPE_DISK) {
        CloseHandle(h);
        return ef_err(EF_ERR_IO, "'%s' is not a regular file", path);
    }
    LARGE_INTEGER li;
    if (!GetFileSizeEx(h, &li)) {
        DWORD e = GetLastError();
        CloseHandle(h);
        return ef_err(EF_ERR_IO, "cannot get the size of '%s': %s", path, win_reason(e, why, sizeof why));
    }
    uint64_t size = (uint64_t)li.QuadPart;
    if (size == 0) {
        CloseHandle(h);
        return ef_err(EF_ERR_FORMAT, "'%s' is empty", path);
    }
    if (size > (uint64_t)SIZE_MAX) {
        CloseHandle(h);
        return ef_err(EF_ERR_IO, "'%s' is too large for this address space", path);
    }
    if (use_mmap) {
        HANDLE mapping = CreateFileMappingW(h, NULL, PAGE_READONLY, 0, 0, NULL);
        if (mapping) {
            const void *view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
            /* The view keeps the mapping (and file) alive; the handles can go. */
            CloseHandle(mapping);
            if (view) {
                CloseHandle(h);
                out->data = view;
                out->size = size;
                out->mapped = 1;
                return EF_OK;
            }
        }
        /* fall back to reading */
    }
    ef_status st = read_whole(h, path, size, out);
    CloseHandle(h);
    return st;
}

void ef_file_map_close(ef_file_map *m) {
    if (!m || !m->data) return;
    if (m->mapped)
        UnmapViewOfFile(m->data);
    else
        ef_free_aligned((void *)m->data);
    memset(m, 0, sizeof *m);
}

ef_status ef_file_rename(const char *from, const char *to) {
    wchar_t *wfrom = utf8_to_wide(from);
    if (!wfrom) return wide_path_error(from);
    wchar_t *wto = utf8_to_wide(to);
    if (!wto) {
        ef_free(wfrom);
        return wide_path_error(to);
    }
    /* Unlike POSIX rename, MoveFileW refuses an existing target: ask for replacement. */
    BOOL ok = MoveFileExW(wfrom, wto, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH);
    DWORD e = ok ? 0 : GetLastError();
    ef_free(wfrom);
    ef_free(wto);
    if (!ok) {
        char why[256];
        return ef_err(EF_ERR_IO, "cannot rename '%s' to '%s': %s", from, to, win_reason(e, why, sizeof why));
    }
    return EF_OK;
}

/* Volume serial number and file index: Windows' (device, inode). */
static int file_identity(const char *path, BY_HANDLE_FILE_INFORMATION *info) {
    wchar_t *w = utf8_to_wide(path);
    if (!w) return 0;
    /* No access rights needed for metadata; BACKUP_SEMANTICS lets directories open too. */
    HANDLE h = CreateFileW(w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS, NULL);
    ef_free(w);
    if (h == INVALID_HANDLE_VALUE) return 0;
    BOOL ok = GetFileInformationByHandle(h, info);
    CloseHandle(h);
    return ok != 0;
}

int ef_file_same(const char *a, const char *b) {
    BY_HANDLE_FILE_INFORMATION ia, ib;
    if (!file_identity(a, &ia) || !file_identity(b, &ib)) return 0;
    return ia.dwVolumeSerialNumber == ib.dwVolumeSerialNumber && ia.nFileIndexHigh == ib.nFileIndexHigh &&
           ia.nFileIndexLow == ib.nFileIndexLow;
}

void ef_file_remove(const char *path) {
    wchar_t *w = utf8_to_wide(path);
    if (!w) return;
    (void)DeleteFileW(w);
    ef_free(w);
}

int ef_file_exists(const char *path) {
    wchar_t *w = utf8_to_wide(path);
    if (!w) return 0;
    DWORD attrs = GetFileAttributesW(w);
    ef_free(w);
    return attrs != INVALID_FILE_ATTRIBUTES;
}

FILE *ef_fopen(const char *path, const char *mode) {
    wchar_t *wpath = utf8_to_wide(path);
    wchar_t *wmode = utf8_to_wide(mode);
    FILE *f = wpath && wmode ? _wfopen(wpath, wmode) : NULL;
    ef_free(wpath);
    ef_free(wmode);
    return f;
}

int64_t ef_process_id(void) { return (int64_t)GetCurrentProcessId(); }

double ef_time_now(void) {
    /* QueryPerformanceCounter is monotonic; its frequency is fixed at boot. */
    static LARGE_INTEGER freq; /* benign race: every thread stores the same value */
    if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
    LARGE_INTEGER now;
    QueryPerformanceCounter(&now);
    return (double)now.QuadPart / (double)freq.QuadPart;
}

int32_t ef_num_cores(void) {
    /* All processor groups, so machines with more than 64 logical cores count fully. */
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    if (n == 0) {
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        n = si.dwNumberOfProcessors;
    }
    return n < 1 ? 1 : (int32_t)n;
}

uint64_t ef_host_memory(void) {
    MEMORYSTATUSEX ms;
    ms.dwLength = sizeof ms;
    return GlobalMemoryStatusEx(&ms) ? (uint64_t)ms.ullTotalPhys : 0;
}

int ef_cpu_arm_dotprod(void) { return 0; } /* the Windows build is x86-64 only */

ef_status ef_dl_open(const char *path, ef_dl **out) {
    *out = NULL;
    wchar_t *w = utf8_to_wide(path);
    if (!w) return wide_path_error(path);
    HMODULE h = LoadLibraryW(w);
    DWORD e = h ? 0 : GetLastError();
    ef_free(w);
    if (!h) {
        char why[256];
        return ef_err(EF_ERR_IO, "cannot load library '%s': %s", path, win_reason(e, why, sizeof why));
    }
    *out = (ef_dl *)h;
    return EF_OK;
}

void *ef_dl_symbol(ef_dl *lib, const char *symbol) {
    if (!lib) return NULL;
    /* FARPROC → void *: the usual cast through an integer, as for dlsym. */
    FARPROC f = GetProcAddress((HMODULE)lib, symbol);
    return (void *)(uintptr_t)f;
}

void ef_dl_close(ef_dl *lib) {
    if (lib) FreeLibrary((HMODULE)lib);
}

/* UTF-16 → UTF-8 into buf; 0 when it does not fit. */
static int wide_to_utf8(const wchar_t *w, char *buf, size_t cap) {
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)(cap > 0x7fffffff ? 0x7fffffff : cap), NULL, NULL);
    return n > 0;
}

ef_status ef_dl_self_dir(char *buf, size_t cap) {
    HMODULE self = NULL;
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCWSTR)(uintptr_t)&ef_dl_self_dir, &self))
        return ef_err(EF_ERR_NOT_FOUND, "cannot tell which file holds libedgeformer");
    wchar_t path[32768];
    DWORD n = GetModuleFileNameW(self, path, (DWORD)(sizeof path / sizeof path[0]));
    if (n == 0 || n >= sizeof path / sizeof path[0])
        return ef_err(EF_ERR_NOT_FOUND, "cannot read the file name of libedgeformer");
    while (n > 0 && path[n - 1] != L'\\' && path[n - 1] != L'/') n--;
    if (n > 0) n--; /* drop the separator */
    path[n] = L'\0';
    if (!wide_to_utf8(path, buf, cap))
        return ef_err(EF_ERR_BUFFER_TOO_SMALL, "library folder name is longer than %llu bytes", (unsigned long long)cap);
    return EF_OK;
}

ef_status ef_dir_each(const char *dir, void (*fn)(void *user, const char *name), void *user) {
    size_t len = strlen(dir);
    char *pattern = ef_malloc(len + 3); /* [len + "\\*" + NUL] */
    if (!pattern) return ef_err(EF_ERR_NO_MEMORY, "out of memory listing '%s'", dir);
    memcpy(pattern, dir, len);
    memcpy(pattern + len, "\\*", 3);
    wchar_t *w = utf8_to_wide(pattern);
    ef_free(pattern);
    if (!w) return wide_path_error(dir);
    WIN32_FIND_DATAW fd;
    HANDLE h = FindFirstFileW(w, &fd);
    ef_free(w);
    if (h == INVALID_HANDLE_VALUE) {
        char why[256];
        return ef_err(EF_ERR_IO, "cannot open folder '%s': %s", dir, win_reason(GetLastError(), why, sizeof why));
    }
    do {
        char name[1024];
        if (!wide_to_utf8(fd.cFileName, name, sizeof name)) continue;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        fn(user, name);
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return EF_OK;
}

struct ef_mutex {
    SRWLOCK lock;
};

ef_status ef_mutex_create(ef_mutex **out) {
    *out = NULL;
    ef_mutex *m = ef_calloc(1, sizeof *m);
    if (!m) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating a mutex");
    InitializeSRWLock(&m->lock);
    *out = m;
    return EF_OK;
}

void ef_mutex_lock(ef_mutex *m) { AcquireSRWLockExclusive(&m->lock); }
void ef_mutex_unlock(ef_mutex *m) { ReleaseSRWLockExclusive(&m->lock); }
void ef_mutex_free(ef_mutex *m) { ef_free(m); }

#endif /* _WIN32 */
