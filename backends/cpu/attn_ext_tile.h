/* The tiled version of ef_cpu_attn_ext (mla_ops.h): attention with unequal
 * K/V head sizes, a window with sinks and ring-mapped cache rows, walked in
 * key tiles of EF_ATTN_EXT_TILE positions with an online softmax.
 *
 * The driver (attn_ext_tile.c) splits the work (prefill: query block × KV
 * head; decode: KV head × key chunk), loads each tile once as F32 (keys
 * transposed, values row-major), applies the window/sink/causal mask to the
 * scores, and skips tiles no query row of the task can see — that skip is
 * where a window's speed comes from. Two small kernels do the arithmetic;
 * each SIMD level supplies its own pair (attn_ext_avx2.c), the scalar pair
 * beside the driver is their reference.
 *
 * The keys are cut into chunks of EF_ATTN_EXT_CHUNK positions aligned to
 * absolute positions. Each chunk is folded tile by tile from a fresh state,
 * and the chunk states are merged into the running one in chunk order:
 * prefill does it within a task, decode folds the chunks in parallel and
 * merges them afterwards, with the same merge. A query row's arithmetic
 * does not depend on which other rows share its task, so results are the
 * same bits for any thread count and any way of splitting a prompt into
 * calls, decode-sized ones included.
 *
 * The softmax runs in base 2: the driver folds log2(e) into the score
 * scale, so the kernels compute 2^(s − m) (no multiply inside the vector
 * exp), and m, l, the chunk states and their merge are all base 2. */
#ifndef EF_BACKENDS_CPU_ATTN_EXT_TILE_H
#define EF_BACKENDS_CPU_ATTN_EXT_TILE_H

#include <stdint.h>

#include "cpu/mla_ops.h"

enum {
    EF_ATTN_EXT_TILE = 64,          /* cache positions per key tile (a multiple of 16) */
    EF_ATTN_EXT_ROWS = 256,         /* query rows (tokens × heads of one KV group) per prefill task: each
                                       loaded tile serves this many rows */
    EF_ATTN_EXT_SUB_ROWS = 32,      /* rows the two kernels take at a time (whole tokens, at least one) */
    EF_ATTN_EXT_CHUNK = 256,        /* cache positions per chunk (a multiple of the tile): the unit of the
                                       ordered merge, and of a decode task */
    EF_ATTN_EXT_SPLITS = 8,         /* decode: chunks per KV head each worker holds partials for at once;
                                       longer caches run in waves of SPLITS × workers chunks */
    EF_ATTN_EXT_DECODE_MAX_TOK = 4  /* up to this many query tokens take the split-key decode path */
};

/* The query rows of one task: row r = t*group + j is token t of the task,
 * query head j of its KV group. */
typedef struct ef_attn_ext_rows {
    int32_t n_rows, group;
    int32_t dk;          /* query/key head size */
    int32_t dv_pad;      /* value head size rounded up to 8: row stride of acc and of the V tile */
    float scale;         /* score = scale · q·k: the call's scale times log2(e), scores in base 2 */
    const float *q;      /* row r: q + (r/group)*q_tstride + (r%group)*dk, [dk] */
    int64_t q_tstride;
    float *acc;          /* [n_rows][dv_pad] Σ p·v under the running max, not yet divided by l */
    float *m, *l;        /* [n_rows] running max of the scores, Σ 2^(score − m) */
} ef_attn_ext_rows;

/* One key tile as F32: positions p0 .. p0+n−1 of one KV head. */
typedef struct ef_attn_ext_tile {
    const float *kt;     /* [dk][EF_ATTN_EXT_TILE] keys transposed: column i is position p0+i */
    const float *v;      /* [n][v_stride] values: the first dv of each row; up to dv_pad zero, or the next
                            key elements when V is a prefix of the key rows (those acc lanes go unused) */
    int64_t v_stride;    /* ≥ dv_pad, a multiple of 8 */
    int32_t n;
} ef_attn_ext_tile;

/* s[r][i] = scale · q_r·k_i for every row r and i < n rounded up to 16
 * (columns past n read the tile's zero padding). s: [n_rows][TILE]. */
typedef void (*ef_attn_ext_scores_fn)(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s);

/* For each row r with live[r] != 0: the online-softmax update with the
 * masked scores s[r][0..TILE) (−inf where the row must not look, always for
 * i ≥ n), then acc_r += Σ_{i0 ≤ i < i1} p_ri · v_i; [i0, i1) covers every
 * position a live row sees. s is overwritten with the weights p. */
typedef void (*ef_attn_ext_fold_fn)(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile,
                                    const uint8_t *live, int32_t i0, int32_t i1, float *s);

typedef struct ef_attn_ext_kernels {
    ef_attn_ext_scores_fn scores;
    ef_attn_ext_fold_fn fold;
} ef_attn_ext_kernels;

/* Scalar reference kernels (attn_ext_tile.c). */
void ef_attn_ext_scores(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s);
void ef_attn_ext_fold(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, const uint8_t *live,
                      int32_t i0, int32_t i1, float *s);

/* AVX2+FMA kernels (attn_ext_avx2.c); ef_attn_ext_avx2_built() is 0 when
 * that file was compiled without those flags (then they do nothing). */
int ef_attn_ext_avx2_built(void);
void ef_attn_ext_scores_avx2(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s);
void ef_attn_ext_fold_avx2(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, const uint8_t *live,
                           int32_t i0, int32_t i1, float *s);

/* y[i] = 2^x[i] for x[i] ≤ 0 with the AVX2 fold's vector exp2 (within 3e-7
 * relative of 2^x where that is normal; exactly 0 for x ≤ −127 and −inf),
 * for its tests. */
void ef_attn_ext_exp2_avx2(const float *x, float *y, int32_t n);

/* AVX-512 kernels (attn_ext_avx512.c): the AVX2 pair 16 lanes wide, with
 * its own vector exp2 (same bound); ef_attn_ext_avx512_built() is 0 when that
 * file was compiled without the AVX-512 flags (then they do nothing). */
int ef_attn_ext_avx512_built(void);
void ef_attn_ext_scores_avx512(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, float *s);
void ef_attn_ext_fold_avx512(const ef_attn_ext_rows *rows, const ef_attn_ext_tile *tile, const uint8_t *live,
                             int32_t i0, int32_t i1, float *s);
void ef_attn_ext_exp2_avx512(const float *x, float *y, int32_t n);

/* The fastest kernels this CPU and ef_cpu_simd_active allow, or NULL
 * members when no SIMD level has them (ef_cpu_attn_ext then runs the
 * plain reference, ef_cpu_attn_ext_ref). */
ef_attn_ext_kernels ef_attn_ext_pick_kernels(void);

/* Floats of scratch per worker the tiled kernel needs. */
int64_t ef_cpu_attn_ext_tiled_scratch_floats(const ef_attn_ext *a);

/* ef_cpu_attn_ext through tiles with the given kernels. scratch:
 * [ef_pool_size(pool)][ef_cpu_attn_ext_scratch_floats(a)]. */
void ef_cpu_attn_ext_tiled(ef_pool *pool, const ef_attn_ext *a, const ef_attn_ext_kernels *kern, const float *q,
                           float *scratch, float *out);

#endif
