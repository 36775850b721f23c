/* Pieces shared by the flash-attention paths (flash_attn_prefill.c,
 * flash_attn_decode.c): a set of query rows with their online-softmax state,
 * folding one KV tile into it, and combining chunk states in order. They
 * live in one translation unit (flash_attn_tile.c) so both paths run the
 * very same arithmetic, which is what makes them bit-identical. */
#ifndef EF_BACKENDS_CPU_FLASH_ATTN_H
#define EF_BACKENDS_CPU_FLASH_ATTN_H

#include <stdint.h>

#include "cpu/cpu_ops.h"

/* n_tok consecutive query tokens × the `group` query heads of one KV head.
 * Row (t, j) has query q + t*q_tstride + j*head_dim, accumulator
 * acc + t*acc_tstride + j*head_dim, and state m/l[t*ml_tstride + j]; token t
 * sees cache positions 0 .. last0 + t. */
typedef struct ef_flash_rows {
    int32_t n_tok, group, head_dim;
    int32_t last0;       /* last visible position of token 0 */
    float scale;         /* 1/sqrt(head_dim) */
    const float *q;      /* row (t, j): [head_dim] */
    int64_t q_tstride;
    float *acc;          /* row (t, j): [head_dim] weighted sum of V, not yet divided by l */
    int64_t acc_tstride;
    float *m, *l;        /* row (t, j): running max of the scores, sum of exp(score - m) */
    int64_t ml_tstride;
} ef_flash_rows;

/* Empty state for every row: m = -inf, l = 0, acc = 0. */
void ef_flash_rows_reset(const ef_flash_rows *r);

/* A tile of cache rows p0 .. p0+n-1 of one KV head as contiguous F32, in
 * k_tmp/v_tmp ([EF_FLASH_KV_TILE][head_dim]), loaded by ef_flash_tile_load
 * from whatever pages hold them. */
typedef struct ef_flash_tile {
    const float *k, *v; /* row i: k + i*stride, [head_dim] */
    int64_t stride;
    int32_t p0, n;
} ef_flash_tile;

/* Folds the tile into every row that sees any of it (online softmax).
 * scores: scratch [EF_FLASH_KV_TILE]. */
typedef void (*ef_flash_fold_fn)(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores);
/* dst[i][d] = src[i*src_stride + d] as F32, for i < n, d < head_dim (exact). */
typedef void (*ef_flash_f16_rows_fn)(const uint16_t *src, int64_t src_stride, int32_t n,
                                     int32_t head_dim, float *dst);

/* The kernels one attention call uses throughout, picked once per call (so
 * every tile of it folds the same way): the scalar reference, or the AVX2
 * versions (flash_attn_avx2.c) when the CPU and ef_cpu_simd_active allow. */
typedef struct ef_flash_kernels {
    ef_flash_fold_fn fold;
    ef_flash_f16_rows_fn f16_rows;
    ef_kv_load_fn load_rows; /* Q8_0/Q4_0 head slices (kv_rows.h) */
} ef_flash_kernels;

ef_flash_kernels ef_flash_pick_kernels(void);

void ef_flash_tile_load(const ef_flash_kernels *kern, const ef_kv_view *kv, const ef_attn_shape *s,
                        int32_t kv_head, int32_t p0, int32_t n, float *k_tmp, float *v_tmp,
                        ef_flash_tile *out);

/* Scalar reference kernels (flash_attn_tile.c). */
void ef_flash_fold_tile(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores);
void ef_flash_f16_rows(const uint16_t *src, int64_t src_stride, int32_t n, int32_t head_dim, float *dst);

/* AVX2+FMA+F16C kernels (flash_attn_avx2.c); ef_flash_avx2_built() is 0
 * when that file was compiled without those flags (then they do nothing). */
int ef_flash_avx2_built(void);
void ef_flash_fold_tile_avx2(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores);
void ef_flash_f16_rows_avx2(const uint16_t *src, int64_t src_stride, int32_t n, int32_t head_dim, float *dst);
/* NEON kernels (flash_attn_neon.c, aarch64); ef_flash_neon_built() is 0 elsewhere. */
int ef_flash_neon_built(void);
void ef_flash_fold_tile_neon(const ef_flash_rows *r, const ef_flash_tile *tile, float *scores);
void ef_flash_f16_rows_neon(const uint16_t *src, int64_t src_stride, int32_t n, int32_t head_dim, float *dst);

/* Merges one chunk's state (m, l, acc[head_dim]) into a running state
 * (*M, *L, ACC[head_dim]); a chunk that saw nothing (l == 0) is skipped. */
void ef_flash_combine(float *M, float *L, float *ACC, float m, float l, const float *acc,
                      int32_t head_dim);

/* out[d] = ACC[d] / L (out may alias ACC). */
void ef_flash_finish(const float *ACC, float L, int32_t head_dim, float *out);

/* Per-worker scratch layout (floats), as ef_cpu_flash_scratch_floats sizes it. */
typedef struct ef_flash_scratch {
    float *k_tmp, *v_tmp; /* [EF_FLASH_KV_TILE][head_dim] each */
    float *scores;        /* [EF_FLASH_KV_TILE] */
    float *acc;           /* [rows][head_dim] chunk accumulators (prefill) */
    float *m, *l;         /* [rows] chunk state (prefill) */
    float *M, *L;         /* [rows] running state (prefill) */
} ef_flash_scratch;

/* Query tokens per prefill task: EF_FLASH_Q_ROWS rows of `group` heads each. */
int32_t ef_flash_q_tokens(int32_t group);

/* Splits worker ith's block of the scratch area into its parts. */
ef_flash_scratch ef_flash_scratch_of(const ef_attn_shape *s, float *scratch, int32_t ith);

#endif
