/* Attention with unequal K/V head sizes, an explicit scale, a window with
 * sinks and a ring-buffer cache (see mla_ops.h), and the weight views and
 * transposed matmul the MLA graphs use. Plain C reference kernels; the
 * tiled SIMD attention (attn_ext_tile.c) takes over where the CPU has it. */
#include <math.h>
#include <string.h>

#include "cpu/attn_ext_tile.h"
#include "cpu/mla_ops.h"
#include "quant/types.h"

typedef struct {
    const ef_attn_ext *a;
    ef_kv_load_fn load; /* F16/Q8_0/Q4_0 rows, picked once per call */
    const float *q;
    float *scratch;
    float *out;
    int64_t per_worker;
} attn_job;

/* Columns col0 .. col0+n of cache row `row` as F32: in place for F32,
 * else converted or dequantized into dst[n]. */
static const float *load_row(ef_kv_load_fn load, const ef_kv_rows *r, int64_t row, int32_t col0, int32_t n,
                             float *dst) {
    if (r->type == EF_TYPE_F32) return (const float *)ef_kv_row(r, row) + col0;
    load(r, row, 1, col0, n, dst, n);
    return dst;
}

/* K and V heads are the very same elements (MLA absorbed: V is K's latent
 * row), so one load serves both. */
static int same_heads(const ef_attn_ext *a) {
    return a->dk == a->dv && a->k.type == a->v.type && a->k.pages == a->v.pages &&
           a->k.page_rows == a->v.page_rows && a->k.row_bytes == a->v.row_bytes;
}

/* q·k in eight interleaved partial sums (a fixed order the compiler can
 * vectorize), then summed pairwise. */
static float dot(const float *q, const float *k, int32_t n) {
    float p[8] = {0};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int32_t j = 0; j < 8; j++) p[j] += q[i + j] * k[i + j];
    for (int32_t j = 0; i < n; i++, j++) p[j] += q[i] * k[i];
    return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
}

/* Token t, the `group` query heads of KV head g: every visible position is
 * loaded once and folded into each head's online softmax in order. */
static void attn_group(const ef_attn_ext *a, ef_kv_load_fn load, int32_t t, int32_t g, const float *q, float *kbuf,
                       float *vbuf, float *acc, float *ms, float *out) {
    const int32_t group = a->n_head / a->n_head_kv;
    const int shared = same_heads(a);
    const int64_t pos = (int64_t)a->n_past + t;
    int64_t first = 0;
    if (a->window > 0 && pos - a->window + 1 > 0) first = pos - a->window + 1;
    float *m = ms, *s = ms + group; /* [group] running max, [group] running sum */
    for (int32_t j = 0; j < group; j++) {
        m[j] = -INFINITY;
        s[j] = 0.0f;
    }
    memset(acc, 0, sizeof(float) * (size_t)group * (size_t)a->dv);
    for (int64_t p = 0; p <= pos; p++) {
        if (p < first && p >= a->n_sinks) {
            p = first - 1; /* skip to the window */
            continue;
        }
        const int64_t row = ef_attn_ring_row(p, a->ring_rows, a->n_sinks);
        const float *k = load_row(load, &a->k, row, g * a->dk, a->dk, kbuf);                /* [dk] */
        const float *v = shared ? k : load_row(load, &a->v, row, g * a->dv, a->dv, vbuf); /* [dv] */
        for (int32_t j = 0; j < group; j++) {
            const float score = dot(q + (int64_t)j * a->dk, k, a->dk) * a->scale;
            float *o = acc + (int64_t)j * a->dv;
            if (score > m[j]) {
                const float c = expf(m[j] - score); /* 0 on the first position */
                for (int32_t i = 0; i < a->dv; i++) o[i] = o[i] * c + v[i];
                s[j] = s[j] * c + 1.0f;
                m[j] = score;
            } else {
                const float w = expf(score - m[j]);
                for (int32_t i = 0; i < a->dv; i++) o[i] += w * v[i];
                s[j] += w;
            }
        }
    }
    for (int32_t j = 0; j < group; j++) {
        const float inv = 1.0f / s[j];
        for (int32_t i = 0; i < a->dv; i++) out[(int64_t)j * a->dv + i] = acc[(int64_t)j * a->dv + i] * inv;
    }
}

