/* Weight matmuls of a session on a plugin backend (exec_backend.h). The
 * state shared by the sessions of one (model, backend, options) — the
 * backend context, the uploaded weights and the activation buffers — sits
 * behind one mutex, because a backend context is used by one thread at a
 * time; sessions on other threads take turns for each matmul. */
#include "exec/exec_backend.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "exec/exec_internal.h"
#include "exec/forward_device.h"

/* One weight on the backend, known by its tensor and its bytes (a caller
 * reusing an ef_tensor struct for other data gets another entry); buf NULL
 * with unsupported = 1 when it stays on cpu. */
typedef struct be_weight {
    const ef_tensor *w;
    const void *data;
    ef_be_buffer *buf;
    int32_t unsupported;
} be_weight;

#define OPTS_KEY_MAX 2048

typedef struct be_shared {
    struct be_shared *next;
    const ef_model *m;
    const struct ef_backend *b;
    char opts_key[OPTS_KEY_MAX]; /* "k=v\n" of the options passed, to tell contexts apart */
    int32_t refs;                /* sessions bound; guarded by g_list_lock */

    ef_mutex *lock;              /* guards everything below */
    ef_be_ctx *ctx;
    be_weight *weights;          /* [n_weights] */
    int32_t n_weights, cap_weights;
    ef_be_buffer *xbuf, *ybuf;   /* activations: [n][in] and [n][out] F32 */
    uint64_t xcap, ycap;         /* their bytes */
    int32_t threads;             /* last set_threads */
    int32_t warned;              /* a failure was logged */
} be_shared;

struct ef_exec_backend {
    be_shared *sh;
    int32_t n_threads;
    uint64_t n_backend, n_fallback;
    ef_exec_device_opts dopts;   /* device_resident, kv_device_budget */
    struct ef_fwd_device *dev;   /* the device-resident state (forward_device.c), or NULL */
};

/* The list of shared states: a spin lock (held for list walks only) so no
 * allocation is needed to create it. */
static atomic_flag g_list_lock = ATOMIC_FLAG_INIT;
static be_shared *g_list;

static void list_lock(void) {
    while (atomic_flag_test_and_set_explicit(&g_list_lock, memory_order_acquire)) {
    }
}
static void list_unlock(void) { atomic_flag_clear_explicit(&g_list_lock, memory_order_release); }

/* Host-side options (no backend prefix): they shape the forward pass, not the plugin. */
static int is_host_option(const char *key) {
    return !strcmp(key, "device_resident") || !strcmp(key, "kv_device_budget");
}

/* "64M" → bytes (K/M/G: powers of 1024); 0 on a malformed value (*ok 0). */
static uint64_t parse_bytes(const char *v, int *ok) {
    uint64_t n = 0;
    const char *p = v;
    *ok = 0;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') {
        if (n > UINT64_MAX / 10) return 0;
        n = n * 10 + (uint64_t)(*p++ - '0');
    }
    int shift = 0;
    if (*p == 'k' || *p == 'K') shift = 10;
    else if (*p == 'm' || *p == 'M') shift = 20;
    else if (*p == 'g' || *p == 'G') shift = 30;
    if (shift) p++;
    if (*p == 'B' || *p == 'b') p++;
    if (*p || n > (UINT64_MAX >> shift)) return 0;
    *ok = 1;
    return n << shift;
}

static ef_status parse_device_options(const ef_backend_choice *c, ef_exec_device_opts *o) {
    o->resident = 1;
    o->kv_budget = 0;
    o->kv_budget_given = 0;
    for (int32_t i = 0; c && i < c->n_opts; i++) {
        int ok = 0;
        if (!strcmp(c->keys[i], "device_resident")) {
            ok = !strcmp(c->values[i], "0") || !strcmp(c->values[i], "1");
            o->resident = !strcmp(c->values[i], "1");
        } else if (!strcmp(c->keys[i], "kv_device_budget")) {
            o->kv_budget = parse_bytes(c->values[i], &ok);
            o->kv_budget_given = 1;
        } else {
            continue;
        }
        if (!ok)
            return ef_err(EF_ERR_INVALID_ARG, "backend option %s=%s: expected %s", c->keys[i], c->values[i],
                          strcmp(c->keys[i], "device_resident") ? "bytes such as 64M" : "0 or 1");
    }
    return EF_OK;
}

