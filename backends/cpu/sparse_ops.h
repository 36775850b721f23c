/* Kernels of the sparse FFN decode (one token): only the active neurons'
 * rows of ffn_up are computed, and ffn_down is applied only over them,
 * reading a transposed copy of ffn_down (ffn_down_t, {n_embd, n_ff}: row j
 * is neuron j's output column, contiguous), so a skipped neuron is bytes
 * never read.
 *
 * Types: F32, F16, Q8_0 and Q4_0 have AVX2 kernels (sparse_ffn_avx2.c);
 * every type with a dequantizer has the scalar reference (sparse_ffn.c),
 * which is also what runs when EF_CPU_SIMD=0. Both split work over the pool
 * so that each output is summed in one worker in ascending order: the
 * thread count changes no bit. */
#ifndef EF_BACKENDS_CPU_SPARSE_OPS_H
#define EF_BACKENDS_CPU_SPARSE_OPS_H

#include <stdint.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "model/model.h"

/* y[k] = W[idx[k]] · x for k < n_idx: the listed rows of W ({in, out})
 * against one token. x: [in]; idx: [n_idx] row ids; y: [n_idx] compact. */
void ef_cpu_sparse_rows(ef_pool *pool, const ef_tensor *w, const float *x, const int32_t *idx, int32_t n_idx,
                        float *y);

/* ffn_down laid out for the accumulation: row j holds neuron j's column of
 * the original {n_ff, n_out} weight, contiguous.
 *   F32, F16 (and the F16 fallback for other types): plain rows of n_out;
 *   Q8_0, Q4_0: "column-blocked": the original blocks of 32 neurons keep
 *     their codes and scales, only regrouped: codes of neuron j for every
 *     output (Q8_0: int8 [n_out]; Q4_0: per 32 outputs 16 bytes, low nibble
 *     output i, high nibble output i+16, value q − 8) and the F16 scale of each
 *     (block of 32 neurons, output). Nothing is requantized, so the sparse
 *     path computes with exactly the dense weights. */
typedef struct ef_sparse_down {
    uint32_t type;        /* EF_TYPE_F32, F16, Q8_0 or Q4_0 */
    int64_t n_out, n_ff;
    uint64_t row_bytes;   /* bytes of one neuron's row in `rows` */
    const uint8_t *rows;  /* [n_ff][row_bytes] */
    const uint16_t *scales; /* [n_ff/32][n_out] F16, the blocks' own (Q8_0, Q4_0), else NULL */
} ef_sparse_down;

/* The layout ef_cpu_sparse_down_build makes for w ({n_ff, n_out}) and its
 * size in bytes (rows + scales); 0 when w's type has no dequantizer. */
uint32_t ef_cpu_sparse_down_type(const ef_tensor *w);
uint64_t ef_cpu_sparse_down_bytes(const ef_tensor *w);
/* Builds it into buf (ef_cpu_sparse_down_bytes bytes, 4-byte aligned);
 * *out points into buf. EF_ERR_UNSUPPORTED for a type without dequantizer;
 * EF_ERR_NO_MEMORY for the conversion scratch. */
ef_status ef_cpu_sparse_down_build(const ef_tensor *w, void *buf, ef_sparse_down *out);

/* y[out] = Σ_k a[k] · D[idx[k]] over k ascending (idx ascending). a: [n_idx];
 * y: [n_out] (overwritten; zeros when n_idx == 0). */
void ef_cpu_sparse_accum(ef_pool *pool, const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t n_idx,
                         float *y);

/* The same two kernels forced to one implementation (tests compare them):
 * avx2 = 0 is the scalar reference; avx2 = 1 needs ef_cpu_sparse_avx2_ok. */
void ef_cpu_sparse_rows_with(ef_pool *pool, int avx2, const ef_tensor *w, const float *x, const int32_t *idx,
                             int32_t n_idx, float *y);
void ef_cpu_sparse_accum_with(ef_pool *pool, int avx2, const ef_sparse_down *d, const int32_t *idx, const float *a,
                              int32_t n_idx, float *y);

/* 1 when the scalar kernels take weights of this type (it dequantizes). */
int ef_cpu_sparse_type_ok(uint32_t type);
/* 1 when this build and processor run the AVX2 kernels for this type. */
int ef_cpu_sparse_avx2_ok(uint32_t type);

/* ---- AVX2 halves (sparse_ffn_avx2.c; stubs without AVX2 flags) ---- */
int ef_cpu_sparse_avx2_built(void);
/* y[k - k0] = W[idx[k]] · x for k in [k0, k1). */
void ef_cpu_sparse_rows_avx2(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                             float *y);
/* y[c0..c1) = Σ_k a[k] · D[idx[k]][c0..c1); c0 a multiple of 32, c1 too or n_out. */
void ef_cpu_sparse_accum_avx2(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t n_idx, int64_t c0,
                              int64_t c1, float *y);

#endif
