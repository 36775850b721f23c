/* NEON matmul kernels (aarch64). Advanced SIMD is part of every aarch64
 * processor, so this file needs no extra flags there; elsewhere it reports
 * that none were built. */
#include "cpu/matmul_kernels.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
/* No NEON kernel yet: the scalar reference serves aarch64. */
int ef_cpu_neon_kernels_built(void) { return 0; }
#else
int ef_cpu_neon_kernels_built(void) { return 0; }
#endif
