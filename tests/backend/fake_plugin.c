/* A fake backend plugin for the registry tests, built several times with
 * different switches (tests/backend/CMakeLists.txt):
 *   FAKE_ABI        abi_version it reports (default: this header's)
 *   FAKE_AVAILABLE  0: probe says unavailable, with FAKE_REASON
 *   FAKE_SCORE      score for "auto"
 *   FAKE_FIRST      device "fake device (first)" instead of "fake device"
 *   FAKE_NO_ENTRY   exports no entry point at all
 *   FAKE_NEEDS_DEP  calls a function of a library that is not on the search path
 *   FAKE_ENTRY_FAILS  the entry point returns an error
 *   FAKE_SMALL_SIZE   reports a 16-byte function table
 *   FAKE_FAIL_WIDE    matmul fails (EF_ERR_BACKEND) for weights of more than 256 rows
 *   FAKE_BAD        matmul results 1% off (for the conformance suite to catch)
 * Buffers are host memory from the host's allocator; the one op is an F32
 * matmul by a naive loop (double accumulation), so results are exact enough
 * to compare with the cpu backend. */
#include <stdio.h>
#include <string.h>

#include "edgeformer/backend.h"

#ifndef FAKE_ABI
#define FAKE_ABI EF_BACKEND_ABI_VERSION
#endif
#ifndef FAKE_AVAILABLE
#define FAKE_AVAILABLE 1
#endif
#ifndef FAKE_SCORE
#define FAKE_SCORE 50
#endif
#ifndef FAKE_DEVICE
#ifdef FAKE_FIRST /* the copy of "fake" in the folder searched first */
#define FAKE_DEVICE "fake device (first)"
#else
#define FAKE_DEVICE "fake device"
#endif
#endif
#ifndef FAKE_NAME
#define FAKE_NAME "fake"
#endif
#ifndef FAKE_REASON
#define FAKE_REASON "fake device missing"
#endif

#ifdef FAKE_NEEDS_DEP
int fake_dep_answer(void); /* from libfakedep.so, deliberately not findable */
#endif

static const ef_be_host *g_host;

struct ef_be_ctx {
    int32_t n_threads;
};
struct ef_be_buffer {
    unsigned char *data; /* [size] */
    uint64_t size;
};

static int32_t fake_probe(const ef_be_host *host, ef_be_probe *out) {
    (void)host;
    memset(out, 0, sizeof *out);
    out->available = FAKE_AVAILABLE;
    out->score = FAKE_SCORE;
    out->memory = 1u << 20;
#ifdef FAKE_NEEDS_DEP
    out->score += fake_dep_answer();
#endif
    if (FAKE_AVAILABLE)
        snprintf(out->device, sizeof out->device, "%s", FAKE_DEVICE);
    else
        snprintf(out->reason, sizeof out->reason, "%s", FAKE_REASON);
    return 0;
}

static int32_t fake_init(const ef_be_host *host, const ef_be_option *opts, int32_t n_opts, ef_be_ctx **out,
                         char *err, size_t err_cap) {
    *out = NULL;
    for (int32_t i = 0; i < n_opts; i++)
        if (strcmp(opts[i].key, "fake.mode") != 0) {
            snprintf(err, err_cap, "unknown option '%s'", opts[i].key);
            return 1; /* EF_ERR_INVALID_ARG */
        }
    ef_be_ctx *c = host->alloc(host->user, sizeof *c);
    if (!c) return 2; /* EF_ERR_NO_MEMORY */
    c->n_threads = 1;
    *out = c;
    return 0;
}

static void fake_shutdown(ef_be_ctx *c) { g_host->free(g_host->user, c); }

static int32_t fake_set_threads(ef_be_ctx *c, int32_t n) {
    c->n_threads = n;
    return 0;
}

