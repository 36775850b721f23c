/* Kernel dispatch: cpuid agrees with the compiler's own CPU check, and
 * ef_cpu_matmul follows EF_CPU_SIMD and ef_cpu_simd_force(). ctest runs this
 * program three times: plainly (expects the SIMD kernels: AVX2 or better on x86-64, NEON on aarch64),
 * with EF_CPU_SIMD=0 (expects the reference) and with EF_CPU_SIMD=avx2 (AVX2 on an AVX-512 processor). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_features.h"
#include "cpu/cpu_ops.h"
#include "cpu/matmul_kernels.h"
#include "quant/types.h"

enum { IN = 77, OUT = 9, N = 5 };

static float g_w[OUT * IN], g_x[N * IN];

static void fill(void) {
    uint32_t s = 12345;
    for (int i = 0; i < OUT * IN; i++) g_w[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (int i = 0; i < N * IN; i++) g_x[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
}

static ef_tensor weight(void) {
    ef_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "w";
    t.type = EF_TYPE_F32;
    t.n_dims = 2;
    t.ne[0] = IN;
    t.ne[1] = OUT;
    t.ne[2] = t.ne[3] = 1;
    t.data = g_w;
    t.nbytes = sizeof g_w;
    return t;
}

/* ef_cpu_matmul gives exactly what `kernel` gives, for n = N and n = 1. */
static void assert_matmul_uses(ef_matmul_kernel kernel_n, ef_matmul_kernel kernel_1) {
    ef_tensor w = weight();
    float got[N * OUT], want[N * OUT];
    ef_cpu_matmul(NULL, &w, g_x, N, got);
    ef_cpu_matmul_with(NULL, kernel_n, &w, g_x, N, want);
    assert_memory_equal(got, want, sizeof got);
    ef_cpu_matmul(NULL, &w, g_x, 1, got);
    ef_cpu_matmul_with(NULL, kernel_1, &w, g_x, 1, want);
    assert_memory_equal(got, want, sizeof(float) * OUT);
}

static void test_cpuid_matches_compiler(void **state) {
    (void)state;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    const int hw = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    assert_int_equal(ef_cpu_simd_x86(ef_cpu_simd_supported()), hw && ef_cpu_avx2_kernels_built());
    assert_true(ef_cpu_avx2_kernels_built()); /* the x86-64 build compiles them */
    /* AVX-512 F/DQ/BW/VL (with OS support, which GCC checks too) and the kernels give the AVX-512 level */
    const int hw512 = hw && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    assert_int_equal(ef_cpu_simd_supported() == EF_CPU_SIMD_AVX512, hw512 && ef_cpu_avx512_kernels_built());
    assert_int_equal(ef_cpu_x86_avx512_vnni(),
                     ef_cpu_simd_supported() == EF_CPU_SIMD_AVX512 && __builtin_cpu_supports("avx512vnni"));
#elif defined(__aarch64__)
    assert_true(ef_cpu_neon_kernels_built()); /* the aarch64 build compiles them */
    assert_true(ef_cpu_simd_arm(ef_cpu_simd_supported()));
#else
    assert_int_equal(ef_cpu_simd_supported(), EF_CPU_SIMD_SCALAR);
#endif
}

static void test_dispatch_follows_switches(void **state) {
    (void)state;
    const char *env = getenv("EF_CPU_SIMD");
    const int env_off = env && !strcmp(env, "0");
    /* EF_CPU_SIMD=avx2 on an AVX-512 processor keeps the AVX2 kernels; the name
     * caps the rank, so on an aarch64 processor with dotprod it keeps plain NEON */
    const int env_avx2 = env && !strcmp(env, "avx2") && ef_cpu_simd_rank(ef_cpu_simd_supported()) == 2;
    const ef_cpu_simd rank1 = ef_cpu_simd_arm(ef_cpu_simd_supported()) ? EF_CPU_SIMD_NEON : EF_CPU_SIMD_AVX2;
    const ef_cpu_simd expect = env_off ? EF_CPU_SIMD_SCALAR : env_avx2 ? rank1 : ef_cpu_simd_supported();
    assert_int_equal(ef_cpu_simd_active(), expect);
    if (expect != EF_CPU_SIMD_SCALAR) { /* AVX2/AVX-512 or NEON */
        assert_string_equal(ef_cpu_simd_name(ef_cpu_simd_active()), ef_cpu_simd_name(expect));
        assert_matmul_uses(EF_MATMUL_GEMM, EF_MATMUL_GEMV);
        /* and the SIMD result is not the reference's, or this test proves nothing */
        ef_tensor w = weight();
        float a[N * OUT], b[N * OUT];
        ef_cpu_matmul_with(NULL, EF_MATMUL_GEMM, &w, g_x, N, a);
        ef_cpu_matmul_with(NULL, EF_MATMUL_REFERENCE, &w, g_x, N, b);
        assert_memory_not_equal(a, b, sizeof a);
    } else {
        assert_string_equal(ef_cpu_simd_name(ef_cpu_simd_active()), "scalar");
        assert_matmul_uses(EF_MATMUL_REFERENCE, EF_MATMUL_REFERENCE);
    }
    /* The internal switch forces the reference and gives control back. */
    ef_cpu_simd_force(EF_CPU_SIMD_SCALAR);
    assert_int_equal(ef_cpu_simd_active(), EF_CPU_SIMD_SCALAR);
    assert_matmul_uses(EF_MATMUL_REFERENCE, EF_MATMUL_REFERENCE);
    ef_cpu_simd_force(-1);
    assert_int_equal(ef_cpu_simd_active(), expect);
}

int main(void) {
    fill();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpuid_matches_compiler),
        cmocka_unit_test(test_dispatch_follows_switches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
