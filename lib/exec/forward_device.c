/* The device-resident forward pass (forward_device.h): the layer stack of
 * forward.c with every op on the plugin backend.
 *
 * Per chunk of n tokens at positions n_past..:
 *   host: x = tok_embd rows of the tokens, uploaded (n × n_embd floats)
 *   per layer, on the device:
 *     xn = rmsnorm(x) · attn_norm; q = xn·Wqᵀ (+bq); k, v = xn·Wkᵀ, xn·Wvᵀ (+bk, bv)
 *     rope(q), rope(k) in place; k, v into the layer's device K/V rows n_past..
 *     (F32: the matmuls write there directly; F16: converted from scratch)
 *     att = flash_attn(q, K[0..n_past+n), V[0..n_past+n)); x += att·Woᵀ
 *     xn = rmsnorm(x) · ffn_norm; x += (silu(xn·Wgᵀ) * (xn·Wuᵀ))·Wdᵀ
 *   the new K/V rows of every layer are downloaded into the KV manager's pages
 *   (write-through), then logits = rmsnorm(x) · output_norm · Woutᵀ come back.
 * Past the device budget (n_past + n > rows_cap) the chunk's attention runs
 * on the host over the host pages: q, k, v come down, att goes up. */
#include "exec/forward_device.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/fp16.h"
#include "base/log.h"
#include "cpu/cpu_ops.h"
#include "exec/exec_backend.h"
#include "exec/exec_internal.h"
#include "kv/kv_cache.h"
#include "model/sparsity.h"
#include "quant/types.h"

#define WHY_MAX 256
#define STAGE_ROWS 256 /* rows per upload when the device copy is rebuilt from the host pages */

struct ef_fwd_device {
    int32_t state; /* 1 resident, -1 host path */
    char why[WHY_MAX];
    uint32_t kv_type; /* of the device K/V */
    size_t kv_elt;
    int32_t rows_cap; /* device K/V rows per layer */
    int32_t n_layer, n_batch, n_ctx;
    ef_be_buffer *x, *xn;     /* [n_batch][n_embd] residual stream; normed input, then projection output */
    ef_be_buffer *q, *att;    /* [n_batch][q_dim] queries; attention output */
    ef_be_buffer *kn, *vn;    /* [n_batch][kv_dim] this chunk's K, V as F32 (F16 cache or host attention) */
    ef_be_buffer *gate, *up;  /* [n_batch][n_ff] */
    ef_be_buffer *logits;     /* [logit_rows][n_vocab] */
    int32_t logit_rows;
    ef_be_buffer *norms;      /* [2*n_layer + 1][n_embd] F32: attn_norm, ffn_norm of each layer, output_norm */
    ef_be_buffer *bias;       /* [n_layer][q_dim + 2*kv_dim] F32 q/k/v biases (qwen2), or NULL */
    ef_be_buffer **k, **v;    /* [n_layer] each [rows_cap][kv_dim] of kv_type */

    /* what the device copy holds: rows [0, n_dev) of every layer of (kv, seq)
     * as the host pages held them at the sequence's epoch `epoch` */
    const ef_kv_cache *kv;
    int32_t seq;
    uint64_t epoch;   /* ef_kvi_seq_epoch when the rows were last checked */
    int32_t n_dev;    /* ≤ rows_cap */
    void *stage;      /* [max(STAGE_ROWS, n_batch)][kv_dim] raw rows (F32-sized) */
    float *stage_f32; /* [max(STAGE_ROWS, n_batch)][kv_dim] the same as F32 */
    int32_t stage_rows;

    ef_fwd_device_stats stats;
};

/* ---- state --------------------------------------------------------------- */

static void free_buffers(struct ef_fwd_device *d, const ef_be_iface *f, ef_be_ctx *ctx) {
    ef_be_buffer **bufs[] = {&d->x, &d->xn, &d->q, &d->att, &d->kn, &d->vn, &d->gate, &d->up,
                             &d->logits, &d->norms, &d->bias};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (*bufs[i]) f->buffer_free(ctx, *bufs[i]);
        *bufs[i] = NULL;
    }
    for (int32_t il = 0; il < d->n_layer; il++) {
        if (d->k && d->k[il]) f->buffer_free(ctx, d->k[il]);
        if (d->v && d->v[il]) f->buffer_free(ctx, d->v[il]);
    }
    ef_free(d->k);
    ef_free(d->v);
    d->k = d->v = NULL;
    d->logit_rows = 0;
}

void ef_fwd_device_free(struct ef_fwd_device *d, const ef_be_iface *f, ef_be_ctx *ctx) {
    if (!d) return;
    free_buffers(d, f, ctx);
    ef_free(d->stage);
    ef_free(d->stage_f32);
    ef_free(d);
}

