/* SiLU, silu(g) = g · σ(g), over arrays, vectorized (AVX2, AVX-512, NEON)
 * with a scalar reference; all levels give the same bits.
 *
 * Method (one expf per value made the activation a visible part of the
 * sparse FFN's gate pass): with a = |g| and e = exp(−a) ∈ (0, 1] (never
 * overflows),
 *   silu(g) = g / (1 + e)          g ≥ 0
 *           = g · e / (1 + e)      g < 0
 * exp(t), t = −min(a, 126·ln 2): n = rint(t·log2 e), r = t − n·ln 2 (two
 * FMAs, ln 2 split into a float and its remainder), exp(r) by the degree-7
 * Taylor polynomial (Horner, FMAs; truncation < 1e-8 relative for
 * |r| ≤ ln2/2), times 2^n built in the exponent bits (n ≥ −126: a normal
 * scale). For a > 126·ln 2 (≈ 87.34) e is 0: the result is g (g > 0) or −0
 * (g < 0, where the true value is below 2e-36 in magnitude; the dense
 * g / (1 + expf(−g)) gives denormals or −0 there).
 * Accuracy (tests/sparse/test_silu.c): relative error against silu in
 * double ≤ EF_SILU_MAX_REL for |g| ≤ 87.3 (measured 1.84e-7 over 1.8 M
 * values; the expf form g / (1 + expf(−g)): 1.44e-7). Every step is one IEEE operation
 * or FMA in the same order at every level, so the SIMD kernels equal the
 * scalar reference bit for bit (no flush-to-zero is assumed). */
#ifndef EF_BACKENDS_CPU_SILU_H
#define EF_BACKENDS_CPU_SILU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The documented bound on |silu − exact| / |exact| for |g| ≤ 87.3 (4 ulp at 1). */
#define EF_SILU_MAX_REL 4.8e-7

/* The constants every level uses. */
#define EF_SILU_LIMIT 87.336544750553f /* 126·ln 2: exp(−a) below it is a normal float */
#define EF_SILU_LOG2E 1.44269504088896341f
#define EF_SILU_LN2_HI 0.693147182464599609375f  /* ln 2 rounded to float */
#define EF_SILU_LN2_LO -1.904654299957768e-09f   /* ln 2 − EF_SILU_LN2_HI */
/* Taylor coefficients 1/k!, k = 7 … 2 (then 1, 1). */
#define EF_SILU_C7 (1.0f / 5040.0f)
#define EF_SILU_C6 (1.0f / 720.0f)
#define EF_SILU_C5 (1.0f / 120.0f)
#define EF_SILU_C4 (1.0f / 24.0f)
#define EF_SILU_C3 (1.0f / 6.0f)
#define EF_SILU_C2 0.5f

/* The core both exp-based families (silu.h, exp.h) share, in the order
 * every level follows: n = rint(t·log2 e) (into *n) and exp(r) for
 * r = t − n·ln 2 (two FMAs, |r| ≤ ln2/2) by the degree-7 polynomial. */
static inline float ef_exp_poly_ref(float t, float *n) {
    *n = rintf(t * EF_SILU_LOG2E);
    float r = fmaf(*n, -EF_SILU_LN2_HI, t);
    r = fmaf(*n, -EF_SILU_LN2_LO, r);
    float p = EF_SILU_C7;
    p = fmaf(p, r, EF_SILU_C6);
    p = fmaf(p, r, EF_SILU_C5);
    p = fmaf(p, r, EF_SILU_C4);
    p = fmaf(p, r, EF_SILU_C3);
    p = fmaf(p, r, EF_SILU_C2);
    p = fmaf(p, r, 1.0f);
    return fmaf(p, r, 1.0f);
}

/* The scalar reference for one value; the SIMD files use it for tails. */
static inline float ef_silu_ref(float g) {
    const float a = fabsf(g);
    const float t = -(a < EF_SILU_LIMIT ? a : EF_SILU_LIMIT); /* [−87.34, 0] */
    float n;                                                  /* [−126, 0], integral */
    const float p = ef_exp_poly_ref(t, &n);                   /* exp(t − n·ln 2) */
    const int32_t bits = ((int32_t)n + 127) * (1 << 23); /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale;
    if (a > EF_SILU_LIMIT) e = 0.0f;
    const float num = g >= 0.0f ? g : g * e;
    return num / (1.0f + e);
}

/* y[i] = silu(x[i]) for i < n (y may be x), with the kernel of the active
 * SIMD level (ef_cpu_simd_active()). */
void ef_cpu_silu(const float *x, float *y, int64_t n);
/* The same with the kernel of one ef_cpu_simd level (tests compare them);
 * level must pass ef_cpu_silu_level_ok. */
void ef_cpu_silu_with(int level, const float *x, float *y, int64_t n);
/* 1 when this build and processor run the kernel of that level. */
int ef_cpu_silu_level_ok(int level);

/* The SIMD halves (stubs, returning 0 from *_built, without their flags). */
int ef_cpu_silu_avx2_built(void);
int ef_cpu_silu_avx512_built(void);
int ef_cpu_silu_neon_built(void);
void ef_cpu_silu_avx2(const float *x, float *y, int64_t n);
void ef_cpu_silu_avx512(const float *x, float *y, int64_t n);
void ef_cpu_silu_neon(const float *x, float *y, int64_t n);

#endif
