/* The blocking loops of the prefill GEMM, one copy for every SIMD level
 * (see gemm_driver.h). Plain C: the vector work happens in the level's
 * pack and tile functions, called once per row group and K chunk (pack)
 * and per token tile and K chunk (tile: hundreds of FMAs per call, and on
 * the last chunk the horizontal sums into y). */
#include "cpu/gemm_driver.h"

#include <string.h>

#include "quant/types.h"

/* Tokens per block: as many x rows as fit in l2_x_bytes, a multiple of the
 * tile, between one tile and max_tb. */
static int64_t token_block(const ef_gemm_level *lv, int64_t in) {
    if (in <= 0) return lv->max_tb; /* empty rows: every output is 0 */
    int64_t tb = lv->l2_x_bytes / (in * (int64_t)sizeof(float));
    tb = tb / lv->tile_t * lv->tile_t;
    if (tb < lv->tile_t) tb = lv->tile_t;
    if (tb > lv->max_tb) tb = lv->max_tb;
    return tb;
}

void ef_gemm_run(const ef_gemm_level *lv, ef_gemm_pack_fn pack, const ef_tensor *w, const float *x, int32_t n,
                 float *y, int64_t r0, int64_t r1) {
    const int64_t in = w->ne[0], out = w->ne[1];
    const uint64_t row_bytes = ef_type_row_size(w->type, in);
    const uint8_t *base = w->data;
    const int64_t tb_max = token_block(lv, in);
    const int64_t group_floats = (int64_t)EF_MATMUL_ROW_GROUP * lv->lanes; /* one token's accumulators */
    float panel[EF_GEMM_MAX_KC * EF_MATMUL_ROW_GROUP] __attribute__((aligned(64))); /* [kc/lanes][4][lanes] */
    float acc[EF_GEMM_MAX_TB * EF_MATMUL_ROW_GROUP * EF_GEMM_MAX_LANES]
        __attribute__((aligned(64))); /* [tb][4][lanes]: lane sums */

    for (int64_t t0 = 0; t0 < n; t0 += tb_max) {
        const int64_t tb = n - t0 < tb_max ? n - t0 : tb_max;
        for (int64_t r = r0; r < r1; r += EF_MATMUL_ROW_GROUP) {
            const int64_t nr = r1 - r < EF_MATMUL_ROW_GROUP ? r1 - r : EF_MATMUL_ROW_GROUP;
            const void *rows[EF_MATMUL_ROW_GROUP]; /* a short group repeats its last row; those sums are dropped */
            for (int i = 0; i < EF_MATMUL_ROW_GROUP; i++)
                rows[i] = base + (uint64_t)(r + (i < nr ? i : nr - 1)) * row_bytes;
            if (in <= 0) { /* no K: every sum is 0 */
                for (int64_t t = 0; t < tb; t++) memset(y + (t0 + t) * out + r, 0, (size_t)nr * sizeof(float));
                continue;
            }
            for (int64_t k0 = 0; k0 < in; k0 += lv->kc) {
                const int64_t len = in - k0 < lv->kc ? in - k0 : lv->kc;
                pack(rows, k0, len, panel);
                for (int64_t t = 0; t < tb; t += lv->tile_t) {
                    const int64_t nt = tb - t < lv->tile_t ? tb - t : lv->tile_t;
                    const float *xs[EF_GEMM_MAX_TILE_T]; /* token rows of this tile */
                    for (int j = 0; j < lv->tile_t; j++) xs[j] = x + (t0 + t + (j < nt ? j : 0)) * in;
                    const ef_gemm_sink sink = {k0 == 0, k0 + len >= in ? y + (t0 + t) * out + r : NULL, out, nr};
                    lv->tile[nt](panel, xs, k0, len, acc + t * group_floats, &sink);
                }
            }
        }
    }
}
