/* The arithmetic both flash-attention paths share: loading a KV tile,
 * folding it into query rows with the online softmax, and combining chunk
 * states. Kept in one place so prefill and decode give the same bits. */
#include "cpu/flash_attn.h"

#include <math.h>
#include <string.h>

#include "base/fp16.h"
#include "cpu/cpu_features.h"
#include "quant/types.h"

int32_t ef_flash_q_tokens(int32_t group) {
    int32_t t = EF_FLASH_Q_ROWS / group;
    return t > 0 ? t : 1;
}

size_t ef_cpu_flash_scratch_floats(const ef_attn_shape *s) {
    const size_t hd = (size_t)s->head_dim;
    const int32_t group = s->n_head / s->n_head_kv;
    const size_t rows = (size_t)ef_flash_q_tokens(group) * (size_t)group;
    /* K, V tiles + scores + chunk acc + m, l, M, L; rounded up to 16 floats
     * (64 bytes) so each worker's block starts on its own cache line. */
    size_t n = 2 * EF_FLASH_KV_TILE * hd + EF_FLASH_KV_TILE + rows * hd + 4 * rows;
    return (n + 15) & ~(size_t)15;
}

size_t ef_cpu_flash_partial_floats(const ef_attn_shape *s, int32_t n_kv, int32_t n_tok) {
    const size_t n_chunks = ((size_t)n_kv + EF_FLASH_KV_CHUNK - 1) / EF_FLASH_KV_CHUNK;
    return n_chunks * (size_t)n_tok * (size_t)s->n_head * ((size_t)s->head_dim + 2);
}

ef_flash_scratch ef_flash_scratch_of(const ef_attn_shape *s, float *scratch, int32_t ith) {
    const int64_t hd = s->head_dim;
    const int32_t group = s->n_head / s->n_head_kv;
    const int64_t rows = (int64_t)ef_flash_q_tokens(group) * group;
    float *p = scratch + (int64_t)ith * (int64_t)ef_cpu_flash_scratch_floats(s);
    ef_flash_scratch w;
    w.k_tmp = p;
    p += EF_FLASH_KV_TILE * hd;
    w.v_tmp = p;
    p += EF_FLASH_KV_TILE * hd;
    w.scores = p;
    p += EF_FLASH_KV_TILE;
    w.acc = p;
    p += rows * hd;
    w.m = p;
    w.l = p + rows;
    w.M = p + 2 * rows;
    w.L = p + 3 * rows;
    return w;
}

void ef_flash_rows_reset(const ef_flash_rows *r) {
    for (int32_t t = 0; t < r->n_tok; t++)
        for (int32_t j = 0; j < r->group; j++) {
            float *acc = r->acc + t * r->acc_tstride + (int64_t)j * r->head_dim; /* [head_dim] */
            for (int32_t d = 0; d < r->head_dim; d++) acc[d] = 0.0f;
            r->m[t * r->ml_tstride + j] = -INFINITY;
            r->l[t * r->ml_tstride + j] = 0.0f;
        }
}

ef_flash_kernels ef_flash_pick_kernels(void) {
    ef_flash_kernels k = {ef_flash_fold_tile, ef_flash_f16_rows, ef_kv_pick_load()};
    if (ef_cpu_simd_x86(ef_cpu_simd_active()) && ef_flash_avx2_built()) {
        k.fold = ef_flash_fold_tile_avx2;
        k.f16_rows = ef_flash_f16_rows_avx2;
    } else if (ef_cpu_simd_arm(ef_cpu_simd_active()) && ef_flash_neon_built()) {
        k.fold = ef_flash_fold_tile_neon;
        k.f16_rows = ef_flash_f16_rows_neon;
    }
    return k;
}

void ef_flash_f16_rows(const uint16_t *src, int64_t src_stride, int32_t n, int32_t head_dim, float *dst) {
    for (int32_t i = 0; i < n; i++)
        for (int32_t d = 0; d < head_dim; d++) dst[(int64_t)i * head_dim + d] = ef_f16_to_f32(src[i * src_stride + d]);
}

/* dst[i][0..hd) = columns col0 .. col0+hd of cache row p0+i, i < n, as F32.
 * Copied (F32), converted exactly (F16, one run of rows per page) or
 * dequantized (Q8_0/Q4_0) into a contiguous tile once; every query row of
 * the task reuses it. Reading the cache in place would stride by a whole
 * cache row (often 4 KiB), which maps the tile's rows onto the same few L1
 * sets. */
