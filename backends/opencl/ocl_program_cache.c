/* On-disk cache of compiled program binaries. An entry is
 *   "EFCLBIN1" | u64 payload bytes | u64 FNV-1a of the payload | payload
 * named by a hash of device, driver, kernel source and build options, so a
 * driver update or a kernel edit misses and rebuilds. A truncated or
 * corrupt entry fails its checks and is rebuilt and overwritten. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocl_internal.h"

static const char MAGIC[8] = {'E', 'F', 'C', 'L', 'B', 'I', 'N', '1'};
#define HEADER_BYTES 24
/* Larger entries are not ours: refuse before allocating. */
#define MAX_BINARY_BYTES (256u << 20)

uint64_t ef_ocl_hash(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int32_t ef_ocl_cache_dir(char *out, size_t cap) {
    const char *dir = getenv("EF_CACHE_DIR");
    int n;
    if (dir && *dir)
        n = snprintf(out, cap, "%s", dir);
    else if ((dir = getenv("XDG_CACHE_HOME")) && *dir)
        n = snprintf(out, cap, "%s/edgeformer", dir);
    else if ((dir = getenv("HOME")) && *dir)
        n = snprintf(out, cap, "%s/.cache/edgeformer", dir);
    else
        return 0;
    return n > 0 && (size_t)n < cap;
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

unsigned char *ef_ocl_cache_load(const ef_be_host *host, const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char hdr[HEADER_BYTES];
    unsigned char *bin = NULL;
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, MAGIC, sizeof MAGIC) != 0) goto bad;
    uint64_t n = get_u64(hdr + 8), sum = get_u64(hdr + 16);
    if (n == 0 || n > MAX_BINARY_BYTES) goto bad;
    bin = host->alloc(host->user, (size_t)n);
    if (!bin) goto bad;
    if (fread(bin, 1, (size_t)n, f) != n || ef_ocl_hash(EF_OCL_FNV_SEED, bin, (size_t)n) != sum) goto bad;
    fclose(f);
    *size = (size_t)n;
    return bin;
bad:
    ef_ocl_log(host, EF_BE_LOG_WARN, "opencl: ignoring a corrupt kernel cache entry %s", path);
    if (bin) host->free(host->user, bin);
    fclose(f);
    return NULL;
}

/* mkdir -p, tolerating directories that exist. */
static int make_dirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int r = ef_ocl_make_dir(path);
        *p = '/';
        if (r != 0) return -1;
    }
    return ef_ocl_make_dir(path);
}

void ef_ocl_cache_store(const ef_be_host *host, const char *path, const unsigned char *bin, size_t size) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (make_dirs(dir) != 0) {
            ef_ocl_log(host, EF_BE_LOG_DEBUG, "opencl: cannot create the kernel cache folder %s", dir);
            return;
        }
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, ef_ocl_process_id());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ef_ocl_log(host, EF_BE_LOG_DEBUG, "opencl: cannot write the kernel cache entry %s", tmp);
        return;
    }
    unsigned char hdr[HEADER_BYTES];
    memcpy(hdr, MAGIC, sizeof MAGIC);
    put_u64(hdr + 8, size);
    put_u64(hdr + 16, ef_ocl_hash(EF_OCL_FNV_SEED, bin, size));
    int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(bin, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || ef_ocl_replace_file(tmp, path) != 0) {
        remove(tmp);
        ef_ocl_log(host, EF_BE_LOG_DEBUG, "opencl: cannot write the kernel cache entry %s", path);
    }
}