/* The options meant for backend `name`: keys "NAME.…"; others are ignored. */
static int32_t pick_options(const char *name, const ef_backend_choice *c, ef_be_option *opts, char *key,
                            size_t key_cap) {
    int32_t n = 0;
    size_t len = 0, nl = strlen(name);
    key[0] = '\0';
    for (int32_t i = 0; c && i < c->n_opts; i++) {
        if (is_host_option(c->keys[i])) continue;
        if (strncmp(c->keys[i], name, nl) != 0 || c->keys[i][nl] != '.') {
            EF_LOGD("backend option '%s' ignored: the session runs on '%s'", c->keys[i], name);
            continue;
        }
        opts[n].key = c->keys[i];
        opts[n].value = c->values[i];
        n++;
        int w = snprintf(key + len, key_cap - len, "%s=%s\n", c->keys[i], c->values[i]);
        if (w > 0 && (size_t)w < key_cap - len) len += (size_t)w;
    }
    return n;
}

static void shared_free(be_shared *sh) {
    if (!sh) return;
    const ef_be_iface *f = &sh->b->iface;
    if (sh->ctx) {
        for (int32_t i = 0; i < sh->n_weights; i++)
            if (sh->weights[i].buf) f->buffer_free(sh->ctx, sh->weights[i].buf);
        if (sh->xbuf) f->buffer_free(sh->ctx, sh->xbuf);
        if (sh->ybuf) f->buffer_free(sh->ctx, sh->ybuf);
        f->shutdown(sh->ctx);
    }
    ef_free(sh->weights);
    ef_mutex_free(sh->lock);
    ef_free(sh);
}

static ef_status shared_create(const ef_model *m, const struct ef_backend *b, const ef_be_option *opts,
                               int32_t n_opts, const char *key, be_shared **out) {
    *out = NULL;
    be_shared *sh = ef_calloc(1, sizeof *sh);
    if (!sh) return ef_err(EF_ERR_NO_MEMORY, "out of memory binding a session to backend '%s'", b->name);
    sh->m = m;
    sh->b = b;
    snprintf(sh->opts_key, sizeof sh->opts_key, "%s", key);
    ef_status st = ef_mutex_create(&sh->lock);
    if (st != EF_OK) {
        ef_free(sh);
        return st;
    }
    char err[512] = "";
    int32_t rc = b->iface.init(ef_backend_host(), opts, n_opts, &sh->ctx, err, sizeof err);
    if (rc != 0 || !sh->ctx) {
        sh->ctx = NULL;
        shared_free(sh);
        ef_status code = rc == EF_ERR_INVALID_ARG || rc == EF_ERR_NO_MEMORY || rc == EF_ERR_UNAVAILABLE ? rc
                                                                                                     : EF_ERR_BACKEND;
        return ef_err(code, "backend '%s' could not start: %s", b->name,
                      err[0] ? err : rc ? ef_status_str(rc) : "init returned no context");
    }
    *out = sh;
    return EF_OK;
}

ef_status ef_exec_backend_open(const ef_model *m, const struct ef_backend *b, const ef_backend_choice *choice,
                               int32_t n_threads, ef_exec_backend **out) {
    *out = NULL;
    ef_be_option opts[EF_BACKEND_OPTS_MAX];
    char key[OPTS_KEY_MAX];
    int32_t n_opts = pick_options(b->name, choice, opts, key, sizeof key);
    ef_exec_backend *xb = ef_calloc(1, sizeof *xb);
    if (!xb) return ef_err(EF_ERR_NO_MEMORY, "out of memory binding a session to backend '%s'", b->name);
    xb->n_threads = n_threads;
    ef_status dst = parse_device_options(choice, &xb->dopts);
    if (dst) {
        ef_free(xb);
        return dst;
    }

    list_lock();
    be_shared *sh = g_list;
    while (sh && !(sh->m == m && sh->b == b && !strcmp(sh->opts_key, key))) sh = sh->next;
    if (sh) sh->refs++;
    list_unlock();
    if (!sh) {
        /* created outside the list lock (init may be slow); a race only
         * makes two contexts for the same key, both valid */
        ef_status st = shared_create(m, b, opts, n_opts, key, &sh);
        if (st != EF_OK) {
            ef_free(xb);
            return st;
        }
        sh->refs = 1;
        list_lock();
        sh->next = g_list;
        g_list = sh;
        list_unlock();
    }
    xb->sh = sh;
    *out = xb;
    return EF_OK;
}