/* The session stays on the host path from now on; its device buffers go. */
static void go_host(struct ef_fwd_device *d, const ef_be_iface *f, ef_be_ctx *ctx, const char *why) {
    d->state = -1;
    snprintf(d->why, sizeof d->why, "%s", why);
    d->stats.state = -1;
    free_buffers(d, f, ctx);
}

/* ---- which sessions the path serves -------------------------------------- */

static int has(const ef_be_iface *f, ef_be_ctx *c, uint32_t op, uint32_t type) {
    return f->supports && f->supports(c, op, type);
}

/* NULL when the path serves e on this backend (*kv_type: the device K/V
 * type), else why not, written into buf. */
static const char *why_not(const ef_exec *e, const ef_be_iface *f, ef_be_ctx *c, const ef_exec_device_opts *o,
                           uint32_t *kv_type, char *buf, size_t cap) {
    const ef_model *m = e->m;
    const ef_hparams *hp = &m->hp;
    if (!o->resident) return "device_resident=0";
    if (!e->kv) return "the exec has no paged KV cache";
    if (hp->attn_kind == EF_ATTN_MLA) return "MLA attention is not expressible with the v1 ops";
    if (m->arch != EF_ARCH_LLAMA && m->arch != EF_ARCH_QWEN2) return "not a llama/qwen2 model";
    if (hp->n_expert > 0) return "MoE layers are not expressible with the v1 ops";
    for (int32_t il = 0; il < hp->n_layer; il++)
        if (e->layer_window[il] > 0) return "sliding-window layers are not expressible with the v1 flash_attn";
    if (e->sparse) return "sparse FFN decode is on";
    if (e->ffn_observe) return "an FFN observer (sparsity calibration) is attached";
    if (ef_model_ffn_is_relu(m)) return "the FFN activation is ReLU (v1 has swiglu only)";
    if (hp->n_rot < 0 || hp->n_rot % 2 || hp->n_rot > hp->head_dim) return "the RoPE dims do not fit the heads";
    const uint32_t kt = ef_kvi_type(e->kv, 0), vt = ef_kvi_type(e->kv, 1);
    if (kt != vt || (kt != EF_TYPE_F32 && kt != EF_TYPE_F16)) {
        snprintf(buf, cap, "KV pages of type %s/%s (the device copy is F32 or F16)", ef_type_name(kt),
                 ef_type_name(vt));
        return buf;
    }
    if (!f->matmul || !f->rmsnorm || !f->rope || !f->swiglu || !f->add || !f->flash_attn)
        return "the plugin's table lacks one of matmul, rmsnorm, rope, swiglu, add, flash_attn";
    const uint32_t ops[] = {EF_BE_OP_RMSNORM, EF_BE_OP_ROPE, EF_BE_OP_SWIGLU, EF_BE_OP_ADD};
    const char *names[] = {"rmsnorm", "rope", "swiglu", "add"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!has(f, c, ops[i], EF_BE_TYPE_F32)) {
            snprintf(buf, cap, "the backend does not claim %s on F32", names[i]);
            return buf;
        }
    /* F16 pages: an F16 device copy when the backend attends over F16 and converts into it */
    if (kt == EF_TYPE_F16 && has(f, c, EF_BE_OP_FLASH_ATTN, EF_BE_TYPE_F16) && f->convert &&
        has(f, c, EF_BE_OP_CONVERT, EF_BE_TYPE_F32))
        *kv_type = EF_BE_TYPE_F16;
    else if (has(f, c, EF_BE_OP_FLASH_ATTN, EF_BE_TYPE_F32))
        *kv_type = EF_BE_TYPE_F32;
    else
        return "the backend does not claim flash_attn over F32 (or F16) K/V";
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const ef_layer *l = &m->layers[il];
        const ef_tensor *ws[] = {l->wq, l->wk, l->wv, l->wo, l->ffn_gate, l->ffn_up, l->ffn_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            if (!ws[i] || ws[i]->n_dims > 2 || !has(f, c, EF_BE_OP_MATMUL, ws[i]->type)) {
                snprintf(buf, cap, "the backend does not claim matmul on %s weights ('%s')",
                         ws[i] ? ef_type_name(ws[i]->type) : "missing", ws[i] ? ws[i]->name : "?");
                return buf;
            }
    }
    if (!m->output || !has(f, c, EF_BE_OP_MATMUL, m->output->type))
        return "the backend does not claim the output matmul";
    return NULL;
}

static int32_t alloc_f32(const ef_be_iface *f, ef_be_ctx *c, ef_be_buffer **out, uint64_t n0, uint64_t n1) {
    return f->buffer_alloc(c, n0 * n1 * sizeof(float), 0, out);
}

/* Host vectors (norm weights, biases) as F32 into the device buffer at element off. */
static int32_t upload_vec(const ef_be_iface *f, ef_be_ctx *c, ef_exec *e, ef_be_buffer *b, uint64_t off,
                          const ef_tensor *t) {
    ef_cpu_tensor_to_f32(t, e->wvec); /* [ne0] */
    return f->buffer_upload(c, b, off * sizeof(float), e->wvec, (uint64_t)t->ne[0] * sizeof(float));
}

