/* The OpenCL plugin's few operating-system calls, in one place (the plugin
 * cannot use lib/base/platform*: it sees only backend.h): folders and the
 * rename that publishes a program-cache entry. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ocl_internal.h"

#if defined(_WIN32)
#include <direct.h>
#include <process.h>
#else
#include <unistd.h>
#endif

int ef_ocl_make_dir(const char *path) {
#if defined(_WIN32)
    return _mkdir(path) == 0 || errno == EEXIST ? 0 : -1;
#else
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
#endif
}

long ef_ocl_process_id(void) {
#if defined(_WIN32)
    return (long)_getpid();
#else
    return (long)getpid();
#endif
}

int ef_ocl_replace_file(const char *tmp, const char *path) {
#if defined(_WIN32)
    remove(path); /* Windows' rename does not replace an existing file */
#endif
    return rename(tmp, path) == 0 ? 0 : -1;
}
