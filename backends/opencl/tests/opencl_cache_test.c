/* The on-disk program cache: a first init writes one entry, the next loads
 * it, and a corrupt or truncated entry is ignored, rebuilt and rewritten.
 * Usage: opencl_cache_test PLUGIN.so EMPTYABLE_DIR */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opencl_test_host.h"

static oclt T;
static char entry[1024];

/* Empties dir (our own files only) and creates it. */
static void reset_dir(const char *dir) {
    mkdir(dir, 0755);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "opencl-", 7) != 0) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
}

/* The one cache entry's path into entry; how many there are. */
static int find_entries(const char *dir) {
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "opencl-", 7) != 0) continue;
        snprintf(entry, sizeof entry, "%s/%s", dir, e->d_name);
        n++;
    }
    if (d) closedir(d);
    return n;
}

/* init, a small op to show the kernels work, shutdown; returns 1 on success. */
static int init_and_run(void) {
    T.log_all[0] = '\0';
    char err[256];
    if (oclt_init(&T, NULL, 0, err, sizeof err) != 0) return 0;
    float x[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, y[10];
    ef_be_buffer *b = oclt_buffer(&T, x, sizeof x);
    ef_be_tensor t = oclt_tensor(b, 0, EF_BE_TYPE_F32, 10, 1, 1);
    int ok = T.be.scale(T.ctx, &t, 3.0f) == 0;
    oclt_download(&T, b, 0, y, sizeof y);
    for (int i = 0; i < 10; i++) ok = ok && y[i] == 3.0f * x[i];
    T.be.buffer_free(T.ctx, b);
    oclt_close(&T);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s libedgeformer-opencl.so DIR\n", argv[0]);
        return 2;
    }
    if (oclt_load(&T, argv[1]) != 0) return 1;
    ef_be_probe pr;
    T.be.probe(&T.host, &pr);
    if (!pr.available) {
        printf("SKIP: no OpenCL device\n");
        return 77;
    }
    const char *dir = argv[2];
    reset_dir(dir);
    setenv("EF_CACHE_DIR", dir, 1);

    oclt_expect(&T, init_and_run(), "cold init builds from source and runs");
    oclt_expect(&T, find_entries(dir) == 1 && strstr(T.log_all, "kernels built, cached as"), "one entry written");
    oclt_expect(&T, init_and_run() && strstr(T.log_all, "kernels loaded from the cache"), "warm init loads it");

    /* Flip bytes in the payload: the checksum catches it. */
    FILE *f = fopen(entry, "r+b");
    if (f) {
        fseek(f, 100, SEEK_SET);
        fwrite("garbage!", 1, 8, f);
        fclose(f);
    }
    oclt_expect(&T, init_and_run() && strstr(T.log_all, "ignoring a corrupt kernel cache entry") &&
                        strstr(T.log_all, "kernels built, cached as"),
                "corrupt entry ignored and rebuilt");
    oclt_expect(&T, init_and_run() && strstr(T.log_all, "kernels loaded from the cache"), "rewritten entry loads");

    /* Truncated to its header. */
    if (truncate(entry, 20) != 0) oclt_expect(&T, 0, "truncate");
    oclt_expect(&T, init_and_run() && strstr(T.log_all, "kernels built, cached as"), "truncated entry rebuilt");
    oclt_expect(&T, find_entries(dir) == 1, "still one entry, no temp files left");
    oclt_expect(&T, T.live_allocs == 0, "every host allocation freed");
    printf("%d failure(s)\n", T.failures);
    return T.failures ? 1 : 0;
}
