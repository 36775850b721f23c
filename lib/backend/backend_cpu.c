/* The built-in "cpu" backend behind the plugin table: buffers are host
 * memory and every op runs the kernels of backends/cpu (SIMD where the
 * processor has it, else the reference). It is what the conformance suite
 * compares plugins against; sessions on cpu call the kernels directly. */
#include "backend/backend_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/fp16.h"
#include "base/threadpool.h"
#include "cpu/cpu_features.h"
#include "cpu/cpu_ops.h"
#include "quant/types.h"

struct ef_be_ctx {
    ef_pool *pool;     /* compute threads */
    float *scratch;    /* [scratch_floats] flash-attention scratch + split-KV partials */
    size_t scratch_floats;
};

struct ef_be_buffer {
    uint8_t *data; /* [size] host memory */
    uint64_t size;
};

static int32_t cpu_probe(const ef_be_host *host, ef_be_probe *out) {
    (void)host;
    memset(out, 0, sizeof *out);
    out->available = 1;
    out->score = 100;
    out->memory = ef_host_memory();
    out->caps = EF_BE_CAP_HOST_MEMORY;
    snprintf(out->device, sizeof out->device, "host CPU, %d cores (%s kernels)", (int)ef_num_cores(),
             ef_cpu_simd_name(ef_cpu_simd_active()));
    return EF_OK;
}

static int32_t cpu_init(const ef_be_host *host, const ef_be_option *opts, int32_t n_opts, ef_be_ctx **out,
                        char *err, size_t err_cap) {
    (void)host;
    *out = NULL;
    int32_t n_threads = 1;
    for (int32_t i = 0; i < n_opts; i++) {
        if (err && err_cap) snprintf(err, err_cap, "the cpu backend has no option '%s'", opts[i].key);
        return ef_err(EF_ERR_INVALID_ARG, "the cpu backend has no option '%s'", opts[i].key);
    }
    ef_be_ctx *c = ef_calloc(1, sizeof *c);
    if (!c) return ef_err(EF_ERR_NO_MEMORY, "out of memory creating a cpu backend context");
    ef_status st = ef_pool_create(n_threads, &c->pool);
    if (st != EF_OK) {
        ef_free(c);
        return st;
    }
    *out = c;
    return EF_OK;
}

static void cpu_shutdown(ef_be_ctx *c) {
    if (!c) return;
    ef_pool_free(c->pool);
    ef_free(c->scratch);
    ef_free(c);
}

static int32_t cpu_set_threads(ef_be_ctx *c, int32_t n_threads) {
    if (n_threads < 1) n_threads = ef_num_cores();
    if (ef_pool_size(c->pool) == n_threads) return EF_OK;
    ef_pool *p = NULL;
    ef_status st = ef_pool_create(n_threads, &p);
    if (st != EF_OK) return st; /* keeps the old pool */
    ef_pool_free(c->pool);
    c->pool = p;
    return EF_OK;
}

static int32_t cpu_buffer_alloc(ef_be_ctx *c, uint64_t bytes, uint32_t flags, ef_be_buffer **out) {
    (void)c;
    (void)flags;
    *out = NULL;
    if (bytes > SIZE_MAX) return ef_err(EF_ERR_NO_MEMORY, "a buffer of %llu bytes exceeds the address space",
                                        (unsigned long long)bytes);
    ef_be_buffer *b = ef_calloc(1, sizeof *b);
    if (!b) return ef_err(EF_ERR_NO_MEMORY, "out of memory allocating a buffer header");
    b->data = ef_malloc(bytes ? (size_t)bytes : 1);
    if (!b->data) {
        ef_free(b);
        return ef_err(EF_ERR_NO_MEMORY, "out of memory allocating a buffer of %llu bytes", (unsigned long long)bytes);
    }
    b->size = bytes;
    *out = b;
    return EF_OK;
}

static void cpu_buffer_free(ef_be_ctx *c, ef_be_buffer *b) {
    (void)c;
    if (!b) return;
    ef_free(b->data);
    ef_free(b);
}

static int range_ok(const ef_be_buffer *b, uint64_t offset, uint64_t bytes) {
    return b && offset <= b->size && bytes <= b->size - offset;
}

static int32_t cpu_upload(ef_be_ctx *c, ef_be_buffer *b, uint64_t offset, const void *src, uint64_t bytes) {
    (void)c;
    if (!range_ok(b, offset, bytes))
        return ef_err(EF_ERR_INVALID_ARG, "upload of %llu bytes at %llu runs past the buffer",
                      (unsigned long long)bytes, (unsigned long long)offset);
    if (bytes) memcpy(b->data + offset, src, (size_t)bytes);
    return EF_OK;
}