void ef_exec_backend_close(ef_exec_backend *xb) {
    if (!xb) return;
    be_shared *sh = xb->sh, *dead = NULL;
    if (xb->dev) {
        ef_mutex_lock(sh->lock);
        ef_fwd_device_free(xb->dev, &sh->b->iface, sh->ctx);
        ef_mutex_unlock(sh->lock);
        xb->dev = NULL;
    }
    list_lock();
    if (--sh->refs == 0) {
        be_shared **pp = &g_list;
        while (*pp && *pp != sh) pp = &(*pp)->next;
        if (*pp) *pp = sh->next;
        dead = sh;
    }
    list_unlock();
    shared_free(dead);
    ef_free(xb);
}

void ef_exec_attach_backend(ef_exec *e, ef_exec_backend *xb) {
    if (e) e->backend = xb;
}

void ef_exec_backend_counts(const ef_exec_backend *xb, uint64_t *on_backend, uint64_t *fallback) {
    if (on_backend) *on_backend = xb ? xb->n_backend : 0;
    if (fallback) *fallback = xb ? xb->n_fallback : 0;
}

/* The weight's entry, uploading it at its first use. NULL: run it on cpu. */
static be_weight *weight_on_backend(be_shared *sh, const ef_tensor *w, ef_status *st) {
    for (int32_t i = 0; i < sh->n_weights; i++)
        if (sh->weights[i].w == w && sh->weights[i].data == w->data) return &sh->weights[i];
    if (sh->n_weights == sh->cap_weights) {
        int32_t cap = sh->cap_weights ? sh->cap_weights * 2 : 64;
        be_weight *bigger = ef_realloc(sh->weights, (size_t)cap * sizeof *bigger);
        if (!bigger) {
            *st = ef_err(EF_ERR_NO_MEMORY, "out of memory recording backend weights");
            return NULL;
        }
        sh->weights = bigger;
        sh->cap_weights = cap;
    }
    be_weight *bw = &sh->weights[sh->n_weights];
    memset(bw, 0, sizeof *bw);
    bw->w = w;
    bw->data = w->data;
    const ef_be_iface *f = &sh->b->iface;
    if (!f->matmul || !f->supports(sh->ctx, EF_BE_OP_MATMUL, w->type)) {
        bw->unsupported = 1;
        sh->n_weights++;
        return bw;
    }
    int32_t rc = f->buffer_alloc(sh->ctx, w->nbytes, EF_BE_BUF_WEIGHTS, &bw->buf);
    if (rc == 0) rc = f->buffer_upload(sh->ctx, bw->buf, 0, w->data, w->nbytes);
    if (rc != 0) {
        if (bw->buf) f->buffer_free(sh->ctx, bw->buf);
        bw->buf = NULL;
        bw->unsupported = 1; /* stays on cpu: no retry (and no failed upload) per token */
        sh->n_weights++;
        *st = ef_err(rc, "backend '%s': uploading weight '%s' (%llu bytes) failed", sh->b->name, w->name,
                     (unsigned long long)w->nbytes);
        return NULL;
    }
    sh->n_weights++;
    return bw;
}

/* Makes *buf hold at least `bytes`. */
static int32_t reserve(be_shared *sh, ef_be_buffer **buf, uint64_t *cap, uint64_t bytes) {
    if (*buf && *cap >= bytes) return 0;
    const ef_be_iface *f = &sh->b->iface;
    if (*buf) f->buffer_free(sh->ctx, *buf);
    *buf = NULL;
    *cap = 0;
    int32_t rc = f->buffer_alloc(sh->ctx, bytes, 0, buf);
    if (rc == 0) *cap = bytes;
    return rc;
}

