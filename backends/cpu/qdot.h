/* Quantized dot products for the matmul of quantized weights (qmatmul.c).
 *
 * Every quantized weight type is read a "group" at a time: 256 elements
 * (one K-quant super-block, or 8 blocks of a 32-element type; a row's last
 * group may hold fewer 32-element chunks). A type-specific unpacker turns
 * the group's bytes into one common form, small enough for L1 (never a
 * whole weight in F32):
 *
 *   w[i] = d[i/32] * scale[i/16] * q[i] - dmin[i/32] * min[i/16]
 *
 * with int8 codes q and integer scales/mins. Two dot kernels consume it:
 *   weight-only  codes converted to F32 in registers, FMA with F32 x;
 *   integer-dot  x quantized per block to int8 (ef_qgroup_a: a scale per
 *                32 elements for the 32-element types, Q8_0-style; one
 *                scale per 256 with per-16 sums for the K-quants,
 *                Q8_K-style); products summed as int8×int8 → int32
 *                (AVX2: maddubs/madd), scaled once per 32 elements.
 * Each unpacker has a scalar reference (qdot_<family>.c) and an AVX2 twin
 * (qdot_<family>_avx2.c) that must give the same bytes; the dot kernels
 * have a scalar reference (qdot_core.c) and an AVX2 version
 * (qdot_core_avx2.c) that differ by rounding order only. Q8_0, Q4_0, Q4_K
 * and Q6_K also have fused AVX2 row kernels that skip the unpacked form. */
#ifndef EF_BACKENDS_CPU_QDOT_H
#define EF_BACKENDS_CPU_QDOT_H

#include <stdint.h>

#define EF_QGROUP 256      /* elements per group */
#define EF_QGROUP_CHUNKS 8 /* 32-element chunks per group */

/* One unpacked weight group. */
typedef struct ef_qgroup_w {
    int8_t q[EF_QGROUP];  /* [256] integer codes */
    int16_t scale[16];    /* [16] integer scale per 16 elements */
    int16_t min[16];      /* [16] integer min per 16 elements (0 when the type has none) */
    float d[8];           /* [8] scale factor per 32 elements */
    float dmin[8];        /* [8] min factor per 32 elements */
} ef_qgroup_w;

/* One group of quantized activations: x[i] ≈ d[i/32] * q[i]. */
typedef struct ef_qgroup_a {
    int8_t q[EF_QGROUP]; /* [256] codes in -127..127 */
    int16_t bsum[16];    /* [16] sum of q per 16 elements (for the mins) */
    float d[8];          /* [8] scale per 32 (the same 8 times for one scale per group) */
} ef_qgroup_a;

/* Unpacks n32 (1..8) chunks of 32 elements starting at src, a group
 * boundary; K-quant types are always called with 8. */
typedef void (*ef_qunpack_fn)(const uint8_t *src, int32_t n32, ef_qgroup_w *g);

/* A whole row (in elements) against one token, AVX2, fused: the weights
 * are read straight from their blocks, no unpacked group in between.
 * xa: [ceil(in/256)] groups; x: [in]. */