static int32_t cpu_download(ef_be_ctx *c, ef_be_buffer *b, uint64_t offset, void *dst, uint64_t bytes) {
    (void)c;
    if (!range_ok(b, offset, bytes))
        return ef_err(EF_ERR_INVALID_ARG, "download of %llu bytes at %llu runs past the buffer",
                      (unsigned long long)bytes, (unsigned long long)offset);
    if (bytes) memcpy(dst, b->data + offset, (size_t)bytes);
    return EF_OK;
}

static void *cpu_map(ef_be_ctx *c, ef_be_buffer *b) {
    (void)c;
    return b ? b->data : NULL;
}

static int32_t cpu_unmap(ef_be_ctx *c, ef_be_buffer *b) {
    (void)c;
    (void)b;
    return EF_OK;
}

static int32_t cpu_sync(ef_be_ctx *c) {
    (void)c;
    return EF_OK;
}

/* Types the kernels compute with: everything with a to_float. */
static int computable(uint32_t type) {
    const ef_type_info *ti = ef_type_get(type);
    return ti && ti->to_float;
}

static int32_t cpu_supports(ef_be_ctx *c, uint32_t op, uint32_t type) {
    (void)c;
    switch (op) {
    case EF_BE_OP_MATMUL:
    case EF_BE_OP_GET_ROWS:
        return computable(type);
    case EF_BE_OP_CONVERT:
        return computable(type); /* to F32; F32 → F16 as well */
    case EF_BE_OP_FLASH_ATTN:
        return type == EF_TYPE_F32 || type == EF_TYPE_F16;
    case EF_BE_OP_RMSNORM:
    case EF_BE_OP_ROPE:
    case EF_BE_OP_SWIGLU:
    case EF_BE_OP_ADD:
    case EF_BE_OP_SCALE:
    case EF_BE_OP_SOFTMAX:
        return type == EF_TYPE_F32;
    default:
        return 0;
    }
}

/* ---- tensors as host pointers -------------------------------------------- */

static int64_t n_elements(const ef_be_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < 4; d++) n *= t->ne[d] > 0 ? t->ne[d] : 1;
    return n;
}

static uint64_t tensor_bytes(const ef_be_tensor *t) {
    int64_t rows = n_elements(t) / (t->ne[0] > 0 ? t->ne[0] : 1);
    return ef_type_row_size(t->type, t->ne[0]) * (uint64_t)rows;
}

/* The tensor's bytes in its buffer, or NULL (with an error) if they do not fit. */
static void *tensor_ptr(const ef_be_tensor *t, const char *what, ef_status *st) {
    uint64_t bytes = tensor_bytes(t);
    if (!t->buf || bytes == 0 || !range_ok(t->buf, t->offset, bytes)) {
        *st = ef_err(EF_ERR_INVALID_ARG, "%s: %llu bytes at offset %llu do not fit its buffer (type %s)", what,
                     (unsigned long long)bytes, (unsigned long long)t->offset, ef_type_name(t->type));
        return NULL;
    }
    return t->buf->data + t->offset;
}

static float *f32_ptr(const ef_be_tensor *t, const char *what, ef_status *st) {
    if (t->type != EF_TYPE_F32) {
        *st = ef_err(EF_ERR_UNSUPPORTED, "%s must be F32, not %s", what, ef_type_name(t->type));
        return NULL;
    }
    return tensor_ptr(t, what, st);
}

/* A weight as the kernels take it. */
static int weight_view(const ef_be_tensor *w, ef_tensor *out, ef_status *st) {
    if (!computable(w->type)) {
        *st = ef_err(EF_ERR_UNSUPPORTED, "weights of type %s are not supported", ef_type_name(w->type));
        return 0;
    }
    const void *data = tensor_ptr(w, "weight", st);
    if (!data) return 0;
    memset(out, 0, sizeof *out);
    out->name = "backend weight";
    out->type = w->type;
    out->n_dims = 2;
    out->ne[0] = w->ne[0];
    out->ne[1] = n_elements(w) / w->ne[0];
    out->ne[2] = out->ne[3] = 1;
    out->data = data;
    out->nbytes = tensor_bytes(w);
    return 1;
}