/* The device buffers of a served session; rc != 0: the device said no. */
static int32_t alloc_device(struct ef_fwd_device *d, ef_exec *e, const ef_be_iface *f, ef_be_ctx *c) {
    const ef_hparams *hp = &e->m->hp;
    const uint64_t nb = (uint64_t)d->n_batch, L = (uint64_t)hp->n_layer;
    int32_t rc = alloc_f32(f, c, &d->x, nb, (uint64_t)hp->n_embd);
    if (!rc) rc = alloc_f32(f, c, &d->xn, nb, (uint64_t)hp->n_embd);
    if (!rc) rc = alloc_f32(f, c, &d->q, nb, (uint64_t)e->q_dim);
    if (!rc) rc = alloc_f32(f, c, &d->att, nb, (uint64_t)e->q_dim);
    if (!rc) rc = alloc_f32(f, c, &d->kn, nb, (uint64_t)e->kv_dim);
    if (!rc) rc = alloc_f32(f, c, &d->vn, nb, (uint64_t)e->kv_dim);
    if (!rc) rc = alloc_f32(f, c, &d->gate, nb, (uint64_t)hp->n_ff);
    if (!rc) rc = alloc_f32(f, c, &d->up, nb, (uint64_t)hp->n_ff);
    if (!rc) rc = alloc_f32(f, c, &d->norms, 2 * L + 1, (uint64_t)hp->n_embd);
    for (int32_t il = 0; !rc && il < hp->n_layer; il++) {
        const ef_layer *l = &e->m->layers[il];
        rc = upload_vec(f, c, e, d->norms, (uint64_t)(2 * il) * (uint64_t)hp->n_embd, l->attn_norm);
        if (!rc) rc = upload_vec(f, c, e, d->norms, (uint64_t)(2 * il + 1) * (uint64_t)hp->n_embd, l->ffn_norm);
    }
    if (!rc) rc = upload_vec(f, c, e, d->norms, 2 * L * (uint64_t)hp->n_embd, e->m->output_norm);
    const int32_t qwen = e->m->arch == EF_ARCH_QWEN2;
    const uint64_t bias_row = (uint64_t)e->q_dim + 2u * (uint64_t)e->kv_dim;
    if (!rc && qwen) rc = alloc_f32(f, c, &d->bias, L, bias_row);
    for (int32_t il = 0; !rc && qwen && il < hp->n_layer; il++) {
        const ef_layer *l = &e->m->layers[il];
        const uint64_t base = (uint64_t)il * bias_row;
        if (l->bq) rc = upload_vec(f, c, e, d->bias, base, l->bq);
        if (!rc && l->bk) rc = upload_vec(f, c, e, d->bias, base + (uint64_t)e->q_dim, l->bk);
        if (!rc && l->bv) rc = upload_vec(f, c, e, d->bias, base + (uint64_t)e->q_dim + (uint64_t)e->kv_dim, l->bv);
    }
    if (rc || d->rows_cap == 0) return rc;
    d->k = ef_calloc((size_t)L, sizeof *d->k);
    d->v = ef_calloc((size_t)L, sizeof *d->v);
    if (!d->k || !d->v) return EF_ERR_NO_MEMORY;
    const uint64_t layer_bytes = (uint64_t)d->rows_cap * (uint64_t)e->kv_dim * d->kv_elt;
    for (int32_t il = 0; !rc && il < hp->n_layer; il++) {
        rc = f->buffer_alloc(c, layer_bytes, 0, &d->k[il]);
        if (!rc) rc = f->buffer_alloc(c, layer_bytes, 0, &d->v[il]);
    }
    return rc;
}

