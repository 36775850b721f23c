/* The prefill GEMM driver shared by every SIMD level: y[t][r] = x[t] · W[r]
 * for n tokens, output rows [r0, r1) (see matmul_kernels.h).
 *
 * Blocking, outermost first (gemm_driver.c):
 *   token block  tokens whose x rows ([TB][in] floats) stay in L2 while
 *                every weight row of this worker streams past once;
 *   row group    EF_MATMUL_ROW_GROUP (4) weight rows, packed per K chunk
 *                into an F32 panel (converted once, reused by every tile);
 *   token tile   a 4-row × tile_t-token register tile (the level's kernel).
 * A row group's accumulators stay in a stack array between K chunks (in
 * registers only, when K fits one chunk), so each output is one
 * `lanes`-wide sum over k ascending, the tail zero, then the level's fixed
 * horizontal sum: the order of its GEMV, whatever the block sizes or the
 * thread split. The last chunk's tile reduces its sums straight into y.
 *
 * What differs between levels (vector width, block sizes, packing, the
 * register tile and its horizontal sums) is a small table, ef_gemm_level,
 * filled in by gemm_avx2.c, gemm_avx512.c and gemm_neon.c; those files keep
 * their kernels, compiled with their own flags. */
#ifndef EF_BACKENDS_CPU_GEMM_DRIVER_H
#define EF_BACKENDS_CPU_GEMM_DRIVER_H

#include <stdint.h>

#include "cpu/matmul_kernels.h"
#include "model/model.h"

/* Limits of the driver's stack buffers; every level stays within them. */
#define EF_GEMM_MAX_LANES 16 /* floats per accumulator vector */
#define EF_GEMM_MAX_KC 1024   /* K chunk */
#define EF_GEMM_MAX_TILE_T 6  /* tokens per register tile */
#define EF_GEMM_MAX_TB 96     /* tokens per block */

/* panel[s][i][lanes] = F32 of rows[i][k0 + lanes·s ..], zero past len
 * (len ≤ kc). rows: EF_MATMUL_ROW_GROUP row pointers (repeats allowed);
 * panel: [kc/lanes][4][lanes], 64-byte aligned. */
typedef void (*ef_gemm_pack_fn)(const void *const *rows, int64_t k0, int64_t len, float *panel);

/* Where a tile's sums go after this K chunk. */
typedef struct ef_gemm_sink {
    int first;     /* first K chunk: the sums start at zero (acc is not read) */
    float *y;      /* last K chunk: y[t·out + i] = horizontal sum of the tile's (t, i) sums for i < nr;
                    * NULL: the sums are stored back to acc for the next chunk */
    int64_t out;   /* y's token stride */
    int64_t nr;    /* live rows of the group (1..4) */
} ef_gemm_sink;

/* Sums of panel row i · x[t][k0 .. k0+len) for the tile's tokens, started
 * at zero or from acc, then stored to acc or reduced into y (see
 * ef_gemm_sink). xs: tile_t token rows (a short tile repeats its first
 * row); acc: [nt][4][lanes], 64-byte aligned. */
typedef void (*ef_gemm_tile_fn)(const float *panel, const float *const *xs, int64_t k0, int64_t len, float *acc,
                                const ef_gemm_sink *sink);

/* One SIMD level's GEMM: its shapes and kernels. */
typedef struct ef_gemm_level {
    int lanes;          /* floats per accumulator vector (≤ EF_GEMM_MAX_LANES) */
    int tile_t;         /* tokens per full register tile (≤ EF_GEMM_MAX_TILE_T) */
    int64_t kc;         /* K chunk, a multiple of lanes (≤ EF_GEMM_MAX_KC) */
    int64_t max_tb;     /* most tokens per block (≤ EF_GEMM_MAX_TB) */
    int64_t l2_x_bytes; /* x rows of one token block kept in L2 */
    ef_gemm_tile_fn tile[EF_GEMM_MAX_TILE_T + 1]; /* tile[nt]: nt = 1..tile_t tokens */
} ef_gemm_level;

/* Output rows [r0, r1) of n tokens with `level`'s kernels and `pack` for
 * w's type. x: [n][in]; y: [n][out]. */
void ef_gemm_run(const ef_gemm_level *level, ef_gemm_pack_fn pack, const ef_tensor *w, const float *x, int32_t n,
                 float *y, int64_t r0, int64_t r1);

#endif