static int32_t cpu_matmul(ef_be_ctx *c, const ef_be_tensor *w, const ef_be_tensor *x, const ef_be_tensor *y) {
    ef_status st = EF_OK;
    ef_tensor wt;
    if (!weight_view(w, &wt, &st)) return st;
    const float *xp = f32_ptr(x, "matmul input", &st);  /* [n][in] */
    float *yp = f32_ptr(y, "matmul output", &st);       /* [n][out] */
    if (!xp || !yp) return st;
    int64_t n = n_elements(x) / x->ne[0];
    if (x->ne[0] != wt.ne[0] || y->ne[0] != wt.ne[1] || n_elements(y) / y->ne[0] != n || n > INT32_MAX)
        return ef_err(EF_ERR_INVALID_ARG, "matmul shapes disagree: W {%lld, %lld}, x {%lld, %lld}, y {%lld, %lld}",
                      (long long)wt.ne[0], (long long)wt.ne[1], (long long)x->ne[0], (long long)n,
                      (long long)y->ne[0], (long long)(n_elements(y) / y->ne[0]));
    ef_cpu_matmul(c->pool, &wt, xp, (int32_t)n, yp);
    return EF_OK;
}

static int32_t cpu_get_rows(ef_be_ctx *c, const ef_be_tensor *w, const int32_t *ids, int32_t n,
                            const ef_be_tensor *y) {
    (void)c;
    ef_status st = EF_OK;
    ef_tensor wt;
    if (!weight_view(w, &wt, &st)) return st;
    float *yp = f32_ptr(y, "get_rows output", &st); /* [n][dim] */
    if (!yp) return st;
    if (y->ne[0] != wt.ne[0] || n_elements(y) < (int64_t)n * wt.ne[0])
        return ef_err(EF_ERR_INVALID_ARG, "get_rows output {%lld, ...} does not hold %d rows of %lld",
                      (long long)y->ne[0], (int)n, (long long)wt.ne[0]);
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= wt.ne[1])
            return ef_err(EF_ERR_INVALID_ARG, "get_rows: id %d outside 0..%lld", (int)ids[i], (long long)wt.ne[1] - 1);
    ef_cpu_get_rows(&wt, ids, n, yp);
    return EF_OK;
}

static int32_t cpu_rmsnorm(ef_be_ctx *c, const ef_be_tensor *x, const ef_be_tensor *w, float eps,
                           const ef_be_tensor *y) {
    (void)c;
    ef_status st = EF_OK;
    const float *xp = f32_ptr(x, "rmsnorm input", &st); /* [rows][dim] */
    const float *wp = f32_ptr(w, "rmsnorm weight", &st); /* [dim] */
    float *yp = f32_ptr(y, "rmsnorm output", &st);       /* [rows][dim] */
    if (!xp || !wp || !yp) return st;
    int64_t rows = n_elements(x) / x->ne[0];
    if (w->ne[0] != x->ne[0] || n_elements(y) != n_elements(x) || rows > INT32_MAX)
        return ef_err(EF_ERR_INVALID_ARG, "rmsnorm shapes disagree");
    ef_cpu_rmsnorm(xp, wp, (int32_t)rows, (int32_t)x->ne[0], eps, yp);
    return EF_OK;
}

static int32_t cpu_rope(ef_be_ctx *c, const ef_be_tensor *x, int32_t pos0, const ef_be_rope *p) {
    (void)c;
    ef_status st = EF_OK;
    float *xp = f32_ptr(x, "rope input", &st); /* [n_tok][n_heads][head_dim] */
    if (!xp) return st;
    if (p->n_rot < 0 || p->n_rot % 2 || p->n_rot > x->ne[0] || x->ne[1] > INT32_MAX || x->ne[2] > INT32_MAX)
        return ef_err(EF_ERR_INVALID_ARG, "rope: n_rot %d does not fit head_dim %lld", (int)p->n_rot,
                      (long long)x->ne[0]);
    ef_rope_params rp = {p->mode == EF_BE_ROPE_NEOX ? EF_ROPE_NEOX : EF_ROPE_NORM, p->n_rot, p->freq_base,
                         p->freq_scale, p->freq_factors};
    int64_t n_tok = n_elements(x) / (x->ne[0] * x->ne[1]);
    ef_cpu_rope(xp, (int32_t)n_tok, (int32_t)x->ne[1], (int32_t)x->ne[0], pos0, &rp);
    return EF_OK;
}

