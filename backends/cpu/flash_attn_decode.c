/* Split-KV flash attention for decode (a few query tokens over a long
 * cache): each task takes one KV head and one chunk of cache positions and
 * writes its partial (max, sum, acc) per query row; a second pass combines
 * the chunks of each row in order 0, 1, ... The chunking is fixed by
 * position, so the result does not depend on the thread count. */
#include <math.h>

#include "cpu/flash_attn.h"

typedef struct {
    const ef_attn_shape *s;
    const float *q;       /* [n_tok][n_head*hd] */
    const ef_kv_view *kv; /* [n_past+n_tok][n_head_kv*hd] x2 */
    ef_flash_kernels kern;
    float *scratch;       /* [nth][ef_cpu_flash_scratch_floats] */
    float *part_acc;      /* [n_chunks][n_tok][n_head][hd] */
    float *part_m;        /* [n_chunks][n_tok][n_head] */
    float *part_l;        /* [n_chunks][n_tok][n_head] */
    float *out;           /* [n_tok][n_head*hd] */
    int32_t n_kv, n_chunks;
} decode_job;

/* Every query token × the group's heads against chunk c of KV head g. */
static void decode_task(const decode_job *j, const ef_flash_scratch *w, int32_t g, int32_t c) {
    const ef_attn_shape *s = j->s;
    const int32_t hd = s->head_dim, group = s->n_head / s->n_head_kv;
    const int64_t q_stride = (int64_t)s->n_head * hd;
    const int64_t first_row = (int64_t)c * s->n_tok * s->n_head + (int64_t)g * group; /* (c, t=0, h=g*group) */
    const ef_flash_rows rows = {s->n_tok, group, hd, s->n_past, 1.0f / sqrtf((float)hd),
                                j->q + (int64_t)g * group * hd, q_stride,
                                j->part_acc + first_row * hd, q_stride,
                                j->part_m + first_row, j->part_l + first_row, s->n_head};
    ef_flash_rows_reset(&rows);
    const int32_t c0 = c * EF_FLASH_KV_CHUNK;
    const int32_t c_end = c0 + EF_FLASH_KV_CHUNK < j->n_kv ? c0 + EF_FLASH_KV_CHUNK : j->n_kv;
    for (int32_t p0 = c0; p0 < c_end; p0 += EF_FLASH_KV_TILE) {
        const int32_t n = c_end - p0 < EF_FLASH_KV_TILE ? c_end - p0 : EF_FLASH_KV_TILE;
        ef_flash_tile tile;
        ef_flash_tile_load(&j->kern, j->kv, s, g, p0, n, w->k_tmp, w->v_tmp, &tile);
        j->kern.fold(&rows, &tile, w->scores);
    }
}

static void decode_worker(void *ctx, int32_t ith, int32_t nth) {
    const decode_job *j = ctx;
    const ef_flash_scratch w = ef_flash_scratch_of(j->s, j->scratch, ith);
    const int32_t n_tasks = j->n_chunks * j->s->n_head_kv;
    for (int32_t i = ith; i < n_tasks; i += nth) decode_task(j, &w, i % j->s->n_head_kv, i / j->s->n_head_kv);
}

/* One worker per (token, head) row: the chunks in order, then the division. */
static void reduce_worker(void *ctx, int32_t ith, int32_t nth) {
    const decode_job *j = ctx;
    const ef_attn_shape *s = j->s;
    const int32_t hd = s->head_dim;
    const int64_t rows_per_chunk = (int64_t)s->n_tok * s->n_head;
    int64_t r0, r1;
    ef_split_range(rows_per_chunk, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) { /* r = t*n_head + h, which is also out's row layout */
        float *acc = j->out + r * hd; /* [hd] */
        float M = -INFINITY, L = 0.0f;
        for (int32_t d = 0; d < hd; d++) acc[d] = 0.0f;
        for (int32_t c = 0; c < j->n_chunks; c++) {
            const int64_t pr = c * rows_per_chunk + r;
            ef_flash_combine(&M, &L, acc, j->part_m[pr], j->part_l[pr], j->part_acc + pr * hd, hd);
        }
        ef_flash_finish(acc, L, hd, acc);
    }
}

void ef_cpu_flash_attn_decode(ef_pool *pool, const ef_attn_shape *s, const float *q,
                              const ef_kv_view *kv, float *scratch, float *partial, float *out) {
    const int32_t n_kv = s->n_past + s->n_tok;
    const int32_t n_chunks = (n_kv + EF_FLASH_KV_CHUNK - 1) / EF_FLASH_KV_CHUNK;
    const int64_t n_rows = (int64_t)n_chunks * s->n_tok * s->n_head;
    decode_job job = {s, q, kv, ef_flash_pick_kernels(), scratch, partial, partial + n_rows * s->head_dim,
                      partial + n_rows * (s->head_dim + 1), out, n_kv, n_chunks};
    ef_pool_run(pool, decode_worker, &job);
    ef_pool_run(pool, reduce_worker, &job);
}

void ef_cpu_flash_attn(ef_pool *pool, const ef_attn_shape *s, const float *q, const ef_kv_view *kv,
                       float *scratch, float *partial, float *out) {
    if (s->n_tok <= EF_FLASH_DECODE_MAX_TOK)
        ef_cpu_flash_attn_decode(pool, s, q, kv, scratch, partial, out);
    else
        ef_cpu_flash_attn_prefill(pool, s, q, kv, scratch, out);
}