/* Decides once per binding whether the path serves e; logs the answer. */
static ef_status decide(ef_exec *e, ef_exec_backend *xb, const ef_be_iface *f, ef_be_ctx *c,
                        struct ef_fwd_device **out) {
    const char *bname = ef_exec_backend_of(xb)->name;
    struct ef_fwd_device *d = ef_calloc(1, sizeof *d);
    if (!d) return ef_err(EF_ERR_NO_MEMORY, "out of memory for the device-resident state");
    *out = d;
    d->n_layer = e->m->hp.n_layer;
    d->n_batch = e->n_batch;
    d->n_ctx = e->n_ctx;
    char buf[WHY_MAX];
    const char *why = why_not(e, f, c, ef_exec_backend_device_opts(xb), &d->kv_type, buf, sizeof buf);
    if (why) {
        go_host(d, f, c, why);
        EF_LOGI("backend '%s' runs the weight matmuls only, the rest on the host: %s", bname, why);
        return EF_OK;
    }
    d->kv_elt = d->kv_type == EF_BE_TYPE_F16 ? sizeof(uint16_t) : sizeof(float);
    /* the device budget bounds the rows of every layer's K and V together:
     * kv_device_budget when given, else the cache's hot tier (the backend's
     * memory, in the KV manager's terms), else n_ctx rows */
    const uint64_t row_all = 2u * (uint64_t)d->n_layer * (uint64_t)e->kv_dim * d->kv_elt;
    const ef_exec_device_opts *dopts = ef_exec_backend_device_opts(xb);
    const uint64_t budget = dopts->kv_budget_given ? dopts->kv_budget : ef_kvi_tier_budget(e->kv, EF_KV_TIER_HOT);
    d->rows_cap = d->n_ctx;
    if (budget > 0 && budget / row_all < (uint64_t)d->n_ctx) d->rows_cap = (int32_t)(budget / row_all);
    d->stage_rows = d->n_batch > STAGE_ROWS ? d->n_batch : STAGE_ROWS;
    d->stage = ef_malloc(sizeof(float) * (size_t)d->stage_rows * (size_t)e->kv_dim);
    d->stage_f32 = ef_malloc(sizeof(float) * (size_t)d->stage_rows * (size_t)e->kv_dim);
    if (!d->stage || !d->stage_f32) {
        go_host(d, f, c, "out of host memory for the device-resident state");
        return ef_err(EF_ERR_NO_MEMORY, "out of memory for the device-resident state");
    }
    int32_t rc = alloc_device(d, e, f, c);
    if (rc) {
        snprintf(buf, sizeof buf, "allocating its device buffers failed (%s)", ef_status_str(rc));
        go_host(d, f, c, buf);
        EF_LOGW("backend '%s' runs the weight matmuls only, the rest on the host: %s", bname, buf);
        return EF_OK;
    }
    d->state = 1;
    d->stats.state = 1;
    d->kv = NULL; /* nothing on the device yet */
    EF_LOGI("backend '%s' runs the whole forward pass: K/V %s on the device, %d of %d rows per layer%s", bname,
            d->kv_type == EF_BE_TYPE_F16 ? "F16" : "F32", (int)d->rows_cap, (int)d->n_ctx,
            d->rows_cap >= d->n_ctx     ? ""
            : dopts->kv_budget_given ? " (kv_device_budget: longer sequences attend on the host)"
                                     : " (the KV cache's hot-tier budget: longer sequences attend on the host)");
    return EF_OK;
}

/* ---- one chunk ----------------------------------------------------------- */

typedef struct run {
    ef_exec *e;
    struct ef_fwd_device *d;
    ef_exec_backend *xb;
    const ef_be_iface *f;
    ef_be_ctx *c;
    ef_pool *pool;
    int32_t n, n_past;
    int32_t on_device_attn; /* n_past + n ≤ rows_cap */
    int32_t host_failed;    /* the error is the host's (KV manager, cancel): return it, do not leave the device */
} run;

static ef_be_tensor tens(ef_be_buffer *b, uint64_t off, uint32_t type, int64_t ne0, int64_t ne1, int64_t ne2) {
    ef_be_tensor t = {b, off, type, ne2 > 1 ? 3 : 2, {ne0, ne1, ne2, 1}};
    return t;
}

static ef_status op_failed(int32_t rc, const char *op, int32_t il) {
    return ef_err(rc == EF_ERR_NO_MEMORY ? EF_ERR_NO_MEMORY : EF_ERR_BACKEND, "device op %s of layer %d failed (%s)",
                  op, (int)il, ef_status_str(rc));
}
#define DEV(call, op, il)                                  \
    do {                                                   \
        int32_t rc_ = (call);                              \
        if (rc_) return op_failed(rc_, op, il);            \
    } while (0)

static ef_status host_fail(run *r, ef_status st) {
    r->host_failed = 1;
    return st;
}

/* y {out, n} at byte yoff = x {in, n} at byte xoff · Wᵀ. */
static ef_status matmul(run *r, const ef_tensor *w, ef_be_buffer *x, uint64_t xoff, ef_be_buffer *y, uint64_t yoff,
                        int32_t n, int32_t il) {
    ef_status st = EF_OK;
    ef_be_buffer *wb = ef_exec_backend_weight(r->xb, w, &st);
    if (!wb) return st ? st : ef_err(EF_ERR_UNSUPPORTED, "the backend dropped weight '%s'", w->name);
    const ef_be_tensor wt = tens(wb, 0, w->type, w->ne[0], w->ne[1], 1);
    const ef_be_tensor xt = tens(x, xoff, EF_BE_TYPE_F32, w->ne[0], n, 1);
    const ef_be_tensor yt = tens(y, yoff, EF_BE_TYPE_F32, w->ne[1], n, 1);
    DEV(r->f->matmul(r->c, &wt, &xt, &yt), w->name, il);
    return EF_OK;
}

