/* Run-time CPU feature detection for kernel dispatch (see cpu_features.h). */
#include "cpu/cpu_features.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/platform.h"
#include "cpu/matmul_kernels.h"

static int g_vnni; /* AVX-512 VNNI; set once with the level */
static int g_bf16; /* AVX512_BF16 (VDPBF16PS); set once with the level */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

/* XCR0: which register states the OS saves on a context switch. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static ef_cpu_simd detect_hardware(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return EF_CPU_SIMD_SCALAR;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c)) return EF_CPU_SIMD_SCALAR;
    /* The OS must save XMM (bit 1) and YMM (bit 2) state, or AVX faults. */
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 6u) != 6u) return EF_CPU_SIMD_SCALAR;
    if (__get_cpuid_max(0, NULL) < 7) return EF_CPU_SIMD_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    if (!avx2) return EF_CPU_SIMD_SCALAR;
    /* AVX-512 F (b16), DQ (b17), BW (b30), VL (b31), and the OS saving the
     * opmask and ZMM states (XCR0 bits 5..7). */
    const int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    if (!avx512 || (xcr0 & 0xe0u) != 0xe0u) return EF_CPU_SIMD_AVX2;
    g_vnni = (c >> 11) & 1;
    if (a >= 1) { /* leaf 7 reports its highest subleaf in eax */
        __cpuid_count(7, 1, a, b, c, d);
        g_bf16 = (a >> 5) & 1;
    }
    return EF_CPU_SIMD_AVX512;
}
#elif defined(__aarch64__)
static ef_cpu_simd detect_hardware(void) {
    return ef_cpu_arm_dotprod() ? EF_CPU_SIMD_NEON_DOTPROD : EF_CPU_SIMD_NEON;
}
#else
static ef_cpu_simd detect_hardware(void) { return EF_CPU_SIMD_SCALAR; }
#endif

static ef_once_flag g_once = EF_ONCE_INIT;
static ef_cpu_simd g_supported;       /* hardware ∧ build; set once */
static int g_env_rank;                /* EF_CPU_SIMD as a rank cap; set once */
static atomic_int g_forced = -1;      /* ef_cpu_simd_force(); -1 = none */

/* The level of the supported architecture with the given rank. */
static ef_cpu_simd level_at_rank(ef_cpu_simd best, int rank) {
    if (rank >= ef_cpu_simd_rank(best)) return best;
    if (rank <= 0) return EF_CPU_SIMD_SCALAR;
    return ef_cpu_simd_arm(best) ? EF_CPU_SIMD_NEON : EF_CPU_SIMD_AVX2;
}

static int env_rank(const char *env) {
    if (!env || !env[0]) return 2;
    static const struct { const char *name; int rank; } names[] = {
        {"0", 0}, {"scalar", 0}, {"avx2", 1}, {"neon", 1}, {"1", 1}, {"avx512", 2}, {"dotprod", 2},
        {"neon-dotprod", 2}, {"2", 2}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(env, names[i].name)) return names[i].rank;
    return 2; /* an unknown value leaves the choice automatic */
}

static void init_once(void) {
    ef_cpu_simd hw = detect_hardware();
    /* Kernel files compile to stubs without their instruction-set flags. */
    if (hw == EF_CPU_SIMD_AVX512 && !ef_cpu_avx512_kernels_built()) hw = EF_CPU_SIMD_AVX2;
    if (hw == EF_CPU_SIMD_AVX2 && !ef_cpu_avx2_kernels_built()) hw = EF_CPU_SIMD_SCALAR;
    if (ef_cpu_simd_arm(hw) && !ef_cpu_neon_kernels_built()) hw = EF_CPU_SIMD_SCALAR;
    if (hw != EF_CPU_SIMD_AVX512) g_vnni = 0, g_bf16 = 0;
    g_supported = hw;
    g_env_rank = env_rank(getenv("EF_CPU_SIMD"));
}

int ef_cpu_simd_rank(ef_cpu_simd l) {
    switch (l) {
    case EF_CPU_SIMD_AVX2: case EF_CPU_SIMD_NEON: return 1;
    case EF_CPU_SIMD_AVX512: case EF_CPU_SIMD_NEON_DOTPROD: return 2;
    default: return 0;
    }
}

ef_cpu_simd ef_cpu_simd_supported(void) {
    ef_call_once(&g_once, init_once);
    return g_supported;
}

ef_cpu_simd ef_cpu_simd_active(void) {
    ef_call_once(&g_once, init_once);
    ef_cpu_simd level = level_at_rank(g_supported, g_env_rank);
    int forced = atomic_load_explicit(&g_forced, memory_order_relaxed);
    if (forced >= 0) level = level_at_rank(level, ef_cpu_simd_rank((ef_cpu_simd)forced));
    return level;
}

void ef_cpu_simd_force(int level) {
    atomic_store_explicit(&g_forced, level < 0 ? -1 : level, memory_order_relaxed);
}

int ef_cpu_x86_avx512_vnni(void) {
    ef_call_once(&g_once, init_once);
    return g_vnni;
}

int ef_cpu_x86_avx512_bf16(void) {
    ef_call_once(&g_once, init_once);
    return g_bf16;
}

const char *ef_cpu_simd_name(ef_cpu_simd level) {
    switch (level) {
    case EF_CPU_SIMD_AVX2: return "avx2";
    case EF_CPU_SIMD_AVX512: return "avx512";
    case EF_CPU_SIMD_NEON: return "neon";
    case EF_CPU_SIMD_NEON_DOTPROD: return "neon-dotprod";
    default: return "scalar";
    }
}
