/* The row order of the decode GEMVs (gemv_avx2.c, gemv_avx512.c,
 * gemv_neon.c), shared: a worker's output rows [r0, r1) are cut into
 * EF_GEMV_RUNS equal runs of h rows, and one pass takes row i of every
 * run, so EF_GEMV_RUNS rows share each load of x (independent FMA chains)
 * while the weights are read as EF_GEMV_RUNS long sequential streams.
 * Neighbouring rows side by side were as many short interleaved streams,
 * which the hardware prefetcher did not follow: from DRAM that ran at half
 * the speed for rows under 4 KiB on Zen 4 (docs/benchmarks.md, "Row
 * streams"). The last r1 − r0 − EF_GEMV_RUNS·h
 * rows go one at a time. A row's sum never depends on the rows sharing its
 * pass, so neither the runs nor the thread split change a bit.
 *
 * Include from a kernel file; the level's pass functions are static there,
 * and ef_gemv_runs, inlined into a caller whose pass arguments are
 * constants, calls them directly. */
#ifndef EF_BACKENDS_CPU_GEMV_RUNS_H
#define EF_BACKENDS_CPU_GEMV_RUNS_H

#include <stdint.h>

#include "model/model.h"
#include "quant/types.h"

#define EF_GEMV_RUNS 4

/* out[i] = x · rows[i] for i < n (n = EF_GEMV_RUNS for `pass`, 1 for
 * `one`), for one weight type; rows: row pointers; x: [in]. */
typedef void (*ef_gemv_rows_fn)(const void *const *rows, const float *x, int64_t in, float *out);

/* y[r] = x · W[r] for r in [r0, r1). x: [in]; y: [out], indexed by row. */
static inline __attribute__((always_inline)) void ef_gemv_runs(ef_gemv_rows_fn pass, ef_gemv_rows_fn one,
                                                              const ef_tensor *w, const float *x, float *y,
                                                              int64_t r0, int64_t r1) {
    const int64_t in = w->ne[0];
    const uint64_t row_bytes = ef_type_row_size(w->type, in);
    const uint8_t *base = w->data;
    const int64_t h = (r1 - r0) / EF_GEMV_RUNS; /* rows per run */
    for (int64_t i = 0; i < h; i++) {
        const void *rows[EF_GEMV_RUNS]; /* row i of each run */
        for (int j = 0; j < EF_GEMV_RUNS; j++) rows[j] = base + (uint64_t)(r0 + j * h + i) * row_bytes;
        float out[EF_GEMV_RUNS]; /* [EF_GEMV_RUNS] */
        pass(rows, x, in, out);
        for (int j = 0; j < EF_GEMV_RUNS; j++) y[r0 + j * h + i] = out[j];
    }
    for (int64_t r = r0 + EF_GEMV_RUNS * h; r < r1; r++) {
        const void *row = base + (uint64_t)r * row_bytes;
        one(&row, x, in, y + r);
    }
}

#endif