static ef_status run_matmul(ef_exec_backend *xb, const ef_tensor *w, const float *x, int32_t n, float *y,
                            int *ran) {
    be_shared *sh = xb->sh;
    const ef_be_iface *f = &sh->b->iface;
    ef_status st = EF_OK;
    *ran = 0;
    if (f->set_threads && sh->threads != xb->n_threads) {
        if (f->set_threads(sh->ctx, xb->n_threads) == 0) sh->threads = xb->n_threads;
    }
    be_weight *bw = weight_on_backend(sh, w, &st);
    if (!bw || bw->unsupported) return st;
    const int64_t in = w->ne[0], out = w->ne[1];
    const uint64_t xbytes = (uint64_t)n * (uint64_t)in * sizeof(float);   /* x: [n][in] */
    const uint64_t ybytes = (uint64_t)n * (uint64_t)out * sizeof(float);  /* y: [n][out] */
    int32_t rc = reserve(sh, &sh->xbuf, &sh->xcap, xbytes);
    if (rc == 0) rc = reserve(sh, &sh->ybuf, &sh->ycap, ybytes);
    if (rc == 0) rc = f->buffer_upload(sh->ctx, sh->xbuf, 0, x, xbytes);
    if (rc == 0) {
        ef_be_tensor wt = {bw->buf, 0, w->type, 2, {in, out, 1, 1}};
        ef_be_tensor xt = {sh->xbuf, 0, EF_BE_TYPE_F32, 2, {in, n, 1, 1}};
        ef_be_tensor yt = {sh->ybuf, 0, EF_BE_TYPE_F32, 2, {out, n, 1, 1}};
        rc = f->matmul(sh->ctx, &wt, &xt, &yt);
    }
    if (rc == 0) rc = f->buffer_download(sh->ctx, sh->ybuf, 0, y, ybytes);
    if (rc != 0 && rc != EF_ERR_NO_MEMORY) {
        /* the backend cannot do this weight: it stays on cpu from now on */
        if (bw->buf) f->buffer_free(sh->ctx, bw->buf);
        bw->buf = NULL;
        bw->unsupported = 1;
    }
    if (rc != 0)
        return ef_err(rc, "backend '%s': matmul of '%s' (%s, %lld x %lld, %d tokens) failed", sh->b->name,
                      w->name, ef_status_str(rc), (long long)in, (long long)out, (int)n);
    *ran = 1;
    return EF_OK;
}

int ef_exec_backend_matmul(ef_exec_backend *xb, const ef_tensor *w, const float *x, int32_t n, float *y) {
    if (!xb || n < 1 || w->n_dims > 2) return 0;
    be_shared *sh = xb->sh;
    int ran = 0;
    ef_mutex_lock(sh->lock);
    ef_status st = run_matmul(xb, w, x, n, y, &ran);
    if (st != EF_OK && !sh->warned) {
        sh->warned = 1;
        EF_LOGW("%s; running it on the cpu kernels instead (logged once)", ef_err_msg());
    }
    ef_mutex_unlock(sh->lock);
    if (st != EF_OK) ef_err_clear();
    if (ran)
        xb->n_backend++;
    else
        xb->n_fallback++;
    return ran;
}

/* ---- for the device-resident forward pass ---- */

const ef_exec_device_opts *ef_exec_backend_device_opts(const ef_exec_backend *xb) { return &xb->dopts; }
const struct ef_backend *ef_exec_backend_of(const ef_exec_backend *xb) { return xb->sh->b; }
ef_be_ctx *ef_exec_backend_ctx(const ef_exec_backend *xb) { return xb->sh->ctx; }

void ef_exec_backend_lock(ef_exec_backend *xb) {
    be_shared *sh = xb->sh;
    ef_mutex_lock(sh->lock);
    const ef_be_iface *f = &sh->b->iface;
    if (f->set_threads && sh->threads != xb->n_threads && f->set_threads(sh->ctx, xb->n_threads) == 0)
        sh->threads = xb->n_threads;
}

void ef_exec_backend_unlock(ef_exec_backend *xb) { ef_mutex_unlock(xb->sh->lock); }

ef_be_buffer *ef_exec_backend_weight(ef_exec_backend *xb, const ef_tensor *w, ef_status *st) {
    *st = EF_OK;
    be_weight *bw = weight_on_backend(xb->sh, w, st);
    return bw && !bw->unsupported ? bw->buf : NULL;
}

void ef_exec_backend_count(ef_exec_backend *xb, uint64_t n) { xb->n_backend += n; }

struct ef_fwd_device **ef_exec_backend_device_slot(ef_exec_backend *xb) { return &xb->dev; }
