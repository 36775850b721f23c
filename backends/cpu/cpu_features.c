/* Run-time CPU feature detection for kernel dispatch (see cpu_features.h). */
#include "cpu/cpu_features.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/platform.h"
#include "cpu/matmul_kernels.h"

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
    if ((read_xcr0() & 6u) != 6u) return EF_CPU_SIMD_SCALAR;
    if (__get_cpuid_max(0, NULL) < 7) return EF_CPU_SIMD_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    return avx2 ? EF_CPU_SIMD_AVX2 : EF_CPU_SIMD_SCALAR;
}
#else
static ef_cpu_simd detect_hardware(void) { return EF_CPU_SIMD_SCALAR; }
#endif

static ef_once_flag g_once = EF_ONCE_INIT;
static ef_cpu_simd g_supported;       /* hardware ∧ build; set once */
static ef_cpu_simd g_env_cap;         /* EF_CPU_SIMD; set once */
static atomic_int g_forced = -1;      /* ef_cpu_simd_force(); -1 = none */

static void init_once(void) {
    ef_cpu_simd hw = detect_hardware();
    /* The AVX2 kernel files compile to nothing without the right flags. */
    if (hw == EF_CPU_SIMD_AVX2 && !ef_cpu_avx2_kernels_built()) hw = EF_CPU_SIMD_SCALAR;
    g_supported = hw;
    g_env_cap = EF_CPU_SIMD_AVX2;
    const char *env = getenv("EF_CPU_SIMD");
    if (env && env[0] == '0' && env[1] == '\0') g_env_cap = EF_CPU_SIMD_SCALAR;
}

ef_cpu_simd ef_cpu_simd_supported(void) {
    ef_call_once(&g_once, init_once);
    return g_supported;
}

ef_cpu_simd ef_cpu_simd_active(void) {
    ef_call_once(&g_once, init_once);
    ef_cpu_simd level = g_supported < g_env_cap ? g_supported : g_env_cap;
    int forced = atomic_load_explicit(&g_forced, memory_order_relaxed);
    if (forced >= 0 && (ef_cpu_simd)forced < level) level = (ef_cpu_simd)forced;
    return level;
}

void ef_cpu_simd_force(int level) {
    atomic_store_explicit(&g_forced, level < 0 ? -1 : level, memory_order_relaxed);
}

const char *ef_cpu_simd_name(ef_cpu_simd level) {
    return level == EF_CPU_SIMD_AVX2 ? "avx2" : "scalar";
}
