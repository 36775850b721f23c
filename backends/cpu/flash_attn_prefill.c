/* Flash attention for prefill: each task takes one KV head and a tile of
 * query tokens (all the group's query heads), walks the cache chunk by chunk
 * and tile by tile with an online softmax, and writes its rows of `out`.
 * Nothing of size n_tok × n_kv exists; per worker, only the scratch block. */
#include <math.h>

#include "cpu/flash_attn.h"

typedef struct {
    const ef_attn_shape *s;
    const float *q;       /* [n_tok][n_head*hd] */
    const ef_kv_view *kv; /* [n_past+n_tok][n_head_kv*hd] x2 */
    ef_flash_kernels kern;
    float *scratch;       /* [nth][ef_cpu_flash_scratch_floats] */
    float *out;           /* [n_tok][n_head*hd] */
    int32_t q_tokens;     /* query tokens per task */
    int32_t n_qtiles;
} prefill_job;

/* Query tokens t0 .. t0+nt-1 against KV head g. */
static void prefill_task(const prefill_job *j, const ef_flash_scratch *w, int32_t g, int32_t t0,
                         int32_t nt) {
    const ef_attn_shape *s = j->s;
    const int32_t hd = s->head_dim, group = s->n_head / s->n_head_kv, rows = nt * group;
    const int64_t q_stride = (int64_t)s->n_head * hd;
    const int32_t last0 = s->n_past + t0;     /* last position token t0 sees */
    const int32_t last = last0 + nt - 1;      /* ... and the task's last token */
    float *out0 = j->out + t0 * q_stride + (int64_t)g * group * hd; /* row (t, h): + t*q_stride + h*hd */

    /* Chunk state in scratch, rows token-major: row (t, h) is t*group + h. */
    const ef_flash_rows chunk = {nt, group, hd, last0, 1.0f / sqrtf((float)hd),
                                 j->q + t0 * q_stride + (int64_t)g * group * hd, q_stride,
                                 w->acc, (int64_t)group * hd, w->m, w->l, group};
    /* Running state: ACC straight in out, M/L in scratch. */
    for (int32_t t = 0; t < nt; t++)
        for (int32_t h = 0; h < group; h++) {
            float *acc = out0 + t * q_stride + (int64_t)h * hd; /* [hd] */
            for (int32_t d = 0; d < hd; d++) acc[d] = 0.0f;
            w->M[t * group + h] = -INFINITY;
            w->L[t * group + h] = 0.0f;
        }

    for (int32_t c0 = 0; c0 <= last; c0 += EF_FLASH_KV_CHUNK) {
        const int32_t c_end = c0 + EF_FLASH_KV_CHUNK <= last + 1 ? c0 + EF_FLASH_KV_CHUNK : last + 1;
        ef_flash_rows_reset(&chunk);
        for (int32_t p0 = c0; p0 < c_end; p0 += EF_FLASH_KV_TILE) {
            const int32_t n = c_end - p0 < EF_FLASH_KV_TILE ? c_end - p0 : EF_FLASH_KV_TILE;
            ef_flash_tile tile;
            ef_flash_tile_load(&j->kern, j->kv, s, g, p0, n, w->k_tmp, w->v_tmp, &tile);
            j->kern.fold(&chunk, &tile, w->scores);
        }
        for (int32_t r = 0; r < rows; r++) {
            const int32_t t = r / group, h = r % group;
            ef_flash_combine(&w->M[r], &w->L[r], out0 + t * q_stride + (int64_t)h * hd, w->m[r],
                             w->l[r], w->acc + (int64_t)r * hd, hd);
        }
    }
    for (int32_t r = 0; r < rows; r++) {
        float *o = out0 + (r / group) * q_stride + (int64_t)(r % group) * hd; /* [hd] */
        ef_flash_finish(o, w->L[r], hd, o);
    }
}

static void prefill_worker(void *ctx, int32_t ith, int32_t nth) {
    const prefill_job *j = ctx;
    const ef_flash_scratch w = ef_flash_scratch_of(j->s, j->scratch, ith);
    const int32_t n_tasks = j->n_qtiles * j->s->n_head_kv;
    /* Strided: neighbouring tasks (later tiles cost more) go to different workers. */
    for (int32_t i = ith; i < n_tasks; i += nth) {
        const int32_t t0 = (i / j->s->n_head_kv) * j->q_tokens, g = i % j->s->n_head_kv;
        const int32_t nt = j->s->n_tok - t0 < j->q_tokens ? j->s->n_tok - t0 : j->q_tokens;
        prefill_task(j, &w, g, t0, nt);
    }
}

void ef_cpu_flash_attn_prefill(ef_pool *pool, const ef_attn_shape *s, const float *q,
                               const ef_kv_view *kv, float *scratch, float *out) {
    const int32_t q_tokens = ef_flash_q_tokens(s->n_head / s->n_head_kv);
    prefill_job job = {s, q, kv, ef_flash_pick_kernels(), scratch, out, q_tokens,
                       (s->n_tok + q_tokens - 1) / q_tokens};
    ef_pool_run(pool, prefill_worker, &job);
}