/* y rows {out} each += the bias at element boff of the bias buffer (v1 add has no broadcast). */
static ef_status add_bias(run *r, const ef_tensor *b, uint64_t boff, ef_be_buffer *y, uint64_t yoff, int32_t il) {
    if (!b) return EF_OK;
    const int64_t out = b->ne[0];
    const ef_be_tensor bt = tens(r->d->bias, boff * sizeof(float), EF_BE_TYPE_F32, out, 1, 1);
    for (int32_t t = 0; t < r->n; t++) {
        const ef_be_tensor yt = tens(y, yoff + (uint64_t)t * (uint64_t)out * sizeof(float), EF_BE_TYPE_F32, out, 1, 1);
        DEV(r->f->add(r->c, &yt, &bt), "bias add", il);
    }
    return EF_OK;
}

static ef_status rmsnorm(run *r, ef_be_buffer *x, uint64_t xoff, int32_t n, uint64_t norm_row, ef_be_buffer *y,
                         int32_t il) {
    const int64_t dim = r->e->m->hp.n_embd;
    const ef_be_tensor xt = tens(x, xoff, EF_BE_TYPE_F32, dim, n, 1);
    const ef_be_tensor wt = tens(r->d->norms, norm_row * (uint64_t)dim * sizeof(float), EF_BE_TYPE_F32, dim, 1, 1);
    const ef_be_tensor yt = tens(y, 0, EF_BE_TYPE_F32, dim, n, 1);
    DEV(r->f->rmsnorm(r->c, &xt, &wt, r->e->m->hp.norm_eps, &yt), "rmsnorm", il);
    return EF_OK;
}

static ef_status rope(run *r, ef_be_buffer *b, uint64_t off, int32_t n_heads, int32_t il) {
    const ef_model *m = r->e->m;
    const ef_hparams *hp = &m->hp;
    const ef_be_rope p = {hp->rope_mode == EF_ROPE_NEOX ? EF_BE_ROPE_NEOX : EF_BE_ROPE_NORM, hp->n_rot,
                          hp->rope_freq_base, hp->rope_freq_scale, m->rope_factors};
    ef_be_tensor t = tens(b, off, EF_BE_TYPE_F32, hp->head_dim, n_heads, r->n);
    t.n_dims = 3;
    DEV(r->f->rope(r->c, &t, r->n_past, &p), "rope", il);
    return EF_OK;
}

/* The host rows [n][kv_dim] of page type `type` in d->stage as the device type, ready to upload. */
static const void *stage_as_device(struct ef_fwd_device *d, uint32_t type, int32_t n, int32_t width) {
    if (type == d->kv_type) return d->stage;
    const uint16_t *h = d->stage; /* F16 pages, F32 device copy */
    for (int64_t i = 0; i < (int64_t)n * width; i++) d->stage_f32[i] = ef_f16_to_f32(h[i]);
    return d->stage_f32;
}

/* Device rows [row0, row1) of every layer ← the host pages. */
static ef_status upload_rows(run *r, int32_t row0, int32_t row1) {
    ef_exec *e = r->e;
    struct ef_fwd_device *d = r->d;
    const int32_t width = e->kv_dim;
    for (int32_t il = 0; il < d->n_layer; il++)
        for (int32_t which = 0; which < 2; which++)
            for (int32_t p = row0; p < row1;) {
                const int32_t m = row1 - p < d->stage_rows ? row1 - p : d->stage_rows;
                ef_status st = ef_kvi_read_rows(e->kv, e->kv_seq, il, which, p, m, d->stage); /* [m][kv_dim] */
                if (st) return host_fail(r, st);
                const void *src = stage_as_device(d, ef_kvi_type(e->kv, which), m, width);
                const uint64_t row_bytes = (uint64_t)width * d->kv_elt;
                DEV(r->f->buffer_upload(r->c, which ? d->v[il] : d->k[il], (uint64_t)p * row_bytes, src,
                                        (uint64_t)m * row_bytes),
                    "K/V upload", il);
                p += m;
            }
    d->stats.rows_uploaded += (uint64_t)(row1 - row0);
    return EF_OK;
}

/* Keeps the device rows that the sequence's epoch says are unchanged (a
 * rewind keeps those below it; a middle removal, a fork, a restore... keep
 * fewer or none), and makes rows [0, n_past) current on the device when this
 * chunk attends there. */
