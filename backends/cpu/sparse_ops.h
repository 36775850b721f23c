/* Kernels of the sparse FFN decode (one token): only the active neurons'
 * rows of ffn_up are computed, and ffn_down is applied only over them,
 * reading a transposed copy of ffn_down (ffn_down_t, {n_embd, n_ff}: row j
 * is neuron j's output column, contiguous), so a skipped neuron is bytes
 * never read.
 *
 * Types: F32, F16, Q8_0 and Q4_0 have AVX2, AVX-512 and NEON kernels
 * (sparse_ffn_avx2.c, sparse_ffn_avx512.c, sparse_ffn_neon.c, sharing
 * their loops through sparse_ffn_drive.h);
 * every type with a dequantizer has the scalar reference (sparse_ffn.c),
 * which is also what runs when EF_CPU_SIMD=0. Both split work over the pool
 * so that the thread count changes no bit (rows: whole rows per worker;
 * accumulation: fixed parts of the active list, see below). */
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

/* The accumulation is cut into parts of consecutive active neurons (whole
 * blocks of 32 for Q8_0/Q4_0; at most EF_SPARSE_MAX_PARTS, about
 * EF_SPARSE_PART_MIN neurons each), chosen from idx alone. Each part is
 * summed from zero, its neurons ascending, into its own [n_out] buffer and
 * the parts are added in ascending order afterwards; workers take whole
 * parts, so each streams whole neuron rows and the thread count changes no
 * bit. */
#define EF_SPARSE_MAX_PARTS 8
#define EF_SPARSE_PART_MIN 48

/* Floats of scratch the accumulation needs for n_out outputs. */
static inline int64_t ef_cpu_sparse_accum_scratch(int64_t n_out) { return (EF_SPARSE_MAX_PARTS - 1) * n_out; }

/* The parts of an active list: bounds[p] .. bounds[p+1] is part p;
 * returns the number of parts (1 when n_idx is 0). bounds: [EF_SPARSE_MAX_PARTS + 1]. */
int32_t ef_cpu_sparse_parts(const ef_sparse_down *d, const int32_t *idx, int32_t n_idx, int32_t *bounds);

/* y[out] = Σ_k a[k] · D[idx[k]] (idx ascending), summed by parts as above.
 * a: [n_idx]; y: [n_out] (overwritten; zeros when n_idx == 0); scratch:
 * [ef_cpu_sparse_accum_scratch(n_out)]. */
void ef_cpu_sparse_accum(ef_pool *pool, const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t n_idx,
                         float *y, float *scratch);

/* The gate pass fused with the gathered up rows, in one pool run: for
 * every neuron j, act[j] = act(W_gate[j] · x) (SiLU: the vectorized
 * ef_cpu_silu of silu.h, or ReLU); the active
 * ones (|act| ≥ thr; ReLU: act > thr), ascending, in idx[0..n_act) and
 * h[k] = act · (W_up[idx[k]] · x). Workers take whole chunks of
 * EF_SPARSE_GATE_CHUNK neurons, so the thread count changes no bit.
 * act, idx, h: [n_ff]; count: [n_ff / EF_SPARSE_GATE_CHUNK + 1]. Returns n_act. */
#define EF_SPARSE_GATE_CHUNK 64
typedef struct ef_sparse_gate_up {
    const ef_tensor *gate, *up; /* {in, n_ff} */
    const float *x;             /* [in] */
    float thr;
    int relu;
} ef_sparse_gate_up;
int32_t ef_cpu_sparse_gate_up(ef_pool *pool, int impl, const ef_sparse_gate_up *g, float *act, int32_t *idx,
                              float *h, int32_t *count);

/* The implementations: the scalar reference, AVX2 (sparse_ffn_avx2.c),
 * AVX-512 (sparse_ffn_avx512.c; the same bits as AVX2 in the accumulation)
 * and NEON (sparse_ffn_neon.c, aarch64; the AVX2 summation order).
 * EF_SPARSE_N_IMPL counts them (tests loop over impl < EF_SPARSE_N_IMPL). */
enum { EF_SPARSE_REF = 0, EF_SPARSE_AVX2 = 1, EF_SPARSE_AVX512 = 2, EF_SPARSE_NEON = 3, EF_SPARSE_N_IMPL = 4 };

/* The same two kernels forced to one implementation (tests compare them);
 * impl must pass ef_cpu_sparse_impl_ok. */
void ef_cpu_sparse_rows_with(ef_pool *pool, int impl, const ef_tensor *w, const float *x, const int32_t *idx,
                             int32_t n_idx, float *y);
void ef_cpu_sparse_accum_with(ef_pool *pool, int impl, const ef_sparse_down *d, const int32_t *idx, const float *a,
                              int32_t n_idx, float *y, float *scratch);

/* 1 when the scalar kernels take weights of this type (it dequantizes). */
int ef_cpu_sparse_type_ok(uint32_t type);
/* 1 when this build and processor run implementation impl for this type. */
int ef_cpu_sparse_impl_ok(int impl, uint32_t type);
/* The implementation the dispatcher picks for this type at the active SIMD
 * level (EF_CPU_SIMD=0: the reference). */
int ef_cpu_sparse_impl(uint32_t type);

/* ---- SIMD halves (stubs when built without their flags) ---- */
int ef_cpu_sparse_avx2_built(void);
int ef_cpu_sparse_avx512_built(void);
int ef_cpu_sparse_neon_built(void);
/* y[k - k0] = W[idx[k]] · x for k in [k0, k1); idx NULL: W[k] (contiguous
 * rows, not prefetched by hand). */
void ef_cpu_sparse_rows_avx2(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                             float *y);
void ef_cpu_sparse_rows_avx512(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                               float *y);
void ef_cpu_sparse_rows_neon(const ef_tensor *w, const float *x, const int32_t *idx, int32_t k0, int32_t k1,
                             float *y);
/* y[n_out] = Σ_{k0 ≤ k < k1} a[k] · D[idx[k]], from zero, k ascending
 * (Q8_0/Q4_0: [k0, k1) holds whole blocks of 32 neurons). */
void ef_cpu_sparse_accum_avx2(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                              float *y);
void ef_cpu_sparse_accum_avx512(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                                float *y);
void ef_cpu_sparse_accum_neon(const ef_sparse_down *d, const int32_t *idx, const float *a, int32_t k0, int32_t k1,
                              float *y);

#endif
