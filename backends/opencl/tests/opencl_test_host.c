/* The test host: see opencl_test_host.h. */
#define _POSIX_C_SOURCE 200809L
#include "opencl_test_host.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *host_alloc(void *user, size_t bytes) {
    oclt *t = user;
    void *p = malloc(bytes ? bytes : 1);
    if (p) t->live_allocs++;
    return p;
}

static void host_free(void *user, void *p) {
    oclt *t = user;
    if (p) t->live_allocs--;
    free(p);
}

static void host_log(void *user, int32_t level, const char *msg) {
    oclt *t = user;
    snprintf(t->last_log, sizeof t->last_log, "%s", msg);
    size_t used = strlen(t->log_all);
    snprintf(t->log_all + used, sizeof t->log_all - used, "%s\n", msg);
    if (level <= EF_BE_LOG_INFO) fprintf(stderr, "[log %d] %s\n", level, msg);
}

int oclt_load(oclt *t, const char *path) {
    memset(t, 0, sizeof *t);
    t->host.abi_version = EF_BACKEND_ABI_VERSION;
    t->host.size = sizeof t->host;
    t->host.user = t;
    t->host.alloc = host_alloc;
    t->host.free = host_free;
    t->host.log = host_log;
    t->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!t->dl) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    ef_backend_entry_fn entry;
    *(void **)&entry = dlsym(t->dl, EF_BACKEND_ENTRY_NAME);
    if (!entry || entry(&t->host, &t->be, sizeof t->be) != 0 || t->be.abi_version != EF_BACKEND_ABI_VERSION) {
        fprintf(stderr, "entry point missing or failed\n");
        return -1;
    }
    return 0;
}

int32_t oclt_init(oclt *t, const ef_be_option *opts, int32_t n, char *err, size_t cap) {
    return t->be.init(&t->host, opts, n, &t->ctx, err, cap);
}

void oclt_close(oclt *t) {
    if (t->ctx) t->be.shutdown(t->ctx);
    t->ctx = NULL;
    /* The module stays loaded: the ICD and LLVM keep threads and atexit
     * handlers that must not outlive their code. */
}

ef_be_buffer *oclt_buffer(oclt *t, const void *data, size_t bytes) {
    ef_be_buffer *b = NULL;
    if (t->be.buffer_alloc(t->ctx, bytes, 0, &b) != 0) {
        oclt_expect(t, 0, "buffer_alloc");
        return NULL;
    }
    void *zero = NULL;
    if (!data) data = zero = calloc(1, bytes ? bytes : 1);
    if (t->be.buffer_upload(t->ctx, b, 0, data, bytes) != 0) oclt_expect(t, 0, "buffer_upload");
    free(zero);
    return b;
}

ef_be_tensor oclt_tensor(ef_be_buffer *b, uint64_t offset, uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2) {
    ef_be_tensor x;
    memset(&x, 0, sizeof x);
    x.buf = b;
    x.offset = offset;
    x.type = type;
    x.n_dims = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    x.ne[0] = ne0;
    x.ne[1] = ne1;
    x.ne[2] = ne2;
    x.ne[3] = 1;
    return x;
}

void oclt_download(oclt *t, ef_be_buffer *b, uint64_t offset, void *dst, size_t bytes) {
    if (t->be.buffer_download(t->ctx, b, offset, dst, bytes) != 0) oclt_expect(t, 0, "buffer_download");
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

uint16_t oclt_f32_to_f16(float f) {
    /* Round to nearest even, by way of double (exact for these ranges). */
    uint32_t x = f32_bits(f), sign = (x >> 16) & 0x8000u;
    double a = fabs((double)f);
    if (isnan(f)) return (uint16_t)(sign | 0x7e00u);
    if (a >= 65520.0) return (uint16_t)(sign | 0x7c00u);
    if (a < 6.103515625e-05) { /* subnormal: units of 2^-24 */
        double q = nearbyint(a * 16777216.0);
        return (uint16_t)(sign | (uint16_t)q);
    }
    int e;
    double m = frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    double q = nearbyint(m * 2048.0); /* 11 significant bits */
    if (q >= 2048.0) {
        q /= 2.0;
        e++;
    }
    return (uint16_t)(sign | (uint32_t)(e + 14) << 10 | ((uint32_t)q & 0x3ffu));
}

float oclt_f16_to_f32(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return (float)((h & 0x8000) ? -v : v);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

uint32_t oclt_rand_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

float oclt_rand(void) { return (float)((double)oclt_rand_u32() / 2147483648.0 - 1.0); }

double oclt_nmse(const float *got, const double *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        if (isnan(got[i])) return INFINITY;
        num += d * d;
        den += want[i] * want[i];
    }
    return den > 0 ? num / den : num;
}

void oclt_expect_close(oclt *t, const char *what, const float *got, const double *want, size_t n, double thr) {
    double e = oclt_nmse(got, want, n);
    int ok = e <= thr;
    printf("%-4s %-40s nmse %.3g (limit %.0e)\n", ok ? "ok" : "FAIL", what, e, thr);
    if (!ok) t->failures++;
}

void oclt_expect(oclt *t, int ok, const char *what) {
    printf("%-4s %s\n", ok ? "ok" : "FAIL", what);
    if (!ok) t->failures++;
}