static void attn_worker(void *ctx, int32_t ith, int32_t nth) {
    const attn_job *job = ctx;
    const ef_attn_ext *a = job->a;
    const int32_t group = a->n_head / a->n_head_kv;
    float *kbuf = job->scratch + (int64_t)ith * job->per_worker; /* [dk] */
    float *vbuf = kbuf + a->dk;                                    /* [dv] */
    float *acc = vbuf + a->dv;                                     /* [group][dv] */
    float *ms = acc + (int64_t)group * a->dv;                      /* [2][group] */
    const int64_t n_tasks = (int64_t)a->n_tok * a->n_head_kv;
    int64_t begin, end;
    ef_split_range(n_tasks, ith, nth, &begin, &end);
    for (int64_t task = begin; task < end; task++) {
        const int32_t t = (int32_t)(task / a->n_head_kv), g = (int32_t)(task % a->n_head_kv);
        const int64_t h0 = (int64_t)t * a->n_head + (int64_t)g * group; /* first query row */
        attn_group(a, job->load, t, g, job->q + h0 * a->dk, kbuf, vbuf, acc, ms, job->out + h0 * a->dv);
    }
}

int64_t ef_cpu_attn_ext_scratch_floats(const ef_attn_ext *a) {
    const int64_t group = a->n_head / a->n_head_kv;
    const int64_t ref = (int64_t)a->dk + a->dv + group * a->dv + 2 * group;
    const int64_t tiled = ef_cpu_attn_ext_tiled_scratch_floats(a);
    return ref > tiled ? ref : tiled; /* either kernel may run */
}

void ef_cpu_attn_ext_ref(ef_pool *pool, const ef_attn_ext *a, const float *q, float *scratch, float *out) {
    attn_job job = {a, ef_kv_pick_load(), q, scratch, out, ef_cpu_attn_ext_scratch_floats(a)};
    ef_pool_run(pool, attn_worker, &job);
}

void ef_cpu_attn_ext(ef_pool *pool, const ef_attn_ext *a, const float *q, float *scratch, float *out) {
    const ef_attn_ext_kernels kern = ef_attn_ext_pick_kernels();
    if (kern.scores && kern.fold)
        ef_cpu_attn_ext_tiled(pool, a, &kern, q, scratch, out);
    else
        ef_cpu_attn_ext_ref(pool, a, q, scratch, out);
}

ef_tensor ef_tensor_slice(const ef_tensor *t, int64_t i) {
    const uint64_t mat_bytes = ef_type_row_size(t->type, t->ne[0]) * (uint64_t)t->ne[1];
    ef_tensor v = *t;
    v.n_dims = 2;
    v.ne[2] = v.ne[3] = 1;
    v.data = (const uint8_t *)t->data + (uint64_t)i * mat_bytes;
    v.nbytes = mat_bytes;
    return v;
}

ef_tensor ef_tensor_rows(const ef_tensor *t, int64_t first, int64_t count) {
    const uint64_t row_bytes = ef_type_row_size(t->type, t->ne[0]);
    ef_tensor v = *t;
    v.n_dims = 2;
    v.ne[1] = count;
    v.ne[2] = v.ne[3] = 1;
    v.data = (const uint8_t *)t->data + (uint64_t)first * row_bytes;
    v.nbytes = row_bytes * (uint64_t)count;
    return v;
}

typedef struct {
    const ef_tensor *w;
    const float *x;
    int32_t n;
    float *y;
    float *row_scratch;
} matmul_t_job;

static void matmul_t_worker(void *ctx, int32_t ith, int32_t nth) {
    const matmul_t_job *job = ctx;
    const ef_tensor *w = job->w;
    const int64_t ne0 = w->ne[0], ne1 = w->ne[1];
    const uint64_t row_bytes = ef_type_row_size(w->type, ne0);
    const ef_to_float_fn to_float = ef_type_get(w->type)->to_float;
    int64_t begin, end;
    ef_split_range(job->n, ith, nth, &begin, &end);
    if (begin >= end) return;
    float *row = job->row_scratch + (int64_t)ith * ne0; /* [ne0] W row r as F32 */
    for (int64_t t = begin; t < end; t++) memset(job->y + t * ne0, 0, sizeof(float) * (size_t)ne0);
    for (int64_t r = 0; r < ne1; r++) {
        to_float((const uint8_t *)w->data + (uint64_t)r * row_bytes, row, ne0);
        for (int64_t t = begin; t < end; t++) {
            const float xr = job->x[t * ne1 + r];
            float *y = job->y + t * ne0; /* [ne0] */
            for (int64_t c = 0; c < ne0; c++) y[c] += xr * row[c];
        }
    }
}

void ef_cpu_matmul_t(ef_pool *pool, const ef_tensor *w, const float *x, int32_t n, float *y,
                     float *row_scratch) {
    matmul_t_job job = {w, x, n, y, row_scratch};
    ef_pool_run(pool, matmul_t_worker, &job);
}