static int32_t cpu_swiglu(ef_be_ctx *c, const ef_be_tensor *gate, const ef_be_tensor *up, const ef_be_tensor *out) {
    (void)c;
    ef_status st = EF_OK;
    const float *g = f32_ptr(gate, "swiglu gate", &st); /* [n] */
    const float *u = f32_ptr(up, "swiglu up", &st);     /* [n] */
    float *o = f32_ptr(out, "swiglu output", &st);      /* [n] */
    if (!g || !u || !o) return st;
    int64_t n = n_elements(gate);
    if (n_elements(up) != n || n_elements(out) != n) return ef_err(EF_ERR_INVALID_ARG, "swiglu sizes disagree");
    ef_cpu_swiglu(g, u, o, n);
    return EF_OK;
}

static int32_t cpu_add(ef_be_ctx *c, const ef_be_tensor *y, const ef_be_tensor *x) {
    (void)c;
    ef_status st = EF_OK;
    float *yp = f32_ptr(y, "add output", &st);      /* [n] */
    const float *xp = f32_ptr(x, "add input", &st); /* [n] */
    if (!yp || !xp) return st;
    if (n_elements(x) != n_elements(y)) return ef_err(EF_ERR_INVALID_ARG, "add sizes disagree");
    ef_cpu_add(yp, xp, n_elements(y));
    return EF_OK;
}

static int32_t cpu_scale(ef_be_ctx *c, const ef_be_tensor *y, float s) {
    (void)c;
    ef_status st = EF_OK;
    float *yp = f32_ptr(y, "scale input", &st); /* [n] */
    if (!yp) return st;
    for (int64_t i = 0, n = n_elements(y); i < n; i++) yp[i] *= s;
    return EF_OK;
}

static int32_t cpu_softmax(ef_be_ctx *c, const ef_be_tensor *x) {
    (void)c;
    ef_status st = EF_OK;
    float *xp = f32_ptr(x, "softmax input", &st); /* [rows][ne0] */
    if (!xp) return st;
    int64_t dim = x->ne[0], rows = n_elements(x) / dim;
    for (int64_t r = 0; r < rows; r++) {
        float *row = xp + r * dim; /* [dim] */
        float mx = row[0];
        for (int64_t i = 1; i < dim; i++) mx = row[i] > mx ? row[i] : mx;
        double sum = 0;
        for (int64_t i = 0; i < dim; i++) {
            row[i] = expf(row[i] - mx);
            sum += row[i];
        }
        for (int64_t i = 0; i < dim; i++) row[i] = (float)(row[i] / sum);
    }
    return EF_OK;
}

static int32_t cpu_convert(ef_be_ctx *c, const ef_be_tensor *src, const ef_be_tensor *dst) {
    (void)c;
    ef_status st = EF_OK;
    int64_t n = n_elements(src);
    if (n_elements(dst) != n) return ef_err(EF_ERR_INVALID_ARG, "convert: element counts disagree");
    if (dst->type == EF_TYPE_F16 && src->type == EF_TYPE_F32) {
        const float *s = tensor_ptr(src, "convert source", &st); /* [n] */
        uint16_t *d = tensor_ptr(dst, "convert destination", &st); /* [n] */
        if (!s || !d) return st;
        for (int64_t i = 0; i < n; i++) d[i] = ef_f32_to_f16(s[i]);
        return EF_OK;
    }
    if (dst->type != EF_TYPE_F32 || !computable(src->type))
        return ef_err(EF_ERR_UNSUPPORTED, "convert %s → %s is not supported", ef_type_name(src->type),
                      ef_type_name(dst->type));
    const void *s = tensor_ptr(src, "convert source", &st);
    float *d = tensor_ptr(dst, "convert destination", &st); /* [n] */
    if (!s || !d) return st;
    ef_type_get(src->type)->to_float(s, d, n);
    return EF_OK;
}

/* Grows the context's attention scratch to `floats`. */
static ef_status reserve_scratch(ef_be_ctx *c, size_t floats) {
    if (floats <= c->scratch_floats) return EF_OK;
    float *s = ef_malloc(floats * sizeof(float));
    if (!s) return ef_err(EF_ERR_NO_MEMORY, "out of memory for %llu floats of attention scratch",
                          (unsigned long long)floats);
    ef_free(c->scratch);
    c->scratch = s;
    c->scratch_floats = floats;
    return EF_OK;
}

