/* exp(x) and the logistic sigmoid 1/(1 + exp(−x)) over float arrays,
 * vectorized (AVX2, AVX-512, NEON) with a scalar reference; all levels
 * give the same bits. For the training step's softmax rows, cross-entropy
 * and SwiGLU (lib/train), where libm's expf call per value showed up.
 *
 * Method (the range reduction and polynomial of silu.h, whose constants it
 * shares), for the whole float range:
 *   t = clamp(x, −104, 89)   (exp(−104) rounds to 0, exp(89) overflows)
 *   n = rint(t·log2 e), r = t − n·ln 2 (two FMAs, ln 2 split in hi + lo)
 *   exp(r) by the degree-7 Taylor polynomial (Horner with FMAs)
 *   result = (exp(r) · 2^n1) · 2^n2 with n1 = trunc(n/2), n2 = n − n1
 * n ∈ [−150, 128], so both scales are normal floats: the first product is
 * exact and the second rounds once, which gives correctly scaled denormals
 * near −104 and +inf past ln(FLT_MAX) ≈ 88.72. −inf gives 0, +inf gives
 * +inf, NaN gives NaN (the input).
 * Accuracy (tests/train/test_exp.c): relative error against exp in double
 * ≤ EF_EXP_MAX_REL where the result is a normal float, absolute error
 * ≤ 2^−149 (one denormal step) below that. Every step is one IEEE
 * operation or FMA in the same order at every level (no flush-to-zero is
 * assumed), so the SIMD kernels equal the scalar reference bit for bit and
 * a result never depends on where an array is split. */
#ifndef EF_BACKENDS_CPU_EXP_H
#define EF_BACKENDS_CPU_EXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu/silu.h" /* ef_exp_poly_ref and its constants */

/* The documented bound on |exp − exact| / exact for normal results (1.5 ulp
 * at 1; measured 7.3e-8 over 1.8 M values, libm's expf 6.0e-8). */
#define EF_EXP_MAX_REL 1.8e-7

#define EF_EXP_LO -104.0f /* below: the result rounds to +0 */
#define EF_EXP_HI 89.0f   /* above: the result overflows to +inf */

/* 2^k for an integral float k ∈ [−126, 127], built in the exponent bits. */
static inline float ef_exp_pow2_ref(float k) {
    const int32_t bits = ((int32_t)k + 127) * (1 << 23);
    float s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

/* The scalar reference for one value; the SIMD files use it for tails. */
static inline float ef_exp_ref(float x) {
    if (x != x) return x; /* NaN */
    const float t = x < EF_EXP_LO ? EF_EXP_LO : x > EF_EXP_HI ? EF_EXP_HI : x;
    float n;                                /* [−150, 128], integral */
    const float p = ef_exp_poly_ref(t, &n); /* exp(t − n·ln 2) */
    const float n1 = truncf(n * 0.5f), n2 = n - n1;
    return p * ef_exp_pow2_ref(n1) * ef_exp_pow2_ref(n2);
}

/* σ(x) = 1 / (1 + exp(−x)): 0 when exp(−x) overflows (x < −88.72, where σ
 * is below FLT_MIN), 1 when it underflows. */
static inline float ef_sigmoid_ref(float x) { return 1.0f / (1.0f + ef_exp_ref(-x)); }

/* y[i] = exp(x[i]) / σ(x[i]) for i < n (y may be x), with the kernel of the
 * active SIMD level (ef_cpu_simd_active()). */
void ef_cpu_exp(const float *x, float *y, int64_t n);
void ef_cpu_sigmoid(const float *x, float *y, int64_t n);
/* The level ef_cpu_exp would use now (callers in loops resolve it once). */
int ef_cpu_exp_level(void);
/* The same with the kernel of one ef_cpu_simd level (tests compare them);
 * level must pass ef_cpu_exp_level_ok. */
void ef_cpu_exp_with(int level, const float *x, float *y, int64_t n);
void ef_cpu_sigmoid_with(int level, const float *x, float *y, int64_t n);
/* 1 when this build and processor run the kernel of that level. */
int ef_cpu_exp_level_ok(int level);

/* The SIMD halves (stubs, returning 0 from *_built, without their flags). */
int ef_cpu_exp_avx2_built(void);
int ef_cpu_exp_avx512_built(void);
int ef_cpu_exp_neon_built(void);
void ef_cpu_exp_avx2(const float *x, float *y, int64_t n);
void ef_cpu_exp_avx512(const float *x, float *y, int64_t n);
void ef_cpu_exp_neon(const float *x, float *y, int64_t n);
void ef_cpu_sigmoid_avx2(const float *x, float *y, int64_t n);
void ef_cpu_sigmoid_avx512(const float *x, float *y, int64_t n);
void ef_cpu_sigmoid_neon(const float *x, float *y, int64_t n);

#endif