static int32_t fake_alloc(ef_be_ctx *c, uint64_t bytes, uint32_t flags, ef_be_buffer **out) {
    (void)c;
    (void)flags;
    ef_be_buffer *b = g_host->alloc(g_host->user, sizeof *b);
    if (!b) return 2;
    b->data = g_host->alloc(g_host->user, bytes ? (size_t)bytes : 1);
    if (!b->data) {
        g_host->free(g_host->user, b);
        return 2;
    }
    b->size = bytes;
    *out = b;
    return 0;
}

static void fake_free(ef_be_ctx *c, ef_be_buffer *b) {
    (void)c;
    if (!b) return;
    g_host->free(g_host->user, b->data);
    g_host->free(g_host->user, b);
}

static int32_t fake_upload(ef_be_ctx *c, ef_be_buffer *b, uint64_t off, const void *src, uint64_t n) {
    (void)c;
    if (off > b->size || n > b->size - off) return 1;
    memcpy(b->data + off, src, (size_t)n);
    return 0;
}

static int32_t fake_download(ef_be_ctx *c, ef_be_buffer *b, uint64_t off, void *dst, uint64_t n) {
    (void)c;
    if (off > b->size || n > b->size - off) return 1;
    memcpy(dst, b->data + off, (size_t)n);
    return 0;
}

static int32_t fake_supports(ef_be_ctx *c, uint32_t op, uint32_t type) {
    (void)c;
    return op == EF_BE_OP_MATMUL && type == EF_BE_TYPE_F32;
}

static int32_t fake_matmul(ef_be_ctx *c, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y) {
    (void)c;
    if (w->type != EF_BE_TYPE_F32) return 5; /* EF_ERR_UNSUPPORTED */
    const int64_t in = w->ne[0], out = w->ne[1], n = x->ne[1];
#ifdef FAKE_FAIL_WIDE /* a device failure on wide weights (the output head) */
    if (out > 256) return 11; /* EF_ERR_BACKEND */
#endif
    const float *W = (const float *)(w->buf->data + w->offset); /* [out][in] */
    const float *X = (const float *)(x->buf->data + x->offset); /* [n][in] */
    float *Y = (float *)(y->buf->data + y->offset);             /* [n][out] */
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < out; r++) {
            double acc = 0;
            for (int64_t k = 0; k < in; k++) acc += (double)W[r * in + k] * X[t * in + k];
#ifdef FAKE_BAD /* a wrong result for the conformance suite to catch: 1% too large */
            acc *= 1.01;
#endif
            Y[t * out + r] = (float)acc;
        }
    return 0;
}

#ifdef FAKE_NO_ENTRY
EF_BACKEND_EXPORT int32_t not_the_entry_point(const ef_be_host *host, ef_be_iface *f, size_t size);
EF_BACKEND_EXPORT int32_t not_the_entry_point(const ef_be_host *host, ef_be_iface *f, size_t size)
#else
EF_BACKEND_EXPORT int32_t ef_backend_plugin_entry(const ef_be_host *host, ef_be_iface *f, size_t size);
EF_BACKEND_EXPORT int32_t ef_backend_plugin_entry(const ef_be_host *host, ef_be_iface *f, size_t size)
#endif
{
    if (size < sizeof *f) return 5;
#ifdef FAKE_ENTRY_FAILS
    return 11; /* EF_ERR_BACKEND: as a plugin whose library initialisation failed */
#endif
    g_host = host;
    f->abi_version = FAKE_ABI;
    f->size = sizeof *f;
    f->name = FAKE_NAME;
    f->probe = fake_probe;
    f->init = fake_init;
    f->shutdown = fake_shutdown;
    f->set_threads = fake_set_threads;
    f->buffer_alloc = fake_alloc;
    f->buffer_free = fake_free;
    f->buffer_upload = fake_upload;
    f->buffer_download = fake_download;
    f->supports = fake_supports;
    f->matmul = fake_matmul;
#ifdef FAKE_SMALL_SIZE /* a table from an older, shorter layout */
    f->size = 16;
#endif
    return 0;
}