static ef_status sync_with_host(run *r) {
    ef_exec *e = r->e;
    struct ef_fwd_device *d = r->d;
    const int32_t p = r->n_past;
    int32_t kept = 0; /* leading device rows still equal to the host rows */
    if (d->kv == e->kv && d->seq == e->kv_seq) kept = ef_kvi_seq_rows_kept(e->kv, e->kv_seq, d->epoch);
    const int32_t needed = d->n_dev < p ? d->n_dev : p; /* device rows this chunk would have reused */
    if (kept < needed) d->stats.resyncs++;
    if (d->n_dev > kept) d->n_dev = kept;
    if (d->n_dev > p) d->n_dev = p; /* rows from n_past on are this chunk's to write */
    d->kv = e->kv;
    d->seq = e->kv_seq;
    d->epoch = ef_kvi_seq_epoch(e->kv, e->kv_seq);
    if (r->on_device_attn && d->n_dev < p) {
        ef_status st = upload_rows(r, d->n_dev, p);
        if (st) return st;
        d->n_dev = p;
    }
    return EF_OK;
}

/* This chunk's new K/V rows of every layer, from the device into the host
 * pages (write-through). */
static ef_status write_through(run *r) {
    ef_exec *e = r->e;
    struct ef_fwd_device *d = r->d;
    const int32_t n = r->n, width = e->kv_dim;
    const uint64_t row_bytes = (uint64_t)width * d->kv_elt;
    for (int32_t il = 0; il < d->n_layer; il++) {
        float *dst[2] = {e->k_new, e->v_new}; /* [n][kv_dim] F32 each */
        for (int32_t which = 0; which < 2; which++) {
            ef_be_buffer *b = which ? d->v[il] : d->k[il];
            void *raw = d->kv_type == EF_BE_TYPE_F32 ? (void *)dst[which] : d->stage;
            DEV(r->f->buffer_download(r->c, b, (uint64_t)r->n_past * row_bytes, raw, (uint64_t)n * row_bytes),
                "K/V download", il);
            if (d->kv_type == EF_BE_TYPE_F16) {
                const uint16_t *h = d->stage; /* [n][kv_dim] F16 */
                for (int64_t i = 0; i < (int64_t)n * width; i++) dst[which][i] = ef_f16_to_f32(h[i]);
            }
        }
        ef_status st = ef_kvi_write_rows(e->kv, e->kv_seq, il, r->n_past, n, e->k_new, e->v_new);
        if (st) return host_fail(r, st);
    }
    return EF_OK;
}

/* Attention of layer il with the host's kernel over the host pages
 * (past the device budget): k, v, q come down, the output goes up. */
static ef_status host_attention(run *r, int32_t il) {
    ef_exec *e = r->e;
    const int32_t n = r->n;
    const uint64_t kv_bytes = (uint64_t)n * (uint64_t)e->kv_dim * sizeof(float);
    const uint64_t q_bytes = (uint64_t)n * (uint64_t)e->q_dim * sizeof(float);
    DEV(r->f->buffer_download(r->c, r->d->kn, 0, e->k_new, kv_bytes), "K download", il); /* [n][kv_dim] */
    DEV(r->f->buffer_download(r->c, r->d->vn, 0, e->v_new, kv_bytes), "V download", il); /* [n][kv_dim] */
    DEV(r->f->buffer_download(r->c, r->d->q, 0, e->q, q_bytes), "Q download", il);       /* [n][q_dim] */
    ef_status st = ef_exec_kv_write(e, il, r->n_past, n, e->k_new, e->v_new);
    if (st) return host_fail(r, st);
    ef_exec_attend(e, r->pool, il, n, r->n_past, e->kv_rows[0], e->kv_rows[1]); /* [n][q_dim] */
    DEV(r->f->buffer_upload(r->c, r->d->att, 0, e->att, q_bytes), "attention upload", il);
    return EF_OK;
}

