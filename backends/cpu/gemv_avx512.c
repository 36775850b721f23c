/* AVX-512 matmul kernels (F, DQ, BW, VL; VNNI where ef_cpu_x86_avx512_vnni).
 * Compiled with the AVX-512 flags on x86-64 (lib/CMakeLists.txt); without
 * them this file reports that none were built. */
#include "cpu/matmul_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
/* No AVX-512 kernel yet: the AVX2 ones serve this level. */
int ef_cpu_avx512_kernels_built(void) { return 0; }
#else
int ef_cpu_avx512_kernels_built(void) { return 0; }
#endif
