/* Which SIMD kernels the CPU backend may use, decided at run time so one
 * build runs on any x86-64: cpuid + xgetbv say what the processor and OS
 * support, the EF_CPU_SIMD environment variable (0 = scalar reference only)
 * or ef_cpu_simd_force() narrow it. */
#ifndef EF_BACKENDS_CPU_FEATURES_H
#define EF_BACKENDS_CPU_FEATURES_H

typedef enum ef_cpu_simd {
    EF_CPU_SIMD_SCALAR = 0, /* the plain-C reference kernels */
    EF_CPU_SIMD_AVX2 = 1    /* AVX2 + FMA + F16C (x86-64) */
} ef_cpu_simd;

/* What this processor and this build can run (ignores the switches). */
ef_cpu_simd ef_cpu_simd_supported(void);

/* What the kernels use now: the supported level, lowered by EF_CPU_SIMD
 * (read once, at the first call) and by ef_cpu_simd_force(). */
ef_cpu_simd ef_cpu_simd_active(void);

/* Caps the level for the whole process (tests use this to compare kernels);
 * a negative level returns to the automatic choice. Not meant to be flipped
 * while a matmul is running on another thread. */
void ef_cpu_simd_force(int level);

/* Name of a level: "scalar", "avx2". */
const char *ef_cpu_simd_name(ef_cpu_simd level);

#endif