static ef_status attention_layer(run *r, int32_t il) {
    ef_exec *e = r->e;
    struct ef_fwd_device *d = r->d;
    const ef_hparams *hp = &e->m->hp;
    const ef_layer *l = &e->m->layers[il];
    const int32_t n = r->n;
    const uint64_t row_bytes = (uint64_t)e->kv_dim * d->kv_elt;
    /* F32 device cache: the projections write the cache rows directly */
    const int32_t direct = r->on_device_attn && d->kv_type == EF_BE_TYPE_F32;
    ef_be_buffer *kb = direct ? d->k[il] : d->kn, *vb = direct ? d->v[il] : d->vn;
    const uint64_t koff = direct ? (uint64_t)r->n_past * row_bytes : 0;
    const uint64_t bias_base = (uint64_t)il * ((uint64_t)e->q_dim + 2u * (uint64_t)e->kv_dim);
    ef_status st = rmsnorm(r, d->x, 0, n, (uint64_t)(2 * il), d->xn, il);
    if (!st) st = matmul(r, l->wq, d->xn, 0, d->q, 0, n, il);
    if (!st && d->bias) st = add_bias(r, l->bq, bias_base, d->q, 0, il);
    if (!st) st = matmul(r, l->wk, d->xn, 0, kb, koff, n, il);
    if (!st && d->bias) st = add_bias(r, l->bk, bias_base + (uint64_t)e->q_dim, kb, koff, il);
    if (!st) st = matmul(r, l->wv, d->xn, 0, vb, koff, n, il);
    if (!st && d->bias) st = add_bias(r, l->bv, bias_base + (uint64_t)e->q_dim + (uint64_t)e->kv_dim, vb, koff, il);
    if (!st) st = rope(r, d->q, 0, hp->n_head, il);
    if (!st) st = rope(r, kb, koff, hp->n_head_kv, il);
    if (st) return st;
    if (!r->on_device_attn) {
        st = host_attention(r, il);
    } else {
        if (!direct) { /* F16 device cache: convert the new rows into it */
            const int64_t count = (int64_t)n * e->kv_dim;
            const ef_be_tensor ks = tens(d->kn, 0, EF_BE_TYPE_F32, count, 1, 1);
            const ef_be_tensor vs = tens(d->vn, 0, EF_BE_TYPE_F32, count, 1, 1);
            const ef_be_tensor kd = tens(d->k[il], (uint64_t)r->n_past * row_bytes, d->kv_type, count, 1, 1);
            const ef_be_tensor vd = tens(d->v[il], (uint64_t)r->n_past * row_bytes, d->kv_type, count, 1, 1);
            DEV(r->f->convert(r->c, &ks, &kd), "K convert", il);
            DEV(r->f->convert(r->c, &vs, &vd), "V convert", il);
        }
        /* the scale forward.c's kernel uses: 1/sqrt(head_dim), or kq_scale under YaRN */
        const int32_t yarn = hp->yarn_factor > 0.0f && hp->yarn_log_mul > 0.0f;
        const ef_be_attn a = {n, r->n_past, hp->n_head, hp->n_head_kv, hp->head_dim,
                              yarn ? hp->kq_scale : 1.0f / sqrtf((float)hp->head_dim)};
        const ef_be_tensor qt = tens(d->q, 0, EF_BE_TYPE_F32, e->q_dim, n, 1);
        const ef_be_tensor kt = tens(d->k[il], 0, d->kv_type, e->kv_dim, d->rows_cap, 1);
        const ef_be_tensor vt = tens(d->v[il], 0, d->kv_type, e->kv_dim, d->rows_cap, 1);
        const ef_be_tensor ot = tens(d->att, 0, EF_BE_TYPE_F32, e->q_dim, n, 1);
        DEV(r->f->flash_attn(r->c, &a, &qt, &kt, &vt, &ot), "flash_attn", il);
    }
    if (!st) st = matmul(r, l->wo, d->att, 0, d->xn, 0, n, il);
    if (st) return st;
    const ef_be_tensor xt = tens(d->x, 0, EF_BE_TYPE_F32, hp->n_embd, n, 1);
    const ef_be_tensor ot = tens(d->xn, 0, EF_BE_TYPE_F32, hp->n_embd, n, 1);
    DEV(r->f->add(r->c, &xt, &ot), "residual add", il);
    return EF_OK;
}

static ef_status ffn_layer(run *r, int32_t il) {
    struct ef_fwd_device *d = r->d;
    const ef_hparams *hp = &r->e->m->hp;
    const ef_layer *l = &r->e->m->layers[il];
    const int32_t n = r->n;
    ef_status st = rmsnorm(r, d->x, 0, n, (uint64_t)(2 * il + 1), d->xn, il);
    if (!st) st = matmul(r, l->ffn_gate, d->xn, 0, d->gate, 0, n, il);
    if (!st) st = matmul(r, l->ffn_up, d->xn, 0, d->up, 0, n, il);
    if (st) return st;
    const int32_t n_ff = ef_layer_n_ff(l); /* this layer's width (masks may keep fewer) */
    const ef_be_tensor g = tens(d->gate, 0, EF_BE_TYPE_F32, n_ff, n, 1);
    const ef_be_tensor u = tens(d->up, 0, EF_BE_TYPE_F32, n_ff, n, 1);
    DEV(r->f->swiglu(r->c, &g, &u, &g), "swiglu", il);
    st = matmul(r, l->ffn_down, d->gate, 0, d->xn, 0, n, il);
    if (st) return st;
    const ef_be_tensor xt = tens(d->x, 0, EF_BE_TYPE_F32, hp->n_embd, n, 1);
    const ef_be_tensor ot = tens(d->xn, 0, EF_BE_TYPE_F32, hp->n_embd, n, 1);
    DEV(r->f->add(r->c, &xt, &ot), "residual add", il);
    return EF_OK;
}

