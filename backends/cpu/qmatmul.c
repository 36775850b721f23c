/* Matmul rows of quantized weights (see matmul_kernels.h, qdot.h).
 *
 * Loop order, outermost first: token block, weight row, group of 256
 * weights (unpacked once into L1), token. Each output accumulates one
 * partial sum per group, groups ascending, so a token's result is the same
 * whatever the token block (GEMV = block of 1) or the row split between
 * threads. Types with fused row kernels at the level (qdot.h) skip the unpacked
 * group and run a whole row per token; the same kernel serves every token
 * block, so the same holds. */
#include "cpu/matmul_kernels.h"

#include "cpu/qdot.h"
#include "quant/types.h"

enum { MAX_TOKEN_BLOCK = 64, L2_X_BYTES = 256 * 1024 };

int ef_cpu_qmatmul_ok(uint32_t type) { return ef_qtype_ops_get(type) != NULL; }

/* Tokens whose activations (F32 or quantized) stay in L2 while a worker's rows stream past. */
static int32_t clamp_token_block(int32_t want, int64_t bytes_per_token) {
    int64_t tb = L2_X_BYTES / (bytes_per_token > 0 ? bytes_per_token : 1);
    if (tb > want) tb = want;
    if (tb > MAX_TOKEN_BLOCK) tb = MAX_TOKEN_BLOCK;
    return tb < 1 ? 1 : (int32_t)tb;
}

/* Integer-dot rows [r0, r1) for tokens t0..t0+tb−1 with the level's
 * EF_QROWS-row kernel: the rows are cut into EF_QROWS equal runs of h and
 * one pass takes row i of every run (the order of gemv_runs.h), so the
 * weights stream as EF_QROWS sequential reads that share each activation
 * load; the last rows go one at a time. A row's sum is the same either way. */
static void rows_int_runs(const ef_qkernels *k, const ef_tensor *w, const struct ef_qgroup_a *xa, int64_t n_groups,
                          int32_t t0, int32_t tb, float *y, int64_t r0, int64_t r1) {
    const int64_t in = w->ne[0], out = w->ne[1];
    const uint64_t row_bytes = ef_type_row_size(w->type, in);
    const uint8_t *base = w->data;
    const int64_t h = (r1 - r0) / EF_QROWS; /* rows per run */
    for (int64_t i = 0; i < h; i++) {
        const uint8_t *rows[EF_QROWS]; /* row i of each run */
        for (int j = 0; j < EF_QROWS; j++) rows[j] = base + (uint64_t)(r0 + j * h + i) * row_bytes;
        for (int32_t t = t0; t < t0 + tb; t++) {
            float o[EF_QROWS]; /* [EF_QROWS] */
            k->rows_int(rows, xa + (int64_t)t * n_groups, in, o);
            for (int j = 0; j < EF_QROWS; j++) y[(int64_t)t * out + r0 + j * h + i] = o[j];
        }
    }
    for (int64_t r = r0 + EF_QROWS * h; r < r1; r++) {
        const uint8_t *row = base + (uint64_t)r * row_bytes;
        for (int32_t t = t0; t < t0 + tb; t++) y[(int64_t)t * out + r] = k->row_int(row, xa + (int64_t)t * n_groups, in);
    }
}

void ef_cpu_qmatmul_rows(const ef_tensor *w, const float *x, const struct ef_qgroup_a *xa, int32_t n, float *y,
                         int64_t r0, int64_t r1, int level, int32_t token_block) {
    const ef_qtype_ops *ops = ef_qtype_ops_get(w->type);
    ef_qkernels k; /* the kernels of this type at this SIMD level */
    if (!ops || !ef_qkernels_resolve(w->type, level, &k)) return; /* the dispatcher never sends other types */
    if (!xa && ef_cpu_simd_qdense(level, w, x, n, y, r0, r1, token_block)) return; /* weight-only on dense kernels */
    const int64_t in = w->ne[0], out = w->ne[1];
    const int64_t n_groups = (in + EF_QGROUP - 1) / EF_QGROUP;
    const uint64_t row_bytes = ef_type_row_size(w->type, in);
    const uint64_t group_bytes = ef_type_row_size(w->type, EF_QGROUP);
    const int64_t tok_bytes = xa ? n_groups * (int64_t)sizeof(ef_qgroup_a) : in * (int64_t)sizeof(float);
    const int32_t tb_max = clamp_token_block(token_block, tok_bytes);
    ef_qgroup_w g;                 /* one unpacked weight group */
    float acc[MAX_TOKEN_BLOCK];    /* [tb] running sums of one row */

    const int fused = xa ? k.row_int != NULL : k.row_f32 != NULL;

    for (int32_t t0 = 0; t0 < n; t0 += tb_max) {
        const int32_t tb = n - t0 < tb_max ? n - t0 : tb_max;
        if (fused && xa && k.rows_int) { /* EF_QROWS rows at a time, taken from as many equal runs */
            rows_int_runs(&k, w, xa, n_groups, t0, tb, y, r0, r1);
            continue;
        }
        if (fused) { /* whole rows, read from their blocks; the row stays in L1 across tokens */
            for (int64_t r = r0; r < r1; r++) {
                const uint8_t *row = (const uint8_t *)w->data + (uint64_t)r * row_bytes;
                for (int32_t t = t0; t < t0 + tb; t++)
                    y[(int64_t)t * out + r] = xa ? k.row_int(row, xa + (int64_t)t * n_groups, in)
                                                 : k.row_f32(row, x + (int64_t)t * in, in);
            }
            continue;
        }
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = (const uint8_t *)w->data + (uint64_t)r * row_bytes;
            for (int32_t t = 0; t < tb; t++) acc[t] = 0.0f;
            for (int64_t gi = 0; gi < n_groups; gi++) {
                const int64_t left = in - gi * EF_QGROUP;
                const int32_t n32 = left >= EF_QGROUP ? EF_QGROUP_CHUNKS : (int32_t)(left / 32);
                k.unpack(row + (uint64_t)gi * group_bytes, n32, &g);
                if (xa) {
                    const ef_qgroup_a *a = xa + (int64_t)t0 * n_groups + gi; /* token t0's group gi */
                    for (int32_t t = 0; t < tb; t++, a += n_groups)
                        acc[t] += k.dot_int(&g, a, n32, ops->has_min);
                } else {
                    const float *xg = x + (int64_t)t0 * in + gi * EF_QGROUP; /* [tb][in] slice */
                    for (int32_t t = 0; t < tb; t++, xg += in)
                        acc[t] += k.dot_f32(&g, xg, n32);
                }
            }
            for (int32_t t = 0; t < tb; t++) y[(int64_t)(t0 + t) * out + r] = acc[t];
        }
    }
}

void ef_cpu_qmatmul_quantize_x(uint32_t type, const float *x, int64_t in, int32_t t0, int32_t t1,
                               struct ef_qgroup_a *xa) {
    const ef_qtype_ops *ops = ef_qtype_ops_get(type);
    if (!ops) return;
    const int64_t n_groups = (in + EF_QGROUP - 1) / EF_QGROUP;
    for (int32_t t = t0; t < t1; t++)
        for (int64_t gi = 0; gi < n_groups; gi++) {
            const int64_t left = in - gi * EF_QGROUP;
            const int32_t n32 = left >= EF_QGROUP ? EF_QGROUP_CHUNKS : (int32_t)(left / 32);
            ef_qact_quantize_group(x + (int64_t)t * in + gi * EF_QGROUP, n32, ops->act_per_32,
                                   xa + (int64_t)t * n_groups + gi);
        }
}
