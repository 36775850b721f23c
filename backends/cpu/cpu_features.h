/* Which SIMD kernels the CPU backend may use, decided at run time so one
 * build runs on any processor of its architecture: cpuid + xgetbv (x86-64)
 * or the kernel's hwcaps (aarch64) say what the processor and OS support;
 * the EF_CPU_SIMD environment variable or ef_cpu_simd_force() narrow it.
 *
 * Levels are ranked within an architecture: rank 0 is the scalar reference,
 * rank 1 the base SIMD set (AVX2 / NEON), rank 2 the wider one (AVX-512 /
 * NEON with the dot-product instructions). A level of rank 2 implies that
 * every rank-1 kernel of its architecture may run too. */
#ifndef EF_BACKENDS_CPU_FEATURES_H
#define EF_BACKENDS_CPU_FEATURES_H

typedef enum ef_cpu_simd {
    EF_CPU_SIMD_SCALAR = 0,      /* the plain-C reference kernels */
    EF_CPU_SIMD_AVX2 = 1,        /* x86-64: AVX2 + FMA + F16C */
    EF_CPU_SIMD_AVX512 = 2,      /* x86-64: the above + AVX-512 F, DQ, BW, VL */
    EF_CPU_SIMD_NEON = 3,        /* aarch64: Advanced SIMD (always there) */
    EF_CPU_SIMD_NEON_DOTPROD = 4 /* aarch64: + SDOT/UDOT (Armv8.2 dotprod) */
} ef_cpu_simd;

/* 1 for the x86-64 levels: the AVX2 kernels may run (AVX-512 implies them). */
static inline int ef_cpu_simd_x86(ef_cpu_simd l) { return l == EF_CPU_SIMD_AVX2 || l == EF_CPU_SIMD_AVX512; }
/* 1 for the aarch64 levels: the NEON kernels may run. */
static inline int ef_cpu_simd_arm(ef_cpu_simd l) { return l == EF_CPU_SIMD_NEON || l == EF_CPU_SIMD_NEON_DOTPROD; }
/* 0 scalar, 1 base SIMD (AVX2, NEON), 2 wide SIMD (AVX-512, NEON dotprod). */
int ef_cpu_simd_rank(ef_cpu_simd l);

/* What this processor and this build can run (ignores the switches). */
ef_cpu_simd ef_cpu_simd_supported(void);

/* What the kernels use now: the supported level, lowered by EF_CPU_SIMD
 * (read once, at the first call: "0" or "scalar", "avx2", "avx512", "neon",
 * "dotprod"; a name caps the rank, so "avx2" on an AVX-512 CPU keeps the
 * AVX2 kernels) and by ef_cpu_simd_force(). */
ef_cpu_simd ef_cpu_simd_active(void);

/* Caps the rank for the whole process at the rank of `level` (tests use this
 * to compare kernels); a negative level returns to the automatic choice. Not
 * meant to be flipped while a matmul is running on another thread. */
void ef_cpu_simd_force(int level);

/* 1 when the processor has AVX-512 VNNI (vpdpbusd), 0 otherwise or off x86. */
int ef_cpu_x86_avx512_vnni(void);
/* 1 when the processor has AVX512_BF16 (vdpbf16ps), 0 otherwise or off x86. */
int ef_cpu_x86_avx512_bf16(void);

/* Name of a level: "scalar", "avx2", "avx512", "neon", "neon-dotprod". */
const char *ef_cpu_simd_name(ef_cpu_simd level);

#endif