/* logits [n_out][n_vocab] of the wanted rows (all, or the last). */
static ef_status output_head(run *r, int32_t all_logits, float *logits) {
    ef_exec *e = r->e;
    struct ef_fwd_device *d = r->d;
    const ef_hparams *hp = &e->m->hp;
    const int32_t first = all_logits ? 0 : r->n - 1, n_out = r->n - first;
    const int32_t L = d->n_layer;
    if (d->logit_rows < n_out) {
        if (d->logits) r->f->buffer_free(r->c, d->logits);
        d->logits = NULL;
        d->logit_rows = 0;
        DEV(alloc_f32(r->f, r->c, &d->logits, (uint64_t)n_out, (uint64_t)hp->n_vocab), "logits alloc", L);
        d->logit_rows = n_out;
    }
    ef_status st = rmsnorm(r, d->x, (uint64_t)first * (uint64_t)hp->n_embd * sizeof(float), n_out, (uint64_t)(2 * L),
                           d->xn, L);
    if (!st) st = matmul(r, e->m->output, d->xn, 0, d->logits, 0, n_out, L);
    if (st) return st;
    DEV(r->f->buffer_download(r->c, d->logits, 0, logits, (uint64_t)n_out * (uint64_t)hp->n_vocab * sizeof(float)),
        "logits download", L);
    return EF_OK;
}

static ef_status run_chunk(run *r, const int32_t *tokens, int32_t all_logits, float *logits, const atomic_int *cancel) {
    ef_exec *e = r->e;
    struct ef_fwd_device *d = r->d;
    const ef_hparams *hp = &e->m->hp;
    ef_status st = sync_with_host(r);
    if (st) return st;
    ef_cpu_get_rows(e->m->tok_embd, tokens, r->n, e->x); /* [n][n_embd] */
    DEV(r->f->buffer_upload(r->c, d->x, 0, e->x, (uint64_t)r->n * (uint64_t)hp->n_embd * sizeof(float)),
        "embedding upload", 0);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        if (cancel && atomic_load(cancel))
            return host_fail(r, ef_err(EF_ERR_CANCELLED, "the forward pass was cancelled at layer %d", (int)il));
        st = attention_layer(r, il);
        if (!st) st = ffn_layer(r, il);
        if (st) return st;
    }
    if (r->on_device_attn) st = write_through(r); /* else host_attention wrote the host pages */
    if (!st) st = output_head(r, all_logits, logits);
    if (st) return st;
    if (r->on_device_attn) d->n_dev = r->n_past + r->n;
    d->epoch = ef_kvi_seq_epoch(e->kv, e->kv_seq); /* the first write gives a new sequence its epoch */
    ef_exec_backend_count(r->xb, 7u * (uint64_t)hp->n_layer + 1u);
    d->stats.chunks++;
    d->stats.host_attn_chunks += !r->on_device_attn;
    return EF_OK;
}

ef_status ef_fwd_device_chunk(ef_exec *e, ef_pool *pool, const int32_t *tokens, int32_t n, int32_t n_past,
                              int32_t all_logits, float *logits, const atomic_int *cancel, int32_t *ran) {
    *ran = 0;
    ef_exec_backend *xb = e->backend;
    if (!xb) return EF_OK;
    struct ef_fwd_device **slot = ef_exec_backend_device_slot(xb);
    if (*slot && (*slot)->state < 0) return EF_OK;
    const ef_be_iface *f = &ef_exec_backend_of(xb)->iface;
    ef_exec_backend_lock(xb);
    ef_be_ctx *c = ef_exec_backend_ctx(xb);
    if (!*slot && decide(e, xb, f, c, slot) != EF_OK) ef_err_clear(); /* no state: the host path */
    struct ef_fwd_device *d = *slot;
    if (!d || d->state < 0 || n > d->n_batch || !e->kv) {
        ef_exec_backend_unlock(xb);
        return EF_OK;
    }
    run r = {e, d, xb, f, c, pool, n, n_past, n_past + n <= d->rows_cap, 0};
    ef_status st = run_chunk(&r, tokens, all_logits, logits, cancel);
    if (st && !r.host_failed) {
        char why[WHY_MAX];
        snprintf(why, sizeof why, "%s", ef_err_msg());
        go_host(d, f, c, why);
        EF_LOGW("backend '%s': the device-resident forward pass failed (%s); the session continues with the weight "
                "matmuls only on the backend", ef_exec_backend_of(xb)->name, why);
        ef_err_clear();
        ef_exec_backend_unlock(xb);
        return EF_OK; /* the host path reruns the chunk: rows from n_past on are written again */
    }
    if (st && d->n_dev > n_past) d->n_dev = n_past; /* the host's error: rows past n_past are not trusted */
    ef_exec_backend_unlock(xb);
    *ran = 1;
    return st;
}

void ef_fwd_device_stats_of(ef_exec_backend *xb, ef_fwd_device_stats *out) {
    memset(out, 0, sizeof *out);
    out->why = "";
    if (!xb) return;
    struct ef_fwd_device *d = *ef_exec_backend_device_slot(xb);
    if (!d) return;
    *out = d->stats;
    out->why = d->state < 0 ? d->why : "";
    out->kv_type = d->kv_type;
    out->rows_cap = d->rows_cap;
}