typedef float (*ef_qrow_int_fn)(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
typedef float (*ef_qrow_f32_fn)(const uint8_t *row, const float *x, int64_t in);
/* The same for EF_QROWS rows at once, out[i] for rows[i]: each row's sum
 * in the order (and with the bits) of the level's ef_qrow_int_fn, the rows
 * walked side by side so their loads overlap as EF_QROWS streams. */
#define EF_QROWS 4
typedef void (*ef_qrows_int_fn)(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out);

typedef struct ef_qtype_ops {
    int32_t block;           /* weight block size: 32 or 256 */
    int32_t has_min;         /* 1: the min term is used */
    int32_t act_per_32;      /* 1: activation scale per 32 (Q8_0-style), 0: per 256 (Q8_K-style) */
    ef_qunpack_fn unpack;    /* scalar reference */
    ef_qunpack_fn unpack_avx2; /* AVX2 twin (same bytes) */
    ef_qrow_int_fn row_int_avx2; /* fused integer-dot row kernel, or NULL (groups instead) */
    ef_qrow_f32_fn row_f32_avx2; /* fused weight-only row kernel, or NULL (groups instead) */
    ef_qrows_int_fn rows_int_avx2; /* row_int_avx2 over EF_QROWS rows, or NULL */
} ef_qtype_ops;

/* NULL when `type` has no quantized matmul kernels. */
const ef_qtype_ops *ef_qtype_ops_get(uint32_t type);

typedef float (*ef_qdot_f32_fn)(const ef_qgroup_w *g, const float *x, int32_t n32);
typedef float (*ef_qdot_int_fn)(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min);

/* The kernels one quantized matmul runs, for one weight type at one SIMD
 * level. A level's table may leave members NULL: ef_qkernels_resolve fills
 * them from the level below it in the same architecture (AVX-512 → AVX2 →
 * scalar; NEON dotprod → NEON → scalar). row_int/row_f32 stay NULL when no
 * level has a fused row kernel (the group kernels run instead). */
typedef struct ef_qkernels {
    ef_qunpack_fn unpack;
    ef_qrow_int_fn row_int;
    ef_qrow_f32_fn row_f32;
    ef_qdot_f32_fn dot_f32;
    ef_qdot_int_fn dot_int;
    ef_qrows_int_fn rows_int; /* row_int over EF_QROWS rows, or NULL; only from row_int's own table */
} ef_qkernels;

/* What `level` (cpu_features.h's ef_cpu_simd, as an int) runs for `type`;
 * 0 when the type has no quantized kernels. */
int ef_qkernels_resolve(uint32_t type, int level, ef_qkernels *out);

/* Per-architecture tables (NULL: nothing at that level for this type).
 * qtable_avx512.c; qtable_neon.c (dotprod 1: the SDOT/UDOT table). */
const ef_qkernels *ef_qkernels_avx512(uint32_t type);
const ef_qkernels *ef_qkernels_neon(uint32_t type, int dotprod);

/* Activations x[n32*32] of one group → a; lanes past n32 chunks are zero.
 * per_32: one scale per 32 elements, else one for the group. */
void ef_qact_quantize_group(const float *x, int32_t n32, int per_32, ef_qgroup_a *a);

/* The dequantized values of an unpacked group. out: [n32*32]. */
void ef_qgroup_dequantize(const ef_qgroup_w *g, int32_t n32, float *out);

/* Σ w·x over n32 chunks. Weight-only: x F32 [n32*32]; integer-dot: a. */
float ef_qdot_f32_scalar(const ef_qgroup_w *g, const float *x, int32_t n32);
float ef_qdot_int_scalar(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min);
float ef_qdot_f32_avx2(const ef_qgroup_w *g, const float *x, int32_t n32);
float ef_qdot_int_avx2(const ef_qgroup_w *g, const ef_qgroup_a *a, int32_t n32, int has_min);

/* Scalar unpackers (qdot_<family>.c) and AVX2 twins (qdot_<family>_avx2.c). */
#define EF_QUNPACK_DECL(name)                                                  \
    void ef_qunpack_##name(const uint8_t *src, int32_t n32, ef_qgroup_w *g); \
    void ef_qunpack_##name##_avx2(const uint8_t *src, int32_t n32, ef_qgroup_w *g)
EF_QUNPACK_DECL(q8_0);
EF_QUNPACK_DECL(q4_0);
EF_QUNPACK_DECL(q4_1);
EF_QUNPACK_DECL(q5_0);
EF_QUNPACK_DECL(q5_1);
EF_QUNPACK_DECL(q4_k);
EF_QUNPACK_DECL(q5_k);
EF_QUNPACK_DECL(q6_k);
EF_QUNPACK_DECL(q2_k);
EF_QUNPACK_DECL(q3_k);
EF_QUNPACK_DECL(tq2_0);
#undef EF_QUNPACK_DECL

/* Fused AVX2 row kernels (qdot_<family>_avx2.c; never called without AVX2). */
float ef_qrow_q8_0_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
void ef_qrows_q8_0_int_avx2(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out);
float ef_qrow_q8_0_f32_avx2(const uint8_t *row, const float *x, int64_t in);
float ef_qrow_q4_0_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
void ef_qrows_q4_0_int_avx2(const uint8_t *const *rows, const ef_qgroup_a *xa, int64_t in, float *out);
float ef_qrow_q4_0_f32_avx2(const uint8_t *row, const float *x, int64_t in);
float ef_qrow_q4_k_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q4_k_f32_avx2(const uint8_t *row, const float *x, int64_t in);
float ef_qrow_q6_k_int_avx2(const uint8_t *row, const ef_qgroup_a *xa, int64_t in);
float ef_qrow_q6_k_f32_avx2(const uint8_t *row, const float *x, int64_t in);

#endif