static int32_t cpu_flash_attn(ef_be_ctx *c, const ef_be_attn *a, const ef_be_tensor *q, const ef_be_tensor *k,
                              const ef_be_tensor *v, const ef_be_tensor *out) {
    ef_status st = EF_OK;
    if (a->n_tok < 1 || a->n_past < 0 || a->n_head < 1 || a->n_head_kv < 1 || a->head_dim < 1 ||
        a->n_head % a->n_head_kv)
        return ef_err(EF_ERR_INVALID_ARG, "flash_attn: bad shape");
    if (k->type != v->type || (k->type != EF_TYPE_F32 && k->type != EF_TYPE_F16))
        return ef_err(EF_ERR_UNSUPPORTED, "flash_attn: K and V must both be F32 or F16");
    const float *qp = f32_ptr(q, "flash_attn q", &st); /* [n_tok][n_head*head_dim] */
    float *op = f32_ptr(out, "flash_attn out", &st);   /* [n_tok][n_head*head_dim] */
    const void *kp = tensor_ptr(k, "flash_attn k", &st); /* [n_ctx][n_head_kv*head_dim] */
    const void *vp = tensor_ptr(v, "flash_attn v", &st); /* [n_ctx][n_head_kv*head_dim] */
    if (!qp || !op || !kp || !vp) return st;
    int64_t kv_rows = n_elements(k) / ((int64_t)a->n_head_kv * a->head_dim);
    if ((int64_t)a->n_past + a->n_tok > kv_rows || n_elements(q) < (int64_t)a->n_tok * a->n_head * a->head_dim)
        return ef_err(EF_ERR_INVALID_ARG, "flash_attn: the cache or the queries are too small for the shape");
    ef_attn_shape s = {a->n_tok, a->n_past, a->n_head, a->n_head_kv, a->head_dim};
    size_t per = ef_cpu_flash_scratch_floats(&s) * (size_t)ef_pool_size(c->pool);
    size_t partial = ef_cpu_flash_partial_floats(&s, a->n_past + a->n_tok, EF_FLASH_DECODE_MAX_TOK);
    st = reserve_scratch(c, per + partial);
    if (st) return st;
    const void *k_page = NULL, *v_page = NULL; /* the one page of each contiguous cache */
    ef_kv_view kv;
    kv.k = ef_kv_rows_contiguous(k->type, a->n_head_kv * a->head_dim, kv_rows, kp, &k_page);
    kv.v = ef_kv_rows_contiguous(v->type, a->n_head_kv * a->head_dim, kv_rows, vp, &v_page);
    /* the kernel scales by 1/sqrt(head_dim); other scales go into q */
    float native = 1.0f / sqrtf((float)a->head_dim);
    if (fabsf(a->scale - native) > 1e-7f * native) {
        int64_t nq = (int64_t)a->n_tok * a->n_head * a->head_dim;
        float *qs = ef_malloc((size_t)nq * sizeof(float)); /* [n_tok][n_head*head_dim] */
        if (!qs) return ef_err(EF_ERR_NO_MEMORY, "out of memory scaling queries");
        for (int64_t i = 0; i < nq; i++) qs[i] = qp[i] * (a->scale / native);
        ef_cpu_flash_attn(c->pool, &s, qs, &kv, c->scratch, c->scratch + per, op);
        ef_free(qs);
        return EF_OK;
    }
    ef_cpu_flash_attn(c->pool, &s, qp, &kv, c->scratch, c->scratch + per, op);
    return EF_OK;
}

void ef_backend_cpu_iface(ef_be_iface *f) {
    memset(f, 0, sizeof *f);
    f->abi_version = EF_BACKEND_ABI_VERSION;
    f->size = (uint32_t)sizeof *f;
    f->name = "cpu";
    f->probe = cpu_probe;
    f->init = cpu_init;
    f->shutdown = cpu_shutdown;
    f->set_threads = cpu_set_threads;
    f->buffer_alloc = cpu_buffer_alloc;
    f->buffer_free = cpu_buffer_free;
    f->buffer_upload = cpu_upload;
    f->buffer_download = cpu_download;
    f->buffer_map = cpu_map;
    f->buffer_unmap = cpu_unmap;
    f->synchronize = cpu_sync;
    f->supports = cpu_supports;
    f->matmul = cpu_matmul;
    f->get_rows = cpu_get_rows;
    f->rmsnorm = cpu_rmsnorm;
    f->rope = cpu_rope;
    f->swiglu = cpu_swiglu;
    f->add = cpu_add;
    f->scale = cpu_scale;
    f->softmax = cpu_softmax;
    f->convert = cpu_convert;
    f->flash_attn = cpu_flash_attn;
}