static void load_head_rows(const ef_flash_kernels *kern, const ef_kv_rows *r, int32_t col0, int32_t hd,
                           int32_t p0, int32_t n, float *dst) {
    for (int32_t i = 0; i < n;) { /* one run of rows inside one page at a time */
        const int64_t row = (int64_t)p0 + i, in_page = row % r->page_rows;
        const int32_t run = r->page_rows - in_page < n - i ? (int32_t)(r->page_rows - in_page) : n - i;
        const char *first = ef_kv_row(r, row); /* [run][row_bytes] */
        float *out = dst + (int64_t)i * hd;    /* [run][hd] */
        switch (r->type) {
        case EF_TYPE_F32:
            for (int32_t j = 0; j < run; j++)
                memcpy(out + (int64_t)j * hd, (const float *)(first + (size_t)j * r->row_bytes) + col0,
                       (size_t)hd * sizeof(float));
            break;
        case EF_TYPE_F16:
            kern->f16_rows((const uint16_t *)first + col0, (int64_t)(r->row_bytes / sizeof(uint16_t)), run, hd, out);
            break;
        default:
            kern->load_rows(r, row, run, col0, hd, out, hd);
            break;
        }
        i += run;
    }
}

void ef_flash_tile_load(const ef_flash_kernels *kern, const ef_kv_view *kv, const ef_attn_shape *s,
                        int32_t kv_head, int32_t p0, int32_t n, float *k_tmp, float *v_tmp,
                        ef_flash_tile *out) {
    const int32_t hd = s->head_dim, col0 = kv_head * hd;
    load_head_rows(kern, &kv->k, col0, hd, p0, n, k_tmp); /* [n][hd] */
    load_head_rows(kern, &kv->v, col0, hd, p0, n, v_tmp); /* [n][hd] */
    out->k = k_tmp;
    out->v = v_tmp;
    out->stride = hd;
    out->p0 = p0;
    out->n = n;
}

void ef_flash_fold_tile(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores) {
    const int32_t hd = r->head_dim;
    for (int32_t t = 0; t < r->n_tok; t++) {
        /* causal: token t sees positions ≤ last0 + t, i.e. the tile's first n_vis rows */
        int64_t n_vis = (int64_t)r->last0 + t - tile->p0 + 1;
        if (n_vis <= 0) continue;
        if (n_vis > tile->n) n_vis = tile->n;
        for (int32_t j = 0; j < r->group; j++) {
            const float *q = r->q + t * r->q_tstride + (int64_t)j * hd; /* [hd] */
            float *acc = r->acc + t * r->acc_tstride + (int64_t)j * hd;  /* [hd] */
            float *m = &r->m[t * r->ml_tstride + j];
            float *l = &r->l[t * r->ml_tstride + j];

            float tile_max = -INFINITY;
            for (int64_t i = 0; i < n_vis; i++) {
                const float *k = tile->k + i * tile->stride; /* [hd] */
                float dot = 0.0f;
                for (int32_t d = 0; d < hd; d++) dot += q[d] * k[d];
                scores[i] = dot * r->scale;
                if (scores[i] > tile_max) tile_max = scores[i];
            }
            /* Rescale what was summed under the old max (0 when there was none). */
            const float m_new = tile_max > *m ? tile_max : *m;
            const float corr = expf(*m - m_new);
            float sum = *l * corr;
            for (int32_t d = 0; d < hd; d++) acc[d] *= corr;
            for (int64_t i = 0; i < n_vis; i++) {
                const float *v = tile->v + i * tile->stride; /* [hd] */
                const float p = expf(scores[i] - m_new);
                sum += p;
                for (int32_t d = 0; d < hd; d++) acc[d] += p * v[d];
            }
            *m = m_new;
            *l = sum;
        }
    }
}

void ef_flash_combine(float *M, float *L, float *ACC, float m, float l, const float *acc,
                      int32_t head_dim) {
    if (l == 0.0f) return; /* the chunk lies wholly after this row's last position */
    const float M_new = m > *M ? m : *M;
    const float a = expf(*M - M_new); /* 0 for the first chunk (M = -inf) */
    const float b = expf(m - M_new);
    for (int32_t d = 0; d < head_dim; d++) ACC[d] = ACC[d] * a + acc[d] * b;
    *L = *L * a + l * b;
    *M = M_new;
}

void ef_flash_finish(const float *ACC, float L, int32_t head_dim, float *out) {
    const float inv = 1.0f / L;
    for (int32_t d = 0; d < head_dim; d++) out[d] = ACC[d] * inv;
}
